"""``[[training]]``: synchronous training jobs with checkpoint/restart, failure handling and priorities."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from clustersim.quantities import Duration, PositiveBandwidth, PositiveDuration, PositiveSize
from clustersim.scenario.sections.common import MAX_PRIORITY, Name, PositiveCount, Section
from clustersim.scenario.sections.storage import Storage

# Keys that only periodic checkpoints (sync, async) have.
_CHECKPOINT_KEYS = (
    "checkpoint_interval", "checkpoint_cost", "checkpoint_size", "checkpoint_bandwidth", "snapshot_cost",
)
# The parts that restart_overhead can be given as instead.
_RESTART_PARTS = ("reschedule_time", "init_time", "restore_bandwidth")


class Training(Section):
    """A synchronous training job over ``nodes`` working positions, with checkpoint/restart."""

    name: Name = Field(description="unique; metrics name the job training.<name>.*")
    nodes: PositiveCount = Field(description="working positions the job runs on")
    work: PositiveDuration | None = Field(
        default=None, description="productive compute to finish; omitted = run for the whole horizon"
    )
    checkpoint_mode: Literal["sync", "async", "continuous"] = Field(
        default="sync",
        description="sync: blocking checkpoints; async: a blocking snapshot, then a background persist; "
                    "continuous: every computed moment is kept (no checkpoints, nothing lost)",
    )
    checkpoint_interval: PositiveDuration | None = Field(
        default=None, description="compute between checkpoints (sync, async)"
    )
    checkpoint_cost: Duration | None = Field(
        default=None, description="sync: blocking checkpoint time; async: background persist time"
    )
    checkpoint_size: PositiveSize | None = Field(
        default=None, description="with checkpoint_bandwidth: cost = size / bandwidth; without it under [storage]: "
                                  "cost = size × storage.replication / (storage.bandwidth × storage.servers), "
                                  "every replica written at the store's aggregate bandwidth"
    )
    checkpoint_bandwidth: PositiveBandwidth | None = Field(default=None, description="aggregate write bandwidth")
    restore_bandwidth: PositiveBandwidth | None = Field(
        default=None, description="aggregate read bandwidth: loading the checkpoint on restart takes size / this"
    )
    snapshot_cost: Duration | None = Field(default=None, description="async: the blocking snapshot before a persist")
    checkpoint_on_store_down: Literal["skip", "block"] | None = Field(
        default=None, description='with [storage], when a checkpoint finds the store not writable (or it stops '
                                  'being so during the write): "skip" (the default) abandons it and computes on, '
                                  '"block" stops the job until the store is writable, then writes it')
    restart_overhead: Duration | None = Field(
        default=None, description="from all members ready to computing again (or give reschedule_time + init_time)"
    )
    start_overhead: Duration = Field(
        default=0.0, description="before the first computation: selecting hosts and starting (AIReSim "
                                 "host_selection_time); a failure during it makes the job restart"
    )
    reschedule_time: Duration | None = Field(default=None, description="restart part: re-scheduling the job")
    init_time: Duration | None = Field(default=None, description="restart part: initialising (NCCL, data loaders)")
    on_failure: Literal["spare", "wait", "shrink"] = Field(
        default="spare", description="spare: swap spares in; wait: for the member's repair; shrink: go on elastically"
    )
    min_nodes: PositiveCount | None = Field(default=None, description="shrink: the fewest nodes the job runs on")
    priority: Annotated[int, Field(ge=-MAX_PRIORITY, le=MAX_PRIORITY)] = Field(
        default=0, description="a higher-priority job takes spares first")
    preempt: bool = Field(default=False, description="take nodes of lower-priority work when no spare is usable")

    def problems(self) -> list[str]:
        """Checkpoint, restart and shrink keys that are missing, conflicting or unused."""
        return self._checkpoint_problems() + self._restart_problems() + self._shrink_problems()

    def _checkpoint_problems(self) -> list[str]:
        """Periodic checkpoints need an interval and one way to their cost; continuous ones have neither."""
        problems = []
        periodic = self.checkpoint_mode in ("sync", "async")
        if periodic and self.checkpoint_interval is None:
            problems.append(f'checkpoint_interval: missing required key (checkpoint_mode = "{self.checkpoint_mode}")')
        if not periodic:
            problems += [f"{key}: continuous checkpointing has no checkpoints; remove it"
                         for key in _CHECKPOINT_KEYS if getattr(self, key) is not None]
        sized = self.checkpoint_size is not None
        derived = sized and self.checkpoint_bandwidth is not None
        if periodic and self.checkpoint_cost is not None and derived:
            problems.append("checkpoint_cost: give it, or checkpoint_size with checkpoint_bandwidth, not both")
        if periodic and self.checkpoint_cost is None and not sized:  # size alone: cross_checks, with [storage]
            problems.append("checkpoint_cost: missing (or give checkpoint_size and checkpoint_bandwidth)")
        if self.checkpoint_bandwidth is not None and not sized:
            problems.append("checkpoint_bandwidth: needs checkpoint_size")
        if self.restore_bandwidth is not None and not sized:
            problems.append("restore_bandwidth: needs checkpoint_size")
        if self.snapshot_cost is not None and self.checkpoint_mode != "async":
            problems.append('snapshot_cost: applies to checkpoint_mode = "async" only')
        return problems

    def _restart_problems(self) -> list[str]:
        """The restart time is given whole (restart_overhead) or in parts, never both."""
        split = [key for key in _RESTART_PARTS if getattr(self, key) is not None]
        if self.restart_overhead is not None and split:
            return [f"restart_overhead: give it, or its parts ({', '.join(split)}), not both"]
        if self.restart_overhead is None and not split:
            return ["restart_overhead: missing (or give reschedule_time, init_time, restore_bandwidth)"]
        return []

    def _shrink_problems(self) -> list[str]:
        """A shrinking job needs its fewest nodes, at most its nodes; other jobs have no min_nodes."""
        problems = []
        if self.on_failure == "shrink" and self.min_nodes is None:
            problems.append('min_nodes: missing (on_failure = "shrink" needs the fewest nodes to run on)')
        if self.on_failure != "shrink" and self.min_nodes is not None:
            problems.append('min_nodes: applies to on_failure = "shrink" only')
        if self.min_nodes is not None and self.min_nodes > self.nodes:
            problems.append(f"min_nodes: {self.min_nodes} is more than the job's nodes ({self.nodes})")
        return problems

    @property
    def checkpoint_hours(self) -> float:
        """Blocking checkpoint time (sync) or background persist time (async); 0 when continuous."""
        if self.checkpoint_cost is not None:
            return self.checkpoint_cost
        if self.checkpoint_size is not None and self.checkpoint_bandwidth is not None:
            return self.checkpoint_size / self.checkpoint_bandwidth / 3600.0
        return 0.0

    def checkpoint_hours_on(self, storage: Storage | None) -> float:
        """checkpoint_hours, or with only checkpoint_size under [storage]: every replica written at the store's
        aggregate bandwidth, size × replication / (bandwidth × servers)."""
        if self.checkpoint_cost is None and self.checkpoint_bandwidth is None and self.checkpoint_size is not None \
                and storage is not None:
            return self.checkpoint_size * storage.replication / (storage.bandwidth * storage.servers) / 3600.0
        return self.checkpoint_hours

    @property
    def store_down(self) -> str:
        """What a checkpoint does when the store is not writable: checkpoint_on_store_down, "skip" by default."""
        return self.checkpoint_on_store_down or "skip"

    @property
    def restart_hours(self) -> float:
        """Members ready -> computing again: restart_overhead, or re-scheduling + init + checkpoint load."""
        if self.restart_overhead is not None:
            return self.restart_overhead
        load = 0.0
        if self.restore_bandwidth is not None and self.checkpoint_size is not None:
            load = self.checkpoint_size / self.restore_bandwidth / 3600.0
        return (self.reschedule_time or 0.0) + (self.init_time or 0.0) + load

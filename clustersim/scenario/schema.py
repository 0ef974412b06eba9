"""The scenario schema: the single source of every parameter, default and check.

Keys follow the contract of ``shared/DESIGN.md``. Every model forbids unknown keys and is
frozen; durations are stored in hours. Cross-field checks live in field validators of the
section that owns them, checks across sections in ``cross_section_problems``, so every message
names the key the user has to change.
"""
from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Mapping, Union

from pydantic import (
    AfterValidator, BaseModel, ConfigDict, Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt,
    ValidationInfo, field_validator, model_validator,
)

from clustersim.distributions import Deterministic, Distribution
from clustersim.quantities import Duration, PositiveBandwidth, PositiveDuration, PositiveSize

Name = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$", max_length=64)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Speed = Annotated[float, Field(gt=0.0, le=1.0, description="fraction of full speed")]


def _fails_after_a_while(dist: Any) -> Any:
    """A time to failure needs a positive mean: a part that fails at once never works."""
    if not dist.mean_hours > 0:
        raise ValueError(f"time_to_failure must have a positive mean, got {dist.mean_hours!r} h")
    return dist


TimeToFailure = Annotated[Distribution, AfterValidator(_fails_after_a_while)]

# Contract sections that later versions implement; a file using them is refused, never ignored.
PLANNED_SECTIONS = ("network", "storage", "inference")


class Section(BaseModel):
    # strict: "8" is not 8 and true is not 1; a scenario says what it means
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


FIXED_REPLICATIONS = 20
MIN_REPLICATIONS = 10
MAX_REPLICATIONS = 1000


class Simulation(Section):
    """How long, how often and with which engine the scenario runs.

    Two modes: a fixed number of ``replications`` (default 20), or, with ``precision``, as many
    replications as the ``precision_metrics`` need (between ``min_replications`` and
    ``max_replications``). Each mode's keys are errors in the other, never ignored, and only the
    mode's own keys get defaults, so the resolved scenario loads back equal in either mode.
    ``precision`` is declared before the keys that depend on it, so their checks can read it.
    """

    horizon: PositiveDuration = Field(default=365 * 24.0, description="simulated time per replication")
    warmup: Duration = Field(default=0.0, description="statistics ignore [0, warmup)")
    precision: Annotated[float, Field(gt=0, lt=1)] | None = Field(
        default=None, description="target half-width / |mean| of the 95 % interval; set = adaptive replications"
    )
    replications: PositiveInt | None = Field(
        default=None, description=f"replications to run; default {FIXED_REPLICATIONS}, not with precision"
    )
    precision_metrics: list[str] | None = Field(
        default=None, validate_default=True, description="metrics that must reach precision (with precision)"
    )
    min_replications: Annotated[int, Field(ge=2)] | None = Field(
        default=None, validate_default=True,
        description=f"replications before the first stopping check; default {MIN_REPLICATIONS} (with precision)",
    )
    max_replications: PositiveInt | None = Field(
        default=None, validate_default=True,
        description=f"stop here even if not converged; default {MAX_REPLICATIONS} (with precision)",
    )
    seed: NonNegativeInt = 1
    engine: Literal["simpy", "fast"] = "simpy"

    @model_validator(mode="before")
    @classmethod
    def _fixed_replications_default(cls, data: Any) -> Any:
        """Without precision, replications defaults to 20; with it, it stays None (the run decides)."""
        if isinstance(data, dict) and data.get("precision") is None and data.get("replications") is None:
            return {**data, "replications": FIXED_REPLICATIONS}
        return data

    @field_validator("warmup")
    @classmethod
    def _warmup_before_horizon(cls, warmup: float, info: ValidationInfo) -> float:
        horizon = info.data.get("horizon")
        if horizon is not None and warmup >= horizon:
            raise ValueError(f"warmup ({warmup!r} h) must be shorter than horizon ({horizon!r} h)")
        return warmup

    @field_validator("replications")
    @classmethod
    def _replications_without_precision(cls, replications: int | None, info: ValidationInfo) -> int | None:
        """With precision the run decides how many replications; a fixed count would be ignored."""
        if replications is not None and info.data.get("precision") is not None:
            raise ValueError("cannot be combined with precision; "
                             "use min_replications / max_replications with precision")
        return replications

    @field_validator("precision_metrics")
    @classmethod
    def _metrics_with_precision(cls, metrics: list[str] | None, info: ValidationInfo) -> list[str] | None:
        """precision needs metrics to judge, and metrics without precision would be ignored."""
        if "precision" not in info.data:
            return metrics  # precision itself is invalid; its own error says so
        if info.data["precision"] is None:
            if metrics is not None:
                raise ValueError("only meaningful with precision: set simulation.precision or remove this key")
            return metrics
        if metrics is None:
            raise ValueError('required with precision: the metrics it applies to, e.g. ["nodes.availability"]')
        if not metrics:
            raise ValueError('must name at least one metric, e.g. ["nodes.availability"]')
        repeated = sorted({name for name in metrics if metrics.count(name) > 1})
        if repeated:
            raise ValueError(f"{', '.join(map(repr, repeated))} listed more than once")
        return metrics

    @field_validator("min_replications", "max_replications")
    @classmethod
    def _bounds_with_precision(cls, bound: int | None, info: ValidationInfo) -> int | None:
        """The bounds of an adaptive run (defaults 10 and 1000); without precision they would be ignored."""
        if "precision" not in info.data:
            return bound  # precision itself is invalid; its own error says so
        if info.data["precision"] is None:
            if bound is not None:
                raise ValueError("only meaningful with precision: set simulation.precision or remove this key")
            return bound
        if info.field_name == "min_replications":
            return MIN_REPLICATIONS if bound is None else bound
        least = info.data.get("min_replications")
        if bound is None:
            if least is not None and least > MAX_REPLICATIONS:
                raise ValueError(f"the default {MAX_REPLICATIONS} is less than min_replications ({least}); "
                                 f"set it to at least {least}")
            return MAX_REPLICATIONS
        if least is not None and bound < least:
            raise ValueError(f"{bound} is less than min_replications ({least})")
        return bound

    @property
    def adaptive(self) -> bool:
        """Does the run choose its replication count to reach ``precision``?"""
        return self.precision is not None

    @property
    def replications_limit(self) -> int:
        """The most replications this run can take: ``replications``, or ``max_replications`` when adaptive."""
        limit = self.max_replications if self.adaptive else self.replications
        assert limit is not None  # the mode's default is filled in before validation
        return limit


def _only_with(value: Any, key: str, chosen: str | None, needs: str, what: str) -> Any:
    """A parameter that ``key = needs`` requires and every other choice of ``key`` refuses
    (``chosen`` None: ``key`` itself is invalid, and its own error says so)."""
    if chosen == needs and value is None:
        raise ValueError(f'missing required key ({key} = "{needs}" needs {what})')
    if chosen is not None and chosen != needs and value is not None:
        raise ValueError(f'applies to {key} = "{needs}" only')
    return value


class FailureMode(Section):
    """One way a node's parts fail: per GPU (an independent clock for each) or per node."""

    name: Name
    scope: Literal["gpu", "node"] = "node"
    time_to_failure: TimeToFailure
    recovery: Literal["reboot", "replace", "pipeline"] = Field(
        default="replace",
        description="reboot: back after time_to_repair, no crew; replace: a repair crew for time_to_repair; "
                    "pipeline: through [[repair.stages]]",
    )
    time_to_repair: Distribution | None = Field(
        default=None, validate_default=True, description="required with reboot and replace; pipeline uses its stages"
    )
    lemon_rate_multiplier: PositiveFloat | None = Field(
        default=None, description="a lemon's clocks of this mode run this many times faster; omitted = nodes' value"
    )
    effect: Literal["crash", "slow", "leak"] = Field(
        default="crash",
        description="crash: the node goes down; slow: it runs at `speed` until noticed after "
                    "repair.straggler_detection; leak: it runs at `speed` and crashes after time_to_crash",
    )
    speed: Speed | None = Field(
        default=None, validate_default=True, description="slow (required) and leak (default 1): fraction of speed"
    )
    time_to_crash: Distribution | None = Field(
        default=None, validate_default=True, description="leak: from the leak starting to the crash"
    )

    @field_validator("speed")
    @classmethod
    def _speed_matches_effect(cls, speed: float | None, info: ValidationInfo) -> float | None:
        """A slow node needs its speed; a crash has none."""
        effect = info.data.get("effect")
        if effect == "slow" and speed is None:
            raise ValueError('missing required key (effect = "slow" needs the fraction of full speed the node runs at)')
        if effect == "crash" and speed is not None:
            raise ValueError('applies to effect = "slow" or "leak" only')
        return speed

    @field_validator("time_to_crash")
    @classmethod
    def _crash_time_matches_effect(cls, ttc: Any, info: ValidationInfo) -> Any:
        """A leak needs its time to crash; no other effect has one."""
        return _only_with(ttc, "effect", info.data.get("effect"), "leak", "the time from the leak to the crash")

    @property
    def degraded_speed(self) -> float:
        """The node's speed while this mode's fault is active but the node still runs."""
        return 1.0 if self.speed is None else self.speed

    @field_validator("time_to_repair")
    @classmethod
    def _repair_time_matches_recovery(cls, ttr: Any, info: ValidationInfo) -> Any:
        recovery = info.data.get("recovery")
        if recovery == "pipeline" and ttr is not None:
            raise ValueError('recovery = "pipeline" takes its repair times from [[repair.stages]]; remove time_to_repair')
        if recovery in ("reboot", "replace") and ttr is None:
            raise ValueError(f'missing required key (recovery = "{recovery}" needs time_to_repair)')
        return ttr


class NodeScore(Section):
    """A node's reliability score: failures lower it, each full credit_period of uptime raises it."""

    initial: float = Field(default=100.0, description="every node's score at the start")
    failure_penalty: NonNegativeFloat = Field(default=30.0, description="subtracted per failure blamed on the node")
    uptime_credit: NonNegativeFloat = Field(default=10.0, description="added per full credit_period of uptime")
    credit_period: PositiveDuration = Field(default=24.0, description="uptime that earns one uptime_credit")


class Nodes(Section):
    """The GPU servers: how many, how they are racked, how they fail."""

    count: PositiveInt
    gpus_per_node: PositiveInt = 8
    nodes_per_rack: PositiveInt = 16
    failure_modes: list[FailureMode] = Field(default_factory=list)
    lemon_fraction: Probability = Field(
        default=0.0, description="share of nodes that are lemons, drawn per replication (stream 'lemons')"
    )
    lemon_rate_multiplier: PositiveFloat = Field(
        default=1.0, description="a lemon's failure clocks run this many times faster (modes may override)"
    )
    lemon_cured_by_repair: bool = Field(
        default=False, description="a repair that truly fixes a fault also cures the lemon (AIReSim's model)"
    )
    score: NodeScore | None = Field(
        default=None, description="used by retirement policy 'scored' and spare selection 'highest_score'"
    )

    @property
    def racks(self) -> int:
        return math.ceil(self.count / self.nodes_per_rack)

    @property
    def lemon_count(self) -> int:
        return round(self.count * self.lemon_fraction)

    def lemon_multiplier(self, mode: int) -> float:
        """How many times faster a lemon's clock of failure mode ``mode`` runs."""
        own = self.failure_modes[mode].lemon_rate_multiplier
        return self.lemon_rate_multiplier if own is None else own


class Diagnosis(Section):
    """How well a detected failure is attributed before repair."""

    probability: Probability = Field(
        default=1.0, description="a detected failure is diagnosed; otherwise the node is rebooted with its fault"
    )
    wrong_node: Probability = Field(
        default=0.0, description="a diagnosed failure is blamed on an innocent working node instead"
    )
    reboot_time: Distribution = Field(
        default_factory=lambda: Deterministic(dist="deterministic", value="0 h"),
        description="how long an undiagnosed node's reboot takes",
    )


class RepairStage(Section):
    """One stage of the repair pipeline: a crew pool, a time, and what the stage concludes."""

    name: Name
    time: Distribution
    crews: PositiveInt | None = Field(default=None, description="concurrent repairs in this stage; omitted = unlimited")
    escalate: Probability = Field(default=0.0, description="the node goes on to the next stage")
    false_success: Probability = Field(
        default=0.0, description="the stage reports success but leaves the fault in place"
    )


class NeverRetire(Section):
    """Every repaired node returns to service."""

    policy: Literal["never"] = "never"


class ThresholdRetirement(Section):
    """Retire a node blamed for max_failures failures within window."""

    policy: Literal["threshold"]
    max_failures: PositiveInt
    window: PositiveDuration


class ScoredRetirement(Section):
    """Retire a node whose reliability score ([nodes.score]) is at or below threshold."""

    policy: Literal["scored"]
    threshold: float = 0.0


Retirement = Annotated[Union[NeverRetire, ThresholdRetirement, ScoredRetirement], Field(discriminator="policy")]


class Repair(Section):
    """Who repairs, how fast failures are noticed, how well they are diagnosed and fixed."""

    crews: PositiveInt | None = Field(default=None, description="concurrent 'replace' repairs; omitted = unlimited")
    detection: Duration = Field(default=0.0, description="failure -> noticed (heartbeat interval x misses)")
    recurrence: Distribution | None = Field(
        default=None,
        description="operating time until a fault left in place (undiagnosed, blamed elsewhere, falsely "
                    "repaired) strikes again; required when that can happen",
    )
    straggler_detection: Duration | None = Field(
        default=None, description="a slow node -> noticed and taken out; required with slow failure modes or chaos"
    )
    fault_left_in_place: Literal["recurs", "uncured"] = Field(
        default="recurs",
        description="recurs: strikes again after recurrence; uncured: no further effect, except that a lemon "
                    "stays a lemon (AIReSim's model)",
    )
    diagnosis: Diagnosis = Field(default_factory=Diagnosis)
    stages: list[RepairStage] = Field(default_factory=list, description="the pipeline of recovery = \"pipeline\"")
    retirement: Retirement = Field(default_factory=NeverRetire)

    @property
    def recurs(self) -> bool:
        """Do faults left in place strike again (after ``recurrence``)?"""
        return self.fault_left_in_place == "recurs" and self.leaves_faults

    @property
    def leaves_faults(self) -> bool:
        """Can a fault stay in place after its failure (so that it recurs)?"""
        diagnosis = self.diagnosis
        return diagnosis.probability < 1 or diagnosis.wrong_node > 0 or any(s.false_success > 0 for s in self.stages)


class Spares(Section):
    """Nodes held back to replace failed working nodes."""

    hot: NonNegativeInt = 0
    cold: NonNegativeInt = 0
    swap_time: Duration = Field(default=5 / 60, description="a hot spare joins after this")
    provisioning: Duration = Field(default=4.0, description="a cold spare joins after this")
    warm: NonNegativeInt = Field(
        default=0, description="of the hot spares, how many are kept initialised as warm standbys"
    )
    standby_swap_time: Duration = Field(default=0.0, description="a warm standby joins after this")
    selection: Literal["fifo", "random", "fewest_failures", "highest_score"] = Field(
        default="fifo", description="which spare of the preferred tier (warm, hot, cold) is taken"
    )


class FailureDomain(Section):
    """A correlated failure: every member node goes down together and comes back together."""

    name: Name | None = Field(default=None, description="defaults to kind")
    kind: Literal["rack", "power", "cluster"]
    power_racks: PositiveInt | None = Field(
        default=None, validate_default=True, description="racks per power domain (kind = power)"
    )
    time_to_failure: TimeToFailure
    time_to_repair: Distribution

    @field_validator("power_racks")
    @classmethod
    def _power_racks_with_power(cls, power_racks: int | None, info: ValidationInfo) -> int | None:
        """A power domain groups power_racks racks; no other kind has the key."""
        return _only_with(power_racks, "kind", info.data.get("kind"), "power", "power_racks, the racks per power domain")

    @property
    def label(self) -> str:
        return self.name or self.kind


class Chaos(Section):
    """A planned fault at ``at`` (and then every ``every``): kill a node or rack for ``duration``,
    slow a node to ``speed`` for ``duration``, or start a memory leak that crashes a node after
    ``time_to_crash`` and keeps it down for ``duration``."""

    name: Name | None = Field(default=None, description="defaults to chaos<index>")
    action: Literal["kill_node", "kill_rack", "slow_node", "leak_memory"]
    at: Duration = Field(default=0.0, description="first injection time")
    every: PositiveDuration | None = Field(default=None, description="repeat period; omitted = once")
    node: NonNegativeInt | None = Field(default=None, description="target of a node action; omitted = random")
    rack: NonNegativeInt | None = Field(default=None, description="kill_rack target; omitted = random")
    duration: PositiveDuration
    speed: Speed | None = Field(default=None, validate_default=True, description="slow_node: fraction of full speed")
    time_to_crash: Distribution | None = Field(
        default=None, validate_default=True, description="leak_memory: from the leak to the crash"
    )

    @field_validator("node", "rack")
    @classmethod
    def _target_matches_action(cls, target: int | None, info: ValidationInfo) -> int | None:
        action = info.data.get("action")
        wanted = "rack" if action == "kill_rack" else "node"
        if target is not None and action is not None and info.field_name != wanted:
            raise ValueError(f"{action} takes '{wanted}', not '{info.field_name}'")
        return target

    @field_validator("speed")
    @classmethod
    def _speed_matches_action(cls, speed: float | None, info: ValidationInfo) -> float | None:
        """slow_node needs the speed it slows the node to; no other action has one."""
        return _only_with(speed, "action", info.data.get("action"), "slow_node", "the fraction of full speed")

    @field_validator("time_to_crash")
    @classmethod
    def _crash_time_matches_action(cls, ttc: Any, info: ValidationInfo) -> Any:
        """leak_memory needs its time to crash; no other action has one."""
        return _only_with(ttc, "action", info.data.get("action"), "leak_memory", "the time from the leak to the crash")


class Training(Section):
    """A synchronous training job over ``nodes`` working positions, with checkpoint/restart."""

    name: Name
    nodes: PositiveInt = Field(description="working positions the job runs on")
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
    checkpoint_size: PositiveSize | None = Field(default=None, description="with checkpoint_bandwidth: derives the cost")
    checkpoint_bandwidth: PositiveBandwidth | None = Field(default=None, description="aggregate write bandwidth")
    restore_bandwidth: PositiveBandwidth | None = Field(
        default=None, description="aggregate read bandwidth: loading the checkpoint on restart takes size / this"
    )
    snapshot_cost: Duration | None = Field(default=None, description="async: the blocking snapshot before a persist")
    restart_overhead: Duration | None = Field(
        default=None, description="from all members ready to computing again (or give reschedule_time + init_time)"
    )
    reschedule_time: Duration | None = Field(default=None, description="restart part: re-scheduling the job")
    init_time: Duration | None = Field(default=None, description="restart part: initialising (NCCL, data loaders)")
    on_failure: Literal["spare", "wait", "shrink"] = Field(
        default="spare", description="spare: swap spares in; wait: for the member's repair; shrink: go on elastically"
    )
    min_nodes: PositiveInt | None = Field(default=None, description="shrink: the fewest nodes the job runs on")
    priority: int = Field(default=0, description="a higher-priority job takes spares first")
    preempt: bool = Field(default=False, description="take nodes of lower-priority work when no spare is usable")

    @property
    def checkpoint_hours(self) -> float:
        """Blocking checkpoint time (sync) or background persist time (async); 0 when continuous."""
        if self.checkpoint_cost is not None:
            return self.checkpoint_cost
        if self.checkpoint_size is not None and self.checkpoint_bandwidth is not None:
            return self.checkpoint_size / self.checkpoint_bandwidth / 3600.0
        return 0.0

    @property
    def restart_hours(self) -> float:
        """Members ready -> computing again: restart_overhead, or re-scheduling + init + checkpoint load."""
        if self.restart_overhead is not None:
            return self.restart_overhead
        load = 0.0
        if self.restore_bandwidth is not None and self.checkpoint_size is not None:
            load = self.checkpoint_size / self.restore_bandwidth / 3600.0
        return (self.reschedule_time or 0.0) + (self.init_time or 0.0) + load


def _training_problems(job: Training) -> list[str]:
    """One line per inconsistent combination of a job's keys (``key: problem``)."""
    problems = []
    periodic = job.checkpoint_mode in ("sync", "async")
    if periodic and job.checkpoint_interval is None:
        problems.append(f'checkpoint_interval: missing required key (checkpoint_mode = "{job.checkpoint_mode}")')
    if not periodic:
        extra = [k for k in ("checkpoint_interval", "checkpoint_cost", "checkpoint_size", "checkpoint_bandwidth",
                             "snapshot_cost") if getattr(job, k) is not None]
        problems += [f'{k}: continuous checkpointing has no checkpoints; remove it' for k in extra]
    sized = job.checkpoint_size is not None
    if periodic and job.checkpoint_cost is not None and (sized and job.checkpoint_bandwidth is not None):
        problems.append("checkpoint_cost: give it, or checkpoint_size with checkpoint_bandwidth, not both")
    if periodic and job.checkpoint_cost is None and not (sized and job.checkpoint_bandwidth is not None):
        problems.append("checkpoint_cost: missing (or give checkpoint_size and checkpoint_bandwidth)")
    if job.checkpoint_bandwidth is not None and not sized:
        problems.append("checkpoint_bandwidth: needs checkpoint_size")
    if job.restore_bandwidth is not None and not sized:
        problems.append("restore_bandwidth: needs checkpoint_size")
    if job.snapshot_cost is not None and job.checkpoint_mode != "async":
        problems.append('snapshot_cost: applies to checkpoint_mode = "async" only')
    split = [k for k in ("reschedule_time", "init_time", "restore_bandwidth") if getattr(job, k) is not None]
    if job.restart_overhead is not None and split:
        problems.append(f"restart_overhead: give it, or its parts ({', '.join(split)}), not both")
    if job.restart_overhead is None and not split:
        problems.append("restart_overhead: missing (or give reschedule_time, init_time, restore_bandwidth)")
    if job.on_failure == "shrink" and job.min_nodes is None:
        problems.append('min_nodes: missing (on_failure = "shrink" needs the fewest nodes to run on)')
    if job.on_failure != "shrink" and job.min_nodes is not None:
        problems.append('min_nodes: applies to on_failure = "shrink" only')
    if job.min_nodes is not None and job.min_nodes > job.nodes:
        problems.append(f"min_nodes: {job.min_nodes} is more than the job's nodes ({job.nodes})")
    return problems


class Scenario(Section):
    """A whole cluster experiment, as written in a scenario file."""

    name: Name
    simulation: Simulation = Field(default_factory=Simulation)
    nodes: Nodes
    repair: Repair = Field(default_factory=Repair)
    spares: Spares = Field(default_factory=Spares)
    failure_domains: list[FailureDomain] = Field(default_factory=list)
    chaos: list[Chaos] = Field(default_factory=list)
    training: list[Training] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _score_when_used(cls, data: Any) -> Any:
        """Write out [nodes.score] defaults when a policy reads the score, so the resolved file shows them."""
        if isinstance(data, dict) and _reads_score(data) and isinstance(data.get("nodes"), dict):
            if "score" not in data["nodes"]:
                data = {**data, "nodes": {**data["nodes"], "score": {}}}
        return data

    @model_validator(mode="after")
    def _cross_checks(self) -> "Scenario":
        problems = cross_section_problems({name: getattr(self, name) for name in type(self).model_fields})
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def chaos_names(self) -> list[str]:
        return [c.name or f"chaos{i}" for i, c in enumerate(self.chaos)]

    @property
    def cause_names(self) -> list[str]:
        """Every failure cause, in a fixed order: modes, then domains, then chaos injections."""
        return [m.name for m in self.nodes.failure_modes] + [d.label for d in self.failure_domains] + self.chaos_names

    @property
    def working_nodes(self) -> int:
        return self.nodes.count - self.spares.hot - self.spares.cold

    @property
    def stage_names(self) -> list[str]:
        return [stage.name for stage in self.repair.stages]

    @property
    def label_names(self) -> list[str]:
        """Names of every code the log's cause column holds: failure causes, repair stages, preemption."""
        return self.cause_names + [f"stage:{name}" for name in self.stage_names] + ["preemption"]

    @property
    def preemption_cause(self) -> int:
        """The cause-column code of a job losing a node to a higher-priority job."""
        return len(self.cause_names) + len(self.repair.stages)

    @property
    def job_offsets(self) -> list[int]:
        """The first working position of each training job (jobs take positions in order)."""
        offsets, first = [], 0
        for job in self.training:
            offsets.append(first)
            first += job.nodes
        return offsets

    def stage_cause(self, stage: int) -> int:
        """The cause-column code of repair stage ``stage`` (after every failure cause)."""
        return len(self.cause_names) + stage


def _reads_score(raw: dict[str, Any]) -> bool:
    """Does a raw scenario use the node score (scored retirement or highest-score selection)?"""
    repair, spares = raw.get("repair"), raw.get("spares")
    retirement = repair.get("retirement") if isinstance(repair, dict) else None
    scored = isinstance(retirement, dict) and retirement.get("policy") == "scored"
    return scored or (isinstance(spares, dict) and spares.get("selection") == "highest_score")


def cross_section_problems(sections: Mapping[str, Any]) -> list[str]:
    """Checks that span sections, as ``key.path: problem`` lines.

    ``sections`` maps top-level keys to validated sections; a check runs only when every section
    it reads is present, so the loader can still run it when another section of the file is bad.
    """
    problems: list[str] = []
    nodes, spares, simulation = sections.get("nodes"), sections.get("spares"), sections.get("simulation")
    domains, chaos = sections.get("failure_domains"), sections.get("chaos")
    if nodes is not None and spares is not None:
        held = spares.hot + spares.cold
        if held >= nodes.count:
            problems.append(f"spares: hot + cold = {held} leaves no working node out of nodes.count = {nodes.count}")
    if nodes is not None and domains is not None and chaos is not None:
        problems += _name_problems(nodes, domains, chaos)
    repair = sections.get("repair")
    if repair is not None:
        problems += _repair_problems(repair)
    training = sections.get("training")
    for i, job in enumerate(training or []):
        problems += [f"training[{i}].{line}" for line in _training_problems(job)]
    if training and nodes is not None and spares is not None:
        problems += _job_placement_problems(training, nodes, spares)
    if repair is not None and nodes is not None and chaos is not None and repair.straggler_detection is None:
        slow = [f"nodes.failure_modes[{i}]" for i, m in enumerate(nodes.failure_modes) if m.effect == "slow"]
        slow += [f"chaos[{i}]" for i, c in enumerate(chaos) if c.action == "slow_node"]
        if slow:
            problems.append(f"repair.straggler_detection: required to notice slow nodes ({', '.join(slow)})")
    if nodes is not None and repair is not None:
        problems += _pipeline_problems(nodes, repair)
    if nodes is not None and repair is not None and spares is not None:
        problems += _score_problems(nodes, repair, spares)
    if spares is not None and spares.warm > spares.hot:
        problems.append(f"spares.warm: {spares.warm} warm standbys need as many hot spares, spares.hot = {spares.hot}")
    if nodes is not None and nodes.lemon_fraction > 0:
        multipliers = [nodes.lemon_multiplier(i) for i in range(len(nodes.failure_modes))]
        if all(m == 1.0 for m in multipliers):
            problems.append("nodes.lemon_rate_multiplier: lemons (lemon_fraction > 0) need a multiplier other than 1 "
                            "here or on a failure mode")
    for i, c in enumerate(chaos or []):
        if nodes is not None and c.node is not None and c.node >= nodes.count:
            problems.append(f"chaos[{i}].node: node {c.node} does not exist (nodes.count = {nodes.count}, first is 0)")
        if nodes is not None and c.rack is not None and c.rack >= nodes.racks:
            problems.append(f"chaos[{i}].rack: rack {c.rack} does not exist ({nodes.racks} racks, first is 0)")
        if simulation is not None and c.at >= simulation.horizon:
            problems.append(f"chaos[{i}].at: {c.at!r} h is not before the horizon ({simulation.horizon!r} h)")
    return problems


def _name_problems(nodes: Nodes, domains: list[FailureDomain], chaos: list[Chaos]) -> list[str]:
    """Failure modes, domains and chaos injections share one namespace (metric names use it)."""
    named = [(f"nodes.failure_modes[{i}].name", m.name, "") for i, m in enumerate(nodes.failure_modes)]
    named += [(f"failure_domains[{i}].name", d.label, "" if d.name else " (the default: kind)")
              for i, d in enumerate(domains)]
    named += [(f"chaos[{i}].name", c.name or f"chaos{i}", "" if c.name else " (the default)")
              for i, c in enumerate(chaos)]
    first: dict[str, str] = {}
    problems = []
    for path, name, note in named:
        if name in first:
            problems.append(f"{path}: {name!r}{note} is already used by {first[name]} "
                            "(failure modes, domains and chaos share names)")
        first.setdefault(name, path)
    return problems


def _repair_problems(repair: Repair) -> list[str]:
    """Stage names unique, the last stage escalates nowhere, recurrence given when faults can stay."""
    problems = []
    seen: set[str] = set()
    for i, stage in enumerate(repair.stages):
        if stage.name in seen:
            problems.append(f"repair.stages[{i}].name: {stage.name!r} is already the name of an earlier stage")
        seen.add(stage.name)
    if repair.stages and repair.stages[-1].escalate > 0:
        last = len(repair.stages) - 1
        problems.append(f"repair.stages[{last}].escalate: the last stage has no stage to escalate to, "
                        f"got {repair.stages[last].escalate!r}")
    recurs = repair.fault_left_in_place == "recurs"
    if recurs and repair.leaves_faults and repair.recurrence is None:
        problems.append("repair.recurrence: required when a fault can stay in place (diagnosis.probability < 1, "
                        "diagnosis.wrong_node > 0 or a stage's false_success > 0): when does it strike again?")
    if not recurs and repair.recurrence is not None:
        problems.append('repair.recurrence: unused with fault_left_in_place = "uncured" (faults left in place '
                        "do not strike again); remove it or use \"recurs\"")
    return problems


def _pipeline_problems(nodes: Nodes, repair: Repair) -> list[str]:
    """recovery = "pipeline" needs stages; stages need a mode that uses them."""
    pipeline = [i for i, m in enumerate(nodes.failure_modes) if m.recovery == "pipeline"]
    if pipeline and not repair.stages:
        return [f'nodes.failure_modes[{i}].recovery: "pipeline" needs at least one [[repair.stages]] entry'
                for i in pipeline]
    if repair.stages and not pipeline:
        return ['repair.stages: no failure mode has recovery = "pipeline", so no repair would use these stages']
    return []


def _score_problems(nodes: Nodes, repair: Repair, spares: Spares) -> list[str]:
    """[nodes.score] is given exactly when something reads it."""
    reads = repair.retirement.policy == "scored" or spares.selection == "highest_score"
    if nodes.score is not None and not reads:
        return ['nodes.score: only repair.retirement policy = "scored" or spares.selection = "highest_score" '
                "read the score; neither is set"]
    return []


def _job_placement_problems(training: list[Training], nodes: Nodes, spares: Spares) -> list[str]:
    """Jobs take the working positions in order; names are unique (metric names use them)."""
    problems = []
    working = nodes.count - spares.hot - spares.cold
    cluster = (f"the cluster has {working} (nodes.count {nodes.count} − spares.hot {spares.hot} "
               f"− spares.cold {spares.cold})")
    needed = 0
    for i, job in enumerate(training):
        needed += job.nodes
        if needed > working:  # the first job that does not fit names the key to change
            need = f"needs {needed}" if i == 0 else f"the jobs up to this one need {needed}"
            problems.append(f"training[{i}].nodes: {need} working positions, {cluster}")
            break
    seen: set[str] = set()
    for i, job in enumerate(training):
        if job.name in seen:
            problems.append(f"training[{i}].name: {job.name!r} is already the name of an earlier job")
        seen.add(job.name)
    return problems

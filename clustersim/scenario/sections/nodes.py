"""``[nodes]``: the GPU servers, their racks, their failure modes, lemons and the reliability score."""
from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, NonNegativeFloat

from clustersim.distributions import Distribution
from clustersim.quantities import PositiveDuration
from clustersim.scenario.sections.common import (
    GpusPerNode, Multiplier, Name, PositiveCount, Probability, Section, Speed, TimeToFailure, only_with,
)


class FailureMode(Section):
    """One way a node's parts fail: per GPU (an independent clock for each) or per node."""

    name: Name = Field(description="the cause name in metrics (nodes.failures.<name>); unique among causes")
    scope: Literal["gpu", "node"] = Field(
        default="node", description="gpu: one failure clock per GPU (gpus_per_node of them); node: one per node"
    )
    time_to_failure: TimeToFailure = Field(
        description="operating time of one clock until it fails; renews when this mode fails"
    )
    recovery: Literal["reboot", "replace", "pipeline"] = Field(
        default="replace",
        description="reboot: back after time_to_repair, no crew; replace: a repair crew for time_to_repair; "
                    "pipeline: through [[repair.stages]]",
    )
    time_to_repair: Distribution | None = Field(
        default=None, description="required with reboot and replace; pipeline uses its stages"
    )
    lemon_rate_multiplier: Multiplier | None = Field(
        default=None, description="a lemon's clocks of this mode run this many times faster; omitted = nodes' value"
    )
    effect: Literal["crash", "slow", "leak"] = Field(
        default="crash",
        description="crash: the node goes down; slow: it runs at `speed` until noticed after "
                    "repair.straggler_detection; leak: it runs at `speed` and crashes after time_to_crash",
    )
    speed: Speed | None = Field(default=None, description="slow (required) and leak (default 1): fraction of speed")
    time_to_crash: Distribution | None = Field(default=None, description="leak: from the leak starting to the crash")
    ages: Literal["always", "working", "computing"] = Field(
        default="always",
        description="when this mode's clocks age: always (every operating node); working (while the node holds a "
                    "working position); computing (while its job computes or checkpoints)",
    )
    idle_rate_factor: Probability | None = Field(
        default=None, description="ages = working or computing: the clocks' ageing rate the rest of the time "
                                  "(0 = never fails then; default 0)",
    )

    def problems(self) -> list[str]:
        """The repair time matches the recovery, speed and time to crash match the effect, and an idle
        rate belongs to load-dependent ageing."""
        return self._repair_time_problems() + self._speed_problems() + only_with(
            "time_to_crash", self.time_to_crash, "effect", self.effect, "leak", "the time from the leak to the crash"
        ) + self._ageing_problems()

    def _ageing_problems(self) -> list[str]:
        """An idle rate factor applies only to a mode that ages with load."""
        if self.ages == "always" and self.idle_rate_factor is not None:
            return ['idle_rate_factor: applies to ages = "working" or "computing" only']
        return []

    @property
    def load_factors(self) -> tuple[float, float, float]:
        """The clocks' ageing rate on a node that is idle, holds a working position, or computes."""
        idle = self.idle_rate_factor or 0.0
        return {"always": (1.0, 1.0, 1.0), "working": (idle, 1.0, 1.0), "computing": (idle, idle, 1.0)}[self.ages]

    def _repair_time_problems(self) -> list[str]:
        """reboot and replace take time_to_repair; a pipeline takes its times from the stages."""
        if self.recovery == "pipeline" and self.time_to_repair is not None:
            return [('time_to_repair: recovery = "pipeline" takes its repair times from [[repair.stages]]; '
                    "remove time_to_repair")]
        if self.recovery != "pipeline" and self.time_to_repair is None:
            return [f'time_to_repair: missing required key (recovery = "{self.recovery}" needs time_to_repair)']
        return []

    def _speed_problems(self) -> list[str]:
        """A slow node needs its speed; a crash has none."""
        if self.effect == "slow" and self.speed is None:
            return ['speed: missing required key (effect = "slow" needs the fraction of full speed the node runs at)']
        if self.effect == "crash" and self.speed is not None:
            return ['speed: applies to effect = "slow" or "leak" only']
        return []

    @property
    def degraded_speed(self) -> float:
        """The node's speed while this mode's fault is active but the node still runs."""
        return 1.0 if self.speed is None else self.speed


class NodeScore(Section):
    """A node's reliability score: failures lower it, each full credit_period of uptime raises it."""

    initial: float = Field(default=100.0, description="every node's score at the start")
    failure_penalty: NonNegativeFloat = Field(default=30.0, description="subtracted per failure blamed on the node")
    uptime_credit: NonNegativeFloat = Field(default=10.0, description="added per full credit_period of uptime")
    credit_period: PositiveDuration = Field(default=24.0, description="uptime that earns one uptime_credit")


class LemonRegeneration(Section):
    """A fleet that ages: every period, a share of the healthy nodes turn into lemons (AIReSim's bad-server
    regeneration)."""

    period: PositiveDuration = Field(description="how often healthy nodes turn into lemons")
    fraction: Probability = Field(
        description="of the healthy (not lemon, not retired) nodes, the share turned lemon each period, at least one"
    )


def reads_score(policy: Any, selection: Any) -> bool:
    """Does a retirement policy or spare selection read the node score (so [nodes.score] applies)?"""
    return policy in ("scored", "any") or selection == "highest_score"


class Nodes(Section):
    """The GPU servers: how many, how they are racked, how they fail."""

    count: PositiveCount = Field(description="servers in the cluster, working nodes and spares together")
    gpus_per_node: GpusPerNode = Field(default=8, description="GPUs per server (failure clocks of a gpu-scope mode)")
    nodes_per_rack: PositiveCount = Field(
        default=16, description="servers per rack, filled in node order (racks of rack/power domains and kill_rack)"
    )
    failure_modes: list[FailureMode] = Field(
        default_factory=list, description="the ways a node's own parts fail, each with its own clocks"
    )
    lemon_fraction: Probability = Field(
        default=0.0, description="share of nodes that are lemons, drawn per replication (stream 'lemons')"
    )
    lemon_rate_multiplier: Multiplier = Field(
        default=1.0, description="a lemon's failure clocks run this many times faster (modes may override)"
    )
    lemon_cured_by_repair: bool = Field(
        default=False, description="a repair that truly fixes a fault also cures the lemon (AIReSim's model)"
    )
    score: NodeScore | None = Field(
        default=None, description="used by retirement policy 'scored' and spare selection 'highest_score'"
    )
    lemon_regeneration: LemonRegeneration | None = Field(
        default=None, description="every period, a share of the healthy nodes turn into lemons (stream "
        "'lemons/regeneration')"
    )

    def problems(self) -> list[str]:
        """Lemons must differ from other nodes: some multiplier other than 1."""
        multipliers = [self.lemon_multiplier(i) for i in range(len(self.failure_modes))]
        if (self.lemon_fraction > 0 or self.lemon_regeneration is not None) and all(m == 1.0 for m in multipliers):
            why = "lemon_fraction > 0" if self.lemon_fraction > 0 else "lemon_regeneration"
            return [(f"lemon_rate_multiplier: lemons ({why}) need a multiplier other than 1 "
                    "here or on a failure mode")]
        return []

    @property
    def has_lemons(self) -> bool:
        """Can any node be a lemon (drawn at the start, or turned lemon later)?"""
        return self.lemon_count > 0 or self.lemon_regeneration is not None

    @property
    def racks(self) -> int:
        """Racks the nodes fill, the last one possibly partly."""
        return math.ceil(self.count / self.nodes_per_rack)

    @property
    def lemon_count(self) -> int:
        """How many nodes are lemons (lemon_fraction of count, rounded)."""
        return round(self.count * self.lemon_fraction)

    def lemon_multiplier(self, mode: int) -> float:
        """How many times faster a lemon's clock of failure mode ``mode`` runs."""
        own = self.failure_modes[mode].lemon_rate_multiplier
        return self.lemon_rate_multiplier if own is None else own

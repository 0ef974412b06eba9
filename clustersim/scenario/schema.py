"""The scenario schema: the single source of every parameter, default and check.

Keys follow the contract of ``shared/DESIGN.md``. Every model forbids unknown keys and is
frozen; durations are stored in hours. Cross-field checks live in the model validators of
the section that owns them, so every message names the key the user has to change.
"""
from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, model_validator

from clustersim.distributions import Distribution
from clustersim.quantities import Duration, PositiveDuration

Name = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$", max_length=64)]

# Contract sections that later versions implement; a file using them is refused, never ignored.
PLANNED_SECTIONS = ("network", "storage", "training", "inference")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Simulation(Section):
    """How long, how often and with which engine the scenario runs."""

    horizon: PositiveDuration = Field(default=365 * 24.0, description="simulated time per replication")
    warmup: Duration = Field(default=0.0, description="statistics ignore [0, warmup)")
    replications: PositiveInt = 20
    seed: NonNegativeInt = 1
    engine: Literal["simpy", "fast"] = "simpy"

    @model_validator(mode="after")
    def _warmup_before_horizon(self) -> "Simulation":
        if self.warmup >= self.horizon:
            raise ValueError(f"warmup ({self.warmup!r} h) must be shorter than horizon ({self.horizon!r} h)")
        return self


class FailureMode(Section):
    """One way a node's parts fail: per GPU (an independent clock for each) or per node."""

    name: Name
    scope: Literal["gpu", "node"] = "node"
    time_to_failure: Distribution
    recovery: Literal["reboot", "replace"] = Field(
        default="replace", description="reboot: back after time_to_repair, no crew; replace: needs a crew"
    )
    time_to_repair: Distribution


class Nodes(Section):
    """The GPU servers: how many, how they are racked, how they fail."""

    count: PositiveInt
    gpus_per_node: PositiveInt = 8
    nodes_per_rack: PositiveInt = 16
    failure_modes: list[FailureMode] = Field(default_factory=list)

    @property
    def racks(self) -> int:
        return math.ceil(self.count / self.nodes_per_rack)


class Repair(Section):
    """Who repairs and how fast failures are noticed."""

    crews: PositiveInt | None = Field(default=None, description="concurrent 'replace' repairs; omitted = unlimited")
    detection: Duration = Field(default=0.0, description="failure -> noticed (heartbeat interval x misses)")


class Spares(Section):
    """Nodes held back to replace failed working nodes."""

    hot: NonNegativeInt = 0
    cold: NonNegativeInt = 0
    swap_time: Duration = Field(default=5 / 60, description="a hot spare joins after this")
    provisioning: Duration = Field(default=4.0, description="a cold spare joins after this")


class FailureDomain(Section):
    """A correlated failure: every member node goes down together and comes back together."""

    name: Name | None = Field(default=None, description="defaults to kind")
    kind: Literal["rack", "power", "cluster"]
    power_racks: PositiveInt | None = Field(default=None, description="racks per power domain (kind = power)")
    time_to_failure: Distribution
    time_to_repair: Distribution

    @model_validator(mode="after")
    def _power_racks_with_power(self) -> "FailureDomain":
        if self.kind == "power" and self.power_racks is None:
            raise ValueError("kind = \"power\" needs power_racks (racks per power domain)")
        if self.kind != "power" and self.power_racks is not None:
            raise ValueError(f"power_racks applies only to kind = \"power\", not {self.kind!r}")
        return self

    @property
    def label(self) -> str:
        return self.name or self.kind


class Chaos(Section):
    """A planned fault: at ``at`` (and then every ``every``) take a node or rack down for ``duration``."""

    name: Name | None = Field(default=None, description="defaults to chaos<index>")
    action: Literal["kill_node", "kill_rack"]
    at: Duration = Field(default=0.0, description="first injection time")
    every: PositiveDuration | None = Field(default=None, description="repeat period; omitted = once")
    node: NonNegativeInt | None = Field(default=None, description="kill_node target; omitted = random")
    rack: NonNegativeInt | None = Field(default=None, description="kill_rack target; omitted = random")
    duration: PositiveDuration

    @model_validator(mode="after")
    def _target_matches_action(self) -> "Chaos":
        if self.action == "kill_node" and self.rack is not None:
            raise ValueError("kill_node takes 'node', not 'rack'")
        if self.action == "kill_rack" and self.node is not None:
            raise ValueError("kill_rack takes 'rack', not 'node'")
        return self


class Scenario(Section):
    """A whole cluster experiment, as written in a scenario file."""

    name: Name
    simulation: Simulation = Field(default_factory=Simulation)
    nodes: Nodes
    repair: Repair = Field(default_factory=Repair)
    spares: Spares = Field(default_factory=Spares)
    failure_domains: list[FailureDomain] = Field(default_factory=list)
    chaos: list[Chaos] = Field(default_factory=list)

    @model_validator(mode="after")
    def _cross_checks(self) -> "Scenario":
        problems = [*self._spare_problems(), *self._name_problems(), *self._chaos_problems()]
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _spare_problems(self) -> list[str]:
        held = self.spares.hot + self.spares.cold
        if held >= self.nodes.count:
            return [f"spares: hot + cold = {held} leaves no working node out of nodes.count = {self.nodes.count}"]
        return []

    def _name_problems(self) -> list[str]:
        seen: set[str] = set()
        problems = []
        for name in self.cause_names:
            if name in seen:
                problems.append(f"failure cause name {name!r} is used twice (failure modes, domains and chaos share names)")
            seen.add(name)
        return problems

    def _chaos_problems(self) -> list[str]:
        problems = []
        for i, chaos in enumerate(self.chaos):
            if chaos.node is not None and chaos.node >= self.nodes.count:
                problems.append(f"chaos[{i}].node: node {chaos.node} does not exist (nodes.count = {self.nodes.count})")
            if chaos.rack is not None and chaos.rack >= self.nodes.racks:
                problems.append(f"chaos[{i}].rack: rack {chaos.rack} does not exist ({self.nodes.racks} racks)")
            if chaos.at >= self.simulation.horizon:
                problems.append(f"chaos[{i}].at: {chaos.at!r} h is not before the horizon")
        return problems

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

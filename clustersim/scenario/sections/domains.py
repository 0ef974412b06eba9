"""``[[failure_domains]]``: correlated failures that take a rack, a power domain or the cluster down together."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from clustersim.distributions import Distribution
from clustersim.scenario.sections.common import Name, PositiveCount, Section, TimeToFailure, only_with


class FailureDomain(Section):
    """A correlated failure: every member node goes down together and comes back together."""

    name: Name | None = Field(default=None, description="cause name in metrics; default: the kind")
    kind: Literal["rack", "power", "cluster"] = Field(
        description="rack: one instance per rack; power: one per power_racks racks; cluster: one for all nodes"
    )
    power_racks: PositiveCount | None = Field(default=None, description="racks per power domain (kind = power)")
    time_to_failure: TimeToFailure = Field(description="each instance's time between its outages (from its return)")
    time_to_repair: Distribution = Field(description="an outage lasts detection + this; no crew needed")

    def problems(self) -> list[str]:
        """A power domain groups power_racks racks; no other kind has the key."""
        return only_with("power_racks", self.power_racks, "kind", self.kind, "power",
                         "power_racks, the racks per power domain")

    @property
    def label(self) -> str:
        """The domain's cause name: its name, or its kind."""
        return self.name or self.kind

"""``[spares]``: hot, warm and cold spare nodes, how fast each tier joins, and which spare is taken."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from clustersim.quantities import Duration
from clustersim.scenario.sections.common import Count, Section


class Spares(Section):
    """Nodes held back to replace failed working nodes."""

    hot: Count = Field(default=0, description="powered-on spares, the last nodes before the cold ones")
    cold: Count = Field(default=0, description="powered-off spares (do not age), the last nodes")
    swap_time: Duration = Field(default=5 / 60, description="a hot spare joins after this")
    provisioning: Duration = Field(default=4.0, description="a cold spare joins after this")
    cold_provisioning: Literal["parallel", "serial"] = Field(
        default="parallel", description="cold spares taken are provisioned all at once, or one after another"
    )
    warm: Count = Field(
        default=0, description="of the hot spares, how many are kept initialised as warm standbys"
    )
    standby_swap_time: Duration = Field(default=0.0, description="a warm standby joins after this")
    selection: Literal["fifo", "random", "fewest_failures", "highest_score"] = Field(
        default="fifo", description="which spare of the preferred tier (warm, hot, cold) is taken"
    )

    def problems(self) -> list[str]:
        """Warm standbys are hot spares kept initialised: there cannot be more of them than hot spares; a serial
        provisioning line needs cold spares to provision."""
        problems = []
        if self.warm > self.hot:
            problems.append(f"warm: {self.warm} warm standbys need as many hot spares, spares.hot = {self.hot}")
        if self.cold_provisioning == "serial" and self.cold == 0:
            problems.append('cold_provisioning: "serial" provisions cold spares, and spares.cold = 0')
        return problems

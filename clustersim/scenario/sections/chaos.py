"""``[[chaos]]``: planned faults (kill a node or rack, slow a node, leak memory) at given times."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from clustersim.distributions import Distribution
from clustersim.quantities import Duration, PositiveDuration
from clustersim.scenario.sections.common import Count, Name, Section, Speed, only_with


class Chaos(Section):
    """A planned fault at ``at`` (and then every ``every``): kill a node or rack for ``duration``,
    slow a node to ``speed`` for ``duration``, or start a memory leak that crashes a node after
    ``time_to_crash`` and keeps it down for ``duration``."""

    name: Name | None = Field(default=None, description="cause name in metrics; default chaos<index>")
    action: Literal["kill_node", "kill_rack", "slow_node", "leak_memory"] = Field(
        description="kill_node / kill_rack: down for duration; slow_node: runs at speed for duration; "
                    "leak_memory: crashes after time_to_crash, then down for duration"
    )
    at: Duration = Field(default=0.0, description="simulated time of the first injection")
    every: PositiveDuration | None = Field(default=None, description="repeat period; omitted = once")
    node: Count | None = Field(default=None, description="target of a node action; omitted = random")
    rack: Count | None = Field(default=None, description="kill_rack target; omitted = random")
    duration: PositiveDuration = Field(description="how long each injection holds the node or rack down or slow")
    speed: Speed | None = Field(default=None, description="slow_node: fraction of full speed")
    time_to_crash: Distribution | None = Field(default=None, description="leak_memory: from the leak to the crash")

    def problems(self) -> list[str]:
        """The target matches the action; speed and time to crash belong to the action that needs them."""
        return self._target_problems() + only_with(
            "speed", self.speed, "action", self.action, "slow_node", "the fraction of full speed"
        ) + only_with("time_to_crash", self.time_to_crash, "action", self.action, "leak_memory",
                      "the time from the leak to the crash")

    def _target_problems(self) -> list[str]:
        """kill_rack aims at a rack, every other action at a node."""
        wanted = "rack" if self.action == "kill_rack" else "node"
        return [f"{key}: {self.action} takes '{wanted}', not '{key}'"
                for key in ("node", "rack") if key != wanted and getattr(self, key) is not None]

"""``[[chaos]]``: planned faults (kill a node or rack, slow a node, leak memory; fail a switch or a link of the
fabric; lose a storage server or the whole store) at given times."""
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
    action: Literal["kill_node", "kill_rack", "slow_node", "leak_memory", "kill_switch", "kill_link",
                    "kill_storage_server", "store_outage"] = Field(
        description="kill_node / kill_rack: down for duration; slow_node: runs at speed for duration; "
                    "leak_memory: crashes after time_to_crash, then down for duration; kill_switch / kill_link: "
                    "a switch or link of [network] down for duration; kill_storage_server: one server of "
                    "[storage] down; store_outage: every server down"
    )
    at: Duration = Field(default=0.0, description="simulated time of the first injection")
    every: PositiveDuration | None = Field(default=None, description="repeat period; omitted = once")
    node: Count | None = Field(default=None, description="target of a node action; omitted = random")
    rack: Count | None = Field(default=None, description="kill_rack target; omitted = random")
    switch: str | None = Field(default=None, description="kill_switch target, by name (leaf/0, spine/1, ...); "
                                                         "omitted = random")
    link: str | None = Field(default=None, description="kill_link target, by name (leaf/0~spine/1, "
                                                       "node3~leaf/0); omitted = random")
    server: Count | None = Field(default=None, description="kill_storage_server target; omitted = random")
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
        """Each action aims at its own kind of target (store_outage at none)."""
        wanted = _TARGETS[self.action]
        return [f"{key}: {self.action} takes {f'{wanted!r}' if wanted else 'no target'}, not '{key}'"
                for key in ("node", "rack", "switch", "link", "server") if key != wanted
                and getattr(self, key) is not None]


# the key naming each action's target (None: the action has none)
_TARGETS = {"kill_node": "node", "slow_node": "node", "leak_memory": "node", "kill_rack": "rack",
            "kill_switch": "switch", "kill_link": "link", "kill_storage_server": "server", "store_outage": None}
NETWORK_ACTIONS = ("kill_switch", "kill_link")
STORAGE_ACTIONS = ("kill_storage_server", "store_outage")

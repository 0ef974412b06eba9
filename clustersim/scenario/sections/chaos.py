"""``[[chaos]]``: planned faults (kill a node or rack, slow a node, leak memory; fail a switch or a link of the
fabric; lose a storage server or the whole store; delay, fail, blind, mis-release or flood an inference service)
at given times."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from clustersim.distributions import Distribution
from clustersim.quantities import Duration, PositiveDuration
from clustersim.scenario.sections.common import (
    Count, Name, PositiveCount, Probability, Section, Speed, only_with,
)


class Chaos(Section):
    """A planned fault at ``at`` (and then every ``every``): kill a node or rack for ``duration``,
    slow a node to ``speed`` for ``duration``, or start a memory leak that crashes a node after
    ``time_to_crash`` and keeps it down for ``duration``; fail a part of the fabric or the store; or (a serving
    action, run by the serving model: ``workloads.inference.injections``) delay, fail, blind, mis-release or
    flood an inference ``service``."""

    name: Name | None = Field(default=None, description="cause name in metrics; default chaos<index>")
    action: Literal["kill_node", "kill_rack", "slow_node", "leak_memory", "kill_switch", "kill_link",
                    "kill_storage_server", "store_outage",
                    "delay_replicas", "error_replicas", "health_check_outage", "bad_release", "traffic_surge"] = Field(
        description="kill_node / kill_rack: down for duration; slow_node: runs at speed for duration; "
                    "leak_memory: crashes after time_to_crash, then down for duration; kill_switch / kill_link: "
                    "a switch or link of [network] down for duration; kill_storage_server: one server of "
                    "[storage] down; store_outage: every server down; delay_replicas / error_replicas: "
                    "replicas of service answer added_latency later / fail with error_rate; health_check_outage: "
                    "its health checks fail; bad_release: a bad version released at at; traffic_surge: its "
                    "arrival rate x factor"
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
    duration: PositiveDuration = Field(description="how long each injection holds the node or rack down or slow "
                                                   "(a serving action: lasts; bad_release: the longest the bad "
                                                   "version serves)")
    speed: Speed | None = Field(default=None, description="slow_node: fraction of full speed")
    time_to_crash: Distribution | None = Field(default=None, description="leak_memory: from the leak to the crash")
    # the serving actions' keys (an [[inference]] service's faults; run by the serving model)
    service: Name | None = Field(default=None, description="the serving actions' target: an [[inference]] "
                                                           "service's name")
    replicas: PositiveCount | None = Field(default=None, description="delay_replicas / error_replicas: how many "
                                           "of the service's replicas, drawn from the injection's stream; "
                                           "omitted = all")
    added_latency: PositiveDuration | None = Field(default=None, description="delay_replicas: the time added to "
                                                   "each attempt those replicas serve")
    error_rate: Probability | None = Field(default=None, description="error_replicas / bad_release: the "
                                           "probability an attempt fails, on top of the service's own")
    latency_factor: Annotated[float, Field(gt=0.0, le=1e3)] | None = Field(
        default=None, description="bad_release: the bad version's service time as a multiple of the old one's")
    factor: Annotated[float, Field(gt=0.0, le=1e3)] | None = Field(default=None, description="traffic_surge: "
                                                                   "the arrival rate's multiple")

    def problems(self) -> list[str]:
        """The target matches the action; speed and time to crash belong to the action that needs them."""
        return self._target_problems() + only_with(
            "speed", self.speed, "action", self.action, "slow_node", "the fraction of full speed"
        ) + only_with("time_to_crash", self.time_to_crash, "action", self.action, "leak_memory",
                      "the time from the leak to the crash") + self._serving_problems()

    def _serving_problems(self) -> list[str]:
        """Each serving action takes its own keys, and only the serving actions take them."""
        action = self.action
        problems = only_with("added_latency", self.added_latency, "action", action, "delay_replicas",
                             "the time added to each attempt")
        problems += only_with("factor", self.factor, "action", action, "traffic_surge", "the arrival rate's multiple")
        if self.latency_factor is not None and action != "bad_release":
            problems.append('latency_factor: applies to action = "bad_release" only')
        if action in SERVING_ACTIONS and self.service is None:
            problems.append(f'service: missing required key (action = "{action}" needs an [[inference]] service)')
        if self.replicas is not None and action not in ("delay_replicas", "error_replicas"):
            problems.append('replicas: applies to action = "delay_replicas" or "error_replicas" only')
        if action == "error_replicas" and self.error_rate is None:
            problems.append('error_rate: missing required key (action = "error_replicas" needs the probability '
                            'an attempt fails)')
        elif action == "bad_release" and self.error_rate is None and self.latency_factor is None:
            problems.append('error_rate: action = "bad_release" needs error_rate or latency_factor (or both)')
        elif self.error_rate is not None and action not in ("error_replicas", "bad_release"):
            problems.append('error_rate: applies to action = "error_replicas" or "bad_release" only')
        return problems

    def _target_problems(self) -> list[str]:
        """Each action aims at its own kind of target (store_outage at none)."""
        wanted = _TARGETS[self.action]
        return [f"{key}: {self.action} takes {f'{wanted!r}' if wanted else 'no target'}, not '{key}'"
                for key in ("node", "rack", "switch", "link", "server", "service") if key != wanted
                and getattr(self, key) is not None]


# the key naming each action's target (None: the action has none)
_TARGETS = {"kill_node": "node", "slow_node": "node", "leak_memory": "node", "kill_rack": "rack",
            "kill_switch": "switch", "kill_link": "link", "kill_storage_server": "server", "store_outage": None}
NETWORK_ACTIONS = ("kill_switch", "kill_link")
STORAGE_ACTIONS = ("kill_storage_server", "store_outage")
SERVING_ACTIONS = ("delay_replicas", "error_replicas", "health_check_outage", "bad_release", "traffic_surge")
_TARGETS.update({action: "service" for action in SERVING_ACTIONS})

"""``[[chaos]]``: planned faults (kill a node or rack, slow a node, leak memory, a GPU fault; fail a switch or a
link of the fabric, a node's NIC, a flapping link, a partitioned rack; lose a storage server or the whole store;
delay, fail, blind, mis-release or flood an inference service) at given times, aimed at a named target or at one
drawn at random (narrowed by a rack, role or layer)."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from clustersim.distributions import Distribution
from clustersim.quantities import Duration, PositiveDuration
from clustersim.scenario.sections.nodes import FailureMode
from clustersim.scenario.sections.common import (
    Count, Name, PositiveCount, Probability, Section, Speed, TimeToFailure, only_with,
)


class Chaos(Section):
    """A planned fault at ``at`` (and then every ``every``): kill a node or rack for ``duration``,
    slow a node to ``speed`` for ``duration``, or start a memory leak that crashes a node after
    ``time_to_crash`` and keeps it down for ``duration``; fail a node's part by a failure ``mode``;
    hold parts of the fabric down (a switch, a link, a node's NIC, a flapping link, a rack's way out);
    hold storage servers unreachable; or (a serving action, run by the serving model:
    ``workloads.inference.injections``) delay, fail, blind, mis-release or flood an inference ``service``."""

    name: Name | None = Field(default=None, description="cause name in metrics; default chaos<index>")
    action: Literal["kill_node", "kill_rack", "slow_node", "leak_memory", "kill_switch", "kill_link",
                    "kill_storage_server", "store_outage", "gpu_fault", "nic_down", "link_flap",
                    "rack_partition",
                    "delay_replicas", "error_replicas", "health_check_outage", "bad_release", "traffic_surge"] = Field(
        description="kill_node / kill_rack: down for duration; slow_node: runs at speed for duration; "
                    "leak_memory: crashes after time_to_crash, then down for duration; kill_switch / kill_link: "
                    "a switch or link of [network] down for duration; kill_storage_server: one server of "
                    "[storage] down; store_outage: every server down; gpu_fault: a node's part fails by mode, "
                    "repaired as that mode's own failure; nic_down: a node's host links down for duration; "
                    "link_flap: a link down for duration, flaps times, flap_gap apart; rack_partition: a rack "
                    "cut off from the fabric for duration; delay_replicas / error_replicas: "
                    "replicas of service answer added_latency later / fail with error_rate; health_check_outage: "
                    "its health checks fail; bad_release: a bad version released at at; traffic_surge: its "
                    "arrival rate x factor"
    )
    at: Duration = Field(default=0.0, description="simulated time of the first injection")
    every: PositiveDuration | None = Field(default=None, description="repeat period; omitted = once")
    between: TimeToFailure | None = Field(
        default=None, description="at random times instead: the time from one injection to the next, drawn from "
        "this law on the injection's own stream (exponential: a Poisson process); not with every")
    node: Count | None = Field(default=None, description="target of a node action; omitted = random")
    rack: Count | None = Field(default=None, description="kill_rack / rack_partition target; for a node action "
                                                       "the rack its random node is drawn from; omitted = random")
    switch: str | None = Field(default=None, description="kill_switch target, by name (leaf/0, spine/1, ...); "
                                                         "omitted = random")
    link: str | None = Field(default=None, description="kill_link target, by name (leaf/0~spine/1, "
                                                       "node3~leaf/0); omitted = random")
    server: Count | None = Field(default=None, description="kill_storage_server target; omitted = random")
    duration: PositiveDuration | None = Field(
        default=None, description="how long each injection holds its target down, slow or cut off (each flap's "
                                  "down time for link_flap; a serving action: lasts; bad_release: the longest the "
                                  "bad version serves); required, except gpu_fault takes none")
    speed: Speed | None = Field(default=None, description="slow_node: fraction of full speed")
    time_to_crash: Distribution | None = Field(default=None, description="leak_memory: from the leak to the crash")
    # --- the node and fabric catalogue (gpu_fault, nic_down, link_flap, rack_partition) and target selectors ---
    role: Literal["training", "inference", "spare", "working"] | None = Field(
        default=None, description="a node action's random node is drawn among the nodes in this role at the "
                                  "injection: training (a training job's position), inference (a service's), "
                                  "working (any working position), spare (a spare, in the pool or returning)")
    layer: str | None = Field(default=None, description="a kill_switch's random switch is drawn from this layer of "
                                                        "the fabric, a kill_link's or link_flap's random link among "
                                                        "the links touching it (leaf, spine, ...)")
    mode: str | None = Field(default=None, description="gpu_fault: the failure mode (nodes.failure_modes name) it "
                                                       "fails by; default: the first with effect = \"crash\"")
    flaps: PositiveCount | None = Field(default=None, description="link_flap: how many times the link goes down in "
                                                                  "one episode")
    flap_gap: PositiveDuration | None = Field(default=None, description="link_flap: how long the link is up between "
                                                                        "two flaps of an episode")

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

    def gaps(self, rng: np.random.Generator) -> Iterator[float]:
        """The time from each injection to the next: ``every``, or draws of ``between`` from ``rng`` (the
        entry's ``chaos/<name>/times`` stream); nothing after the first without either."""
        if self.every is not None:
            while True:
                yield self.every
        elif self.between is not None:
            draw = self.between.sampler(rng)
            while True:
                yield draw()

    def injection_times(self, rng: np.random.Generator, horizon: float) -> list[float]:
        """Every injection before ``horizon``: ``at``, then each gap later (summed as the simulated clock sums
        them, so these are the model's times bit for bit)."""
        times, at, gaps = [], self.at, self.gaps(rng)
        while at < horizon:
            times.append(at)
            gap = next(gaps, None)
            if gap is None:
                break
            at = at + gap
        return times

    @property
    def duration_hours(self) -> float:
        """The duration of an action that lasts one (every action but gpu_fault: ``problems`` requires it)."""
        assert self.duration is not None
        return self.duration

    def fault_mode(self, modes: Sequence[FailureMode]) -> int | None:
        """gpu_fault: the index of the failure mode it fails by — ``mode``, or the first with effect "crash"
        (None: there is no such mode)."""
        names = [m.name for m in modes]
        if self.mode is not None:
            return names.index(self.mode) if self.mode in names else None
        return next((i for i, m in enumerate(modes) if m.effect == "crash"), None)

    def problems(self) -> list[str]:
        """The target matches the action; speed and time to crash belong to the action that needs them."""
        return self._target_problems() + only_with(
            "speed", self.speed, "action", self.action, "slow_node", "the fraction of full speed"
        ) + only_with("time_to_crash", self.time_to_crash, "action", self.action, "leak_memory",
                      "the time from the leak to the crash") + self._catalogue_problems() + self._serving_problems() + (
            ["between: random times or every, not both"] if self.between is not None and self.every is not None
            else [])

    def _catalogue_problems(self) -> list[str]:
        """Selectors go with the actions they narrow; every action but gpu_fault lasts a duration; mode, flaps and
        flap_gap belong to the action that needs them."""
        return self._selector_problems() + self._duration_problems() + only_with(
            "flaps", self.flaps, "action", self.action, "link_flap", "the number of flaps"
        ) + only_with("flap_gap", self.flap_gap, "action", self.action, "link_flap", "the up time between flaps") + (
            ['mode: applies to action = "gpu_fault" only'] if self.mode is not None and self.action != "gpu_fault"
            else [])

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
        """Each action aims at its own kind of target (store_outage at none); a node action may also name a rack to
        draw from."""
        wanted, selectors = _TARGETS[self.action], _SELECTORS.get(self.action, ())
        return [f"{key}: {self.action} takes {f'{wanted!r}' if wanted else 'no target'}, not '{key}'"
                for key in ("node", "rack", "switch", "link", "server", "service")
                if key != wanted and key not in selectors
                and getattr(self, key) is not None]

    def _selector_problems(self) -> list[str]:
        """``role`` narrows a node action's draw and ``layer`` a switch or link action's; neither goes with a
        target named outright."""
        problems = []
        for key, actions in (("role", NODE_ACTIONS), ("layer", LAYER_ACTIONS)):
            if getattr(self, key) is not None and self.action not in actions:
                problems.append(f"{key}: {self.action} takes no '{key}' (it narrows the random target of "
                                f"{', '.join(actions)})")
        wanted = _TARGETS[self.action]
        if wanted is not None and getattr(self, wanted) is not None:
            problems += [f"{key}: {self.action} names its {wanted} ({wanted} = {getattr(self, wanted)!r}); {key} "
                         f"only narrows a random one" for key in _SELECTORS.get(self.action, ())
                         if getattr(self, key) is not None]
        return problems

    def _duration_problems(self) -> list[str]:
        """Every action holds its target for ``duration`` but gpu_fault, whose repair decides."""
        if self.action == "gpu_fault":
            return (["duration: gpu_fault takes no duration (the node's repair decides how long it is down)"]
                    if self.duration is not None else [])
        return [f"duration: missing required key (how long each {self.action} injection lasts)"] \
            if self.duration is None else []


# the key naming each action's target (None: the action has none)
_TARGETS = {"kill_node": "node", "slow_node": "node", "leak_memory": "node", "kill_rack": "rack",
            "kill_switch": "switch", "kill_link": "link", "kill_storage_server": "server", "store_outage": None,
            "gpu_fault": "node", "nic_down": "node", "link_flap": "link", "rack_partition": "rack"}
NETWORK_ACTIONS = ("kill_switch", "kill_link")
STORAGE_ACTIONS = ("kill_storage_server", "store_outage")
# the catalogue's node and fabric actions (model/injections.py); those that need a [network]
CATALOGUE_ACTIONS = ("gpu_fault", "nic_down", "link_flap", "rack_partition")
FABRIC_ACTIONS = NETWORK_ACTIONS + ("nic_down", "link_flap", "rack_partition")
# the actions aimed at one node (a random one narrowed by rack and role), and at a switch or link (by layer)
NODE_ACTIONS = ("kill_node", "slow_node", "leak_memory", "gpu_fault", "nic_down")
LAYER_ACTIONS = ("kill_switch", "kill_link", "link_flap")
_SELECTORS = {**{action: ("rack", "role") for action in NODE_ACTIONS},
              **{action: ("layer",) for action in LAYER_ACTIONS}}
SERVING_ACTIONS = ("delay_replicas", "error_replicas", "health_check_outage", "bad_release", "traffic_surge")
_TARGETS.update({action: "service" for action in SERVING_ACTIONS})

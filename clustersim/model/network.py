"""The fabric in the SimPy model: switches and links fail and return; who is cut off follows.

Each switch and each link with a failure law is an alternating renewal process on its own stream
(``network/switch/<name>``, ``network/link/<name>``): up for ``time_to_failure``, down for
``time_to_repair``. After every change ``topology.Reach`` says which nodes were cut off or joined
again; a cut-off node is held down (``NodeHolds``, cause ``network``, not counted as a node failure)
until it is joined again, so its position empties, is noticed after ``repair.detection`` and takes a
spare like any other — and its job loses the member. A storage server whose rack's switches no longer
reach the top layer is held unreachable the same way.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from clustersim.model.base import Context
from clustersim.model.nodes import Node, NodeHolds
from clustersim.model.records import Kind, NodeState
from clustersim.rng import Streams
from clustersim.scenario.schema import FailureLaw, Scenario
from clustersim.topology import Fabric, Reach

SWITCH, LINK, CUT = Kind.SWITCH.value, Kind.LINK.value, Kind.CUT.value
UP, DOWN = NodeState.UP.value, NodeState.DOWN.value



class ServerHolds(Protocol):
    """What the network holds down when it cuts a storage server's rack off (model/storage.StorageCluster)."""

    def hold(self, server: int, cause: int) -> None: ...

    def release(self, server: int) -> None: ...


class NetworkModel:
    """The live state of the fabric; holds down the nodes it cuts off."""

    def __init__(self, ctx: Context, scenario: Scenario, fabric: Fabric, nodes: list[Node], holds: NodeHolds,
                 server_racks: tuple[int, ...] = (), storage: ServerHolds | None = None):
        self.ctx, self.fabric, self.nodes, self.holds = ctx, fabric, nodes, holds
        self.cause = scenario.network_cause
        self.horizon = scenario.simulation.horizon
        self.reach = Reach(fabric)
        self.server_racks = server_racks
        self.storage = storage
        self.server_cut = [False] * len(server_racks)
        self._held: dict[tuple[int, int], int] = {}  # (kind, component) -> holds: down while any is held

    def start(self, scenario: Scenario, streams: Streams) -> None:
        """Start a process for every switch and link that fails before the horizon.

        Most parts of a large fabric never fail within a run (a link with a 10^6 h MTTF, over a year):
        their first time to failure is drawn from their own stream as their process would draw it, and
        no process is made for those beyond the horizon — the same numbers, without thousands of idle
        processes for the garbage collector to scan.
        """
        network, fabric = scenario.network, self.fabric
        assert network is not None
        for s, (name, layer) in enumerate(zip(fabric.switch_names, fabric.switch_layers)):
            self._start_part(network.law_of_layer(layer), streams, f"network/switch/{name}", SWITCH, s)
        for link in range(fabric.link_count):
            law = network.host_link_failure if fabric.is_host_link(link) else network.link_failure
            self._start_part(law, streams, f"network/link/{fabric.link_name(link)}", LINK, link)

    def _start_part(self, law: FailureLaw | None, streams: Streams, stream: str, kind: int, component: int) -> None:
        if law is None:
            return
        rng = streams.generator(stream)
        first_hours = law.time_to_failure.sampler(rng)()
        if first_hours < self.horizon:
            self.ctx.env.process(self._life(law, rng, first_hours, kind, component))

    def _life(self, law: FailureLaw, rng: np.random.Generator, first_hours: float, kind: int, component: int):
        """SimPy process: one switch or link fails (first after ``first_hours``), is repaired, returns — forever."""
        env = self.ctx.env
        time_to_failure, time_to_repair = law.time_to_failure.sampler(rng), law.time_to_repair.sampler(rng)
        next_hours = first_hours
        while True:
            yield env.timeout(next_hours)
            self.hold_part(kind, component, -1)
            yield env.timeout(time_to_repair())
            self.release_part(kind, component)
            next_hours = time_to_failure()

    def hold_part(self, kind: int, component: int, cause: int) -> None:
        """Hold a switch or link (``kind`` SWITCH or LINK) down for ``cause`` (-1: its own failure; a chaos
        injection's code): it goes down with its first hold and returns when none is left."""
        key = (kind, component)
        self._held[key] = self._held.get(key, 0) + 1
        if self._held[key] == 1:
            self.ctx.record((self.ctx.env.now, kind, component, UP, DOWN, cause))
            self._apply(self._change(kind)(component, False))

    def release_part(self, kind: int, component: int) -> None:
        key = (kind, component)
        self._held[key] -= 1
        if self._held[key] == 0:
            self.ctx.record((self.ctx.env.now, kind, component, DOWN, UP, -1))
            self._apply(self._change(kind)(component, True))

    def _change(self, kind: int) -> Callable[[int, bool], list[int]]:
        return self.reach.set_switch if kind == SWITCH else self.reach.set_link

    def _apply(self, changed: list[int]) -> None:
        """Hold down the nodes just cut off, release those joined again; then the storage servers."""
        now, record = self.ctx.env.now, self.ctx.record
        for n in changed:
            cut = self.reach.cut[n]
            record((now, CUT, n, int(not cut), int(cut), self.cause))
            if cut:
                self.holds.strike(self.nodes[n], self.cause, counted=False)
            else:
                self.holds.release(self.nodes[n])
        if self.storage is None:
            return
        for server, rack in enumerate(self.server_racks):
            cut = not self.reach.rack_reachable(rack)
            if cut != self.server_cut[server]:
                self.server_cut[server] = cut
                if cut:
                    self.storage.hold(server, self.cause)
                else:
                    self.storage.release(server)

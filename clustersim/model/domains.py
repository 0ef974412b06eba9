"""Correlated failures: failure domains and chaos injections take groups of nodes down together."""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from clustersim.layout import Position
from clustersim.model.records import Kind, RepairState
from clustersim.model.base import Context
from clustersim.model.injections import PartHolds, inject_catalogue, pick_node, pick_part
from clustersim.model.nodes import Node, NodeHolds
from clustersim.scenario.schema import Chaos, FailureDomain, FailureMode
from clustersim.scenario.sections.chaos import CATALOGUE_ACTIONS, NETWORK_ACTIONS, STORAGE_ACTIONS

DOMAIN = Kind.DOMAIN.value
D_OK, D_FAILED, D_REPAIRING = RepairState.OK.value, RepairState.FAILED.value, RepairState.REPAIRING.value


class StoreHolds(Protocol):
    """What a domain (or an injection) holds storage servers down through (model/storage.StorageCluster)."""

    def hold(self, server: int, cause: int) -> None:
        """Hold ``server`` down for ``cause``; its data is kept."""
        ...

    def release(self, server: int) -> None:
        """Release one hold of ``server``."""
        ...


def domain_life(ctx: Context, index: int, domain: FailureDomain, members: list[Node], cause: int,
                holds: NodeHolds, detection_hours: float, rng: np.random.Generator,
                servers: Sequence[int] = (), store: StoreHolds | None = None):
    """SimPy process: the domain fails, is noticed, repaired, and all members return together — its nodes,
    and the storage ``servers`` in its racks (held through ``store``, their data kept)."""
    env, record = ctx.env, ctx.record
    time_to_failure = domain.time_to_failure.sampler(rng)
    time_to_repair = domain.time_to_repair.sampler(rng)
    while True:
        yield env.timeout(time_to_failure())
        record((env.now, DOMAIN, index, D_OK, D_FAILED, cause))
        for node in members:
            holds.strike(node, cause)
        if store is not None:
            for server in servers:
                store.hold(server, cause)
        if detection_hours > 0:
            yield env.timeout(detection_hours)
        record((env.now, DOMAIN, index, D_FAILED, D_REPAIRING, cause))
        yield env.timeout(time_to_repair())
        record((env.now, DOMAIN, index, D_REPAIRING, D_OK, cause))
        for node in members:
            holds.release(node)
        if store is not None:
            for server in servers:
                store.release(server)


@dataclass(frozen=True)
class ChaosReach:
    """What injections can reach besides the nodes: the fabric (once it is built) and the store; what they
    read to pick a node by role, and the failure modes a gpu_fault fails by."""

    network: Callable[[], PartHolds | None]
    store: StoreHolds | None
    servers: int
    positions: Sequence[Position] = ()
    modes: Sequence[FailureMode] = ()


def chaos_life(ctx: Context, chaos: Chaos, cause: int, nodes: list[Node], racks: list[list[Node]],
               holds: NodeHolds, rng: np.random.Generator, set_speed: Callable[[Node, float], None],
               straggler_hours: float, reach: ChaosReach, gaps: Iterator[float],
               aborted: Callable[[], bool] = lambda: False):
    """SimPy process: at ``at`` and then after each of ``gaps`` (``Chaos.gaps``: every ``every``, or at random
    times), inject the fault into its target — until ``aborted()`` (an [[abort]] condition was met: injections
    under way end as planned, no new one starts)."""
    env = ctx.env
    yield env.timeout(chaos.at)
    while not aborted():
        if chaos.action in CATALOGUE_ACTIONS:
            inject_catalogue(ctx, chaos, cause, nodes, racks, rng, reach.network(), reach.positions, reach.modes)
        elif chaos.action in NETWORK_ACTIONS:
            _inject_fabric(ctx, chaos, cause, reach, rng)
        elif chaos.action in STORAGE_ACTIONS:
            _inject_store(ctx, chaos, cause, reach, rng)
        else:
            _inject_nodes(ctx, chaos, cause, nodes, racks, holds, rng, set_speed, straggler_hours, reach.positions)
        gap = next(gaps, None)
        if gap is None:
            return
        yield env.timeout(gap)


def _inject_fabric(ctx: Context, chaos: Chaos, cause: int, reach: ChaosReach, rng: np.random.Generator) -> None:
    """A switch or link down for ``duration``, as its own failure would be (skipped if its layer has none)."""
    network = reach.network()
    assert network is not None  # the scenario has a [network] (cross_checks._chaos_parts_exist)
    part = pick_part(chaos, network.fabric, rng)
    if part is None:
        return
    network.hold_part(*part, cause)
    ctx.env.process(_part_back(ctx, network, part, chaos.duration_hours))


def _inject_store(ctx: Context, chaos: Chaos, cause: int, reach: ChaosReach, rng: np.random.Generator) -> None:
    """One storage server (or every one) unreachable for ``duration``, its data kept."""
    assert reach.store is not None  # the scenario has a [storage]
    if chaos.action == "store_outage":
        servers = list(range(reach.servers))
    else:
        servers = [chaos.server if chaos.server is not None else int(rng.integers(reach.servers))]
    for server in servers:
        reach.store.hold(server, cause)
    ctx.env.process(_servers_back(ctx, reach.store, servers, chaos.duration_hours))


def _inject_nodes(ctx: Context, chaos: Chaos, cause: int, nodes: list[Node], racks: list[list[Node]],
                  holds: NodeHolds, rng: np.random.Generator, set_speed: Callable[[Node, float], None],
                  straggler_hours: float, positions: Sequence[Position]) -> None:
    """A node or rack killed, a node slowed, or a memory leak started (skipped if no node is in its rack and
    role)."""
    env = ctx.env
    if chaos.action == "kill_rack":
        targets = racks[chaos.rack if chaos.rack is not None else int(rng.integers(len(racks)))]
    else:
        node = pick_node(chaos, nodes, racks, positions, rng)
        if node is None:
            return
        targets = [node]
    if chaos.action in ("kill_node", "kill_rack"):
        for node in targets:
            holds.strike(node, cause)
        env.process(_release_after(ctx, targets, chaos.duration_hours, holds))
    elif chaos.action == "slow_node":
        env.process(_slow(ctx, targets[0], chaos, cause, holds, set_speed, straggler_hours))
    else:
        env.process(_leak(ctx, targets[0], chaos, cause, holds, rng))


def _part_back(ctx: Context, network: PartHolds, part: tuple[int, int], hours: float):
    yield ctx.env.timeout(hours)
    network.release_part(*part)


def _servers_back(ctx: Context, store: StoreHolds, servers: list[int], hours: float):
    yield ctx.env.timeout(hours)
    for server in servers:
        store.release(server)


def _release_after(ctx: Context, targets: list[Node], hours: float, holds: NodeHolds):
    yield ctx.env.timeout(hours)
    for node in targets:
        holds.release(node)


def _slow(ctx: Context, node: Node, chaos: Chaos, cause: int, holds: NodeHolds,
          set_speed: Callable[[Node, float], None], straggler_hours: float):
    """The node runs at ``speed`` for ``duration``; noticed as a straggler first, it is taken out
    (not counted again) until the injection ends."""
    env = ctx.env
    assert chaos.speed is not None  # required with slow_node (Chaos.problems)
    holds.count_failure(node, cause)
    set_speed(node, chaos.speed)
    if straggler_hours >= chaos.duration_hours:
        yield env.timeout(chaos.duration_hours)
        set_speed(node, 1.0)
        return
    yield env.timeout(straggler_hours)
    set_speed(node, 1.0)
    holds.strike(node, cause, counted=False, noticed=True)
    yield env.timeout(chaos.duration_hours - straggler_hours)
    holds.release(node)


def _leak(ctx: Context, node: Node, chaos: Chaos, cause: int, holds: NodeHolds, rng: np.random.Generator):
    """A memory leak: the node crashes after ``time_to_crash`` and stays down for ``duration``."""
    env = ctx.env
    assert chaos.time_to_crash is not None  # required with leak_memory (Chaos.problems)
    holds.count_failure(node, cause)
    yield env.timeout(chaos.time_to_crash.sampler(rng)())
    holds.strike(node, cause, counted=False)
    yield env.timeout(chaos.duration_hours)
    holds.release(node)

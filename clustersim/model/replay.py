"""A replayed incident log in the SimPy model: each incident holds its component down for its repair hours.

Only the existing hold primitives are used — ``NodeHolds.strike/release`` for nodes and racks, the network's
``hold_part/release_part`` for switches and links, the store's ``hold/release`` for storage servers — so the
rest of the model (spares, jobs restarting, serving replicas) reacts as it does to any other outage. A rack's
incident takes its nodes and the storage servers in it down, as a rack domain's failure does. No random
number is drawn: the modelled failures' streams are untouched.
"""
from __future__ import annotations

from dataclasses import dataclass

from clustersim.incidents import Component, parse_component
from clustersim.model.base import Context
from clustersim.model.domains import ChaosReach
from clustersim.model.injections import LINK, SWITCH, PartHolds
from clustersim.model.nodes import Node, NodeHolds
from clustersim.scenario.schema import Scenario
from clustersim.topology import Fabric


@dataclass(frozen=True, slots=True)
class Strike:
    """What one incident holds down, from ``at`` for ``hours``, for ``cause``."""

    at: float
    hours: float
    cause: int
    nodes: tuple[int, ...] = ()
    servers: tuple[int, ...] = ()
    part: tuple[int, int] | None = None  # (SWITCH or LINK, index) of the fabric


def replay_strikes(scenario: Scenario, fabric: Fabric | None, server_racks: tuple[int, ...]) -> list[Strike]:
    """The log's incidents before the horizon, in time order (ties in file order), each resolved to its targets."""
    assert scenario.replay is not None
    per_rack, count = scenario.nodes.nodes_per_rack, scenario.nodes.count
    strikes = []
    for incident, cause in zip(scenario.replay.incidents, scenario.incident_causes):
        if incident.time >= scenario.simulation.horizon:
            continue  # at or after the horizon: it does not happen in the run
        target = parse_component(incident.component)
        strikes.append(_strike(incident.time, incident.repair_hours, cause, target, per_rack, count, fabric,
                               server_racks))
    return sorted(strikes, key=lambda strike: strike.at)


def _strike(at: float, hours: float, cause: int, target: Component, per_rack: int, count: int,
            fabric: Fabric | None, server_racks: tuple[int, ...]) -> Strike:
    """One incident's targets (the cross checks made sure each exists)."""
    if target.kind == "node":
        return Strike(at, hours, cause, nodes=(target.index,))
    if target.kind == "rack":
        first = target.index * per_rack
        servers = tuple(s for s, rack in enumerate(server_racks) if rack == target.index)
        return Strike(at, hours, cause, nodes=tuple(range(first, min(first + per_rack, count))), servers=servers)
    if target.kind == "storage":
        return Strike(at, hours, cause, servers=(target.index,))
    assert fabric is not None  # a switch or link needs a [network] (cross_checks._replay_parts_exist)
    if target.kind == "switch":
        return Strike(at, hours, cause, part=(SWITCH, fabric.switch_names.index(target.name)))
    link = next(k for k in range(fabric.link_count) if fabric.link_name(k) == target.name)
    return Strike(at, hours, cause, part=(LINK, link))


def replay_life(ctx: Context, strikes: list[Strike], nodes: list[Node], holds: NodeHolds, reach: ChaosReach):
    """SimPy process: at each incident's time, hold its targets down; a process of its own brings them back."""
    env = ctx.env
    for strike in strikes:
        if strike.at > env.now:
            yield env.timeout(strike.at - env.now)
        targets = [nodes[n] for n in strike.nodes]
        for node in targets:
            holds.strike(node, strike.cause)
        network = reach.network() if strike.part is not None else None
        if network is not None and strike.part is not None:
            network.hold_part(*strike.part, strike.cause)
        if reach.store is not None:
            for server in strike.servers:
                reach.store.hold(server, strike.cause)
        env.process(_back_after(ctx, strike, targets, holds, reach, network))


def _back_after(ctx: Context, strike: Strike, targets: list[Node], holds: NodeHolds, reach: ChaosReach,
                network: PartHolds | None):
    """SimPy process: the incident's repair hours later, its targets come back."""
    yield ctx.env.timeout(strike.hours)
    for node in targets:
        holds.release(node)
    if network is not None and strike.part is not None:
        network.release_part(*strike.part)
    if reach.store is not None:
        for server in strike.servers:
            reach.store.release(server)

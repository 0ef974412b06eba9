"""The chaos catalogue's node and fabric faults, and how an injection picks its target.

``gpu_fault`` fails a node's part through the node's own life (an ``Injected`` interrupt), so the repair
shop handles it exactly as a failure of its mode — detection, diagnosis, crews or stages, spares, the
mode's time to repair — with the FAILURE and NODE-down rows under the injection's cause. ``nic_down``,
``link_flap`` and ``rack_partition`` hold links of the fabric down, as ``kill_link`` does: the LINK rows
carry the injection's cause, and the nodes they cut off are held down by the network (cause ``network``,
not failed). A target drawn at random comes from the injection's own stream, among the nodes of a rack
or a role, or the switches and links of a layer, as they are at the injection; when none is eligible
(or a gpu_fault's node cannot fail now) the injection is skipped that time, recording nothing.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from clustersim.layout import Position
from clustersim.model.base import Context, Injected
from clustersim.model.nodes import Node
from clustersim.model.records import Kind
from clustersim.scenario.schema import Chaos, FailureMode
from clustersim.topology import Fabric

SWITCH, LINK = Kind.SWITCH.value, Kind.LINK.value
SPARE_ROLES = ("warm", "hot", "cold", "loose")  # Node.role of a spare: in the pool, or rejoining it once up


class PartHolds(Protocol):
    """What a fabric fault holds down through (model/network.NetworkModel)."""

    fabric: Fabric

    def hold_part(self, kind: int, component: int, cause: int) -> None: ...

    def release_part(self, kind: int, component: int) -> None: ...


def inject_catalogue(ctx: Context, chaos: Chaos, cause: int, nodes: list[Node], racks: list[list[Node]],
                     rng: np.random.Generator, network: PartHolds | None, positions: Sequence[Position],
                     modes: Sequence[FailureMode]) -> None:
    """One injection of gpu_fault, nic_down, link_flap or rack_partition (skipped when no target is eligible)."""
    if chaos.action == "gpu_fault":
        mode = chaos.fault_mode(modes)
        assert mode is not None  # cross_checks._chaos_fault_modes_exist
        node = pick_node(chaos, nodes, racks, positions, rng, can_fail)
        if node is not None:
            fail_part(ctx, node, mode, cause)
        return
    assert network is not None  # the scenario has a [network] (cross_checks._chaos_parts_exist)
    fabric = network.fabric
    if chaos.action == "nic_down":
        node = pick_node(chaos, nodes, racks, positions, rng)
        if node is not None:
            hold_links(ctx, network, list(fabric.host_links(node.index)), cause, chaos.duration_hours)
    elif chaos.action == "rack_partition":
        rack = racks[chaos.rack if chaos.rack is not None else int(rng.integers(len(racks)))]
        members = range(rack[0].index, rack[-1].index + 1)
        hold_links(ctx, network, fabric.partition_links(members), cause, chaos.duration_hours)
    else:
        part = pick_part(chaos, fabric, rng)
        if part is not None:
            flap(ctx, network, part[1], cause, chaos)


# --- targets ------------------------------------------------------------------------------------

def in_role(node: Node, role: str, positions: Sequence[Position]) -> bool:
    """Is ``node`` in ``role`` now: holding a working position (of a training job, of an inference service), or
    a spare?"""
    if role == "spare":
        return node.role in SPARE_ROLES
    slot = node.slot
    if node.role != "work" or slot is None or slot.node is not node:
        return False
    position = positions[slot.index]
    return {"working": True, "training": position.job >= 0, "inference": position.service >= 0}[role]


def pick_node(chaos: Chaos, nodes: list[Node], racks: list[list[Node]], positions: Sequence[Position],
              rng: np.random.Generator, eligible: Callable[[Node], bool] | None = None) -> Node | None:
    """The node an action aims at: the one it names, or one drawn from its stream among the nodes of its
    ``rack`` and ``role`` (and ``eligible``); None when there is none to strike."""
    if chaos.node is not None:
        named = nodes[chaos.node]
        return named if eligible is None or eligible(named) else None
    pool = racks[chaos.rack] if chaos.rack is not None else nodes
    if chaos.role is not None:
        pool = [node for node in pool if in_role(node, chaos.role, positions)]
    if eligible is not None:
        pool = [node for node in pool if eligible(node)]
    return pool[int(rng.integers(len(pool)))] if pool else None


def pick_part(chaos: Chaos, fabric: Fabric, rng: np.random.Generator) -> tuple[int, int] | None:
    """(kind, index) of the switch or link the injection names, or one drawn from its stream (among the
    switches of ``layer``, or the links touching it); None when the layer has none."""
    if chaos.action == "kill_switch":
        if chaos.switch is not None:
            return SWITCH, fabric.switch_names.index(chaos.switch)
        if chaos.layer is None:
            return SWITCH, int(rng.integers(fabric.switches))
        switches = [s for s, layer in enumerate(fabric.switch_layers) if layer == chaos.layer]
        return (SWITCH, switches[int(rng.integers(len(switches)))]) if switches else None
    if chaos.link is not None:
        return LINK, next(k for k in range(fabric.link_count) if fabric.link_name(k) == chaos.link)
    if chaos.layer is None:
        return LINK, int(rng.integers(fabric.link_count))
    links = fabric.links_touching(chaos.layer)
    return (LINK, links[int(rng.integers(len(links)))]) if links else None


# --- gpu_fault ----------------------------------------------------------------------------------

def can_fail(node: Node) -> bool:
    """Can a part of ``node`` fail now: up, in operation (a cold spare only once provisioned), not retired,
    and its life waiting on its own clocks (not in a recovery, nor about to hear of another failure)?"""
    clocks = node.clocks
    return (node.up and node.role != "retired" and node.process is not None and clocks is not None
            and clocks.running and not node.blame_pending)


def fail_part(ctx: Context, node: Node, mode: int, cause: int) -> None:
    """``node``'s part of ``mode`` fails now: its clocks aged up to now, its life interrupted (node_life hands
    the failure to the repair shop under ``cause``)."""
    clocks, process = node.clocks, node.process
    assert clocks is not None and process is not None  # can_fail
    clocks.sync(ctx.env.now)
    clocks.running = False  # one interrupt: node_life plans its clocks again after the recovery
    process.interrupt(Injected(mode, cause))


# --- the fabric ---------------------------------------------------------------------------------

def hold_links(ctx: Context, network: PartHolds, links: list[int], cause: int, hours: float) -> None:
    """Hold ``links`` down for ``cause`` now, and release them after ``hours``."""
    for link in links:
        network.hold_part(LINK, link, cause)
    ctx.env.process(_links_back(ctx, network, links, hours))


def _links_back(ctx: Context, network: PartHolds, links: list[int], hours: float):
    yield ctx.env.timeout(hours)
    for link in links:
        network.release_part(LINK, link)


def flap(ctx: Context, network: PartHolds, link: int, cause: int, chaos: Chaos) -> None:
    """An episode of ``flaps`` downs of ``link``, each for ``duration``, ``flap_gap`` apart; the first now."""
    network.hold_part(LINK, link, cause)
    ctx.env.process(_flapping(ctx, network, link, cause, chaos))


def _flapping(ctx: Context, network: PartHolds, link: int, cause: int, chaos: Chaos):
    assert chaos.flaps is not None and chaos.flap_gap is not None  # required with link_flap (Chaos.problems)
    env = ctx.env
    for flap_number in range(chaos.flaps):
        if flap_number > 0:
            yield env.timeout(chaos.flap_gap)
            network.hold_part(LINK, link, cause)
        yield env.timeout(chaos.duration_hours)
        network.release_part(LINK, link)

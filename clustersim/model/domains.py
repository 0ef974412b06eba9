"""Correlated failures: failure domains and chaos injections take groups of nodes down together."""
from __future__ import annotations

import numpy as np

from clustersim.engine.records import Kind, RepairState
from clustersim.model.base import Context
from clustersim.model.nodes import Node, NodeHolds
from clustersim.scenario.schema import Chaos, FailureDomain

DOMAIN = Kind.DOMAIN.value
D_OK, D_FAILED, D_REPAIRING = RepairState.OK.value, RepairState.FAILED.value, RepairState.REPAIRING.value


def domain_members(domain: FailureDomain, racks: list[list[Node]]) -> list[list[Node]]:
    """The node groups of one domain declaration: each rack, each power group of racks, or all."""
    if domain.kind == "rack":
        return racks
    if domain.kind == "power":
        size = domain.power_racks or 1
        return [[n for rack in racks[i : i + size] for n in rack] for i in range(0, len(racks), size)]
    return [[n for rack in racks for n in rack]]


def domain_life(ctx: Context, index: int, domain: FailureDomain, members: list[Node], cause: int,
                holds: NodeHolds, detection_hours: float, rng: np.random.Generator):
    """SimPy process: the domain fails, is noticed, repaired, and all members return together."""
    env, record = ctx.env, ctx.record
    time_to_failure = domain.time_to_failure.sampler(rng)
    time_to_repair = domain.time_to_repair.sampler(rng)
    while True:
        yield env.timeout(time_to_failure())
        record((env.now, DOMAIN, index, D_OK, D_FAILED, cause))
        for node in members:
            holds.strike(node, cause)
        if detection_hours > 0:
            yield env.timeout(detection_hours)
        record((env.now, DOMAIN, index, D_FAILED, D_REPAIRING, cause))
        yield env.timeout(time_to_repair())
        record((env.now, DOMAIN, index, D_REPAIRING, D_OK, cause))
        for node in members:
            holds.release(node)


def chaos_life(ctx: Context, chaos: Chaos, cause: int, nodes: list[Node], racks: list[list[Node]],
               holds: NodeHolds, rng: np.random.Generator):
    """SimPy process: at ``at`` and every ``every``, hold the target down for ``duration``."""
    env = ctx.env
    yield env.timeout(chaos.at)
    while True:
        if chaos.action == "kill_node":
            targets = [nodes[chaos.node if chaos.node is not None else int(rng.integers(len(nodes)))]]
        else:
            targets = racks[chaos.rack if chaos.rack is not None else int(rng.integers(len(racks)))]
        for node in targets:
            holds.strike(node, cause)
        env.process(_release_after(ctx, targets, chaos.duration, holds))
        if chaos.every is None:
            return
        yield env.timeout(chaos.every)


def _release_after(ctx: Context, targets: list[Node], hours: float, holds: NodeHolds):
    yield ctx.env.timeout(hours)
    for node in targets:
        holds.release(node)

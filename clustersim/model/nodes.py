"""GPU nodes: service state from holds, and each node's own failure-and-repair cycle.

A node is up when nothing holds it down. Holds come from its own failed parts (until repaired),
from failure domains it belongs to, and from chaos injections; the node goes down with the
first hold and comes back when the last is released. Its own failure clocks age in wall time
outside its own repairs, so domain outages and a node's own faults are independent processes.
"""
from __future__ import annotations

import math
from collections import deque
from typing import Callable

import numpy as np
import simpy

from clustersim.engine.records import Kind, NodeState, RepairState
from clustersim.model.base import Context, Failure
from clustersim.model.clocks import ClockPlan, NodeClocks
from clustersim.scenario.schema import FailureMode

UP, DOWN = NodeState.UP.value, NodeState.DOWN.value
R_OK, R_FAILED, R_WAITING, R_REPAIRING, R_REBOOTING = (s.value for s in RepairState)
NODE, REPAIR, FAILURE, CREWS = Kind.NODE.value, Kind.REPAIR.value, Kind.FAILURE.value, Kind.CREWS.value


class Node:
    """One server: its holds, its role in the cluster (working, spare) and its random stream."""

    __slots__ = ("index", "rack", "holds", "role", "slot", "powered", "rng")

    def __init__(self, index: int, rack: int, role: str, rng: np.random.Generator, powered: simpy.Event | None):
        self.index = index
        self.rack = rack
        self.holds = 0
        self.role = role          # "work" | "hot" | "cold" | "loose" (left its slot while down)
        self.slot = None          # the Slot it serves or is being swapped into
        self.powered = powered    # cold spares: succeeds once provisioned; None: operating from the start
        self.rng = rng

    @property
    def up(self) -> bool:
        return self.holds == 0


class NodeHolds:
    """Applies and releases holds, logging service changes and telling listeners."""

    def __init__(self, ctx: Context, on_down: Callable[[Node, Failure], None], on_up: Callable[[Node], None]):
        self.ctx = ctx
        self.on_down = on_down
        self.on_up = on_up

    def strike(self, node: Node, cause: int) -> None:
        """A failure hits ``node``: count it and hold the node down."""
        now = self.ctx.env.now
        self.ctx.record((now, FAILURE, node.index, 0, 1, cause))
        node.holds += 1
        if node.holds == 1:
            self.ctx.record((now, NODE, node.index, UP, DOWN, cause))
            self.on_down(node, Failure(cause, node.index))

    def release(self, node: Node) -> None:
        node.holds -= 1
        if node.holds == 0:
            self.ctx.record((self.ctx.env.now, NODE, node.index, DOWN, UP, -1))
            self.on_up(node)


class Crews:
    """The repair crews, handed out FIFO (or no limit at all); logs how many are busy.

    Crews are granted exactly when a ``simpy.Resource(capacity=crews)`` would grant them —
    a request succeeds at once if a crew is free and nobody queues ahead of it; a release
    passes the crew to the head of the queue when the release event is processed — so
    simultaneous events resolve in the same order, with less machinery per repair.
    """

    def __init__(self, ctx: Context, crews: int | None):
        self.ctx = ctx
        self.limit = crews        # None: unlimited, repairs never queue
        self.busy = 0             # crews repairing, as logged
        self._granted = 0         # crews handed out (granted, possibly not yet repairing)
        self._queue: deque[simpy.Event] = deque()

    def request(self) -> simpy.Event:
        """An event that succeeds once a crew is assigned to the caller."""
        event = self.ctx.env.event()
        self._queue.append(event)
        self._grant_next()
        return event

    def release(self) -> None:
        """Return a crew; the next queued request gets it as the release event is processed."""
        self._granted -= 1
        released = self.ctx.env.event()
        released.callbacks.append(self._grant_next)
        released.succeed()

    def _grant_next(self, _released: simpy.Event | None = None) -> None:
        if self._queue and self._granted < self.limit:
            self._granted += 1
            self._queue.popleft().succeed()

    def set_busy(self, busy: int) -> None:
        self.ctx.record((self.ctx.env.now, CREWS, 0, self.busy, busy, -1))
        self.busy = busy


def node_life(
    ctx: Context,
    node: Node,
    plan: ClockPlan,
    holds: NodeHolds,
    crews: Crews,
    detection_hours: float,
):
    """SimPy process: the node's own parts fail, are detected, rebooted or repaired, forever.

    A cold spare's parts start ageing only once it is provisioned (``node.powered``).
    """
    env, record = ctx.env, ctx.record
    modes: list[FailureMode] = plan.modes
    if node.powered is not None:
        yield node.powered
    clocks = NodeClocks(plan, node.rng)
    while True:
        operating_hours, mode = clocks.next_failure()
        if operating_hours == math.inf:
            return
        yield env.timeout(operating_hours)
        record((env.now, REPAIR, node.index, R_OK, R_FAILED, mode))
        holds.strike(node, mode)
        if detection_hours > 0:
            yield env.timeout(detection_hours)
        failure_mode = modes[mode]
        repair_hours = failure_mode.time_to_repair.sampler(node.rng)()
        if failure_mode.recovery == "reboot":
            record((env.now, REPAIR, node.index, R_FAILED, R_REBOOTING, mode))
            yield env.timeout(repair_hours)
            record((env.now, REPAIR, node.index, R_REBOOTING, R_OK, mode))
        else:
            record((env.now, REPAIR, node.index, R_FAILED, R_WAITING, mode))
            yield from _crew_repair(ctx, node, crews, repair_hours, mode)
        holds.release(node)


def _crew_repair(ctx: Context, node: Node, crews: Crews, repair_hours: float, mode: int):
    """Queue FIFO for a crew (if crews are limited), then repair."""
    env, record = ctx.env, ctx.record
    if crews.limit is None:
        record((env.now, REPAIR, node.index, R_WAITING, R_REPAIRING, mode))
        yield env.timeout(repair_hours)
    else:
        yield crews.request()
        record((env.now, REPAIR, node.index, R_WAITING, R_REPAIRING, mode))
        crews.set_busy(crews.busy + 1)
        yield env.timeout(repair_hours)
        crews.set_busy(crews.busy - 1)
        crews.release()
    record((env.now, REPAIR, node.index, R_REPAIRING, R_OK, mode))

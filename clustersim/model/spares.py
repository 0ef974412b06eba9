"""Working positions (slots) and the spare pool that refills them.

``nodes.count − spares.hot − spares.cold`` slots each hold one working node. When a slot's
node goes down the slot empties; after ``repair.detection`` it takes a usable spare from the
pool — hot first (joins after ``swap_time``), then cold (after ``provisioning``, and only then
starts operating and ageing) — or waits FIFO for one. The node that left repairs on its own and,
once up again, joins the pool as a hot spare; so does every repaired spare.
"""
from __future__ import annotations

from collections import deque

import simpy

from clustersim.engine.records import Kind, SlotState
from clustersim.model.base import Context, Failure
from clustersim.model.nodes import Node

SLOT, POOL = Kind.SLOT.value, Kind.POOL.value
FILLED, EMPTY, WAITING, SWAPPING = (s.value for s in SlotState)


class SparePool:
    """Usable (healthy, idle) spares, hot before cold, handed out FIFO to waiting slots.

    Handing a spare to a slot makes it the slot's at once (``node.slot``, role ``"work"``), so
    a failure at the same instant finds it out of the pool; the slot checks it is still up.
    """

    def __init__(self, ctx: Context, hot: list[Node], cold: list[Node]):
        self.ctx = ctx
        self.hot: deque[Node] = deque(hot)
        self.cold: deque[Node] = deque(cold)
        self.waiting: deque[tuple[Slot, simpy.Event]] = deque()

    @property
    def usable(self) -> int:
        return len(self.hot) + len(self.cold)

    def _log_change(self, before: int) -> None:
        self.ctx.record((self.ctx.env.now, POOL, 0, before, self.usable, -1))

    def add(self, node: Node) -> None:
        """A healthy idle spare becomes usable: a waiting slot takes it at once, else it queues."""
        if self.waiting:
            slot, event = self.waiting.popleft()
            event.succeed(_hand_over(node, slot))
            return
        before = self.usable
        (self.cold if node.role == "cold" else self.hot).append(node)
        self._log_change(before)

    def remove(self, node: Node) -> None:
        """A spare in the pool went down; it is unusable until it is up again."""
        before = self.usable
        (self.cold if node.role == "cold" else self.hot).remove(node)
        self._log_change(before)

    def take(self, slot: Slot) -> simpy.Event:
        """An event that succeeds with ``(spare, was_cold)`` for ``slot``, now or once one is usable."""
        event = self.ctx.env.event()
        if self.usable:
            before = self.usable
            node = self.hot.popleft() if self.hot else self.cold.popleft()
            self._log_change(before)
            event.succeed(_hand_over(node, slot))
        else:
            self.waiting.append((slot, event))
        return event


def _hand_over(node: Node, slot: Slot) -> tuple[Node, bool]:
    cold = node.role == "cold"
    node.slot, node.role = slot, "work"
    return node, cold


class Slot:
    """One working position; its process sleeps until its node fails (an interrupt)."""

    __slots__ = ("index", "node", "attached", "process")

    def __init__(self, index: int, node: Node):
        self.index = index
        self.node = node
        self.attached = True   # True while the slot wants to hear that its node failed
        self.process: simpy.Process | None = None
        node.slot = self


def slot_life(ctx: Context, slot: Slot, pool: SparePool, detection_hours: float, swap_hours: float,
              provisioning_hours: float):
    """SimPy process: keep the slot filled, refilling it from the pool after each failure."""
    env, record = ctx.env, ctx.record
    while True:
        try:
            yield env.event()  # until the node fails
        except simpy.Interrupt as interrupt:
            failure: Failure = interrupt.cause
        record((env.now, SLOT, slot.index, FILLED, EMPTY, failure.cause))
        if detection_hours > 0:
            yield env.timeout(detection_hours)
        node = slot.node
        if node.up:  # back before anyone noticed
            record((env.now, SLOT, slot.index, EMPTY, FILLED, -1))
            slot.attached = True
            continue
        node.slot, node.role = None, "loose"
        record((env.now, SLOT, slot.index, EMPTY, WAITING, failure.cause))
        slot.node = yield from _refill(ctx, slot, pool, swap_hours, provisioning_hours)
        record((env.now, SLOT, slot.index, SWAPPING, FILLED, -1))


def _refill(ctx: Context, slot: Slot, pool: SparePool, swap_hours: float, provisioning_hours: float):
    """Take spares until one survives its swap into the slot; returns that node."""
    env, record = ctx.env, ctx.record
    while True:
        spare, cold = yield pool.take(slot)
        if not spare.up:  # failed the instant it was handed over
            _give_back(spare, cold)
            continue
        record((env.now, SLOT, slot.index, WAITING, SWAPPING, -1))
        slot.attached = True
        try:
            yield env.timeout(provisioning_hours if cold else swap_hours)
        except simpy.Interrupt as interrupt:  # the spare failed during its swap
            _give_back(spare, cold)
            record((env.now, SLOT, slot.index, SWAPPING, WAITING, interrupt.cause.cause))
            continue
        if cold:
            spare.powered.succeed()
        return spare


def _give_back(spare: Node, cold: bool) -> None:
    """A spare that failed before joining: it rejoins the pool (cold spares stay cold) once up."""
    spare.slot, spare.role = None, ("cold" if cold else "loose")

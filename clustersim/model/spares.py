"""Working positions (slots) and the spare pool that refills them.

``nodes.count − spares.hot − spares.cold`` slots each hold one working node. When a slot's
node goes down the slot empties; after ``repair.detection`` (at once if the node was taken out
deliberately) it takes a usable spare from the pool or waits FIFO for one. The pool has three
tiers, taken in order: warm standbys (join after ``standby_swap_time``), hot spares (after
``swap_time``) and cold spares (after ``provisioning``, and only then start operating and
ageing); within a tier the selection policy picks. ``spares.warm`` of the hot spares are kept
initialised as warm standbys: when one leaves the pool, a hot spare is initialised in its place,
which takes ``swap_time``. The node that left a slot recovers on its own and, once up again,
joins the pool as a hot spare; so does every recovered spare.
"""
from __future__ import annotations

from collections import deque

import simpy

from clustersim.engine.records import Kind, SlotState
from clustersim.model.base import Context, Failure
from clustersim.model.nodes import Node
from clustersim.model.policies import SelectionPolicy

SLOT, POOL, WARM = Kind.SLOT.value, Kind.POOL.value, Kind.WARM.value
FILLED, EMPTY, WAITING, SWAPPING = (s.value for s in SlotState)
TIERS = ("warm", "hot", "cold")


class SparePool:
    """Usable (healthy, idle) spares in tiers, handed out FIFO to waiting slots.

    Handing a spare to a slot makes it the slot's at once (``node.slot``, role ``"work"``), so
    a failure at the same instant finds it out of the pool; the slot checks it is still up.
    """

    def __init__(self, ctx: Context, hot: list[Node], cold: list[Node], warm_target: int,
                 join_hours: dict[str, float], warm_up_hours: float, selection: SelectionPolicy):
        self.ctx = ctx
        self.tiers: dict[str, list[Node]] = {"warm": hot[:warm_target], "hot": hot[warm_target:], "cold": list(cold)}
        for node in self.tiers["warm"]:
            node.role = "warm"
        self.warm_target = warm_target
        self.join_hours = join_hours
        self.warm_up_hours = warm_up_hours
        self.selection = selection
        self.warming = 0  # hot spares being initialised as warm standbys
        self.waiting: deque[tuple[Slot, simpy.Event]] = deque()

    @property
    def usable(self) -> int:
        return len(self.tiers["warm"]) + len(self.tiers["hot"]) + len(self.tiers["cold"])

    def _log(self, kind: int, before: int, after: int) -> None:
        if before != after:
            self.ctx.record((self.ctx.env.now, kind, 0, before, after, -1))

    def add(self, node: Node) -> None:
        """A healthy idle spare becomes usable: a waiting slot takes it at once, else it joins its tier."""
        if self.waiting:
            slot, event = self.waiting.popleft()
            event.succeed(self._hand_over(node, node.role, slot))
            return
        before = self.usable
        self.tiers[node.role].append(node)
        self._log(POOL, before, self.usable)
        self._replenish_warm()

    def remove(self, node: Node) -> None:
        """A spare in the pool went down; it is unusable until it is up again (then as a hot spare)."""
        before, warm_before = self.usable, len(self.tiers["warm"])
        self.tiers[node.role].remove(node)
        self._stop_warming(node)
        if node.role == "warm":
            node.role = "hot"
        self._log(POOL, before, self.usable)
        self._log(WARM, warm_before, len(self.tiers["warm"]))
        self._replenish_warm()

    def take(self, slot: Slot) -> simpy.Event:
        """An event that succeeds with ``(spare, join_hours, was_cold)`` for ``slot``, now or once one is usable."""
        event = self.ctx.env.event()
        if not self.usable:
            self.waiting.append((slot, event))
            return event
        tier = next(name for name in TIERS if self.tiers[name])
        candidates = self.tiers[tier]
        before, warm_before = self.usable, len(self.tiers["warm"])
        node = candidates.pop(self.selection.pick(candidates, self.ctx.env.now))
        self._log(POOL, before, self.usable)
        self._log(WARM, warm_before, len(self.tiers["warm"]))
        event.succeed(self._hand_over(node, tier, slot))
        self._replenish_warm()
        return event

    def _hand_over(self, node: Node, tier: str, slot: Slot) -> tuple[Node, float, bool]:
        self._stop_warming(node)
        node.slot, node.role = slot, "work"
        return node, self.join_hours[tier], tier == "cold"

    def _stop_warming(self, node: Node) -> None:
        if node.warming is not None:
            node.warming = None
            self.warming -= 1

    def _replenish_warm(self) -> None:
        """Initialise hot spares until warm standbys (ready or being initialised) reach the target."""
        hot = self.tiers["hot"]
        while len(self.tiers["warm"]) + self.warming < self.warm_target:
            idle = [node for node in hot if node.warming is None]
            if not idle:
                return
            node = idle[self.selection.pick(idle, self.ctx.env.now)]
            token = node.warming = object()
            self.warming += 1
            if self.warm_up_hours > 0:
                self.ctx.env.timeout(self.warm_up_hours).callbacks.append(lambda _, n=node, t=token: self._warmed(n, t))
            else:
                self._warmed(node, token)

    def _warmed(self, node: Node, token: object) -> None:
        """A hot spare finished initialising: a warm standby now, if nothing took it meanwhile."""
        if node.warming is not token:
            return
        self._stop_warming(node)
        self.tiers["hot"].remove(node)
        self.tiers["warm"].append(node)
        node.role = "warm"
        self._log(WARM, len(self.tiers["warm"]) - 1, len(self.tiers["warm"]))


class Slot:
    """One working position; its process sleeps until its node fails (an interrupt)."""

    __slots__ = ("index", "node", "attached", "process")

    def __init__(self, index: int, node: Node):
        self.index = index
        self.node = node
        self.attached = True   # True while the slot wants to hear that its node failed
        self.process: simpy.Process | None = None
        node.slot = self


def slot_life(ctx: Context, slot: Slot, pool: SparePool, detection_hours: float):
    """SimPy process: keep the slot filled, refilling it from the pool after each failure."""
    env, record = ctx.env, ctx.record
    while True:
        try:
            yield env.event()  # until the node fails
        except simpy.Interrupt as interrupt:
            failure: Failure = interrupt.cause
        record((env.now, SLOT, slot.index, FILLED, EMPTY, failure.cause))
        if detection_hours > 0 and not failure.noticed:
            yield env.timeout(detection_hours)
        node = slot.node
        if node.up:  # back before anyone noticed
            record((env.now, SLOT, slot.index, EMPTY, FILLED, -1))
            slot.attached = True
            continue
        node.slot = None
        if node.role != "retired":
            node.role = "loose"
        record((env.now, SLOT, slot.index, EMPTY, WAITING, failure.cause))
        slot.node = yield from _refill(ctx, slot, pool)
        record((env.now, SLOT, slot.index, SWAPPING, FILLED, -1))


def _refill(ctx: Context, slot: Slot, pool: SparePool):
    """Take spares until one survives its swap into the slot; returns that node."""
    env, record = ctx.env, ctx.record
    while True:
        spare, join_hours, cold = yield pool.take(slot)
        if not spare.up:  # failed the instant it was handed over
            _give_back(spare, cold)
            continue
        record((env.now, SLOT, slot.index, WAITING, SWAPPING, -1))
        slot.attached = True
        try:
            yield env.timeout(join_hours)
        except simpy.Interrupt as interrupt:  # the spare failed during its swap
            _give_back(spare, cold)
            record((env.now, SLOT, slot.index, SWAPPING, WAITING, interrupt.cause.cause))
            continue
        if cold:
            spare.powered.succeed()
        return spare


def _give_back(spare: Node, cold: bool) -> None:
    """A spare that failed before joining: it rejoins the pool (cold spares stay cold) once up."""
    spare.slot = None
    if spare.role != "retired":
        spare.role = "cold" if cold else "loose"

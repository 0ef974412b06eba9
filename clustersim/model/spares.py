"""Working positions (slots) and the spare pool that refills them.

``nodes.count − spares.hot − spares.cold`` slots each hold one working node. When a slot's
node goes down the slot empties; after ``repair.detection`` (at once if the node was taken out
deliberately) it takes a usable spare from the pool or waits FIFO for one. The pool has three
tiers, taken in order: warm standbys (join after ``standby_swap_time``), hot spares (after
``swap_time``) and cold spares (after ``provisioning``, and only then start operating and
ageing; with ``cold_provisioning = "serial"`` one at a time: each cold spare's provisioning
starts when the previous one's ends, as AIReSim's preemption waits); within a tier the selection
policy picks. ``spares.warm`` of the hot spares are kept
initialised as warm standbys: when one leaves the pool, a hot spare is initialised in its place,
which takes ``swap_time``. The node that left a slot recovers on its own and, once up again,
joins the pool as a hot spare; so does every recovered spare.
"""
from __future__ import annotations

import heapq
import itertools
from functools import partial
from typing import Protocol

import simpy

from clustersim.layout import Position
from clustersim.model.records import Kind, SlotState
from clustersim.model.base import Context, Failure
from clustersim.model.load import replan
from clustersim.model.nodes import Node
from clustersim.model.policies import SelectionPolicy

SLOT, POOL, WARM = Kind.SLOT.value, Kind.POOL.value, Kind.WARM.value
FILLED, EMPTY, WAITING, SWAPPING = (s.value for s in SlotState)
TIERS = ("warm", "hot", "cold")


class PositionListener(Protocol):
    """What runs on working positions (a training job) hears of them: it attaches as ``Slot.owner``."""

    def member_changed(self, slot: Slot, before: int, cause: int) -> None:
        """The position changed state (``slot.state``, from ``before``) for ``cause``."""

    def member_starved(self, slot: Slot, starved: bool) -> None:
        """The position waits with no usable spare (or no longer)."""

    def member_speed_changed(self, slot: Slot) -> None:
        """The node holding the position changed speed."""


class SparePool:
    """Usable (healthy, idle) spares in tiers, handed out to waiting slots by priority, then FIFO.

    Handing a spare to a slot makes it the slot's at once (``node.slot``, role ``"work"``), so
    a failure at the same instant finds it out of the pool; the slot checks it is still up.
    """

    def __init__(self, ctx: Context, hot: list[Node], cold: list[Node], warm_target: int,
                 join_hours: dict[str, float], warm_up_hours: float, selection: SelectionPolicy,
                 preemption_cause: int = -1, serial_cold: bool = False):
        self.ctx = ctx
        self.serial_cold = serial_cold  # cold spares provisioned one after another
        self.line_free_at = 0.0         # when the serial provisioning line is done with what it has taken
        self.tiers: dict[str, list[Node]] = {"warm": hot[:warm_target], "hot": hot[warm_target:], "cold": list(cold)}
        for node in self.tiers["warm"]:
            node.role = "warm"
        self.warm_target = warm_target
        self.join_hours = join_hours
        self.warm_up_hours = warm_up_hours
        self.selection = selection
        self.warming = 0  # hot spares being initialised as warm standbys
        # slots waiting for a spare: highest priority first, then first come first served
        self.waiting: list[tuple[int, int, Slot, simpy.Event]] = []
        self._arrivals = itertools.count()
        self.preemption_cause = preemption_cause
        self.slots: list[Slot] = []  # every working position, for preemption
        self.ranked = False  # positions differ in priority (or may preempt): serve at the end of each instant
        self._dispatch_pending = False

    @property
    def usable(self) -> int:
        return len(self.tiers["warm"]) + len(self.tiers["hot"]) + len(self.tiers["cold"])

    def _log(self, kind: int, before: int, after: int) -> None:
        if before != after:
            self.ctx.record((self.ctx.env.now, kind, 0, before, after, -1))

    def add(self, node: Node) -> None:
        """A healthy idle spare becomes usable: the first waiting slot (by priority) takes it at once,
        else it joins its tier."""
        if self.waiting:
            *_, slot, event = heapq.heappop(self.waiting)
            slot.set_starved(False)
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
        """An event that succeeds with ``(spare, join_hours, was_cold)`` for ``slot``, now or once one is usable.

        When positions differ in priority (``ranked``), requests are served at the end of the
        instant they are made, highest priority first, so that positions asking at the same instant
        are ranked by priority rather than by who asked first; otherwise at once, first come first
        served.
        """
        event = self.ctx.env.event()
        if self.ranked:
            heapq.heappush(self.waiting, (-slot.priority, next(self._arrivals), slot, event))
            slot.set_starved(False)
            self._schedule_dispatch()
        elif self.usable:
            slot.set_starved(False)
            event.succeed(self._take_spare(slot))
            self._replenish_warm()
        else:
            heapq.heappush(self.waiting, (-slot.priority, next(self._arrivals), slot, event))
            slot.set_starved(True)
        return event

    def _schedule_dispatch(self) -> None:
        if not self._dispatch_pending:
            self._dispatch_pending = True
            self.ctx.env.timeout(0).callbacks.append(self._dispatch)

    def _dispatch(self, _event: simpy.Event | None = None) -> None:
        """Serve waiting slots by priority: a spare if one is usable, else a preempted node; the rest
        are left waiting, and their jobs are told (an elastic job goes on without them)."""
        self._dispatch_pending = False
        still_waiting = []
        while self.waiting:
            entry = heapq.heappop(self.waiting)
            *_, slot, event = entry
            if self.usable:
                slot.set_starved(False)
                event.succeed(self._take_spare(slot))
                continue
            victim = self._victim_for(slot) if slot.preempt else None
            if victim is not None:
                slot.set_starved(False)
                event.succeed(self._preempt(victim, slot))
                continue
            still_waiting.append(entry)
        for entry in still_waiting:
            heapq.heappush(self.waiting, entry)
        for *_, slot, _ in still_waiting:
            slot.set_starved(True)
        self._replenish_warm()

    def _take_spare(self, slot: Slot) -> tuple[Node, float, bool]:
        """The selection policy's pick from the best non-empty tier, handed to ``slot``."""
        tier = next(name for name in TIERS if self.tiers[name])
        candidates = self.tiers[tier]
        before, warm_before = self.usable, len(self.tiers["warm"])
        node = candidates.pop(self.selection.pick(candidates, self.ctx.env.now))
        self._log(POOL, before, self.usable)
        self._log(WARM, warm_before, len(self.tiers["warm"]))
        return self._hand_over(node, tier, slot)

    def _victim_for(self, slot: Slot) -> Slot | None:
        """The working position of lowest priority below ``slot``'s whose up node can be taken
        (the last such position among equals)."""
        victim = None
        for other in self.slots:
            # (a position preempted earlier this instant is detached: it is not taken twice)
            if other.priority >= slot.priority or other.state != FILLED or not other.attached or not other.node.up:
                continue
            if victim is None or other.priority <= victim.priority:
                victim = other
        return victim

    def _preempt(self, victim: Slot, slot: Slot) -> tuple[Node, float, bool]:
        """Take ``victim``'s node for ``slot``: it joins after swap_time; the victim refills from the pool."""
        node = victim.node
        victim.attached = False
        assert victim.process is not None  # with preemption every position is watched (layout)
        victim.process.interrupt(Failure(self.preemption_cause, node.index, noticed=True))
        return self._hand_over(node, "hot", slot)

    def _hand_over(self, node: Node, tier: str, slot: Slot) -> tuple[Node, float, bool]:
        self._stop_warming(node)
        node.slot, node.role = slot, "work"
        replan(node)
        return node, self.join_hours[tier], tier == "cold"

    def provisioning_hours(self) -> float:
        """A cold spare starts its swap now: its wait until it joins (serial: after those ahead of it in line)."""
        provisioning = self.join_hours["cold"]
        if not self.serial_cold:
            return provisioning
        now = self.ctx.env.now
        self.line_free_at = max(now, self.line_free_at) + provisioning
        return self.line_free_at - now

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
                self.ctx.env.timeout(self.warm_up_hours).callbacks.append(partial(self._warmed, node, token))
            else:
                self._warmed(node, token)

    def _warmed(self, node: Node, token: object, _warm_up: simpy.Event | None = None) -> None:
        """A hot spare finished initialising: a warm standby now, if nothing took it meanwhile."""
        if node.warming is not token:
            return
        self._stop_warming(node)
        self.tiers["hot"].remove(node)
        self.tiers["warm"].append(node)
        node.role = "warm"
        self._log(WARM, len(self.tiers["warm"]) - 1, len(self.tiers["warm"]))


class Slot:
    """One working position; its process sleeps until its node fails (an interrupt).

    A position that belongs to a training job tells the job when it empties, is noticed and is
    filled again; ``refill = "own"`` (jobs that wait for repair) takes its own node back instead
    of a spare, unless that node is retired.
    """

    __slots__ = ("index", "node", "attached", "process", "state", "owner", "priority", "refill", "preempt",
                 "node_back", "starved", "active")

    def __init__(self, position: Position, node: Node):
        self.index = position.index
        self.node = node
        self.attached = True   # True while the slot wants to hear that its node failed
        self.process: simpy.Process | None = None
        self.state = FILLED
        self.owner: PositionListener | None = None  # what runs on it, told of its changes
        self.priority = position.priority
        self.refill = position.refill  # "spare" | "own"
        self.preempt = position.preempt
        self.node_back: simpy.Event | None = None  # while waiting for its own node's recovery
        self.starved = False   # waiting for a spare, and none was usable when it asked
        self.active = False    # its job runs on it (a shrunk job leaves some positions out)
        node.slot = self

    def node_speed_changed(self) -> None:
        """Its node changed speed: tell the job that runs on it."""
        if self.owner is not None:
            self.owner.member_speed_changed(self)

    def set_starved(self, starved: bool) -> None:
        """Mark the position as waiting with no usable spare (or no longer), telling its job."""
        if starved != self.starved:
            self.starved = starved
            if self.owner is not None:
                self.owner.member_starved(self, starved)


def slot_life(ctx: Context, slot: Slot, pool: SparePool, detection_hours: float):
    """SimPy process: keep the slot filled, refilling it after each failure, telling its job."""
    env = ctx.env
    while True:
        try:
            yield env.event()  # until the node fails
        except simpy.Interrupt as interrupt:
            failure = interrupt.cause
        assert isinstance(failure, Failure)  # what the cluster and preemption interrupt a position with
        _set_state(ctx, slot, EMPTY, failure.cause)
        if detection_hours > 0 and not failure.noticed:
            yield env.timeout(detection_hours)
        node = slot.node
        if node.slot is slot and node.up:  # back before anyone noticed
            _set_state(ctx, slot, FILLED, -1)
            slot.attached = True
            continue
        _set_state(ctx, slot, WAITING, failure.cause)
        if slot.refill == "own" and node.slot is slot and node.role != "retired":
            slot.node_back = env.event()
            yield slot.node_back
            slot.node_back = None
            if node.up:
                slot.attached = True
                _set_state(ctx, slot, FILLED, -1)
                continue
        if node.slot is slot:
            node.slot = None
            if node.role != "retired":
                node.role = "loose"
                replan(node)
        slot.node = yield from _refill(ctx, slot, pool)
        _set_state(ctx, slot, FILLED, -1)


def _set_state(ctx: Context, slot: Slot, state: int, cause: int) -> None:
    """Log the slot's new state and tell its job."""
    before = slot.state
    ctx.record((ctx.env.now, SLOT, slot.index, before, state, cause))
    slot.state = state
    if slot.owner is not None:
        slot.owner.member_changed(slot, before, cause)


def _refill(ctx: Context, slot: Slot, pool: SparePool):
    """Take spares until one survives its swap into the slot; returns that node."""
    env = ctx.env
    while True:
        spare, join_hours, cold = yield pool.take(slot)
        if not spare.up:  # failed the instant it was handed over
            _give_back(spare, cold)
            continue
        if cold:  # (a spare that fails during its provisioning keeps its place in a serial line)
            join_hours = pool.provisioning_hours()
        _set_state(ctx, slot, SWAPPING, -1)
        slot.attached = True
        slot.node = spare
        try:
            yield env.timeout(join_hours)
        except simpy.Interrupt as interrupt:  # the spare failed during its swap
            _give_back(spare, cold)
            failure = interrupt.cause
            assert isinstance(failure, Failure)
            _set_state(ctx, slot, WAITING, failure.cause)
            continue
        if cold:
            spare.powered.succeed()
        return spare


def _give_back(spare: Node, cold: bool) -> None:
    """A spare that failed before joining: it rejoins the pool (cold spares stay cold) once up."""
    spare.slot = None
    if spare.role != "retired":
        spare.role = "cold" if cold else "loose"
        replan(spare)

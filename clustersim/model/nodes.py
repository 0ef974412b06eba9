"""GPU nodes: service state from holds, and each node's own failure cycle.

A node is up when nothing holds it down. Holds come from its own failed parts (until its
recovery ends), from failure domains it belongs to, and from chaos injections; the node goes
down with the first hold and comes back when the last is released. Its own failure clocks age
in wall time outside its own recoveries, so domain outages and a node's own faults are
independent processes. What happens after a node's own failure is the repair shop's business
(``clustersim.model.repair``).
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Generator
from typing import Any, Protocol

import numpy as np
import simpy

from clustersim.model.records import Kind, NodeState, RepairState
from clustersim.model.base import Blame, Context, Failure, GroupFailure, Injected
from clustersim.model.clocks import LOAD_IDLE, LOAD_WORKING, ClockPlan, NodeClocks


class Recovery(Protocol):
    """What a node's life hands its failures to: the repair shop (model/repair.py)."""

    def after_failure(self, node: Node, mode: int, recurred: bool,
                      cause: int | None = None) -> Generator[simpy.Event, Any, None]:
        """SimPy sub-process: the node failed by ``mode`` (for ``cause``, default the mode); detect, diagnose and
        recover it."""
        ...

    def after_blame(self, node: Node, mode: int) -> Generator[simpy.Event, Any, None]:
        """SimPy sub-process: the node was wrongly blamed for a failure of ``mode``; repair it."""
        ...


class LoadKeeper(Protocol):
    """A job's group that keeps the clocks of modes ageing with computing (model/load.LoadGroup)."""

    def enter(self, node: Node) -> None:
        """The member's clocks (just started) run on the group's odometers."""
        ...

    def leave(self, node: Node) -> None:
        """The node no longer fills its member position."""
        ...


class NodeSlot(Protocol):
    """The working position a node serves (``model.spares.Slot``), as the cluster reaches it through the node."""

    index: int
    node: Node
    attached: bool
    process: simpy.Process | None
    node_back: simpy.Event | None

    def node_speed_changed(self) -> None:
        """Its node changed speed: tell the job that runs on it."""
        ...


UP, DOWN = NodeState.UP.value, NodeState.DOWN.value
R_OK, R_FAILED = RepairState.OK.value, RepairState.FAILED.value
NODE, FAILURE, CREWS = Kind.NODE.value, Kind.FAILURE.value, Kind.CREWS.value


class Node:
    """One server: its holds, its role in the cluster, its repair state, history and random stream."""

    __slots__ = ("index", "rack", "holds", "role", "slot", "powered", "rng", "lemon", "clocks", "process",
                 "repair_state", "blamed_times", "score_base", "up_since", "warming", "samplers", "speed",
                 "blame_pending", "load_group", "group_member")

    def __init__(self, index: int, rack: int, role: str, rng: np.random.Generator, powered: simpy.Event | None):
        self.index = index
        self.rack = rack
        self.holds = 0
        self.role = role          # "work" | "warm" | "hot" | "cold" | "loose" (left its slot while down) | "retired"
        self.slot: NodeSlot | None = None  # the Slot it serves or is being swapped into
        self.powered = powered    # cold spares: succeeds once provisioned; None: operating from the start
        self.rng = rng
        self.lemon = False
        self.clocks: NodeClocks | None = None
        self.process: simpy.Process | None = None  # its own failure cycle (node_life)
        self.repair_state = R_OK
        self.blamed_times: list[float] = []  # when failures were attributed to it
        self.score_base = 0.0     # see policies.NodeScorer
        self.up_since = 0.0
        self.warming: object | None = None  # a token while it is being initialised as a warm standby
        self.samplers: dict[object, Callable[[], float]] = {}  # repair-time samplers on its stream, by law
        self.speed = 1.0          # fraction of full speed it runs at (gray failures)
        self.blame_pending = False  # wrongly blamed this instant; its process has not heard yet
        self.load_group: LoadKeeper | None = None  # the running job's group keeping its computing-aged clocks
        self.group_member = -1    # its member index in that group

    @property
    def up(self) -> bool:
        return self.holds == 0

    def draw(self, dist) -> float:
        """One draw of ``dist`` (hours) from the node's own stream, the sampler built once per law."""
        sampler = self.samplers.get(id(dist))
        if sampler is None:
            sampler = self.samplers[id(dist)] = dist.sampler(self.rng)
        return sampler()


class NodeHolds:
    """Applies and releases holds, logging service changes and telling listeners."""

    def __init__(self, ctx: Context, on_down: Callable[[Node, Failure], None], on_up: Callable[[Node], None]):
        self.ctx = ctx
        self.on_down = on_down
        self.on_up = on_up

    def count_failure(self, node: Node, cause: int) -> None:
        """A failure event strikes ``node`` (whether or not it takes it down)."""
        self.ctx.record((self.ctx.env.now, FAILURE, node.index, 0, 1, cause))

    def strike(self, node: Node, cause: int, counted: bool = True, noticed: bool = False) -> None:
        """Hold ``node`` down for ``cause``; ``counted``: this is the failure event itself (not a
        node taken out for a failure already counted, or blamed for another's); ``noticed``: taken
        out deliberately, so nobody waits for detection."""
        now = self.ctx.env.now
        if counted:
            self.count_failure(node, cause)
        node.holds += 1
        if node.holds == 1:
            self.ctx.record((now, NODE, node.index, UP, DOWN, cause))
            self.on_down(node, Failure(cause, node.index, noticed))

    def release(self, node: Node) -> None:
        node.holds -= 1
        if node.holds == 0:
            self.ctx.record((self.ctx.env.now, NODE, node.index, DOWN, UP, -1))
            self.on_up(node)


class Crews:
    """One pool of repair crews, handed out FIFO (or no limit at all); logs how many are busy.

    Crews are granted exactly when a ``simpy.Resource(capacity=crews)`` would grant them —
    a request succeeds at once if a crew is free and nobody queues ahead of it; a release
    passes the crew to the head of the queue when the release event is processed — so
    simultaneous events resolve in the same order, with less machinery per repair.
    """

    def __init__(self, ctx: Context, crews: int | None, pool: int = 0):
        self.ctx = ctx
        self.limit = crews        # None: unlimited, repairs never queue
        self.pool = pool          # the CREWS rows' component: 0 = repair.crews, 1 + s = stage s
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
        if self._queue and (self.limit is None or self._granted < self.limit):
            self._granted += 1
            self._queue.popleft().succeed()

    def set_busy(self, busy: int) -> None:
        self.ctx.record((self.ctx.env.now, CREWS, self.pool, self.busy, busy, -1))
        self.busy = busy


def node_life(ctx: Context, node: Node, plan: ClockPlan, shop: Recovery):
    """SimPy process: the node's own parts fail and recover — or it is blamed for another's — until retired.

    A cold spare's parts start ageing only once it is provisioned (``node.powered``).
    """
    env = ctx.env
    if node.powered is not None:
        yield node.powered
    if plan.load_dependent:
        yield from _loaded_life(ctx, node, plan, shop)
        return
    clocks = node.clocks = NodeClocks(plan, node.rng, node.lemon)
    while node.role != "retired":
        operating_hours = clocks.next_failure()
        clocks.since, clocks.running = env.now, True
        try:
            yield env.timeout(operating_hours) if operating_hours < math.inf else env.event()
        except simpy.Interrupt as interrupt:
            cause = interrupt.cause
            clocks.sync(env.now)
            clocks.running = False
            if isinstance(cause, Blame):  # RepairShop._blame_innocent
                yield from shop.after_blame(node, cause.mode)
            elif isinstance(cause, Injected):  # a chaos gpu_fault (model/injections.py)
                yield from shop.after_failure(node, cause.mode, False, cause.cause)
            continue  # else it turned lemon (load.make_lemon): plan the timer again
        clocks.running = False
        mode, recurred = clocks.fire()
        yield from shop.after_failure(node, mode, recurred)


def _loaded_life(ctx: Context, node: Node, plan: ClockPlan, shop: Recovery):
    """node_life when ageing depends on load: the own timer is planned again when the node's load
    changes (model/load.replan), and its job's group may fail it by a computing-aged mode."""
    env = ctx.env
    clocks = node.clocks = NodeClocks(plan, node.rng, node.lemon, LOAD_WORKING if node.role == "work" else LOAD_IDLE)
    if node.load_group is not None:
        node.load_group.enter(node)
    while node.role != "retired":
        wall_hours = clocks.next_failure()
        clocks.since, clocks.running = env.now, True
        try:
            yield env.timeout(wall_hours) if wall_hours < math.inf else env.event()
        except simpy.Interrupt as interrupt:
            cause = interrupt.cause
            clocks.sync(env.now)
            clocks.running = False
            if isinstance(cause, Blame):
                yield from shop.after_blame(node, cause.mode)
            elif isinstance(cause, GroupFailure):  # a computing-aged mode failed it in its job's group
                yield from shop.after_failure(node, cause.mode, cause.recurred)
            elif isinstance(cause, Injected):  # a chaos gpu_fault (model/injections.py)
                yield from shop.after_failure(node, cause.mode, False, cause.cause)
            continue  # else its load changed: plan the timer again
        clocks.running = False
        mode, recurred = clocks.fire()
        yield from shop.after_failure(node, mode, recurred)

"""Load-dependent ageing: the node's own timer follows its load, a job's LoadGroup its computing.

A failure mode with ``ages = "working"`` ages at rate 1 while the node holds a working position
and at ``idle_rate_factor`` otherwise; one with ``ages = "computing"`` at rate 1 while the node's
job computes or checkpoints, ``idle_rate_factor`` otherwise (model/clocks.py). A node's own
timer (node_life) runs its clocks at the factors of its own load; ``replan`` tells it that its
load changed. While a node fills an active member position of a running job, the job's
``LoadGroup`` keeps the clocks of the modes that age with computing: one odometer per such mode,
shared by every member (the integral of the mode's rate over wall time), so starting or stopping
the computation moves one timer, not one per member. A member's failure of such a mode is due
when the mode's odometer reaches the threshold drawn when the member joined.
"""
from __future__ import annotations

import math
from functools import partial
from dataclasses import dataclass

import numpy as np

from clustersim.layout import ClockLayout
from clustersim.model.base import Context, GroupFailure
from clustersim.model.clocks import LOAD_GROUPED, LOAD_IDLE, LOAD_WORKING
from clustersim.model.nodes import Node


@dataclass(frozen=True, slots=True)
class Replan:
    """Interrupts a node's life: its load changed, so its own timer is planned again."""


def own_load(node: Node) -> int:
    """The load the node's own timer runs at: in a group, holding a working position, or idle."""
    if node.load_group is not None:
        return LOAD_GROUPED
    return LOAD_WORKING if node.role == "work" else LOAD_IDLE


def replan(node: Node) -> None:
    """The node's load may have changed: age its clocks up to now and, if it changed, plan its timer again."""
    clocks = node.clocks
    if clocks is None or not clocks.plan.load_dependent:
        return
    load = own_load(node)
    if load == clocks.load:
        return
    now = node.process.env.now if node.process is not None else 0.0
    clocks.sync(now)
    clocks.set_load(load)
    if clocks.running and node.process is not None and not node.blame_pending:
        clocks.running = False  # one interrupt: node_life plans again when it handles it
        node.process.interrupt(Replan())


def make_lemon(node: Node, now: float) -> None:
    """A healthy node turns lemon (nodes.lemon_regeneration): its clocks run at a lemon's speeds from now on,
    aged up to now at the old ones; its timer (and its job group's thresholds) are planned again."""
    node.lemon = True
    clocks = node.clocks
    if clocks is None:
        return  # a cold spare not yet provisioned: its clocks start as a lemon's
    member, group = node.group_member, node.load_group
    if not (isinstance(group, LoadGroup) and group.members[member] is node):
        group = None
    if group is not None:
        group.leave(node)  # its computing-aged clocks consumed at the old speeds, back on its own timer
    clocks.sync(now)
    clocks.set_lemon(True)
    if group is not None:
        group.join(member, node)  # thresholds drawn again at the lemon's speeds
    if clocks.running and node.process is not None and not node.blame_pending:
        clocks.running = False  # one interrupt: node_life plans again when it handles it
        node.process.interrupt(Replan())


class LoadGroup:
    """The members of one job whose clocks of computing-aged modes run on the job's odometers."""

    def __init__(self, ctx: Context, layout: ClockLayout, size: int):
        self.ctx = ctx
        self.modes = list(layout.computing_modes)
        self.idle_rates = [layout.load_factors[m][1] for m in self.modes]  # rate while the job does not compute
        self.rates = list(self.idle_rates)
        self.odometer = [0.0] * len(self.modes)     # operating hours of each mode, per member, since the start
        self.last = 0.0                              # when the odometers were last advanced
        self.thresholds = np.full((len(self.modes), size), math.inf)  # odometer value at each member's failure
        self.entered = np.zeros((len(self.modes), size))              # odometer value when each member joined
        self.members: list[Node | None] = [None] * size
        self.computing = False
        self._token = 0

    def _advance(self) -> None:
        now = self.ctx.env.now
        if now > self.last:
            for i, rate in enumerate(self.rates):
                self.odometer[i] += (now - self.last) * rate
        self.last = now

    def set_computing(self, computing: bool) -> None:
        """The job starts or stops computing: every member's clocks of these modes speed up or slow down."""
        if computing == self.computing:
            return
        self._advance()
        self.computing = computing
        self.rates = [1.0] * len(self.modes) if computing else list(self.idle_rates)
        self._schedule()

    def join(self, member: int, node: Node) -> None:
        """``node`` fills member position ``member`` (index within the job): the group keeps its clocks."""
        if self.members[member] is node:
            return
        if node.load_group is not None:
            node.load_group.leave(node)
        self._advance()
        self.members[member] = node
        node.load_group = self
        node.group_member = member
        if node.clocks is not None:  # (a cold spare's clocks start once provisioned: node_life calls enter)
            self.enter(node)

    def enter(self, node: Node) -> None:
        """The member's clocks start running on the group's odometers."""
        replan(node)
        clocks, member = node.clocks, node.group_member
        assert clocks is not None
        self._advance()
        for i, mode in enumerate(self.modes):
            self.entered[i, member] = self.odometer[i]
            self.thresholds[i, member] = self.odometer[i] + clocks.group_draw(mode)
        self._schedule()

    def leave(self, node: Node) -> None:  # (LoadKeeper)
        """``node`` no longer fills its member position: its clocks go back to its own timer."""
        if node.load_group is not self:
            return
        member = node.group_member
        self._advance()
        if self.members[member] is node:
            self.members[member] = None
            clocks = node.clocks
            if clocks is not None and clocks.group_pending:
                for i, mode in enumerate(self.modes):
                    clocks.group_consume(mode, self.odometer[i] - self.entered[i, member])
            self.thresholds[:, member] = math.inf
        node.load_group = None
        node.group_member = -1
        replan(node)
        self._schedule()

    def _schedule(self) -> None:
        """Wait for the first member failure due at the current rates (a new timer; the old one is stale)."""
        self._token += 1
        best, best_i = math.inf, -1
        for i, rate in enumerate(self.rates):
            if rate > 0:
                due = (float(self.thresholds[i].min()) - self.odometer[i]) / rate
                if due < best:
                    best, best_i = due, i
        if best < math.inf:
            timer = self.ctx.env.timeout(max(best, 0.0))
            timer.callbacks.append(partial(self._due, self._token, best_i))

    def _due(self, token: int, i: int, _timer: object = None) -> None:
        """A member's failure of mode ``modes[i]`` is due: it fails (its node's life hears of it)."""
        if token != self._token:
            return
        self._advance()
        member = int(np.argmin(self.thresholds[i]))
        node = self.members[member]
        assert node is not None and node.clocks is not None
        clocks, mode = node.clocks, self.modes[i]
        for j, other in enumerate(self.modes):  # its other computing-aged modes aged until now
            if j != i:
                clocks.group_consume(other, self.odometer[j] - self.entered[j, member])
        recurred = clocks.group_fire(mode)
        self.thresholds[:, member] = math.inf
        self.members[member] = None  # it stays the group's until its position empties (leave)
        self._schedule()
        if clocks.running and node.process is not None and not node.blame_pending:
            clocks.sync(self.ctx.env.now)
            clocks.running = False
            node.process.interrupt(GroupFailure(mode, recurred))

"""A node's failure clocks: which of its failure modes strikes next, and when.

Exponential modes are memoryless, so they are sampled as one superposed clock (total rate,
then a mode drawn in proportion to its rate) — exact, and one draw per failure instead of one
per GPU. Other laws keep a remaining lifetime per part (one per GPU for ``scope = "gpu"``)
that ages only while the node's own parts are in operation and is renewed when that part fails.

A lemon's clocks run faster (``lemon_rate_multiplier`` per mode): a part's lifetime is drawn at
the base law and consumed ``multiplier`` times faster, so an exponential mode's rate is
multiplied exactly and any other law is compressed in time (an accelerated-failure-time model).

A fault left in place (undiagnosed, blamed on another node, falsely repaired) is a *latent*
fault of its mode: it strikes again after its own ``recurrence`` operating time, unless a
repair of that mode truly fixes it first.

Load-dependent ageing (a mode's ``ages``): every clock of a mode runs on that mode's operating
time, the integral over wall time of its rate factor — 1 while the node does what the mode ages
with, ``idle_rate_factor`` otherwise. A node's *load* is idle (no working position), working
(holds one) or, for modes that age with computing, its job's state. The node's own timer runs
its clocks at the rate factors of its own load (``LOAD_IDLE`` or ``LOAD_WORKING``); while the node
is a member of a running job, the job's ``LoadGroup`` keeps the clocks of the modes that age with
computing instead, on one odometer per mode shared by all its members (their ageing rate changes
together when the job starts or stops computing, so no member is rescheduled). A clock keeps
its age across every pause, whatever its law: time to failure is drawn in operating time and
converted to wall time through the node's load history.
"""
from __future__ import annotations

import bisect
import math

import numpy as np

from clustersim.layout import ClockLayout
from clustersim.scenario.schema import FailureMode

_NONE, _EXP, _PART, _LATENT = range(4)
# A node's own timer's configuration: idle, holding a working position, or a member of a running
# job's LoadGroup (which then keeps the clocks of the modes that age with computing).
LOAD_IDLE, LOAD_WORKING, LOAD_GROUPED = range(3)


class _Superposed:
    """Exponential modes as one clock: total rate and cumulative rates to pick the mode."""

    __slots__ = ("modes", "cumulative", "total")

    def __init__(self, modes: list[int], rates: list[float]):
        self.modes = modes
        self.cumulative = list(np.cumsum(rates))
        self.total = self.cumulative[-1] if rates else 0.0


class ClockPlan:
    """The per-scenario layout of failure clocks, shared by every node."""

    def __init__(self, modes: list[FailureMode], layout: ClockLayout, lemon_multipliers: list[float]):
        self.modes = modes
        self.load_dependent = layout.load_dependent
        self.computing_modes = list(layout.computing_modes)
        factors = [layout.own_factors(m) for m in range(len(modes))]  # per mode: rate per own load
        self.part_modes = list(layout.part_modes)  # one clock per part of a non-exponential mode
        self.exp: dict[tuple[bool, int], _Superposed] = {}
        self.part_speeds: dict[tuple[bool, int], list[float]] = {}
        for lemon in (False, True):
            multiplier = [lemon_multipliers[m] if lemon else 1.0 for m in range(len(modes))]
            for load in (LOAD_IDLE, LOAD_WORKING, LOAD_GROUPED):
                exp = [(m, rate * multiplier[m] * factors[m][load]) for m, rate in layout.exponential
                       if factors[m][load] > 0]
                self.exp[lemon, load] = _Superposed([m for m, _ in exp], [r for _, r in exp])
                self.part_speeds[lemon, load] = [multiplier[m] * factors[m][load] for m in self.part_modes]
        self.latent_factors = [[factors[m][load] for m in range(len(modes))] for load in range(3)]
        # a mode that ages with computing, inside a LoadGroup: its exponential rate and parts
        self.exp_rate = dict(layout.exponential)
        self.mode_parts = {m: [k for k, pm in enumerate(self.part_modes) if pm == m] for m in self.computing_modes}
        self.multipliers = lemon_multipliers



class NodeClocks:
    """One node's clocks, drawing from that node's own random stream.

    ``next_failure`` proposes the next failure without changing any clock; the node then either
    reaches it (``fire``) or is interrupted first and ages by the time that passed (``advance``).
    """

    __slots__ = ("plan", "rng", "remaining", "latent", "_lifetimes", "_exp", "_speeds", "_pending", "lemon",
                 "load", "since", "running", "_latent_factors", "group_pending")

    def __init__(self, plan: ClockPlan, rng: np.random.Generator, lemon: bool, load: int = LOAD_WORKING):
        self.plan = plan
        self.rng = rng
        # one lifetime sampler per part, built once: renewing a part draws from it
        self._lifetimes = [plan.modes[m].time_to_failure.sampler(rng) for m in plan.part_modes]
        self.remaining = [lifetime() for lifetime in self._lifetimes]  # base-law hours left per part
        self.latent: dict[int, float] = {}  # mode -> operating hours until its fault left in place recurs
        self._pending = (math.inf, _NONE, -1)
        self.load = load
        self.since = 0.0        # when the own timer's clocks were last aged (load-dependent ageing)
        self.running = False    # node_life waits on the own timer (so its clocks age)
        # per mode that ages with computing, while in a LoadGroup: (operating hours drawn, source, index)
        self.group_pending: dict[int, tuple[float, int, int]] = {}
        self.set_lemon(lemon)

    def set_lemon(self, lemon: bool) -> None:
        """Run the clocks at a lemon's speeds (or back at base speed, once cured)."""
        self.lemon = lemon
        self.set_load(self.load)

    def set_load(self, load: int) -> None:
        """Run the own timer's clocks at the rate factors of ``load`` (age them up to now first)."""
        self.load = load
        self._exp = self.plan.exp[self.lemon, load]
        self._speeds = self.plan.part_speeds[self.lemon, load]
        self._latent_factors = self.plan.latent_factors[load]

    def sync(self, now: float) -> None:
        """Age the own timer's clocks up to ``now`` (only while node_life waits on them)."""
        if self.running:
            self.advance(now - self.since)
        self.since = now

    def next_failure(self) -> float:
        """Operating hours until the next failure (inf if none ever comes); remembered for ``fire``."""
        exp = self._exp
        best, source, index = ((self.rng.exponential(1.0 / exp.total), _EXP, -1) if exp.total > 0
                               else (math.inf, _NONE, -1))
        speeds = self._speeds
        for k, left in enumerate(self.remaining):
            if speeds[k] == 0:  # (a paused clock: load-dependent ageing)
                continue
            dt = left / speeds[k]
            if dt < best:
                best, source, index = dt, _PART, k
        factors = self._latent_factors
        for mode, left in self.latent.items():
            if factors[mode] != 1.0:
                left = left / factors[mode] if factors[mode] > 0 else math.inf
            if left < best:
                best, source, index = left, _LATENT, mode
        self._pending = (best, source, index)
        return best

    def fire(self) -> tuple[int, bool]:
        """The proposed failure happens: age every clock, renew the part; (mode, was a recurrence)."""
        hours, source, index = self._pending
        self.advance(hours)
        if source == _PART:
            self.remaining[index] = self._lifetimes[index]()
            return self.plan.part_modes[index], False
        if source == _LATENT:
            del self.latent[index]
            return index, True
        exp = self._exp
        pick = bisect.bisect_right(exp.cumulative, self.rng.random() * exp.total)
        return exp.modes[min(pick, len(exp.modes) - 1)], False

    def advance(self, hours: float) -> None:
        """``hours`` of operation pass without a failure (exponential clocks need nothing: memoryless)."""
        if hours <= 0:
            return
        remaining, speeds = self.remaining, self._speeds
        for k in range(len(remaining)):
            remaining[k] -= hours * speeds[k]
        factors = self._latent_factors
        for mode in self.latent:
            self.latent[mode] -= hours if factors[mode] == 1.0 else hours * factors[mode]

    # --- the clocks of a mode that ages with computing, kept by a LoadGroup ------------------------

    def group_draw(self, mode: int) -> float:
        """Operating hours of ``mode`` until its next failure, on entering a LoadGroup (remembered)."""
        plan = self.plan
        multiplier = plan.multipliers[mode] if self.lemon else 1.0
        rate = plan.exp_rate.get(mode, 0.0) * multiplier
        best, source, index = (self.rng.exponential(1.0 / rate), _EXP, -1) if rate > 0 else (math.inf, _NONE, -1)
        for k in plan.mode_parts[mode]:
            dt = self.remaining[k] / multiplier
            if dt < best:
                best, source, index = dt, _PART, k
        left = self.latent.get(mode)
        if left is not None and left < best:
            best, source, index = left, _LATENT, mode
        self.group_pending[mode] = (best, source, index)
        return best

    def group_consume(self, mode: int, hours: float) -> None:
        """``hours`` of ``mode``'s operating time passed in the group without its failure."""
        self.group_pending.pop(mode, None)
        if hours <= 0:
            return
        multiplier = self.plan.multipliers[mode] if self.lemon else 1.0
        for k in self.plan.mode_parts[mode]:
            self.remaining[k] -= hours * multiplier
        if mode in self.latent:
            self.latent[mode] -= hours

    def group_fire(self, mode: int) -> bool:
        """``mode``'s proposed failure in the group happens: age its clocks, renew the part; was a recurrence."""
        hours, source, index = self.group_pending[mode]
        self.group_consume(mode, hours)
        if source == _PART:
            self.remaining[index] = self._lifetimes[index]()
            return False
        if source == _LATENT:
            del self.latent[mode]
            return True
        return False

    def leave_fault(self, mode: int, recurs_after_hours: float) -> None:
        """A fault of ``mode`` stays in place and strikes again after ``recurs_after_hours`` of operation."""
        self.latent[mode] = recurs_after_hours

    def clear_fault(self, mode: int) -> None:
        """A repair of ``mode`` truly fixed it: no fault of that mode is left in place."""
        self.latent.pop(mode, None)

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
"""
from __future__ import annotations

import bisect
import math

import numpy as np

from clustersim.layout import ClockLayout
from clustersim.scenario.schema import FailureMode

_NONE, _EXP, _PART, _LATENT = range(4)


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
        exp_modes = [mode for mode, _ in layout.exponential]
        rates = [rate for _, rate in layout.exponential]
        self.exp = {False: _Superposed(exp_modes, rates),
                    True: _Superposed(exp_modes, [r * lemon_multipliers[i] for r, i in zip(rates, exp_modes)])}
        self.part_modes = list(layout.part_modes)  # one clock per part of a non-exponential mode
        self.part_speeds = {False: [1.0] * len(self.part_modes),
                            True: [lemon_multipliers[i] for i in self.part_modes]}


class NodeClocks:
    """One node's clocks, drawing from that node's own random stream.

    ``next_failure`` proposes the next failure without changing any clock; the node then either
    reaches it (``fire``) or is interrupted first and ages by the time that passed (``advance``).
    """

    __slots__ = ("plan", "rng", "remaining", "latent", "_lifetimes", "_exp", "_speeds", "_pending")

    def __init__(self, plan: ClockPlan, rng: np.random.Generator, lemon: bool):
        self.plan = plan
        self.rng = rng
        # one lifetime sampler per part, built once: renewing a part draws from it
        self._lifetimes = [plan.modes[m].time_to_failure.sampler(rng) for m in plan.part_modes]
        self.remaining = [lifetime() for lifetime in self._lifetimes]  # base-law hours left per part
        self.latent: dict[int, float] = {}  # mode -> operating hours until its fault left in place recurs
        self._pending = (math.inf, _NONE, -1)
        self.set_lemon(lemon)

    def set_lemon(self, lemon: bool) -> None:
        """Run the clocks at a lemon's speeds (or back at base speed, once cured)."""
        self._exp = self.plan.exp[lemon]
        self._speeds = self.plan.part_speeds[lemon]

    def next_failure(self) -> float:
        """Operating hours until the next failure (inf if none ever comes); remembered for ``fire``."""
        exp = self._exp
        best, source, index = ((self.rng.exponential(1.0 / exp.total), _EXP, -1) if exp.total > 0
                               else (math.inf, _NONE, -1))
        speeds = self._speeds
        for k, left in enumerate(self.remaining):
            dt = left / speeds[k]
            if dt < best:
                best, source, index = dt, _PART, k
        for mode, left in self.latent.items():
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
        for mode in self.latent:
            self.latent[mode] -= hours

    def leave_fault(self, mode: int, recurs_after_hours: float) -> None:
        """A fault of ``mode`` stays in place and strikes again after ``recurs_after_hours`` of operation."""
        self.latent[mode] = recurs_after_hours

    def clear_fault(self, mode: int) -> None:
        """A repair of ``mode`` truly fixed it: no fault of that mode is left in place."""
        self.latent.pop(mode, None)

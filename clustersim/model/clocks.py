"""A node's failure clocks: which of its failure modes strikes next, and when.

Exponential modes are memoryless, so they are sampled as one superposed clock (total rate,
then a mode drawn in proportion to its rate) — exact, and one draw per failure instead of one
per GPU. Other laws keep a remaining lifetime per part (one per GPU for ``scope = "gpu"``)
that ages only while the node's own parts are in operation and is renewed when that part fails.
"""
from __future__ import annotations

import bisect
import math

import numpy as np

from clustersim.scenario.schema import FailureMode


class ClockPlan:
    """The per-scenario layout of failure clocks, shared by every node."""

    def __init__(self, modes: list[FailureMode], gpus_per_node: int):
        self.modes = modes
        exp_rates = [
            (i, (gpus_per_node if m.scope == "gpu" else 1) / m.time_to_failure.mean_hours)
            for i, m in enumerate(modes)
            if m.time_to_failure.is_exponential
        ]
        self.exp_modes = [i for i, _ in exp_rates]
        self.exp_cumulative = list(np.cumsum([r for _, r in exp_rates]))
        self.exp_total_rate = self.exp_cumulative[-1] if exp_rates else 0.0
        # one clock per part for non-exponential modes: its mode index
        self.part_modes = [
            i
            for i, m in enumerate(modes)
            if not m.time_to_failure.is_exponential
            for _ in range(gpus_per_node if m.scope == "gpu" else 1)
        ]


class NodeClocks:
    """One node's clocks, drawing from that node's own random stream."""

    __slots__ = ("plan", "rng", "remaining", "_lifetimes", "_exp_scale")

    def __init__(self, plan: ClockPlan, rng: np.random.Generator):
        self.plan = plan
        self.rng = rng
        # one lifetime sampler per part, built once: renewing a part draws from it
        self._lifetimes = [plan.modes[m].time_to_failure.sampler(rng) for m in plan.part_modes]
        self.remaining = [lifetime() for lifetime in self._lifetimes]
        self._exp_scale = 1.0 / plan.exp_total_rate if plan.exp_total_rate > 0 else math.inf

    def next_failure(self) -> tuple[float, int]:
        """(operating hours until the next failure, failing mode index); inf if none fails."""
        plan, remaining = self.plan, self.remaining
        exp_dt = self.rng.exponential(self._exp_scale) if plan.exp_total_rate > 0 else math.inf
        part_dt, part = math.inf, -1
        for k, left in enumerate(remaining):
            if left < part_dt:
                part_dt, part = left, k
        if exp_dt <= part_dt:
            if exp_dt == math.inf:
                return math.inf, -1
            self._age(exp_dt)
            pick = bisect.bisect_right(plan.exp_cumulative, self.rng.random() * plan.exp_total_rate)
            return exp_dt, plan.exp_modes[min(pick, len(plan.exp_modes) - 1)]
        self._age(part_dt)
        mode = plan.part_modes[part]
        remaining[part] = self._lifetimes[part]()
        return part_dt, mode

    def _age(self, hours: float) -> None:
        remaining = self.remaining
        for k in range(len(remaining)):
            remaining[k] -= hours

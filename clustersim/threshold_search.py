"""Search: the threshold of a monotone parameter for a target, by bisection with sequential replications.

``--vary KEY --min A --max B --target "METRIC >= X"``: the target is assumed to hold on one side of
a threshold in [A, B] and fail on the other. Both ends are decided first (which also gives the
direction); then the bracket halves until it is one step wide (integers) or ``--tolerance`` wide.

Each value is decided sequentially: replications run in batches (the scenario's count first, then
doubling, up to ``max_replications``), and after each batch the one-sided Student-t bound at
``confidence`` is held against X: the target is *met* when the bound on the far side clears X, *not
met* when the near side's bound does, and the next batch runs while neither holds. A value still
undecided at ``max_replications`` counts as not met (only confidence counts as meeting it). Every value
uses the same seeds (common random numbers), so neighbouring values differ by the parameter and
little else. The stated confidence is per decision; the sequential looks and the several steps are
not corrected for (a stricter ``--confidence`` tightens every decision).
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from clustersim.engine.base import Engine
from clustersim.errors import ScenarioError
from clustersim.layout import layout_of
from clustersim.scenario.load import scenario_from_dict, set_values
from clustersim.scenario.schema import Scenario
from clustersim.sweep_grid import _number_and_unit, value_text
from clustersim.t_quantiles import t_quantile

_TARGET = re.compile(r"^\s*([A-Za-z_][\w.\-]*)\s*(>=|<=|>|<)\s*(\S+)\s*$")
MET, NOT_MET, UNDECIDED = "met", "not met", "undecided"


@dataclass(frozen=True)
class Target:
    """``metric comparator threshold``, e.g. ``training.pretrain.ettr >= 0.95``."""

    metric: str
    comparator: str
    threshold: float

    def __str__(self) -> str:
        return f"{self.metric} {self.comparator} {self.threshold:g}"


def parse_target(text: str) -> Target:
    """``"METRIC >= X"`` (or ``>``, ``<=``, ``<``) -> a Target; a ScenarioError naming --target otherwise."""
    match = _TARGET.match(text)
    threshold = None
    if match:
        try:
            threshold = float(match.group(3))
        except ValueError:
            threshold = None
    if match is None or threshold is None or not math.isfinite(threshold):
        raise ScenarioError("--target", [f'{text!r} is not "METRIC >= X" (or >, <=, <), e.g. '
                                         '"training.pretrain.ettr >= 0.95"'])
    return Target(match.group(1), match.group(2), threshold)


@dataclass(frozen=True)
class Step:
    """One decided value: its replications, mean, the one-sided bounds at the confidence, and the decision."""

    value: Any
    replications: int
    mean: float
    lower: float | None
    upper: float | None
    decision: str


def decide(values: list[float], target: Target, confidence: float) -> tuple[str, float, float | None, float | None]:
    """(decision, mean, lower, upper) from per-replication values: one-sided Student-t bounds at ``confidence``."""
    x = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    if len(x) == 0:
        return UNDECIDED, math.nan, None, None
    mean = float(np.mean(x))
    if len(x) < 2:
        return UNDECIDED, mean, None, None
    half = float(t_quantile(len(x) - 1, confidence) * np.std(x, ddof=1) / math.sqrt(len(x)))
    lower, upper = mean - half, mean + half
    above = {">=": lower >= target.threshold, ">": lower > target.threshold,
             "<=": upper <= target.threshold, "<": upper < target.threshold}[target.comparator]
    below = {">=": upper < target.threshold, ">": upper <= target.threshold,
             "<=": lower > target.threshold, "<": lower >= target.threshold}[target.comparator]
    return (MET if above else NOT_MET if below else UNDECIDED), mean, lower, upper


@dataclass
class SearchOutcome:
    """The steps in the order run, and the answer: the threshold value (None when the range holds none)."""

    key: str
    target: Target
    confidence: float
    steps: list[Step] = field(default_factory=list)
    answer: Any = None
    direction: str = ""       # "smallest" (met at and above the answer) or "largest" (met at and below)
    verdict: str = ""


class ParameterSpace:
    """The values a search may try: integers from A to B, or numbers / quantities to within a tolerance."""

    def __init__(self, key: str, low: Any, high: Any, tolerance: Any | None) -> None:
        self.key = key
        ends = [_number_and_unit(low), _number_and_unit(high)]
        problems = [f"--{flag}: must be a number or a quantity like \"10 min\", got {value_text(v)}"
                    for flag, v, end in (("min", low, ends[0]), ("max", high, ends[1])) if end is None]
        if problems:
            raise ScenarioError("search", problems)
        (self.low, self.unit), (self.high, high_unit) = ends  # type: ignore[misc]
        self.integral = all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high))
        if high_unit != self.unit:
            problems.append(f"--min and --max must have one unit, got {self.unit or 'none'!r} and "
                            f"{high_unit or 'none'!r}")
        if not self.low < self.high:
            problems.append(f"--min {value_text(low)} must be below --max {value_text(high)}")
        self.tolerance = 1.0
        if not self.integral:
            found = None if tolerance is None else _number_and_unit(tolerance)
            if found is None or found[1] != self.unit or not found[0] > 0:
                example = f'"1 {self.unit}"' if self.unit else "0.01"
                problems.append(f"--tolerance: a search over non-integers needs a positive tolerance in the unit of "
                                f"--min and --max ({self.unit or 'a plain number'}), e.g. --tolerance {example}")
            else:
                self.tolerance = found[0]
        if problems:
            raise ScenarioError("search", problems)

    def value(self, x: float) -> Any:
        """The scenario value for position ``x``."""
        if self.integral:
            return int(x)
        return f"{x!r} {self.unit}" if self.unit else x

    def middle(self, a: float, b: float) -> float:
        return float((a + b) // 2) if self.integral else (a + b) / 2

    def narrow(self, a: float, b: float) -> bool:
        return b - a <= self.tolerance


def search_threshold(raw: dict[str, Any], source: str, base_dir: Any, space: ParameterSpace, target: Target,
                     confidence: float, max_replications: int, engine_of: Callable[[Scenario], Engine],
                     on_step: Callable[[Step], None] | None = None) -> SearchOutcome:
    """Bisect ``space`` for ``target``; every value validated before it runs, the ends first."""
    outcome = SearchOutcome(space.key, target, confidence)

    def scenario_at(x: float) -> Scenario:
        value = space.value(x)
        where = f"search {space.key}={value_text(value)}"
        return scenario_from_dict(set_values(raw, [(space.key, value)], where, flag="--vary"), source=where,
                                  base_dir=base_dir)

    ends = (scenario_at(space.low), scenario_at(space.high))
    known = {m.name for m in layout_of(ends[0]).metrics}
    if target.metric not in known:
        raise ScenarioError(source, [f"--target: {target.metric!r} is not a metric of this scenario "
                                     f"(it has {', '.join(sorted(known)[:8])}, ...)"])

    def step(x: float, scenario: Scenario | None = None) -> str:
        scenario = scenario or scenario_at(x)
        engine = engine_of(scenario)
        first = scenario.simulation.replications_limit or 2
        rows: list[dict[str, float]] = []
        batch_end = max(2, first)
        while True:
            arrived = {o.replication: o.metrics for o in engine.run(scenario, range(len(rows), batch_end))}
            rows += [arrived[k] for k in range(len(rows), batch_end)]
            decision, mean, lower, upper = decide([r.get(target.metric, math.nan) for r in rows], target, confidence)
            if decision != UNDECIDED or batch_end >= max_replications:
                break
            batch_end = min(max_replications, 2 * batch_end)
        result = Step(space.value(x), len(rows), mean, lower, upper, decision)
        outcome.steps.append(result)
        if on_step:
            on_step(result)
        return decision

    low_met = step(space.low, ends[0]) == MET
    high_met = step(space.high, ends[1]) == MET
    what = f"{target} ({confidence * 100:g} % confident)"
    if low_met == high_met:
        outcome.verdict = (f"{target} is {'met' if low_met else 'not met'} at both ends of {space.key} in "
                           f"[{value_text(space.value(space.low))}, {value_text(space.value(space.high))}]: "
                           "no threshold in this range")
        return outcome
    a, b = space.low, space.high  # invariant: the target's decision differs between a and b
    while not space.narrow(a, b):
        middle = space.middle(a, b)
        if step(middle) == MET:
            a, b = (a, middle) if high_met else (middle, b)
        else:
            a, b = (middle, b) if high_met else (a, middle)
    outcome.direction = "smallest" if high_met else "largest"
    outcome.answer = space.value(b if high_met else a)
    outcome.verdict = f"the {outcome.direction} {space.key} that meets {what} is {value_text(outcome.answer)}"
    return outcome

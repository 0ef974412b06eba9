"""Comparing architectures: several scenarios run with common random numbers, paired differences to the first.

Every scenario runs with one seed and one number of replications, so replication k of each draws
from the same streams (``Streams(seed, k)``, by component name): a node's k-th failure times are the
same in both designs unless the design itself changes them. The difference B − A is then taken
replication by replication, and its Student-t 95 % interval is that of the paired differences — far
narrower than the two separate intervals suggest when the designs share most of their randomness.
A difference is significant when its interval excludes 0. Two identical scenarios differ by exactly 0.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from clustersim.engine.base import Engine
from clustersim.errors import ScenarioError
from clustersim.layout import metric_info
from clustersim.runner import RunResult, run_scenario
from clustersim.scenario.schema import Scenario
from clustersim.stats import Estimate, estimate

COLUMNS = ("metric", "scenario", "mean", "ci95_low", "ci95_high", "diff_mean", "diff_ci95_low", "diff_ci95_high",
           "significant")


@dataclass(frozen=True)
class Difference:
    """The paired difference of one metric, a scenario minus the baseline, over replications both measured."""

    metric: str
    scenario: str
    estimate: Estimate

    @property
    def significant(self) -> bool:
        """Does the 95 % interval exclude 0?"""
        e = self.estimate
        return e.ci95_low is not None and e.ci95_high is not None and (e.ci95_low > 0 or e.ci95_high < 0)


@dataclass
class Comparison:
    """The runs (baseline first), their display names and every paired difference."""

    names: list[str]
    results: list[RunResult]
    differences: list[Difference]
    complete: bool = True


def common_settings_problems(scenarios: Sequence[Scenario], sources: Sequence[str]) -> list[str]:
    """Common random numbers need one seed and one fixed number of replications in every scenario."""
    problems = []
    first = scenarios[0].simulation
    for scenario, source in zip(scenarios[1:], sources[1:]):
        sim = scenario.simulation
        if sim.precision is not None or first.precision is not None:
            problems.append(f"{source}: simulation.precision: compare pairs replications one by one and needs a "
                            "fixed number of them; remove precision or pass --replications")
        elif sim.replications != first.replications:
            problems.append(f"{source}: simulation.replications: {sim.replications} differs from {sources[0]}'s "
                            f"{first.replications}; paired differences need one number (pass --replications)")
        if sim.seed != first.seed:
            problems.append(f"{source}: simulation.seed: {sim.seed} differs from {sources[0]}'s {first.seed}; "
                            "common random numbers need one seed (pass --seed)")
    return problems


def display_names(scenarios: Sequence[Scenario], sources: Sequence[str]) -> list[str]:
    """Each scenario's name, or its file name where two scenarios share a name."""
    names = [s.name for s in scenarios]
    return [source if names.count(name) > 1 else name for name, source in zip(names, sources)]


def paired_difference(baseline: list[dict[str, float]], other: list[dict[str, float]], metric: str) -> Estimate:
    """Mean and Student-t 95 % interval of ``other[k][metric] - baseline[k][metric]`` over replications k
    where both are finite (never clamped: a difference may be negative)."""
    pairs = [(a.get(metric, math.nan), b.get(metric, math.nan)) for a, b in zip(baseline, other)]
    diffs = np.array([b - a for a, b in pairs if math.isfinite(a) and math.isfinite(b)], dtype=float)
    return estimate(diffs, metric_info(metric).unit)


def compare_runs(names: list[str], results: list[RunResult]) -> Comparison:
    """The paired difference to the first run of every metric each other run shares with it."""
    baseline = results[0]
    differences = []
    for name, result in zip(names[1:], results[1:]):
        for metric in baseline.estimates:
            if metric in result.estimates:
                differences.append(Difference(metric, name, paired_difference(baseline.rows, result.rows, metric)))
    return Comparison(names, results, differences, all(r.complete for r in results))


def compare_scenarios(scenarios: Sequence[Scenario], sources: Sequence[str],
                      engine: Callable[[Scenario], Engine | None] = lambda s: None,
                      progress: Callable[[int], None] | None = None) -> Comparison:
    """Run every scenario (one seed, one replication count) and compare each with the first.

    ``engine(scenario)`` gives the engine to run it on (None: the scenario's own); ``progress`` gets the
    replications finished over all scenarios. A stop signal ends the comparison where it is (``complete``
    False), with the runs so far.
    """
    problems = common_settings_problems(scenarios, sources)
    if problems:
        raise ScenarioError("compare", problems)
    results: list[RunResult] = []
    done = 0
    for scenario, source in zip(scenarios, sources):
        def advance(count: int, base: int = done) -> None:
            if progress:
                progress(base + count)

        result = run_scenario(scenario, progress=advance, source=source, engine=engine(scenario))
        results.append(result)
        done += len(result.rows)
        if not result.complete:
            break
    names = display_names(scenarios, sources)[: len(results)]
    comparison = compare_runs(names, results)
    comparison.complete = len(results) == len(scenarios) and all(r.complete for r in results)
    return comparison


def _bound(x: float | None) -> float:
    return math.nan if x is None else x


def comparison_frame(comparison: Comparison) -> pd.DataFrame:
    """compare.csv: per metric and scenario its mean and 95 % bounds; for every scenario but the first, the paired
    difference to the first with its 95 % bounds and whether it is significant (empty on the baseline's rows)."""
    by_key = {(d.metric, d.scenario): d for d in comparison.differences}
    metrics: list[str] = []
    for result in comparison.results:
        metrics += [m for m in result.estimates if m not in metrics]
    rows = []
    for metric in metrics:
        for i, (name, result) in enumerate(zip(comparison.names, comparison.results)):
            e = result.estimates.get(metric)
            if e is None:
                continue
            row: dict[str, object] = {"metric": metric, "scenario": name, "mean": e.mean,
                                      "ci95_low": _bound(e.ci95_low), "ci95_high": _bound(e.ci95_high),
                                      "diff_mean": None, "diff_ci95_low": None, "diff_ci95_high": None,
                                      "significant": None}
            difference = by_key.get((metric, name)) if i > 0 else None
            if difference is not None:
                d = difference.estimate
                row.update(diff_mean=d.mean, diff_ci95_low=_bound(d.ci95_low), diff_ci95_high=_bound(d.ci95_high),
                           significant=difference.significant)
            rows.append(row)
    return pd.DataFrame(rows, columns=list(COLUMNS))

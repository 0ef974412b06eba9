"""Records -> per-replication metrics -> means with Student-t 95 % intervals.

A replication's metrics come from ``clustersim.measures`` (one method per quantity of the scenario's
metric plan, ``clustersim.layout.metric_plan``), fed the rows as the model emits them or, here, from a
stored log; this module adds the statistics over replications.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from clustersim.layout import MetricSpec, metric_info
from clustersim.measures import measure_log
from clustersim.model.records import ReplicationRecords
from clustersim.scenario.schema import Scenario
from clustersim.t_quantiles import t_quantile


def finite_or_none(x: float | None) -> float | None:
    """A number as JSON can hold it: an undefined one (inf, NaN, None) as None (null)."""
    return None if x is None or not math.isfinite(x) else x


def replication_metrics(scenario: Scenario, records: ReplicationRecords) -> dict[str, float]:
    """Every metric of the scenario's metric plan for one replication, from its stored record log alone
    (fed through the same ``Measures`` that take a running replication's rows)."""
    return measure_log(scenario, records.log)


@dataclass(frozen=True)
class Estimate:
    """A metric's mean over replications with its Student-t 95 % interval (None when n < 2).

    The interval is clamped to the metric's bounds (a fraction's to [0, 1], a count's to [0, ∞));
    ``half_width`` stays the Student-t half-width, so precision targets and comparisons are unaffected.
    """

    mean: float
    ci95_low: float | None
    ci95_high: float | None
    n: int
    unit: str
    half_width: float | None = None  # derived from the bounds when not given

    def __post_init__(self) -> None:
        if self.half_width is None and self.ci95_high is not None and self.ci95_low is not None:
            object.__setattr__(self, "half_width", (self.ci95_high - self.ci95_low) / 2)


def estimate(values: Sequence[float] | np.ndarray, unit: str, low: float = -math.inf,
             high: float = math.inf) -> Estimate:
    """Mean and Student-t 95 % interval of per-replication values (NaN ones left out), clamped to [low, high]."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return Estimate(math.nan, None, None, 0, unit)
    mean = float(np.mean(x))
    if n < 2:
        return Estimate(mean, None, None, n, unit)
    half = float(t_quantile(n - 1, 0.975) * np.std(x, ddof=1) / math.sqrt(n))
    raw_low, raw_high = mean - half, mean + half
    return Estimate(mean, max(raw_low, low), min(raw_high, high), n, unit, (raw_high - raw_low) / 2)


def summarize(rows: list[dict[str, float]], plan: Sequence[MetricSpec] = ()) -> dict[str, Estimate]:
    """Per-replication metric rows -> an Estimate per metric name (first-seen order), clamped to its bounds:
    the scenario's metric ``plan`` where it names the metric (per-scenario highs), else the catalogue's."""
    names: list[str] = []
    for row in rows:
        names += [k for k in row if k not in names]
    bounds = {spec.name: (spec.low, spec.high) for spec in plan}
    return {name: _bounded_estimate(name, [row.get(name, math.nan) for row in rows], bounds.get(name))
            for name in names}


def _bounded_estimate(name: str, values: list[float], bounds: tuple[float, float] | None) -> Estimate:
    """The estimate of metric ``name``, its interval clamped to ``bounds`` (default: the catalogue's layout.METRICS)."""
    info = metric_info(name)
    low, high = bounds if bounds is not None else (info.low, info.high)
    return estimate(values, info.unit, low, high)

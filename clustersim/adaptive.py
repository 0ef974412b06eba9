"""Adaptive replications: when the named metrics are precise enough, and which replications to ask for.

Pure functions of the per-replication metric rows; the run loop (``clustersim.runner``) calls them
and does everything else. The stopping rule: after replication n ≥ min_replications (counting
from 1), stop at the first n where every metric in ``precision_metrics`` has a 95 % Student-t
half-width within ``precision`` × |mean| over replications 0..n-1, or at max_replications.
"""
from __future__ import annotations

import difflib
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from clustersim.scenario.schema import Simulation
from clustersim.stats import estimate

Row = Mapping[str, float]


@dataclass(frozen=True)
class PrecisionTarget:
    """What an adaptive run aims for: every metric's relative half-width ≤ precision, within the bounds."""

    precision: float
    metrics: tuple[str, ...]
    min_replications: int
    max_replications: int


@dataclass(frozen=True)
class PrecisionOutcome:
    """How an adaptive run ended: its target, each metric's achieved relative half-width, convergence."""

    target: PrecisionTarget
    achieved: dict[str, float | None]  # None: undefined (fewer than 2 finite values, or mean 0 with spread)
    converged: bool


def precision_target(simulation: Simulation) -> PrecisionTarget | None:
    """The scenario's precision target, or None for a fixed number of replications."""
    if simulation.precision is None:
        return None
    assert simulation.precision_metrics and simulation.min_replications and simulation.max_replications
    return PrecisionTarget(simulation.precision, tuple(simulation.precision_metrics),
                           simulation.min_replications, simulation.max_replications)


def relative_half_width(values: Sequence[float]) -> float | None:
    """Half-width / |mean| of the 95 % interval: 0 for a zero half-width (even at mean 0), None if undefined."""
    e = estimate(values, unit="")
    if e.half_width is None:
        return None
    if e.half_width == 0:
        return 0.0
    return e.half_width / abs(e.mean) if e.mean != 0 else None


def relative_half_widths(rows: Sequence[Row], metrics: Sequence[str]) -> dict[str, float | None]:
    """Each named metric's relative half-width over ``rows`` (a missing value counts as undefined)."""
    return {name: relative_half_width([row.get(name, math.nan) for row in rows]) for name in metrics}


def meets_target(achieved: Mapping[str, float | None], precision: float) -> bool:
    """Does every metric reach the precision? An undefined width never does."""
    return all(width is not None and width <= precision for width in achieved.values())


def should_stop(rows: Sequence[Row], target: PrecisionTarget) -> bool:
    """After ``len(rows)`` replications: past the minimum and precise enough, or at the maximum?"""
    n = len(rows)
    if n >= target.max_replications:
        return True
    if n < target.min_replications:
        return False
    return meets_target(relative_half_widths(rows, target.metrics), target.precision)


def precision_outcome(rows: Sequence[Row], target: PrecisionTarget) -> PrecisionOutcome:
    """The precision block of an adaptive run that ended (stopped, capped or interrupted) after ``rows``."""
    achieved = relative_half_widths(rows, target.metrics)
    converged = len(rows) >= target.min_replications and meets_target(achieved, target.precision)
    return PrecisionOutcome(target, achieved, converged)


def unknown_metric_problems(metrics: Sequence[str], row: Row) -> list[str]:
    """``simulation.precision_metrics: ...`` lines for names the scenario does not produce, with a close match."""
    valid = list(row)
    problems = []
    for name in metrics:
        if name in row:
            continue
        close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
        hint = f", did you mean {close[0]!r}?" if close else ""
        problems.append(f"simulation.precision_metrics: {name!r} is not a metric of this scenario{hint} "
                        f"(valid: {', '.join(valid)})")
    return problems


def replication_batches(target: PrecisionTarget, batch_size: int | None = None) -> Iterator[range]:
    """Index ranges to request: min_replications first, then ``batch_size`` at a time (None: half as
    many as requested so far, so batches grow), never past max_replications."""
    start, stop = 0, min(target.min_replications, target.max_replications)
    while start < target.max_replications:
        yield range(start, stop)
        start = stop
        stop = min(target.max_replications, start + (batch_size or max(1, start // 2)))

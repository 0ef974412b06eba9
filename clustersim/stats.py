"""Records -> per-replication metrics -> means with Student-t 95 % intervals.

Pure functions of the record log (``clustersim.engine.records``). Time-weighted quantities
integrate a piecewise-constant level over [warmup, horizon); counts take events in that window.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

from clustersim.engine.records import Kind, NodeState, RepairState, ReplicationRecords, SlotState
from clustersim.scenario.schema import Scenario

T, KIND, COMP, FROM, TO, CAUSE = range(6)


@dataclass(frozen=True)
class MetricInfo:
    unit: str
    meaning: str


# Every metric clustersim reports, with its unit and meaning (the README glossary mirrors this).
METRICS: dict[str, MetricInfo] = {
    "nodes.availability": MetricInfo("fraction", "time-weighted fraction of nodes up"),
    "nodes.up_mean": MetricInfo("nodes", "time-weighted mean number of nodes up"),
    "nodes.failures": MetricInfo("count", "node failure events in the window (all modes, domains, chaos)"),
    "nodes.failures.<cause>": MetricInfo("count", "node failure events of one failure mode, domain or chaos injection"),
    "nodes.outage_mean_hours": MetricInfo("h", "mean time from a node going down to its return to service"),
    "repair.wait_mean_hours": MetricInfo("h", "mean wait for a repair crew ('replace' recovery)"),
    "repair.crew_utilization": MetricInfo("fraction", "time-weighted fraction of repair crews busy (finite crews)"),
    "capacity.availability": MetricInfo("fraction", "time-weighted fraction of working positions held by an up node"),
    "capacity.shortfall_hours": MetricInfo("h", "time with at least one working position not held by an up node"),
    "spares.available_mean": MetricInfo("nodes", "time-weighted mean number of usable spares (with spares)"),
    "spares.exhausted_hours": MetricInfo("h", "time with no usable spare in the pool (with spares)"),
    "spares.first_exhausted_hours": MetricInfo("h", "time from warmup until the pool first ran dry; horizon − warmup if never"),
}


def metric_info(name: str) -> MetricInfo:
    """The unit and meaning of a metric, including per-cause ``nodes.failures.<cause>``."""
    if name in METRICS:
        return METRICS[name]
    if name.startswith("nodes.failures."):
        return METRICS["nodes.failures.<cause>"]
    raise KeyError(name)


def time_weighted_mean(times: np.ndarray, deltas: np.ndarray, initial: float, start: float, end: float) -> float:
    """Mean over [start, end) of a level that starts at ``initial`` and jumps by ``deltas`` at ``times``."""
    levels = initial + np.cumsum(deltas)
    edges = np.clip(np.concatenate(([start], times, [end])), start, end)
    values = np.concatenate(([initial], levels))
    return float(np.dot(values, np.diff(edges)) / (end - start))


def time_at_level(times: np.ndarray, levels_after: np.ndarray, initial: float, start: float, end: float,
                  predicate) -> float:
    """Hours in [start, end) during which ``predicate(level)`` holds."""
    edges = np.clip(np.concatenate(([start], times, [end])), start, end)
    values = np.concatenate(([initial], levels_after))
    return float(np.sum(np.diff(edges)[predicate(values)]))


def _rows(log: np.ndarray, kind: Kind) -> np.ndarray:
    return log[log[:, KIND] == kind]


def _interval_mean(log: np.ndarray, kind: Kind, start_to: int, end_from: int, end_to: int | None,
                   window: tuple[float, float]) -> float:
    """Mean length of intervals per component, from a transition into ``start_to`` to one out of
    ``end_from`` (into ``end_to``), for intervals that begin in the window and end by its end."""
    rows = _rows(log, kind)
    if rows.size == 0:
        return math.nan
    order = np.lexsort((np.arange(len(rows)), rows[:, COMP]))
    rows = rows[order]
    starts = np.flatnonzero(rows[:, TO] == start_to)
    is_end = (rows[:, FROM] == end_from) if end_to is None else (rows[:, FROM] == end_from) & (rows[:, TO] == end_to)
    end_idx = np.flatnonzero(is_end)
    lengths = []
    ends_pos = np.searchsorted(end_idx, starts, side="right")
    for s, e in zip(starts, ends_pos):
        if e >= len(end_idx):
            continue
        j = end_idx[e]
        if rows[j, COMP] != rows[s, COMP] or not window[0] <= rows[s, T] < window[1]:
            continue
        lengths.append(rows[j, T] - rows[s, T])
    return float(np.mean(lengths)) if lengths else math.nan


def replication_metrics(scenario: Scenario, records: ReplicationRecords) -> dict[str, float]:
    """Every metric of one replication, computed from its record log alone."""
    sim = scenario.simulation
    start, end = sim.warmup, sim.horizon
    log = records.log
    in_window = (log[:, T] >= start) & (log[:, T] < end)
    metrics: dict[str, float] = {}

    node_rows = _rows(log, Kind.NODE)
    up_delta = np.where(node_rows[:, TO] == NodeState.UP, 1.0, -1.0)
    count = scenario.nodes.count
    up_mean = time_weighted_mean(node_rows[:, T], up_delta, float(count), start, end)
    metrics["nodes.availability"] = up_mean / count
    metrics["nodes.up_mean"] = up_mean

    failures = log[in_window & (log[:, KIND] == Kind.FAILURE)]
    metrics["nodes.failures"] = float(len(failures))
    causes = np.bincount(failures[:, CAUSE].astype(np.int64), minlength=len(scenario.cause_names))
    for cause, name in enumerate(scenario.cause_names):
        metrics[f"nodes.failures.{name}"] = float(causes[cause])

    metrics["nodes.outage_mean_hours"] = _interval_mean(log, Kind.NODE, NodeState.DOWN, NodeState.DOWN,
                                                        NodeState.UP, (start, end))
    if scenario.nodes.failure_modes:
        metrics["repair.wait_mean_hours"] = _interval_mean(log, Kind.REPAIR, RepairState.WAITING,
                                                           RepairState.WAITING, RepairState.REPAIRING, (start, end))
    if scenario.repair.crews:
        crew_rows = _rows(log, Kind.CREWS)
        busy = time_weighted_mean(crew_rows[:, T], crew_rows[:, TO] - crew_rows[:, FROM], 0.0, start, end)
        metrics["repair.crew_utilization"] = busy / scenario.repair.crews

    metrics.update(_capacity_metrics(scenario, log, start, end))
    if scenario.spares.hot + scenario.spares.cold:
        metrics.update(_spare_metrics(scenario, log, start, end))
    return metrics


def _capacity_metrics(scenario: Scenario, log: np.ndarray, start: float, end: float) -> dict[str, float]:
    """Working positions held by an up node; without spares a position simply follows its node."""
    working = scenario.working_nodes
    if scenario.spares.hot + scenario.spares.cold:
        rows = _rows(log, Kind.SLOT)
        touches = (rows[:, FROM] == SlotState.FILLED) | (rows[:, TO] == SlotState.FILLED)
        rows = rows[touches]
        delta = np.where(rows[:, TO] == SlotState.FILLED, 1.0, -1.0)
    else:
        rows = _rows(log, Kind.NODE)
        rows = rows[rows[:, COMP] < working]
        delta = np.where(rows[:, TO] == NodeState.UP, 1.0, -1.0)
    filled = float(working) + np.cumsum(delta)
    mean = time_weighted_mean(rows[:, T], delta, float(working), start, end)
    short = time_at_level(rows[:, T], filled, float(working), start, end, lambda v: v < working)
    return {"capacity.availability": mean / working, "capacity.shortfall_hours": short}


def _spare_metrics(scenario: Scenario, log: np.ndarray, start: float, end: float) -> dict[str, float]:
    rows = _rows(log, Kind.POOL)
    initial = float(scenario.spares.hot + scenario.spares.cold)
    # the level just before the window starts
    before = rows[rows[:, T] < start]
    level_at_start = before[-1, TO] if len(before) else initial
    rows = rows[rows[:, T] >= start]
    levels = rows[:, TO]
    delta = np.diff(np.concatenate(([level_at_start], levels)))
    available = time_weighted_mean(rows[:, T], delta, level_at_start, start, end)
    exhausted = time_at_level(rows[:, T], levels, level_at_start, start, end, lambda v: v == 0)
    empty_at = rows[levels == 0, T]
    first = 0.0 if level_at_start == 0 else (float(empty_at[0]) - start if len(empty_at) else end - start)
    return {"spares.available_mean": available, "spares.exhausted_hours": exhausted,
            "spares.first_exhausted_hours": first}


@dataclass(frozen=True)
class Estimate:
    """A metric's mean over replications with its Student-t 95 % interval (None when n < 2)."""

    mean: float
    ci95_low: float | None
    ci95_high: float | None
    n: int
    unit: str

    @property
    def half_width(self) -> float | None:
        return None if self.ci95_high is None else (self.ci95_high - self.ci95_low) / 2


def estimate(values: list[float] | np.ndarray, unit: str) -> Estimate:
    """Mean and Student-t 95 % interval of per-replication values, ignoring undefined (NaN) ones."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return Estimate(math.nan, None, None, 0, unit)
    mean = float(np.mean(x))
    if n < 2:
        return Estimate(mean, None, None, n, unit)
    half = float(scipy_stats.t.ppf(0.975, n - 1) * np.std(x, ddof=1) / math.sqrt(n))
    return Estimate(mean, mean - half, mean + half, n, unit)


def summarize(rows: list[dict[str, float]]) -> dict[str, Estimate]:
    """Per-replication metric rows -> an Estimate per metric name (in first-seen order)."""
    names: list[str] = []
    for row in rows:
        names += [k for k in row if k not in names]
    return {name: estimate([row.get(name, math.nan) for row in rows], metric_info(name).unit) for name in names}

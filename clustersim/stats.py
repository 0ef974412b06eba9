"""Records -> per-replication metrics -> means with Student-t 95 % intervals.

Pure functions of the record log (``clustersim.model.records``), one per quantity of the scenario's
metric plan (``clustersim.layout.metric_plan``: which metrics, in which order, with which unit).
Time-weighted quantities integrate a piecewise-constant level over [warmup, horizon); counts take
events in that window.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.special import stdtrit  # the Student-t quantile (what scipy.stats.t.ppf calls), 3x faster to import

from clustersim.model.records import EventCode, JobState, Kind, NodeState, RepairState, ReplicationRecords, SlotState
from clustersim.layout import MetricSpec, layout_of, metric_info
from clustersim.scenario.schema import Scenario

T, KIND, COMP, FROM, TO, CAUSE = range(6)

# The codes as plain ints: numpy compares an array with an IntEnum member through Enum attribute
# look-ups, and swallows a KeyboardInterrupt raised inside them (a Ctrl-C would be lost).
NODE, REPAIR, SLOT, POOL, CREWS, FAILURE, EVENT, WARM, LEMON, JOB, WORK, LOST = (int(k) for k in (
    Kind.NODE, Kind.REPAIR, Kind.SLOT, Kind.POOL, Kind.CREWS, Kind.FAILURE, Kind.EVENT, Kind.WARM, Kind.LEMON,
    Kind.JOB, Kind.WORK, Kind.LOST))
UP, DOWN = int(NodeState.UP), int(NodeState.DOWN)
REPAIR_WAITING, REPAIRING, RETIRED = int(RepairState.WAITING), int(RepairState.REPAIRING), int(RepairState.RETIRED)
FILLED, SLOT_WAITING = int(SlotState.FILLED), int(SlotState.WAITING)
JOB_WAITING, RESTARTING, COMPUTING, CHECKPOINTING, DONE = (int(s) for s in (
    JobState.WAITING, JobState.RESTARTING, JobState.COMPUTING, JobState.CHECKPOINTING, JobState.DONE))


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


def _rows(log: np.ndarray, kind: int) -> np.ndarray:
    return log[log[:, KIND] == int(kind)]


def _interval_mean(log: np.ndarray, kind: int, start_to: int, end_from: int, end_to: int | None,
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
    """Every metric of the scenario's metric plan for one replication, computed from its record log alone."""
    measures = _LogMeasures(scenario, records.log)
    metrics: dict[str, float] = {}
    for spec in layout_of(scenario).metrics:
        value = measures.measure(spec)
        if value is not None:
            metrics[spec.name] = value
    return metrics


class _LogMeasures:
    """One method per ``MetricSpec.quantity`` of the metric plan, reading one replication's log;
    what several metrics share is computed once."""

    def __init__(self, scenario: Scenario, log: np.ndarray) -> None:
        self.scenario, self.log = scenario, log
        self.start, self.end = scenario.simulation.warmup, scenario.simulation.horizon
        self.in_window = (log[:, T] >= self.start) & (log[:, T] < self.end)
        self.window_rows = log[self.in_window]

    def measure(self, spec: MetricSpec) -> float | None:
        """The value of ``spec`` in this replication (None: not measurable in it)."""
        return getattr(self, spec.quantity)(spec)

    # nodes
    @cached_property
    def _up_mean(self) -> float:
        node_rows = _rows(self.log, NODE)
        up_delta = np.where(node_rows[:, TO] == UP, 1.0, -1.0)
        return time_weighted_mean(node_rows[:, T], up_delta, float(self.scenario.nodes.count), self.start, self.end)

    def availability(self, spec: MetricSpec) -> float:
        return self._up_mean / self.scenario.nodes.count

    def up_mean(self, spec: MetricSpec) -> float:
        return self._up_mean

    @cached_property
    def _failures(self) -> np.ndarray:
        return self.window_rows[self.window_rows[:, KIND] == FAILURE]

    @cached_property
    def _failures_by_cause(self) -> np.ndarray:
        return np.bincount(self._failures[:, CAUSE].astype(np.int64), minlength=len(self.scenario.cause_names))

    def failures(self, spec: MetricSpec) -> float:
        return float(len(self._failures))

    def failures_of_cause(self, spec: MetricSpec) -> float:
        return float(self._failures_by_cause[spec.index])

    def outage_mean(self, spec: MetricSpec) -> float:
        return _interval_mean(self.log, NODE, DOWN, DOWN, UP, (self.start, self.end))

    # repair
    def crew_wait_mean(self, spec: MetricSpec) -> float:
        return _interval_mean(self.log, REPAIR, REPAIR_WAITING, REPAIR_WAITING, REPAIRING,
                              (self.start, self.end))

    def crew_utilization(self, spec: MetricSpec) -> float:
        repair = self.scenario.repair
        crews = repair.crews if spec.index == 0 else repair.stages[spec.index - 1].crews
        assert crews is not None  # the plan lists finite crew pools only
        return _crew_utilization(self.log, spec.index, crews, self.start, self.end)

    def stage_entries(self, spec: MetricSpec) -> float:
        return _event_count(self.window_rows, EventCode.STAGE_ENTERED, self.scenario.stage_cause(spec.index))

    def escalations(self, spec: MetricSpec) -> float:
        return _event_count(self.window_rows, EventCode.ESCALATED)

    def false_successes(self, spec: MetricSpec) -> float:
        return _event_count(self.window_rows, EventCode.FALSE_SUCCESS)

    def undiagnosed(self, spec: MetricSpec) -> float:
        return _event_count(self.window_rows, EventCode.UNDIAGNOSED)

    def misdiagnoses(self, spec: MetricSpec) -> float:
        return _event_count(self.window_rows, EventCode.MISDIAGNOSED)

    def recurrences(self, spec: MetricSpec) -> float:
        return _event_count(self.window_rows, EventCode.RECURRED)

    # retirement
    @cached_property
    def _retired_rows(self) -> np.ndarray:
        return (self.log[:, KIND] == REPAIR) & (self.log[:, TO] == RETIRED)

    @cached_property
    def _lemons(self) -> set[int]:
        lemon_rows = self.log[(self.log[:, KIND] == LEMON) & (self.log[:, FROM] == 0)]
        return set(lemon_rows[:, COMP].astype(np.int64).tolist())

    @cached_property
    def _retired_in_window(self) -> np.ndarray:
        return self.log[self._retired_rows & self.in_window][:, COMP].astype(np.int64)

    def retired(self, spec: MetricSpec) -> float:
        return float(len(self._retired_in_window))

    def retired_healthy(self, spec: MetricSpec) -> float:
        return float(sum(1 for node in self._retired_in_window.tolist() if node not in self._lemons))

    def lemons_retired_fraction(self, spec: MetricSpec) -> float:
        log = self.log
        retired_ever = set(log[self._retired_rows & (log[:, T] < self.end)][:, COMP].astype(np.int64).tolist())
        return len(retired_ever & self._lemons) / self.scenario.nodes.lemon_count

    # capacity and spares
    @cached_property
    def _capacity(self) -> dict[str, float]:
        return _capacity_metrics(self.scenario, self.log, self.start, self.end)

    def capacity_availability(self, spec: MetricSpec) -> float:
        return self._capacity["capacity.availability"]

    def capacity_shortfall(self, spec: MetricSpec) -> float:
        return self._capacity["capacity.shortfall_hours"]

    @cached_property
    def _spares(self) -> dict[str, float]:
        return _spare_metrics(self.scenario, self.log, self.start, self.end)

    def spares_available_mean(self, spec: MetricSpec) -> float:
        return self._spares["spares.available_mean"]

    def spares_exhausted(self, spec: MetricSpec) -> float:
        return self._spares["spares.exhausted_hours"]

    def spares_first_exhausted(self, spec: MetricSpec) -> float:
        return self._spares["spares.first_exhausted_hours"]

    def capacity_first_short(self, spec: MetricSpec) -> float:
        return _first_wait_for_spare(self.log, self.start, self.end)

    def spares_warm_mean(self, spec: MetricSpec) -> float:
        warm = _rows(self.log, WARM)
        return time_weighted_mean(warm[:, T], warm[:, TO] - warm[:, FROM], float(self.scenario.spares.warm),
                                  self.start, self.end)

    # training jobs
    @cached_property
    def _jobs(self) -> list[_JobWindow]:
        return [_JobWindow(self.scenario, j, self.log, self.start, self.end)
                for j in range(len(self.scenario.training))]

    def job_completion_hours(self, spec: MetricSpec) -> float:
        finished_at = self._jobs[spec.index].finished_at
        return finished_at if finished_at < self.end else math.nan

    def job_completed(self, spec: MetricSpec) -> float:
        return 1.0 if self._jobs[spec.index].finished_at < self.end else 0.0

    def job_ettr(self, spec: MetricSpec) -> float | None:
        job = self._jobs[spec.index]
        return job.useful / job.wall if job.measured else None

    def job_goodput(self, spec: MetricSpec) -> float | None:
        job = self._jobs[spec.index]
        if not job.measured:
            return None
        return job.useful * job.size / job.allocated if job.allocated > 0 else math.nan

    def job_interruptions(self, spec: MetricSpec) -> float | None:
        job = self._jobs[spec.index]
        return float(len(job.stops)) if job.measured else None

    def job_interruptions_of_cause(self, spec: MetricSpec) -> float | None:
        job = self._jobs[spec.index]
        return float(np.count_nonzero(job.stops[:, CAUSE] == spec.cause)) if job.measured else None

    def job_lost_work_hours(self, spec: MetricSpec) -> float | None:
        job = self._jobs[spec.index]
        return float(np.sum(job.lost_rows[:, TO])) if job.measured else None

    def job_downtime_per_interruption_hours(self, spec: MetricSpec) -> float | None:
        job = self._jobs[spec.index]
        if not job.measured:
            return None
        return job.hours_in(JOB_WAITING, RESTARTING) / len(job.stops) if len(job.stops) else math.nan

    def job_gpu_hours_wasted(self, spec: MetricSpec) -> float | None:
        job = self._jobs[spec.index]
        if not job.measured:
            return None
        return (job.allocated - job.useful * job.size) * self.scenario.nodes.gpus_per_node

    def job_checkpoint_overhead_fraction(self, spec: MetricSpec) -> float | None:
        job = self._jobs[spec.index]
        return job.hours_in(CHECKPOINTING) / job.wall if job.measured else None


class _JobWindow:
    """What one training job did in [warmup, min(horizon, its finish)), from the log."""

    def __init__(self, scenario: Scenario, j: int, log: np.ndarray, start: float, end: float) -> None:
        self.size = scenario.training[j].nodes
        job_rows = _rows(log, JOB)
        job_rows = job_rows[job_rows[:, COMP] == j]
        done = job_rows[job_rows[:, TO] == DONE, T]
        self.finished_at = float(done[0]) if len(done) else math.inf
        stop = min(end, self.finished_at)
        self.measured = stop > start  # done before the window: nothing to measure in it
        if not self.measured:
            return
        self.wall = stop - start
        work_rows = _rows(log, WORK)
        work_rows = work_rows[work_rows[:, COMP] == j]
        # work credited in (start, stop]: a credit at time t is for work computed before t
        credited = work_rows[(work_rows[:, T] > start) & (work_rows[:, T] <= stop)]
        self.useful = float(np.sum(credited[:, TO] - credited[:, FROM]))
        in_window = (job_rows[:, T] >= start) & (job_rows[:, T] < stop)
        running = [RESTARTING, COMPUTING, CHECKPOINTING]
        self.stops = job_rows[in_window & (job_rows[:, TO] == JOB_WAITING) & np.isin(job_rows[:, FROM], running)]
        lost_rows = _rows(log, LOST)
        self.lost_rows = lost_rows[(lost_rows[:, COMP] == j) & (lost_rows[:, T] >= start) & (lost_rows[:, T] < stop)]
        self._edges, self._values = _state_timeline(job_rows, JOB_WAITING, start, stop)
        self.allocated = _allocated_node_hours(scenario, j, log, start, stop)

    def hours_in(self, *states: int) -> float:
        """Hours of the window the job spent in any of ``states`` (JobState codes)."""
        return float(np.sum(np.diff(self._edges)[np.isin(self._values, [int(s) for s in states])]))


def _state_timeline(rows: np.ndarray, initial: int, start: float, stop: float) -> tuple[np.ndarray, np.ndarray]:
    """Edges and values of a logged state over [start, stop): ``values[i]`` holds on ``[edges[i], edges[i+1])``."""
    edges = np.clip(np.concatenate(([start], rows[:, T], [stop])), start, stop)
    values = np.concatenate(([int(initial)], rows[:, TO]))
    return edges, values


def _allocated_node_hours(scenario: Scenario, j: int, log: np.ndarray, start: float, stop: float) -> float:
    """Node-hours the job's positions were held by an up node over [start, stop)."""
    first, size = scenario.job_offsets[j], scenario.training[j].nodes
    rows = _rows(log, SLOT)
    rows = rows[(rows[:, COMP] >= first) & (rows[:, COMP] < first + size)]
    rows = rows[(rows[:, FROM] == FILLED) | (rows[:, TO] == FILLED)]
    delta = np.where(rows[:, TO] == FILLED, 1.0, -1.0)
    return time_weighted_mean(rows[:, T], delta, float(size), start, stop) * (stop - start)


def _crew_utilization(log: np.ndarray, pool: int, crews: int, start: float, end: float) -> float:
    """Time-weighted fraction of the ``crews`` crews of crew pool ``pool`` that are busy."""
    rows = _rows(log, CREWS)
    rows = rows[rows[:, COMP] == pool]
    return time_weighted_mean(rows[:, T], rows[:, TO] - rows[:, FROM], 0.0, start, end) / crews


def _event_count(window_rows: np.ndarray, code: EventCode, cause: int | None = None) -> float:
    """EVENT rows of ``code`` (and ``cause``, if given) among rows already cut to the window."""
    hit = (window_rows[:, KIND] == EVENT) & (window_rows[:, TO] == int(code))
    if cause is not None:
        hit &= window_rows[:, CAUSE] == cause
    return float(np.count_nonzero(hit))


def _capacity_metrics(scenario: Scenario, log: np.ndarray, start: float, end: float) -> dict[str, float]:
    """Working positions held by an up node; without spares a position simply follows its node."""
    working = scenario.working_nodes
    if scenario.spares.hot + scenario.spares.cold:
        rows = _rows(log, SLOT)
        touches = (rows[:, FROM] == FILLED) | (rows[:, TO] == FILLED)
        rows = rows[touches]
        delta = np.where(rows[:, TO] == FILLED, 1.0, -1.0)
    else:
        rows = _rows(log, NODE)
        rows = rows[rows[:, COMP] < working]
        delta = np.where(rows[:, TO] == UP, 1.0, -1.0)
    filled = float(working) + np.cumsum(delta)
    mean = time_weighted_mean(rows[:, T], delta, float(working), start, end)
    short = time_at_level(rows[:, T], filled, float(working), start, end, lambda v: v < working)
    return {"capacity.availability": mean / working, "capacity.shortfall_hours": short}


def _spare_metrics(scenario: Scenario, log: np.ndarray, start: float, end: float) -> dict[str, float]:
    rows = _rows(log, POOL)
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


def _first_wait_for_spare(log: np.ndarray, start: float, end: float) -> float:
    """Hours from ``start`` until a working position first waited (for a positive time) for a usable
    spare; ``end − start`` if none ever did."""
    rows = _rows(log, SLOT)
    rows = rows[np.lexsort((np.arange(len(rows)), rows[:, COMP]))]
    waits = np.flatnonzero(rows[:, TO] == SLOT_WAITING)
    first = end
    for i in waits:
        same_slot_next = i + 1 < len(rows) and rows[i + 1, COMP] == rows[i, COMP]
        wait_end = rows[i + 1, T] if same_slot_next else end
        if wait_end > rows[i, T] and wait_end > start:
            first = min(first, max(rows[i, T], start))
    return float(first - start)


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
    half = float(stdtrit(n - 1, 0.975) * np.std(x, ddof=1) / math.sqrt(n))
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

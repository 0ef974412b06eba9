"""Records -> per-replication metrics -> means with Student-t 95 % intervals.

Pure functions of the record log (``clustersim.engine.records``). Time-weighted quantities
integrate a piecewise-constant level over [warmup, horizon); counts take events in that window.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

from clustersim.engine.records import EventCode, JobState, Kind, NodeState, RepairState, ReplicationRecords, SlotState
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
    "spares.warm_mean": MetricInfo("nodes", "time-weighted mean number of warm standbys ready (with spares.warm)"),
    "capacity.first_short_hours": MetricInfo(
        "h", "time from warmup until a working position first waited for a spare; horizon − warmup if never"),
    "repair.stage.<name>.count": MetricInfo("count", "repairs that entered this pipeline stage"),
    "repair.stage.<name>.crew_utilization": MetricInfo("fraction", "time-weighted fraction of the stage's crews busy"),
    "repair.escalations": MetricInfo("count", "repairs a stage handed on to the next stage"),
    "repair.false_successes": MetricInfo("count", "repairs that reported success but left the fault in place"),
    "repair.undiagnosed": MetricInfo("count", "detected failures not diagnosed: rebooted with the fault in place"),
    "repair.misdiagnoses": MetricInfo("count", "innocent nodes blamed (and repaired) for another node's failure"),
    "nodes.recurrences": MetricInfo("count", "failures of a fault left in place striking again"),
    "nodes.retired": MetricInfo("count", "nodes the retirement policy took out of the cluster"),
    "nodes.retired_healthy": MetricInfo("count", "retired nodes that were not lemons"),
    "nodes.lemons_retired_fraction": MetricInfo("fraction", "share of the lemons retired by the horizon"),
    "training.<job>.ettr": MetricInfo("fraction", "checkpointed compute time / wall time while the job runs"),
    "training.<job>.goodput": MetricInfo("fraction", "useful GPU-hours / GPU-hours allocated to the job"),
    "training.<job>.interruptions": MetricInfo("count", "times the job stopped (during compute, checkpoint or restart)"),
    "training.<job>.interruptions.<cause>": MetricInfo("count", "interruptions by one failure cause or preemption"),
    "training.<job>.lost_work_hours": MetricInfo("h", "computed work thrown away at interruptions"),
    "training.<job>.downtime_per_interruption_hours": MetricInfo(
        "h", "hours stopped or restarting per interruption"),
    "training.<job>.completion_hours": MetricInfo("h", "wall time to finish the job's work (jobs with work)"),
    "training.<job>.completed": MetricInfo("fraction", "1 if the job finished its work before the horizon, else 0"),
    "training.<job>.gpu_hours_wasted": MetricInfo("GPU-h", "allocated GPU-hours that produced no kept work"),
    "training.<job>.checkpoint_overhead_fraction": MetricInfo("fraction", "wall time spent in blocking checkpoints"),
}


def metric_info(name: str) -> MetricInfo:
    """The unit and meaning of a metric, including per-cause ``nodes.failures.<cause>``."""
    if name in METRICS:
        return METRICS[name]
    if name.startswith("nodes.failures."):
        return METRICS["nodes.failures.<cause>"]
    if name.startswith("repair.stage."):
        return METRICS["repair.stage.<name>." + name.rsplit(".", 1)[1]]
    if name.startswith("training."):
        parts = name.split(".")
        generic = "training.<job>." + ".".join(parts[2:3] + ["<cause>"] * (len(parts) > 3))
        return METRICS[generic]
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
        metrics["repair.crew_utilization"] = _crew_utilization(log, 0, scenario.repair.crews, start, end)
    metrics.update(_repair_outcome_metrics(scenario, log[in_window], start, end, log))
    metrics.update(_retirement_metrics(scenario, log, in_window))

    metrics.update(_capacity_metrics(scenario, log, start, end))
    if scenario.spares.hot + scenario.spares.cold:
        metrics.update(_spare_metrics(scenario, log, start, end))
    for j in range(len(scenario.training)):
        metrics.update(_training_metrics(scenario, j, log, start, end))
    return metrics


def _training_metrics(scenario: Scenario, j: int, log: np.ndarray, start: float, end: float) -> dict[str, float]:
    """ETTR, goodput, interruptions (by cause), lost work, downtime, completion, waste, checkpoint overhead."""
    spec = scenario.training[j]
    prefix = f"training.{spec.name}"
    job_rows = _rows(log, Kind.JOB)
    job_rows = job_rows[job_rows[:, COMP] == j]
    done = job_rows[job_rows[:, TO] == JobState.DONE, T]
    finished_at = float(done[0]) if len(done) else math.inf
    metrics: dict[str, float] = {}
    if spec.work is not None:
        metrics[f"{prefix}.completion_hours"] = finished_at if finished_at < end else math.nan
        metrics[f"{prefix}.completed"] = 1.0 if finished_at < end else 0.0
    stop = min(end, finished_at)
    if stop <= start:  # done before the window: nothing to measure in it
        return metrics
    wall = stop - start
    work_rows = _rows(log, Kind.WORK)
    work_rows = work_rows[work_rows[:, COMP] == j]
    # work credited in (start, stop]: a credit at time t is for work computed before t
    credited = work_rows[(work_rows[:, T] > start) & (work_rows[:, T] <= stop)]
    useful = float(np.sum(credited[:, TO] - credited[:, FROM]))
    in_window = (job_rows[:, T] >= start) & (job_rows[:, T] < stop)
    stops = job_rows[in_window & (job_rows[:, TO] == JobState.WAITING)
                     & np.isin(job_rows[:, FROM], [JobState.RESTARTING, JobState.COMPUTING, JobState.CHECKPOINTING])]
    lost_rows = _rows(log, Kind.LOST)
    lost_rows = lost_rows[(lost_rows[:, COMP] == j) & (lost_rows[:, T] >= start) & (lost_rows[:, T] < stop)]
    state_edges, state_values = _state_timeline(job_rows, JobState.WAITING, start, stop)
    def hours_in(*states: JobState) -> float:
        return float(np.sum(np.diff(state_edges)[np.isin(state_values, states)]))
    allocated = _allocated_node_hours(scenario, j, log, start, stop)
    gpus = scenario.nodes.gpus_per_node
    metrics[f"{prefix}.ettr"] = useful / wall
    metrics[f"{prefix}.goodput"] = useful * spec.nodes / allocated if allocated > 0 else math.nan
    metrics[f"{prefix}.interruptions"] = float(len(stops))
    for cause, name in _interruption_causes(scenario):
        metrics[f"{prefix}.interruptions.{name}"] = float(np.count_nonzero(stops[:, CAUSE] == cause))
    metrics[f"{prefix}.lost_work_hours"] = float(np.sum(lost_rows[:, TO]))
    metrics[f"{prefix}.downtime_per_interruption_hours"] = (
        hours_in(JobState.WAITING, JobState.RESTARTING) / len(stops) if len(stops) else math.nan)
    metrics[f"{prefix}.gpu_hours_wasted"] = (allocated - useful * spec.nodes) * gpus
    metrics[f"{prefix}.checkpoint_overhead_fraction"] = hours_in(JobState.CHECKPOINTING) / wall
    return metrics


def _state_timeline(rows: np.ndarray, initial: int, start: float, stop: float) -> tuple[np.ndarray, np.ndarray]:
    """Edges and values of a logged state over [start, stop): ``values[i]`` holds on ``[edges[i], edges[i+1])``."""
    edges = np.clip(np.concatenate(([start], rows[:, T], [stop])), start, stop)
    values = np.concatenate(([initial], rows[:, TO]))
    return edges, values


def _allocated_node_hours(scenario: Scenario, j: int, log: np.ndarray, start: float, stop: float) -> float:
    """Node-hours the job's positions were held by an up node over [start, stop)."""
    first, size = scenario.job_offsets[j], scenario.training[j].nodes
    rows = _rows(log, Kind.SLOT)
    rows = rows[(rows[:, COMP] >= first) & (rows[:, COMP] < first + size)]
    rows = rows[(rows[:, FROM] == SlotState.FILLED) | (rows[:, TO] == SlotState.FILLED)]
    delta = np.where(rows[:, TO] == SlotState.FILLED, 1.0, -1.0)
    return time_weighted_mean(rows[:, T], delta, float(size), start, stop) * (stop - start)


def _interruption_causes(scenario: Scenario) -> list[tuple[int, str]]:
    """Every cause that can interrupt a job: failure modes, domains, chaos, and preemption."""
    causes = list(enumerate(scenario.cause_names))
    if any(job.preempt for job in scenario.training):
        causes.append((scenario.preemption_cause, "preemption"))
    return causes


def _crew_utilization(log: np.ndarray, pool: int, crews: int, start: float, end: float) -> float:
    """Time-weighted fraction of the ``crews`` crews of crew pool ``pool`` that are busy."""
    rows = _rows(log, Kind.CREWS)
    rows = rows[rows[:, COMP] == pool]
    return time_weighted_mean(rows[:, T], rows[:, TO] - rows[:, FROM], 0.0, start, end) / crews


def _event_count(window_rows: np.ndarray, code: EventCode, cause: int | None = None) -> float:
    """EVENT rows of ``code`` (and ``cause``, if given) among rows already cut to the window."""
    hit = (window_rows[:, KIND] == Kind.EVENT) & (window_rows[:, TO] == code)
    if cause is not None:
        hit &= window_rows[:, CAUSE] == cause
    return float(np.count_nonzero(hit))


def _repair_outcome_metrics(scenario: Scenario, window_rows: np.ndarray, start: float, end: float,
                            log: np.ndarray) -> dict[str, float]:
    """Pipeline stages, escalations, false successes, diagnosis errors and recurrences."""
    repair = scenario.repair
    metrics: dict[str, float] = {}
    for s, stage in enumerate(repair.stages):
        prefix = f"repair.stage.{stage.name}"
        metrics[f"{prefix}.count"] = _event_count(window_rows, EventCode.STAGE_ENTERED, scenario.stage_cause(s))
        if stage.crews:
            metrics[f"{prefix}.crew_utilization"] = _crew_utilization(log, 1 + s, stage.crews, start, end)
    if repair.stages:
        metrics["repair.escalations"] = _event_count(window_rows, EventCode.ESCALATED)
        metrics["repair.false_successes"] = _event_count(window_rows, EventCode.FALSE_SUCCESS)
    if repair.diagnosis.probability < 1 or repair.diagnosis.wrong_node > 0:
        metrics["repair.undiagnosed"] = _event_count(window_rows, EventCode.UNDIAGNOSED)
        metrics["repair.misdiagnoses"] = _event_count(window_rows, EventCode.MISDIAGNOSED)
    if repair.recurs:
        metrics["nodes.recurrences"] = _event_count(window_rows, EventCode.RECURRED)
    return metrics


def _retirement_metrics(scenario: Scenario, log: np.ndarray, in_window: np.ndarray) -> dict[str, float]:
    """Nodes retired in the window, how many were healthy, and the share of lemons retired by the horizon."""
    if scenario.repair.retirement.policy == "never":
        return {}
    retired_rows = (log[:, KIND] == Kind.REPAIR) & (log[:, TO] == RepairState.RETIRED)
    lemon_rows = log[(log[:, KIND] == Kind.LEMON) & (log[:, FROM] == 0)]
    lemons = set(lemon_rows[:, COMP].astype(np.int64).tolist())
    retired_in_window = log[retired_rows & in_window][:, COMP].astype(np.int64)
    metrics = {
        "nodes.retired": float(len(retired_in_window)),
        "nodes.retired_healthy": float(sum(1 for node in retired_in_window.tolist() if node not in lemons)),
    }
    if scenario.nodes.lemon_count:
        retired_ever = set(log[retired_rows & (log[:, T] < scenario.simulation.horizon)][:, COMP].astype(np.int64).tolist())
        metrics["nodes.lemons_retired_fraction"] = len(retired_ever & lemons) / scenario.nodes.lemon_count
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
    metrics = {"spares.available_mean": available, "spares.exhausted_hours": exhausted,
               "spares.first_exhausted_hours": first,
               "capacity.first_short_hours": _first_wait_for_spare(log, start, end)}
    if scenario.spares.warm:
        warm = _rows(log, Kind.WARM)
        metrics["spares.warm_mean"] = time_weighted_mean(warm[:, T], warm[:, TO] - warm[:, FROM],
                                                         float(scenario.spares.warm), start, end)
    return metrics


def _first_wait_for_spare(log: np.ndarray, start: float, end: float) -> float:
    """Hours from ``start`` until a working position first waited (for a positive time) for a usable
    spare; ``end − start`` if none ever did."""
    rows = _rows(log, Kind.SLOT)
    rows = rows[np.lexsort((np.arange(len(rows)), rows[:, COMP]))]
    waits = np.flatnonzero(rows[:, TO] == SlotState.WAITING)
    first = end
    for i in waits:
        same_slot_next = i + 1 < len(rows) and rows[i + 1, COMP] == rows[i, COMP]
        wait_end = rows[i + 1, T] if same_slot_next else end
        if wait_end > rows[i, T] and wait_end > start:
            first = min(first, max(rows[i, T], start))
    return float(first - start)


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

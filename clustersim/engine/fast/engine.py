"""FastEngine: runs the numba kernel over replications, in parallel, and yields ReplicationOutcomes.

Replication k draws from ``Streams(seed, k).generator("fast")`` alone, so its numbers depend
only on (scenario, seed, k) — never on the worker count or on which other replications run.
Workers are threads: the kernel releases the GIL. Each outcome's ``simulate_s`` is that
replication's own kernel time (with several workers their sum exceeds the wall time).
"""
from __future__ import annotations

import math
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from clustersim.engine.fast.codes import TRACE_COLUMNS
from clustersim.engine.fast.compile import Plan, compile_plan
from clustersim.engine.fast.kernel import simulate
from clustersim.engine.fast.queue import STATUS_HEAP_FULL, STATUS_TRACE_FULL
from clustersim.engine.fast.tables import (
    A_CAPACITY, A_ESCALATIONS, A_FAILURES, A_FALSE_SUCCESSES, A_FIRST_EMPTY, A_FIRST_SHORT, A_LEMONS_RETIRED,
    A_MISDIAGNOSES, A_OUTAGE_N, A_OUTAGE_SUM, A_POOL, A_POOL_AT_START, A_RECURRENCES, A_RETIRED, A_RETIRED_HEALTHY,
    A_UNDIAGNOSED, A_UP, A_WAIT_N, A_WAIT_SUM, A_WARM, CA_ENTERED, CREW_ACC_COLS, CT_EVENTS, CT_STATUS, CT_TRACE_N,
    JA_CHECKPOINT_HOURS, JA_DONE_AT, JA_DOWN_HOURS, JA_END, JA_LOST, JA_STOPS, JA_USEFUL, JOB_ACC_COLS, L_AREA,
    L_LOW_HOURS,
)
from clustersim.engine.fast.support import refusal, unsupported_features
from clustersim.engine.base import ReplicationOutcome, require_event_log
from clustersim.errors import ClusterSimError
from clustersim.rng import Streams
from clustersim.scenario.schema import Scenario

STREAM = "fast"  # the replication's one random stream


@dataclass(frozen=True)
class KernelRun:
    """What the kernel returned for one replication."""

    acc: np.ndarray
    cause_count: np.ndarray
    crew_acc: np.ndarray       # per crew pool: its busy level (CREW_ACC_COLS columns), repairs entered
    job_acc: np.ndarray        # per job: JOB_ACC_COLS columns
    job_cause: np.ndarray      # per job and failure cause: interruptions
    events: int
    trace: np.ndarray | None   # the state-change log, when asked for
    simulate_s: float


def heap_capacity(plan: Plan) -> int:
    """Room for every component's pending event, twice over (a full heap reruns the replication bigger)."""
    return 2 * (2 * plan.nodes + plan.working + len(plan.domain_cause) + len(plan.crew_limit)
                + 3 * len(plan.job_size)) + 64


def run_kernel(plan: Plan, seed: int, replication: int, trace: bool = False, capacity: int | None = None) -> KernelRun:
    """One replication of ``plan``; reruns it (same draws) with more room if the heap or trace overflowed.

    ``trace``: also return the state-change log in the schema of model/records.py (tests hold it
    against SimPy's); ``capacity``: the event heap's initial room (default ``heap_capacity``).
    """
    capacity = capacity or heap_capacity(plan)
    trace_rows = 1024 if trace else 0
    simulate_s = 0.0
    while True:
        started = time.perf_counter()
        gen = Streams(seed, replication).generator(STREAM)
        rows = np.zeros((trace_rows, len(TRACE_COLUMNS)))
        acc, cause_count, ctr, crew_acc, job_acc, job_cause = simulate(plan, gen, capacity, rows)
        simulate_s += time.perf_counter() - started
        status = ctr[CT_STATUS]
        if status == STATUS_HEAP_FULL:
            capacity *= 2
        elif status == STATUS_TRACE_FULL:
            trace_rows *= 4
        else:
            return KernelRun(acc, cause_count, crew_acc.reshape(-1, CREW_ACC_COLS),
                             job_acc.reshape(-1, JOB_ACC_COLS), job_cause, int(ctr[CT_EVENTS]),
                             rows[: ctr[CT_TRACE_N]] if trace else None, simulate_s)


def replication_metrics(scenario: Scenario, run: KernelRun) -> dict[str, float]:
    """The metrics of ``stats.replication_metrics`` (same names, order, meaning) from the accumulators."""
    sim, spares, repair = scenario.simulation, scenario.spares, scenario.repair
    span = sim.horizon - sim.warmup
    acc = run.acc
    up_mean = float(acc[A_UP + L_AREA] / span)
    metrics = {"nodes.availability": up_mean / scenario.nodes.count, "nodes.up_mean": up_mean,
               "nodes.failures": float(acc[A_FAILURES])}
    for cause, name in enumerate(scenario.cause_names):
        metrics[f"nodes.failures.{name}"] = float(run.cause_count[cause])
    metrics["nodes.outage_mean_hours"] = _mean(acc[A_OUTAGE_SUM], acc[A_OUTAGE_N])
    if scenario.nodes.failure_modes:
        metrics["repair.wait_mean_hours"] = _mean(acc[A_WAIT_SUM], acc[A_WAIT_N])
    if repair.crews:
        metrics["repair.crew_utilization"] = float(run.crew_acc[0, L_AREA] / span) / repair.crews
    for s, stage in enumerate(repair.stages):
        metrics[f"repair.stage.{stage.name}.count"] = float(run.crew_acc[1 + s, CA_ENTERED])
        if stage.crews:
            busy = float(run.crew_acc[1 + s, L_AREA] / span)
            metrics[f"repair.stage.{stage.name}.crew_utilization"] = busy / stage.crews
    if repair.stages:
        metrics["repair.escalations"] = float(acc[A_ESCALATIONS])
        metrics["repair.false_successes"] = float(acc[A_FALSE_SUCCESSES])
    if repair.diagnosis.probability < 1 or repair.diagnosis.wrong_node > 0:
        metrics["repair.undiagnosed"] = float(acc[A_UNDIAGNOSED])
        metrics["repair.misdiagnoses"] = float(acc[A_MISDIAGNOSES])
    if repair.recurs:
        metrics["nodes.recurrences"] = float(acc[A_RECURRENCES])
    if repair.retirement.policy != "never":
        metrics["nodes.retired"] = float(acc[A_RETIRED])
        metrics["nodes.retired_healthy"] = float(acc[A_RETIRED_HEALTHY])
        if scenario.nodes.lemon_count:
            metrics["nodes.lemons_retired_fraction"] = float(acc[A_LEMONS_RETIRED]) / scenario.nodes.lemon_count
    metrics["capacity.availability"] = float(acc[A_CAPACITY + L_AREA] / span) / scenario.working_nodes
    metrics["capacity.shortfall_hours"] = float(acc[A_CAPACITY + L_LOW_HOURS])
    if spares.hot + spares.cold:
        first = acc[A_FIRST_EMPTY]
        metrics["spares.available_mean"] = float(acc[A_POOL + L_AREA] / span)
        metrics["spares.exhausted_hours"] = float(acc[A_POOL + L_LOW_HOURS])
        metrics["spares.first_exhausted_hours"] = (
            0.0 if acc[A_POOL_AT_START] == 0 else float(first) if first >= 0 else float(span))
        metrics["capacity.first_short_hours"] = float(acc[A_FIRST_SHORT] - sim.warmup)
        if spares.warm:
            metrics["spares.warm_mean"] = float(acc[A_WARM + L_AREA] / span)
    for j, job in enumerate(scenario.training):
        metrics.update(_job_metrics(scenario, j, run))
    return metrics


def _job_metrics(scenario: Scenario, j: int, run: KernelRun) -> dict[str, float]:
    """``stats._training_metrics`` of job ``j`` from its accumulators."""
    spec, sim = scenario.training[j], scenario.simulation
    ja = run.job_acc[j]
    prefix = f"training.{spec.name}"
    finished_at = float(ja[JA_DONE_AT])
    metrics: dict[str, float] = {}
    if spec.work is not None:
        metrics[f"{prefix}.completion_hours"] = finished_at if finished_at < sim.horizon else math.nan
        metrics[f"{prefix}.completed"] = 1.0 if finished_at < sim.horizon else 0.0
    stop = float(ja[JA_END])
    if stop <= sim.warmup:
        return metrics
    wall = stop - sim.warmup
    useful = float(ja[JA_USEFUL])
    allocated = float(ja[L_AREA])
    stops = float(ja[JA_STOPS])
    metrics[f"{prefix}.ettr"] = useful / wall
    metrics[f"{prefix}.goodput"] = useful * spec.nodes / allocated if allocated > 0 else math.nan
    metrics[f"{prefix}.interruptions"] = stops
    causes = list(enumerate(scenario.cause_names))
    if any(job.preempt for job in scenario.training):
        causes.append((scenario.preemption_cause, "preemption"))
    for cause, name in causes:
        metrics[f"{prefix}.interruptions.{name}"] = float(run.job_cause[j, cause])
    metrics[f"{prefix}.lost_work_hours"] = float(ja[JA_LOST])
    metrics[f"{prefix}.downtime_per_interruption_hours"] = float(ja[JA_DOWN_HOURS]) / stops if stops else math.nan
    metrics[f"{prefix}.gpu_hours_wasted"] = (allocated - useful * spec.nodes) * scenario.nodes.gpus_per_node
    metrics[f"{prefix}.checkpoint_overhead_fraction"] = float(ja[JA_CHECKPOINT_HOURS]) / wall
    return metrics


def _mean(total: float, count: float) -> float:
    return float(total / count) if count > 0 else math.nan


_compiled = False


def ensure_compiled() -> float:
    """Compile (or load from numba's cache) the kernel once per process; returns the seconds it took."""
    global _compiled
    if _compiled:
        return 0.0
    from clustersim.scenario.load import scenario_from_dict

    started = time.perf_counter()
    tiny = scenario_from_dict({"name": "warm-up", "simulation": {"horizon": "1 h"}, "nodes": {"count": 1}})
    run_kernel(compile_plan(tiny), 0, 0)
    _compiled = True
    return time.perf_counter() - started


class FastEngine:
    """The numba engine for the features ``support.unsupported_features`` does not list."""

    name = "fast"
    keeps_logs = False

    def __init__(self, workers: int | None = None):
        self.workers = workers  # None: numba.get_num_threads()

    def run(self, scenario: Scenario, replications: Sequence[int],
            keep_logs: bool = False) -> Iterator[ReplicationOutcome]:
        """Outcomes of ``replications`` in order; refuses at once what the engine cannot do."""
        if keep_logs:
            require_event_log(self)
        missing = unsupported_features(scenario)
        if missing:
            raise ClusterSimError(refusal(missing))
        plan = compile_plan(scenario)
        ensure_compiled()
        return self._outcomes(scenario, plan, list(replications))

    def _outcomes(self, scenario: Scenario, plan: Plan, replications: list[int]) -> Iterator[ReplicationOutcome]:
        workers = self.workers
        if workers is None:
            import numba

            workers = numba.get_num_threads()
        if workers <= 1 or len(replications) <= 1:
            for k in replications:
                yield self._one(scenario, plan, k)
            return
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="clustersim-fast")
        try:
            todo = iter(replications)
            pending: deque[Future] = deque()
            for k in todo:
                pending.append(pool.submit(self._one, scenario, plan, k))
                if len(pending) >= 2 * workers:
                    break
            while pending:
                outcome = pending.popleft().result()
                k = next(todo, None)
                if k is not None:
                    pending.append(pool.submit(self._one, scenario, plan, k))
                yield outcome
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    @staticmethod
    def _one(scenario: Scenario, plan: Plan, k: int) -> ReplicationOutcome:
        run = run_kernel(plan, scenario.simulation.seed, k)
        return ReplicationOutcome(k, replication_metrics(scenario, run), run.events,
                                  run.simulate_s)

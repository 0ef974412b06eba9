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

from clustersim.engine.fast.compile import Plan, compile_plan
from clustersim.engine.fast.kernel import (
    A_BUSY, A_CAPACITY, A_FAILURES, A_FIRST_EMPTY, A_FIRST_SHORT, A_OUTAGE_N, A_OUTAGE_SUM, A_POOL, A_POOL_AT_START, A_UP,
    A_WAIT_N, A_WAIT_SUM, CT_EVENTS, CT_STATUS, CT_TRACE_N, L_AREA, L_LOW_HOURS, STATUS_HEAP_FULL,
    STATUS_TRACE_FULL, simulate,
)
from clustersim.engine.fast.support import refusal, unsupported_features
from clustersim.engine.records import COLUMNS
from clustersim.engine.runner import ReplicationOutcome, require_event_log
from clustersim.errors import ClusterSimError
from clustersim.rng import Streams
from clustersim.scenario.schema import Scenario

STREAM = "fast"  # the replication's one random stream


@dataclass(frozen=True)
class KernelRun:
    """What the kernel returned for one replication."""

    acc: np.ndarray
    cause_count: np.ndarray
    events: int
    trace: np.ndarray | None   # the state-change log, when asked for
    simulate_s: float


def heap_capacity(plan: Plan) -> int:
    """Room for every component's pending event, twice over (a full heap reruns the replication bigger)."""
    return 2 * (plan.nodes + plan.working + len(plan.domain_cause) + len(plan.crew_limit)) + 64


def run_kernel(plan: Plan, seed: int, replication: int, trace: bool = False, capacity: int | None = None) -> KernelRun:
    """One replication of ``plan``; reruns it (same draws) with more room if the heap or trace overflowed.

    ``trace``: also return the state-change log in the schema of engine/records.py (tests hold it
    against SimPy's); ``capacity``: the event heap's initial room (default ``heap_capacity``).
    """
    capacity = capacity or heap_capacity(plan)
    trace_rows = 1024 if trace else 0
    simulate_s = 0.0
    while True:
        started = time.perf_counter()
        gen = Streams(seed, replication).generator(STREAM)
        rows = np.zeros((trace_rows, len(COLUMNS)))
        acc, cause_count, ctr = simulate(plan, gen, capacity, rows)
        simulate_s += time.perf_counter() - started
        status = ctr[CT_STATUS]
        if status == STATUS_HEAP_FULL:
            capacity *= 2
        elif status == STATUS_TRACE_FULL:
            trace_rows *= 4
        else:
            return KernelRun(acc, cause_count, int(ctr[CT_EVENTS]), rows[: ctr[CT_TRACE_N]] if trace else None,
                             simulate_s)


def replication_metrics(scenario: Scenario, acc: np.ndarray, cause_count: np.ndarray) -> dict[str, float]:
    """The metrics of ``stats.replication_metrics`` (same names, order, meaning) from the accumulators."""
    sim, spares = scenario.simulation, scenario.spares
    span = sim.horizon - sim.warmup
    up_mean = float(acc[A_UP + L_AREA] / span)
    metrics = {"nodes.availability": up_mean / scenario.nodes.count, "nodes.up_mean": up_mean,
               "nodes.failures": float(acc[A_FAILURES])}
    for cause, name in enumerate(scenario.cause_names):
        metrics[f"nodes.failures.{name}"] = float(cause_count[cause])
    metrics["nodes.outage_mean_hours"] = _mean(acc[A_OUTAGE_SUM], acc[A_OUTAGE_N])
    if scenario.nodes.failure_modes:
        metrics["repair.wait_mean_hours"] = _mean(acc[A_WAIT_SUM], acc[A_WAIT_N])
    if scenario.repair.crews:
        metrics["repair.crew_utilization"] = float(acc[A_BUSY + L_AREA] / span) / scenario.repair.crews
    metrics["capacity.availability"] = float(acc[A_CAPACITY + L_AREA] / span) / scenario.working_nodes
    metrics["capacity.shortfall_hours"] = float(acc[A_CAPACITY + L_LOW_HOURS])
    if spares.hot + spares.cold:
        first = acc[A_FIRST_EMPTY]
        metrics["spares.available_mean"] = float(acc[A_POOL + L_AREA] / span)
        metrics["spares.exhausted_hours"] = float(acc[A_POOL + L_LOW_HOURS])
        metrics["spares.first_exhausted_hours"] = (
            0.0 if acc[A_POOL_AT_START] == 0 else float(first) if first >= 0 else float(span))
        metrics["capacity.first_short_hours"] = float(acc[A_FIRST_SHORT] - scenario.simulation.warmup)
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
        return ReplicationOutcome(k, replication_metrics(scenario, run.acc, run.cause_count), run.events,
                                  run.simulate_s)

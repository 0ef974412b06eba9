"""FastEngine: runs the numba kernel over replications, in parallel, and yields ReplicationOutcomes.

Replication k draws from ``Streams(seed, k).generator("fast")`` alone, so its numbers depend
only on (scenario, seed, k) — never on the worker count or on which other replications run. The one
exception is where ``[storage]`` places its replicas at time 0: ``replica_placement`` draws it here, per
replication, with model/storage.place_replicas from the replication's ``storage/placement`` stream,
exactly as the SimPy model does — so both engines start from the same placement (what lets
deterministic storage scenarios give the same log in both), and the kernel stays free of it. So with the
target of a ``[[chaos]]`` injection aimed at random: ``chaos_targets`` draws every one from the entry's own
``chaos/<name>`` stream of the replication, as SimPy's model draws it.
Workers are threads: the kernel releases the GIL. Each outcome's ``simulate_s`` is that
replication's own kernel time (with several workers their sum exceeds the wall time).
"""
from __future__ import annotations

import contextlib
import math
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterator, Sequence

import numpy as np

from clustersim.engine.fast.codes import TRACE_COLUMNS
from clustersim.engine.fast.compile import Plan, compile_plan
from clustersim.engine.fast.tables import (
    A_AT_RISK, A_CAPACITY, A_COPIES, A_COPY_HOURS, A_CUT, A_DATA_LOSSES, A_UNDER, A_UNREADABLE, A_UNWRITABLE,
    A_ESCALATIONS, A_FAILURES, A_LINK_FAILURES, A_NET_LOST, A_SWITCH_FAILURES, A_FALSE_SUCCESSES,
    A_FIRST_EMPTY, A_FIRST_SHORT, A_LEMONS_RETIRED, A_MISDIAGNOSES, A_OUTAGE_N, A_OUTAGE_SUM, A_POOL, A_POOL_AT_START,
    A_RECURRENCES, A_RETIRED, A_RETIRED_HEALTHY, A_UNDIAGNOSED, A_UP, A_WAIT_N, A_WAIT_SUM, A_WARM, CA_ENTERED,
    CREW_ACC_COLS, CT_EVENTS, CT_STATUS, CT_TRACE_N, JA_CHECKPOINT_HOURS, JA_DONE_AT, JA_DOWN_HOURS, JA_END, JA_LOST,
    JA_STOPS, JA_USEFUL, JOB_ACC_COLS, L_AREA, L_LOW_HOURS, NT_BLAMED, NT_CREDITS, NT_FAILURES, NT_RETIRED_AT,
    NT_UP_HOURS, NT_UP_SINCE, N_HOLDS, N_LEMON, N_WAS_LEMON,
)
from clustersim.engine.fast.support import refusal, unsupported_features
from clustersim.engine.base import LogSink, ReplicationOutcome, require_event_log
from clustersim.errors import ClusterSimError
from clustersim.layout import MetricSpec, compiled_serving_gaps, layout_of
from clustersim.node_table import node_columns
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
    node_i: np.ndarray | None = None      # the node table's int columns at the horizon
    node_table: np.ndarray | None = None  # per node, nodes.parquet's accumulators (plan.node_table)
    cause_outage: np.ndarray | None = None  # per cause: hours and number of the node outages it began


def heap_capacity(plan: Plan) -> int:
    """Room for every component's pending event, twice over (a full heap reruns the replication bigger)."""
    return 2 * (2 * plan.nodes + plan.working + len(plan.domain_cause) + len(plan.crew_limit)
                + 4 * len(plan.job_size) + len(plan.net_switch_ttf) + len(plan.net_link_ttf)
                + 2 * plan.sto_servers + plan.sto_objects * plan.sto_replication + 3 * len(plan.chaos_action)) + 64


def replica_placement(scenario: Scenario, seed: int, replication: int) -> np.ndarray:
    """The servers of every object's replicas at time 0, (objects, replication): SimPy's placement of that
    replication (its ``storage/placement`` stream); an empty table without ``[storage]``."""
    spec = scenario.storage
    if spec is None:
        return np.zeros((0, 1), dtype=np.int64)
    from clustersim.model.storage import place_replicas

    rng = Streams(seed, replication).generator("storage/placement")
    return np.ascontiguousarray(place_replicas(spec, layout_of(scenario).server_racks, rng), dtype=np.int64)


def chaos_targets(scenario: Scenario, plan: Plan, seed: int, replication: int) -> np.ndarray:
    """The target of every chaos injection of the replication (plan.chaos_pick's order): the named one, or the one
    SimPy's model draws — ``integers(candidates)`` once per injection from the entry's own ``chaos/<name>``
    stream of the replication — so both engines aim every injection alike."""
    picks = plan.chaos_pick.copy()
    names = scenario.chaos_names
    for entry, choices in enumerate(plan.chaos_choices.tolist()):
        if choices > 0:
            first, last = int(plan.chaos_pick_ptr[entry]), int(plan.chaos_pick_ptr[entry + 1])
            rng = Streams(seed, replication).generator(f"chaos/{names[entry]}")
            picks[first:last] = rng.integers(choices, size=last - first)  # (the same draws as one at a time)
    return picks


def run_kernel(plan: Plan, seed: int, replication: int, trace: bool = False, capacity: int | None = None,
               placed: np.ndarray | None = None, picks: np.ndarray | None = None) -> KernelRun:
    """One replication of ``plan``; reruns it (same draws) with more room if the heap or trace overflowed.

    ``trace``: also return the state-change log in the schema of model/records.py (tests hold it
    against SimPy's); ``capacity``: the event heap's initial room (default ``heap_capacity``);
    ``placed``: the replicas' servers (``replica_placement``), required with ``[storage]``; ``picks``: the chaos
    injections' targets (``chaos_targets``), required when one is drawn at random.
    """
    if placed is None:
        if plan.sto_servers > 0:
            raise ValueError("run_kernel: a plan with [storage] needs its replica placement")
        placed = np.zeros((0, 1), dtype=np.int64)
    if picks is None:
        if np.any(plan.chaos_choices > 0):
            raise ValueError("run_kernel: a plan with a randomly aimed [[chaos]] entry needs its targets")
        picks = plan.chaos_pick
    from clustersim.engine.fast.kernel import simulate  # numba: imported only when a replication runs
    from clustersim.engine.fast.queue import STATUS_HEAP_FULL, STATUS_TRACE_FULL

    capacity = capacity or heap_capacity(plan)
    trace_rows = 65536 if trace else 0
    simulate_s = 0.0
    while True:
        started = time.perf_counter()
        gen = Streams(seed, replication).generator(STREAM)
        rows = np.zeros((trace_rows, len(TRACE_COLUMNS)))
        acc, cause_count, ctr, crew_acc, job_acc, job_cause, node_i, node_table, cause_outage = simulate(
            plan, gen, capacity, rows, placed, picks)
        simulate_s += time.perf_counter() - started
        status = ctr[CT_STATUS]
        if status == STATUS_HEAP_FULL:
            capacity *= 2
        elif status == STATUS_TRACE_FULL:
            trace_rows *= 4
        else:
            return KernelRun(acc, cause_count, crew_acc.reshape(-1, CREW_ACC_COLS),
                             job_acc.reshape(-1, JOB_ACC_COLS), job_cause, int(ctr[CT_EVENTS]),
                             rows[: ctr[CT_TRACE_N]] if trace else None, simulate_s, node_i,
                             node_table if plan.node_table else None, cause_outage)


def replication_metrics(scenario: Scenario, run: KernelRun,
                        served: dict[str, float | None] | None = None) -> dict[str, float]:
    """The scenario's metric plan (the names, order and meaning ``stats.replication_metrics`` gives) from
    the kernel's accumulators, and the services' metrics from ``served`` (``serve_on_trace``)."""
    measures = _KernelMeasures(scenario, run, served or {})
    metrics: dict[str, float] = {}
    for spec in layout_of(scenario).metrics:
        value = measures.measure(spec)
        if value is not None:
            metrics[spec.name] = value
    return metrics


class _KernelMeasures:
    """One method per ``MetricSpec.quantity`` (as ``measures.Measures`` has), reading the accumulators."""

    def __init__(self, scenario: Scenario, run: KernelRun, served: dict[str, float | None]) -> None:
        self.scenario, self.run, self.acc = scenario, run, run.acc
        self.served = served
        self.span = scenario.simulation.horizon - scenario.simulation.warmup

    def measure(self, spec: MetricSpec) -> float | None:
        """The value of ``spec`` in this replication (None: not measurable in it)."""
        return getattr(self, spec.quantity)(spec)

    def _level_mean(self, block: int | np.integer) -> float:
        return float(self.acc[block + L_AREA] / self.span)

    def _count(self, column: int | np.integer) -> float:
        return float(self.acc[column])

    # nodes
    def availability(self, spec: MetricSpec) -> float:
        return self._level_mean(A_UP) / self.scenario.nodes.count

    def up_mean(self, spec: MetricSpec) -> float:
        return self._level_mean(A_UP)

    def failures(self, spec: MetricSpec) -> float:
        return self._count(A_FAILURES)

    def failures_of_cause(self, spec: MetricSpec) -> float:
        return float(self.run.cause_count[spec.index])

    def outage_mean(self, spec: MetricSpec) -> float:
        return _mean(self.acc[A_OUTAGE_SUM], self.acc[A_OUTAGE_N])

    def outage_mean_of_cause(self, spec: MetricSpec) -> float:
        assert self.run.cause_outage is not None
        hours, count = self.run.cause_outage[spec.cause]
        return _mean(hours, count)

    # repair
    def crew_wait_mean(self, spec: MetricSpec) -> float:
        return _mean(self.acc[A_WAIT_SUM], self.acc[A_WAIT_N])

    def crew_utilization(self, spec: MetricSpec) -> float:
        repair = self.scenario.repair
        crews = repair.crews if spec.index == 0 else repair.stages[spec.index - 1].crews
        assert crews is not None  # the plan lists finite crew pools only
        return float(self.run.crew_acc[spec.index, L_AREA] / self.span) / crews

    def stage_entries(self, spec: MetricSpec) -> float:
        return float(self.run.crew_acc[1 + spec.index, CA_ENTERED])

    def escalations(self, spec: MetricSpec) -> float:
        return self._count(A_ESCALATIONS)

    def false_successes(self, spec: MetricSpec) -> float:
        return self._count(A_FALSE_SUCCESSES)

    def undiagnosed(self, spec: MetricSpec) -> float:
        return self._count(A_UNDIAGNOSED)

    def misdiagnoses(self, spec: MetricSpec) -> float:
        return self._count(A_MISDIAGNOSES)

    def recurrences(self, spec: MetricSpec) -> float:
        return self._count(A_RECURRENCES)

    # retirement
    def retired(self, spec: MetricSpec) -> float:
        return self._count(A_RETIRED)

    def retired_healthy(self, spec: MetricSpec) -> float:
        return self._count(A_RETIRED_HEALTHY)

    def lemons_retired_fraction(self, spec: MetricSpec) -> float:
        return self._count(A_LEMONS_RETIRED) / self.scenario.nodes.lemon_count

    # capacity and spares
    def capacity_availability(self, spec: MetricSpec) -> float:
        return self._level_mean(A_CAPACITY) / self.scenario.working_nodes

    def capacity_shortfall(self, spec: MetricSpec) -> float:
        return float(self.acc[A_CAPACITY + L_LOW_HOURS])

    def spares_available_mean(self, spec: MetricSpec) -> float:
        return self._level_mean(A_POOL)

    def spares_exhausted(self, spec: MetricSpec) -> float:
        return float(self.acc[A_POOL + L_LOW_HOURS])

    def spares_first_exhausted(self, spec: MetricSpec) -> float:
        first = self.acc[A_FIRST_EMPTY]
        return 0.0 if self.acc[A_POOL_AT_START] == 0 else float(first) if first >= 0 else float(self.span)

    def capacity_first_short(self, spec: MetricSpec) -> float:
        return float(self.acc[A_FIRST_SHORT] - self.scenario.simulation.warmup)

    def spares_warm_mean(self, spec: MetricSpec) -> float:
        return self._level_mean(A_WARM)

    # training jobs
    def _job(self, spec: MetricSpec) -> tuple[np.ndarray, float] | None:
        """The job's accumulators and its wall time in the window; None if it was done before the window."""
        ja = self.run.job_acc[spec.index]
        wall = float(ja[JA_END]) - self.scenario.simulation.warmup
        return (ja, wall) if wall > 0 else None

    def job_completion_hours(self, spec: MetricSpec) -> float:
        finished_at = float(self.run.job_acc[spec.index, JA_DONE_AT])
        return finished_at if finished_at < self.scenario.simulation.horizon else math.nan

    def job_completed(self, spec: MetricSpec) -> float:
        return 1.0 if float(self.run.job_acc[spec.index, JA_DONE_AT]) < self.scenario.simulation.horizon else 0.0

    def job_ettr(self, spec: MetricSpec) -> float | None:
        job = self._job(spec)
        return None if job is None else float(job[0][JA_USEFUL]) / job[1]

    def job_goodput(self, spec: MetricSpec) -> float | None:
        job = self._job(spec)
        if job is None:
            return None
        useful, allocated = float(job[0][JA_USEFUL]), float(job[0][L_AREA])
        return useful * self.scenario.training[spec.index].nodes / allocated if allocated > 0 else math.nan

    def job_interruptions(self, spec: MetricSpec) -> float | None:
        job = self._job(spec)
        return None if job is None else float(job[0][JA_STOPS])

    def job_interruptions_of_cause(self, spec: MetricSpec) -> float | None:
        return None if self._job(spec) is None else float(self.run.job_cause[spec.index, spec.cause])

    def job_lost_work_hours(self, spec: MetricSpec) -> float | None:
        job = self._job(spec)
        return None if job is None else float(job[0][JA_LOST])

    def job_downtime_per_interruption_hours(self, spec: MetricSpec) -> float | None:
        job = self._job(spec)
        if job is None:
            return None
        stops = float(job[0][JA_STOPS])
        return float(job[0][JA_DOWN_HOURS]) / stops if stops else math.nan

    def job_gpu_hours_wasted(self, spec: MetricSpec) -> float | None:
        job = self._job(spec)
        if job is None:
            return None
        useful, allocated = float(job[0][JA_USEFUL]), float(job[0][L_AREA])
        nodes = self.scenario.training[spec.index].nodes
        return (allocated - useful * nodes) * self.scenario.nodes.gpus_per_node

    def job_checkpoint_overhead_fraction(self, spec: MetricSpec) -> float | None:
        job = self._job(spec)
        return None if job is None else float(job[0][JA_CHECKPOINT_HOURS]) / job[1]

    # network
    def switch_failures(self, spec: MetricSpec) -> float:
        return self._count(A_SWITCH_FAILURES)

    def link_failures(self, spec: MetricSpec) -> float:
        return self._count(A_LINK_FAILURES)

    def nodes_cut_off_mean(self, spec: MetricSpec) -> float:
        return self._level_mean(A_CUT)

    def network_node_hours_lost(self, spec: MetricSpec) -> float:
        return self._count(A_NET_LOST)

    # storage
    def storage_read_availability(self, spec: MetricSpec) -> float:
        return float(self.acc[A_UNREADABLE + L_LOW_HOURS] / self.span)

    def storage_write_availability(self, spec: MetricSpec) -> float:
        return float(self.acc[A_UNWRITABLE + L_LOW_HOURS] / self.span)

    def storage_data_loss_events(self, spec: MetricSpec) -> float:
        return self._count(A_DATA_LOSSES)

    def storage_rereplication_hours(self, spec: MetricSpec) -> float:
        return _mean(self.acc[A_COPY_HOURS], self.acc[A_COPIES])

    def storage_objects_under_replicated_mean(self, spec: MetricSpec) -> float:
        return self._level_mean(A_UNDER)

    def storage_mttdl_hours(self, spec: MetricSpec) -> float | None:
        losses = self.acc[A_DATA_LOSSES]
        return float(self.acc[A_AT_RISK + L_AREA] / losses) if losses else None

    # inference
    def service(self, spec: MetricSpec) -> float | None:
        """An inference service's metric, as the serving model measured it on the kernel's timeline."""
        return self.served.get(spec.name)


def kernel_node_columns(scenario: Scenario, plan: Plan, run: KernelRun) -> dict[str, np.ndarray] | None:
    """nodes.parquet's columns from the kernel's node accumulators (None unless ``plan.node_table``)."""
    nt, node_i = run.node_table, run.node_i
    if nt is None or node_i is None:
        return None
    up = node_i[:, N_HOLDS] == 0
    open_span = np.where(up, plan.horizon - nt[:, NT_UP_SINCE], 0.0)
    credits = nt[:, NT_CREDITS] + (np.where(up, np.floor(open_span / plan.score_period), 0.0) if plan.scored else 0.0)
    was_lemon = node_i[:, N_WAS_LEMON] == 1  # (lemons are drawn at the start only: regeneration is refused)
    return node_columns(scenario, nt[:, NT_FAILURES], nt[:, NT_BLAMED], was_lemon, was_lemon,
                        node_i[:, N_LEMON] == 1, nt[:, NT_UP_HOURS] + open_span, credits, nt[:, NT_RETIRED_AT])


def _mean(total: float, count: float) -> float:
    return float(total / count) if count > 0 else math.nan


_compiled = False

# A first compile's seconds when this machine has not recorded one (a fresh cache on 2 cores, numba 0.68: 138 s
# with the fabric and the store in the kernel, 92 s before them); a compile records its own seconds beside the
# kernel's cache, for the next one's hint.
TYPICAL_COMPILE_SECONDS = 140.0
_COMPILE_RECORD = "clustersim-compile-seconds.txt"


def _compile_record() -> Path | None:
    """The file beside the kernel's numba cache that holds the last compile's seconds (None: no cache)."""
    from clustersim.engine.fast import kernel

    cache = getattr(kernel._run, "_cache", None)
    directory = getattr(cache, "_cache_path", None)
    return None if directory is None else Path(directory) / _COMPILE_RECORD


def expected_compile_seconds() -> float:
    """How long a compile of the kernel takes here: the last one recorded on this machine, else the typical figure."""
    record = _compile_record()
    try:
        return float(record.read_text()) if record is not None else TYPICAL_COMPILE_SECONDS
    except (OSError, ValueError):
        return TYPICAL_COMPILE_SECONDS


def compile_hint() -> str:
    """``~75 s`` / ``~3.4 min``: how long a compile usually takes here, for the terminal."""
    seconds = expected_compile_seconds()
    return f"~{seconds:.0f} s" if seconds < 90 else f"~{seconds / 60:.1f} min"


def ensure_compiled() -> float:
    """Compile (or load from numba's cache) the kernel once per process; returns the seconds it took.

    A compile (a cache miss) records its seconds for ``expected_compile_seconds``.
    """
    global _compiled
    if _compiled:
        return 0.0
    from clustersim.engine.fast import kernel
    from clustersim.scenario.load import scenario_from_dict

    started = time.perf_counter()
    tiny = scenario_from_dict({"name": "warm-up", "simulation": {"horizon": "1 h"}, "nodes": {"count": 1}})
    # (one compile serves every scenario: the Plan's fields keep their types with or without [storage])
    run_kernel(compile_plan(tiny), 0, 0)
    _compiled = True
    seconds = time.perf_counter() - started
    if kernel._run.stats.cache_misses:
        record = _compile_record()
        if record is not None:
            with contextlib.suppress(OSError):
                record.write_text(f"{seconds:.1f}\n")
    return seconds


class FastEngine:
    """The numba engine for the features ``support.unsupported_features`` does not list."""

    name = "fast"
    keeps_logs = False

    def __init__(self, workers: int | None = None):
        self.workers = workers  # None: numba.get_num_threads()

    def run(self, scenario: Scenario, replications: Sequence[int],
            keep_logs: bool | LogSink = False, node_table: bool = False) -> Iterator[ReplicationOutcome]:
        """Outcomes of ``replications`` in order; refuses at once what the engine cannot do."""
        if keep_logs:
            require_event_log(self)
        missing = unsupported_features(scenario)
        if missing:
            raise ClusterSimError(refusal(missing))
        plan = compile_plan(scenario)._replace(node_table=node_table)
        ensure_compiled()
        return self._outcomes(scenario, plan, list(replications))

    def _outcomes(self, scenario: Scenario, plan: Plan, replications: list[int]) -> Iterator[ReplicationOutcome]:
        if self.workers is None:
            import numba

            workers = int(numba.get_num_threads())
        else:
            workers = self.workers
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
                following = next(todo, None)
                if following is not None:
                    pending.append(pool.submit(self._one, scenario, plan, following))
                yield outcome
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    @staticmethod
    def _one(scenario: Scenario, plan: Plan, k: int) -> ReplicationOutcome:
        seed = scenario.simulation.seed
        serving = bool(scenario.inference)
        run = run_kernel(plan, seed, k, trace=serving, placed=replica_placement(scenario, seed, k),
                         picks=chaos_targets(scenario, plan, seed, k))
        started = time.perf_counter()
        served = serve_on_trace(scenario, k, run) if serving else None
        simulate_s = run.simulate_s + (time.perf_counter() - started if serving else 0.0)
        return ReplicationOutcome(k, replication_metrics(scenario, run, served), run.events,
                                  simulate_s, nodes=kernel_node_columns(scenario, plan, run))


def serve_on_trace(scenario: Scenario, replication: int, run: KernelRun) -> dict[str, float | None]:
    """The services' metrics on the kernel's timeline of their positions and the store, read from its trace:
    from the compiled serving loop, or the SimPy engine's own serving model for features it lacks."""
    from clustersim.engine.fast.serving.session import serve_compiled
    from clustersim.workloads.inference import serve
    from clustersim.workloads.inference.timeline import timeline_from_log

    assert run.trace is not None
    timeline = timeline_from_log(scenario, run.trace)
    if not compiled_serving_gaps(scenario):
        return serve_compiled(scenario, replication, timeline)[0]
    return serve(scenario, Streams(scenario.simulation.seed, replication), timeline, _no_row).metrics()


def _no_row(_row: tuple) -> None:
    """The fast engine keeps no log."""

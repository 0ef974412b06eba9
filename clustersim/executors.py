"""Where work runs: a local process pool (the default) or a Dask cluster; the same numbers either way.

Sweep points go out in chunks (several points per task), so ten thousand small points do not drown
in task overhead, and come back as each chunk finishes, in any order: callers key results by point
index, never by arrival. Each worker process pays its start-up (imports, loading the fast kernel)
once, on its first task, and runs one replication at a time (the fast engine on one thread): the
pool is the parallelism.

``ParallelEngine`` puts a scenario's own replications on a forked pool, one replication a task:
replication k draws from (seed, k) alone, so the numbers equal the serial run's bit for bit.
"""
from __future__ import annotations

import math
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any, Protocol, Self

from clustersim.engine.base import LogSink, ReplicationOutcome
from clustersim.errors import ClusterSimError
from clustersim.runner import RunResult
from clustersim.scenario.schema import Scenario

CHUNKS_PER_WORKER = 8     # tasks per worker over a whole job: enough to balance, few enough to amortize
MAX_CHUNK = 64            # points (or replications) per task at most: a kill loses at most this many per worker
TASKS_AHEAD = 2           # tasks queued per worker beyond the running one


def default_workers() -> int:
    """Every core this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def chunk_size(items: int, workers: int) -> int:
    """Items per task: about CHUNKS_PER_WORKER tasks per worker, at most MAX_CHUNK items each."""
    return max(1, min(MAX_CHUNK, math.ceil(items / max(1, workers * CHUNKS_PER_WORKER))))


def chunked(items: Sequence[Any], size: int) -> list[list[Any]]:
    """``items`` in consecutive lists of ``size`` (the last one shorter)."""
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def prepare_worker() -> None:
    """In a worker: from now on a point runs one replication at a time (the pool is the parallelism)."""
    global _prepared
    _prepared = True


_prepared = False


def _local_worker_init() -> None:
    """A local pool worker: Ctrl-C goes to the parent, which stops the pool; the worker never sees it. SIGTERM
    (the parent ending the pool early) ends it, whatever handler a forked worker inherited."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    prepare_worker()


class Executor(Protocol):
    """Runs ``fn`` over task arguments on workers; yields each task's result as it finishes."""

    workers: int

    def results(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        ...

    def __enter__(self) -> Self:
        ...

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        ...


class LocalExecutor:
    """A pool of ``workers`` processes on this machine (forkserver: started clean, without this process's threads);
    one worker runs the tasks in this process, in order, with no pool to start."""

    def __init__(self, workers: int | None = None, start_method: str = "forkserver") -> None:
        self.workers = workers or default_workers()
        self.start_method = start_method if start_method in multiprocessing.get_all_start_methods() else "spawn"
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> Self:
        if self.workers > 1:
            context = multiprocessing.get_context(self.start_method)
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context,
                                             initializer=_local_worker_init)
        return self

    def results(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        """Each task's result as it finishes; at most TASKS_AHEAD tasks per worker wait in the queue."""
        if self.workers == 1:
            for task in tasks:
                yield fn(task)
            return
        assert self._pool is not None, "enter the executor first"
        pool = self._pool
        todo = iter(tasks)
        pending: set[Future] = set()

        def top_up() -> None:
            while len(pending) < self.workers * (1 + TASKS_AHEAD):
                task = next(todo, _DONE)
                if task is _DONE:
                    return
                pending.add(pool.submit(fn, task))

        top_up()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                pending.discard(future)
                yield future.result()
            top_up()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if kind is None:
            pool.shutdown(wait=True)
            return
        # Stopped early (a signal, an error): drop what is queued and end the workers now.
        processes = list(getattr(pool, "_processes", {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=5)
        pool.shutdown(wait=True)  # the pool's queues and threads closed too (no semaphore left behind)


_DONE = object()


class DaskExecutor:
    """Tasks on a Dask distributed cluster: the one at ``scheduler`` (``tcp://HOST:PORT``), or a LocalCluster
    of ``workers`` single-threaded worker processes started for the job and stopped after it."""

    def __init__(self, scheduler: str | None = None, workers: int | None = None) -> None:
        self.scheduler = scheduler
        self.workers = workers or default_workers()
        self._client: Any = None
        self._cluster: Any = None

    def __enter__(self) -> Self:
        import logging

        try:
            from distributed import Client, LocalCluster
        except ImportError:  # pragma: no cover - a dependency of clustersim
            raise ClusterSimError("--executor dask: the dask[distributed] package is not installed") from None
        try:
            if self.scheduler is None:
                self._cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                             dashboard_address=":0", silence_logs=logging.ERROR)
                self._client = Client(self._cluster)
            else:
                self._client = Client(self.scheduler, timeout=10)
                self.workers = max(1, sum(self._client.nthreads().values()))
        except (OSError, ValueError, TypeError) as err:  # unreachable, timed out, or not an address
            self.__exit__(None, None, None)
            raise ClusterSimError(f"--scheduler {self.scheduler}: cannot reach the Dask scheduler: {err}") from None
        return self

    def results(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        """Each task's result as it finishes (dask's as_completed); tasks are submitted as the queue drains."""
        from distributed import as_completed

        todo = iter(tasks)
        window = self.workers * (1 + TASKS_AHEAD)
        first = [self._client.submit(fn, task, pure=False) for task in _take(todo, window)]
        if not first:
            return
        running = as_completed(first)
        for future in running:
            result = future.result()
            future.release()
            for task in _take(todo, 1):
                running.add(self._client.submit(fn, task, pure=False))
            yield result

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        try:
            if client is not None:
                client.close()
        finally:
            if cluster is not None:
                cluster.close()


def _take(items: Iterator[Any], count: int) -> list[Any]:
    out = []
    for _ in range(count):
        item = next(items, _DONE)
        if item is _DONE:
            break
        out.append(item)
    return out


def make_executor(kind: str, workers: int | None = None, scheduler: str | None = None) -> Executor:
    """``local`` (a process pool) or ``dask`` (``scheduler``, or a LocalCluster without one)."""
    if kind == "local":
        if scheduler is not None:
            raise ClusterSimError("--scheduler: only with --executor dask")
        return LocalExecutor(workers)
    if kind == "dask":
        return DaskExecutor(scheduler, workers)
    raise ClusterSimError(f"--executor: {kind!r} is not an executor; use local or dask")


# --- sweep points: the task a worker runs ----------------------------------------------------

@dataclass(frozen=True)
class PointOutcome:
    """A finished point: its per-replication metric rows, simulating seconds and model events."""

    index: int
    fingerprint: str
    rows: list[dict[str, float]]
    simulate_s: float
    events: int
    # metric -> [mean, ci95_low, ci95_high] (None bounds below 2 values), as the run summarized its rows
    estimates: dict[str, list[float | None]]


def run_point(scenario: Scenario) -> RunResult:
    """One point's replications (its engine; in a worker, one replication at a time), summarized."""
    from clustersim.engine.fast.engine import FastEngine
    from clustersim.runner import run_scenario

    # In a worker, one replication at a time: the pool is the parallelism (the point was checked against its
    # engine already). In this process (one local worker), the engine's own threads.
    single = _prepared and scenario.simulation.engine == "fast"
    result = run_scenario(scenario, engine=FastEngine(workers=1) if single else None)
    if not result.complete:
        raise KeyboardInterrupt
    return result


def run_points(task: list[tuple[int, str, Scenario]]) -> list[PointOutcome]:
    """A chunk of points, in a worker (or, with one local worker, in this process)."""
    if multiprocessing.parent_process() is not None:  # a pool's or a LocalCluster's worker process
        prepare_worker()
    outcomes = []
    for index, fingerprint, scenario in task:
        result = run_point(scenario)  # estimated here, in the worker, not by the parent for every point
        estimates = {name: [e.mean, e.ci95_low, e.ci95_high] for name, e in result.estimates.items()}
        outcomes.append(PointOutcome(index, fingerprint, result.rows, result.simulate_s, result.events, estimates))
    return outcomes


def run_all(scenarios: Sequence[Scenario], executor: Executor,
            progress: Callable[[int], None] | None = None) -> list[PointOutcome]:
    """Every scenario's replications on ``executor`` (chunked, as a sweep's points), in the order given;
    ``progress`` gets the count finished."""
    points = [(index, "", scenario) for index, scenario in enumerate(scenarios)]
    finished: dict[int, PointOutcome] = {}
    with executor:
        for outcomes in executor.results(run_points, chunked(points, chunk_size(len(points), executor.workers))):
            finished.update((o.index, o) for o in outcomes)
            if progress:
                progress(len(finished))
    return [finished[i] for i in range(len(scenarios))]


# --- a scenario's replications on a process pool -----------------------------------------------

@dataclass(frozen=True)
class _ReplicationTask:
    scenario: Scenario
    replications: tuple[int, ...]
    keep_logs: bool
    node_table: bool = False


def _run_replications(task: _ReplicationTask) -> list[ReplicationOutcome]:
    """In a worker: the task's replications on the scenario's own (serial) engine."""
    from clustersim.engine.select import engine_for

    return list(engine_for(task.scenario).run(task.scenario, task.replications, task.keep_logs, task.node_table))


def _streamed_to(sink: LogSink, outcome: ReplicationOutcome) -> ReplicationOutcome:
    """Hand the outcome's log to ``sink`` and return the outcome without it (the sink holds the rows)."""
    if outcome.records is not None:
        sink.rows(outcome.replication, outcome.records.log)
    return replace(outcome, records=None)


class ParallelEngine:
    """An engine whose replications run on a local process pool, chunked; outcomes come as chunks finish.

    The pool starts on the first ``run`` and serves every later one (an adaptive run's batches); ``close``
    (or leaving the ``with`` block) stops it.
    """

    def __init__(self, inner_name: str, keeps_logs: bool, workers: int) -> None:
        self.name = inner_name
        self.keeps_logs = keeps_logs
        self.workers = workers
        self._executor: LocalExecutor | None = None

    def run(self, scenario: Scenario, replications: Sequence[int],
            keep_logs: bool | LogSink = False, node_table: bool = False) -> Iterator[ReplicationOutcome]:
        """Outcomes as chunks finish (each with its node table when ``node_table``); a LogSink (--events) is
        handed each replication's log here, in this process, as its outcome arrives (a worker returns the log,
        this process streams it on and drops it)."""
        sink = None if isinstance(keep_logs, bool) else keep_logs
        if self._executor is None:
            # Forked: a worker starts with this process's modules loaded, so the first replications come about
            # as soon as they would serially (the workers run only the engine, never this process's threads' code).
            self._executor = LocalExecutor(self.workers, start_method="fork").__enter__()
        # One replication a task: a SimPy replication takes far longer than a task's round trip (~1 ms), and the
        # run takes outcomes in index order, so small tasks keep the results (and a stopped run's rows) coming.
        tasks = (_ReplicationTask(scenario, (k,), keep_logs is not False, node_table) for k in replications)
        try:
            for outcomes in self._executor.results(_run_replications, tasks):
                for outcome in outcomes:
                    yield _streamed_to(sink, outcome) if sink is not None else outcome
        except BaseException:  # a stop signal, an error, or the caller done early: queued work is dropped
            self.close(failed=True)
            raise

    def close(self, failed: bool = False) -> None:
        """Stop the pool (at once, dropping queued work, when ``failed``)."""
        executor, self._executor = self._executor, None
        if executor is not None:
            error = KeyboardInterrupt if failed else None
            executor.__exit__(error, None, None)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close(failed=kind is not None)

"""The full engine: one SimPy environment per replication, the Cluster model and its jobs, the record stream.

The model's rows go, a chunk at a time, to ``clustersim.measures.Measures`` (the replication's
metrics) and, when asked, to a log sink (the --events file, or a log kept in memory); the
whole log is never held otherwise.
"""
from __future__ import annotations

import gc
import math
from array import array
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import simpy

from clustersim.engine.base import LogSink, ReplicationOutcome
from clustersim.measures import Measures
from clustersim.model.records import COLUMNS, EventCode, Kind, ReplicationRecords
from clustersim.model.base import Context
from clustersim.model.cluster import Cluster
from clustersim.node_table import NodeTable
from clustersim.rng import Streams
from clustersim.scenario.schema import Scenario
from clustersim.series import WindowSeries
from clustersim.workloads.inference import serve, tap_inference
from clustersim.workloads.training import close_training, start_training

EVENT, ABORTED = Kind.EVENT.value, EventCode.ABORTED.value
CHUNK_ROWS = 32768  # rows buffered before they are handed on (1.5 MB): small beside the model, few numpy calls

Rows = Callable[[np.ndarray], None]  # takes the next rows (shape (n, 6)) of one replication's log


class SimpyEngine:
    """The full model, one SimPy environment per replication; metrics measured as its rows stream."""

    name = "simpy"
    keeps_logs = True

    def run(self, scenario: Scenario, replications: Sequence[int],
            keep_logs: bool | LogSink = False, node_table: bool = False) -> Iterator[ReplicationOutcome]:
        """Outcomes of ``replications`` in order; ``keep_logs``: True keeps each log in the outcome, a LogSink
        is handed each replication's rows as they come; ``node_table``: each outcome carries its node table."""
        for k in replications:
            kept: list[np.ndarray] = []
            to: list[Rows] = []
            table = NodeTable(scenario) if node_table else None
            if table is not None:
                to.append(table.consume)
            if keep_logs is True:
                to.append(kept.append)
            elif keep_logs is not False:
                to.append(_rows_of(keep_logs, k))
            series = WindowSeries(scenario) if scenario.simulation.series_window is not None else None
            measures, simulate_s = simulate_replication(scenario, k, to, series=series)
            records = ReplicationRecords(k, _joined(kept), simulate_s) if keep_logs is True else None
            nodes = table.columns() if table is not None else None
            yield ReplicationOutcome(k, measures.metrics(), measures.events, simulate_s, records, nodes,
                                     series.series() if series is not None else None)


def run_replication(scenario: Scenario, replication: int) -> ReplicationRecords:
    """Simulate replication ``replication`` of ``scenario`` over [0, horizon), keeping its whole log."""
    kept: list[np.ndarray] = []
    _, simulate_s = simulate_replication(scenario, replication, [kept.append])
    return ReplicationRecords(replication=replication, log=_joined(kept), simulate_s=simulate_s)


def simulate_replication(scenario: Scenario, replication: int, to: Sequence[Rows] = (),
                         chunk_rows: int = CHUNK_ROWS, series: WindowSeries | None = None) -> tuple[Measures, float]:
    """Simulate one replication, measuring it as it runs; each chunk of rows also goes to every one of ``to``
    (``series``, among them, also takes the services' series).

    Returns the finished ``Measures`` and the seconds it took (measuring included)."""
    started = time.perf_counter()
    measures = Measures(scenario)
    with _young_garbage_collected_at_end():
        stream = _RowStream([measures.consume, *([series.consume] if series is not None else []), *to], chunk_rows)
        env = simpy.Environment()
        ctx = Context(env, stream.record)
        streams = Streams(scenario.simulation.seed, replication)
        abort = _Abort(env)
        if scenario.abort:
            assert series is not None  # [[abort]] needs simulation.series_window (cross_checks)
            env.process(_watch_aborts(env, scenario, stream, series, abort))
        cluster = Cluster(ctx, scenario, streams, abort.fired)
        jobs = start_training(ctx, scenario, cluster.slots, cluster.storage)
        tap = tap_inference(ctx, scenario, cluster.slots, cluster.storage)
        env.run(until=scenario.simulation.horizon)
        close_training(jobs)
        stream.flush()
        if tap is not None:  # the services, on the cluster's timeline: their rows (not the metrics') come after
            served = _RowStream(to, chunk_rows)
            serving = serve(scenario, streams, tap.timeline(), served.record,
                            injections_until=abort.at if abort.at is not None else math.inf)
            served.flush()
            measures.take_inference(serving.metrics(), serving.requests_events)
            if series is not None:
                series.take_inference(serving.series())
            del serving
        measures.finish()
        del env, ctx, cluster, jobs, stream, tap, abort  # nothing of the model left for the collection to miss
    return measures, time.perf_counter() - started


class _Abort:
    """Has an [[abort]] condition stopped the chaos injections? (None starts after the abort's instant; one at
    that very instant still does, whichever SimPy runs first.)"""

    __slots__ = ("at", "env")

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.at: float | None = None

    def fired(self) -> bool:
        return self.at is not None and self.env.now > self.at


def _watch_aborts(env: simpy.Environment, scenario: Scenario, stream: _RowStream, series: WindowSeries,
                  abort: _Abort):
    """SimPy process: as each series window closes, its metrics are read; once one meets an [[abort]]
    condition the injections stop (an EVENT row records when)."""
    for w, (_, end) in enumerate(series.windows):
        yield env.timeout(end - env.now)
        stream.flush()  # every row before the window's end reaches its measures
        values = series.window_metrics(w)
        if any(condition.crossed(values.get(condition.metric)) for condition in scenario.abort):
            abort.at = env.now
            stream.record((env.now, EVENT, 0, 0, ABORTED, -1))
            return


class _RowStream:
    """The record callback: rows into a small flat buffer (8 bytes a value, no float objects), handed on
    to every consumer a chunk at a time."""

    __slots__ = ("_values", "_limit", "_to")

    def __init__(self, to: Sequence[Rows], chunk_rows: int) -> None:
        self._values = array("d")
        self._limit = chunk_rows * len(COLUMNS)
        self._to = tuple(to)

    def record(self, row: tuple) -> None:
        """Append one (time, kind, component, from, to, cause) row."""
        values = self._values
        values.extend(row)
        if len(values) >= self._limit:
            self.flush()

    def flush(self) -> None:
        """Hand the buffered rows on (a fresh buffer takes the next: consumers may keep a view)."""
        if not self._values:
            return
        rows = np.frombuffer(self._values, dtype=np.float64).reshape(-1, len(COLUMNS))
        self._values = array("d")
        for take in self._to:
            take(rows)


def _rows_of(sink: LogSink, replication: int) -> Rows:
    """The callback that hands ``sink`` the rows of replication ``replication``."""
    def take(rows: np.ndarray) -> None:
        sink.rows(replication, rows)
    return take


def _joined(chunks: list[np.ndarray]) -> np.ndarray:
    """A kept log's chunks as one (rows, 6) array, in time order (the services' rows come after the cluster's:
    a stable sort puts them in place, rows of one instant keeping the order they were made in)."""
    if not chunks:
        return np.empty((0, len(COLUMNS)))
    log = np.concatenate(chunks)
    times = log[:, 0]
    if len(times) > 1 and np.any(times[1:] < times[:-1]):
        log = log[np.argsort(times, kind="stable")]
    return log


@contextmanager
def _young_garbage_collected_at_end() -> Iterator[None]:
    """Pause automatic garbage collection for one replication, then collect what it left.

    A replication's model (processes, events, nodes) is one big reference cycle that lives
    until the run ends, so automatic collections during the run only re-scan it, and it is
    promoted to the oldest generation whose full collections (every second replication or so)
    cost ~40 ms on the benchmark — about a third of the run time. Paused, everything the
    replication allocated stays in the youngest generation and one young collection at the
    end frees it (its cost is counted in ``simulate_s``). The model creates no cyclic garbage
    per event (whatever a step leaves behind is freed by reference counting), so memory does
    not grow while collection is paused; a component that did would need its cycles broken.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.collect(0)
        if was_enabled:
            gc.enable()

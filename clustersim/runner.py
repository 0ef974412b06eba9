"""One run of a scenario: replications through the engine, then statistics; no I/O here.

A fixed run asks the engine for its ``replications`` indices (at once, unless a batch size is
given). An adaptive run (with ``simulation.precision``) asks for batches and applies the stopping
rule of ``clustersim.adaptive`` after every replication, in index order; outcomes past the
stopping point are never taken, so the result does not depend on the batch sizes.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Self

from clustersim.adaptive import (
    PrecisionOutcome, PrecisionTarget, precision_outcome, precision_target, replication_batches, should_stop,
    unknown_metric_problems,
)
from clustersim.model.records import ReplicationRecords
from clustersim.engine.base import Engine, LogSink, ReplicationOutcome
from clustersim.engine.select import engine_for
from clustersim.errors import ScenarioError
from clustersim.layout import layout_of
from clustersim.scenario.schema import Scenario
from clustersim.stats import Estimate, summarize

if TYPE_CHECKING:
    import numpy as np

Progress = Callable[[int], None]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """A stop signal (SIGINT or SIGTERM) raised as Ctrl-C is; ``signum`` says which (exit status 128 + signum)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class StopSignals:
    """SIGINT and SIGTERM while a command runs, both honoured the same way.

    Inside ``interruptible()`` (the replications) the first one raises ``Interrupted``, so the run
    keeps what finished; anywhere else (loading, summarizing, writing files) it is only remembered,
    so nothing is left half-done, and an ``interruptible()`` entered later raises at once. Later
    signals are remembered away: ``first`` is the first one received. Handlers are installed (main
    thread only) for the duration of the ``with`` block; the previous ones come back after it.
    """

    def __init__(self) -> None:
        self.first: int | None = None
        self._window = False
        self._previous: dict[int, object] = {}
        self._outer: StopSignals | None = None

    @property
    def exit_status(self) -> int | None:
        """128 + the first signal's number (130 for SIGINT, 143 for SIGTERM); None when none came."""
        return None if self.first is None else 128 + self.first

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.first is None:
            self.first = signum
            if self._window:
                self._window = False
                raise Interrupted(signum)

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """The stretch a stop signal may cut short (raising ``Interrupted``); one already received raises now."""
        if self.first is not None:
            raise Interrupted(self.first)
        self._window = True
        try:
            yield
        finally:
            self._window = False

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Inside ``interruptible()``, a stretch a stop signal must not cut (keeping one replication's row
        and log together): a signal arriving in it is raised when it ends."""
        was_open, self._window = self._window, False
        try:
            yield
        except BaseException:
            self._window = was_open
            raise
        self._window = was_open
        if was_open and self.first is not None:
            self._window = False
            raise Interrupted(self.first)

    def __enter__(self) -> Self:
        global _active
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        self._outer, _active = _active, self
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        global _active
        _active = self._outer
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self._previous.clear()


_active: StopSignals | None = None


def _interruptible() -> contextlib.AbstractContextManager[None]:
    """The active StopSignals' interruptible stretch (without one, Python's own Ctrl-C handling applies)."""
    return _active.interruptible() if _active is not None else contextlib.nullcontext()


def _deferred() -> contextlib.AbstractContextManager[None]:
    """The active StopSignals' uncuttable stretch (without one, nothing changes)."""
    return _active.deferred() if _active is not None else contextlib.nullcontext()


@dataclass
class RunResult:
    """What a run produced, ready to be written: per-replication rows and their estimates."""

    scenario: Scenario
    rows: list[dict[str, float]]
    estimates: dict[str, Estimate]
    simulate_s: float
    events: int
    complete: bool = True
    logs: list[ReplicationRecords] = field(default_factory=list)
    precision: PrecisionOutcome | None = None  # adaptive runs only
    nodes: list[dict[str, np.ndarray]] = field(default_factory=list)  # per replication kept, with node_table
    series: list[dict[str, list[float | None]]] = field(default_factory=list)  # per replication, with series_window


@dataclass
class _Taken:
    """The outcomes a run keeps, in replication order."""

    rows: list[dict[str, float]] = field(default_factory=list)
    logs: list[ReplicationRecords] = field(default_factory=list)
    nodes: list[dict[str, np.ndarray]] = field(default_factory=list)
    series: list[dict[str, list[float | None]]] = field(default_factory=list)
    simulate_s: float = 0.0
    events: int = 0
    sink: LogSink | None = None  # where the logs stream (--events), told which replications are kept

    def add(self, outcome: ReplicationOutcome) -> None:
        """Keep one replication's metrics, log, events and simulating time."""
        self.rows.append(outcome.metrics)
        self.simulate_s += outcome.simulate_s
        self.events += outcome.events
        if outcome.records is not None:
            self.logs.append(outcome.records)
        if outcome.nodes is not None:
            self.nodes.append(outcome.nodes)
        if outcome.series is not None:
            self.series.append(outcome.series)
        if self.sink is not None:
            self.sink.keep(outcome.replication)


def run_scenario(scenario: Scenario, keep_logs: bool | LogSink = False, progress: Progress | None = None,
                 batch_size: int | None = None, source: str = "<scenario>", engine: Engine | None = None,
                 node_table: bool = False) -> RunResult:
    """Run the replications the scenario asks for; on Ctrl-C (or a stop signal of an active ``StopSignals``),
    return what finished so far marked incomplete.

    ``batch_size`` is how many replications to request from the engine at a time (an adaptive
    run's first request is always min_replications); None asks for a fixed run's replications at
    once and for growing batches in an adaptive run. It changes no number in the result.
    ``source`` names the scenario file in a ScenarioError about ``precision_metrics``. ``keep_logs``: True keeps
    every replication's state-change log in ``RunResult.logs``; a ``LogSink`` (the --events file) takes the rows
    as they are simulated and is told which replications the run keeps; False keeps none. ``engine``: the engine
    to run on (default ``engine_for(scenario)``), e.g. ``executors.ParallelEngine`` for a process pool.
    ``node_table``: keep every replication's node table (``RunResult.nodes``, for nodes.parquet).
    """
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    engine = engine or engine_for(scenario)
    target = precision_target(scenario.simulation)
    taken = _Taken(sink=None if isinstance(keep_logs, bool) else keep_logs)
    complete = True
    try:
        with _interruptible():
            if target is None:
                _run_in_order(engine, scenario, _fixed_batches(scenario, batch_size), keep_logs, taken, progress,
                              done=lambda rows: False, node_table=node_table)
            else:
                _run_in_order(engine, scenario, replication_batches(target, batch_size), keep_logs, taken,
                              progress, done=lambda rows: _adaptive_done(rows, target, source), node_table=node_table)
    except KeyboardInterrupt:
        complete = False
    precision = None if target is None else precision_outcome(taken.rows, target)
    summary = summarize(taken.rows, layout_of(scenario).metrics)
    return RunResult(scenario, taken.rows, summary, taken.simulate_s, taken.events, complete, taken.logs, precision,
                     taken.nodes, taken.series)


def _fixed_batches(scenario: Scenario, batch_size: int | None) -> Iterator[range]:
    """A fixed run's replication indices, ``batch_size`` at a time (None: all in one request)."""
    count = scenario.simulation.replications
    assert count is not None  # filled with its default when there is no precision
    size = batch_size or count
    for start in range(0, count, size):
        yield range(start, min(count, start + size))


def _adaptive_done(rows: list[dict[str, float]], target: PrecisionTarget, source: str) -> bool:
    """The stopping rule after each replication; the first one also shows whether every precision metric exists."""
    if len(rows) == 1:
        problems = unknown_metric_problems(target.metrics, rows[0])
        if problems:
            raise ScenarioError(source, problems)
    return should_stop(rows, target)


def _run_in_order(engine: Engine, scenario: Scenario, batches: Iterable[range], keep_logs: bool | LogSink,
                  taken: _Taken, progress: Progress | None, done: Callable[[list[dict[str, float]]], bool],
                  node_table: bool = False) -> None:
    """Request batch after batch and take outcomes in index order until ``done``; later outcomes are dropped.

    An engine may yield a batch's outcomes in any order (a parallel one yields them as they finish),
    so outcomes wait in ``arrived`` until every lower index has been taken.
    """
    for batch in batches:
        arrived: dict[int, ReplicationOutcome] = {}
        for outcome in engine.run(scenario, batch, keep_logs, node_table):
            arrived[outcome.replication] = outcome
            while len(taken.rows) in arrived:
                with _deferred():  # a replication's row, log and counts are taken whole or not at all
                    taken.add(arrived.pop(len(taken.rows)))
                if progress:
                    progress(len(taken.rows))
                if done(taken.rows):
                    return
        if len(taken.rows) != batch.stop:
            raise RuntimeError(f"the {engine.name} engine did not return replication {len(taken.rows)} of {batch}")

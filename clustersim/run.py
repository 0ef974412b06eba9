"""One run of a scenario: replications through the engine, then statistics; no I/O here.

A fixed run asks the engine for ``replications`` indices at once. An adaptive run (with
``simulation.precision``) asks for batches and applies the stopping rule of
``clustersim.adaptive`` after every replication, in index order; outcomes past the stopping
point are never taken, so the result does not depend on the batch sizes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from clustersim.adaptive import (
    PrecisionTarget, precision_outcome, precision_target, replication_batches, should_stop, unknown_metric_problems,
)
from clustersim.engine.records import ReplicationRecords
from clustersim.engine.runner import Engine, ReplicationOutcome, engine_for
from clustersim.errors import ScenarioError
from clustersim.report.results import RunResult
from clustersim.scenario.schema import Scenario
from clustersim.stats import summarize

Progress = Callable[[int], None]


@dataclass
class _Taken:
    """The outcomes a run keeps, in replication order."""

    rows: list[dict[str, float]] = field(default_factory=list)
    logs: list[ReplicationRecords] = field(default_factory=list)
    simulate_s: float = 0.0
    events: int = 0

    def add(self, outcome: ReplicationOutcome) -> None:
        """Keep one replication's metrics, log, events and simulating time."""
        self.rows.append(outcome.metrics)
        self.simulate_s += outcome.simulate_s
        self.events += outcome.events
        if outcome.records is not None:
            self.logs.append(outcome.records)


def run_scenario(scenario: Scenario, keep_logs: bool = False, progress: Progress | None = None,
                 batch_size: int | None = None, source: str = "<scenario>") -> RunResult:
    """Run the replications the scenario asks for; on Ctrl-C, return what finished so far marked incomplete.

    ``batch_size`` is how many replications an adaptive run requests from the engine at a time
    after the first min_replications (None: growing batches); it changes no number in the result.
    ``source`` names the scenario file in a ScenarioError about ``precision_metrics``.
    """
    engine = engine_for(scenario)
    target = precision_target(scenario.simulation)
    taken = _Taken()
    complete = True
    try:
        if target is None:
            _run_fixed(engine, scenario, keep_logs, taken, progress)
        else:
            _run_adaptive(engine, scenario, target, keep_logs, batch_size, source, taken, progress)
    except KeyboardInterrupt:
        complete = False
    precision = None if target is None else precision_outcome(taken.rows, target)
    return RunResult(scenario, taken.rows, summarize(taken.rows), taken.simulate_s, taken.events, complete,
                     taken.logs, precision)


def _run_fixed(engine: Engine, scenario: Scenario, keep_logs: bool, taken: _Taken, progress: Progress | None) -> None:
    """Every replication of a fixed-count run, in one request."""
    assert scenario.simulation.replications is not None
    for outcome in engine.run(scenario, range(scenario.simulation.replications), keep_logs):
        _take(outcome, taken, progress)


def _run_adaptive(engine: Engine, scenario: Scenario, target: PrecisionTarget, keep_logs: bool,
                  batch_size: int | None, source: str, taken: _Taken, progress: Progress | None) -> None:
    """Replications batch by batch, taken in index order until the stopping rule holds; the rest are dropped.

    An engine may yield a batch's outcomes in any order (a parallel one yields them as they finish),
    so outcomes wait in ``arrived`` until every lower index has been taken.
    """
    for batch in replication_batches(target, batch_size):
        arrived: dict[int, ReplicationOutcome] = {}
        for outcome in engine.run(scenario, batch, keep_logs):
            arrived[outcome.replication] = outcome
            while len(taken.rows) in arrived:
                _take(arrived.pop(len(taken.rows)), taken, progress)
                if len(taken.rows) == 1:
                    problems = unknown_metric_problems(target.metrics, taken.rows[0])
                    if problems:
                        raise ScenarioError(source, problems)
                if should_stop(taken.rows, target):
                    return
        if len(taken.rows) != batch.stop:
            raise RuntimeError(f"the {engine.name} engine did not return replication {len(taken.rows)} of {batch}")


def _take(outcome: ReplicationOutcome, taken: _Taken, progress: Progress | None) -> None:
    """Keep an outcome and report progress."""
    taken.add(outcome)
    if progress:
        progress(len(taken.rows))

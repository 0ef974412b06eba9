"""One run of a scenario: replications through the engine, then statistics; no I/O here."""
from __future__ import annotations

from typing import Callable

from clustersim.engine.runner import engine_for
from clustersim.report.results import RunResult
from clustersim.scenario.schema import Scenario
from clustersim.stats import summarize

Progress = Callable[[int], None]


def run_scenario(scenario: Scenario, keep_logs: bool = False, progress: Progress | None = None) -> RunResult:
    """Run every replication; on Ctrl-C, return what finished so far marked incomplete."""
    engine = engine_for(scenario)
    rows: list[dict[str, float]] = []
    logs = []
    simulate_s, events, complete = 0.0, 0, True
    try:
        for outcome in engine.run(scenario, range(scenario.simulation.replications), keep_logs):
            rows.append(outcome.metrics)
            simulate_s += outcome.simulate_s
            events += outcome.events
            if outcome.records is not None:
                logs.append(outcome.records)
            if progress:
                progress(len(rows))
    except KeyboardInterrupt:
        complete = False
    return RunResult(scenario, rows, summarize(rows), simulate_s, events, complete, logs)

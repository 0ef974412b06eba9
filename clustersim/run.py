"""One run of a scenario: replications through the engine, then statistics; no I/O here."""
from __future__ import annotations

from typing import Callable

from clustersim.engine.runner import replication_runner
from clustersim.report.results import RunResult
from clustersim.scenario.schema import Scenario
from clustersim.stats import replication_metrics, summarize

Progress = Callable[[int], None]


def run_scenario(scenario: Scenario, keep_logs: bool = False, progress: Progress | None = None) -> RunResult:
    """Run every replication; on Ctrl-C, return what finished so far marked incomplete."""
    run = replication_runner(scenario)
    rows: list[dict[str, float]] = []
    logs = []
    simulate_s, events, complete = 0.0, 0, True
    try:
        for k in range(scenario.simulation.replications):
            records = run(scenario, k)
            rows.append(replication_metrics(scenario, records))
            simulate_s += records.simulate_s
            events += records.events
            if keep_logs:
                logs.append(records)
            if progress:
                progress(k + 1)
    except KeyboardInterrupt:
        complete = False
    return RunResult(scenario, rows, summarize(rows), simulate_s, events, complete, logs)

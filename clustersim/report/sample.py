"""What a report shows beyond the metrics: per-window series of every replication and one replication's whole
state-change log (for the outage timeline and the wall-time breakdown).

The windows are measurement only (no random draw, no event depends on them), so a run measured in windows
gives the same metrics bit for bit; the report's windows are the scenario's ``simulation.series_window`` or,
without one, a round duration giving about 50 windows over the span. The log is replication 0 re-simulated on
the SimPy engine, which keeps logs: for a SimPy run it is exactly the run's replication 0; the fast engine
keeps no log, so for a fast run it is the same replication of the same scenario on the other engine (one
meaning, another sample path).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clustersim.scenario.schema import Scenario

_ROUND_WINDOWS_HOURS = (1 / 60, 5 / 60, 10 / 60, 15 / 60, 0.5, 1, 2, 3, 6, 12, 24, 48, 7 * 24, 14 * 24, 30 * 24,
                        91 * 24, 365 * 24)
TARGET_WINDOWS = 50


def report_window_hours(scenario: Scenario) -> float:
    """The scenario's series window, else the smallest round duration giving at most ~50 windows."""
    if scenario.simulation.series_window is not None:
        return scenario.simulation.series_window
    span = scenario.simulation.horizon - scenario.simulation.warmup
    return next((w for w in _ROUND_WINDOWS_HOURS if span / w <= TARGET_WINDOWS), span)


def report_windows(scenario: Scenario) -> Scenario:
    """The scenario with the report's windows as its ``series_window`` (itself when it sets one): what the
    per-window figures read their windows from."""
    if scenario.simulation.series_window is not None:
        return scenario
    simulation = scenario.simulation.model_copy(update={"series_window": report_window_hours(scenario)})
    return scenario.model_copy(update={"simulation": simulation})


def windowed(scenario: Scenario) -> Scenario:
    """The scenario to run for a report: measured in the report's windows on the SimPy engine (the fast engine
    measures none: itself there)."""
    return report_windows(scenario) if scenario.simulation.engine == "simpy" else scenario


@dataclass(frozen=True)
class SampleReplication:
    """One replication's log and its per-window series, simulated on the SimPy engine."""

    replication: int
    log: np.ndarray
    series: dict[str, list[float | None]]
    metrics: dict[str, float]
    resimulated_on_simpy: bool  # the run was on another engine: this is SimPy's path, not the run's


def sample_replication(scenario: Scenario, replication: int = 0) -> SampleReplication:
    """Replication ``replication`` on the SimPy engine with its whole log and the report's windows."""
    from clustersim.engine.simpy_engine import SimpyEngine

    windows = report_windows(scenario)
    measured = windows.model_copy(update={"simulation": windows.simulation.model_copy(update={"engine": "simpy"})})
    (outcome,) = SimpyEngine().run(measured, [replication], keep_logs=True)
    assert outcome.records is not None and outcome.series is not None
    return SampleReplication(replication, outcome.records.log, outcome.series, outcome.metrics,
                             scenario.simulation.engine != "simpy")

"""The report's figures of one run: availability and ETTR per window, one replication's outage timeline, where
each job's wall time went — on a tiny real result (PNG bytes; None when there is nothing to draw) and the
numbers they draw, from their pure data functions, checked by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest

from clustersim.engine.simpy_engine import SimpyEngine
from clustersim.job_phases import PHASES, job_phases
from clustersim.model.records import JobState, Kind, NodeState
from clustersim.report.figures.availability import availability_png, run_mean, series_metrics
from clustersim.report.figures.bands import window_bands
from clustersim.report.figures.outages import (NETWORK_COLOUR, cause_colours, job_state_spans, outage_intervals,
                                               outage_timeline_png, shown_nodes)
from clustersim.report.figures.walltime import phase_percents, walltime_png
from clustersim.runner import RunResult, run_scenario
from clustersim.scenario import scenario_from_dict
from clustersim.scenario.schema import Scenario
from clustersim.t_quantiles import t_quantile
from conftest import base_scenario
from test_training import job

PNG = b"\x89PNG"


def tiny(**simulation: str | int) -> Scenario:
    """Six nodes failing every ~150 h (two software reboots for each GPU swap), a job on four of them, two hot
    spares, 300 h in windows of 50 h, two replications."""
    modes = [{"name": "gpu", "time_to_failure": {"dist": "exponential", "mean": "450 h"}, "recovery": "replace",
              "time_to_repair": {"dist": "exponential", "mean": "20 h"}},
             {"name": "software", "time_to_failure": {"dist": "exponential", "mean": "225 h"}, "recovery": "reboot",
              "time_to_repair": {"dist": "deterministic", "value": "0.5 h"}}]
    raw = base_scenario(
        simulation={"horizon": "300 h", "replications": 2, "seed": 3, "series_window": "50 h", **simulation},
        nodes={"count": 6, "gpus_per_node": 8, "nodes_per_rack": 6, "failure_modes": modes},
        repair={"detection": "10 min"}, spares={"hot": 2, "swap_time": "6 min"},
        training=[job(name="pretrain", nodes=4, checkpoint_interval="1 h", checkpoint_cost="5 min")])
    return scenario_from_dict(raw, source="test")


@pytest.fixture(scope="module")
def result() -> tuple[Scenario, RunResult, np.ndarray]:
    scenario = tiny()
    outcome = next(SimpyEngine().run(scenario, [0], keep_logs=True))
    assert outcome.records is not None
    return scenario, run_scenario(scenario), outcome.records.log


# --- availability and ETTR per window ---------------------------------------------------------------

def test_window_bands_by_hand():
    """Window 0: 1.0, 0.8, 0.9 -> mean 0.9, sd 0.1, half-width t(2) 0.1 / sqrt 3 (clamped at 1); window 1: one
    value (the others None or missing) -> the value, no width; window 2: none at all."""
    series = [{"nodes.availability": [1.0, None, None]}, {"nodes.availability": [0.8, 0.6]},
              {"nodes.availability": [0.9, None, None]}, {"capacity.availability": [0.1, 0.1, 0.1]}]
    first, second, third = window_bands(series, "nodes.availability", [(0, 1), (1, 2), (2, 3)])
    half = t_quantile(2, 0.975) * 0.1 / math.sqrt(3)
    assert first.mean == pytest.approx(0.9) and first.low == pytest.approx(0.9 - half) and first.high == 1.0
    assert second.mean == second.low == second.high == pytest.approx(0.6)
    assert third.mean is None and third.low is None


def test_run_mean_weights_windows_by_their_length():
    """130 h in windows of 50 h, the last cut at the horizon: 50, 50, 30; (1·50 + 0.5·50 + 0·30 + 1·50) / 180 over
    the windows measured (the second replication's None left out)."""
    scenario = tiny(horizon="130 h")
    assert [end - start for start, end in scenario.simulation.series_windows()] == [50, 50, 30]
    series = [{"nodes.availability": [1.0, 0.5, 0.0]}, {"nodes.availability": [1.0, None, None]}]
    assert run_mean(scenario, series, "nodes.availability") == pytest.approx((50 + 25 + 0 + 50) / 180)


def test_whole_run_mean_is_the_run_metric(result):
    """The windows tile [warmup, horizon): their length-weighted mean is the run's availability."""
    scenario, run, _ = result
    assert series_metrics(scenario, run.series) == ["nodes.availability", "capacity.availability",
                                                    "training.pretrain.ettr"]
    for metric in series_metrics(scenario, run.series):
        assert run_mean(scenario, run.series, metric) == pytest.approx(run.estimates[metric].mean, rel=1e-12)


def test_availability_png(result):
    scenario, run, _ = result
    assert availability_png(scenario, run.series)[:4] == PNG
    assert availability_png(scenario, []) is None


# --- one replication's outages --------------------------------------------------------------------

def hand_log(scenario: Scenario) -> np.ndarray:
    """Node 2 fails (gpu) over [1, 3); node 0 is cut off by the network over [2, 2.5); node 1 fails (software) at
    4 and is still down at the horizon; node 2 fails again (software) over [5, 5.5). A job runs on it."""
    node, failure, jobs = int(Kind.NODE), int(Kind.FAILURE), int(Kind.JOB)
    up, down, net = int(NodeState.UP), int(NodeState.DOWN), scenario.network_cause
    computing, waiting = int(JobState.COMPUTING), int(JobState.WAITING)
    return np.array([
        (0.0, jobs, 0, waiting, computing, -1),
        (1.0, failure, 2, 0, 1, 0), (1.0, node, 2, up, down, 0), (1.0, jobs, 0, computing, waiting, 0),
        (2.0, node, 0, up, down, net),
        (2.5, node, 0, down, up, -1),
        (3.0, node, 2, down, up, -1), (3.0, jobs, 0, waiting, computing, -1),
        (4.0, failure, 1, 0, 1, 1), (4.0, node, 1, up, down, 1),
        (5.0, failure, 2, 0, 1, 1), (5.0, node, 2, up, down, 1),
        (5.5, node, 2, down, up, -1),
    ], dtype=np.float64)


def test_outage_intervals_on_a_hand_built_log():
    scenario = tiny(horizon="10 h", series_window="5 h")
    assert outage_intervals(scenario, hand_log(scenario)) == [
        (2, 1.0, 3.0, "gpu"), (0, 2.0, 2.5, "network"), (1, 4.0, 10.0, "software"), (2, 5.0, 5.5, "software")]


def test_the_rows_shown_are_the_nodes_down_longest():
    """Node 1 is down 6 h, node 2 2.5 h, node 0 0.5 h: the two longest, in node order."""
    scenario = tiny(horizon="10 h", series_window="5 h")
    outages = outage_intervals(scenario, hand_log(scenario))
    assert shown_nodes(outages, most=2) == [1, 2]
    assert shown_nodes(outages) == [0, 1, 2]


def test_job_state_spans_on_a_hand_built_log():
    scenario = tiny(horizon="10 h", series_window="5 h")
    assert job_state_spans(scenario, hand_log(scenario), 0) == [
        (0.0, 1.0, JobState.COMPUTING), (1.0, 3.0, JobState.WAITING), (3.0, 10.0, JobState.COMPUTING)]


def test_a_cause_keeps_its_colour_whatever_else_a_replication_shows():
    """Colours follow the cause's code (the legend lists causes in code order), the network's is its own."""
    scenario = tiny(horizon="10 h", series_window="5 h")
    both = cause_colours(scenario, ["software", "network", "gpu"])
    assert list(both) == ["gpu", "software", "network"]
    assert cause_colours(scenario, ["software"])["software"] == both["software"] != both["gpu"]
    assert both["network"] == NETWORK_COLOUR


def test_outage_timeline_png(result):
    scenario, _, log = result
    assert outage_intervals(scenario, log)  # the tiny run has outages to draw
    assert outage_timeline_png(scenario, log, replication=0)[:4] == PNG
    no_job = scenario.model_copy(update={"training": []})
    assert outage_timeline_png(no_job, hand_log(scenario))[:4] == PNG
    quiet = log[log[:, 1] != int(Kind.NODE)]
    assert outage_timeline_png(scenario, quiet) is None


# --- where the wall time went ----------------------------------------------------------------------

def test_phase_percents_by_hand():
    """20 h: 14 kept (70 %), 2 lost (10 %), 4 waiting (20 %); a job with no wall time is left out."""
    hours = dict.fromkeys(PHASES, 0.0) | {"compute (kept)": 14.0, "compute (lost or not yet checkpointed)": 2.0,
                                          "waiting for a spare or repair": 4.0}
    percents = phase_percents({"pretrain": hours, "finished": dict.fromkeys(PHASES, 0.0)})
    assert list(percents) == ["pretrain"]
    expected = [0.0] * len(PHASES)
    expected[0], expected[1], expected[PHASES.index("waiting for a spare or repair")] = 70.0, 10.0, 20.0
    assert percents["pretrain"] == pytest.approx(expected)


def test_walltime_png(result):
    scenario, run, log = result
    phases = job_phases(scenario, log)
    wall = scenario.simulation.horizon - scenario.simulation.warmup
    assert phases["pretrain"]["compute (kept)"] / wall == run.rows[0]["training.pretrain.ettr"]
    assert walltime_png(phases)[:4] == PNG
    assert walltime_png({}) is None

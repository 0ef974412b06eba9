"""Metrics per window (simulation.series_window, series.csv) and what a chaos experiment reads from them:
windowed hypotheses, detection and recovery after each injection, the MTTR of an injection, the aligned
timeline (chaos_timeline.csv / .png), the blast radius.

Hand-worked: 8 nodes with no failure of their own, 1 h windows over 12 h; node 3 killed at 4 h for 2 h
(so windows [4, 5) and [5, 6) each have 7 of 8 nodes up). nodes.availability per window is exactly
1, 1, 1, 1, 7/8, 7/8, 1, ..., whose mean is the whole run's 1 - 2/96. A hypothesis ">= 0.9 in every window"
breaks in [4, 5): detected at its end (1 h after the injection), recovered at the end of [6, 7), the first
window it holds in again (3 h after); the deadline 2 h is missed, 3 h met. The control never breaks.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w

from clustersim.chaos_run import chaos_dict, run_experiment
from clustersim.chaos_judging import Occurrence, Recovery, aligned, occurrences, recovery
from clustersim.cli import main
from clustersim.errors import ScenarioError
from clustersim.experiment import Hypothesis, load_experiment
from clustersim.report.results import series_csv
from clustersim.rng import Streams
from clustersim.runner import run_scenario
from clustersim.scenario import scenario_from_dict
from clustersim.scenario.schema import Chaos


def _scenario(**simulation: Any) -> dict[str, Any]:
    return {"name": "eight", "simulation": {"horizon": "12 h", "replications": 3, "seed": 5, **simulation},
            "nodes": {"count": 8, "nodes_per_rack": 4}}


def _experiment(tmp_path: Path, deadline: str = "2 h", **changes: Any) -> Path:
    (tmp_path / "eight.toml").write_text(tomli_w.dumps(_scenario()))
    raw: dict[str, Any] = {
        "experiment": {"scenario": "eight.toml", "window": "1 h", "recovery_deadline": deadline},
        "hypothesis": [{"metric": "nodes.availability", "comparator": ">=", "threshold": 0.9, "window": "1 h"},
                       {"metric": "nodes.availability", "comparator": ">=", "threshold": 0.9}],
        "inject": [{"name": "node3", "action": "kill_node", "node": 3, "at": "4 h", "duration": "2 h"}]}
    raw.update(changes)
    path = tmp_path / "experiment.toml"
    path.write_text(tomli_w.dumps(raw))
    return path


def test_each_window_measures_the_whole_run_s_formula_over_itself() -> None:
    scenario = scenario_from_dict({**_scenario(series_window="1 h"), "chaos": [
        {"name": "node3", "action": "kill_node", "node": 3, "at": "4 h", "duration": "2 h"}]})
    result = run_scenario(scenario)
    for row, series in zip(result.rows, result.series):
        assert series["nodes.availability"] == [1.0] * 4 + [7 / 8] * 2 + [1.0] * 6
        assert series["nodes.failures.node3"] == [0.0] * 4 + [1.0] + [0.0] * 7
        assert sum(series["nodes.availability"]) / 12 == pytest.approx(row["nodes.availability"], abs=1e-15)
        assert row["nodes.outage_mean_hours.node3"] == 2.0  # the injection's MTTR: its duration, exactly
    lines = list(csv.reader(io.StringIO(series_csv(result))))
    assert lines[0][:4] == ["replication", "window_start_hours", "window_end_hours", "nodes.availability"]
    assert len(lines) == 1 + 3 * 12 and lines[5][:4] == ["0", "4.0", "5.0", "0.875"]


def test_the_last_window_is_cut_at_the_horizon_and_too_many_windows_are_refused() -> None:
    windows = scenario_from_dict(_scenario(series_window="5 h")).simulation.series_windows()
    assert windows == [(0.0, 5.0), (5.0, 10.0), (10.0, 12.0)]
    with pytest.raises(ScenarioError, match=r"simulation.series_window: 0.001 h makes more than 2000 windows"):
        scenario_from_dict(_scenario(series_window="0.001 h"))


def test_a_service_s_request_metrics_per_window_add_up_to_the_whole_run() -> None:
    scenario = scenario_from_dict({
        "name": "svc", "simulation": {"horizon": "2 h", "replications": 2, "series_window": "30 min",
                                      "serving": "requests"},
        "nodes": {"count": 4},
        "inference": [{"name": "chat", "replicas": 2, "nodes_per_replica": 1, "concurrency": 4,
                       "arrivals": {"process": "poisson", "rate": "2 /s"},
                       "service_time": {"dist": "exponential", "mean": "0.5 s"}, "timeout": "5 s"}]})
    result = run_scenario(scenario)
    for row, series in zip(result.rows, result.series):
        requests = series["inference.chat.requests"]
        assert len(requests) == 4 and sum(v or 0 for v in requests) == row["inference.chat.requests"]
        good = sum((n or 0) * (s or 0) for n, s in zip(requests, series["inference.chat.success_ratio"]))
        assert good == pytest.approx(row["inference.chat.requests"] * row["inference.chat.success_ratio"])


def test_detection_and_recovery_are_read_at_window_ends() -> None:
    windows = [(float(h), float(h + 1)) for h in range(12)]
    values = [1.0] * 4 + [0.875] * 2 + [1.0] * 6
    hypothesis = Hypothesis(metric="m", comparator=">=", threshold=0.9, window="1 h")
    assert recovery(hypothesis, values, windows, Occurrence("x", 4.0, 12.0)) == Recovery(True, 1.0, 3.0)
    censored = recovery(hypothesis, values, windows, Occurrence("x", 4.0, 6.0))
    assert censored.impacted and censored.recover_hours is None
    assert not recovery(hypothesis, values, windows, Occurrence("x", 7.0, 12.0)).impacted
    band = aligned([values, values], windows, [[Occurrence("x", 4.0, 8.0)], [Occurrence("x", 4.0, 8.0)]])
    assert band.offsets_hours == [-2.0, -1.0, 0.0, 1.0, 2.0, 3.0] and band.mean[2:4] == [0.875, 0.875]


def test_occurrences_are_judged_until_the_next_injection_of_any_entry() -> None:
    rng = np.random.default_rng(0)
    every = Chaos(action="kill_node", at="1 h", every="10 h", duration="1 h")
    once = Chaos(action="kill_node", at="5 h", duration="1 h")
    times = {"a": every.injection_times(rng, 30.0), "b": once.injection_times(rng, 30.0)}
    assert times == {"a": [1.0, 11.0, 21.0], "b": [5.0]}
    assert occurrences(times, 0.0, 30.0) == [
        Occurrence("a", 1.0, 5.0), Occurrence("b", 5.0, 11.0), Occurrence("a", 11.0, 21.0),
        Occurrence("a", 21.0, 30.0)]


def test_random_injection_times_are_the_model_s_and_a_poisson_process() -> None:
    """between = exponential(mean 2 h) over 400 h: the count of injections is Poisson(200) (fixed seed: within
    its 99.9 % range 157-246); the model injects exactly at the times the experiment reads back (each a node
    failure of its cause at that instant)."""
    chaos = {"name": "random", "action": "kill_node", "node": 1, "at": "1 h", "duration": "10 min",
             "between": {"dist": "exponential", "mean": "2 h"}}
    raw = {**_scenario(horizon="400 h"), "chaos": [chaos]}
    scenario = scenario_from_dict(raw)
    from clustersim.engine.simpy_engine import run_replication
    from clustersim.measures import CAUSE, FAILURE, KIND
    log = run_replication(scenario, 0).log
    struck = log[(log[:, KIND] == FAILURE) & (log[:, CAUSE] == 0), 0].tolist()
    drawn = scenario.chaos[0].injection_times(Streams(5, 0).generator("chaos/random/times"), 400.0)
    assert struck == drawn and 157 <= len(drawn) <= 246
    with pytest.raises(ScenarioError, match=r"chaos\[0\].between: random times or every, not both"):
        scenario_from_dict({**raw, "chaos": [{**chaos, "every": "1 h"}]})


def test_an_experiment_reports_detection_recovery_and_the_deadline(tmp_path: Path) -> None:
    outcome = run_experiment(load_experiment(_experiment(tmp_path)))
    windowed, whole = outcome.treatment
    assert (windowed.held, windowed.of) == (0, 3)        # 7/8 < 0.9 in two windows of every replication
    assert (whole.held, whole.of) == (3, 3)              # 1 - 2/96 >= 0.9 over the run
    assert outcome.control[0].held == 3
    info = chaos_dict(outcome, {})
    after = info["hypotheses"][0]["recovery"]["node3"]
    treated = after["treatment"]
    assert (treated["occurrences"], treated["impacted"], treated["recovered"]) == (3, 3, 3)
    assert (treated["time_to_detect_hours"], treated["time_to_recover_hours"]) == (1.0, 3.0)
    assert treated["recovered_within_deadline_fraction"] == 0.0 and after["control"]["impacted"] == 0
    assert info["hypotheses"][1]["recovery"] == {}      # a whole-run threshold is not judged per window
    node3 = info["injections"][0]
    assert (node3["node_failures_mean"], node3["mttr_hours"]) == (1.0, 2.0)
    assert info["blast_radius"]["moved"].keys() == {"nodes", "capacity"}
    met = chaos_dict(run_experiment(load_experiment(_experiment(tmp_path, deadline="3 h"))), {})
    assert met["hypotheses"][0]["recovery"]["node3"]["treatment"]["recovered_within_deadline_fraction"] == 1.0


def test_the_chaos_command_writes_the_timeline(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["chaos", str(_experiment(tmp_path)), "--out", str(out), "--quiet"]) == 0
    info = json.loads((out / "chaos.json").read_text())
    assert info["window_hours"] == 1.0 and info["recovery_deadline_hours"] == 2.0
    with open(out / "chaos_timeline.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert set(rows[0]) == {"metric", "injection", "run", "offset_hours", "mean", "ci95_low", "ci95_high"}
    treated = {float(r["offset_hours"]): float(r["mean"]) for r in rows if r["run"] == "treatment"}
    assert treated[0.0] == treated[1.0] == 0.875 and treated[-1.0] == treated[2.0] == 1.0
    assert all(float(r["mean"]) == 1.0 for r in rows if r["run"] == "control")
    assert (out / "chaos_timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(("changes", "message"), [
    ({"hypothesis": [{"metric": "nodes.availability", "comparator": ">=", "threshold": 0.9, "window": "2 h"}]},
     r"hypothesis\[0\].window: 2.0 h differs from the experiment's window \(1.0 h\)"),
    ({"experiment": {"scenario": "eight.toml", "window": "1 s"}},
     r"experiment.window: 0.0002777.* h makes more than 2000 windows"),
])
def test_bad_windows_are_refused_naming_the_key(tmp_path: Path, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        load_experiment(_experiment(tmp_path, **changes))


def test_a_service_metric_the_requests_do_not_determine_cannot_be_windowed(tmp_path: Path) -> None:
    scenario = {**_scenario(), "inference": [{
        "name": "chat", "replicas": 2, "nodes_per_replica": 1, "concurrency": 4,
        "arrivals": {"process": "poisson", "rate": "1 /s"}, "service_time": {"dist": "exponential", "mean": "1 s"},
        "timeout": "5 s"}]}
    (tmp_path / "eight.toml").write_text(tomli_w.dumps(scenario))
    raw = {"experiment": {"scenario": "eight.toml", "window": "1 h"},
           "hypothesis": [{"metric": "inference.chat.timeouts", "comparator": "<=", "threshold": 0, "window": "1 h"}],
           "inject": [{"action": "kill_node", "node": 0, "at": "1 h", "duration": "1 h"}]}
    path = tmp_path / "experiment.toml"
    path.write_text(tomli_w.dumps(raw))
    with pytest.raises(ScenarioError, match=r"hypothesis\[0\].window: 'inference.chat.timeouts' is not measured per "
                                            r"window \(a service's windowed metrics are requests, success_ratio"):
        load_experiment(path)


def _aborted(**abort: Any) -> dict[str, Any]:
    """Node 0 killed for 1 h every 2 h from 1 h: at 1, 3, 5, 7, 9, 11 h unless an abort stops it."""
    return {**_scenario(series_window="1 h"),
            "chaos": [{"name": "kill", "action": "kill_node", "node": 0, "at": "1 h", "every": "2 h",
                       "duration": "1 h"}],
            "abort": [{"metric": "nodes.availability", "comparator": "<", "threshold": 0.99, **abort}]}


def test_an_abort_stops_the_injections_once_a_closed_window_crosses_its_bound() -> None:
    """Window [1, 2) has 7/8 nodes up, below 0.99: the abort fires as it closes, at 2 h, so the injection at 3 h
    and every later one never start: one failure instead of six, and chaos.abort_hours = 2 exactly."""
    result = run_scenario(scenario_from_dict(_aborted()))
    for row in result.rows:
        assert (row["nodes.failures.kill"], row["chaos.aborted"], row["chaos.abort_hours"]) == (1.0, 1.0, 2.0)
    never = run_scenario(scenario_from_dict(_aborted(threshold=0.5)))  # 7/8 is never below 0.5
    for row in never.rows:
        assert (row["nodes.failures.kill"], row["chaos.aborted"], row["chaos.abort_hours"]) == (6.0, 0.0, 12.0)


@pytest.mark.parametrize(("changes", "message"), [
    ({"simulation": {"horizon": "12 h"}}, r"abort: needs simulation.series_window"),
    ({"chaos": []}, r"abort: there is no \[\[chaos\]\] injection to stop"),
    ({"abort": [{"metric": "inference.chat.success_ratio", "comparator": "<", "threshold": 0.9}]},
     r"abort\[0\].metric: 'inference.chat.success_ratio': a service's metrics are measured after the cluster's run"),
])
def test_bad_aborts_are_refused_naming_the_key(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        scenario_from_dict({**_aborted(), **changes})


def test_an_abort_naming_a_metric_the_scenario_lacks_is_refused_before_running(tmp_path: Path,
                                                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "aborted.toml"
    path.write_text(tomli_w.dumps(_aborted(metric="nodes.availabilty")))
    assert main([str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert ("aborted.toml: abort[0].metric: 'nodes.availabilty' is not a metric this scenario measures (did you "
            "mean 'nodes.availability'?)") in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_experiment_s_abort_stops_its_injections_and_chaos_json_says_when(tmp_path: Path) -> None:
    path = _experiment(tmp_path, inject=[_aborted()["chaos"][0]], abort=_aborted()["abort"])
    info = chaos_dict(run_experiment(load_experiment(path)), {})
    assert info["aborts"] == {"conditions": [{"metric": "nodes.availability", "comparator": "<", "threshold": 0.99}],
                              "aborted_fraction": 1.0, "abort_hours_mean": 2.0}
    assert info["injections"][0]["node_failures_mean"] == 1.0


def test_an_abort_also_stops_the_serving_injections_that_would_start_after_it() -> None:
    """The abort fires at 2 h (node 0's outage in [1, 2)); the surge every 2 h from 0.5 h then surges once only,
    so the service's requests are those of a single surge, exactly (its draws come from its own stream)."""
    service = {"name": "chat", "replicas": 2, "nodes_per_replica": 1, "concurrency": 8, "timeout": "5 s",
               "arrivals": {"process": "poisson", "rate": "2 /s"},
               "service_time": {"dist": "exponential", "mean": "0.2 s"}}
    surge = {"name": "surge", "action": "traffic_surge", "service": "chat", "at": "0.5 h", "duration": "30 min",
             "factor": 3.0}
    aborted = {**_aborted(), "nodes": {"count": 8, "nodes_per_rack": 4}, "inference": [service]}
    aborted["simulation"] = {**aborted["simulation"], "replications": 2, "serving": "requests"}
    aborted["chaos"] = [*aborted["chaos"], {**surge, "every": "2 h"}]
    once = {**aborted, "chaos": [aborted["chaos"][0], surge], "abort": [{**aborted["abort"][0], "threshold": 0.5}]}
    stopped, single = (run_scenario(scenario_from_dict(raw)).rows for raw in (aborted, once))
    assert [row["chaos.aborted"] for row in stopped] == [1.0, 1.0]
    assert [row["inference.chat.requests"] for row in stopped] == [row["inference.chat.requests"] for row in single]

"""Chaos experiments (clustersim.chaos_run, clustersim.experiment): control and treatment with common random numbers,
hypotheses judged per replication, the output contract, refusals of bad experiment files.

Hand-worked: 16 nodes in racks of 4 with no failure of their own; rack 0 killed at 12 h for 6 h of a 48 h
horizon takes 4 nodes x 6 h = 24 of 768 node-hours: nodes.availability = 1 - 24/768 = 0.96875 in every
replication of the treatment, 1 in the control.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from chaos_cases import fabric_scenario, replication_metrics
from clustersim.chaos_run import Judged, run_experiment
from clustersim.cli import main
from clustersim.errors import ScenarioError
from clustersim.experiment import load_experiment

REPO = Path(__file__).resolve().parents[1]


def _scenario(failures: bool = True) -> dict[str, Any]:
    modes = [{"name": "crash", "time_to_failure": {"dist": "exponential", "mean": "300 h"},
              "time_to_repair": {"dist": "exponential", "mean": "8 h"}}] if failures else []
    return {"name": "small", "simulation": {"horizon": "48 h", "replications": 6, "seed": 3},
            "nodes": {"count": 16, "nodes_per_rack": 4, "failure_modes": modes},
            "storage": {"servers": 4, "replication": 2, "objects": 8,
                        "time_to_failure": {"dist": "exponential", "mean": "200 h"},
                        "time_to_repair": {"dist": "exponential", "mean": "4 h"}}}


def _experiment(tmp_path: Path, scenario: dict[str, Any], **changes: Any) -> Path:
    (tmp_path / "small.toml").write_text(tomli_w.dumps(scenario))
    raw: dict[str, Any] = {
        "experiment": {"name": "rack-loss", "scenario": "small.toml"},
        "hypothesis": [{"metric": "nodes.availability", "comparator": ">=", "threshold": 0.97},
                       {"metric": "nodes.availability", "comparator": ">", "threshold": 0.96},
                       {"metric": "storage.read_availability", "comparator": ">=", "threshold": 0.5}],
        "inject": [{"action": "kill_rack", "rack": 0, "at": "12 h", "duration": "6 h"}]}
    for key, value in changes.items():
        raw[key] = value
    path = tmp_path / "experiment.toml"
    path.write_text(tomli_w.dumps(raw))
    return path


def test_a_rack_loss_costs_exactly_its_node_hours_and_the_hypotheses_say_so(tmp_path: Path) -> None:
    outcome = run_experiment(load_experiment(_experiment(tmp_path, _scenario(failures=False))))
    control, treatment = (r.rows for r in outcome.comparison.results)
    assert [row["nodes.availability"] for row in control] == [1.0] * 6
    assert all(row["nodes.availability"] == pytest.approx(1 - 24 / 768, abs=1e-12) for row in treatment)
    violated, held, unreachable = outcome.treatment
    assert (violated.held, violated.of, violated.verdict) == (0, 6, "violated")
    assert (held.held, held.verdict) == (6, "held")
    assert unreachable.verdict == "held" and outcome.control[0].verdict == "held"


def test_a_metric_no_injection_reaches_is_the_same_bit_for_bit(tmp_path: Path) -> None:
    """Nodes fail on their own here, and the store too: the rack loss changes the nodes' metrics, never the
    store's (its servers and their streams are apart from the nodes), replication by replication."""
    outcome = run_experiment(load_experiment(_experiment(tmp_path, _scenario())))
    control, treatment = (r.rows for r in outcome.comparison.results)
    storage = [name for name in control[0] if name.startswith("storage.")]
    assert storage
    assert all(a[name] == b[name] for a, b in zip(control, treatment) for name in storage)
    by_metric = {d.metric: d for d in outcome.comparison.differences}
    assert all(by_metric[name].estimate.mean == 0.0 for name in storage)
    assert by_metric["nodes.availability"].significant and by_metric["nodes.availability"].estimate.mean < 0


def test_the_share_held_has_wilson_s_interval() -> None:
    """Wilson 95 %: 6 of 6 -> [n / (n + z^2), 1] = [0.6097, 1]; 3 of 6 symmetric about 1/2."""
    low, high = Judged(6, 6).interval
    assert low == pytest.approx(6 / (6 + 1.959963984540054 ** 2)) and high == 1.0
    low, high = Judged(3, 6).interval
    assert low is not None and high is not None and low + high == pytest.approx(1.0)
    assert Judged(0, 0).interval == (None, None)


def test_chaos_command_writes_the_contract(tmp_path: Path) -> None:
    path = _experiment(tmp_path, _scenario())
    out = tmp_path / "out"
    assert main(["chaos", str(path), "--out", str(out), "--replications", "4", "--quiet"]) == 0
    info = json.loads((out / "chaos.json").read_text())
    assert info["replications"] == 4 and info["experiment"] == "rack-loss"
    hypothesis = info["hypotheses"][0]
    assert set(hypothesis) >= {"metric", "comparator", "threshold", "held_fraction", "held_ci95_low",
                               "held_ci95_high"}
    assert hypothesis["held_fraction"] == 0.0
    paired = info["paired"]["nodes.availability"]
    assert set(paired) >= {"control_mean", "treatment_mean", "diff_mean", "diff_ci95_low", "diff_ci95_high"}
    assert math.isclose(paired["diff_mean"], paired["treatment_mean"] - paired["control_mean"], abs_tol=1e-12)
    assert info["injections"][0]["action"] == "kill_rack"
    assert {p.name for p in out.iterdir()} == {"chaos.json", "chaos.csv", "control.resolved.toml",
                                               "treatment.resolved.toml", "chaos_timeline.csv", "chaos_timeline.png",
                                               "report.html", "report.md", "plots"}


@pytest.mark.parametrize(("changes", "line"), [
    ({"inject": [{"action": "kill_rack", "rack": 9, "at": "1 h", "duration": "1 h"}]},
     "experiment.toml: inject[0].rack: rack 9 does not exist (4 racks, first is 0)"),
    ({"hypothesis": [{"metric": "nodes.availabilty", "comparator": ">=", "threshold": 0.9}]},
     "experiment.toml: hypothesis[0].metric: 'nodes.availabilty' is not a metric this scenario measures "
     "(did you mean 'nodes.availability'?)"),
    ({"experiment": {"scenario": "nosuch.toml"}},
     "experiment.toml: experiment.scenario: 'nosuch.toml': no such scenario file"),
    ({"experiment": {"scenario": "small.toml", "replicatons": 3}}, "experiment.toml: experiment.replicatons: "
                                                                   "unknown key"),
    ({"inject": []}, "experiment.toml: inject: needs at least one entry (or a [replay] of an incident log)"),
    ({"hypothesis": [{"metric": "nodes.availability", "comparator": "=>", "threshold": 0.9}]},
     "experiment.toml: hypothesis[0].comparator: Input should be '>=', '>', '<=' or '<'"),
])
def test_a_bad_experiment_is_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 changes: dict[str, Any], line: str) -> None:
    path = _experiment(tmp_path, _scenario(), **changes)
    with pytest.raises(ScenarioError):
        load_experiment(path)
    assert main(["chaos", str(path), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip() == line
    assert not (tmp_path / "out").exists()


def test_the_fast_engine_runs_the_experiment_with_the_simpy_model_s_numbers(tmp_path: Path) -> None:
    """A rack kill on the fast engine: the same hypotheses' verdicts and paired differences as the SimPy model,
    exactly (no other randomness reaches the nodes); no windows are measured there (whole runs only)."""
    outcomes = []
    for engine in ("simpy", "fast"):
        scenario = _scenario(failures=False)
        scenario["simulation"]["engine"] = engine
        outcomes.append(run_experiment(load_experiment(_experiment(tmp_path, scenario))))
    simpy_run, fast_run = outcomes
    assert fast_run.experiment.window is None and not fast_run.bands
    assert [(j.held, j.of) for j in fast_run.treatment] == [(j.held, j.of) for j in simpy_run.treatment]
    fast = {d.metric: d.estimate.mean for d in fast_run.comparison.differences}
    simpy = {d.metric: d.estimate.mean for d in simpy_run.comparison.differences}
    assert fast["nodes.availability"] == pytest.approx(simpy["nodes.availability"], abs=1e-12) == -24 / 768
    assert fast["storage.read_availability"] == 0.0


def test_the_fast_engine_refuses_a_windowed_hypothesis_naming_the_series(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    scenario = _scenario()
    scenario["simulation"]["engine"] = "fast"
    path = _experiment(tmp_path, scenario, hypothesis=[
        {"metric": "nodes.availability", "comparator": ">=", "threshold": 0.97, "window": "1 h"}])
    assert main(["chaos", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "metric time series (simulation.series_window)" in capsys.readouterr().err


def test_the_gameday_example_loads_and_injects_into_the_main_cluster() -> None:
    experiment = load_experiment(REPO / "scenarios" / "chaos" / "gameday.toml")
    assert experiment.control.name == "gpt_cluster" and not experiment.control.chaos
    assert [c.action for c in experiment.treatment.chaos] == ["kill_rack", "kill_node"]
    assert experiment.control.simulation.replications == 5


# --- faults of the fabric and the store (the [[chaos]] actions beyond the nodes) --------------------------

def _fabric_scenario(chaos: list[dict[str, Any]], spines: int = 2) -> dict[str, Any]:
    return fabric_scenario(chaos, spines)


_metrics = replication_metrics


def test_a_spine_failure_in_a_two_tier_fabric_cuts_off_exactly_the_expected_nodes() -> None:
    """One spine of two down: every leaf still reaches the other, nobody is cut off. Both down (overlapping
    10-20 h and 15-30 h): all 32 nodes are cut off exactly while both are, 15-20 h: 32 x 5 = 160 node-hours.
    A leaf down 40-46 h cuts off exactly its rack's 8 nodes for 6 h: 48 node-hours more."""
    one = _metrics(_fabric_scenario([{"action": "kill_switch", "switch": "spine/0", "at": "10 h", "duration": "10 h"}]))
    assert one["network.node_hours_lost"] == 0.0
    both = _metrics(_fabric_scenario([
        {"action": "kill_switch", "switch": "spine/0", "at": "10 h", "duration": "10 h"},
        {"action": "kill_switch", "switch": "spine/1", "at": "15 h", "duration": "15 h"},
        {"action": "kill_switch", "switch": "leaf/2", "at": "40 h", "duration": "6 h"}]))
    assert both["network.node_hours_lost"] == pytest.approx(160 + 48, abs=1e-9)
    assert both["nodes.failures"] == 0.0  # cut off is not failed


def test_a_host_link_injection_and_an_own_failure_overlap_as_one_outage() -> None:
    """The host link of node 3 held down by two injections, 10-20 h and 15-25 h: the holds add up, so the node is
    cut off from the first hold to the last release, 10 h to 25 h: 15 node-hours (not 10, nor 20)."""
    raw = _fabric_scenario([{"action": "kill_link", "link": "node3~leaf/0", "at": "10 h", "duration": "10 h"},
                            {"action": "kill_link", "link": "node3~leaf/0", "at": "15 h", "duration": "10 h"}])
    assert _metrics(raw)["network.node_hours_lost"] == pytest.approx(15.0, abs=1e-9)


def test_storage_injections_hold_servers_unreachable_for_their_duration() -> None:
    """A store outage 20-23 h: nothing can be read for 3 h of 100 (every object's replicas are unreachable);
    one server down (replication 2) leaves every object readable."""
    outage = _metrics(_fabric_scenario([{"action": "store_outage", "at": "20 h", "duration": "3 h"}]))
    assert outage["storage.read_availability"] == pytest.approx(1 - 3 / 100, abs=1e-12)
    assert outage["storage.data_loss_events"] == 0.0
    one = _metrics(_fabric_scenario([{"action": "kill_storage_server", "server": 1, "at": "20 h", "duration": "3 h"}]))
    assert one["storage.read_availability"] == 1.0 and one["storage.write_availability"] < 1.0


@pytest.mark.parametrize(("chaos", "line"), [
    ({"action": "kill_switch", "switch": "spine/7", "at": "1 h", "duration": "1 h"},
     "chaos[0].switch: the fabric has no switch 'spine/7'; did you mean 'spine/1'?"),
    ({"action": "kill_storage_server", "server": 4, "at": "1 h", "duration": "1 h"},
     "chaos[0].server: server 4 does not exist (storage.servers = 4, first is 0)"),
    ({"action": "kill_switch", "node": 3, "at": "1 h", "duration": "1 h"},
     "chaos[0].node: kill_switch takes 'switch', not 'node'"),
    ({"action": "store_outage", "server": 1, "at": "1 h", "duration": "1 h"},
     "chaos[0].server: store_outage takes no target, not 'server'"),
])
def test_a_fault_aimed_at_a_missing_part_is_refused(chaos: dict[str, Any], line: str) -> None:
    from clustersim.scenario import scenario_from_dict

    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(_fabric_scenario([chaos]), source="s.toml")
    assert f"s.toml: {line}" in str(err.value).splitlines()


def test_a_fabric_fault_needs_a_network() -> None:
    from clustersim.scenario import scenario_from_dict

    raw = _fabric_scenario([{"action": "kill_link", "at": "1 h", "duration": "1 h"}])
    del raw["network"]
    with pytest.raises(ScenarioError, match=r"chaos\[0\].action: kill_link needs a \[network\]"):
        scenario_from_dict(raw)


def test_the_fabric_and_store_example_meets_its_hand_check() -> None:
    """scenarios/chaos/fabric_and_store.toml (3 replications): one network interruption of the job in every
    replication, the store unreadable for exactly 1.5 h of 720, no node failure added."""
    experiment = load_experiment(REPO / "scenarios" / "chaos" / "fabric_and_store.toml", ("simulation.replications=3",))
    outcome = run_experiment(experiment)
    by_metric = {d.metric: d.estimate for d in outcome.comparison.differences}
    control, treatment = (r.rows for r in outcome.comparison.results)
    assert [row["training.job.interruptions.network"] for row in treatment] == [1.0] * 3
    assert all(row["storage.read_availability"] == pytest.approx(1 - 1.5 / 720, abs=1e-12) for row in treatment)
    assert by_metric["nodes.failures"].mean == 0.0
    assert 60 <= by_metric["network.node_hours_lost"].mean <= 64
    assert [c.action for c in experiment.treatment.chaos] == ["kill_switch", "kill_link", "kill_switch", "kill_switch",
                                                              "kill_storage_server", "store_outage"]


def test_the_gray_failures_example_meets_its_hand_check() -> None:
    """scenarios/chaos/gray_failures.toml (2 replications): only the first slow-node injection and the leak reach
    the job (+2 interruptions); every injection counts as a node failure (+16)."""
    experiment = load_experiment(REPO / "scenarios" / "chaos" / "gray_failures.toml", ("simulation.replications=2",))
    by_metric = {d.metric: d.estimate for d in run_experiment(experiment).comparison.differences}
    assert by_metric["training.job.interruptions"].mean == 2.0
    assert by_metric["nodes.failures"].mean == 16.0
    assert by_metric["training.job.ettr"].mean < 0


@pytest.mark.parametrize("path", sorted((REPO / "scenarios" / "chaos").glob("*.toml")), ids=lambda p: p.name)
def test_every_chaos_experiment_file_loads_and_injects(path: Path) -> None:
    """Every example in scenarios/chaos is a valid experiment whose treatment adds its [[inject]] entries."""
    experiment = load_experiment(path)
    assert experiment.injected >= 1 or experiment.treatment.replay is not None
    assert len(experiment.treatment.chaos) == len(experiment.control.chaos) + experiment.injected


def test_the_serving_example_meets_its_hand_check() -> None:
    """scenarios/chaos/serving.toml (2 replications): the canary rolls the bad release back exactly 120 s after
    its start; the surge adds ~18,000 requests; the p99 latency rises by the 2 s delay; batch, the job and the
    nodes are the same bit for bit."""
    experiment = load_experiment(REPO / "scenarios" / "chaos" / "serving.toml", ("simulation.replications=2",))
    outcome = run_experiment(experiment)
    by_metric = {d.metric: d.estimate for d in outcome.comparison.differences}
    control, treatment = (r.rows for r in outcome.comparison.results)
    assert all(row["inference.chat.release.rollback_s"] == pytest.approx(120, abs=1e-6) for row in treatment)
    assert [row["inference.chat.success_ratio"] for row in control] == [1.0, 1.0]
    assert abs(by_metric["inference.chat.requests"].mean - 18000) < 4 * 134
    assert by_metric["inference.chat.latency_p99_s"].mean == pytest.approx(2.0, abs=0.01)
    assert -0.085 < by_metric["inference.chat.success_ratio"].mean < -0.07
    untouched = [m for m in by_metric if not m.startswith("inference.chat.")]
    assert any(m.startswith("inference.batch.") for m in untouched)
    assert all(by_metric[m].mean in (0.0, None) or math.isnan(by_metric[m].mean) for m in untouched)
    assert [c.action for c in experiment.treatment.chaos] == ["delay_replicas", "error_replicas", "health_check_outage",
                                                              "bad_release", "traffic_surge"]


def test_the_windows_and_abort_example_meets_its_hand_check() -> None:
    """scenarios/chaos/windows_and_abort.toml: node3 breaks the hourly hypothesis after every kill, detected 1 h
    and recovered 3 h after it, never within the 2 h deadline, and the control never breaks; an abort stops
    both injections (node3 then falls short of its 14 kills); the weekly capacity hypothesis holds."""
    from clustersim.chaos_run import chaos_dict

    outcome = run_experiment(load_experiment(REPO / "scenarios" / "chaos" / "windows_and_abort.toml"))
    info = chaos_dict(outcome, {})
    after = info["hypotheses"][0]["recovery"]["node3"]
    treated = after["treatment"]
    assert treated["impacted"] == treated["occurrences"] > 0
    assert (treated["time_to_detect_hours"], treated["time_to_recover_hours"]) == (1.0, 3.0)
    assert treated["recovered_within_deadline_fraction"] == 0.0 and after["control"]["impacted"] == 0
    assert info["hypotheses"][1]["held_fraction"] == 1.0
    aborted = [row["chaos.aborted"] for row in outcome.comparison.results[1].rows]
    node3 = [row["nodes.failures.node3"] for row in outcome.comparison.results[1].rows]
    assert 0 < sum(aborted) < len(aborted)
    assert all(n == 14 for n, a in zip(node3, aborted) if not a)     # every kill, 6 h + 12 k h < 168 h
    assert any(n < 14 for n, a in zip(node3, aborted) if a)          # an abort stopped the later ones


def test_every_catalogue_action_is_exercised_by_an_example_experiment() -> None:
    """Each [[chaos]] action, random injection times and an abort appear in some scenarios/chaos experiment."""
    import tomllib
    import typing

    from clustersim.scenario.sections.chaos import Chaos

    files = sorted((REPO / "scenarios" / "chaos").glob("*.toml"))
    raws = [tomllib.loads(path.read_text(encoding="utf-8")) for path in files]
    used = {entry["action"] for raw in raws for entry in raw.get("inject", [])}
    assert used == set(typing.get_args(Chaos.model_fields["action"].annotation))
    assert any("between" in entry for raw in raws for entry in raw.get("inject", []))
    assert any("replay" in raw for raw in raws)
    assert any(raw.get("abort") for raw in raws)
    assert any("window" in h for raw in raws for h in raw["hypothesis"])


def test_the_chaos_api_gives_the_command_s_chaos_json(tmp_path: Path) -> None:
    """clustersim.chaos and `python -m clustersim chaos` agree: the same hypotheses and paired differences."""
    import clustersim

    path = _experiment(tmp_path, _scenario())
    result = clustersim.chaos(path)
    assert main(["chaos", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    written = json.loads((tmp_path / "out" / "chaos.json").read_text())
    assert written["hypotheses"] == json.loads(json.dumps(result.info["hypotheses"]))
    assert written["paired"] == json.loads(json.dumps(result.info["paired"]))
    assert list(result.hypotheses["verdict"]) == [h["verdict"] for h in written["hypotheses"]]

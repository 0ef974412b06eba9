"""Chaos experiments (clustersim.chaos, clustersim.experiment): control and treatment with common random numbers,
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

from clustersim.chaos import Judged, run_experiment
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
                                               "treatment.resolved.toml"}


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
    ({"inject": []}, "experiment.toml: inject: needs at least one entry"),
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


def test_the_fast_engine_refuses_the_injections_before_running(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    scenario = _scenario()
    scenario["simulation"]["engine"] = "fast"
    path = _experiment(tmp_path, scenario)
    assert main(["chaos", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "chaos injections ([[chaos]])" in capsys.readouterr().err


def test_the_gameday_example_loads_and_injects_into_the_main_cluster() -> None:
    experiment = load_experiment(REPO / "scenarios" / "chaos" / "gameday.toml")
    assert experiment.control.name == "gpt_cluster" and not experiment.control.chaos
    assert [c.action for c in experiment.treatment.chaos] == ["kill_rack", "kill_node"]
    assert experiment.control.simulation.replications == 5

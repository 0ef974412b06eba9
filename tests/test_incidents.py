"""Incident logs (clustersim.incidents): replayed in a run ([replay], the SimPy model) and fitted
(``clustersim fit``).

Hand-worked replay: 4 nodes in one rack, one 4-node training job, no spares, no modelled failure (mode =
"alone"), a 100 h horizon. The log: node1 down at 10 h for 5 h ("gpu", a failure mode of the scenario), node2
down at 30 h for 2.5 h ("psu", a cause of its own), node3 at 100 h (the horizon: it does not happen). So
nodes.failures = 2 (gpu 1, psu 1), nodes.availability = 1 − (5 + 2.5) / (4 x 100) = 0.98125, and the job is
interrupted exactly at 10 h (cause gpu) and 30 h (cause psu).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w

from clustersim.cli import main
from clustersim.errors import ClusterSimError, ScenarioError
from clustersim.fit import fit_incidents, fit_repair_laws
from clustersim.incidents import Incident
from clustersim.model.records import Kind, NodeState
from clustersim.runner import run_scenario
from clustersim.scenario import dump_scenario_toml, load_scenario
from clustersim.scenario.load import scenario_from_dict

HAND_LOG = "time,component,mode,repair_hours\n10,node1,gpu,5\n30 h,node2,psu,2.5\n100,node3,psu,1\n"


def _tiny(replay: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """4 nodes in one rack, a 4-node job checkpointing for free every hour, a gpu mode (off with alone)."""
    raw: dict[str, Any] = {
        "name": "tiny", "simulation": {"horizon": "100 h", "replications": 1, "seed": 1},
        "nodes": {"count": 4, "gpus_per_node": 8, "nodes_per_rack": 4, "failure_modes": [
            {"name": "gpu", "time_to_failure": {"dist": "exponential", "mean": "50 h"},
             "time_to_repair": {"dist": "deterministic", "value": "4 h"}}]},
        "training": [{"name": "job", "nodes": 4, "checkpoint_interval": "1 h", "checkpoint_cost": "0 min",
                      "restart_overhead": "0 min"}],
    }
    if replay is not None:
        raw["replay"] = replay
    raw.update(extra)
    return raw


def _write(tmp_path: Path, raw: dict[str, Any], log: str | None = HAND_LOG) -> Path:
    if log is not None:
        (tmp_path / "inc.csv").write_text(log)
    path = tmp_path / "s.toml"
    path.write_text(tomli_w.dumps(raw))
    return path


def _rows(log: np.ndarray, kind: Kind) -> np.ndarray:
    return log[log[:, 1] == kind.value]


def test_a_hand_worked_replay_takes_exactly_its_nodes_down_and_interrupts_the_job_then(tmp_path: Path) -> None:
    scenario = load_scenario(_write(tmp_path, _tiny({"file": "inc.csv", "mode": "alone"})))
    assert scenario.cause_names == ["gpu", "psu"] and scenario.incident_causes == [0, 1, 1]
    result = run_scenario(scenario, keep_logs=True)
    row = result.rows[0]
    assert (row["nodes.failures"], row["nodes.failures.gpu"], row["nodes.failures.psu"]) == (2, 1, 1)
    assert row["nodes.availability"] == pytest.approx(1 - 7.5 / 400, abs=1e-12)
    assert (row["training.job.interruptions.gpu"], row["training.job.interruptions.psu"]) == (1, 1)
    log = result.logs[0].log
    nodes = _rows(log, Kind.NODE)
    assert nodes[:, [0, 2, 4]].tolist() == [[10.0, 1, NodeState.DOWN], [15.0, 1, NodeState.UP],
                                            [30.0, 2, NodeState.DOWN], [32.5, 2, NodeState.UP]]
    lost = _rows(log, Kind.LOST)
    assert lost[:, 0].tolist() == [10.0, 30.0] and lost[:, 5].tolist() == [0, 1]  # at those times, by those causes


def _modelled(replay: dict[str, Any] | None) -> dict[str, Any]:
    """16 nodes in 4 racks with every kind of modelled failure: a node mode, a rack domain, the fabric's
    switches and links, the store's servers."""
    law = {"time_to_failure": {"dist": "exponential", "mean": "300 h"},
           "time_to_repair": {"dist": "exponential", "mean": "3 h"}}
    raw = _tiny(replay, failure_domains=[{"name": "rack_power", "kind": "rack", **law}],
                network={"topology": "two_tier", "spines": 2, "switch_failure": law, "link_failure": law},
                storage={"servers": 4, "replication": 2, "objects": 8, **law})
    raw["nodes"].update(count=16, nodes_per_rack=4)
    raw["simulation"].update(horizon="2000 h", replications=3)
    return raw


MODELLED_LOG = "time,component,mode,repair_hours\n100,node5,psu,6\n200,node6,gpu,3\n"


def test_alone_switches_every_modelled_failure_off(tmp_path: Path) -> None:
    on_top = run_scenario(load_scenario(_write(tmp_path, _modelled({"file": "inc.csv"}), MODELLED_LOG)))
    alone = run_scenario(load_scenario(_write(tmp_path, _modelled({"file": "inc.csv", "mode": "alone"}),
                                              MODELLED_LOG)), keep_logs=True)
    for name in ("nodes.failures.rack_power", "network.switch_failures", "network.link_failures"):
        assert all(row[name] > 0 for row in on_top.rows), name  # the model would have them ...
        assert all(row[name] == 0 for row in alone.rows), name  # ... alone, none happens
    assert all(row["nodes.failures.gpu"] > 1 for row in on_top.rows)
    for row in alone.rows:  # only the log's incidents: one gpu, one psu
        assert (row["nodes.failures"], row["nodes.failures.gpu"], row["nodes.failures.psu"]) == (2, 1, 1)
        assert row["storage.read_availability"] == 1.0
    for records in alone.logs:
        assert len(_rows(records.log, Kind.SERVER)) == 0 and len(_rows(records.log, Kind.DOMAIN)) == 0


def test_on_top_leaves_the_modelled_failures_as_without_the_log(tmp_path: Path) -> None:
    without = run_scenario(load_scenario(_write(tmp_path, _modelled(None))))
    with_log = run_scenario(load_scenario(_write(tmp_path, _modelled({"file": "inc.csv"}), MODELLED_LOG)))
    for before, after in zip(without.rows, with_log.rows):
        # same seed: every modelled cause fails as often (the log's gpu incident adds exactly one gpu failure)
        assert after["nodes.failures.gpu"] == before["nodes.failures.gpu"] + 1
        assert after["nodes.failures.psu"] == 1 and "nodes.failures.psu" not in before
        for name in ("nodes.failures.rack_power", "network.switch_failures", "network.link_failures",
                     "storage.read_availability", "storage.write_availability",
                     "storage.objects_under_replicated_mean"):
            assert after[name] == before[name], name


def test_a_rack_incident_takes_its_nodes_and_storage_servers_down_and_a_switch_incident_the_switch(
        tmp_path: Path) -> None:
    log = "time,component,mode,repair_hours\n10,rack/1,pdu,2\n50,leaf/2,tor,4\n80,storage/3,disk,1\n"
    raw = _modelled({"file": "inc.csv", "mode": "alone"})
    raw["simulation"]["replications"] = 1
    result = run_scenario(load_scenario(_write(tmp_path, raw, log)), keep_logs=True)
    row, events = result.rows[0], result.logs[0].log
    assert row["nodes.failures.pdu"] == 4 and row["nodes.failures"] == 4  # nodes 4..7
    assert row["network.switch_failures"] == 1 and row["network.node_hours_lost"] == pytest.approx(4 * 4)
    # server i sits in rack i mod 4: server 1 goes with rack 1, server 2 is cut off with leaf/2, then server 3
    servers = _rows(events, Kind.SERVER)
    assert servers[:, [0, 2, 4]].tolist() == [[10.0, 1, NodeState.DOWN], [12.0, 1, NodeState.UP],
                                              [50.0, 2, NodeState.DOWN], [54.0, 2, NodeState.UP],
                                              [80.0, 3, NodeState.DOWN], [81.0, 3, NodeState.UP]]
    assert row["nodes.availability"] == pytest.approx(1 - (4 * 2 + 4 * 4) / (16 * 2000), abs=1e-12)


@pytest.mark.parametrize("log, expected", [
    ("time,component,mode,repair_hours\n10,node1,gpu,5\n20,node9,gpu,1\n",
     "replay.file: inc.csv row 3, column component: no node9 (nodes.count = 4: node0 .. node3)"),
    ("time,component,mode,repair_hours\n-3,node1,gpu,5\n",
     "replay.file: inc.csv row 2, column time: '-3' is negative"),
    ("time,component,mode,repair_hours\nsoon,node1,gpu,5\n",
     "replay.file: inc.csv row 2, column time: 'soon' is not a number of hours (or a duration like '3 d')"),
    ("time,component,mode,repair_hours\n1,node1,gpu,0\n",
     "replay.file: inc.csv row 2, column repair_hours: '0' is not positive"),
    ("time,component,mode\n1,node1,gpu\n",
     "replay.file: inc.csv row 1: missing column 'repair_hours' (the header names the columns time, component, "
     "mode, repair_hours)"),
    ("time,component,mode,repair_hours\n1,node1,,2\n",
     "replay.file: inc.csv row 2, column mode: missing value"),
    ("time,component,mode,repair_hours\n1,rack/1,power,2\n",
     "replay.file: inc.csv row 2, column component: no rack/1 (1 rack: rack/0 .. rack/0)"),
    ("time,component,mode,repair_hours\n1,spine/0,tor,2\n",
     "replay.file: inc.csv row 2, column component: 'spine/0' is not node<N>, rack/<N> or storage/<N>, and a "
     "switch or link needs a [network]"),
    ("time,component,mode,repair_hours\n1,storage/0,disk,2\n",
     "replay.file: inc.csv row 2, column component: storage/0 needs a [storage]"),
    ("time,component,mode,repair_hours\n1,node1,network,2\n",
     "replay.file: inc.csv row 2, column mode: 'network' is reserved (the job metrics' own cause names: "
     "preemption, network, storage); name the mode otherwise"),
    ("time,component,mode,repair_hours\n",
     "replay.file: inc.csv: holds no incidents (only the header)"),
])
def test_each_bad_row_is_one_line_naming_the_file_the_row_and_the_column(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], log: str, expected: str) -> None:
    path = _write(tmp_path, _tiny({"file": "inc.csv"}), log)
    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr().err.splitlines() == [f"s.toml: {expected}"]


def test_a_missing_log_and_a_mode_named_like_a_domain_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as missing:
        load_scenario(_write(tmp_path, _tiny({"file": "nowhere.csv"}), log=None))
    assert missing.value.problems == ["replay.file: nowhere.csv: No such file"]
    raw = _tiny({"incidents": [{"time": "1 h", "component": "node0", "mode": "rack", "repair_hours": 1.0}]},
                failure_domains=[{"kind": "rack", "time_to_failure": {"dist": "exponential", "mean": "900 h"},
                                  "time_to_repair": {"dist": "exponential", "mean": "3 h"}}])
    with pytest.raises(ScenarioError) as clash:
        scenario_from_dict(raw)
    assert clash.value.problems == ["replay.incidents[0].mode: 'rack' is the cause name of failure_domains[0]; "
                                    "name a failure mode or a cause of the log's own"]


def test_the_resolved_scenario_carries_the_log_inline_and_loads_back_equal(tmp_path: Path) -> None:
    scenario = load_scenario(_write(tmp_path, _tiny({"file": "inc.csv"})))
    resolved = tmp_path / "resolved.toml"
    resolved.write_text(dump_scenario_toml(scenario))
    assert load_scenario(resolved) == scenario
    assert scenario.replay is not None and scenario.replay.source == "inc.csv"
    assert [i.row for i in scenario.replay.incidents] == [2, 3, 4]


def test_the_fast_engine_refuses_a_replay_by_name(tmp_path: Path) -> None:
    raw = _tiny({"file": "inc.csv"})
    raw["simulation"]["engine"] = "fast"
    with pytest.raises(ClusterSimError) as refused:
        run_scenario(load_scenario(_write(tmp_path, raw)))
    assert "incident replay ([replay])" in str(refused.value)


# --- fit ---------------------------------------------------------------------------------------------

def _lognormal(rng: np.random.Generator, mean: float, cv: float, size: int) -> np.ndarray:
    sigma2 = math.log1p(cv * cv)
    return rng.lognormal(math.log(mean) - sigma2 / 2, math.sqrt(sigma2), size)


TRUE_LAWS = {
    "lognormal": ({"mean": 6.0, "cv": 0.8}, lambda rng, n: _lognormal(rng, 6.0, 0.8, n)),
    "weibull": ({"shape": 1.5, "mean": 10.0}, lambda rng, n: 10.0 / math.gamma(1 + 1 / 1.5) * rng.weibull(1.5, n)),
    "gamma": ({"shape": 2.5, "mean": 4.0}, lambda rng, n: rng.gamma(2.5, 4.0 / 2.5, n)),
}


@pytest.mark.parametrize("law", list(TRUE_LAWS))
def test_fitting_2000_repairs_recovers_the_law_by_aic_and_its_parameters_within_their_intervals(law: str) -> None:
    truth, draw = TRUE_LAWS[law]
    fits = fit_repair_laws(draw(np.random.default_rng(2026), 2000))
    assert [f.law for f in fits] == ["exponential", "weibull", "lognormal", "gamma"]
    best = [f for f in fits if f.best]
    assert len(best) == 1 and best[0].law == law
    for key, value in truth.items():
        assert best[0].parameters[key].covers(value), (key, best[0].parameters[key])
    assert best[0].ks_p_value > 0.05


def _synthetic_log(rng: np.random.Generator, nodes: int, span_hours: float, mttf_hours: float) -> list[Incident]:
    """A Poisson process of rate nodes / MTTF over the span, on random nodes, with lognormal repairs."""
    count = rng.poisson(nodes * span_hours / mttf_hours)
    times = np.sort(rng.uniform(0, span_hours, count))
    repairs = _lognormal(rng, 6.0, 0.8, count)
    return [Incident(k + 2, float(t), f"node{rng.integers(nodes)}", "gpu", float(r))
            for k, (t, r) in enumerate(zip(times, repairs))]


def test_the_rate_interval_covers_the_true_rate_and_its_mttf() -> None:
    incidents = _synthetic_log(np.random.default_rng(11), 200, 2000.0, 4000.0)
    report = fit_incidents(incidents, 200, 2000.0, "synthetic.csv")
    (mode,) = report.modes
    assert mode.count == len(incidents) and mode.rate_per_node_hour.value == len(incidents) / (200 * 2000)
    assert mode.rate_per_node_hour.covers(1 / 4000) and mode.mttf_hours.covers(4000)
    assert mode.rate_per_node_hour.low < mode.rate_per_node_hour.value < mode.rate_per_node_hour.high


def test_exact_poisson_interval_of_a_hand_case() -> None:
    # 2 events in 1000 node-hours: chi2(0.025; 4)/2 = 0.2422, chi2(0.975; 6)/2 = 7.2247 (Garwood's table)
    (mode,) = fit_incidents([Incident(2, 1.0, "node0", "x", 1.0), Incident(3, 2.0, "node1", "x", 3.0)],
                            10, 100.0, "t.csv").modes
    assert mode.rate_per_node_hour.low == pytest.approx(0.2422 / 1000, rel=1e-3)
    assert mode.rate_per_node_hour.high == pytest.approx(7.2247 / 1000, rel=1e-3)
    assert [f.law for f in mode.repairs] == ["exponential"]  # two repairs: too few for a two-parameter law


def test_the_fit_command_writes_a_snippet_that_loads_as_part_of_a_scenario(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(5)
    incidents = _synthetic_log(rng, 50, 3000.0, 1500.0)
    lines = ["time,component,mode,repair_hours"] + [f"{i.time_hours},{i.component},gpu,{i.repair_hours}"
                                                    for i in incidents]
    lines += ["100,rack/0,rack_power,5", "200,node1,host,2", "300,node2,host,0.5", "400,node3,host,1.5"]
    (tmp_path / "log.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "fit.toml"
    assert main(["fit", str(tmp_path / "log.csv"), "--nodes", "50", "--span", "3000 h", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "lognormal" in printed and "MTTF" in printed
    base = _tiny()
    del base["nodes"]["failure_modes"]
    text = tomli_w.dumps(base) + "\n" + out.read_text()
    (tmp_path / "fitted.toml").write_text(text)
    scenario = load_scenario(tmp_path / "fitted.toml")
    modes = {m.name: m for m in scenario.nodes.failure_modes}
    assert sorted(modes) == ["gpu", "host"]  # rack_power struck a rack: left as a comment
    assert modes["gpu"].time_to_failure.mean_hours == pytest.approx(50 * 3000 / len(incidents), rel=1e-5)
    assert modes["gpu"].time_to_repair is not None and modes["gpu"].time_to_repair.dist == "lognormal"
    fits = json.loads((tmp_path / "fit.json").read_text())
    assert [m["mode"] for m in fits["modes"]] == ["gpu", "rack_power", "host"]
    gpu = fits["modes"][0]
    assert [law["law"] for law in gpu["repair_laws"]] == ["exponential", "weibull", "lognormal", "gamma"]
    assert all({"aic", "ks_statistic", "ks_p_value", "parameters"} <= set(law) for law in gpu["repair_laws"])


def test_the_fit_takes_the_node_count_from_a_scenario_and_the_span_from_the_log(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, _tiny())
    assert main(["fit", str(tmp_path / "inc.csv"), "--scenario", str(path), "--out", str(tmp_path / "f.toml")]) == 0
    fits = json.loads((tmp_path / "f.json").read_text())
    assert fits["nodes"] == 4 and fits["span_hours"] == 101.0  # the last repair ends at 100 + 1 h


@pytest.mark.parametrize("argv, expected", [
    (["--span", "10 d"], "fit: --nodes N (or --scenario FILE) is required: the fleet the log was observed on"),
    (["--nodes", "0"], "--nodes: must be at least 1, got 0"),
    (["--nodes", "4", "--span", "50 h"], "--span: 50 h ends before the incident of row 4 (at 100 h)"),
    (["--nodes", "4", "--span", "50"], "--span: '50' has no unit, write a duration like \"4 h\""),
    (["--nodes", "4", "--out", "fit.json"], "--out fit.json: name the TOML file (fit.toml); the JSON goes beside it"),
])
def test_bad_fit_input_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               argv: list[str], expected: str) -> None:
    (tmp_path / "inc.csv").write_text(HAND_LOG)
    assert main(["fit", str(tmp_path / "inc.csv"), *argv]) == 2
    assert capsys.readouterr().err.splitlines() == [expected]


def test_a_bad_log_given_to_fit_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "inc.csv").write_text("time,component,mode,repair_hours\n1,node1,gpu,soon\n")
    assert main(["fit", str(tmp_path / "inc.csv"), "--nodes", "4"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{tmp_path / 'inc.csv'} row 2, column repair_hours: 'soon' is not a number of hours (or a duration like "
        "'3 d')"]

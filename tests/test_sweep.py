"""Sweeps: grid expansion and validation, determinism across executors and completion order, the resumable
store (kill, resume, corrupt point files, another sweep's store), compare and search.

Every scenario here runs on the SimPy engine and takes milliseconds a point, so the whole file stays
within tens of seconds (the Dask LocalCluster's start-up is the largest part).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from clustersim.errors import ResultsError, ScenarioError
from clustersim.executors import DaskExecutor, LocalExecutor
from clustersim.sweep_grid import plan_sweep
from clustersim.sweep_run import POINTS, SWEEP_JSON, TABLE_CSV, TABLE_PARQUET, run_sweep
from clustersim.threshold_search import MET, NOT_MET, Target, decide
from conftest import clustersim_process

BASE = """\
name = "sw"
[simulation]
horizon = "{horizon}"
replications = {replications}
seed = 3
[nodes]
count = 8
nodes_per_rack = 4
[[nodes.failure_modes]]
name = "gpu"
scope = "node"
time_to_failure = {{dist = "exponential", mean = "300 h"}}
recovery = "replace"
time_to_repair = {{dist = "exponential", mean = "20 h"}}
[repair]
crews = 2
"""


def scenario_file(tmp_path: Path, sweep: str = "", horizon: str = "500 h", replications: int = 3,
                  name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(BASE.format(horizon=horizon, replications=replications) + sweep)
    return path


# --- the grid ---------------------------------------------------------------------------------

def test_product_zip_and_ranges_expand_in_order(tmp_path: Path):
    path = scenario_file(tmp_path, """
[sweep]
"repair.crews" = [1, 3]
"nodes.failure_modes[0].time_to_repair.mean" = {start = "10 h", stop = "1000 h", num = 3, scale = "log"}
[[sweep.zip]]
"spares.hot" = {start = 0, stop = 2, num = 2}
"spares.cold" = [1, 0]
""")
    plan = plan_sweep(path)
    assert plan.keys == ("repair.crews", "nodes.failure_modes[0].time_to_repair.mean", "spares.hot", "spares.cold")
    assert len(plan.points) == 2 * 3 * 2
    first, second, last = plan.points[0].values, plan.points[1].values, plan.points[-1].values
    assert first == {"repair.crews": 1, "nodes.failure_modes[0].time_to_repair.mean": "10.0 h",
                     "spares.hot": 0, "spares.cold": 1}
    assert second["spares.hot"] == 2 and second["spares.cold"] == 0  # the zip group advances together, last
    assert plan.points[2].values["nodes.failure_modes[0].time_to_repair.mean"] == "100.0 h"  # log steps
    assert last["repair.crews"] == 3 and last["nodes.failure_modes[0].time_to_repair.mean"] == "1000.0 h"
    assert plan.points[5].scenario.repair.crews == 1 and plan.points[6].scenario.repair.crews == 3
    assert plan.points[0].scenario.nodes.failure_modes[0].time_to_repair.mean_hours == 10.0
    assert plan.points[1].scenario.spares.hot == 2


def test_vary_replaces_the_file_axis_and_adds_new_ones(tmp_path: Path):
    path = scenario_file(tmp_path, '[sweep]\n"repair.crews" = [1, 2]\n')
    plan = plan_sweep(path, vary=["repair.crews=4,8,16", 'repair.detection="1 min","5 min"'])
    assert plan.keys == ("repair.crews", "repair.detection")
    assert [p.values["repair.crews"] for p in plan.points[::2]] == [4, 8, 16]
    assert plan.points[1].scenario.repair.detection == pytest.approx(5 / 60)


def test_a_bad_point_is_refused_before_anything_runs_naming_the_point_and_the_key(tmp_path: Path):
    path = scenario_file(tmp_path, '[sweep]\n"repair.crews" = [2, 0, -1]\n')
    with pytest.raises(ScenarioError) as err:
        plan_sweep(path)
    lines = str(err.value).splitlines()
    assert lines[0].startswith("s.toml: sweep point 1 (repair.crews=0): repair.crews: ")
    assert lines[1].startswith("s.toml: sweep point 2 (repair.crews=-1): repair.crews: ")


@pytest.mark.parametrize(("sweep", "vary", "message"), [
    ('"repair.crew" = [1, 2]', [], "repair.crew: unknown key, did you mean 'crews'? (and 1 more of the 2 points)"),
    ('"repair.crews" = []', [], 'sweep."repair.crews": an empty list gives no point'),
    ('"repair.crews" = {start = 1, stop = 4}', [], "a range needs num"),
    ('"repair.crews" = {start = 1, stop = 3, num = 5}', [], "repeat a value"),
    ('"repair.detection" = {start = "1 min", stop = "2 h", num = 3}', [], "start and stop must have the same unit"),
    ('"repair.crews" = {start = 0, stop = 4, num = 3, scale = "log"}', [], "a log range needs a positive start"),
    ('[[sweep.zip]]\n"spares.hot" = [1, 2]\n"spares.cold" = [1]', [], "its keys must have lists of one length"),
    ('[[sweep.zip]]\n"spares.hot" = [1, 2]\n"spares.cold" = [1, 2]', ["spares.hot=3"], "in a [[sweep.zip]] group"),
    ("", [], "nothing to vary"),
    ("", ["repair.crews"], "expected KEY=V1,V2,..."),
    ("", ["repair.crews=1,,"], "not a comma-separated list of TOML values"),
])
def test_bad_sweep_definitions_are_named(tmp_path: Path, sweep: str, vary: list[str], message: str):
    path = scenario_file(tmp_path, f"[sweep]\n{sweep}\n" if sweep else "")
    with pytest.raises(ScenarioError) as err:
        plan_sweep(path, vary=vary)
    assert message in str(err.value)


def test_the_cli_refuses_a_bad_point_with_status_2_in_a_second(tmp_path: Path):
    path = scenario_file(tmp_path)
    started = time.perf_counter()
    proc = clustersim_process(["sweep", str(path), "--vary", "repair.crews=1,0", "--out", str(tmp_path / "o")],
                              cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("s.toml: sweep point 1 (repair.crews=0): repair.crews:")
    assert not (tmp_path / "o").exists()
    assert time.perf_counter() - started < 20  # a process start-up, no simulation


# --- determinism ------------------------------------------------------------------------------

class _Reversed(LocalExecutor):
    """The local pool, its results handed over in the reverse of their completion order."""

    def results(self, fn, tasks):  # type: ignore[no-untyped-def]
        return iter(list(super().results(fn, tasks))[::-1])


def test_identical_tables_for_any_executor_worker_count_and_completion_order(tmp_path: Path):
    path = scenario_file(tmp_path, '[sweep]\n"repair.crews" = [1, 2, 4]\n"spares.hot" = [0, 2]\n')
    plan = plan_sweep(path)
    tables = {}
    for label, executor in (("local-1", LocalExecutor(1)), ("local-2", LocalExecutor(2)),
                            ("reversed", _Reversed(2)), ("dask", DaskExecutor(None, 2))):
        result = run_sweep(plan, tmp_path / label, executor, plots=False)
        assert result.points_computed == 6 and result.points_reused == 0
        tables[label] = ((tmp_path / label / TABLE_CSV).read_bytes(), (tmp_path / label / TABLE_PARQUET).read_bytes())
    assert len(set(tables.values())) == 1, "the tables differ between executors"
    table = pd.read_csv(tmp_path / "local-1" / TABLE_CSV)
    assert list(table.columns[:4]) == ["point", "repair.crews", "spares.hot", "replications"]
    assert {"nodes.availability_mean", "nodes.availability_ci95_low", "nodes.availability_ci95_high"} <= set(table)
    # common random numbers: crews change the repairs, not the failure draws of a node's first life
    run = run_sweep(plan_sweep(path, vary=["repair.crews=2"]), tmp_path / "one", LocalExecutor(1), plots=False)
    assert run.table["nodes.availability_mean"].iloc[0] == table["nodes.availability_mean"].iloc[2]


def test_a_point_equals_a_plain_run_of_its_scenario(tmp_path: Path):
    path = scenario_file(tmp_path)
    table = run_sweep(plan_sweep(path, vary=["repair.crews=1,4"]), tmp_path / "o", LocalExecutor(1), plots=False).table
    proc = clustersim_process(["--quiet", str(path), "--set", "repair.crews=4", "--out", str(tmp_path / "run")],
                              cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    for metric, e in summary["metrics"].items():
        assert table[f"{metric}_mean"].iloc[1] == e["mean"], metric


# --- the store --------------------------------------------------------------------------------

def test_resume_after_sigkill_recomputes_nothing_and_loses_nothing(tmp_path: Path):
    path = scenario_file(tmp_path, horizon="20000 h", replications=2)
    vary = ["--vary", "repair.crews=1,2,3,4,5,6,7,8", "--vary", "spares.hot=0,1,2"]
    out = tmp_path / "o"
    command = [sys.executable, "-m", "clustersim", "sweep", str(path), *vary, "--out", str(out), "--workers", "2",
               "--quiet", "--no-report"]
    proc = subprocess.Popen(command, cwd=tmp_path, start_new_session=True, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and len(list((out / POINTS).glob("*.json"))) < 3 and proc.poll() is None:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep's own process group: it and its workers
    proc.wait()
    kept = sorted(p.name for p in (out / POINTS).glob("*.json"))
    assert 3 <= len(kept) < 24, "the kill came too late to test anything"
    assert not (out / SWEEP_JSON).exists()
    proc2 = clustersim_process(["sweep", str(path), *vary, "--out", str(out), "--quiet", "--no-report"],
                               cwd=tmp_path)
    assert proc2.returncode == 0, proc2.stderr
    assert proc2.stderr == ""  # no point file was corrupt
    info = json.loads((out / SWEEP_JSON).read_text())
    assert (info["points_total"], info["points_reused"], info["points_computed"]) == (24, len(kept), 24 - len(kept))
    assert not [p for p in (out / POINTS).iterdir() if p.name.startswith(".")]  # no temporaries left
    plan = plan_sweep(path, vary=[v for v in vary if v != "--vary"])
    run_sweep(plan, tmp_path / "fresh", LocalExecutor(1), plots=False)
    assert (out / TABLE_CSV).read_bytes() == (tmp_path / "fresh" / TABLE_CSV).read_bytes()
    again = run_sweep(plan, out, LocalExecutor(1), plots=False)
    assert (again.points_computed, again.points_reused) == (0, 24)


def test_a_corrupt_point_file_is_named_and_only_its_point_recomputed(tmp_path: Path):
    path = scenario_file(tmp_path, '[sweep]\n"repair.crews" = [1, 2, 3, 4]\n')
    plan = plan_sweep(path)
    out = tmp_path / "o"
    run_sweep(plan, out, LocalExecutor(1), plots=False)
    before = (out / TABLE_CSV).read_bytes()
    bad = out / POINTS / "0000002.json"
    bad.write_text(bad.read_text().replace('"events": ', '"events": 1'))  # still JSON: the checksum catches it
    (out / POINTS / "0000003.json").write_text("{ truncated")
    lines: list[str] = []
    result = run_sweep(plan, out, LocalExecutor(1), on_corrupt=lines.append, plots=False)
    assert (result.points_computed, result.points_reused) == (2, 2)
    assert [line.split(":")[0] for line in lines] == [str(bad), str(out / POINTS / "0000003.json")]
    assert "checksum" in lines[0] and "not valid JSON" in lines[1]
    assert (out / TABLE_CSV).read_bytes() == before


def test_another_sweeps_store_is_refused_and_overwrite_replaces_it(tmp_path: Path):
    path = scenario_file(tmp_path)
    out = tmp_path / "o"
    first = clustersim_process(["sweep", str(path), "--vary", "repair.crews=1,2", "--out", str(out), "--quiet"],
                               cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert (out / "plots" / "sweep_nodes_availability.png").read_bytes().startswith(b"\x89PNG")
    proc = clustersim_process(["sweep", str(path), "--vary", "repair.crews=1,3", "--out", str(out), "--quiet"],
                              cwd=tmp_path)
    assert proc.returncode == 2
    assert "holds another sweep (scenario 'sw', 2 points, keys repair.crews)" in proc.stderr
    for other in (plan_sweep(path, overrides=["simulation.seed=4"], vary=["repair.crews=1,2"]),  # another scenario
                  plan_sweep(path, vary=["repair.crews=1,3"])):
        with pytest.raises(ResultsError, match="holds another sweep"):
            run_sweep(other, out, LocalExecutor(1), plots=False)
    run_sweep(plan_sweep(path, vary=["repair.crews=1,3"]), out, LocalExecutor(1), overwrite=True, plots=False)
    assert list(pd.read_csv(out / TABLE_CSV)["repair.crews"]) == [1, 3]
    assert not (out / "plots").exists()  # replaced whole
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ResultsError, match="not a clustersim sweep"):
        run_sweep(plan_sweep(path, vary=["repair.crews=1"]), foreign, LocalExecutor(1), plots=False)


# --- replications on a process pool --------------------------------------------------------------

def test_a_simpy_run_on_two_worker_processes_equals_the_serial_run(tmp_path: Path):
    path = scenario_file(tmp_path, replications=6)
    for workers in ("1", "2"):
        proc = clustersim_process(["--quiet", str(path), "--workers", workers, "--events", "--out",
                                   str(tmp_path / workers)], cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    for name in ("replications.csv", "events.parquet"):
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes(), name
    one, two = (json.loads((tmp_path / w / "summary.json").read_text()) for w in ("1", "2"))
    assert one["metrics"] == two["metrics"]


# --- compare ----------------------------------------------------------------------------------

def test_compare_identical_scenarios_differ_by_exactly_zero(tmp_path: Path):
    a = scenario_file(tmp_path, name="a.toml", replications=4)
    b = scenario_file(tmp_path, name="b.toml", replications=4)
    proc = clustersim_process(["compare", str(a), str(b), "--out", str(tmp_path / "o"), "--quiet"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(tmp_path / "o" / "compare.csv")
    assert list(table.columns) == ["metric", "scenario", "mean", "ci95_low", "ci95_high", "diff_mean",
                                   "diff_ci95_low", "diff_ci95_high", "significant"]
    other = table[table["scenario"] == "b.toml"]
    assert len(other) > 5
    assert (other["diff_mean"] == 0).all() and (other["diff_ci95_low"] == 0).all()
    assert (other["diff_ci95_high"] == 0).all() and not other["significant"].any()
    assert table[table["scenario"] == "a.toml"]["diff_mean"].isna().all()


def test_compare_finds_the_significant_difference_of_more_crews(tmp_path: Path):
    import clustersim

    a = scenario_file(tmp_path, name="a.toml", replications=8, horizon="3000 h")
    b = tmp_path / "b.toml"
    b.write_text(a.read_text().replace('name = "sw"', 'name = "more-crews"').replace("crews = 2", "crews = 8")
                 .replace("count = 8", "count = 8\n").replace('mean = "300 h"', 'mean = "30 h"'))
    table = clustersim.compare(a, b).table
    row = table[(table["metric"] == "nodes.availability") & (table["scenario"] == "more-crews")].iloc[0]
    assert row["significant"] and row["diff_mean"] < 0  # failing ten times as often costs availability
    proc = clustersim_process(["compare", str(a), str(b), "--seed", "5", "--out", str(tmp_path / "o")], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "significant" in proc.stdout
    b.write_text(b.read_text().replace("seed = 3", "seed = 4"))
    proc = clustersim_process(["compare", str(a), str(b), "--out", str(tmp_path / "o2")], cwd=tmp_path)
    assert proc.returncode == 2 and "common random numbers need one seed" in proc.stderr


# --- search -----------------------------------------------------------------------------------

DETERMINISTIC = """\
name = "det"
[simulation]
horizon = "330 h"
replications = 3
seed = 1
[nodes]
count = 4
nodes_per_rack = 1
[[nodes.failure_modes]]
name = "host"
scope = "node"
time_to_failure = {dist = "deterministic", value = "100 h"}
recovery = "reboot"
time_to_repair = {dist = "deterministic", value = "10 h"}
"""


@pytest.mark.parametrize(("target", "answer", "direction"), [("nodes.failures >= 30", 10, "smallest"),
                                                             ("nodes.failures < 30", 9, "largest")])
def test_search_finds_a_known_threshold(tmp_path: Path, target: str, answer: int, direction: str):
    # every node fails at 100 h, 210 h and 320 h (up 100 h, down 10 h): 3 failures a node, exactly
    path = tmp_path / "det.toml"
    path.write_text(DETERMINISTIC)
    proc = clustersim_process(["search", str(path), "--vary", "nodes.count", "--min", "1", "--max", "64",
                               "--target", target, "--out", str(tmp_path / "o")], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    info = json.loads((tmp_path / "o" / "search.json").read_text())
    assert (info["found"], info["answer"], info["direction"]) == (True, answer, direction)
    by_value = {s["value"]: s for s in info["steps"]}
    assert by_value[answer]["decision"] == "met" and by_value[answer]["mean"] == 3 * answer
    assert f"nodes.count that meets {target}" in proc.stdout and f"is {answer}" in proc.stdout


def test_sequential_decisions_wait_for_confidence():
    target = Target("m", ">=", 0.5)
    assert decide([0.6, 0.61, 0.59], target, 0.95)[0] == MET
    assert decide([0.4, 0.41, 0.39], target, 0.95)[0] == NOT_MET
    assert decide([0.3, 0.7, 0.5], target, 0.95)[0] == "undecided"


def test_a_plain_run_leaves_the_sweep_table_alone_on_either_engine(tmp_path: Path):
    from clustersim.engine.fast.support import unsupported_features
    from clustersim.scenario import load_scenario

    path = scenario_file(tmp_path, '[sweep]\n"repair.crews" = [1, 2]\n')
    scenario = load_scenario(path, ['simulation.engine="fast"'])
    assert scenario.sweep == {"repair.crews": [1, 2]} and scenario.repair.crews == 2
    assert unsupported_features(scenario) == []


def test_a_fast_engine_sweep_is_identical_in_this_process_and_on_two_workers(tmp_path: Path):
    """The fast engine's points: on its own threads here, single-threaded in each of two workers."""
    path = scenario_file(tmp_path, '[sweep]\n"repair.crews" = [1, 2, 4]\n', horizon="2000 h", replications=4)
    plan = plan_sweep(path, overrides=['simulation.engine="fast"'])
    for label, workers in (("one", 1), ("two", 2)):
        run_sweep(plan, tmp_path / label, LocalExecutor(workers), plots=False)
    assert (tmp_path / "one" / TABLE_CSV).read_bytes() == (tmp_path / "two" / TABLE_CSV).read_bytes()

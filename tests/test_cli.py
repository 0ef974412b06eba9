"""The command line end to end, through a real ``python -m clustersim`` process.

Checks the results contract of shared/DESIGN.md: summary.json fields, one replications.csv
row per replication, a resolved scenario that loads back equal, the event log, --quiet,
--set, ``validate``, ``schema`` and the default output directory.
"""
from __future__ import annotations

import json
import math
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from clustersim.model.records import COLUMNS
from clustersim.scenario import load_scenario
from conftest import clustersim_process

REPLICATIONS = 3

SCENARIO = f"""\
name = "tiny"

[simulation]
horizon = "20 d"
replications = {REPLICATIONS}
seed = 11

[nodes]
count = 8
gpus_per_node = 2
nodes_per_rack = 4

[[nodes.failure_modes]]
name = "gpu"
scope = "gpu"
time_to_failure = {{dist = "exponential", afr = 2.0}}
recovery = "replace"
time_to_repair = {{dist = "lognormal", mean = "8 h", cv = 0.5}}

[[nodes.failure_modes]]
name = "host"
time_to_failure = {{dist = "weibull", shape = 1.5, mean = "500 h"}}
recovery = "reboot"
time_to_repair = {{dist = "empirical", file = "reboots.csv"}}

[repair]
crews = 1
detection = "2 min"

[spares]
hot = 1
cold = 1

[[failure_domains]]
kind = "rack"
time_to_failure = {{dist = "exponential", mean = "5000 h"}}
time_to_repair = {{dist = "uniform", low = "1 h", high = "3 h"}}

[[chaos]]
action = "kill_node"
at = "1 d"
node = 3
duration = "2 h"
"""

CONTRACT_METRICS = ["nodes.availability", "nodes.up_mean", "nodes.failures", "nodes.failures.gpu",
                    "nodes.failures.host", "nodes.outage_mean_hours", "repair.wait_mean_hours"]


def write_scenario(directory: Path) -> Path:
    (directory / "reboots.csv").write_text("# minutes, in hours\n0.1\n0.25\n0.5\n")
    path = directory / "tiny.toml"
    path.write_text(SCENARIO)
    return path


def clustersim(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    proc = clustersim_process(list(args), cwd)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@pytest.fixture(scope="module")
def quiet_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path, Path]:
    """``clustersim tiny.toml --out DIR --events --quiet``: the process, the scenario, DIR."""
    work = tmp_path_factory.mktemp("quiet")
    path = write_scenario(work)
    proc = clustersim(path.name, "--out", "out", "--events", "--quiet", cwd=work)
    return proc, path, work / "out"


@pytest.fixture(scope="module")
def default_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """``clustersim tiny.toml --set repair.crews=2`` (no --out, not quiet) in a fresh cwd."""
    work = tmp_path_factory.mktemp("default")
    path = write_scenario(work)
    proc = clustersim(path.name, "--set", "repair.crews=2", cwd=work)
    return proc, work


def test_quiet_run_succeeds_and_prints_nothing(quiet_run):
    proc, _, out = quiet_run
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""
    assert sorted(p.name for p in out.iterdir()) == [
        "events.parquet", "plots", "replications.csv", "report.html", "report.md", "scenario.resolved.toml",
        "summary.json"]


def test_summary_json_has_the_contract_fields(quiet_run):
    _, _, out = quiet_run
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario"] == "tiny"
    assert summary["engine"] == "simpy"
    assert summary["seed"] == 11
    assert summary["replications"] == REPLICATIONS
    assert summary["horizon_hours"] == 20 * 24.0
    assert isinstance(summary["clustersim_version"], str) and summary["clustersim_version"]
    assert isinstance(summary["timing"]["simulate_s"], float) and summary["timing"]["simulate_s"] > 0
    assert isinstance(summary["timing"]["events"], int) and summary["timing"]["events"] > 0
    metrics = summary["metrics"]
    for name in CONTRACT_METRICS:
        assert name in metrics, name
    for name, metric in metrics.items():
        assert {"mean", "ci95_low", "ci95_high", "unit"} <= metric.keys(), name
        assert isinstance(metric["unit"], str) and metric["unit"], name
        if metric["mean"] is not None and metric["ci95_low"] is not None:
            assert metric["ci95_low"] <= metric["mean"] <= metric["ci95_high"], name
    assert 0.0 < metrics["nodes.availability"]["mean"] <= 1.0
    assert metrics["nodes.availability"]["unit"] == "fraction"


def test_replications_csv_has_one_row_per_replication(quiet_run):
    _, _, out = quiet_run
    summary = json.loads((out / "summary.json").read_text())
    frame = pd.read_csv(out / "replications.csv")
    assert len(frame) == REPLICATIONS
    assert set(summary["metrics"]) <= set(frame.columns)
    for name in CONTRACT_METRICS:
        column = frame[name]
        assert column.notna().all() or name == "repair.wait_mean_hours", name
    mean = frame["nodes.availability"].mean()
    assert math.isclose(mean, summary["metrics"]["nodes.availability"]["mean"], rel_tol=1e-9)


def test_resolved_scenario_loads_back_equal(quiet_run):
    _, path, out = quiet_run
    resolved = out / "scenario.resolved.toml"
    original = load_scenario(path)
    again = load_scenario(resolved)
    assert again == original
    text = resolved.read_text()
    assert "reboots.csv" not in text  # the empirical file is carried inline
    assert "provisioning" in text  # defaults are written out


def test_events_parquet_reads_with_pandas(quiet_run):
    _, _, out = quiet_run
    events = pd.read_parquet(out / "events.parquet")
    assert {"replication", *COLUMNS} <= set(events.columns)
    assert len(events) > 0
    assert set(events["replication"]) == set(range(REPLICATIONS))
    summary = json.loads((out / "summary.json").read_text())
    assert len(events) == summary["timing"]["events"]
    assert events["time_hours"].between(0, 20 * 24.0).all()


def test_run_without_quiet_prints_a_table(default_run):
    proc, _ = default_run
    assert proc.returncode == 0, proc.stderr
    assert "nodes.availability" in proc.stdout
    assert "95 %" in proc.stdout
    assert "results in" in proc.stdout


def test_default_output_directory_is_results_name_timestamp(default_run):
    proc, work = default_run
    runs = list((work / "results" / "tiny").iterdir())
    assert len(runs) == 1
    assert re.fullmatch(r"\d{8}T\d{6}(-\d+)?", runs[0].name), runs[0].name
    assert (runs[0] / "summary.json").is_file()
    assert not (runs[0] / "events.parquet").exists()  # only with --events


def test_set_changes_the_resolved_scenario(default_run, quiet_run):
    _, work = default_run
    (run,) = (work / "results" / "tiny").iterdir()
    resolved = load_scenario(run / "scenario.resolved.toml")
    original = load_scenario(quiet_run[1])
    assert original.repair.crews == 1 and resolved.repair.crews == 2
    assert resolved.model_copy(update={"repair": original.repair}) == original


def test_validate_prints_the_resolved_toml(tmp_path):
    path = write_scenario(tmp_path)
    proc = clustersim("validate", path.name, "--set", 'spares.swap_time="2 min"', cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    (tmp_path / "printed.toml").write_text(proc.stdout)
    printed = load_scenario(tmp_path / "printed.toml")
    assert printed == load_scenario(path, ['spares.swap_time="2 min"'])
    assert printed.spares.swap_time == pytest.approx(2 / 60)
    assert not (tmp_path / "results").exists()


def test_schema_prints_json_schema(tmp_path):
    proc = clustersim("schema", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    assert "nodes" in schema["properties"]
    assert "nodes" in schema["required"]
    assert "$defs" in schema

"""optimize-checkpoint: Young's and Daly's formulas (Daly's worked examples), the job's effective
MTBF, the optimum's range, the sweep on Daly's own model, the command line end to end and its bad inputs."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import pandas as pd
import pytest

from clustersim.checkpoint_sweep import optimize_checkpoint, with_checkpoint_interval
from clustersim.checkpointing import (
    IntervalOutcome, analytic_mtbf_hours, daly_ettr, daly_interval_hours, default_intervals_hours,
    measured_mtbf_hours, optimum_range, young_interval_hours,
)
from clustersim.scenario import scenario_from_dict
from clustersim.stats import estimate
from conftest import base_scenario, within_ci
from test_bad_inputs import FILE, TRAINING, assert_reported, run_cli, with_training
from test_training import daly_scenario

MINUTE = 1 / 60


@pytest.mark.parametrize("mtbf_hours, minutes", [(24.0, 117), (6.0, 57), (15 * MINUTE, 9.1)])
def test_daly_worked_examples(mtbf_hours: float, minutes: float):
    """Daly (2006) with δ = 5 min: M = 24 h -> 117 min; M = 6 h -> 57 min; M = 15 min -> 9.1 min
    (shared/data/published-figures.md, "Checkpoint interval")."""
    tau_minutes = daly_interval_hours(5 * MINUTE, mtbf_hours) * 60
    assert round(tau_minutes, 1 if minutes < 10 else 0) == minutes


def test_young_and_daly_limits():
    assert young_interval_hours(0.5, 4.0) == pytest.approx(2.0)
    assert daly_interval_hours(3.0, 1.0) == 1.0   # δ ≥ 2M: τ = M
    # for δ ≪ M Daly's correction vanishes: τ ≈ sqrt(2δM) − δ
    assert daly_interval_hours(1e-4, 100.0) == pytest.approx(young_interval_hours(1e-4, 100.0) - 1e-4, rel=1e-3)


def test_analytic_mtbf_of_daly_model():
    raw = daly_scenario(mtbf=10.0, tau=2.0, delta=0.2, restart=0.5)
    assert analytic_mtbf_hours(scenario_from_dict(raw), 0) == pytest.approx(10.0)


def test_analytic_mtbf_counts_gpu_clocks_and_the_racks_the_job_touches():
    """6 nodes × (8 GPU clocks / 80,000 h + 1 / 20,000 h) + 2 racks touched / 50,000 h."""
    raw = base_scenario(
        nodes={"count": 12, "gpus_per_node": 8, "nodes_per_rack": 4, "failure_modes": [
            {"name": "gpu", "scope": "gpu", "time_to_failure": {"dist": "exponential", "mean": "80000 h"},
             "time_to_repair": {"dist": "exponential", "mean": "5 h"}},
            {"name": "host", "time_to_failure": {"dist": "exponential", "mean": "20000 h"},
             "time_to_repair": {"dist": "exponential", "mean": "5 h"}}]},
        failure_domains=[{"kind": "rack", "time_to_failure": {"dist": "exponential", "mean": "50000 h"},
                          "time_to_repair": {"dist": "exponential", "mean": "5 h"}}],
        training=[{"name": "pretrain", "nodes": 6, "checkpoint_interval": "1 h", "checkpoint_cost": "5 min",
                   "restart_overhead": "10 min"}],
    )
    rate = 6 * (8 / 80000 + 1 / 20000) + 2 / 50000
    assert analytic_mtbf_hours(scenario_from_dict(raw), 0) == pytest.approx(1 / rate)
    raw["nodes"]["failure_modes"][1]["time_to_failure"] = {"dist": "weibull", "shape": 1.5, "mean": "20000 h"}
    assert analytic_mtbf_hours(scenario_from_dict(raw), 0) is None


def test_measured_mtbf_is_wall_hours_per_interruption_over_the_jobs_window():
    raw = daly_scenario(mtbf=10.0, tau=2.0, delta=0.2, restart=0.5, horizon_h=1100, work="500 h")
    scenario = scenario_from_dict(raw)   # warmup 100 h
    rows = [{"training.pretrain.interruptions": 40.0, "training.pretrain.completion_hours": math.nan},
            {"training.pretrain.interruptions": 20.0, "training.pretrain.completion_hours": 700.0}]
    assert measured_mtbf_hours(scenario, 0, rows) == pytest.approx((1000 + 600) / 60)
    assert measured_mtbf_hours(scenario, 0, [{"training.pretrain.interruptions": 0.0}]) == math.inf


def outcome(hours: float, goodput: list[float]) -> IntervalOutcome:
    same = estimate(goodput, "fraction")
    return IntervalOutcome(hours, same, same, same, same)


def test_optimum_range_spans_the_intervals_whose_ci_overlaps_the_best():
    outcomes = [outcome(0.5, [0.60, 0.61]), outcome(1.0, [0.79, 0.81]), outcome(2.0, [0.80, 0.82]),
                outcome(4.0, [0.81, 0.815]), outcome(8.0, [0.70, 0.71])]
    best = optimum_range(outcomes)
    assert best.best.interval_hours == 4.0
    assert (best.low_hours, best.high_hours) == (1.0, 4.0)
    assert best.contains(1.5) and not best.contains(0.9)


def test_default_grid_is_log_spaced_around_the_centre_and_clipped():
    grid = default_intervals_hours(2.0, longest_hours=1000.0, points=8)
    assert grid[0] == 0.5 and grid[-1] == 8.0 and len(grid) == 8
    ratios = [b / a for a, b in zip(grid, grid[1:])]
    assert max(ratios) / min(ratios) < 1.02
    assert default_intervals_hours(2.0, longest_hours=3.0, points=8)[-1] == 3.0
    assert default_intervals_hours(0.01, longest_hours=3.0, points=8)[0] == pytest.approx(MINUTE, rel=1e-2)


def test_with_checkpoint_interval_changes_nothing_else():
    scenario = scenario_from_dict(daly_scenario(mtbf=10.0, tau=2.0, delta=0.2, restart=0.5))
    changed = with_checkpoint_interval(scenario, 0, 3.5)
    assert changed.training[0].checkpoint_interval == 3.5
    assert changed.training[0].model_copy(update={"checkpoint_interval": 2.0}) == scenario.training[0]
    assert changed.model_copy(update={"training": scenario.training}) == scenario


@pytest.fixture(scope="module")
def daly_sweep():
    """Daly's model (exponential nodes, ample hot spares, detection = swap = 0): M = 10 h, δ = 0.2 h,
    R = 0.5 h, swept over 8 intervals from a quarter to four times Daly's optimum (1.87 h)."""
    mtbf, delta, restart = 10.0, 0.2, 0.5
    raw = daly_scenario(mtbf, tau=1.0, delta=delta, restart=restart, nodes=4, horizon_h=3000)
    raw["simulation"]["replications"] = 8
    scenario = scenario_from_dict(raw)
    grid = default_intervals_hours(daly_interval_hours(delta, mtbf), longest_hours=2900.0, points=8)
    return optimize_checkpoint(scenario, 0, grid), (mtbf, delta, restart)


def test_daly_optimum_lies_in_the_simulated_range(daly_sweep):
    advice, (mtbf, delta, _) = daly_sweep
    assert advice.mtbf.analytic_hours == pytest.approx(mtbf)
    assert advice.checkpoint_hours == delta
    assert advice.optimum.contains(advice.young_hours)
    assert advice.optimum.contains(advice.daly_hours)
    assert advice.optimum.contains(daly_interval_hours(delta, mtbf))   # with the true M too
    # the sweep tells intervals apart: the grid's ends lie outside the range
    assert not advice.optimum.contains(advice.outcomes[0].interval_hours)
    assert not advice.optimum.contains(advice.outcomes[-1].interval_hours)


def test_each_interval_runs_at_that_interval(daly_sweep):
    """Every point's ETTR is Daly's expected ETTR at its own interval (true M, δ, R)."""
    advice, (mtbf, delta, restart) = daly_sweep
    assert len(advice.outcomes) == 9   # 8 grid points and the scenario's own 1 h
    for o in advice.outcomes:
        assert within_ci(o.ettr, daly_ettr(mtbf, o.interval_hours, delta, restart)), o.interval_hours


SCENARIO = """\
name = "ckpt"

[simulation]
horizon = "400 h"
replications = 3
seed = 5

[nodes]
count = 12
nodes_per_rack = 12

[[nodes.failure_modes]]
name = "fault"
time_to_failure = {dist = "exponential", mean = "80 h"}
time_to_repair = {dist = "exponential", mean = "5 h"}

[spares]
hot = 4
swap_time = "3 min"

[[training]]
name = "pretrain"
nodes = 8
checkpoint_interval = "1 h"
checkpoint_cost = "6 min"
restart_overhead = "10 min"
"""


def test_cli_writes_the_table_the_optima_and_the_plot(tmp_path):
    (tmp_path / "ckpt.toml").write_text(SCENARIO)
    proc = subprocess.run(
        [sys.executable, "-m", "clustersim", "optimize-checkpoint", "ckpt.toml", "--job", "pretrain",
         "--intervals", "20 min, 40 min,2 h", "--out", "out", "--seed", "6"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "Simulated optimum" in proc.stdout and "Young" in proc.stdout and "Daly" in proc.stdout
    out = tmp_path / "out"
    table = pd.read_csv(out / "optimize_checkpoint.csv")
    assert table["interval_hours"].tolist() == pytest.approx([1 / 3, 2 / 3, 1.0, 2.0])
    assert table["current"].tolist() == [False, False, True, False]
    for metric in ("goodput", "ettr", "interruptions", "lost_work_hours"):
        assert (table[f"{metric}_ci95_low"] <= table[f"{metric}_mean"]).all()
        assert (table[f"{metric}_mean"] <= table[f"{metric}_ci95_high"]).all()
    optima = json.loads((out / "optimize_checkpoint.json").read_text())
    assert optima["job"] == "pretrain" and optima["seed"] == 6
    assert optima["mtbf_hours"]["analytic"] == pytest.approx(10.0)   # 8 nodes / 80 h
    assert optima["checkpoint_hours"] == pytest.approx(0.1)
    assert optima["daly_interval_hours"] == pytest.approx(
        daly_interval_hours(0.1, optima["mtbf_hours"]["measured"]))
    best = table.loc[table["goodput_mean"].idxmax(), "interval_hours"]
    assert optima["simulated_optimum"]["interval_hours"] == pytest.approx(best)
    low, high = optima["optimum_range_hours"]["low"], optima["optimum_range_hours"]["high"]
    assert table.loc[table["in_optimum_range"], "interval_hours"].tolist() == pytest.approx(
        [h for h in table["interval_hours"] if low <= h <= high])
    assert (out / "goodput_vs_interval.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_default_grid_and_default_directory(tmp_path, capsys, monkeypatch):
    """Without --intervals: 13 log-spaced points around Daly's optimum plus the current interval,
    in results/<scenario>/optimize-checkpoint-<job>-<timestamp>/."""
    (tmp_path / "ckpt.toml").write_text(SCENARIO)
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(["optimize-checkpoint", "ckpt.toml", "--job", "pretrain", "--quiet",
                              "--replications", "2", "--set", 'simulation.horizon="100 h"'], capsys)
    assert (code, out, err) == (0, "", "")
    (run,) = (tmp_path / "results" / "ckpt").iterdir()
    assert run.name.startswith("optimize-checkpoint-pretrain-")
    optima = json.loads((run / "optimize_checkpoint.json").read_text())
    daly = optima["daly_interval_hours"]
    grid = [h for h in optima["intervals_hours"] if h != 1.0]
    assert len(grid) == 13
    assert grid[0] == pytest.approx(daly / 4, rel=5e-3) and grid[-1] == pytest.approx(daly * 4, rel=5e-3)


# BASE's failure laws made too rare to strike in its 10 days; its chaos moved off the job (positions 0-3)
NEVER_INTERRUPTED = [arg for key in ("nodes.failure_modes[0]", "nodes.failure_modes[1]", "failure_domains[0]")
                     for arg in ("--set", f'{key}.time_to_failure.mean="1e12 h"')] + ["--set", "chaos[0].node=5"]
CONTINUOUS = with_training(('checkpoint_interval = "1 h"\ncheckpoint_cost = "2 min"\n',
                            'checkpoint_mode = "continuous"\n'))


@pytest.mark.parametrize("text, args, key, reason", [
    (with_training(), ["--job", "finetune"], "--job", "no training job named 'finetune' (its jobs: pretrain)"),
    (with_training().replace(TRAINING, ""), ["--job", "pretrain"], "--job", "it has no [[training]] job"),
    (CONTINUOUS, ["--job", "pretrain"], "--job", "'pretrain' checkpoints continuously"),
    (with_training(), ["--job", "pretrain", "--intervals", "10 min,1 hour"], "--intervals", "unknown unit 'hour'"),
    (with_training(), ["--job", "pretrain", "--intervals", "30"], "--intervals", "'30' has no unit"),
    (with_training(), ["--job", "pretrain", "--intervals", "0 min"], "--intervals", "must be a positive duration"),
    (with_training(), ["--job", "pretrain", "--intervals", "1 h,"], "--intervals", "must be a duration"),
    (with_training(('restart_overhead', 'checkpoint_mode = "async"\nrestart_overhead')), ["--job", "pretrain"],
     "training[0].snapshot_cost", "a checkpoint that blocks for no time"),
    (with_training(), ["--job", "pretrain", *NEVER_INTERRUPTED], "--job",
     "'pretrain' was never interrupted in the baseline run"),
], ids=["unknown job", "no jobs", "continuous job", "unknown unit", "bare number", "zero interval", "empty item",
        "async without a blocking snapshot", "never interrupted, no analytic MTBF"])
def test_bad_inputs_exit_2_naming_file_and_flag(text: str, args: list[str], key: str, reason: str, tmp_path, capsys):
    (tmp_path / FILE).write_text(text)
    out_dir = tmp_path / "out"
    code, out, err = run_cli(["optimize-checkpoint", str(tmp_path / FILE), *args, "--out", str(out_dir)], capsys)
    assert code == 2, err
    assert out == "" and len(err.splitlines()) == 1
    assert_reported(err, key, reason)
    assert not out_dir.exists() or not any(out_dir.iterdir())


def test_the_grid_on_two_worker_processes_gives_the_same_table(tmp_path):
    """--workers 2: the grid's intervals run as a sweep's points on a process pool; the numbers are the same."""
    (tmp_path / "ckpt.toml").write_text(SCENARIO)
    tables = []
    for workers in ("1", "2"):
        proc = subprocess.run(
            [sys.executable, "-m", "clustersim", "optimize-checkpoint", "ckpt.toml", "--job", "pretrain", "--quiet",
             "--intervals", "20 min,2 h,4 h", "--out", f"out{workers}", "--workers", workers],
            cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        tables.append((tmp_path / f"out{workers}" / "optimize_checkpoint.csv").read_bytes())
    assert tables[0] == tables[1]

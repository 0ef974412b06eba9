"""Adaptive replications: run until every precision metric's 95 % half-width is within precision × |mean|.

The stopping point is recomputed here from the per-replication rows with ``clustersim.stats.estimate``,
so these tests check the run loop against the rule itself, not against its own helpers.
"""
from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

import clustersim.runner
from clustersim.adaptive import PrecisionTarget, relative_half_width, replication_batches
from clustersim.cli import main
from clustersim.engine.base import ReplicationOutcome
from clustersim.engine.simpy_engine import SimpyEngine
from clustersim.report.results import summary_dict
from clustersim.runner import RunResult
from clustersim.runner import run_scenario
from clustersim.scenario import dump_scenario_toml, load_scenario, scenario_from_dict
from clustersim.scenario.schema import Scenario
from clustersim.stats import estimate

METRICS = ["nodes.availability", "nodes.failures"]


def scenario(**simulation: Any) -> Scenario:
    """8 nodes with 2 GPUs each over 30 days: about 5 failures per replication, a few ms each."""
    return scenario_from_dict({
        "name": "adaptive",
        "simulation": {"horizon": "30 d", "seed": 3, **simulation},
        "nodes": {"count": 8, "gpus_per_node": 2, "nodes_per_rack": 4, "failure_modes": [
            {"name": "gpu", "scope": "gpu", "time_to_failure": {"dist": "exponential", "mean": "2000 h"},
             "time_to_repair": {"dist": "lognormal", "mean": "8 h", "cv": 0.5}}]},
    })


def adaptive(precision: float = 0.1, metrics: Sequence[str] = tuple(METRICS), **bounds: int) -> Scenario:
    return scenario(precision=precision, precision_metrics=list(metrics), **bounds)


def met(rows: list[dict[str, float]], metrics: Sequence[str], precision: float) -> bool:
    """The stopping rule, straight from the estimates: half-width ≤ precision × |mean| for every metric."""
    for name in metrics:
        e = estimate([row[name] for row in rows], "")
        if e.half_width is None or not (e.half_width <= precision * abs(e.mean) or e.half_width == 0):
            return False
    return True


def same_result(a: RunResult, b: RunResult) -> bool:
    """Every number two runs report is equal (timing aside, which is wall-clock)."""
    return (a.rows == b.rows and a.estimates == b.estimates and a.precision == b.precision
            and a.events == b.events and a.complete == b.complete)


def test_stops_at_the_first_replication_that_meets_the_target():
    result = run_scenario(adaptive(0.1, min_replications=5, max_replications=400))
    n = len(result.rows)
    assert result.complete and result.precision is not None and result.precision.converged
    assert 5 < n < 400
    assert met(result.rows, METRICS, 0.1)
    assert not any(met(result.rows[:k], METRICS, 0.1) for k in range(5, n))  # n - 1 included
    for name, width in result.precision.achieved.items():
        e = result.estimates[name]
        assert width == pytest.approx(e.half_width / abs(e.mean), rel=1e-12) and width <= 0.1


def test_two_runs_are_identical():
    first, second = run_scenario(adaptive(0.1)), run_scenario(adaptive(0.1))
    assert len(first.rows) == len(second.rows) > 10
    assert same_result(first, second)


@pytest.mark.parametrize("batch_size", [7, 64])
def test_batch_size_changes_nothing(batch_size: int):
    one_at_a_time = run_scenario(adaptive(0.1), batch_size=1)
    assert same_result(run_scenario(adaptive(0.1), batch_size=batch_size), one_at_a_time)
    assert same_result(run_scenario(adaptive(0.1)), one_at_a_time)  # the default, growing batches


class EagerShuffledEngine:
    """Runs a whole batch before yielding any of it, last index first, as a parallel engine might."""

    name = "eager"

    def __init__(self) -> None:
        self.requested: list[int] = []

    def run(self, scenario: Scenario, replications: Sequence[int], keep_logs: bool = False,
            node_table: bool = False) -> Iterator[ReplicationOutcome]:
        self.requested += list(replications)
        outcomes = list(SimpyEngine().run(scenario, replications, keep_logs, node_table))
        yield from reversed(outcomes)


def test_replications_past_the_stopping_point_are_discarded(monkeypatch):
    engine = EagerShuffledEngine()
    monkeypatch.setattr(clustersim.runner, "engine_for", lambda scenario: engine)
    eager = run_scenario(adaptive(0.1), batch_size=64, keep_logs=True)
    monkeypatch.undo()
    lazy = run_scenario(adaptive(0.1), batch_size=1, keep_logs=True)
    n = len(lazy.rows)
    assert max(engine.requested) + 1 > n  # the engine ran replications that the result leaves out
    assert engine.requested == list(range(len(engine.requested)))
    assert same_result(eager, lazy)
    assert [log.replication for log in eager.logs] == list(range(n))


def test_fixed_runs_do_not_depend_on_the_batch_size(monkeypatch):
    whole = run_scenario(scenario(replications=9))
    assert same_result(run_scenario(scenario(replications=9), batch_size=4), whole)
    monkeypatch.setattr(clustersim.runner, "engine_for", lambda scenario: EagerShuffledEngine())
    assert same_result(run_scenario(scenario(replications=9), batch_size=4), whole)
    assert whole.precision is None and len(whole.rows) == 9


def test_max_replications_reached_is_not_converged():
    result = run_scenario(adaptive(0.001, min_replications=3, max_replications=6))
    assert len(result.rows) == 6 and result.complete
    assert result.precision is not None and not result.precision.converged
    assert all(width is not None and width > 0.001 for width in result.precision.achieved.values())
    summary = summary_dict(result)
    assert summary["replications"] == 6 and summary["replications_requested"] is None
    assert summary["precision"]["converged"] is False


def test_min_replications_even_when_met_at_once():
    """Without failure modes every node is always up: availability 1 and failures 0, zero half-width."""
    quiet = scenario_from_dict({
        "name": "quiet", "simulation": {"horizon": "10 d", "precision": 0.02, "precision_metrics": METRICS,
                                        "min_replications": 7},
        "nodes": {"count": 4},
    })
    result = run_scenario(quiet, batch_size=3)
    assert len(result.rows) == 7
    assert result.precision is not None and result.precision.converged
    assert result.precision.achieved == {"nodes.availability": 0.0, "nodes.failures": 0.0}


def test_a_metric_that_is_never_defined_never_converges():
    """Reboot-only failures never wait for a crew, so repair.wait_mean_hours is undefined in every replication."""
    raw = {"name": "reboots", "simulation": {"horizon": "10 d", "precision": 0.5,
                                             "precision_metrics": ["repair.wait_mean_hours"],
                                             "min_replications": 2, "max_replications": 4},
           "nodes": {"count": 4, "failure_modes": [
               {"name": "host", "recovery": "reboot", "time_to_failure": {"dist": "exponential", "mean": "100 h"},
                "time_to_repair": {"dist": "deterministic", "value": "1 h"}}]}}
    result = run_scenario(scenario_from_dict(raw))
    assert len(result.rows) == 4
    assert result.precision is not None and not result.precision.converged
    assert result.precision.achieved == {"repair.wait_mean_hours": None}
    assert summary_dict(result)["precision"]["metrics"] == {"repair.wait_mean_hours": None}


@pytest.mark.parametrize("values, expected", [
    ([0.0, 0.0, 0.0], 0.0),          # mean 0, half-width 0: met
    ([2.0, 2.0], 0.0),
    ([-1.0, 1.0], None),             # mean 0 with spread: no relative width
    ([1.0, math.nan], None),         # fewer than 2 finite values
    ([], None),
])
def test_relative_half_width_edge_cases(values: list[float], expected: float | None):
    assert relative_half_width(values) == expected


def test_relative_half_width_is_half_width_over_mean():
    e = estimate([1.0, 2.0, 4.0, -0.5], "")
    assert relative_half_width([1.0, 2.0, 4.0, -0.5]) == pytest.approx(e.half_width / abs(e.mean), rel=1e-15)


def test_batches_start_with_the_minimum_and_stop_at_the_maximum():
    target = PrecisionTarget(0.1, ("nodes.failures",), min_replications=10, max_replications=40)
    assert [(b.start, b.stop) for b in replication_batches(target, 7)] == [(0, 10), (10, 17), (17, 24), (24, 31),
                                                                         (31, 38), (38, 40)]
    growing = [(b.start, b.stop) for b in replication_batches(target)]
    assert growing == [(0, 10), (10, 15), (15, 22), (22, 33), (33, 40)]


def test_ctrl_c_keeps_the_finished_replications(monkeypatch):
    class Interrupted:
        name = "interrupted"

        def run(self, scenario, replications, keep_logs=False, node_table=False):
            for outcome in SimpyEngine().run(scenario, replications, keep_logs, node_table):
                if outcome.replication == 3:
                    raise KeyboardInterrupt
                yield outcome

    monkeypatch.setattr(clustersim.runner, "engine_for", lambda scenario: Interrupted())
    result = run_scenario(adaptive(0.1, min_replications=5))
    assert not result.complete and len(result.rows) == 3
    assert result.precision is not None and not result.precision.converged


def test_resolved_scenario_loads_back_equal_in_both_modes():
    for original in (scenario(), scenario(replications=3), adaptive(0.05), adaptive(0.05, min_replications=4)):
        text = dump_scenario_toml(original)
        assert scenario_from_dict(tomllib.loads(text)) == original
        assert ("replications" in tomllib.loads(text)["simulation"]) is (original.simulation.precision is None)
    assert scenario().simulation.replications == 20
    defaults = adaptive(0.05).simulation
    assert (defaults.replications, defaults.min_replications, defaults.max_replications) == (None, 10, 1000)


SCENARIO = """\
name = "tiny"

[simulation]
horizon = "30 d"
seed = 3
precision = 0.1
precision_metrics = ["nodes.availability", "nodes.failures"]
min_replications = 5
max_replications = 400

[nodes]
count = 8
gpus_per_node = 2
nodes_per_rack = 4

[[nodes.failure_modes]]
name = "gpu"
scope = "gpu"
time_to_failure = {dist = "exponential", mean = "2000 h"}
time_to_repair = {dist = "lognormal", mean = "8 h", cv = 0.5}
"""


def test_cli_writes_the_precision_block(tmp_path, capsys):
    path = tmp_path / "tiny.toml"
    path.write_text(SCENARIO)
    assert main([str(path), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    n = summary["replications"]
    assert f"converged after {n} replications" in printed
    precision = summary["precision"]
    assert precision["target"] == 0.1 and precision["converged"] is True
    assert (precision["min_replications"], precision["max_replications"]) == (5, 400)
    assert set(precision["metrics"]) == set(METRICS)
    assert all(0 <= width <= 0.1 for width in precision["metrics"].values())
    assert summary["replications_requested"] is None and summary["complete"] is True
    assert n == len(run_scenario(load_scenario(path)).rows)
    assert load_scenario(tmp_path / "out" / "scenario.resolved.toml") == load_scenario(path)
    lines = (tmp_path / "out" / "replications.csv").read_text().splitlines()
    assert len(lines) == n + 1


def test_fixed_runs_have_no_precision_block(tmp_path):
    path = tmp_path / "tiny.toml"
    fixed = SCENARIO.replace("precision = 0.1\n", "replications = 3\n")
    path.write_text("\n".join(line for line in fixed.splitlines() if "_replications" not in line
                              and "precision_metrics" not in line))
    assert main([str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert "precision" not in summary
    assert summary["replications"] == summary["replications_requested"] == 3

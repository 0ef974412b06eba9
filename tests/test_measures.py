"""Metrics measured as rows stream (clustersim.measures): hand-worked tiny logs, exact sums, no chunk dependence."""
from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest

from clustersim import measures
from clustersim.engine.simpy_engine import SimpyEngine, run_replication, simulate_replication
from clustersim.measures import ExactSum, Measures, _Level, measure_log
from clustersim.model.records import JobState, Kind, NodeState, ReplicationRecords
from clustersim.scenario import load_scenario, scenario_from_dict
from clustersim.stats import replication_metrics

ROOT = Path(__file__).resolve().parents[1]
UP, DOWN = int(NodeState.UP), int(NodeState.DOWN)
WAITING, RESTARTING, COMPUTING, CHECKPOINTING, DONE = (int(s) for s in (
    JobState.WAITING, JobState.RESTARTING, JobState.COMPUTING, JobState.CHECKPOINTING, JobState.DONE))


def same(a: dict[str, float], b: dict[str, float]) -> bool:
    """Equal names, order and values bit for bit (NaN equal to NaN)."""
    return list(a) == list(b) and all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)


def level_mean(times, deltas, initial, start, end, chunk):
    level = _Level(initial, start, end, low=lambda v: v == 0)
    for i in range(0, len(times), chunk):
        level.jumps(np.array(times[i:i + chunk]), np.array(deltas[i:i + chunk]))
    level.finish()
    return level.mean(), level.low_hours.value


@pytest.mark.parametrize("chunk", [1, 2, 3])
def test_time_weighted_mean_of_a_step_function(chunk):
    # level 4 on [0, 2), 3 on [2, 5), 4 on [5, 10)
    assert level_mean([2.0, 5.0], [-1.0, 1.0], 4.0, 0.0, 10.0, chunk)[0] == pytest.approx((8 + 9 + 20) / 10)
    # window [3, 10): 3 on [3, 5), 4 on [5, 10)
    assert level_mean([2.0, 5.0], [-1.0, 1.0], 4.0, 3.0, 10.0, chunk)[0] == pytest.approx((6 + 20) / 7)


@pytest.mark.parametrize("chunk", [1, 2, 3])
def test_hours_at_a_level_count_only_the_window(chunk):
    # 1 on [0, 2), 0 on [2, 5), 1 on [5, 12), 0 after: in [1, 10) the level is 0 for 3 h
    assert level_mean([2.0, 5.0, 12.0], [-1.0, 1.0, -1.0], 1.0, 1.0, 10.0, chunk)[1] == 3.0


def test_exact_sum_is_the_correctly_rounded_sum_in_any_order_and_grouping():
    rng = random.Random(7)
    values = [rng.uniform(-1, 1) * 10.0 ** rng.randint(-20, 20) for _ in range(3000)] + [1e300, -1e300, 5e-324]
    expected = math.fsum(values)  # correctly rounded
    for _ in range(5):
        rng.shuffle(values)
        total, i = ExactSum(), 0
        while i < len(values):
            step = rng.randint(1, 500)
            total.add(np.array(values[i:i + step]))
            i += step
        assert total.value == expected
    special = ExactSum()
    special.add(np.array([1.0, math.inf]))
    assert special.value == math.inf


def test_exact_sum_takes_a_large_array_in_parts(monkeypatch):
    monkeypatch.setattr(measures, "_MAX_VALUES", 7)  # the float64 bins hold 2**25 values exactly; here 7
    values = np.random.default_rng(1).normal(size=100) * 1e6
    total = ExactSum()
    total.add(values)
    assert total.value == math.fsum(values.tolist())


def tiny_scenario():
    """3 nodes (no spares), one failure mode, warmup 1 h, horizon 10 h, a 2-node job with work."""
    return scenario_from_dict({
        "name": "tiny", "simulation": {"horizon": "10 h", "warmup": "1 h", "replications": 1},
        "nodes": {"count": 3, "nodes_per_rack": 3, "gpus_per_node": 8, "failure_modes": [
            {"name": "gpu", "time_to_failure": {"dist": "exponential", "mean": "1000 h"},
             "recovery": "reboot", "time_to_repair": {"dist": "deterministic", "value": "1 h"}}]},
        "training": [{"name": "job", "nodes": 2, "work": "5 h", "checkpoint_interval": "1 h",
                      "checkpoint_cost": "30 min", "restart_overhead": "30 min"}],
    }, source="test")


def row(t, kind, comp, frm, to, cause=-1):
    return (t, int(kind), comp, frm, to, cause)


TINY_LOG = np.array([
    row(0.0, Kind.JOB, 0, WAITING, COMPUTING),
    row(0.5, Kind.FAILURE, 1, 0, 1, 0),            # before the window: not counted
    row(0.5, Kind.NODE, 1, UP, DOWN, 0),           # an outage that begins before the window: left out
    row(2.0, Kind.FAILURE, 0, 0, 1, 0),
    row(2.0, Kind.NODE, 0, UP, DOWN, 0),
    row(2.0, Kind.JOB, 0, COMPUTING, WAITING, 0),  # an interruption in the window
    row(2.0, Kind.LOST, 0, 0, 0.5, 0),
    row(3.0, Kind.NODE, 1, DOWN, UP),
    row(4.0, Kind.JOB, 0, WAITING, RESTARTING),
    row(4.5, Kind.JOB, 0, RESTARTING, COMPUTING),
    row(5.0, Kind.NODE, 0, DOWN, UP),              # outage [2, 5): 3 h
    row(6.0, Kind.JOB, 0, COMPUTING, CHECKPOINTING),
    row(6.5, Kind.WORK, 0, 0.0, 3.0),
    row(6.5, Kind.JOB, 0, CHECKPOINTING, COMPUTING),
    row(8.0, Kind.FAILURE, 2, 0, 1, 0),
    row(8.0, Kind.NODE, 2, UP, DOWN, 0),           # still down at the horizon: no outage length
    row(9.0, Kind.JOB, 0, COMPUTING, WAITING, 0),  # at the instant the job is done: after its window
    row(9.0, Kind.JOB, 0, WAITING, DONE),
], dtype=np.float64)


def tiny_expected() -> dict[str, float]:
    """Worked by hand from TINY_LOG over [1, 10) (the job's window [1, 9))."""
    # nodes up: 2 on [1, 2), 1 on [2, 3), 2 on [3, 5), 3 on [5, 8), 2 after
    up_hours = 2 * 1 + 1 * 1 + 2 * 2 + 3 * 3 + 2 * 2
    wall = 8.0
    return {
        "nodes.availability": up_hours / 9 / 3, "nodes.up_mean": up_hours / 9, "nodes.failures": 2.0,
        "nodes.failures.gpu": 2.0, "nodes.outage_mean_hours": 3.0,
        "repair.wait_mean_hours": math.nan,                       # no REPAIR row at all
        "capacity.availability": up_hours / 9 / 3, "capacity.shortfall_hours": 4.0 + 2.0,
        "training.job.completion_hours": 9.0, "training.job.completed": 1.0,
        "training.job.ettr": 3.0 / wall, "training.job.goodput": 3.0 * 2 / (2 * wall),
        "training.job.interruptions": 1.0, "training.job.interruptions.gpu": 1.0,
        "training.job.lost_work_hours": 0.5,
        "training.job.downtime_per_interruption_hours": 2.0 + 0.5,  # waiting [2, 4), restarting [4, 4.5)
        "training.job.gpu_hours_wasted": (2 * wall - 3.0 * 2) * 8,
        "training.job.checkpoint_overhead_fraction": 0.5 / wall,
    }


@pytest.mark.parametrize("chunk", [1, 2, 5, len(TINY_LOG)])
def test_a_hand_worked_log_streamed_in_any_chunks(chunk):
    scenario = tiny_scenario()
    expected = tiny_expected()
    streamed = measure_log(scenario, TINY_LOG, chunk_rows=chunk)
    assert set(streamed) == set(expected)
    for name, value in expected.items():
        assert streamed[name] == pytest.approx(value, nan_ok=True), name
    assert same(streamed, replication_metrics(scenario, ReplicationRecords(0, TINY_LOG, 0.0)))


def test_a_row_by_row_feed_gives_the_stored_logs_numbers():
    scenario = tiny_scenario()
    measures = Measures(scenario)
    for r in TINY_LOG:
        measures.consume(r[None, :])
    assert measures.events == len(TINY_LOG)
    assert same(measures.metrics(), measure_log(scenario, TINY_LOG))


def test_rows_after_finish_are_refused():
    measures = Measures(tiny_scenario())
    measures.finish()
    with pytest.raises(RuntimeError):
        measures.consume(TINY_LOG)


RICH = {"complete_example.toml": (ROOT / "docs/examples/complete_example.toml", "60 d"),
        "example_crews_and_spares.toml": (ROOT / "scenarios/example_crews_and_spares.toml", "2 y")}


@pytest.mark.parametrize("name", RICH)
def test_no_number_depends_on_the_chunk_size(name):
    """A real replication's log measured in chunks of 7, 64, 1000 rows and whole, and while simulating in chunks
    of 5 and of the engine's size: every number identical."""
    path, horizon = RICH[name]
    scenario = load_scenario(path, (f'simulation.horizon="{horizon}"', 'simulation.warmup="5 d"'))
    records = run_replication(scenario, 1)
    whole = measure_log(scenario, records.log, chunk_rows=len(records.log))
    assert len(records.log) > 1000
    for chunk in (7, 64, 1000):
        assert same(measure_log(scenario, records.log, chunk_rows=chunk), whole), chunk
    assert same(simulate_replication(scenario, 1, chunk_rows=5)[0].metrics(), whole)
    outcome = next(SimpyEngine().run(scenario, [1]))
    assert same(outcome.metrics, whole) and outcome.events == len(records.log)

"""Training jobs against Daly's model and hand-worked timelines (spare, wait, shrink, async,
stragglers, priorities and preemption, checkpoint costs from sizes and bandwidths)."""
from __future__ import annotations

import numpy as np
import pytest

from clustersim.checkpointing import daly_ettr
from clustersim.model.records import JobState, Kind
from clustersim.scenario import scenario_from_dict
from analytic_cases import DALY_POINTS, check, daly, daly_scenario
from conftest import assert_within_ci, base_scenario, simulate, within_ci
from test_model_cases import chaos_kill
from test_repair_cases import run

T, KIND, COMP, FROM, TO, CAUSE = range(6)


def job(**keys) -> dict:
    spec = {"name": "pretrain", "nodes": 2, "checkpoint_interval": "2 h", "checkpoint_cost": "0.1 h",
            "restart_overhead": "0.25 h"}
    spec.update(keys)
    return spec


@pytest.mark.parametrize("point", DALY_POINTS)
def test_ettr_matches_daly(point: tuple[float, float, float, float]):
    check(daly(*point), "simpy")


def test_time_to_train_matches_daly():
    """A job with work T_s finishes after T_w = Daly's expected wall time."""
    mtbf, tau, delta, restart, work = 10.0, 2.0, 0.2, 0.5, 200.0
    raw = daly_scenario(mtbf, tau, delta, restart, horizon_h=2000, work=f"{work} h")
    raw["simulation"] = {"horizon": "2000 h", "replications": 30, "seed": 4}
    est = simulate(raw)
    assert est["training.pretrain.completed"].mean == 1.0
    assert_within_ci(est["training.pretrain.completion_hours"], work / daly_ettr(mtbf, tau, delta, restart),
                     "time to train")


def timeline_scenario(spares: dict | None = None, chaos: list | None = None, count: int = 2, **keys) -> dict:
    """No failure modes: only chaos interrupts; horizon 20 h."""
    spares = spares or {}
    return base_scenario(
        simulation={"horizon": "20 h", "replications": 1},
        nodes={"count": count + spares.get("hot", 0), "nodes_per_rack": count + spares.get("hot", 0)},
        repair={"detection": "0.5 h"},
        spares=spares,
        chaos=chaos or [],
        training=[job(nodes=count, **keys)],
    )


def test_no_failures_ettr_is_the_checkpoint_share():
    m, _ = run(timeline_scenario())
    # 9 checkpoints complete by 20 h: [0, 2.1), [2.1, 4.2) ... the 9th at 18.9
    assert m["training.pretrain.ettr"] == pytest.approx(9 * 2 / 20)
    assert m["training.pretrain.checkpoint_overhead_fraction"] == pytest.approx((9 * 0.1 + 0.0) / 20)
    assert m["training.pretrain.interruptions"] == 0


def test_wait_for_repair_timeline():
    """Checkpoints at 2.1 and 4.2 h; node 0 killed over [5, 8): 0.8 h lost; the job waits for the
    node itself, restarts over [8, 8.25) and checkpoints at 10.35, 12.45, ... 18.75: 14 h kept."""
    m, _ = run(timeline_scenario(chaos=[chaos_kill(0, 5, 3)], on_failure="wait"))
    assert m["training.pretrain.ettr"] == pytest.approx(14 / 20)
    assert m["training.pretrain.lost_work_hours"] == pytest.approx(0.8)
    assert m["training.pretrain.interruptions"] == 1
    assert m["training.pretrain.interruptions.chaos0"] == 1
    assert m["training.pretrain.downtime_per_interruption_hours"] == pytest.approx(3.25)
    assert m["training.pretrain.checkpoint_overhead_fraction"] == pytest.approx(7 * 0.1 / 20)
    allocated = 2 * 20 - 3   # node 0 down over [5, 8)
    assert m["training.pretrain.goodput"] == pytest.approx(14 * 2 / allocated)
    assert m["training.pretrain.gpu_hours_wasted"] == pytest.approx((allocated - 28) * 8)


def test_spare_swap_timeline():
    """Node 0 killed at 5 h; noticed at 5.5; the hot spare joins at 5.7; restart to 5.95; the
    checkpoints then complete at 8.05, 10.15, ..., 18.55: 6 more, 16 h kept."""
    m, _ = run(timeline_scenario(spares={"hot": 1, "swap_time": "0.2 h"}, chaos=[chaos_kill(0, 5, 3)]))
    assert m["training.pretrain.ettr"] == pytest.approx(16 / 20)
    assert m["training.pretrain.downtime_per_interruption_hours"] == pytest.approx(0.95)


def test_failure_during_restart_and_checkpoint_interrupt_again():
    """Killed at 5 h (lost 0.8), again at 8.1 during the restart [8, 8.25) (lost 0) — that node is
    back at 8.5, before its failure is noticed at 8.6, so it keeps its place and the job restarts
    over [8.6, 8.85) — and at 10.9 during the checkpoint [10.85, 10.95): the whole 2 h segment."""
    chaos = [chaos_kill(0, 5, 3), chaos_kill(1, 8.1, 0.4), chaos_kill(0, 10.9, 0.2)]
    m, log = run(timeline_scenario(chaos=chaos, on_failure="wait"))
    assert m["training.pretrain.interruptions"] == 3
    lost = log[log[:, KIND] == Kind.LOST]
    assert lost[:, TO].tolist() == pytest.approx([0.8, 0.0, 2.0])
    states = log[log[:, KIND] == Kind.JOB][:, [T, FROM, TO]]
    assert [8.1, JobState.RESTARTING, JobState.WAITING] in states.tolist()
    assert [10.9, JobState.CHECKPOINTING, JobState.WAITING] in states.tolist()


def test_shrink_goes_on_with_fewer_nodes_and_grows_back_at_a_checkpoint():
    """4 nodes, min 2, no spares. Node 0 killed over [5, 8): noticed at 5.5, restart to 5.75, then
    2 h of work at 3/4 speed take 2.667 h: checkpoint [8.4167, 8.5167). Node 0, back at 8, is a
    spare again and refills its position at 8.1; the job grows back at that checkpoint: restart to
    8.7667, then full speed: checkpoints at 10.8667, ..., 19.2667 — 16 h kept."""
    m, log = run(timeline_scenario(count=4, chaos=[chaos_kill(0, 5, 3)], on_failure="shrink", min_nodes=2,
                                   spares={"swap_time": "0.1 h"}))
    assert m["training.pretrain.ettr"] == pytest.approx(16 / 20)
    assert m["training.pretrain.interruptions"] == 1
    speeds = log[log[:, KIND] == Kind.JOB_SPEED][:, [T, TO]]
    assert np.allclose(speeds, [[5.5, 0.75], [8.5 + 1 / 60, 1.0]])


def test_shrink_below_min_nodes_waits():
    m, _ = run(timeline_scenario(count=2, chaos=[chaos_kill(0, 5, 3)], on_failure="shrink", min_nodes=2,
                                 spares={"swap_time": "0.1 h"}))
    # like wait, but the node comes back through the pool: swap 0.1 h -> restart at 8.1 to 8.35
    assert m["training.pretrain.downtime_per_interruption_hours"] == pytest.approx(3.35)


def test_async_checkpoints_lose_an_unpersisted_segment():
    """Snapshots of 0.05 h, persists of 0.5 h in the background: a cycle takes 2.05 h. Killed at
    4.3 h: the segment snapshotted at 4.1 is still persisting (until 4.6), so 2 h + 0.2 h are lost."""
    m, log = run(timeline_scenario(chaos=[chaos_kill(0, 4.3, 1)], on_failure="wait", checkpoint_mode="async",
                                   checkpoint_cost="0.5 h", snapshot_cost="0.05 h"))
    lost = log[log[:, KIND] == Kind.LOST]
    assert lost[:, TO].tolist() == pytest.approx([2.2])
    work = log[log[:, KIND] == Kind.WORK]
    assert work[0, T] == pytest.approx(2.55) and work[0, TO] == pytest.approx(2.0)


def test_async_without_failures_overlaps_the_persist():
    m, _ = run(timeline_scenario(checkpoint_mode="async", checkpoint_cost="0.5 h", snapshot_cost="0.05 h"))
    # snapshots end at 2.05 k; persists credit at 2.05 k + 0.5 ≤ 20: k = 1..9 -> 18 h
    assert m["training.pretrain.ettr"] == pytest.approx(18 / 20)
    assert m["training.pretrain.checkpoint_overhead_fraction"] == pytest.approx(9 * 0.05 / 20 + 0.05 / 20 * 0)


def test_a_straggler_slows_the_job_until_it_is_taken_out():
    """Node 0 runs at half speed from 5 h; noticed after 2 h (7 h) and taken out: the segment that
    began at 4.2 computed 0.8 h + 2 h × 0.5 = 1.8 h, all lost. The hot spare joins at 7.1."""
    chaos = [{"action": "slow_node", "node": 0, "at": "5 h", "duration": "10 h", "speed": 0.5}]
    raw = timeline_scenario(spares={"hot": 1, "swap_time": "0.1 h"}, chaos=chaos)
    raw["repair"]["straggler_detection"] = "2 h"
    m, log = run(raw)
    assert log[log[:, KIND] == Kind.LOST][:, TO].tolist() == pytest.approx([1.8])
    assert m["training.pretrain.interruptions.chaos0"] == 1
    assert m["nodes.failures.chaos0"] == 1
    job_speed = log[log[:, KIND] == Kind.JOB_SPEED][:, [T, TO]].tolist()
    assert job_speed[0] == pytest.approx([5.0, 0.5])


def test_a_slow_failure_mode_is_noticed_and_repaired():
    raw = timeline_scenario(spares={"hot": 1, "swap_time": "0.1 h"})
    raw["nodes"]["failure_modes"] = [{
        "name": "throttle", "effect": "slow", "speed": 0.25,
        "time_to_failure": {"dist": "exponential", "mean": "40 h"}, "recovery": "reboot",
        "time_to_repair": {"dist": "deterministic", "value": "1 h"}}]
    raw["repair"]["straggler_detection"] = "1 h"
    raw["simulation"] = {"horizon": "500 h", "replications": 1, "seed": 2}
    m, log = run(raw)
    slow = log[(log[:, KIND] == Kind.SPEED) & (log[:, TO] == 0.25)]
    taken_out = log[(log[:, KIND] == Kind.NODE) & (log[:, TO] == 1)]
    assert len(slow) > 5
    for t, node in slow[:, [T, COMP]]:   # each slowdown ends in the node going down 1 h later
        assert np.any(np.isclose(taken_out[:, T], t + 1) & (taken_out[:, COMP] == node))
    assert m["nodes.failures.throttle"] == len(slow)


def test_memory_leak_crashes_after_its_time_to_crash():
    raw = timeline_scenario(spares={"hot": 1, "swap_time": "0.1 h"})
    raw["nodes"]["failure_modes"] = [{
        "name": "leak", "effect": "leak", "time_to_crash": {"dist": "deterministic", "value": "3 h"},
        "time_to_failure": {"dist": "exponential", "mean": "40 h"}, "recovery": "reboot",
        "time_to_repair": {"dist": "deterministic", "value": "1 h"}}]
    raw["simulation"] = {"horizon": "500 h", "replications": 1, "seed": 2}
    _, log = run(raw)
    failures = log[log[:, KIND] == Kind.FAILURE]
    downs = log[(log[:, KIND] == Kind.NODE) & (log[:, TO] == 1)]
    assert len(failures) > 5
    assert np.allclose(np.sort(downs[:, T]), np.sort(failures[:, T] + 3))


def two_jobs(first: dict, second: dict, spares: dict, chaos: list) -> dict:
    return base_scenario(
        simulation={"horizon": "20 h", "replications": 1},
        nodes={"count": 4 + spares.get("hot", 0), "nodes_per_rack": 8},
        repair={"detection": "0.5 h"}, spares=spares, chaos=chaos,
        training=[job(name="low", **first), job(name="high", **second)],
    )


def test_the_higher_priority_job_takes_the_spare_first():
    """Both jobs lose a node at 5 h; one hot spare: it goes to "high" (priority 1) although "low"
    asked first (its position comes first); "low" waits for node 0's return at 8 h."""
    raw = two_jobs({}, {"priority": 1}, {"hot": 1, "swap_time": "0.1 h"}, [chaos_kill(0, 5, 3), chaos_kill(2, 5, 3)])
    m, _ = run(raw)
    assert m["training.high.downtime_per_interruption_hours"] == pytest.approx(0.5 + 0.1 + 0.25)
    # low: node 0 (or 2) returns at 8 h and is swapped in by 8.1, restart to 8.35
    assert m["training.low.downtime_per_interruption_hours"] == pytest.approx(3.35)


def test_preemption_takes_a_node_from_lower_priority_work():
    """No spares. "high" (priority 1, preempt) loses node 2 at 5 h; noticed at 5.5 it takes a node
    of "low", which stops (cause preemption) and waits for node 2 to return at 8 h."""
    raw = two_jobs({}, {"priority": 1, "preempt": True}, {"swap_time": "0.1 h"}, [chaos_kill(2, 5, 3)])
    m, _ = run(raw)
    assert m["training.high.downtime_per_interruption_hours"] == pytest.approx(0.5 + 0.1 + 0.25)
    assert m["training.low.interruptions.preemption"] == 1
    assert m["training.low.interruptions"] == 1
    # low stopped at 5.5 with 1.3 h of its segment computed
    assert m["training.low.lost_work_hours"] == pytest.approx(1.3)


def test_checkpoint_and_restart_times_from_sizes_and_bandwidths():
    raw = timeline_scenario(chaos=[chaos_kill(0, 5, 3)], on_failure="wait", checkpoint_cost=None,
                            restart_overhead=None, checkpoint_size="2 TB", checkpoint_bandwidth="10 GB/s",
                            restore_bandwidth="20 GB/s", reschedule_time="3 min", init_time="5 min")
    del raw["training"][0]["checkpoint_cost"], raw["training"][0]["restart_overhead"]
    spec = scenario_from_dict(raw, source="test").training[0]
    assert spec.checkpoint_hours == pytest.approx(200 / 3600)         # 2000 GB / 10 GB/s
    assert spec.restart_hours == pytest.approx(8 / 60 + 100 / 3600)   # 3 + 5 min + 2000 GB / 20 GB/s
    m, _ = run(raw)
    assert m["training.pretrain.downtime_per_interruption_hours"] == pytest.approx(3 + spec.restart_hours)


def test_continuous_checkpointing_loses_nothing():
    m, log = run(timeline_scenario(chaos=[chaos_kill(0, 5, 3)], on_failure="wait", checkpoint_mode="continuous",
                                   checkpoint_interval=None, checkpoint_cost=None))
    assert m["training.pretrain.lost_work_hours"] == 0
    assert m["training.pretrain.ettr"] == pytest.approx((20 - 3 - 0.25) / 20)


def test_shrink_never_beats_no_failures_nor_loses_more_than_spare():
    """No spares: a failed member comes back only after its 5 h repair. Elastic shrink goes on with
    fewer nodes, so it keeps a larger share of the time productive than "spare" (which waits), yet
    never more than the failure-free share τ / (τ + δ)."""
    mtbf, tau, delta, restart = 10.0, 2.0, 0.2, 0.5
    def scenario(**training) -> dict:
        raw = daly_scenario(mtbf, tau, delta, restart, horizon_h=5000, **training)
        raw["nodes"]["count"] = 16
        raw["spares"] = {}
        return raw
    spare, shrink = simulate(scenario()), simulate(scenario(on_failure="shrink", min_nodes=12))
    ettr = "training.pretrain.ettr"
    assert shrink[ettr].ci95_low > spare[ettr].ci95_high
    assert shrink[ettr].mean < tau / (tau + delta) or within_ci(shrink[ettr], tau / (tau + delta))


def test_shrink_with_spares_coming_is_exactly_spare():
    """While a spare is on its way the elastic job waits for it, as "spare" does: same numbers."""
    raw = daly_scenario(10.0, 2.0, 0.2, 0.5, horizon_h=2000)
    raw["spares"]["swap_time"] = "0.1 h"
    elastic = daly_scenario(10.0, 2.0, 0.2, 0.5, horizon_h=2000, on_failure="shrink", min_nodes=8)
    elastic["spares"]["swap_time"] = "0.1 h"
    a, b = simulate(raw), simulate(elastic)
    assert a["training.pretrain.ettr"].mean == b["training.pretrain.ettr"].mean

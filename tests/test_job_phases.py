"""Where a training job's wall time went (clustersim.job_phases): hand-worked timelines with exact hours per
phase, and on random gpt-like scenarios kept / wall is the replication's ettr and the phases sum to the wall."""
from __future__ import annotations

import math

import numpy as np
import pytest

from clustersim.engine.simpy_engine import SimpyEngine
from clustersim.job_phases import PHASES, job_phases
from clustersim.model.records import JobState, Kind, SlotState
from clustersim.scenario import scenario_from_dict
from conftest import base_scenario
from test_model_cases import chaos_kill
from test_repair_cases import run
from test_storage_training import store_down_over, with_store
from test_training import job, timeline_scenario


def phases_of(raw: dict) -> tuple[dict[str, float], dict[str, float]]:
    """The job's phases and the replication's metrics (replication 0)."""
    metrics, log = run(raw)
    return job_phases(scenario_from_dict(raw, source="test"), log)["pretrain"], metrics


def expect(**hours: float) -> dict[str, float]:
    """Every phase, those not named zero (keyword names: the phase's words joined by underscores)."""
    named = {phase: 0.0 for phase in PHASES}
    for key, value in hours.items():
        phase = next(p for p in PHASES if p.replace(" (", "_").replace(")", "").replace(" ", "_") == key)
        named[phase] = value
    return named


def test_wait_for_repair_timeline():
    """Checkpoints (0.1 h) at 2.1, 4.2; node 0 killed over [5, 8): detection [5, 5.5), waiting for its own
    node's repair [5.5, 8), restart [8, 8.25); checkpoints 10.35 ... 18.75: 7 kept (14 h), 0.7 h writing; the
    0.8 h computed since 4.2 is lost and the 1.25 h since 18.75 not yet checkpointed."""
    phases, metrics = phases_of(timeline_scenario(chaos=[chaos_kill(0, 5, 3)], on_failure="wait"))
    assert phases == pytest.approx(expect(compute_kept=14, compute_lost_or_not_yet_checkpointed=2.05,
                                          checkpoint=0.7, restart=0.25, detection=0.5,
                                          waiting_for_a_spare_or_repair=2.5))
    assert list(phases) == list(PHASES)
    assert phases["compute (kept)"] / 20 == metrics["training.pretrain.ettr"]


def test_the_window_starts_at_the_warmup():
    """The same timeline over [3, 20): the checkpoint of 4.2 credits work computed before 3 h (kept 12 of the
    window's 13.15 computing hours), the checkpoint [2, 2.1) and computing [2.1, 3) fall outside."""
    raw = timeline_scenario(chaos=[chaos_kill(0, 5, 3)], on_failure="wait")
    raw["simulation"]["warmup"] = "3 h"
    phases, metrics = phases_of(raw)
    assert phases == pytest.approx(expect(compute_kept=12, compute_lost_or_not_yet_checkpointed=1.15,
                                          checkpoint=0.6, restart=0.25, detection=0.5,
                                          waiting_for_a_spare_or_repair=2.5))
    assert phases["compute (kept)"] / 17 == metrics["training.pretrain.ettr"]


def test_hot_spare_swap_timeline():
    """Killed at 5: noticed at 5.5, the hot spare swaps in over [5.5, 5.7), restart to 5.95; 8 checkpoints."""
    phases, _ = phases_of(timeline_scenario(spares={"hot": 1, "swap_time": "0.2 h"}, chaos=[chaos_kill(0, 5, 3)]))
    assert phases == pytest.approx(expect(compute_kept=16, compute_lost_or_not_yet_checkpointed=2.25,
                                          checkpoint=0.8, restart=0.25, detection=0.5, swap=0.2))


def test_no_spares_the_position_waits_for_the_repaired_node_through_the_pool():
    """No spares, on_failure = spare: the position waits [5.5, 8) until node 0 is back and joins the pool, then
    takes it over [8, 8.1) (swap_time), restart [8.1, 8.35)."""
    phases, _ = phases_of(timeline_scenario(spares={"swap_time": "0.1 h"}, chaos=[chaos_kill(0, 5, 3)]))
    assert phases == pytest.approx(expect(compute_kept=14, compute_lost_or_not_yet_checkpointed=1.95,
                                          checkpoint=0.7, restart=0.25, detection=0.5, swap=0.1,
                                          waiting_for_a_spare_or_repair=2.5))


def test_a_blocked_checkpoint_waits_for_the_store():
    """checkpoint_on_store_down = block, store down over [4.8, 6.8), [11.6, 13.6), [18.4, 20.4): the job waits
    [4.8, 6.8), [11.8, 13.6), [18.6, 20) for the store (5.2 h); writes 5 checkpoints of 0.5 h and 0.3 h of
    the one cut at 4.8; the 2 h computed by 18.6 are not yet checkpointed at the horizon."""
    raw = with_store(store_down_over(4.8, 2), checkpoint_cost="0.5 h", checkpoint_on_store_down="block")
    phases, metrics = phases_of(raw)
    assert phases == pytest.approx(expect(compute_kept=10, compute_lost_or_not_yet_checkpointed=2,
                                          checkpoint=2.8, waiting_for_the_store=5.2))
    assert phases["compute (kept)"] / 20 == metrics["training.pretrain.ettr"]


def test_a_restart_that_waits_for_a_readable_store_waits_for_the_store():
    """Node 0 killed at 5.5 for 0.8 h: detection [5.5, 6), its repair [6, 6.3); the store is down until 7, so the
    members are all back but the restart waits [6.3, 7) for the store (REPLICAS rows), then runs [7, 7.25)."""
    phases, _ = phases_of(with_store(store_down_over(5, 2), chaos=[chaos_kill(0, 5.5, 0.8)]))
    assert phases == pytest.approx(expect(compute_kept=14, compute_lost_or_not_yet_checkpointed=3.65,
                                          checkpoint=0.6, restart=0.25, detection=0.5,
                                          waiting_for_a_spare_or_repair=0.3, waiting_for_the_store=0.7))


def test_a_finished_job_is_measured_up_to_its_finish():
    """work = 6 h, no failures: three segments, done at 6.3 h (the horizon is 20 h)."""
    phases, _ = phases_of(timeline_scenario(work="6 h"))
    assert phases == pytest.approx(expect(compute_kept=6, checkpoint=0.3))


def test_members_in_different_states_rank_detection_then_waiting_then_swap():
    """A hand-built log of a 2-node job over 20 h: member 1 empties at 2 (noticed 2.5), member 0 at 3 (noticed
    3.5); member 1 swaps [4, 5), member 0 [5, 5.5); filled, the job stays stopped to 6 (nothing in the log says
    why: other), restarts [6, 6.5) and computes to the horizon, a checkpoint at 10 keeping 3 h."""
    scenario = scenario_from_dict(timeline_scenario(), source="test")
    job, slot, work = int(Kind.JOB), int(Kind.SLOT), int(Kind.WORK)
    waiting, restarting, computing = int(JobState.WAITING), int(JobState.RESTARTING), int(JobState.COMPUTING)
    filled, empty, slot_waiting, swapping = (int(s) for s in SlotState)
    log = np.array([
        (0.0, job, 0, waiting, computing, -1),
        (2.0, slot, 1, filled, empty, 0), (2.0, job, 0, computing, waiting, 0),
        (2.5, slot, 1, empty, slot_waiting, 0),
        (3.0, slot, 0, filled, empty, 0),
        (3.5, slot, 0, empty, slot_waiting, 0),
        (4.0, slot, 1, slot_waiting, swapping, -1),
        (5.0, slot, 1, swapping, filled, -1), (5.0, slot, 0, slot_waiting, swapping, -1),
        (5.5, slot, 0, swapping, filled, -1),
        (6.0, job, 0, waiting, restarting, -1), (6.5, job, 0, restarting, computing, -1),
        (10.0, work, 0, 0.0, 3.0, -1),
    ], dtype=np.float64)
    assert job_phases(scenario, log)["pretrain"] == pytest.approx(expect(
        compute_kept=3, compute_lost_or_not_yet_checkpointed=12.5, restart=0.5, detection=1.0,
        waiting_for_a_spare_or_repair=2.0, swap=0.5, stopped_other=0.5))


def gpt_like(on_failure: str, spares: dict, seed: int) -> dict:
    """A small cluster with the gpt_cluster scenario's kinds of failure (GPU hardware replaced by crews, software
    reboots, host links cutting nodes off) and a checkpoint store, at rates high enough to interrupt often."""
    modes = [
        {"name": "gpu", "scope": "gpu", "time_to_failure": {"dist": "exponential", "mean": "2000 h"},
         "recovery": "replace", "time_to_repair": {"dist": "lognormal", "mean": "20 h", "cv": 1.0}},
        {"name": "software", "time_to_failure": {"dist": "exponential", "mean": "400 h"}, "recovery": "reboot",
         "time_to_repair": {"dist": "uniform", "low": "5 min", "high": "20 min"}},
    ]
    return base_scenario(
        simulation={"horizon": "400 h", "warmup": "10 h", "replications": 2, "seed": seed},
        nodes={"count": 10 + spares.get("hot", 0), "gpus_per_node": 4, "nodes_per_rack": 4, "failure_modes": modes},
        repair={"crews": 2, "detection": "10 min"},
        spares=spares,
        network={"topology": "two_tier", "spines": 2, "host_link_failure": {
            "time_to_failure": {"dist": "exponential", "mean": "1000 h"},
            "time_to_repair": {"dist": "exponential", "mean": "4 h"}}},
        storage={"servers": 4, "replication": 2, "write_quorum": 2, "objects": 20, "placement": "random",
                 "failure_loses_data": True, "rereplication": True, "object_size": "1 GB", "bandwidth": "0.1 GB/s",
                 "time_to_failure": {"dist": "exponential", "mean": "300 h"},
                 "time_to_repair": {"dist": "exponential", "mean": "10 h"}},
        training=[job(name="pretrain", nodes=8, checkpoint_interval="1 h", checkpoint_cost="5 min",
                      restart_overhead="10 min", on_failure=on_failure, checkpoint_on_store_down="block")],
    )


@pytest.mark.parametrize("on_failure, spares, seed", [
    ("spare", {"hot": 2, "swap_time": "3 min"}, 1),
    ("spare", {}, 2),
    ("wait", {}, 3),
    ("shrink", {"hot": 1, "swap_time": "3 min"}, 4),
])
def test_kept_over_wall_is_the_ettr_and_the_phases_sum_to_the_wall(on_failure: str, spares: dict, seed: int):
    raw = gpt_like(on_failure, spares, seed)
    if on_failure == "shrink":
        raw["training"][0]["min_nodes"] = 6
    scenario = scenario_from_dict(raw, source="test")
    wall = scenario.simulation.horizon - scenario.simulation.warmup
    stopped = 0.0
    for outcome in SimpyEngine().run(scenario, [0, 1], keep_logs=True):
        assert outcome.records is not None
        phases = job_phases(scenario, outcome.records.log)["pretrain"]
        assert phases["compute (kept)"] / wall == outcome.metrics["training.pretrain.ettr"]
        assert math.isclose(sum(phases.values()), wall, rel_tol=1e-9)
        assert min(phases.values()) >= 0
        assert outcome.metrics["training.pretrain.interruptions"] > 0
        stopped += phases["detection"] + phases["waiting for a spare or repair"]
    assert stopped > 0

"""Training jobs checkpointing to [storage]: skipped and blocked checkpoints, restarts that wait for the
store or fall back a checkpoint after a data loss — hand-worked timelines with deterministic laws."""
from __future__ import annotations

import pytest

from clustersim.model.records import JobState, Kind
from clustersim.scenario import scenario_from_dict
from test_model_cases import chaos_kill
from test_repair_cases import run
from test_training import timeline_scenario

T, KIND, COMP, FROM, TO, CAUSE = range(6)


def fixed(hours: float) -> dict:
    return {"dist": "deterministic", "value": f"{hours} h"}


def store_down_over(ttf_h: float, ttr_h: float, **keys) -> dict:
    """Three servers that fail together every ttf_h and return ttr_h later, keeping their data; a write needs
    all three: the store is neither readable nor writable while they are down."""
    spec = {"servers": 3, "replication": 3, "write_quorum": 3, "objects": 1, "placement": "random",
            "failure_loses_data": False, "rereplication": False, "time_to_failure": fixed(ttf_h),
            "time_to_repair": fixed(ttr_h)}
    spec.update(keys)
    return spec


def with_store(store: dict, chaos: list | None = None, **job) -> dict:
    """timeline_scenario (2 nodes, checkpoints every 2 h costing 0.1 h, restart 0.25 h, detection 0.5 h,
    20 h) with the job waiting for its own node's repair and ``store`` as [storage]."""
    raw = timeline_scenario(chaos=chaos, on_failure="wait", **job)
    raw["storage"] = store
    return raw


def test_a_checkpoint_skipped_while_the_store_is_down_is_lost_at_the_next_interruption():
    """Store down over [5, 7), [12, 14), [19, 21). Checkpoints at 2.1 and 4.2 (4 h kept); at 6.2 the store is
    down: skipped, the job computes on with 2 h uncheckpointed; node 0 killed at 7.5 for 1 h loses 2 + 1.3 h
    (1.3 without the skip). Back at 8.5, restart to 8.75; checkpoints 10.85 (6 h); at 12.85 skipped; 14.95
    (10 h), 17.05 (12 h); at 19.05 skipped again: 12 h kept of 20."""
    m, log = run(with_store(store_down_over(5, 2), chaos=[chaos_kill(0, 7.5, 1)]))
    lost = log[log[:, KIND] == Kind.LOST]
    assert lost[:, TO].tolist() == pytest.approx([3.3])
    assert m["training.pretrain.lost_work_hours"] == pytest.approx(3.3)
    assert m["training.pretrain.ettr"] == pytest.approx(12 / 20)
    assert m["training.pretrain.interruptions"] == 1
    assert m["training.pretrain.interruptions.storage"] == 0
    work = log[log[:, KIND] == Kind.WORK]
    assert work[:, T].tolist() == pytest.approx([2.1, 4.2, 10.85, 14.95, 17.05])


def test_block_stops_the_job_until_the_store_is_writable_losing_nothing():
    """Store down over [4.8, 6.8), [11.6, 13.6), [18.4, 20.4); checkpoints cost 0.5 h. The checkpoint over
    [4.5, 5) is cut at 4.8: the job stops (cause storage) and writes it over [6.8, 7.3) (4 h kept); 9.8 (6 h);
    at 11.8 the store is down: stopped until 13.6, written by 14.1 (8 h); 16.6 (10 h); at 18.6 stopped to the
    horizon. Three interruptions, all of cause storage, nothing lost."""
    raw = with_store(store_down_over(4.8, 2), checkpoint_cost="0.5 h", checkpoint_on_store_down="block")
    m, log = run(raw)
    assert m["training.pretrain.interruptions"] == 3
    assert m["training.pretrain.interruptions.storage"] == 3
    assert m["training.pretrain.lost_work_hours"] == 0
    assert m["training.pretrain.ettr"] == pytest.approx(10 / 20)
    stops = log[(log[:, KIND] == Kind.JOB) & (log[:, TO] == JobState.WAITING)]
    assert stops[:, T].tolist() == pytest.approx([4.8, 11.8, 18.6])
    assert stops[:, FROM].tolist() == [JobState.CHECKPOINTING, JobState.COMPUTING, JobState.COMPUTING]
    assert set(stops[:, CAUSE].tolist()) == {scenario_from_dict(raw).storage_cause}
    work = log[log[:, KIND] == Kind.WORK]
    assert work[:, T].tolist() == pytest.approx([2.5, 7.3, 9.8, 14.1, 16.6])
    # stopped [4.8, 6.8), [11.8, 13.6), [18.6, 20): no restart overhead
    assert m["training.pretrain.downtime_per_interruption_hours"] == pytest.approx((2 + 1.8 + 1.4) / 3)


def test_a_restart_waits_for_the_store_to_be_readable():
    """Node 0 killed at 5.5 for 0.8 h (1.3 h lost): back at 6.3, but the store is down until 7: the restart
    runs over [7, 7.25); checkpoints at 9.35 (6 h), 11.45 (8 h); at 13.45 skipped; 15.55 (12 h), 17.65 (14 h)."""
    m, log = run(with_store(store_down_over(5, 2), chaos=[chaos_kill(0, 5.5, 0.8)]))
    restarts = log[(log[:, KIND] == Kind.JOB) & (log[:, TO] == JobState.RESTARTING)]
    assert restarts[:, T].tolist() == pytest.approx([7.0])
    assert m["training.pretrain.lost_work_hours"] == pytest.approx(1.3)
    assert m["training.pretrain.ettr"] == pytest.approx(14 / 20)
    assert m["training.pretrain.downtime_per_interruption_hours"] == pytest.approx(1.75)


def test_data_lost_since_the_last_checkpoint_costs_the_segment_before_too():
    """One server holding one replica fails at 5 (the object is lost). Checkpoints at 2.1, 4.2 (4 h); node 0
    killed at 5.5: 1.3 h computed plus the checkpoint of 4.2 (2 h) lost — the credit falls back to 2 h. Back at
    6.5, restart to 6.75, then a checkpoint every 2.1 h: 8.85 ... 19.35, six of them: 14 h kept."""
    store = {"servers": 1, "replication": 1, "write_quorum": 1, "objects": 1, "placement": "random",
             "failure_loses_data": True, "rereplication": False, "time_to_failure": fixed(5),
             "time_to_repair": fixed(1)}
    m, log = run(with_store(store, chaos=[chaos_kill(0, 5.5, 1)]))
    assert m["storage.data_loss_events"] == 1
    lost = log[log[:, KIND] == Kind.LOST]
    assert lost[:, TO].tolist() == pytest.approx([3.3])
    work = log[log[:, KIND] == Kind.WORK]
    assert work[2, [T, FROM, TO]].tolist() == pytest.approx([5.5, 4.0, 2.0])
    assert work[-1, TO] == pytest.approx(14.0)
    assert m["training.pretrain.lost_work_hours"] == pytest.approx(3.3)
    assert m["training.pretrain.ettr"] == pytest.approx(14 / 20)  # the work credited, net of the fallback


def test_checkpoint_cost_derives_from_the_store():
    """checkpoint_size alone under [storage]: every replica written at the aggregate bandwidth —
    1800 GB × 3 / (0.5 GB/s × 3) = 3600 s = 1 h. No failures: checkpoints at 3, 6, ... 18: 12 h of 20."""
    store = store_down_over(1e6, 1, bandwidth="0.5 GB/s")
    raw = with_store(store)
    del raw["training"][0]["checkpoint_cost"]
    raw["training"][0]["checkpoint_size"] = "1800 GB"
    m, _ = run(raw)
    assert m["training.pretrain.checkpoint_overhead_fraction"] == pytest.approx(6 / 20)
    assert m["training.pretrain.ettr"] == pytest.approx(12 / 20)

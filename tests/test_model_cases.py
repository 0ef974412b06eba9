"""Tiny deterministic cases worked by hand: crews, spares (hot and cold), chaos, warmup."""
from __future__ import annotations

import math

import pytest

from clustersim.model.records import Kind
from clustersim.engine.simpy_engine import run_replication
from clustersim.scenario import scenario_from_dict
from clustersim.stats import replication_metrics
from conftest import base_scenario


def one_replication(raw: dict) -> dict[str, float]:
    scenario = scenario_from_dict(raw, source="test")
    return replication_metrics(scenario, run_replication(scenario, 0))


def deterministic_mode(ttf_h: float, ttr_h: float, recovery: str = "replace") -> dict:
    return {"name": "fault", "time_to_failure": {"dist": "deterministic", "value": f"{ttf_h} h"},
            "recovery": recovery, "time_to_repair": {"dist": "deterministic", "value": f"{ttr_h} h"}}


def test_single_crew_serves_fifo():
    """Two nodes fail at 10 h; one crew repairs node 0 over [10, 14], node 1 over [14, 18]."""
    raw = base_scenario(simulation={"horizon": "20 h", "replications": 1},
                        nodes={"count": 2, "nodes_per_rack": 2, "failure_modes": [deterministic_mode(10, 4)]},
                        repair={"crews": 1})
    m = one_replication(raw)
    assert m["nodes.failures"] == 2
    assert m["repair.wait_mean_hours"] == pytest.approx(2.0)       # (0 + 4) / 2
    assert m["nodes.outage_mean_hours"] == pytest.approx(6.0)      # (4 + 8) / 2
    assert m["nodes.up_mean"] == pytest.approx(2 - (4 + 8) / 20)
    assert m["repair.crew_utilization"] == pytest.approx(8 / 20)


def test_unlimited_crews_never_wait():
    raw = base_scenario(simulation={"horizon": "20 h", "replications": 1},
                        nodes={"count": 3, "nodes_per_rack": 3, "failure_modes": [deterministic_mode(10, 4)]})
    m = one_replication(raw)
    assert m["repair.wait_mean_hours"] == 0.0
    assert m["nodes.availability"] == pytest.approx(1 - 4 / 20)
    assert "repair.crew_utilization" not in m


def chaos_kill(node: int, at_h: float, hours: float, **extra) -> dict:
    return {"action": "kill_node", "node": node, "at": f"{at_h} h", "duration": f"{hours} h", **extra}


def test_hot_spare_refills_a_slot_after_detection_and_swap():
    """Node 0 killed over [10, 15); detected at 11; hot spare node 1 joins at 11.5.
    Node 0 returns at 15 and becomes the pool's spare: the pool is empty over [11, 15)."""
    raw = base_scenario(simulation={"horizon": "100 h", "replications": 1},
                        nodes={"count": 2, "nodes_per_rack": 2},
                        repair={"detection": "1 h"},
                        spares={"hot": 1, "swap_time": "30 min"},
                        chaos=[chaos_kill(0, 10, 5)])
    m = one_replication(raw)
    assert m["nodes.failures.chaos0"] == 1
    assert m["nodes.availability"] == pytest.approx(1 - 5 / 200)
    assert m["capacity.shortfall_hours"] == pytest.approx(1.5)
    assert m["capacity.availability"] == pytest.approx(1 - 1.5 / 100)
    assert m["spares.exhausted_hours"] == pytest.approx(4.0)
    assert m["spares.available_mean"] == pytest.approx(1 - 4 / 100)
    assert m["spares.first_exhausted_hours"] == pytest.approx(11.0)


def test_cold_spare_is_provisioned_when_no_hot_spare_is_left():
    raw = base_scenario(simulation={"horizon": "100 h", "replications": 1},
                        nodes={"count": 3, "nodes_per_rack": 3},
                        repair={"detection": "1 h"},
                        spares={"cold": 1, "provisioning": "4 h"},
                        chaos=[chaos_kill(0, 10, 50)])
    m = one_replication(raw)
    assert m["capacity.shortfall_hours"] == pytest.approx(5.0)     # detection 1 h + provisioning 4 h
    assert m["capacity.availability"] == pytest.approx(1 - 5 / 200)


def test_transient_fault_shorter_than_detection_needs_no_spare():
    raw = base_scenario(simulation={"horizon": "100 h", "replications": 1},
                        nodes={"count": 2, "nodes_per_rack": 2},
                        repair={"detection": "1 h"},
                        spares={"hot": 1},
                        chaos=[chaos_kill(0, 10, 0.5)])
    m = one_replication(raw)
    assert m["capacity.shortfall_hours"] == pytest.approx(1.0)     # back at 10.5, noticed at 11: refill in place
    assert m["spares.exhausted_hours"] == 0.0


def test_slot_waits_for_a_repaired_node_when_spares_run_out():
    """Both working nodes die at 10 h for 20 h; one hot spare: the second slot waits until 30 h."""
    raw = base_scenario(simulation={"horizon": "100 h", "replications": 1},
                        nodes={"count": 3, "nodes_per_rack": 3},
                        spares={"hot": 1, "swap_time": "1 h"},
                        chaos=[chaos_kill(0, 10, 20), chaos_kill(1, 10, 20)])
    m = one_replication(raw)
    # slot A: refilled at 11 by the spare; slot B: waits for node 0 or 1 back at 30, swapped in by 31
    assert m["capacity.shortfall_hours"] == pytest.approx(21.0)
    assert m["capacity.availability"] == pytest.approx(1 - (1 + 21) / 200)


def test_periodic_chaos_and_warmup_window():
    """A rack killed for 2 h every 10 h from 5 h; statistics over [20, 100) see 8 injections."""
    raw = base_scenario(simulation={"horizon": "100 h", "warmup": "20 h", "replications": 1},
                        nodes={"count": 8, "nodes_per_rack": 4},
                        chaos=[{"name": "pull", "action": "kill_rack", "rack": 1, "at": "5 h", "every": "10 h",
                                "duration": "2 h"}])
    m = one_replication(raw)
    assert m["nodes.failures.pull"] == 8 * 4
    assert m["nodes.availability"] == pytest.approx(1 - (8 * 2 * 4) / (80 * 8))
    assert m["nodes.outage_mean_hours"] == pytest.approx(2.0)


def test_random_chaos_target_comes_from_its_own_stream():
    raw = base_scenario(simulation={"horizon": "100 h", "replications": 1},
                        nodes={"count": 16, "nodes_per_rack": 4},
                        chaos=[{"action": "kill_node", "at": "1 h", "every": "10 h", "duration": "1 h"}])
    scenario = scenario_from_dict(raw)
    log = run_replication(scenario, 0).log
    struck = log[log[:, 1] == Kind.FAILURE, 2]
    assert len(struck) == 10 and len(set(struck)) > 1


def test_domain_outage_overlapping_own_repair_keeps_node_down_until_both_end():
    """Own fault [10, 14) (reboot) inside a rack outage [12, 20): one outage of 10 h."""
    raw = base_scenario(simulation={"horizon": "30 h", "replications": 1},
                        nodes={"count": 1, "nodes_per_rack": 1,
                               "failure_modes": [deterministic_mode(10, 4, "reboot")]},
                        failure_domains=[{"kind": "rack", "time_to_failure": {"dist": "deterministic", "value": "12 h"},
                                          "time_to_repair": {"dist": "deterministic", "value": "8 h"}}])
    m = one_replication(raw)
    # own: fails 10, back 14, fails again 24 (10 h of operation later), back 28;
    # rack: down [12, 20); node down [10, 20) and [24, 28)
    assert m["nodes.availability"] == pytest.approx(1 - (10 + 4) / 30)
    assert m["nodes.outage_mean_hours"] == pytest.approx((10 + 4) / 2)
    assert m["nodes.failures"] == 3


def test_replicated_zero_failure_cluster_is_always_up():
    raw = base_scenario()
    m = one_replication(raw)
    assert m["nodes.availability"] == 1.0 and m["nodes.failures"] == 0
    assert math.isnan(m["nodes.outage_mean_hours"])


def test_spare_failing_the_instant_it_is_handed_over():
    """Node 0 dies at 10 h (no detection); the hot spare node 2 is struck at the same instant.
    The slot must wait for a usable node instead of crashing or taking a dead spare."""
    raw = base_scenario(simulation={"horizon": "100 h", "replications": 1},
                        nodes={"count": 3, "nodes_per_rack": 3},
                        spares={"hot": 1, "swap_time": "1 h"},
                        chaos=[chaos_kill(0, 10, 20), chaos_kill(2, 10, 5)])
    m = one_replication(raw)
    # the spare (back at 15) is swapped in by 16: the slot is short over [10, 16)
    assert m["capacity.shortfall_hours"] == pytest.approx(6.0)

"""Repair-pipeline cases worked by hand: warm standbys, retirement, lemons, selection, blame."""
from __future__ import annotations

import typing

import numpy as np
import pytest
import simpy

from clustersim.model.records import EventCode, Kind, NodeState, RepairState
from clustersim.engine.simpy_engine import run_replication
from clustersim.model.base import Context
from clustersim.model.cluster import Cluster
from clustersim.model.nodes import Crews
from clustersim.model.policies import (
    RETIREMENT, SELECTION, FewestFailures, HighestScore, NodeScorer, ThresholdRetirement,
)
from clustersim.rng import Streams
from clustersim.scenario import scenario_from_dict
from clustersim.scenario.schema import NodeScore, Repair, Spares
from clustersim.stats import replication_metrics
from conftest import base_scenario
from test_model_cases import chaos_kill, deterministic_mode

T, KIND, COMP, FROM, TO, CAUSE = range(6)


def run(raw: dict, replication: int = 0) -> tuple[dict[str, float], np.ndarray]:
    scenario = scenario_from_dict(raw, source="test")
    records = run_replication(scenario, replication)
    return replication_metrics(scenario, records), records.log


def rows(log: np.ndarray, kind: Kind, to: int | None = None) -> np.ndarray:
    hit = log[:, KIND] == kind
    if to is not None:
        hit &= log[:, TO] == to
    return log[hit]


def test_warm_standby_joins_first_and_is_replenished():
    """Node 0 killed at 10 h; detected at 11; the warm standby joins at 11.1. The other hot spare is
    initialised (swap_time 0.5 h) and is warm from 11.5, so warm standbys were short 0.5 h."""
    raw = base_scenario(simulation={"horizon": "100 h", "replications": 1},
                        nodes={"count": 3, "nodes_per_rack": 3},
                        repair={"detection": "1 h"},
                        spares={"hot": 2, "warm": 1, "standby_swap_time": "0.1 h", "swap_time": "0.5 h"},
                        chaos=[chaos_kill(0, 10, 5)])
    m, _ = run(raw)
    assert m["capacity.shortfall_hours"] == pytest.approx(1.1)
    assert m["spares.warm_mean"] == pytest.approx(1 - 0.5 / 100)
    # node 0 is back at 15 h and joins the pool as a (non-warm) hot spare: 1 usable over [11, 15)
    assert m["spares.available_mean"] == pytest.approx((2 * 11 + 1 * 4 + 2 * 85) / 100)


def test_without_warm_standbys_a_hot_spare_takes_swap_time():
    raw = base_scenario(simulation={"horizon": "100 h", "replications": 1},
                        nodes={"count": 3, "nodes_per_rack": 3},
                        repair={"detection": "1 h"},
                        spares={"hot": 2, "standby_swap_time": "0.1 h", "swap_time": "0.5 h"},
                        chaos=[chaos_kill(0, 10, 5)])
    m, _ = run(raw)
    assert m["capacity.shortfall_hours"] == pytest.approx(1.5)
    assert "spares.warm_mean" not in m


def threshold(max_failures: int, window_h: float) -> dict:
    return {"policy": "threshold", "max_failures": max_failures, "window": f"{window_h} h"}


def test_threshold_retirement_after_three_failures_in_the_window():
    """Failures at 10, 22, 34 h (up 10 h, reboot 2 h): the third recovery ends at 36 h with three
    failures in [6, 36] -> retired at 36 h, down for good."""
    raw = base_scenario(simulation={"horizon": "100 h", "replications": 1},
                        nodes={"count": 1, "nodes_per_rack": 1, "failure_modes": [deterministic_mode(10, 2, "reboot")]},
                        repair={"retirement": threshold(3, 30)})
    m, log = run(raw)
    retired = rows(log, Kind.REPAIR, RepairState.RETIRED)
    assert retired[:, T].tolist() == [36.0]
    assert m["nodes.retired"] == 1 and m["nodes.retired_healthy"] == 1
    assert m["nodes.failures"] == 3
    assert m["nodes.availability"] == pytest.approx(30 / 100)   # up over [0,10), [12,22), [24,34)


def test_threshold_retirement_window_too_short_never_retires():
    raw = base_scenario(simulation={"horizon": "100 h", "replications": 1},
                        nodes={"count": 1, "nodes_per_rack": 1, "failure_modes": [deterministic_mode(10, 2, "reboot")]},
                        repair={"retirement": threshold(3, 20)})
    m, _ = run(raw)
    assert m["nodes.retired"] == 0
    assert m["nodes.failures"] == 8   # at 10, 22, ..., 94


def scored_node(up_h: float, uptime_credit: float, horizon_h: float) -> dict:
    """One node up ``up_h`` between 2 h reboots; score 100, −60 per failure, +credit per full 24 h up."""
    return base_scenario(simulation={"horizon": f"{horizon_h} h", "replications": 1},
                         nodes={"count": 1, "nodes_per_rack": 1,
                                "failure_modes": [deterministic_mode(up_h, 2, "reboot")],
                                "score": {"initial": 100, "failure_penalty": 60, "uptime_credit": uptime_credit,
                                          "credit_period": "24 h"}},
                         repair={"retirement": {"policy": "scored", "threshold": 0}})


def test_scored_retirement_when_the_score_falls_to_the_threshold():
    """Failures at 10 h and 22 h (uptime intervals of 10 h earn nothing): 100 − 120 = −20 ≤ 0 when
    the second reboot ends (24 h)."""
    m, log = run(scored_node(10, 10, 100))
    assert rows(log, Kind.REPAIR, RepairState.RETIRED)[:, T].tolist() == [24.0]


def test_uptime_credit_keeps_a_node_in_service():
    """Up 30 h between failures earns one credit (+50) per interval: 100 − 60 + 50 − 60 + 50 ... > 0."""
    m, _ = run(scored_node(30, 50, 200))
    assert m["nodes.retired"] == 0 and m["nodes.failures"] == 6


def test_a_planted_lemon_is_retired_before_any_healthy_node():
    """One lemon in 8 nodes at 20×; threshold retirement (3 failures in 300 h). Over 40 seeded
    replications the lemon is the first node retired every time."""
    raw = base_scenario(
        simulation={"horizon": "3000 h", "replications": 1, "seed": 99},
        nodes={"count": 8, "nodes_per_rack": 8, "lemon_fraction": 0.125, "lemon_rate_multiplier": 20.0,
               "failure_modes": [{"name": "fault", "time_to_failure": {"dist": "exponential", "mean": "1000 h"},
                                  "recovery": "replace", "time_to_repair": {"dist": "exponential", "mean": "4 h"}}]},
        repair={"retirement": threshold(3, 300)},
    )
    scenario = scenario_from_dict(raw, source="test")
    for k in range(40):
        log = run_replication(scenario, k).log
        lemon = int(rows(log, Kind.LEMON, 1)[0, COMP])
        retired = rows(log, Kind.REPAIR, RepairState.RETIRED)
        assert len(retired) >= 1, f"replication {k}: nobody retired"
        assert int(retired[0, COMP]) == lemon, f"replication {k}: node {int(retired[0, COMP])} retired before the lemon"
        m = replication_metrics(scenario, run_replication(scenario, k)) if k == 0 else None
        if m is not None:
            assert m["nodes.lemons_retired_fraction"] == 1.0


def two_curable_lemons(**repair) -> dict:
    """Two lemons (10×) that a true repair cures, repaired by a 1 h pipeline stage."""
    stage = {"name": "fix", "time": {"dist": "deterministic", "value": "1 h"}}
    stage.update(repair.pop("stage", {}))
    return base_scenario(
        simulation={"horizon": "2000 h", "replications": 1, "seed": 5},
        nodes={"count": 2, "nodes_per_rack": 2, "lemon_fraction": 1.0, "lemon_rate_multiplier": 10.0,
               "lemon_cured_by_repair": True,
               "failure_modes": [{"name": "fault", "time_to_failure": {"dist": "exponential", "mean": "500 h"},
                                  "recovery": "pipeline"}]},
        repair={"stages": [stage], **repair},
    )


def test_a_true_repair_cures_a_lemon_when_configured():
    """Both nodes are lemons (10×); the first repair that truly fixes a fault cures the node."""
    _, log = run(two_curable_lemons())
    cured = rows(log, Kind.LEMON, 0)
    assert sorted(cured[:, COMP].tolist()) == [0.0, 1.0]
    for node in (0, 1):
        first_repair_end = rows(log, Kind.REPAIR, RepairState.OK)
        first_repair_end = first_repair_end[first_repair_end[:, COMP] == node][0, T]
        assert cured[cured[:, COMP] == node][0, T] == first_repair_end


def test_false_success_keeps_a_lemon_a_lemon_when_faults_do_not_recur():
    """fault_left_in_place = "uncured": every repair is a false success, so no lemon is ever cured
    and nothing recurs."""
    raw = two_curable_lemons(fault_left_in_place="uncured", stage={"false_success": 1.0})
    m, log = run(raw)
    assert len(rows(log, Kind.LEMON, 0)) == 0
    assert m["repair.false_successes"] == m["nodes.failures"] > 0
    assert "nodes.recurrences" not in m
    assert len(rows(log, Kind.EVENT, EventCode.RECURRED)) == 0


def test_misdiagnosis_takes_an_innocent_out_and_the_faulty_node_fails_again():
    """wrong_node = 1: each diagnosed failure blames another up working node. The innocent goes
    down at that instant without a failure of its own; the faulty node is back up at once and its
    fault recurs."""
    raw = base_scenario(
        simulation={"horizon": "3000 h", "replications": 1, "seed": 8},
        nodes={"count": 6, "nodes_per_rack": 6, "failure_modes": [
            {"name": "fault", "time_to_failure": {"dist": "exponential", "mean": "400 h"}, "recovery": "replace",
             "time_to_repair": {"dist": "deterministic", "value": "5 h"}}]},
        repair={"detection": "0.5 h", "diagnosis": {"wrong_node": 1.0},
                "recurrence": {"dist": "deterministic", "value": "2 h"}},
    )
    m, log = run(raw)
    blamed = rows(log, Kind.EVENT, EventCode.MISDIAGNOSED)
    assert len(blamed) > 5
    assert m["repair.misdiagnoses"] == len(blamed)
    node_rows = rows(log, Kind.NODE)
    failures = rows(log, Kind.FAILURE)
    for t, innocent in blamed[:, [T, COMP]]:
        at_blame = node_rows[(node_rows[:, T] == t) & (node_rows[:, COMP] == innocent)]
        assert at_blame[-1, TO] == NodeState.DOWN   # (it may have come back from a repair that instant)
        assert not np.any((failures[:, T] == t) & (failures[:, COMP] == innocent))
        # the innocent's repair takes the replace time: back 5 h later
        up = node_rows[(node_rows[:, COMP] == innocent) & (node_rows[:, T] > t)]
        if t + 5 < 3000:
            assert up[0, TO] == NodeState.UP and up[0, T] == pytest.approx(t + 5)
    assert m["nodes.recurrences"] > 0


def test_fewest_failures_and_highest_score_pick_the_best_spare():
    class N:
        def __init__(self, failures: int, score: float, up: bool = True):
            self.blamed_times, self.score_base, self.up_since, self.up = [0.0] * failures, score, 0.0, up

    spares = [N(2, 50), N(0, 40), N(0, 90), N(1, 90)]
    assert FewestFailures().pick(spares, 10.0) == 1   # first of the two with none
    scorer = NodeScorer(NodeScore())
    assert HighestScore(scorer).pick(spares, 10.0) == 2
    assert HighestScore(scorer).pick(spares, 48.0) == 2   # everyone earned the same two credits


def test_threshold_window_counts_failures_at_its_edge():
    class N:
        blamed_times = [10.0, 20.0, 30.0]

    assert ThresholdRetirement(3, 20.0).should_retire(N(), 30.0)
    assert not ThresholdRetirement(3, 19.9).should_retire(N(), 30.0)


def test_an_unlimited_crew_pool_grants_every_request_at_once():
    env = simpy.Environment()
    crews = Crews(Context(env, lambda row: None), None)
    assert all(crews.request().triggered for _ in range(3))


def test_policy_registries_match_the_schema():
    policies = typing.get_args(Repair.model_fields["retirement"].annotation)
    assert set(RETIREMENT) == {typing.get_args(p.model_fields["policy"].annotation)[0] for p in policies}
    assert set(SELECTION) == set(typing.get_args(Spares.model_fields["selection"].annotation))


def spare_taken_at(raw: dict, hours: float) -> int:
    """The node holding working position 0 at ``hours`` (the SimPy model, stopped there)."""
    scenario = scenario_from_dict(raw, source="test")
    env = simpy.Environment()
    cluster = Cluster(Context(env, lambda row: None), scenario, Streams(scenario.simulation.seed, 0))
    env.run(until=hours)
    return cluster.slots[0].node.index


def selection_case(selection: str, healthy_spare: int | None = None) -> dict:
    """Node 0 works; spares 1 and 2, one a lemon (10×: fails at 10, 22, 34, 46 h — 10 h up, 1 h to
    notice, 1 h reboot — blamed each time), one healthy. The healthy spare is knocked out by chaos
    over [49, 49.5) h (not blamed), so at 51 h the lemon (back since 48 h) has waited longest in the
    pool — node 0 is killed at 50 h, noticed at 51 h."""
    chaos = [chaos_kill(0, 50, 40)] + ([chaos_kill(healthy_spare, 49, 0.5)] if healthy_spare is not None else [])
    return base_scenario(
        simulation={"horizon": "60 h", "replications": 1, "seed": 4},
        nodes={"count": 3, "nodes_per_rack": 3, "lemon_fraction": 1 / 3, "lemon_rate_multiplier": 10.0,
               "failure_modes": [deterministic_mode(100, 1, "reboot")]},
        repair={"detection": "1 h"},
        spares={"hot": 2, "swap_time": "0.5 h", "selection": selection},
        chaos=chaos,
    )


@pytest.mark.parametrize("selection, takes", [("fifo", "lemon"), ("fewest_failures", "healthy"),
                                              ("highest_score", "healthy")])
def test_selection_policies_choose_between_a_lemon_and_a_healthy_spare(selection: str, takes: str):
    _, log = run(selection_case(selection))
    lemon = int(rows(log, Kind.LEMON, 1)[0, COMP])
    healthy = 3 - lemon
    chosen = spare_taken_at(selection_case(selection, healthy), 51.6)
    assert chosen == (lemon if takes == "lemon" else healthy)

"""AIReSim's other options, as clustersim options: serial provisioning of cold spares, lemon regeneration."""
from __future__ import annotations

import pytest

from clustersim.engine.fast.compile import compile_plan
from clustersim.engine.fast.engine import run_kernel
from clustersim.engine.simpy_engine import run_replication
from clustersim.errors import ScenarioError
from clustersim.model.records import Kind, SlotState
from clustersim.scenario import scenario_from_dict
from conftest import base_scenario, simulate


def _det(hours: float) -> dict:
    return {"dist": "deterministic", "value": f"{hours} h"}


def _logs(raw: dict) -> list:
    """Replication 0's log on SimPy and on the fast kernel."""
    scenario = scenario_from_dict(raw, source="test")
    fast = run_kernel(compile_plan(scenario), scenario.simulation.seed, 0, trace=True).trace
    return [run_replication(scenario, 0).log, fast]


def _three_cold_spares(line: str) -> dict:
    """Three working nodes fail at 10 h (rebooted for 1000 h); three cold spares, provisioned in 2 h each."""
    return base_scenario(
        simulation={"horizon": "20 h", "replications": 1},
        nodes={"count": 6, "nodes_per_rack": 6, "failure_modes": [
            {"name": "fault", "time_to_failure": _det(10), "recovery": "reboot", "time_to_repair": _det(1000)}]},
        repair={"detection": "0 h"},
        spares={"cold": 3, "provisioning": "2 h", "cold_provisioning": line})


@pytest.mark.parametrize("line, filled", [("parallel", [12.0, 12.0, 12.0]), ("serial", [12.0, 14.0, 16.0])])
def test_cold_spares_taken_at_once_join_together_or_one_after_another(line, filled):
    for log in _logs(_three_cold_spares(line)):
        joined = [float(row[0]) for row in log if row[1] == Kind.SLOT and row[4] == SlotState.FILLED and row[0] > 0]
        assert joined == filled


def test_a_serial_line_needs_cold_spares():
    raw = _three_cold_spares("serial")
    raw["spares"]["cold"] = 0
    with pytest.raises(ScenarioError, match="cold_provisioning"):
        scenario_from_dict(raw, source="test")


def _regenerated(ages: str, **nodes) -> dict:
    """One node in a one-node job, a deterministic 40 h clock (20 h as a lemon), rebooted in 1 h; every 10 h
    the healthy nodes turn lemon (at least one: here the one node, at 10 h)."""
    return base_scenario(
        simulation={"horizon": "50 h", "replications": 1},
        nodes={"count": 1, "nodes_per_rack": 1, "lemon_rate_multiplier": 2.0, "failure_modes": [
            {"name": "fault", "time_to_failure": _det(40), "recovery": "reboot", "time_to_repair": _det(1),
             "ages": ages}],
            "lemon_regeneration": {"period": "10 h", "fraction": 0.1}, **nodes},
        spares={"swap_time": "0 h"},  # (its position takes its node back at once)
        training=[{"name": "job", "nodes": 1, "checkpoint_mode": "continuous", "restart_overhead": "0 h"}])


@pytest.mark.parametrize("ages", ["always", "computing"])
def test_a_node_turned_lemon_ages_at_the_lemons_speed_from_then_on(ages):
    """10 h at speed 1, then the 30 h left at speed 2: fails at 25 h; rebooted at 26 h, its new 40 h at speed 2:
    46 h. The one lemon, turned at 10 h, is logged."""
    log = run_replication(scenario_from_dict(_regenerated(ages), source="test"), 0).log
    assert [float(row[0]) for row in log if row[1] == Kind.FAILURE] == [25.0, 46.0]
    assert [(float(row[0]), int(row[2])) for row in log if row[1] == Kind.LEMON] == [(10.0, 0)]


def test_regenerated_lemons_count_in_the_lemons_retired_fraction():
    """No lemon at the start: retired after its second failure (47 h), the regenerated lemon is the one."""
    raw = _regenerated("always")
    raw["repair"] = {"retirement": {"policy": "threshold", "max_failures": 2, "window": "1000 h"}}
    metrics = simulate(raw)
    assert metrics["nodes.retired"].mean == 1.0
    assert metrics["nodes.lemons_retired_fraction"].mean == 1.0


def test_each_period_turns_a_share_of_the_healthy_nodes():
    """100 nodes, a tenth of the healthy ones each 10 h: 10 at 10 h, 9 at 20 h, 8 at 30 h."""
    raw = base_scenario(simulation={"horizon": "35 h", "replications": 1},
                        nodes={"count": 100, "nodes_per_rack": 10, "lemon_rate_multiplier": 2.0, "failure_modes": [
                            {"name": "fault", "time_to_failure": _det(1000), "recovery": "reboot",
                             "time_to_repair": _det(1)}],
                            "lemon_regeneration": {"period": "10 h", "fraction": 0.1}})
    log = run_replication(scenario_from_dict(raw, source="test"), 0).log
    times = [float(row[0]) for row in log if row[1] == Kind.LEMON]
    assert times == [10.0] * 10 + [20.0] * 9 + [30.0] * 8
    assert len({int(row[2]) for row in log if row[1] == Kind.LEMON}) == 27


def test_the_fast_engine_refuses_lemon_regeneration_by_name():
    from clustersim.engine.fast.support import unsupported_features

    assert "nodes.lemon_regeneration" in " ".join(unsupported_features(scenario_from_dict(_regenerated("always"),
                                                                                         source="test")))


def test_regeneration_needs_a_lemon_multiplier():
    raw = _regenerated("always")
    raw["nodes"]["lemon_rate_multiplier"] = 1.0
    with pytest.raises(ScenarioError, match="lemon_regeneration"):
        scenario_from_dict(raw, source="test")

"""AIReSim's other options, as clustersim options: serial provisioning of cold spares, lemon regeneration."""
from __future__ import annotations

import pytest

from clustersim.engine.fast.compile import compile_plan
from clustersim.engine.fast.engine import run_kernel
from clustersim.engine.simpy_engine import run_replication
from clustersim.errors import ScenarioError
from clustersim.model.records import Kind, SlotState
from clustersim.scenario import scenario_from_dict
from conftest import base_scenario


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

"""nodes.parquet's per-node table: derived from the streamed records, held against the model's own state."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import simpy

from clustersim.cli import main
from clustersim.engine.fast.compile import compile_plan
from clustersim.engine.fast.engine import kernel_node_columns, run_kernel
from clustersim.engine.simpy_engine import _RowStream
from clustersim.model.base import Context
from clustersim.model.cluster import Cluster
from clustersim.node_table import NODE_COLUMNS, NodeTable
from clustersim.rng import Streams
from clustersim.scenario import scenario_from_dict
from clustersim.workloads.training import close_training, start_training
from conftest import base_scenario
from fast_cases import random_deterministic_scenario


def _det(hours: float) -> dict:
    return {"dist": "deterministic", "value": f"{hours} h"}


def _three_failures() -> dict:
    """One node in a one-node job failing every 25 h of uptime, rebooted in 1 h: struck at 25, 51 and 77 h,
    retired when its third reboot ends (78 h) by the ``max_failures = 3`` rule."""
    return base_scenario(
        simulation={"horizon": "100 h", "replications": 1},
        nodes={"count": 1, "nodes_per_rack": 1, "failure_modes": [
            {"name": "fault", "time_to_failure": _det(25), "recovery": "reboot", "time_to_repair": _det(1)}],
            "score": {"initial": 100, "failure_penalty": 10, "uptime_credit": 1, "credit_period": "10 h"}},
        repair={"retirement": {"policy": "any", "max_failures": 3, "window": "1000 h", "threshold": -1000}},
        training=[{"name": "job", "nodes": 1, "checkpoint_mode": "continuous", "restart_overhead": "0 h"}])


def _table(raw: dict, chunk_rows: int = 7) -> tuple[dict[str, np.ndarray], Cluster]:
    """Replication 0's node table (rows streamed in small chunks) and the model it came from."""
    scenario = scenario_from_dict(raw, source="test")
    table = NodeTable(scenario)
    stream = _RowStream([table.consume], chunk_rows)
    env = simpy.Environment()
    ctx = Context(env, stream.record)
    cluster = Cluster(ctx, scenario, Streams(scenario.simulation.seed, 0))
    jobs = start_training(ctx, scenario, cluster.slots)
    env.run(until=scenario.simulation.horizon)
    close_training(jobs)
    stream.flush()
    return table.columns(), cluster


def test_a_hand_worked_node_history():
    """The node is up over [0, 25), [26, 51), [52, 77): 75 h, 2 credits in each: 100 − 3·10 + 6 = 76."""
    table, _ = _table(_three_failures())
    assert table["role"].tolist() == ["work"]
    assert table["failures"].tolist() == [3]
    assert table["blamed"].tolist() == [3]
    assert table["up_hours"].tolist() == [75.0]
    assert table["score"].tolist() == [76.0]
    assert table["retired_at_hours"].tolist() == [78.0]
    assert not table["lemon_ever"].any()


@pytest.mark.parametrize("seed", range(12))
def test_the_streamed_table_matches_the_model_state(seed):
    """Failures blamed, score and retirement as the model itself kept them, on tie-heavy random scenarios
    (diagnosis errors, undiagnosed failures, pipelines, lemons, retirement, spares, jobs)."""
    raw = random_deterministic_scenario(seed, pipeline=True, jobs=True)
    raw["nodes"]["score"] = {"credit_period": "5 h"}
    raw.setdefault("spares", {})["selection"] = "highest_score"
    table, cluster = _table(raw)
    horizon = cluster.scenario.simulation.horizon
    assert table["blamed"].tolist() == [len(node.blamed_times) for node in cluster.nodes]
    assert cluster.scorer is not None
    assert table["score"].tolist() == pytest.approx([cluster.scorer.score(node, horizon) for node in cluster.nodes],
                                                    rel=1e-12, abs=1e-9)
    assert table["lemon_at_end"].tolist() == [node.lemon for node in cluster.nodes]
    retired = [node.role == "retired" for node in cluster.nodes]
    assert (~np.isnan(table["retired_at_hours"])).tolist() == retired


@pytest.mark.parametrize("seed", range(12))
def test_the_fast_kernel_gives_the_same_table(seed):
    """Row for row the engines agree on these scenarios (test_fast_engine), so their node tables are equal."""
    raw = random_deterministic_scenario(seed, pipeline=True, jobs=True)
    raw["nodes"]["score"] = {"credit_period": "5 h"}
    raw.setdefault("spares", {})["selection"] = "highest_score"
    simpy_table, _ = _table(raw)
    scenario = scenario_from_dict(raw, source="test")
    plan = compile_plan(scenario)._replace(node_table=True)
    fast_table = kernel_node_columns(scenario, plan, run_kernel(plan, scenario.simulation.seed, 0))
    assert fast_table is not None
    for name in NODE_COLUMNS:
        np.testing.assert_array_equal(fast_table[name], simpy_table[name], err_msg=name)


def test_cli_writes_nodes_parquet_on_both_engines(tmp_path):
    import tomli_w

    path = tmp_path / "three.toml"
    raw = _three_failures()
    raw["simulation"]["replications"] = 2
    path.write_bytes(tomli_w.dumps(raw).encode())
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--nodes", "--quiet"]) == 0
    frame = pd.read_parquet(tmp_path / "out" / "nodes.parquet")
    assert frame["replication"].tolist() == [0, 1]
    assert frame["blamed"].tolist() == [3, 3]
    assert frame["score"].tolist() == [76.0, 76.0]
    assert frame["retired_at_hours"].tolist() == [78.0, 78.0]
    assert main(["run", str(path), "--engine", "fast", "--out", str(tmp_path / "f"), "--nodes", "--quiet"]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "f" / "nodes.parquet"), frame)

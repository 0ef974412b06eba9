"""Scenarios and runners the chaos and serving tests share: a small two-tier fabric with a store, one
replication's metrics, and one replication served with its Serving object kept to inspect."""
from __future__ import annotations

from typing import Any

import simpy

from clustersim.engine.simpy_engine import simulate_replication
from clustersim.model.base import Context
from clustersim.model.cluster import Cluster
from clustersim.rng import Streams
from clustersim.scenario import scenario_from_dict
from clustersim.scenario.schema import Scenario
from clustersim.workloads.inference import Serving, serve, tap_inference
from clustersim.workloads.training import close_training, start_training


def fabric_scenario(chaos: list[dict[str, Any]], spines: int = 2, **network: Any) -> dict[str, Any]:
    """32 nodes of 4 GPUs, racks of 8 (leaf/0..3), ``spines`` spines, nothing failing on its own; a 4-server store
    (server i in rack i)."""
    return {"name": "fabric", "simulation": {"horizon": "100 h", "replications": 1, "seed": 1},
            "nodes": {"count": 32, "gpus_per_node": 4, "nodes_per_rack": 8, "failure_modes": []},
            "network": {"topology": "two_tier", "spines": spines, **network},
            "storage": {"servers": 4, "replication": 2, "objects": 8, "failure_loses_data": False,
                        "time_to_failure": {"dist": "deterministic", "value": "1000 h"},
                        "time_to_repair": {"dist": "deterministic", "value": "1 h"}},
            "chaos": chaos}


def replication_metrics(raw: dict[str, Any]) -> dict[str, float]:
    """Replication 0's metrics on the SimPy engine."""
    return simulate_replication(scenario_from_dict(raw), 0)[0].metrics()


def serve_replication(raw: dict[str, Any], k: int = 0, before_run: Any = None) -> Serving:
    """Replication ``k`` built as ``simulate_replication`` builds it, keeping the Serving object to inspect."""
    sc = Scenario.model_validate(raw)
    env = simpy.Environment()
    ctx = Context(env, lambda row: None)
    streams = Streams(sc.simulation.seed, k)
    cluster = Cluster(ctx, sc, streams)
    jobs = start_training(ctx, sc, cluster.slots, cluster.storage)
    tap = tap_inference(ctx, sc, cluster.slots, cluster.storage)
    assert tap is not None
    env.run(until=sc.simulation.horizon)
    close_training(jobs)
    return serve(sc, streams, tap.timeline(), lambda row: None, before_run)

"""The full engine: one SimPy environment per replication, the Cluster model, the record log."""
from __future__ import annotations

import time

import simpy

from clustersim.engine.records import ReplicationRecords, as_log_array
from clustersim.model.base import Context
from clustersim.model.cluster import Cluster
from clustersim.rng import Streams
from clustersim.scenario.schema import Scenario


def run_replication(scenario: Scenario, replication: int) -> ReplicationRecords:
    """Simulate replication ``replication`` of ``scenario`` over [0, horizon)."""
    started = time.perf_counter()
    rows: list[tuple] = []
    env = simpy.Environment()
    Cluster(Context(env, rows.append), scenario, Streams(scenario.simulation.seed, replication))
    env.run(until=scenario.simulation.horizon)
    simulate_s = time.perf_counter() - started
    return ReplicationRecords(replication=replication, log=as_log_array(rows), simulate_s=simulate_s)

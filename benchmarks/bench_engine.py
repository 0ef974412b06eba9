"""Throughput of the SimPy engine on a large, realistic scenario.

A 1024-node × 8-GPU cluster simulated for one year with the failure modes that dominate real
training fleets (rates in the range Meta reports for Llama 3 pre-training: faulty GPUs,
HBM errors, host/software faults recovered by a reboot, whole-node replacements), a rack
failure domain, 8 repair crews and 16 hot + 16 cold spares, and a 960-node pre-training job
(hourly synchronous checkpoints, spares swapped in on failure).

Run::

    python benchmarks/bench_engine.py [--replications N]

It prints model events per second (log rows / simulate_s, as summary.json counts them),
replications per second, mean events per replication, and — from a second, separately timed
pass — how the time of a replication splits between building the model and ``env.run``.
"""
from __future__ import annotations

import argparse
import gc
import statistics
import time
from dataclasses import dataclass

import numpy as np
import simpy

from clustersim.model.records import COLUMNS
from clustersim.engine.simpy_engine import run_replication
from clustersim.model.base import Context
from clustersim.model.cluster import Cluster
from clustersim.rng import Streams
from clustersim.scenario.load import scenario_from_dict
from clustersim.scenario.schema import Scenario
from clustersim.workloads.training import close_training, start_training


def benchmark_scenario() -> Scenario:
    """The 1024 × 8 GPU, one-year benchmark scenario with its 960-node checkpointing job."""
    return scenario_from_dict(
        {
            "name": "bench-1024x8",
            "simulation": {"horizon": "365 d", "replications": 5, "seed": 20240701},
            "nodes": {
                "count": 1024,
                "gpus_per_node": 8,
                "nodes_per_rack": 16,
                "failure_modes": [
                    {   # faulty GPU: ~ Llama 3's rate (148 in 54 days on 16,384 GPUs ≈ 1 / 143,000 h)
                        "name": "gpu", "scope": "gpu",
                        "time_to_failure": {"dist": "exponential", "mean": "150000 h"},
                        "recovery": "replace",
                        "time_to_repair": {"dist": "lognormal", "mean": "8 h", "cv": 0.5},
                    },
                    {   # HBM errors: about half the faulty-GPU rate
                        "name": "hbm", "scope": "gpu",
                        "time_to_failure": {"dist": "exponential", "mean": "300000 h"},
                        "recovery": "replace",
                        "time_to_repair": {"dist": "lognormal", "mean": "12 h", "cv": 0.5},
                    },
                    {   # host / software / driver faults: infant-mortality Weibull, fixed by a reboot
                        "name": "host", "scope": "node",
                        "time_to_failure": {"dist": "weibull", "shape": 0.8, "mean": "20000 h"},
                        "recovery": "reboot",
                        "time_to_repair": {"dist": "lognormal", "mean": "20 min", "cv": 0.5},
                    },
                    {   # mainboard / PSU / NIC: the whole node is swapped out
                        "name": "node", "scope": "node",
                        "time_to_failure": {"dist": "exponential", "mean": "100000 h"},
                        "recovery": "replace",
                        "time_to_repair": {"dist": "gamma", "shape": 2.0, "mean": "24 h"},
                    },
                ],
            },
            "repair": {"crews": 8, "detection": "2 min"},
            "spares": {"hot": 16, "cold": 16, "swap_time": "5 min", "provisioning": "4 h"},
            "failure_domains": [
                {
                    "kind": "rack",
                    "time_to_failure": {"dist": "exponential", "mean": "50000 h"},
                    "time_to_repair": {"dist": "exponential", "mean": "6 h"},
                },
            ],
            "training": [
                {
                    "name": "pretrain", "nodes": 960, "checkpoint_mode": "sync", "checkpoint_interval": "1 h",
                    "checkpoint_cost": "2 min", "restart_overhead": "10 min", "on_failure": "spare",
                },
            ],
        },
        source="<benchmark>",
    )


@dataclass(frozen=True)
class Phases:
    """One replication timed phase by phase (seconds) and its row count."""

    construct_s: float
    run_s: float
    log_s: float
    cleanup_s: float
    events: int


def time_phases(scenario: Scenario, replication: int) -> Phases:
    """Mirror ``clustersim.engine.simpy_engine.run_replication`` step by step (garbage
    collection paused, as there) to see where its time goes; keep the two in step."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter()
        values: list[float] = []
        env = simpy.Environment()
        ctx = Context(env, values.extend)
        cluster = Cluster(ctx, scenario, Streams(scenario.simulation.seed, replication))
        jobs = start_training(ctx, scenario, cluster.slots)
        t1 = time.perf_counter()
        env.run(until=scenario.simulation.horizon)
        close_training(jobs)
        t2 = time.perf_counter()
        log = np.array(values, dtype=np.float64).reshape(-1, len(COLUMNS))
        del env, values, ctx, cluster, jobs
        t3 = time.perf_counter()
        gc.collect(0)
        t4 = time.perf_counter()
    finally:
        if was_enabled:
            gc.enable()
    return Phases(t1 - t0, t2 - t1, t3 - t2, t4 - t3, int(log.shape[0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=5, help="replications to run (default 5)")
    args = parser.parse_args()
    scenario = benchmark_scenario()
    count = args.replications

    run_replication(scenario, 0)  # warm-up: imports, caches, first-call costs

    events_per_replication, simulate_s = [], 0.0
    wall_started = time.perf_counter()
    for k in range(count):
        records = run_replication(scenario, k)
        events_per_replication.append(records.events)
        simulate_s += records.simulate_s
    wall_s = time.perf_counter() - wall_started
    events = sum(events_per_replication)
    print(f"scenario: {scenario.nodes.count} nodes x {scenario.nodes.gpus_per_node} GPUs, "
          f"{scenario.simulation.horizon / 24:.0f} d, {count} replications")
    print(f"simpy: {events / simulate_s:,.0f} events/s, {count / simulate_s:.2f} replications/s")
    print(f"events per replication: {events / count:,.0f}")
    print(f"simulate_s per replication: {1000 * simulate_s / count:.1f} ms "
          f"(wall clock, everything included: {1000 * wall_s / count:.1f} ms)")

    phases = [time_phases(scenario, k) for k in range(count)]
    if [p.events for p in phases] != events_per_replication:
        print("warning: time_phases no longer mirrors run_replication (event counts differ)")
    construct = statistics.mean(p.construct_s for p in phases)
    run = statistics.mean(p.run_s for p in phases)
    log = statistics.mean(p.log_s for p in phases)
    cleanup = statistics.mean(p.cleanup_s for p in phases)
    run_events = sum(p.events for p in phases)
    print(f"construction: {1000 * construct:.1f} ms per replication")
    print(f"env.run: {1000 * run:.1f} ms per replication "
          f"({run_events / sum(p.run_s for p in phases):,.0f} events/s excluding construction)")
    print(f"log array: {1000 * log:.1f} ms per replication")
    print(f"garbage collection at the end: {1000 * cleanup:.1f} ms per replication")


if __name__ == "__main__":
    main()

"""The fabric's cost: a 1,024-node fat-tree and a 2,048-node rail-optimized cluster for one year, both engines.

Each cluster has the Llama 3 node failure modes of scenarios/gpt_cluster.toml (without its per-node
"network" mode: here the fabric fails instead), a job on every working node checkpointing hourly, 16 hot
spares, and a fabric whose switches, switch-to-switch links and host links fail at the published rates
(Alibaba HPN, SIGCOMM 2024: 0.051 %/month of ToR switches crash, 0.057 %/month of NIC-ToR links fail;
Microsoft: ~8 % of switches a year above the ToR layer) with a few hours' repair, and the checkpoint
store of scenarios/gpt_cluster.toml (96 OSDs, 3-way replication, 3,200 placement groups). With ``--store`` the
clusters also get the replicated checkpoint store of scenarios/gpt_cluster.toml.

Run from the repository root::

    python benchmarks/bench_network.py [--simpy-replications N] [--fast-replications N] [--rounds N]

It prints per cluster and engine: model events per second and seconds per replication of the whole
cluster, of the cluster without its store, and of the cluster without store and fabric (the goal: the
fabric within 2x of no fabric), the fast/simpy ratio, and for SimPy the share of the run spent deciding
who is cut off (topology.Reach, timed around its calls).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # measure this checkout, not whichever clustersim is installed

from clustersim import topology  # noqa: E402
from clustersim.layout import fabric_of  # noqa: E402
from clustersim.engine.base import Engine  # noqa: E402
from clustersim.engine.fast.engine import FastEngine, ensure_compiled  # noqa: E402
from clustersim.engine.simpy_engine import SimpyEngine  # noqa: E402
from clustersim.scenario import scenario_from_dict  # noqa: E402
from clustersim.scenario.schema import Scenario  # noqa: E402


def _exp(mean_h: float) -> dict[str, Any]:
    return {"dist": "exponential", "mean": f"{mean_h} h"}


def _law(mttf_h: float, mttr_h: float) -> dict[str, Any]:
    return {"time_to_failure": _exp(mttf_h), "time_to_repair": {"dist": "lognormal", "mean": f"{mttr_h} h", "cv": 1.0}}


TOR_MTTF_H = 730 / 0.00051        # Alibaba HPN: 0.051 % of ToR switches crash per month
LINK_MTTF_H = 730 / 0.00057       # Alibaba HPN: 0.057 % of NIC-ToR links fail per month
UPPER_SWITCH_MTTF_H = 8760 / 0.083  # Microsoft: ~8 % of switches fail in a year (98 % ran 3 months clean)


def _modes() -> list[dict[str, Any]]:
    """gpt_cluster.toml's Llama 3 modes (Table 5 counts over 2,654,208 node-h), less its per-node network mode."""
    hardware = {"dist": "lognormal", "mean": "40 h", "cv": 1.0}
    return [
        {"name": "gpu", "scope": "gpu", "time_to_failure": _exp(143470.7), "recovery": "replace",
         "time_to_repair": hardware},
        {"name": "gpu_hbm", "scope": "gpu", "time_to_failure": _exp(294912.0), "recovery": "replace",
         "time_to_repair": hardware},
        {"name": "software", "scope": "node", "time_to_failure": _exp(42130.3), "recovery": "reboot",
         "time_to_repair": {"dist": "uniform", "low": "5 min", "high": "20 min"}},
        {"name": "host", "scope": "node", "time_to_failure": _exp(2654208 / 53), "recovery": "replace",
         "time_to_repair": hardware},
    ]


def cluster(nodes: int, per_rack: int, network: dict[str, Any]) -> dict[str, Any]:
    """A one-year cluster of ``nodes`` 8-GPU nodes: 16 hot spares, one job on the rest, and ``network``."""
    return {
        "name": f"bench_{network['topology']}_{nodes}",
        "simulation": {"horizon": "365 d", "replications": 1, "seed": 1},
        "nodes": {"count": nodes, "gpus_per_node": 8, "nodes_per_rack": per_rack, "failure_modes": _modes()},
        "repair": {"crews": 16, "detection": "10 min"},
        "spares": {"hot": 16, "swap_time": "3 min"},
        "network": {**network, "link_failure": _law(LINK_MTTF_H, 4.0), "host_link_failure": _law(LINK_MTTF_H, 4.0)},
        "storage": {"servers": 96, "replication": 3, "write_quorum": 2, "objects": 3200, "object_size": "1.25 GB",
                    "time_to_failure": {"dist": "exponential", "afr": 0.015},
                    "time_to_repair": {"dist": "lognormal", "mean": "24 h", "cv": 1.0},
                    "bandwidth": "0.0734 GB/s", "max_concurrent_copies": 1, "rereplication_delay": "10 min"},
        "training": [{"name": "pretrain", "nodes": nodes - 16, "checkpoint_interval": "1 h",
                      "checkpoint_cost": "5 min", "restart_overhead": "10 min"}],
    }


def fat_tree_1024() -> dict[str, Any]:
    """k = 16: 128 edge, 128 aggregation and 64 core switches, 8 nodes per edge switch."""
    return cluster(1024, 8, {"topology": "fat_tree", "k": 16, "switch_failure": _law(UPPER_SWITCH_MTTF_H, 4.0),
                             "layer_failure": {"edge": _law(TOR_MTTF_H, 4.0)}})


def rail_2048() -> dict[str, Any]:
    """64 groups of 32 nodes, 8 rail switches each (512), 16 spines."""
    return cluster(2048, 32, {"topology": "rail_optimized", "spines": 16, "group_size": 32,
                              "switch_failure": _law(UPPER_SWITCH_MTTF_H, 4.0),
                              "layer_failure": {"rail": _law(TOR_MTTF_H, 4.0)}})


def without(raw: dict[str, Any], *sections: str) -> dict[str, Any]:
    return {key: value for key, value in raw.items() if key not in sections}


def timed(engine: Engine, scenario: Scenario, replications: int, rounds: int) -> tuple[float, float]:
    """Best of ``rounds``: (seconds per replication, events per second)."""
    best = (float("inf"), 0.0)
    for _ in range(rounds):
        started = time.perf_counter()
        outcomes = list(engine.run(scenario, range(replications)))
        wall = time.perf_counter() - started
        if wall / replications < best[0]:
            best = (wall / replications, sum(o.events for o in outcomes) / wall)
    return best


def connectivity_share(scenario: Scenario) -> float:
    """The share of one SimPy replication spent in topology.Reach's updates."""
    spent = [0.0]
    originals = {name: getattr(topology.Reach, name) for name in ("set_switch", "set_link")}

    def timing(method):
        def wrapped(self, *args):
            started = time.perf_counter()
            try:
                return method(self, *args)
            finally:
                spent[0] += time.perf_counter() - started
        return wrapped

    for name, method in originals.items():
        setattr(topology.Reach, name, timing(method))
    try:
        started = time.perf_counter()
        list(SimpyEngine().run(scenario, [0]))
        return spent[0] / (time.perf_counter() - started)
    finally:
        for name, method in originals.items():
            setattr(topology.Reach, name, method)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simpy-replications", type=int, default=1, help="SimPy replications per round (default 1)")
    parser.add_argument("--fast-replications", type=int, default=20, help="fast replications per round (default 20)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per measurement; the best counts (default 2)")
    args = parser.parse_args()
    ensure_compiled()
    for build in (fat_tree_1024, rail_2048):
        raw = build()
        whole = scenario_from_dict(raw)
        fabric = fabric_of(whole)
        print(f"{build.__name__}: {whole.nodes.count} nodes, {fabric.switches} switches, "
              f"{len(fabric.links)} switch links, {fabric.link_count - len(fabric.links)} host links, a store of "
              f"{raw['storage']['servers']} servers and {raw['storage']['objects']} objects, one year")
        fabric_only, bare = scenario_from_dict(without(raw, "storage")), scenario_from_dict(without(raw, "storage",
                                                                                                     "network"))
        seconds: dict[str, float] = {}
        for label, engine, reps in (("simpy", SimpyEngine(), args.simpy_replications),
                                    ("fast", FastEngine(workers=1), args.fast_replications)):
            whole_s, events = timed(engine, whole, reps, args.rounds)
            fabric_s, _ = timed(engine, fabric_only, reps, args.rounds)
            bare_s, _ = timed(engine, bare, reps, args.rounds)
            seconds[label] = whole_s
            print(f"  {label:>5}: {events:14,.0f} events/s  s/replication: {whole_s:8.4f} whole, {fabric_s:8.4f} "
                  f"without the store, {bare_s:8.4f} without store and fabric (fabric {fabric_s / bare_s:.2f}x)")
        print(f"  fast/simpy: {seconds['simpy'] / seconds['fast']:.0f}x per replication (one thread)")
        print(f"  simpy time deciding who is cut off: {100 * connectivity_share(whole):.1f} %")


if __name__ == "__main__":
    main()

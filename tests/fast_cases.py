"""Scenario builders shared by the fast engine's tests: deterministic, tie-heavy random scenarios."""
from __future__ import annotations

import random

from conftest import base_scenario


def _one(horizon_h: float, warmup_h: float = 0.0) -> dict:
    return {"horizon": f"{horizon_h} h", "warmup": f"{warmup_h} h", "replications": 1}


def random_deterministic_scenario(seed: int, pipeline: bool = False, jobs: bool = False,
                                  network: bool = False, storage: bool = False) -> dict:
    """A small scenario with deterministic laws on a coarse time grid, so that events tie often.

    ``pipeline``: also repair stages with crews, outcomes of probability 0 or 1, diagnosis,
    faults left in place, lemons (all nodes or none), retirement and deterministic spare selection,
    warm standbys; ``jobs``: training jobs of every checkpoint mode and failure rule, with priorities;
    ``network``: a fabric (any template) whose switches, links and host links fail deterministically;
    ``storage``: a replicated store of deterministic laws (its jobs checkpoint to it, skipping or blocking).
    Every random choice the model makes has one possible outcome, so both engines must agree row for row
    (the store's placement is drawn alike by both engines; its copies have at most one target: see _add_storage).
    """
    r = random.Random(seed)

    def hours(low: float, high: float) -> str:
        return f"{round(r.uniform(low, high) * 2) / 2} h"

    def det(low: float, high: float) -> dict:
        return {"dist": "deterministic", "value": hours(low, high)}

    count = r.randint(2, 12)
    hot = r.randint(0, min(3, count - 1))
    cold = r.randint(0, min(3, count - 1 - hot))
    recoveries = ["reboot", "replace"] + (["pipeline"] * 2 if pipeline else [])
    modes = []
    for i in range(r.randint(1 if pipeline or jobs else 0, 3)):
        recovery = r.choice(recoveries)
        mode = {"name": f"m{i}", "scope": r.choice(["gpu", "node"]), "recovery": recovery,
                "time_to_failure": det(3, 60)}
        if recovery != "pipeline":
            mode["time_to_repair"] = det(0, 20)
        if pipeline and r.random() < 0.3:
            mode["lemon_rate_multiplier"] = r.choice([2.0, 4.0])
        modes.append(mode)
    domains = []
    for i in range(r.randint(0, 2)):
        kind = r.choice(["rack", "power", "cluster"])
        domains.append({"name": f"d{i}", "kind": kind, **({"power_racks": r.randint(1, 3)} if kind == "power" else {}),
                        "time_to_failure": det(5, 80), "time_to_repair": det(0, 15)})
    repair = {"detection": f"{r.choice([0, 0.5, 1])} h", **({"crews": r.randint(1, 3)} if r.random() < 0.7 else {})}
    nodes = {"count": count, "gpus_per_node": r.randint(1, 3), "nodes_per_rack": r.randint(1, 5),
             "failure_modes": modes}
    spares = {"hot": hot, "cold": cold, "swap_time": f"{r.choice([0, 0.5, 1])} h",
              "provisioning": f"{r.choice([0, 1, 4])} h"}
    raw = base_scenario(simulation=_one(round(r.uniform(50, 300)), round(r.uniform(0, 40))), nodes=nodes,
                        repair=repair, failure_domains=domains, spares=spares)
    if pipeline:
        _add_pipeline(r, raw, det)
    if jobs:
        _add_jobs(r, raw, hours)
    if network:
        _add_network(r, raw, det)
    if storage:
        _add_storage(r, raw, det, hours)
    return raw


def _add_storage(r: random.Random, raw: dict, det, hours) -> None:
    """``replication`` or one more servers: a copy's target is then a server holding none of the object's replicas,
    and at most one such is up and free whenever one copy starts."""
    nodes = raw["nodes"]
    racks = -(-nodes["count"] // nodes["nodes_per_rack"])
    replication = r.randint(1, 3)
    servers = replication + r.randint(0, 1)
    placement = "rack_aware" if min(servers, racks) >= replication and r.random() < 0.5 else "random"
    spec: dict = {"servers": servers, "replication": replication, "objects": r.randint(1, 6), "placement": placement,
                  "time_to_failure": det(20, 400), "time_to_repair": det(0, 20),
                  "failure_loses_data": r.random() < 0.4, "rereplication": r.random() < 0.8,
                  "max_concurrent_copies": r.randint(1, 3)}
    if r.random() < 0.5:
        spec["write_quorum"] = r.randint(1, replication)
    if spec["rereplication"]:
        spec["rereplication_delay"] = hours(0, 4)
        if r.random() < 0.7:
            spec["copy_time"] = det(0, 6)
    raw["storage"] = spec
    for job in raw.get("training", []):  # (async persists to a store are not modelled)
        job["checkpoint_on_store_down"] = r.choice(["skip", "block"])
        if job["checkpoint_mode"] == "async":
            job["checkpoint_mode"] = "sync"
            job.pop("snapshot_cost", None)


def _add_network(r: random.Random, raw: dict, det) -> None:
    nodes = raw["nodes"]
    per_rack, racks = nodes["nodes_per_rack"], -(-nodes["count"] // nodes["nodes_per_rack"])
    templates = ["two_tier", "rail_optimized"] + (["fat_tree"] if per_rack <= 2 and racks <= 8 else [])
    network: dict = {"topology": r.choice(templates)}
    if network["topology"] == "fat_tree":
        network["k"] = 4
    else:
        network["spines"] = r.randint(1, 3)
    if network["topology"] == "rail_optimized" and r.random() < 0.5:
        network["group_size"] = r.randint(1, 4)

    def law() -> dict:
        return {"time_to_failure": det(5, 80), "time_to_repair": det(0, 15)}

    for key in ("switch_failure", "link_failure", "host_link_failure"):
        if r.random() < 0.6:
            network[key] = law()
    if r.random() < 0.3:
        layer = {"two_tier": "spine", "rail_optimized": "rail", "fat_tree": "core"}[network["topology"]]
        network["layer_failure"] = {layer: law()}
    raw["network"] = network


def _add_pipeline(r: random.Random, raw: dict, det) -> None:
    nodes, repair, spares = raw["nodes"], raw["repair"], raw["spares"]
    if any(m["recovery"] == "pipeline" for m in nodes["failure_modes"]):
        stages = []
        for s in range(r.randint(1, 3)):
            stage = {"name": f"s{s}", "time": det(0, 12), "escalate": float(r.random() < 0.4),
                     "false_success": float(r.random() < 0.3)}
            if r.random() < 0.6:
                stage["crews"] = r.randint(1, 2)
            stages.append(stage)
        stages[-1]["escalate"] = 0.0
        repair["stages"] = stages
    undiagnosed = r.random() < 0.2
    # a wrongly blamed node is drawn among the candidates: keep at most one (two nodes, no spares)
    wrong = not undiagnosed and r.random() < 0.25
    if wrong:
        nodes["count"] = 2
        spares.update(hot=0, cold=0)
        raw["failure_domains"] = raw["failure_domains"][:1]
    repair["diagnosis"] = {"probability": 0.0 if undiagnosed else 1.0, "wrong_node": float(wrong),
                           "reboot_time": det(0, 3)}
    leaves = undiagnosed or wrong or any(s["false_success"] > 0 for s in repair.get("stages", []))
    if r.random() < 0.3:
        repair["fault_left_in_place"] = "uncured"
    elif leaves:
        repair["recurrence"] = det(1, 30)
    if r.random() < 0.4:
        nodes.update(lemon_fraction=1.0, lemon_rate_multiplier=r.choice([2.0, 3.0]),
                     lemon_cured_by_repair=r.random() < 0.5)
    policy = r.choice(["never", "threshold", "scored"])
    if policy == "threshold":
        repair["retirement"] = {"policy": "threshold", "max_failures": r.randint(2, 4),
                                "window": f"{r.randint(20, 150)} h"}
    elif policy == "scored":
        repair["retirement"] = {"policy": "scored", "threshold": float(r.randint(-40, 60))}
    selection = r.choice(["fifo", "fewest_failures", "highest_score"])
    spares["selection"] = selection
    if policy == "scored" or selection == "highest_score":
        nodes["score"] = {"initial": 100.0, "failure_penalty": float(r.randint(10, 40)),
                          "uptime_credit": float(r.randint(0, 10)), "credit_period": f"{r.randint(5, 30)} h"}
    if spares["hot"]:
        spares["warm"] = r.randint(0, spares["hot"])
        spares["standby_swap_time"] = f"{r.choice([0, 0.5])} h"


def _add_jobs(r: random.Random, raw: dict, hours) -> None:
    working = raw["nodes"]["count"] - raw["spares"]["hot"] - raw["spares"]["cold"]
    jobs, first = [], 0
    for j in range(r.randint(1, 2)):
        size = r.randint(1, max(1, min(4, working - first)))
        if first + size > working:
            break
        mode = r.choice(["sync", "async", "continuous"])
        rule = r.choice(["spare", "wait", "shrink"])
        job = {"name": f"j{j}", "nodes": size, "checkpoint_mode": mode, "on_failure": rule,
               "restart_overhead": hours(0, 3), "priority": r.choice([0, 0, 1, 5])}
        if mode != "continuous":
            job["checkpoint_interval"] = hours(1, 10)
            job["checkpoint_cost"] = hours(0, 2)
        if mode == "async" and r.random() < 0.5:
            job["snapshot_cost"] = hours(0, 1)
        if r.random() < 0.6:
            job["work"] = hours(20, 150)
        if rule == "shrink":
            job["min_nodes"] = r.randint(1, size)
        if r.random() < 0.3:
            job["preempt"] = True
        jobs.append(job)
        first += size
    raw["training"] = jobs

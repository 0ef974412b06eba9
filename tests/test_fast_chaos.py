"""The fast engine runs [[chaos]] kill_node, kill_rack, kill_switch, kill_link, kill_storage_server and store_outage
as the SimPy model does: the same log row for row where both are deterministic (a random target is drawn from the
entry's own chaos/<name> stream by both), the same means where failures are random; every other action and
selector is refused by name."""
from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from clustersim import stats
from clustersim.engine.fast.compile import compile_plan
from clustersim.engine.fast.engine import FastEngine, chaos_targets, replica_placement, run_kernel
from clustersim.engine.fast.support import unsupported_features
from clustersim.engine.simpy_engine import run_replication
from clustersim.scenario import scenario_from_dict
from conftest import base_scenario
from fast_cases import random_deterministic_scenario
from test_fast_engine import assert_engines_agree, same_metrics


def assert_same_as_simpy(raw: dict[str, Any]) -> dict[str, float]:
    """Both engines on one replication: the same log row for row, events and metrics; the metrics."""
    scenario = scenario_from_dict(raw)
    seed = scenario.simulation.seed
    simpy = run_replication(scenario, 0)
    plan = compile_plan(scenario)
    run = run_kernel(plan, seed, 0, trace=True, placed=replica_placement(scenario, seed, 0),
                     picks=chaos_targets(scenario, plan, seed, 0))
    assert run.trace.shape == simpy.log.shape and np.array_equal(run.trace, simpy.log)
    (outcome,) = FastEngine().run(scenario, [0])
    assert outcome.events == simpy.events
    assert same_metrics(outcome.metrics, stats.replication_metrics(scenario, simpy))
    return outcome.metrics


def _det(hours: float) -> dict[str, str]:
    return {"dist": "deterministic", "value": f"{hours} h"}


def _kill(action: str, at: float, duration: float, every: float | None = None, **target: Any) -> dict[str, Any]:
    entry = {"name": f"{action}_{len(target)}", "action": action, "at": f"{at} h", "duration": f"{duration} h",
             **target}
    return {**entry, "every": f"{every} h"} if every is not None else entry


# --- hand-worked cases, the same on both engines -------------------------------------------------

def test_a_periodic_kill_of_a_named_node() -> None:
    """Node 1 of 4 down 20-25, 50-55, 80-85 h of 100: three failures of the injection, each a 5 h outage."""
    raw = base_scenario(simulation={"horizon": "100 h", "replications": 1},
                        chaos=[{"name": "kill", "action": "kill_node", "node": 1, "at": "20 h", "every": "30 h",
                                "duration": "5 h"}])
    m = assert_same_as_simpy(raw)
    assert m["nodes.failures.kill"] == 3.0 and m["nodes.failures"] == 3.0
    assert m["nodes.outage_mean_hours.kill"] == pytest.approx(5.0, abs=1e-12)
    assert m["nodes.availability"] == pytest.approx(1 - 15 / 400, abs=1e-12)


def test_injections_that_overlap_hold_the_node_down_until_the_last_release() -> None:
    """every = duration = 10 h from 10 h (horizon 55 h): each injection strikes before the last one releases (its
    timeout is older), so node 0 is down from 10 h past the horizon — five failures, no outage ended. With
    duration 15 h the same: holds overlap. With duration 5 h: five 5 h outages."""
    for duration, outage in ((10.0, float("nan")), (15.0, float("nan")), (5.0, 5.0)):
        raw = base_scenario(simulation={"horizon": "55 h", "replications": 1},
                            nodes={"count": 2, "nodes_per_rack": 2, "failure_modes": []},
                            chaos=[{"name": "kill", "action": "kill_node", "node": 0, "at": "10 h", "every": "10 h",
                                    "duration": f"{duration} h"}])
        m = assert_same_as_simpy(raw)
        assert m["nodes.failures.kill"] == 5.0
        down = 45.0 if duration > 5 else 25.0
        assert m["nodes.up_mean"] == pytest.approx(2 - down / 55, abs=1e-12)
        assert m["nodes.outage_mean_hours.kill"] == pytest.approx(outage, nan_ok=True, abs=1e-12)


def test_a_rack_kill_interrupts_a_job_and_counts_each_node() -> None:
    """Rack 1 (nodes 4-7) down 10-14 h under a node mode that never fails: 4 failures, a 4 h outage each; the job
    on nodes 0-7 (no spares) is interrupted once by the kill."""
    raw = base_scenario(simulation={"horizon": "50 h", "replications": 1},
                        nodes={"count": 8, "nodes_per_rack": 4, "failure_modes": [
                            {"name": "crash", "time_to_failure": _det(1000), "time_to_repair": _det(3)}]},
                        training=[{"name": "job", "nodes": 8, "checkpoint_interval": "2 h",
                                   "checkpoint_cost": "6 min", "restart_overhead": "30 min"}],
                        chaos=[{"name": "rack", "action": "kill_rack", "rack": 1, "at": "10 h", "duration": "4 h"}])
    m = assert_same_as_simpy(raw)
    assert m["nodes.failures.rack"] == 4.0 and m["nodes.outage_mean_hours.rack"] == pytest.approx(4.0, abs=1e-12)
    assert m["training.job.interruptions.rack"] == 1.0 and m["training.job.interruptions"] == 1.0
    assert 0 < m["training.job.ettr"] < 1


def test_random_targets_are_drawn_alike_from_the_injection_s_own_stream() -> None:
    """A random node every 7 h and a random rack every 20 h, over own failures and a rack domain: the same log (the
    same targets) on both engines, in several replications' streams."""
    raw = base_scenario(simulation={"horizon": "200 h", "replications": 1, "seed": 5},
                        nodes={"count": 12, "nodes_per_rack": 4, "failure_modes": [
                            {"name": "crash", "time_to_failure": _det(33), "time_to_repair": _det(4)}]},
                        repair={"crews": 1, "detection": "1 h"}, spares={"hot": 2, "swap_time": "30 min"},
                        failure_domains=[{"kind": "rack", "time_to_failure": _det(45), "time_to_repair": _det(3)}],
                        chaos=[_kill("kill_node", 3, 2, 7), _kill("kill_rack", 5, 6, 20)])
    for seed in (5, 6, 7):
        raw["simulation"]["seed"] = seed
        m = assert_same_as_simpy(raw)
        assert m["nodes.failures.kill_node_0"] == 29.0 and m["nodes.failures.kill_rack_0"] == 10 * 4
    scenario = scenario_from_dict(raw)
    plan = compile_plan(scenario)
    assert not np.array_equal(chaos_targets(scenario, plan, 7, 0), chaos_targets(scenario, plan, 7, 1))


def test_switch_and_link_kills_cut_nodes_off_as_their_own_failures_would() -> None:
    """Leaf/1 down 10-13 h (its own failure law also takes it down 30-32 h, and again under a kill at 31 h): its 8
    nodes are cut off, network node-hours lost; a random link every 9 h; switch and link failures count the kills."""
    raw = {"name": "fabric", "simulation": {"horizon": "100 h", "replications": 1, "seed": 3},
           "nodes": {"count": 32, "gpus_per_node": 4, "nodes_per_rack": 8, "failure_modes": []},
           "network": {"topology": "two_tier", "spines": 2,
                       "layer_failure": {"leaf": {"time_to_failure": _det(30), "time_to_repair": _det(2)}}},
           "chaos": [{"name": "leaf", "action": "kill_switch", "switch": "leaf/1", "at": "10 h", "every": "21 h",
                      "duration": "3 h"},
                     _kill("kill_link", 4, 1.5, 9), _kill("kill_switch", 50, 2)]}
    m = assert_same_as_simpy(raw)
    assert m["nodes.failures.leaf"] == 0.0  # (a fabric fault fails no node: the network holds them down)
    assert m["network.node_hours_lost"] > 8 * 3
    assert m["network.switch_failures"] >= 4 and m["network.link_failures"] >= 1


def test_server_kills_and_a_store_outage_hold_servers_down_with_their_data() -> None:
    """Server 2 down 5-8 h and every 20 h; the whole store down 40-42 h: unreadable 2 h at least; a job that blocks
    on the store waits. (3 replicas on 4 servers: a copy has one possible target, so both engines copy alike.)"""
    raw = base_scenario(simulation={"horizon": "100 h", "replications": 1, "seed": 2},
                        nodes={"count": 8, "nodes_per_rack": 4, "failure_modes": []},
                        storage={"servers": 4, "replication": 3, "objects": 8, "placement": "random",
                                 "failure_loses_data": False, "time_to_failure": _det(1000), "time_to_repair": _det(1),
                                 "rereplication_delay": "1 h", "copy_time": _det(0.5)},
                        training=[{"name": "job", "nodes": 4, "checkpoint_interval": "2 h", "checkpoint_cost": "6 min",
                                   "restart_overhead": "10 min", "checkpoint_on_store_down": "block"}],
                        chaos=[{"name": "srv", "action": "kill_storage_server", "server": 2, "at": "5 h",
                                "every": "20 h", "duration": "3 h"},
                               {"name": "all", "action": "store_outage", "at": "40 h", "duration": "2 h"},
                               _kill("kill_storage_server", 61, 4)])
    m = assert_same_as_simpy(raw)
    assert m["storage.read_availability"] <= 1 - 2 / 100 + 1e-12
    assert m["nodes.failures.srv"] == 0.0 and m["nodes.failures.all"] == 0.0


# --- ties everywhere: random deterministic scenarios with injections of every kind -------------

def with_random_chaos(raw: dict[str, Any], seed: int) -> dict[str, Any]:
    """``raw`` with 1-4 injections on its 0.5 h grid: actions the scenario can take, named or random targets,
    once or periodic, durations that tie with every (and with the scenario's own events)."""
    r = random.Random(1000 + seed)
    horizon = float(raw["simulation"]["horizon"].split()[0])
    nodes = raw["nodes"]["count"]
    racks = -(-nodes // raw["nodes"]["nodes_per_rack"])
    actions = ["kill_node", "kill_rack"] + (["kill_switch", "kill_link"] if "network" in raw else []) + (
        ["kill_storage_server", "store_outage"] if "storage" in raw else [])
    chaos = []
    for i in range(r.randint(1, 4)):
        action = r.choice(actions)
        entry: dict[str, Any] = {"name": f"c{i}", "action": action, "at": f"{r.randint(0, int(horizon) - 1) / 2} h",
                                 "duration": f"{r.randint(1, 30) / 2} h"}
        if r.random() < 0.6:
            entry["every"] = r.choice([entry["duration"], f"{r.randint(1, 40) / 2} h"])
        if r.random() < 0.5:
            if action == "kill_node":
                entry["node"] = r.randrange(nodes)
            elif action == "kill_rack":
                entry["rack"] = r.randrange(racks)
            elif action == "kill_storage_server":
                entry["server"] = r.randrange(raw["storage"]["servers"])
        chaos.append(entry)
    return {**raw, "chaos": chaos}


@pytest.mark.parametrize(("pipeline", "jobs", "network", "storage"),
                         [(False, False, False, False), (True, False, False, False), (False, True, False, False),
                          (True, True, True, False), (False, True, False, True), (False, False, True, True)])
def test_random_deterministic_scenarios_with_chaos_match_simpy_exactly(pipeline: bool, jobs: bool, network: bool,
                                                                       storage: bool) -> None:
    for seed in range(25):
        raw = random_deterministic_scenario(seed, pipeline=pipeline, jobs=jobs, network=network, storage=storage)
        assert_same_as_simpy(with_random_chaos(raw, seed))


# --- random failures: the same means -------------------------------------------------------------

def test_fast_agrees_with_simpy_under_random_failures_and_random_kills() -> None:
    exp = {"dist": "exponential", "mean": "300 h"}
    raw = base_scenario(
        simulation={"horizon": "2000 h", "warmup": "100 h", "replications": 30, "seed": 11},
        nodes={"count": 16, "nodes_per_rack": 4, "failure_modes": [
            {"name": "crash", "time_to_failure": exp,
             "time_to_repair": {"dist": "lognormal", "mean": "8 h", "cv": 0.5}}]},
        repair={"crews": 2, "detection": "10 min"}, spares={"hot": 2},
        training=[{"name": "job", "nodes": 12, "checkpoint_interval": "2 h", "checkpoint_cost": "5 min",
                   "restart_overhead": "15 min"}],
        chaos=[{"name": "node", "action": "kill_node", "at": "50 h", "every": "37 h", "duration": "6 h"},
               {"name": "rack", "action": "kill_rack", "at": "120 h", "every": "250 h", "duration": "3 h"}])
    assert_engines_agree("random_kills", scenario_from_dict(raw))


# --- what stays refused, by name -----------------------------------------------------------------

def test_other_actions_selectors_aborts_and_series_are_refused_by_name() -> None:
    raw = base_scenario(
        simulation={"horizon": "100 h", "replications": 1, "series_window": "10 h"},
        nodes={"count": 8, "nodes_per_rack": 4, "failure_modes": [
            {"name": "crash", "time_to_failure": _det(1000), "time_to_repair": _det(3)}]},
        chaos=[{"action": "kill_node", "at": "1 h", "duration": "1 h"},
               {"action": "leak_memory", "time_to_crash": _det(2), "at": "1 h", "duration": "1 h"},
               {"action": "kill_node", "rack": 1, "at": "1 h", "duration": "1 h"},
               {"action": "kill_node", "role": "working", "at": "1 h", "duration": "1 h"},
               {"action": "gpu_fault", "node": 1, "at": "2 h"}],
        abort=[{"metric": "nodes.availability", "comparator": "<", "threshold": 0.5}])
    assert unsupported_features(scenario_from_dict(raw)) == [
        "chaos[1] (leak_memory)", "chaos[2].rack (a random node drawn from a rack)",
        "chaos[3].role (a random node drawn by role)", "chaos[4] (gpu_fault)", "chaos aborts ([[abort]])",
        "metric time series (simulation.series_window)"]
    assert unsupported_features(scenario_from_dict({**raw, "chaos": raw["chaos"][:1], "abort": [],
                                                    "simulation": {"horizon": "100 h"}})) == []

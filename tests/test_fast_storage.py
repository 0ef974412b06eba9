"""The replicated store ([storage]) and training jobs checkpointing to it on the fast engine: the same log as
SimPy row for row on deterministic scenarios, the analytic truths of tests/test_storage.py, statistical
agreement on random laws, and streaming metrics equal to what measures.py computes from the kernel's log."""
from __future__ import annotations

import numpy as np
import pytest

import analytic_cases as cases
from clustersim import stats
from clustersim.model.records import ReplicationRecords
from clustersim.engine.fast.compile import compile_plan
from clustersim.engine.fast.engine import FastEngine, replica_placement, replication_metrics, run_kernel
from clustersim.engine.fast.support import unsupported_features
from clustersim.engine.simpy_engine import run_replication
from clustersim.model.records import Kind
from clustersim.scenario import scenario_from_dict
from conftest import base_scenario
from fast_cases import random_deterministic_scenario
from test_fast_engine import assert_engines_agree, same_metrics
from test_storage import k_out_of_n, mttdl_deterministic_copies, mttdl_exponential_copies

KIND = 1


def assert_same_log(raw: dict) -> np.ndarray:
    """Fast and SimPy on a deterministic scenario: equal logs, events and metrics; the log."""
    scenario = scenario_from_dict(raw)
    seed = scenario.simulation.seed
    simpy = run_replication(scenario, 0)
    run = run_kernel(compile_plan(scenario), seed, 0, trace=True, placed=replica_placement(scenario, seed, 0))
    assert run.trace.shape == simpy.log.shape and np.array_equal(run.trace, simpy.log)
    (outcome,) = FastEngine().run(scenario, [0])
    assert outcome.events == simpy.events
    assert same_metrics(outcome.metrics, stats.replication_metrics(scenario, simpy))
    return simpy.log


@pytest.mark.parametrize(("jobs", "network"), [(False, False), (True, False), (False, True), (True, True)])
def test_random_deterministic_storage_scenarios_match_simpy_exactly(jobs: bool, network: bool):
    """Servers held by their own failures, domains and the network, marked out, their copies queued and
    cancelled, data lost, jobs that skip or block on the store and restart from the checkpoint before a
    lost one: simultaneous events resolve as in SimPy. (Deterministic laws take every server down and up
    together, so no copy finds a target: copies are held to SimPy by the statistical tests below.)"""
    kinds: set[int] = set()
    for seed in range(60):
        log = assert_same_log(random_deterministic_scenario(seed, jobs=jobs, network=network, storage=True))
        kinds.update(np.unique(log[:, KIND]).astype(int).tolist())
    assert {Kind.SERVER, Kind.REPLICAS, Kind.DATA_LOSS} <= kinds


def test_the_fast_engine_runs_storage_and_store_rules():
    law = {"time_to_failure": {"dist": "exponential", "mean": "9 h"},
           "time_to_repair": {"dist": "exponential", "mean": "1 h"}}
    raw = base_scenario(storage={"servers": 3, "objects": 2, "placement": "random", **law},
                        training=[{"name": "j", "nodes": 2, "checkpoint_interval": "1 h", "checkpoint_size": "2 TB",
                                   "restart_overhead": "1 min", "checkpoint_on_store_down": "block"}])
    scenario = scenario_from_dict(raw)
    assert unsupported_features(scenario) == []
    spec = scenario.training[0]
    assert compile_plan(scenario).job_checkpoint[0] == spec.checkpoint_hours_on(scenario.storage) > 0


@pytest.mark.parametrize("case", [k_out_of_n, mttdl_exponential_copies, mttdl_deterministic_copies],
                         ids=lambda case: case.__name__)
def test_analytic_storage_truths_on_the_fast_engine(case):
    cases.check(case(), "fast")


def storage_with_a_job() -> dict:
    """Random laws everywhere: nodes, servers in 4 racks that keep their data (so that every replication reports
    the same metrics: no MTTDL), copies, a job checkpointing to the store."""
    def exp(hours: float) -> dict:
        return {"dist": "exponential", "mean": f"{hours} h"}

    return base_scenario(
        simulation={"horizon": "3000 h", "warmup": "100 h", "replications": 200, "seed": 9},
        nodes={"count": 16, "nodes_per_rack": 4, "failure_modes": [
            {"name": "crash", "scope": "node", "time_to_failure": exp(400.0), "recovery": "replace",
             "time_to_repair": exp(8.0)}]},
        spares={"hot": 2},
        failure_domains=[{"name": "rack", "kind": "rack", "time_to_failure": exp(1500.0),
                          "time_to_repair": exp(6.0)}],
        storage={"servers": 8, "replication": 3, "objects": 40, "placement": "rack_aware",
                 "time_to_failure": exp(150.0), "time_to_repair": exp(4.0), "failure_loses_data": False,
                 "rereplication_delay": "30 min",
                 "copy_time": {"dist": "lognormal", "mean": "2 h", "cv": 0.5}, "max_concurrent_copies": 2},
        training=[{"name": "j", "nodes": 8, "checkpoint_interval": "3 h", "checkpoint_cost": "20 min",
                   "restart_overhead": "15 min", "checkpoint_on_store_down": "block"}],
    )


def test_fast_agrees_with_simpy_on_random_storage_with_a_job():
    assert_engines_agree("storage_with_a_job", scenario_from_dict(storage_with_a_job()))


def test_streaming_storage_metrics_equal_stats_on_the_fast_log():
    """The kernel's storage accumulators give what measures.py computes from the kernel's own log."""
    raw = storage_with_a_job()
    raw["storage"].update(failure_loses_data=True, time_to_failure={"dist": "exponential", "mean": "40 h"},
                          objects=10)
    scenario = scenario_from_dict(raw)
    plan, seed = compile_plan(scenario), scenario.simulation.seed
    for k in range(3):
        run = run_kernel(plan, seed, k, trace=True, placed=replica_placement(scenario, seed, k))
        from_log = stats.replication_metrics(scenario, ReplicationRecords(k, run.trace, run.simulate_s))
        assert (run.trace[:, KIND] == Kind.COPIED).sum() > 10
        assert same_metrics(replication_metrics(scenario, run), from_log)


def test_the_hand_worked_store_timelines_run_the_same_on_the_fast_engine():
    """tests/test_storage_training.py's timelines without chaos (the fast engine has none): a job blocked
    three times by the store, and a checkpoint cost derived from the store — the same log row for row."""
    from test_storage_training import store_down_over, with_store

    blocked = with_store(store_down_over(4.8, 2), checkpoint_cost="0.5 h", checkpoint_on_store_down="block")
    log = assert_same_log(blocked)
    assert int(np.count_nonzero(log[:, KIND] == Kind.LOST)) == 3
    derived = with_store(store_down_over(1e6, 1, bandwidth="0.5 GB/s"))
    del derived["training"][0]["checkpoint_cost"]
    derived["training"][0]["checkpoint_size"] = "1800 GB"
    log = assert_same_log(derived)
    work = log[log[:, KIND] == Kind.WORK]
    assert work[:, 0].tolist() == pytest.approx([3.0, 6.0, 9.0, 12.0, 15.0, 18.0])

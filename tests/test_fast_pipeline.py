"""The fast engine on the repair pipeline and training jobs: exact logs, SimPy agreement, analytic truths.

Agreement: per headline metric, the difference of the engines' means lies inside the combined
99.9 % interval and a two-sample KS test on the per-replication values gives p > 0.001.
"""
from __future__ import annotations

import pytest

import analytic_cases as cases
from clustersim.engine.fast.engine import FastEngine
from clustersim.engine.fast.support import unsupported_features
from clustersim.scenario import load_scenario, scenario_from_dict
from conftest import base_scenario, clustersim_process
from fast_cases import random_deterministic_scenario
from test_fast_engine import assert_engines_agree, assert_same_as_simpy, assert_thread_counts_do_not_matter, fast_rows

# ---------------------------------------------------------------------------------------------
# the same log as SimPy, row for row, on deterministic tie-heavy scenarios


@pytest.mark.parametrize("pipeline, jobs", [(True, False), (False, True), (True, True)])
def test_random_deterministic_scenarios_with_new_features_match_simpy_exactly(pipeline: bool, jobs: bool):
    """Repair stages, diagnosis, faults left in place, lemons, retirement, selection, warm standbys,
    training jobs of every mode and rule, priorities: simultaneous events resolve as in SimPy."""
    for seed in range(100):
        assert_same_as_simpy(random_deterministic_scenario(seed, pipeline, jobs))


def _det(hours: float) -> dict:
    return {"dist": "deterministic", "value": f"{hours} h"}


def _job(**keys) -> dict:
    return {"name": "j", "nodes": 2, "checkpoint_interval": "2 h", "checkpoint_cost": "0.5 h",
            "restart_overhead": "0.5 h", **keys}


EXACT = {
    # node 0 fails and blames node 1 (the only candidate), which is repaired by both stages in turn;
    # node 0's fault recurs after 3 h of operation
    "wrong_node_and_recurrence": base_scenario(
        simulation={"horizon": "100 h", "replications": 1},
        nodes={"count": 2, "nodes_per_rack": 2, "failure_modes": [
            {"name": "f", "time_to_failure": _det(10), "recovery": "pipeline"}]},
        repair={"detection": "0.5 h", "recurrence": _det(3), "diagnosis": {"wrong_node": 1.0},
                "stages": [{"name": "auto", "time": _det(1), "escalate": 1.0, "crews": 1},
                           {"name": "manual", "time": _det(4), "crews": 1}]}),
    # a shrinking async job loses a member, goes on with one, and grows back at a checkpoint
    "shrink_async_grows_back": base_scenario(
        simulation={"horizon": "60 h", "replications": 1},
        nodes={"count": 3, "nodes_per_rack": 3, "failure_modes": [
            {"name": "f", "time_to_failure": _det(7), "recovery": "replace", "time_to_repair": _det(5)}]},
        repair={"detection": "0.5 h", "crews": 1},
        spares={"hot": 1, "swap_time": "1 h"},
        training=[_job(checkpoint_mode="async", snapshot_cost="0.25 h", on_failure="shrink", min_nodes=1)]),
    # two jobs of different priorities compete for one warm standby and a hot spare
    "priorities_and_warm_standby": base_scenario(
        simulation={"horizon": "80 h", "replications": 1},
        nodes={"count": 6, "nodes_per_rack": 2, "failure_modes": [
            {"name": "f", "time_to_failure": _det(9), "recovery": "replace", "time_to_repair": _det(12)}]},
        repair={"detection": "0.5 h"},
        spares={"hot": 2, "warm": 1, "standby_swap_time": "0.25 h", "swap_time": "1 h"},
        training=[_job(name="low", priority=0, on_failure="wait"),
                  {"name": "high", "nodes": 2, "priority": 3, "checkpoint_mode": "continuous", "work": "40 h",
                   "restart_overhead": "0.5 h"}]),
}


@pytest.mark.parametrize("name", list(EXACT))
def test_hand_made_case_matches_simpy_exactly(name):
    assert_same_as_simpy(EXACT[name])


# ---------------------------------------------------------------------------------------------
# statistical agreement with SimPy on the new features


def _exp(hours: float) -> dict:
    return {"dist": "exponential", "mean": f"{hours} h"}


def _sim(seed: int, horizon_h: float = 3000, warmup_h: float = 200, replications: int = 30) -> dict:
    return {"horizon": f"{horizon_h} h", "warmup": f"{warmup_h} h", "replications": replications, "seed": seed}


PIPELINE = [{"name": "auto", "time": _exp(2), "escalate": 0.4, "false_success": 0.3, "crews": 2},
            {"name": "manual", "time": {"dist": "lognormal", "mean": "20 h", "cv": 0.6}, "false_success": 0.1,
             "crews": 1}]

AGREEMENT = {
    # stage crews, escalation, false successes that recur, diagnosis both ways, threshold retirement,
    # fewest-failures selection, warm standbys
    "pipeline_diagnosis_threshold": (base_scenario(
        simulation=_sim(201),
        nodes={"count": 24, "nodes_per_rack": 6, "failure_modes": [
            {"name": "fault", "time_to_failure": {"dist": "weibull", "shape": 0.9, "mean": "300 h"},
             "recovery": "pipeline"},
            {"name": "blip", "time_to_failure": _exp(400), "recovery": "reboot", "time_to_repair": _det(0.5)}]},
        repair={"detection": "0.2 h", "stages": PIPELINE, "recurrence": _exp(40),
                "diagnosis": {"probability": 0.8, "wrong_node": 0.2, "reboot_time": _det(0.25)},
                "retirement": {"policy": "threshold", "max_failures": 4, "window": "150 h"}},
        spares={"hot": 3, "cold": 2, "warm": 1, "standby_swap_time": "0 h", "swap_time": "0.1 h",
                "provisioning": "2 h", "selection": "fewest_failures"}),
        ["nodes.availability", "nodes.failures", "repair.stage.auto.count", "repair.stage.manual.count",
         "repair.stage.manual.crew_utilization", "repair.escalations", "repair.false_successes",
         "repair.undiagnosed", "repair.misdiagnoses", "nodes.recurrences", "nodes.retired",
         "spares.available_mean", "spares.warm_mean", "capacity.availability"]),
    # lemons cured by repair, faults left uncured, scored retirement, highest-score selection, cold spares
    "lemons_scored_highest_score": (base_scenario(
        simulation=_sim(202, horizon_h=4000),
        nodes={"count": 30, "nodes_per_rack": 10, "lemon_fraction": 0.2, "lemon_rate_multiplier": 5.0,
               "lemon_cured_by_repair": True,
               "score": {"initial": 100, "failure_penalty": 25, "uptime_credit": 5, "credit_period": "48 h"},
               "failure_modes": [
                   {"name": "fault", "time_to_failure": _exp(600), "recovery": "pipeline"},
                   {"name": "gpu", "scope": "gpu", "time_to_failure": {"dist": "gamma", "shape": 1.5, "mean": "8000 h"},
                    "recovery": "replace", "time_to_repair": _exp(6), "lemon_rate_multiplier": 2.0}]},
        repair={"crews": 3, "fault_left_in_place": "uncured", "stages": PIPELINE,
                "retirement": {"policy": "scored", "threshold": 10}},
        spares={"hot": 2, "cold": 4, "selection": "highest_score", "provisioning": "3 h"}),
        ["nodes.availability", "nodes.failures", "nodes.failures.fault", "repair.wait_mean_hours",
         "repair.crew_utilization", "repair.false_successes", "nodes.retired", "nodes.retired_healthy",
         "nodes.lemons_retired_fraction", "spares.available_mean", "capacity.availability"]),
    # random selection, undiagnosed failures, the default (never) retirement, an unlimited single stage
    "random_selection_undiagnosed": (base_scenario(
        simulation=_sim(203),
        nodes={"count": 20, "nodes_per_rack": 5, "failure_modes": [
            {"name": "fault", "time_to_failure": _exp(250), "recovery": "pipeline"}]},
        repair={"detection": "0.5 h", "stages": [{"name": "fix", "time": _exp(10)}], "recurrence": _exp(30),
                "diagnosis": {"probability": 0.7, "reboot_time": _exp(0.5)}},
        spares={"hot": 4, "selection": "random", "swap_time": "0.2 h"},
        failure_domains=[{"kind": "rack", "time_to_failure": _exp(2000), "time_to_repair": _exp(4)}]),
        ["nodes.availability", "nodes.failures", "repair.undiagnosed", "nodes.recurrences",
         "spares.available_mean", "capacity.availability", "capacity.shortfall_hours"]),
    # a sync job that takes spares (warm, hot and cold), AIReSim-like stages
    "job_sync_spare": (base_scenario(
        simulation=_sim(204, horizon_h=2000, warmup_h=100),
        nodes={"count": 40, "nodes_per_rack": 8, "failure_modes": [
            {"name": "fault", "time_to_failure": _exp(800), "recovery": "pipeline"}]},
        repair={"detection": "0.1 h", "stages": PIPELINE, "recurrence": _exp(100)},
        spares={"hot": 3, "warm": 2, "cold": 3, "standby_swap_time": "0 h", "swap_time": "0.05 h",
                "provisioning": "0.5 h"},
        training=[{"name": "pretrain", "nodes": 30, "checkpoint_interval": "1 h", "checkpoint_cost": "0.05 h",
                   "restart_overhead": "0.3 h"}]),
        ["training.pretrain.ettr", "training.pretrain.goodput", "training.pretrain.interruptions",
         "training.pretrain.lost_work_hours", "training.pretrain.downtime_per_interruption_hours",
         "training.pretrain.checkpoint_overhead_fraction", "training.pretrain.gpu_hours_wasted",
         "spares.warm_mean", "capacity.first_short_hours"]),
    # a continuous job that waits for its members' repairs, with work to finish
    "job_continuous_wait": (base_scenario(
        simulation=_sim(205, horizon_h=3000, warmup_h=0),
        nodes={"count": 12, "nodes_per_rack": 4, "failure_modes": [
            {"name": "fault", "time_to_failure": _exp(900), "recovery": "replace",
             "time_to_repair": {"dist": "lognormal", "mean": "6 h", "cv": 0.5}}]},
        repair={"detection": "0.2 h", "crews": 2},
        training=[{"name": "run", "nodes": 10, "checkpoint_mode": "continuous", "work": "1000 h",
                   "restart_overhead": "0.5 h", "on_failure": "wait"}]),
        ["training.run.ettr", "training.run.completion_hours", "training.run.interruptions",
         "training.run.downtime_per_interruption_hours", "training.run.goodput"]),
    # an elastic async job beside a sync job of higher priority that take the same few spares
    "two_jobs_priorities_shrink": (base_scenario(
        simulation=_sim(206, horizon_h=2000, warmup_h=100),
        nodes={"count": 26, "nodes_per_rack": 13, "failure_modes": [
            {"name": "fault", "time_to_failure": _exp(500), "recovery": "replace", "time_to_repair": _exp(15)}]},
        repair={"detection": "0.1 h", "crews": 2},
        spares={"hot": 2, "swap_time": "0.2 h"},
        training=[{"name": "small", "nodes": 12, "checkpoint_mode": "async", "checkpoint_interval": "2 h",
                   "checkpoint_cost": "0.5 h", "snapshot_cost": "0.05 h", "restart_overhead": "0.2 h",
                   "on_failure": "shrink", "min_nodes": 8},
                  {"name": "big", "nodes": 12, "priority": 5, "checkpoint_interval": "1 h",
                   "checkpoint_cost": "0.1 h", "restart_overhead": "0.3 h"}]),
        ["training.small.ettr", "training.small.interruptions", "training.small.lost_work_hours",
         "training.small.goodput", "training.big.ettr", "training.big.interruptions",
         "training.big.downtime_per_interruption_hours", "capacity.availability"]),
    # a high-priority job that takes the nodes of a low-priority one when no spare is usable
    "preemption": (base_scenario(
        simulation=_sim(207, horizon_h=2000, warmup_h=100),
        nodes={"count": 17, "nodes_per_rack": 17, "failure_modes": [
            {"name": "fault", "time_to_failure": _exp(300), "recovery": "replace", "time_to_repair": _exp(10)}]},
        repair={"detection": "0.1 h", "crews": 1},
        spares={"hot": 1, "swap_time": "0.2 h"},
        training=[{"name": "low", "nodes": 8, "checkpoint_interval": "1 h", "checkpoint_cost": "0.1 h",
                   "restart_overhead": "0.2 h"},
                  {"name": "high", "nodes": 8, "priority": 2, "preempt": True, "checkpoint_interval": "1 h",
                   "checkpoint_cost": "0.1 h", "restart_overhead": "0.2 h"}]),
        ["training.low.ettr", "training.low.interruptions", "training.low.interruptions.preemption",
         "training.high.ettr", "training.high.interruptions",
         "capacity.availability"]),
}


@pytest.mark.parametrize("name", list(AGREEMENT))
def test_fast_agrees_with_simpy_on_new_features(name):
    raw, headline = AGREEMENT[name]
    assert_engines_agree(name, scenario_from_dict(raw), headline)


# ---------------------------------------------------------------------------------------------
# analytic truths on the fast engine


@pytest.mark.parametrize("case", ["escalation_mixture", "false_successes"]
                         + [name for name in cases.CASES if name.startswith("daly")])
def test_analytic_truth_of_pipeline_and_jobs(case):
    cases.check(cases.CASES[case](), "fast")


# ---------------------------------------------------------------------------------------------
# determinism


def test_reruns_and_thread_counts_do_not_change_numbers_with_jobs_and_pipeline():
    scenario = scenario_from_dict(AGREEMENT["two_jobs_priorities_shrink"][0])
    assert fast_rows(scenario, range(4)) == fast_rows(scenario, range(4))
    assert_thread_counts_do_not_matter(scenario, 4)
    lemons = scenario_from_dict(AGREEMENT["lemons_scored_highest_score"][0])
    assert fast_rows(lemons, [2, 0]) == fast_rows(lemons, [2, 0], FastEngine(workers=2))


# ---------------------------------------------------------------------------------------------
# what the fast engine still refuses: one phrase per feature, one line on the command line

_BASE = """\
name = "refused"

[simulation]
horizon = "10 d"
replications = 2

[nodes]
count = 4

[[nodes.failure_modes]]
name = "gpu"
time_to_failure = {dist = "exponential", mean = "500 h"}
time_to_repair = {dist = "exponential", mean = "5 h"}
"""

REFUSED = {
    "slow": (_BASE + 'effect = "slow"\nspeed = 0.5\n\n[repair]\nstraggler_detection = "10 min"\n',
             ['gray failures (nodes.failure_modes[0].effect = "slow")',
              "straggler detection (repair.straggler_detection)"]),
    "leak": (_BASE + 'effect = "leak"\ntime_to_crash = {dist = "exponential", mean = "2 h"}\n',
             ['gray failures (nodes.failure_modes[0].effect = "leak")']),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_cli_refuses_what_the_fast_engine_lacks_in_one_line(name, tmp_path):
    text, phrases = REFUSED[name]
    (tmp_path / "s.toml").write_text(text)
    assert unsupported_features(load_scenario(tmp_path / "s.toml")) == phrases
    proc = clustersim_process(["s.toml", "--engine", "fast", "--out", "out"], tmp_path)
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line == (f's.toml: simulation.engine: the fast engine does not support: {", ".join(phrases)}; '
                    'use engine = "simpy"')
    assert not (tmp_path / "out").exists()


def test_training_jobs_and_the_pipeline_are_no_longer_refused():
    for raw, _ in AGREEMENT.values():
        assert unsupported_features(scenario_from_dict(raw)) == []

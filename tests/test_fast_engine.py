"""The fast (numba) engine: analytic truths, agreement with SimPy, exact cases, determinism, refusals."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numba
import numpy as np
import pytest
from scipy import stats as scipy_stats

import analytic_cases as cases
from fast_cases import random_deterministic_scenario
from clustersim import stats
from clustersim.engine.fast.compile import compile_plan
from clustersim.engine.fast.engine import FastEngine, replication_metrics, run_kernel
from clustersim.engine.fast.support import unsupported_features
from clustersim.model.records import ReplicationRecords
from clustersim.engine.select import engine_for
from clustersim.engine.simpy_engine import SimpyEngine
from clustersim.engine.simpy_engine import run_replication
from clustersim.errors import ClusterSimError
from clustersim.scenario import scenario_from_dict
from clustersim.scenario.schema import Scenario
from clustersim.stats import estimate
from conftest import base_scenario, clustersim_process, widened_half_width

def fast_rows(scenario: Scenario, replications=None, engine: FastEngine | None = None) -> list[dict[str, float]]:
    reps = range(scenario.simulation.replications) if replications is None else replications
    return [o.metrics for o in (engine or FastEngine()).run(scenario, reps)]


def same_metrics(a: dict[str, float], b: dict[str, float], rel: float = 1e-9) -> bool:
    """Same names in the same order and equal values (NaN equals NaN)."""
    return list(a) == list(b) and all(
        (math.isnan(a[k]) and math.isnan(b[k])) or math.isclose(a[k], b[k], rel_tol=rel, abs_tol=rel) for k in a)


# ---------------------------------------------------------------------------------------------
# the analytic truths of DESIGN.md


@pytest.mark.parametrize("case", list(cases.CASES))
def test_analytic_truth(case):
    cases.check(cases.CASES[case](), "fast")


# ---------------------------------------------------------------------------------------------
# statistical agreement with the SimPy engine: every metric, same names, same distribution

def _mode(name, ttf, ttr, recovery="replace", scope="node"):
    return {"name": name, "scope": scope, "time_to_failure": ttf, "recovery": recovery, "time_to_repair": ttr}


AGREEMENT = {
    # GPU and node modes under Weibull, lognormal, exponential (afr), uniform, gamma and empirical laws; 2 crews
    "modes_and_crews": base_scenario(
        simulation={"horizon": "3000 h", "warmup": "200 h", "replications": 40, "seed": 101},
        nodes={"count": 16, "gpus_per_node": 4, "nodes_per_rack": 8, "failure_modes": [
            _mode("gpu", {"dist": "weibull", "shape": 0.8, "mean": "2000 h"},
                  {"dist": "lognormal", "mean": "12 h", "cv": 0.7}, scope="gpu"),
            _mode("host", {"dist": "exponential", "afr": 20.0},
                  {"dist": "uniform", "low": "10 min", "high": "50 min"}, recovery="reboot"),
            _mode("board", {"dist": "gamma", "shape": 2.0, "mean": "1500 h"},
                  {"dist": "empirical", "samples": ["4 h", "8 h", "30 h"]}),
        ]},
        repair={"crews": 2, "detection": "5 min"}),
    # hot and cold spares that run out, one crew, detection, rack domains
    "spares_and_racks": base_scenario(
        simulation={"horizon": "2000 h", "replications": 40, "seed": 102},
        nodes={"count": 20, "nodes_per_rack": 4, "failure_modes": [
            _mode("fault", {"dist": "gamma", "shape": 0.7, "mean": "300 h"},
                  {"dist": "lognormal", "mean": "40 h", "cv": 1.0})]},
        repair={"crews": 1, "detection": "30 min"},
        spares={"hot": 3, "cold": 3, "swap_time": "10 min", "provisioning": "4 h"},
        failure_domains=[{"kind": "rack", "time_to_failure": {"dist": "exponential", "mean": "800 h"},
                          "time_to_repair": {"dist": "weibull", "shape": 1.5, "mean": "10 h"}}]),
    # power and cluster domains, unlimited crews, deterministic and uniform laws, a warm-up
    "power_and_cluster": base_scenario(
        simulation={"horizon": "5000 h", "warmup": "500 h", "replications": 40, "seed": 103},
        nodes={"count": 24, "gpus_per_node": 2, "nodes_per_rack": 4, "failure_modes": [
            _mode("gpu", {"dist": "exponential", "mean": "3000 h"}, {"dist": "deterministic", "value": "2 h"},
                  recovery="reboot", scope="gpu"),
            _mode("psu", {"dist": "uniform", "low": "500 h", "high": "2500 h"},
                  {"dist": "gamma", "shape": 3.0, "mean": "20 h"})]},
        repair={"detection": "1 h"},
        failure_domains=[
            {"kind": "power", "power_racks": 2, "time_to_failure": {"dist": "lognormal", "mean": "1500 h", "cv": 0.5},
             "time_to_repair": {"dist": "exponential", "mean": "8 h"}},
            {"kind": "cluster", "time_to_failure": {"dist": "weibull", "shape": 2.0, "mean": "2500 h"},
             "time_to_repair": {"dist": "uniform", "low": "1 h", "high": "5 h"}}]),
    # everything at once, with a warm-up: GPU Weibull + host reboots, crews, hot + cold spares, racks
    "everything": base_scenario(
        simulation={"horizon": "2000 h", "warmup": "100 h", "replications": 40, "seed": 42},
        nodes={"count": 24, "nodes_per_rack": 6, "failure_modes": [
            _mode("gpu", {"dist": "weibull", "shape": 0.8, "mean": "3000 h"},
                  {"dist": "lognormal", "mean": "8 h", "cv": 0.5}, scope="gpu"),
            _mode("host", {"dist": "exponential", "mean": "500 h"},
                  {"dist": "uniform", "low": "10 min", "high": "30 min"}, recovery="reboot")]},
        repair={"crews": 2, "detection": "2 min"},
        spares={"hot": 2, "cold": 2},
        failure_domains=[{"kind": "rack", "time_to_failure": {"dist": "exponential", "mean": "1500 h"},
                          "time_to_repair": {"dist": "exponential", "mean": "5 h"}}]),
}


def assert_engines_agree(name: str, scenario: Scenario, metrics: list[str] | None = None) -> None:
    """The same metric names; per metric (default: all), the difference of means inside the combined
    99.9 % interval, and a two-sample KS test on the per-replication values with p > 0.001."""
    reps = range(scenario.simulation.replications)
    simpy = [o.metrics for o in SimpyEngine().run(scenario, reps)]
    fast = fast_rows(scenario)
    assert all(list(row) == list(simpy[0]) for row in fast + simpy), "the engines report different metrics"
    for metric in metrics or list(simpy[0]):
        a = np.array([row[metric] for row in simpy])
        b = np.array([row[metric] for row in fast])
        ea, eb = estimate(a, ""), estimate(b, "")
        tolerance = math.hypot(widened_half_width(ea), widened_half_width(eb))
        p = scipy_stats.ks_2samp(a[np.isfinite(a)], b[np.isfinite(b)]).pvalue
        print(f"{name} {metric}: simpy {ea.mean:.6g} ± {ea.half_width:.3g}, fast {eb.mean:.6g} ± {eb.half_width:.3g}, "
              f"KS p = {p:.3f}")
        assert abs(ea.mean - eb.mean) <= tolerance, (metric, ea, eb)
        assert p > 0.001, (metric, p)


@pytest.mark.parametrize("name", list(AGREEMENT))
def test_fast_agrees_with_simpy(name):
    assert_engines_agree(name, scenario_from_dict(AGREEMENT[name]))


def test_streaming_metrics_equal_stats_on_the_fast_log():
    """The kernel's accumulators give what stats.py computes from the kernel's own state-change log."""
    scenario = scenario_from_dict(AGREEMENT["everything"])
    plan = compile_plan(scenario)
    for k in range(3):
        run = run_kernel(plan, scenario.simulation.seed, k, trace=True)
        from_log = stats.replication_metrics(scenario, ReplicationRecords(k, run.trace, run.simulate_s))
        assert run.events == len(run.trace) > 1000
        assert same_metrics(replication_metrics(scenario, run), from_log)


# ---------------------------------------------------------------------------------------------
# deterministic cases: the same log as SimPy row for row, and hand-worked values

def _det(name, ttf_h, ttr_h, recovery="replace", scope="node"):
    return _mode(name, {"dist": "deterministic", "value": f"{ttf_h} h"},
                 {"dist": "deterministic", "value": f"{ttr_h} h"}, recovery, scope)


def _det_domain(kind, ttf_h, ttr_h, **extra):
    return {"kind": kind, "time_to_failure": {"dist": "deterministic", "value": f"{ttf_h} h"},
            "time_to_repair": {"dist": "deterministic", "value": f"{ttr_h} h"}, **extra}


def _one(horizon_h, warmup_h=0.0):
    return {"horizon": f"{horizon_h} h", "warmup": f"{warmup_h} h", "replications": 1}


EXACT = {
    # two nodes fail at 10 h; one crew repairs node 0 over [10, 14], node 1 over [14, 18]
    "single_crew_fifo": (
        base_scenario(simulation=_one(20),
                      nodes={"count": 2, "nodes_per_rack": 2, "failure_modes": [_det("fault", 10, 4)]},
                      repair={"crews": 1}),
        {"nodes.failures": 2, "repair.wait_mean_hours": 2.0, "nodes.outage_mean_hours": 6.0,
         "nodes.up_mean": 2 - 12 / 20, "repair.crew_utilization": 8 / 20}),
    # node 0 (working) and node 1 (hot spare, ageing) both fail at 10 and 26 h, reboot for 5 h after 1 h of
    # detection; the slot waits until node 0 is back at 16 h and swaps it in by 16.5 h
    "hot_spare_fails_too": (
        base_scenario(simulation=_one(30), nodes={"count": 2, "nodes_per_rack": 2,
                                                  "failure_modes": [_det("fault", 10, 5, "reboot")]},
                      repair={"detection": "1 h"}, spares={"hot": 1, "swap_time": "30 min"}),
        {"nodes.failures": 4, "nodes.up_mean": 2 - 20 / 30, "nodes.outage_mean_hours": 6.0,
         "capacity.shortfall_hours": 6.5 + 4, "capacity.availability": 1 - 10.5 / 30,
         "spares.exhausted_hours": 10.0, "spares.available_mean": 20 / 30, "spares.first_exhausted_hours": 10.0}),
    # node 0 fails at 10 h; the cold spare (not ageing) is provisioned over [11, 15] and fails 10 h later;
    # node 0, repaired at 31 h, is swapped into the waiting slot by 31 h 5 min
    "cold_spare_starts_ageing_when_provisioned": (
        base_scenario(simulation=_one(40),
                      nodes={"count": 2, "nodes_per_rack": 2, "failure_modes": [_det("fault", 10, 20)]},
                      repair={"detection": "1 h"}, spares={"cold": 1, "provisioning": "4 h"}),
        {"nodes.failures": 2, "nodes.up_mean": 2 - 36 / 40, "nodes.outage_mean_hours": 21.0,
         "repair.wait_mean_hours": 0.0, "capacity.shortfall_hours": 5 + 6 + 5 / 60,
         "spares.exhausted_hours": 29.0, "spares.available_mean": 11 / 40, "spares.first_exhausted_hours": 11.0}),
    # own fault [10, 14) (reboot) inside a rack outage [12, 20): one outage of 10 h, then [24, 28)
    "domain_outage_overlapping_own_repair": (
        base_scenario(simulation=_one(30), nodes={"count": 1, "nodes_per_rack": 1,
                                                  "failure_modes": [_det("fault", 10, 4, "reboot")]},
                      failure_domains=[_det_domain("rack", 12, 8)]),
        {"nodes.availability": 1 - 14 / 30, "nodes.outage_mean_hours": 7.0, "nodes.failures": 3}),
    "spares_hot_and_cold_with_one_crew": (
        base_scenario(simulation=_one(200),
                      nodes={"count": 5, "nodes_per_rack": 5, "failure_modes": [_det("fault", 30, 20)]},
                      repair={"crews": 1, "detection": "1 h"},
                      spares={"hot": 1, "cold": 2, "swap_time": "30 min", "provisioning": "4 h"}),
        {}),
    "rack_power_and_cluster_domains": (
        base_scenario(simulation=_one(300), nodes={"count": 12, "nodes_per_rack": 3,
                                                   "failure_modes": [_det("fault", 10, 4, "reboot")]},
                      failure_domains=[_det_domain("rack", 12, 8),
                                       _det_domain("power", 25, 3, power_racks=2, name="pdu"),
                                       _det_domain("cluster", 70, 2)]),
        {}),
    "domain_strikes_spares_being_provisioned": (
        base_scenario(simulation=_one(400),
                      nodes={"count": 8, "nodes_per_rack": 2, "failure_modes": [_det("fault", 50, 30)]},
                      repair={"crews": 2, "detection": "1 h"},
                      spares={"hot": 1, "cold": 3, "swap_time": "1 h", "provisioning": "6 h"},
                      failure_domains=[_det_domain("rack", 53, 10)]),
        {}),
    "pool_empty_before_warmup": (
        base_scenario(simulation=_one(300, 50), nodes={"count": 6, "nodes_per_rack": 6,
                                                       "failure_modes": [_det("fault", 20, 60)]},
                      repair={"crews": 1, "detection": "2 h"}, spares={"hot": 2, "swap_time": "1 h"}),
        {"spares.first_exhausted_hours": 0.0}),
    "gpu_parts_tie_then_fail_in_turn": (
        base_scenario(simulation=_one(100), nodes={"count": 3, "gpus_per_node": 4, "nodes_per_rack": 3,
                                                   "failure_modes": [_det("gpu", 10, 1, scope="gpu"),
                                                                     _det("host", 15, 0.25, "reboot")]},
                      repair={"crews": 1}, spares={"hot": 1}),
        {}),
    "zero_durations": (
        base_scenario(simulation=_one(100), nodes={"count": 4, "nodes_per_rack": 2, "failure_modes": [
            _det("fault", 10, 0), _det("blip", 7, 0, "reboot")]},
                      repair={"crews": 1}, spares={"hot": 1, "cold": 1, "swap_time": "0 h", "provisioning": "0 h"},
                      failure_domains=[_det_domain("rack", 13, 0)]),
        {}),
}


def assert_same_as_simpy(raw: dict) -> dict[str, float]:
    """Fast and SimPy on a deterministic scenario: equal logs, events and metrics; the metrics."""
    scenario = scenario_from_dict(raw)
    simpy = run_replication(scenario, 0)
    run = run_kernel(compile_plan(scenario), scenario.simulation.seed, 0, trace=True)
    assert run.trace.shape == simpy.log.shape and np.array_equal(run.trace, simpy.log)
    (outcome,) = FastEngine().run(scenario, [0])
    assert outcome.events == simpy.events
    assert same_metrics(outcome.metrics, stats.replication_metrics(scenario, simpy))
    return outcome.metrics


@pytest.mark.parametrize("name", list(EXACT))
def test_deterministic_case_matches_simpy_exactly(name):
    raw, expected = EXACT[name]
    metrics = assert_same_as_simpy(raw)
    for metric, value in expected.items():
        assert metrics[metric] == pytest.approx(value, rel=1e-9, abs=1e-9), metric


def test_random_deterministic_scenarios_match_simpy_exactly():
    """Ties everywhere (shared grid, zero durations): simultaneous events resolve as in SimPy."""
    for seed in range(100):
        assert_same_as_simpy(random_deterministic_scenario(seed))


# ---------------------------------------------------------------------------------------------
# determinism and independence of replications


def test_identical_reruns_give_identical_numbers():
    scenario = scenario_from_dict(AGREEMENT["everything"])
    assert fast_rows(scenario, range(4)) == fast_rows(scenario, range(4))


def assert_thread_counts_do_not_matter(scenario: Scenario, replications: int) -> None:
    """numba's thread count and the engine's worker count leave every number as it is."""
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = fast_rows(scenario, range(replications))
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = fast_rows(scenario, range(replications))
    finally:
        numba.set_num_threads(before)
    assert one == two == fast_rows(scenario, range(replications), FastEngine(workers=3))


def test_thread_and_worker_counts_do_not_change_numbers():
    assert_thread_counts_do_not_matter(scenario_from_dict(AGREEMENT["spares_and_racks"]), 6)


def test_replication_k_does_not_depend_on_the_batch():
    scenario = scenario_from_dict(AGREEMENT["everything"])
    batch = fast_rows(scenario, range(6))
    assert fast_rows(scenario, [3]) == [batch[3]]
    assert fast_rows(scenario, [5, 1]) == [batch[5], batch[1]]
    assert batch[0] != batch[1]
    other_seed = scenario.model_copy(update={"simulation": scenario.simulation.model_copy(update={"seed": 43})})
    assert fast_rows(other_seed, [0]) != [batch[0]]


def test_a_full_event_heap_reruns_the_replication_with_more_room():
    scenario = scenario_from_dict(AGREEMENT["spares_and_racks"])
    plan = compile_plan(scenario)
    roomy, cramped = run_kernel(plan, 5, 2), run_kernel(plan, 5, 2, capacity=1)
    assert cramped.events == roomy.events and np.array_equal(cramped.acc, roomy.acc)


# ---------------------------------------------------------------------------------------------
# what the fast engine refuses

CHAOS_SCENARIO = """\
name = "with-chaos"

[simulation]
horizon = "10 d"
replications = 2

[nodes]
count = 4

[[chaos]]
action = "leak_memory"
at = "1 d"
time_to_crash = {dist = "deterministic", value = "1 h"}
duration = "2 h"
"""


def test_fast_engine_lists_what_it_lacks():
    raw = base_scenario(chaos=[{"action": "kill_node", "at": "1 h", "duration": "1 h"},
                               {"action": "leak_memory", "at": "1 h", "duration": "1 h",
                                "time_to_crash": {"dist": "deterministic", "value": "1 h"}}])
    assert unsupported_features(scenario_from_dict(raw)) == ["chaos[1] (leak_memory)"]
    assert unsupported_features(scenario_from_dict(AGREEMENT["everything"])) == []
    raw["simulation"] = {**raw["simulation"], "engine": "fast"}
    with pytest.raises(ClusterSimError) as err:
        engine_for(scenario_from_dict(raw))
    assert str(err.value) == ('simulation.engine: the fast engine does not support: chaos[1] (leak_memory); '
                              'use engine = "simpy"')
    with pytest.raises(ClusterSimError, match="--events"):
        FastEngine().run(scenario_from_dict(AGREEMENT["everything"]), [0], keep_logs=True)


def test_a_schema_key_the_kernel_does_not_know_is_refused_by_name(monkeypatch):
    """A key added to the schema (for the SimPy model) is refused until the kernel implements it."""
    from clustersim.engine.fast import support

    scenario = scenario_from_dict(AGREEMENT["everything"])
    monkeypatch.setattr(support, "SUPPORTED", support.SUPPORTED - {"repair.detection", "spares.provisioning"})
    monkeypatch.setattr(support, "SUPPORTED_LAWS", support.SUPPORTED_LAWS - {"weibull"})
    # detection is set away from its default, provisioning is not; the GPU mode is Weibull
    assert unsupported_features(scenario) == ["repair.detection", "nodes.failure_modes.time_to_failure = weibull"]


def test_scenario_files_run_on_the_fast_engine_or_are_refused_by_name():
    """Every scenario file runs on the fast engine (its kill_rack and kill_node chaos too), but the replay example,
    refused by name."""
    from clustersim.scenario import load_scenario

    refused = {"replay_last_quarter.toml": ["incident replay ([replay])"]}
    for path in sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.toml")):
        missing = unsupported_features(load_scenario(path))
        assert missing == refused.get(path.name, []), path.name


def test_cli_refuses_chaos_on_the_fast_engine(tmp_path):
    (tmp_path / "chaos.toml").write_text(CHAOS_SCENARIO)
    proc = clustersim_process(["chaos.toml", "--engine", "fast", "--out", "out"], tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("chaos.toml: simulation.engine:") and "chaos[0] (leak_memory)" in lines[0]
    assert not (tmp_path / "out").exists()


def test_cli_runs_the_fast_engine_and_refuses_its_event_log(tmp_path):
    (tmp_path / "plain.toml").write_text(CHAOS_SCENARIO.split("[[chaos]]")[0] + """
[[nodes.failure_modes]]
name = "gpu"
scope = "gpu"
time_to_failure = {dist = "weibull", shape = 0.9, mean = "500 h"}
time_to_repair = {dist = "lognormal", mean = "8 h", cv = 0.5}
""")
    refused = clustersim_process(["plain.toml", "--engine", "fast", "--events", "--out", "out"], tmp_path)
    assert refused.returncode == 2 and refused.stderr.strip().startswith("plain.toml: --events:"), refused.stderr
    assert not (tmp_path / "out").exists()
    proc = clustersim_process(["plain.toml", "--engine", "fast", "--quiet", "--out", "out"], tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["engine"] == "fast" and summary["timing"]["events"] > 0
    assert "nodes.failures.gpu" in summary["metrics"] and "repair.wait_mean_hours" in summary["metrics"]

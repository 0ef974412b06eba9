"""The repair pipeline against hand-computed truths: escalation mixtures, false successes and
undiagnosed failures (exact Markov chains and the geometric factor), lemons, stage crews."""
from __future__ import annotations

import numpy as np

from clustersim.runner import run_scenario
from clustersim.scenario import scenario_from_dict
from clustersim.stats import estimate
from conftest import assert_within_ci, base_scenario, simulate
from analytic_cases import (
    AnalyticCase, Truth, check, escalation_mixture, exp, false_successes, machine_repairman, pipeline_scenario,
    stationary,
)


def test_escalation_mean_outage_is_the_stage_mixture():
    check(escalation_mixture(), "simpy")


def test_false_successes_follow_the_exact_markov_chain():
    check(false_successes(), "simpy")


def test_false_success_multiplies_failures_by_the_geometric_factor():
    """With repairs and recurrences much shorter than the MTTF, each fault fails 1 / (1 − q) times."""
    mttf, q = 500.0, 0.5
    quick = {"dist": "deterministic", "value": "0.01 h"}
    raw = pipeline_scenario([{"name": "fix", "time": quick, "false_success": q}], mttf_h=mttf, recurrence=quick)
    est = simulate(raw)
    root_faults = 30 * 38000 / mttf
    assert_within_ci(est["nodes.failures"], root_faults / (1 - q), "failures = root faults / (1 − q)")


def test_undiagnosed_failures_follow_the_exact_markov_chain():
    """Undiagnosed: an instant reboot leaves the fault, which recurs; diagnosed: a repair fixes it."""
    mttf, mttr, recurrence, diagnosed = 100.0, 5.0, 8.0, 0.7
    raw = pipeline_scenario([{"name": "fix", "time": exp(mttr)}], mttf_h=mttf, recurrence=exp(recurrence),
                            diagnosis={"probability": diagnosed})
    lam, rho, mu = 1 / mttf, 1 / recurrence, 1 / mttr
    generator = np.array([  # up clean, up with the fault in place, in repair
        [-lam, lam * (1 - diagnosed), lam * diagnosed],
        [0.0, -(lam + rho) * diagnosed, (lam + rho) * diagnosed],
        [mu, 0.0, -mu],
    ])
    up_clean, up_faulty, in_repair = stationary(generator)
    failure_rate = up_clean * lam + up_faulty * (lam + rho)
    est = simulate(raw)
    window = 30 * 38000
    assert_within_ci(est["nodes.availability"], up_clean + up_faulty, "availability")
    assert_within_ci(est["nodes.failures"], window * failure_rate, "failures")
    assert_within_ci(est["repair.undiagnosed"], window * failure_rate * (1 - diagnosed), "undiagnosed")


def test_misdiagnoses_happen_at_the_wrong_node_rate():
    """Every diagnosed failure blames an innocent with probability w (an innocent is always up here)."""
    w = 0.25
    raw = pipeline_scenario([{"name": "fix", "time": exp(2.0)}], nodes=40, mttf_h=400.0, horizon_h=20000,
                            warmup_h=1000, recurrence=exp(50.0), diagnosis={"wrong_node": w})
    result = run_scenario(scenario_from_dict(raw, source="test"))
    excess = [row["repair.misdiagnoses"] - w * row["nodes.failures"] for row in result.rows]
    assert_within_ci(estimate(excess, "count"), 0.0, "misdiagnoses − w × failures")


def test_stage_crews_form_a_machine_repairman_queue():
    """One stage with c crews and no escalation is M/M/c//N, like repair.crews for 'replace'."""
    n, crews, mttf, mttr = 12, 2, 100.0, 25.0
    raw = pipeline_scenario([{"name": "shop", "time": exp(mttr), "crews": crews}], nodes=n, mttf_h=mttf, seed=3)
    up, wait, busy = machine_repairman(n, crews, 1 / mttf, 1 / mttr)
    check(AnalyticCase(raw, [Truth("nodes.up_mean", up, "expected machines up"),
                             Truth("repair.wait_mean_hours", wait, "mean wait for a stage crew"),
                             Truth("repair.stage.shop.crew_utilization", busy / crews, "stage crew utilisation")]),
          "simpy")


def test_lemons_fail_at_the_multiplied_rate():
    """Half the nodes are lemons at 4×: failures = N/2 · T/(m + r) + N/2 · T/(m/4 + r), any law."""
    mttf, mttr, k, nodes = 200.0, 10.0, 4.0, 40
    raw = base_scenario(
        simulation={"horizon": "30000 h", "warmup": "2000 h", "replications": 10, "seed": 31},
        nodes={"count": nodes, "nodes_per_rack": nodes, "lemon_fraction": 0.5, "lemon_rate_multiplier": k,
               "failure_modes": [
                   {"name": "wear", "time_to_failure": {"dist": "weibull", "shape": 2.0, "mean": f"{mttf} h"},
                    "recovery": "reboot", "time_to_repair": exp(mttr)}]},
    )
    window = 28000
    expected = nodes / 2 * window / (mttf + mttr) + nodes / 2 * window / (mttf / k + mttr)
    est = simulate(raw)
    assert_within_ci(est["nodes.failures"], expected, "failures of good nodes and lemons")

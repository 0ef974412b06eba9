"""The analytic truths of DESIGN.md as scenarios with known answers, shared by every engine's tests."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from clustersim.checkpointing import daly_ettr
from conftest import assert_within_ci, base_scenario, simulate


@dataclass(frozen=True)
class Truth:
    """A metric's known mean; ``exact``: equal to it (rel. 1e-9), not merely inside the interval."""

    metric: str
    value: float
    what: str
    exact: bool = False


@dataclass(frozen=True)
class AnalyticCase:
    raw: dict[str, Any]
    truths: list[Truth] = field(default_factory=list)


def check(case: AnalyticCase, engine: str) -> None:
    """Run ``case`` on ``engine`` and hold every truth against the simulated estimates."""
    raw = dict(case.raw, simulation={**case.raw["simulation"], "engine": engine})
    est = simulate(raw)
    for truth in case.truths:
        if truth.exact:
            assert math.isclose(est[truth.metric].mean, truth.value, rel_tol=1e-9), (truth.what, est[truth.metric])
        else:
            assert_within_ci(est[truth.metric], truth.value, f"{engine}: {truth.what}")


def _renewal_scenario(ttf: dict, ttr: dict, nodes: int = 40, horizon_h: float = 30000, warmup_h: float = 2000) -> dict:
    return base_scenario(
        simulation={"horizon": f"{horizon_h} h", "warmup": f"{warmup_h} h", "replications": 10, "seed": 11},
        nodes={"count": nodes, "nodes_per_rack": nodes, "failure_modes": [
            {"name": "part", "scope": "node", "time_to_failure": ttf, "recovery": "reboot", "time_to_repair": ttr}
        ]},
    )


def renewal_weibull_lognormal() -> AnalyticCase:
    """A = MTTF / (MTTF + MTTR) and failures = nodes · window / (MTTF + MTTR), any laws."""
    mttf, mttr, nodes = 100.0, 10.0, 40
    raw = _renewal_scenario({"dist": "weibull", "shape": 1.7, "mean": f"{mttf} h"},
                            {"dist": "lognormal", "mean": f"{mttr} h", "cv": 0.8}, nodes=nodes)
    return AnalyticCase(raw, [
        Truth("nodes.availability", mttf / (mttf + mttr), "availability"),
        Truth("nodes.failures", nodes * 28000 / (mttf + mttr), "failure count"),
        Truth("nodes.outage_mean_hours", mttr, "outage = repair time"),
    ])


def renewal_lognormal_gamma() -> AnalyticCase:
    mttf, mttr = 50.0, 25.0
    raw = _renewal_scenario({"dist": "lognormal", "mean": f"{mttf} h", "cv": 1.5},
                            {"dist": "gamma", "shape": 0.5, "mean": f"{mttr} h"})
    return AnalyticCase(raw, [
        Truth("nodes.availability", mttf / (mttf + mttr), "availability"),
        Truth("nodes.up_mean", 40 * mttf / (mttf + mttr), "mean nodes up"),
    ])


def detection_delay() -> AnalyticCase:
    """Detection is part of the outage: A = MTTF / (MTTF + detection + MTTR)."""
    mttf, mttr, detection = 100.0, 10.0, 5.0
    raw = _renewal_scenario({"dist": "uniform", "low": "50 h", "high": "150 h"},
                            {"dist": "deterministic", "value": f"{mttr} h"})
    raw["repair"] = {"detection": f"{detection} h"}
    return AnalyticCase(raw, [
        Truth("nodes.availability", mttf / (mttf + detection + mttr), "availability"),
        Truth("nodes.outage_mean_hours", detection + mttr, "outage = detection + repair", exact=True),
    ])


def machine_repairman(n: int, crews: int, lam: float, mu: float) -> tuple[float, float, float]:
    """Finite-source M/M/c//N: (expected machines up, mean wait for a crew, expected busy crews)."""
    weights = []
    for failed in range(n + 1):
        w = math.factorial(n) / math.factorial(n - failed) * (lam / mu) ** failed
        w /= math.factorial(failed) if failed <= crews else math.factorial(crews) * crews ** (failed - crews)
        weights.append(w)
    p = [w / sum(weights) for w in weights]
    up = sum((n - k) * pk for k, pk in enumerate(p))
    queued = sum((k - crews) * pk for k, pk in enumerate(p) if k > crews)
    busy = sum(min(k, crews) * pk for k, pk in enumerate(p))
    return up, queued / (lam * up), busy  # Little's law with the effective failure rate λ·E[up]


def machine_repairman_case() -> AnalyticCase:
    n, crews, mttf, mttr = 12, 2, 100.0, 25.0
    raw = base_scenario(
        simulation={"horizon": "40000 h", "warmup": "1000 h", "replications": 10, "seed": 3},
        nodes={"count": n, "nodes_per_rack": n, "failure_modes": [{
            "name": "fault", "time_to_failure": {"dist": "exponential", "mean": f"{mttf} h"},
            "recovery": "replace", "time_to_repair": {"dist": "exponential", "mean": f"{mttr} h"}}]},
        repair={"crews": crews},
    )
    up, wait, busy = machine_repairman(n, crews, 1 / mttf, 1 / mttr)
    return AnalyticCase(raw, [
        Truth("nodes.up_mean", up, "expected machines up"),
        Truth("repair.wait_mean_hours", wait, "mean wait for a crew"),
        Truth("repair.crew_utilization", busy / crews, "crew utilisation"),
    ])


def superposed_gpus() -> AnalyticCase:
    """G independent exponential GPUs with MTTF m fail like one part with MTTF m / G."""
    gpus, mttf_gpu, mttr, nodes = 8, 800.0, 2.0, 20
    raw = base_scenario(
        simulation={"horizon": "20000 h", "warmup": "200 h", "replications": 10, "seed": 5},
        nodes={"count": nodes, "gpus_per_node": gpus, "nodes_per_rack": nodes, "failure_modes": [{
            "name": "gpu", "scope": "gpu", "time_to_failure": {"dist": "exponential", "mean": f"{mttf_gpu} h"},
            "recovery": "reboot", "time_to_repair": {"dist": "deterministic", "value": f"{mttr} h"}}]},
    )
    cycle = mttf_gpu / gpus + mttr
    return AnalyticCase(raw, [
        Truth("nodes.failures.gpu", nodes * 19800 / cycle, "superposed failure count"),
        Truth("nodes.availability", (mttf_gpu / gpus) / cycle, "availability"),
    ])


def superposed_exponential_and_weibull() -> AnalyticCase:
    """An exponential mode and a Weibull mode compete; each keeps its own renewal rate."""
    raw = base_scenario(
        simulation={"horizon": "30000 h", "warmup": "3000 h", "replications": 10, "seed": 9},
        nodes={"count": 30, "gpus_per_node": 2, "nodes_per_rack": 30, "failure_modes": [
            {"name": "gpu", "scope": "gpu", "time_to_failure": {"dist": "exponential", "mean": "2000 h"},
             "recovery": "reboot", "time_to_repair": {"dist": "deterministic", "value": "0.001 h"}},
            {"name": "host", "scope": "node", "time_to_failure": {"dist": "weibull", "shape": 3.0, "mean": "400 h"},
             "recovery": "reboot", "time_to_repair": {"dist": "deterministic", "value": "0.001 h"}},
        ]},
    )
    window = 27000.0
    # Clocks age only while the node operates; repairs are ~instant, so each mode renews on its own.
    return AnalyticCase(raw, [
        Truth("nodes.failures.gpu", 30 * window * 2 / 2000, "exponential GPU mode"),
        Truth("nodes.failures.host", 30 * window / 400, "Weibull host mode"),
    ])


def rack_domain_times_node_faults() -> AnalyticCase:
    """Independent node faults and rack outages: A_node_up = A_node · A_rack."""
    node_mttf, node_mttr, rack_mttf, rack_mttr = 200.0, 20.0, 500.0, 50.0
    raw = base_scenario(
        simulation={"horizon": "40000 h", "warmup": "2000 h", "replications": 10, "seed": 13},
        nodes={"count": 32, "nodes_per_rack": 4, "failure_modes": [{
            "name": "fault", "time_to_failure": {"dist": "exponential", "mean": f"{node_mttf} h"},
            "recovery": "reboot", "time_to_repair": {"dist": "lognormal", "mean": f"{node_mttr} h", "cv": 1.0}}]},
        failure_domains=[{"kind": "rack",
                          "time_to_failure": {"dist": "weibull", "shape": 2.0, "mean": f"{rack_mttf} h"},
                          "time_to_repair": {"dist": "exponential", "mean": f"{rack_mttr} h"}}],
    )
    a_node, a_rack = node_mttf / (node_mttf + node_mttr), rack_mttf / (rack_mttf + rack_mttr)
    return AnalyticCase(raw, [
        Truth("nodes.availability", a_node * a_rack, "product availability"),
        Truth("nodes.failures.rack", 32 * 38000 / (rack_mttf + rack_mttr), "rack-induced node failures"),
    ])


def power_domain() -> AnalyticCase:
    """A power domain of 2 racks takes 2 × nodes_per_rack nodes down per event."""
    raw = base_scenario(
        simulation={"horizon": "20000 h", "warmup": "1000 h", "replications": 10, "seed": 17},
        nodes={"count": 24, "nodes_per_rack": 4, "failure_modes": []},
        failure_domains=[{"kind": "power", "power_racks": 2,
                          "time_to_failure": {"dist": "exponential", "mean": "300 h"},
                          "time_to_repair": {"dist": "deterministic", "value": "30 h"}}],
    )
    return AnalyticCase(raw, [
        Truth("nodes.availability", 300 / 330, "power-domain availability"),
        Truth("nodes.failures.power", 24 * 19000 / 330, "members struck per event"),
    ])


def exp(hours: float) -> dict:
    return {"dist": "exponential", "mean": f"{hours} h"}


def pipeline_scenario(stages: list[dict], nodes: int = 30, mttf_h: float = 200.0, horizon_h: float = 40000,
                      warmup_h: float = 2000, seed: int = 21, **repair) -> dict:
    """``nodes`` nodes, one exponential failure mode repaired through ``stages``; no spares."""
    return base_scenario(
        simulation={"horizon": f"{horizon_h} h", "warmup": f"{warmup_h} h", "replications": 10, "seed": seed},
        nodes={"count": nodes, "nodes_per_rack": nodes, "failure_modes": [
            {"name": "fault", "time_to_failure": exp(mttf_h), "recovery": "pipeline"}]},
        repair={"stages": stages, **repair},
    )


def stationary(generator: np.ndarray) -> np.ndarray:
    """The stationary distribution π of a CTMC generator Q (π Q = 0, Σπ = 1)."""
    n = generator.shape[0]
    lhs = np.vstack([generator.T, np.ones(n)])
    rhs = np.concatenate([np.zeros(n), [1.0]])
    return np.linalg.lstsq(lhs, rhs, rcond=None)[0]


def escalation_mixture() -> AnalyticCase:
    """Outage = detection + auto + p × manual; availability = MTTF / (MTTF + that)."""
    detection, auto, manual, p, mttf = 0.5, 2.0, 20.0, 0.3, 200.0
    raw = pipeline_scenario([
        {"name": "auto", "time": exp(auto), "escalate": p},
        {"name": "manual", "time": {"dist": "lognormal", "mean": f"{manual} h", "cv": 0.7}},
    ], mttf_h=mttf, detection=f"{detection} h")
    outage = detection + auto + p * manual
    cycles = 30 * 38000 / (mttf + outage)
    return AnalyticCase(raw, [
        Truth("nodes.outage_mean_hours", outage, "mean outage = stage mixture"),
        Truth("nodes.availability", mttf / (mttf + outage), "availability"),
        Truth("repair.stage.auto.count", cycles, "every repair enters the first stage"),
        Truth("repair.stage.manual.count", p * cycles, "a fraction p escalates"),
        Truth("repair.escalations", p * cycles, "escalations"),
    ])


def false_success_chain(fail: float, repair: float, recur: float, q: float) -> tuple[float, float, float]:
    """Exact CTMC of one node: up clean (λ), up with a fault left in place (λ + ρ), in repair (μ).

    A repair leaves the fault in place with probability q. Returns (availability, failures per
    hour, recurrences per hour)."""
    generator = np.array([
        [-fail, 0.0, fail],
        [0.0, -(fail + recur), fail + recur],
        [repair * (1 - q), repair * q, -repair],
    ])
    up_clean, up_faulty, _ = stationary(generator)
    return up_clean + up_faulty, up_clean * fail + up_faulty * (fail + recur), up_faulty * recur


def false_successes() -> AnalyticCase:
    """False successes leave faults that recur: the exact three-state Markov chain of one node."""
    mttf, mttr, recurrence, q = 100.0, 5.0, 8.0, 0.4
    raw = pipeline_scenario([{"name": "fix", "time": exp(mttr), "false_success": q}], mttf_h=mttf,
                            recurrence=exp(recurrence))
    availability, failure_rate, recurrence_rate = false_success_chain(1 / mttf, 1 / mttr, 1 / recurrence, q)
    window = 30 * 38000
    return AnalyticCase(raw, [
        Truth("nodes.availability", availability, "availability"),
        Truth("nodes.failures", window * failure_rate, "failures"),
        Truth("nodes.recurrences", window * recurrence_rate, "recurrences"),
        Truth("repair.false_successes", window * failure_rate * q, "false successes"),
    ])


def daly_scenario(mtbf: float, tau: float, delta: float, restart: float, nodes: int = 16,
                  horizon_h: float = 20000, **training) -> dict:
    """A job of ``nodes`` exponential nodes with job MTBF ``mtbf``, an ample hot spare pool, no
    detection or swap delay: exactly Daly's model."""
    return base_scenario(
        simulation={"horizon": f"{horizon_h} h", "warmup": "100 h", "replications": 10, "seed": 3},
        nodes={"count": nodes + 24, "nodes_per_rack": nodes + 24, "failure_modes": [
            {"name": "fault", "time_to_failure": {"dist": "exponential", "mean": f"{mtbf * nodes} h"},
             "recovery": "replace", "time_to_repair": {"dist": "exponential", "mean": "5 h"}}]},
        spares={"hot": 24, "swap_time": "0 s"},
        training=[{"name": "pretrain", "nodes": nodes, "checkpoint_interval": f"{tau} h",
                   "checkpoint_cost": f"{delta} h", "restart_overhead": f"{restart} h", **training}],
    )


# (M, τ, δ, R): τ well below M, τ = M, τ above M, rare failures
DALY_POINTS = [(10.0, 2.0, 0.2, 0.5), (10.0, 10.0, 0.5, 1.0), (4.0, 6.0, 0.3, 0.2), (50.0, 3.0, 0.1, 0.25)]


def daly(mtbf: float, tau: float, delta: float, restart: float) -> AnalyticCase:
    """ETTR = Daly's T_s / T_w; every interruption is a failure of a job node: N λ per hour of wall time."""
    return AnalyticCase(daly_scenario(mtbf, tau, delta, restart), [
        Truth("training.pretrain.ettr", daly_ettr(mtbf, tau, delta, restart),
              f"ETTR, Daly M={mtbf} τ={tau} δ={delta} R={restart}"),
        Truth("training.pretrain.interruptions", 19900 / mtbf, "interruptions = wall / M"),
    ])


CASES = {
    "renewal_weibull_lognormal": renewal_weibull_lognormal,
    "renewal_lognormal_gamma": renewal_lognormal_gamma,
    "detection_delay": detection_delay,
    "machine_repairman": machine_repairman_case,
    "superposed_gpus": superposed_gpus,
    "superposed_exponential_and_weibull": superposed_exponential_and_weibull,
    "rack_domain_times_node_faults": rack_domain_times_node_faults,
    "power_domain": power_domain,
    "escalation_mixture": escalation_mixture,
    "false_successes": false_successes,
    **{f"daly_M{m:g}_tau{tau:g}": (lambda point=(m, tau, d, r): daly(*point)) for m, tau, d, r in DALY_POINTS},
}

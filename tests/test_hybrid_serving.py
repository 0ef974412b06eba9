"""The hybrid serving technique against analytic truths and against the request-level model, and services on the
fast engine against the SimPy engine.

Agreement: the same scenario run request by request and hybrid (or on both engines), n replications each; every
headline metric's two means must be within the combined Student-t interval, at a Bonferroni-corrected level
(95 % over the family of metrics compared), widened only by the latency histograms' resolution (a quantile is
read to half a bin, 0.58 %: two readings may differ by two half-bins).
"""
from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytest
from scipy import stats as scipy_stats

from clustersim.layout import serving_technique
from clustersim.runner import run_scenario
from clustersim.scenario.schema import Scenario
from conftest import base_scenario
from queueing_truths import mean_detection_delay, mmc_mean_wait
from test_inference import _check, _metrics, _nodes, _service

S = 1.0 / 3600.0
HISTOGRAM_RESOLUTION = 2 * (10 ** (0.5 / 200) - 1)  # two half-bins of measure.Histogram, relative
HEADLINE = ("requests", "success_ratio", "latency_p50_s", "latency_p90_s", "latency_p99_s", "wait_mean_s",
            "ttft_p99_s", "tpot_p99_s", "slo_attainment", "error_budget_burn", "retry_amplification", "shed",
            "rate_limited", "timeouts", "availability", "capacity_availability", "replicas_mean",
            "release.bad_requests", "release.rollback_s")  # the inference metrics of the contract and beyond


def _hybrid(raw: dict[str, Any], serving: str = "hybrid") -> dict[str, Any]:
    raw = {**raw, "simulation": {**raw["simulation"], "serving": serving}}
    return raw


def _failing_nodes(count: int, mttf_hours: float) -> dict[str, Any]:
    nodes = _nodes(count)
    nodes["failure_modes"] = [{"name": "server", "scope": "node", "recovery": "replace",
                               "time_to_failure": {"dist": "exponential", "mean": f"{mttf_hours} h"},
                               "time_to_repair": {"dist": "exponential", "mean": "1 h"}}]
    return nodes


def _assert_agree(a: list[dict[str, float]], b: list[dict[str, float]], what: str) -> list[str]:
    """Every headline metric present in both: means within the combined interval (Bonferroni over them)."""
    names = [n for n in a[0] if n.startswith("inference.") and n.split(".", 2)[2] in HEADLINE and n in b[0]]
    alpha = 0.05 / len(names)
    failures, lines = [], []
    for name in names:
        x = np.array([m[name] for m in a if m.get(name) is not None], dtype=float)
        y = np.array([m[name] for m in b if m.get(name) is not None], dtype=float)
        if len(x) < 2 or len(y) < 2:
            continue
        se = math.sqrt(x.var(ddof=1) / len(x) + y.var(ddof=1) / len(y))
        t = scipy_stats.t.ppf(1 - alpha / 2, min(len(x), len(y)) - 1)
        slack = t * se
        if name.endswith(("_p50_s", "_p90_s", "_p99_s")):
            slack += HISTOGRAM_RESOLUTION * max(abs(x.mean()), abs(y.mean()))
        diff = abs(x.mean() - y.mean())
        lines.append(f"{name}: {x.mean():.6g} vs {y.mean():.6g} (|diff| {diff:.3g} <= {slack:.3g})")
        if diff > slack + 1e-12 * max(1.0, abs(x.mean())):
            failures.append(lines[-1])
    print(f"{what}:\n  " + "\n  ".join(lines))
    assert not failures, f"{what}: " + "; ".join(failures)
    return lines


# --- the technique's choice ---------------------------------------------------------------------------------

def test_auto_takes_hybrid_beyond_five_million_requests_and_never_for_a_trace() -> None:
    def scenario(seconds: float, rate: float, arrivals: dict[str, Any] | None = None) -> Scenario:
        return Scenario.model_validate(base_scenario(
            simulation={"horizon": f"{seconds} s", "replications": 1},
            nodes=_nodes(), inference=[_service(arrivals=arrivals or {"process": "poisson", "rate": f"{rate} /s"})]))

    assert serving_technique(scenario(3600, 1000)) == "requests"        # 3.6 M expected
    assert serving_technique(scenario(3600 * 2, 1000)) == "hybrid"       # 7.2 M
    assert serving_technique(scenario(1e7, 1, {"process": "trace", "times": [0.0], "repeat": True})) == "requests"


# --- analytic truths, hybrid -----------------------------------------------------------------------------

def test_hybrid_mmc_mean_wait_is_erlang_c() -> None:
    """M/M/32 at rho = 0.875 for 6 h, almost all of it a stationary stretch: its wait is the sample's."""
    raw = _hybrid(base_scenario(simulation={"horizon": "6 h", "warmup": "2 min", "replications": 1, "seed": 3},
                                nodes=_nodes(8), inference=[_service(
        replicas=8, concurrency=4, arrivals={"process": "poisson", "rate": "56 /s"},
        service_time={"dist": "exponential", "mean": "0.5 s"})]))
    runs = _metrics(raw, range(8))
    assert all(m["inference.chat.request_level_share"] < 0.01 for m in runs)
    _check([m["inference.chat.wait_mean_s"] for m in runs], mmc_mean_wait(56.0, 2.0, 32), "M/M/32 mean wait (s)")
    _check([m["inference.chat.requests"] for m in runs], 56.0 * 6 * 3600 * (1 - 2 / 360), "requests sent")


def test_hybrid_requests_lost_to_a_dead_replica() -> None:
    """As test_inference's case (4 replicas round robin, 20/s, checks every 2 s, 3 misses, 1 s check timeout), on a
    2 h horizon with node 0 dead from 1 h: a window opens before the death, and the loss is the window's."""
    lam, interval, k, check_timeout, service = 20.0, 2.0, 3, 1.0, 0.001
    raw = _hybrid(base_scenario(simulation={"horizon": "2 h", "replications": 1, "seed": 3}, nodes=_nodes(),
                                inference=[_service(
        replicas=4, concurrency=100, arrivals={"process": "poisson", "rate": f"{lam} /s"},
        service_time={"dist": "deterministic", "value": f"{service} s"}, timeout="0.5 s",
        load_balancer={"policy": "round_robin", "health_check_interval": f"{interval} s",
                       "health_check_timeout": f"{check_timeout} s", "unhealthy_threshold": k})],
        chaos=[{"action": "kill_node", "node": 0, "at": "1 h", "duration": "10 h"}]))
    runs = _metrics(raw, range(20))
    truth = lam / 4 * mean_detection_delay(k, interval, check_timeout) + lam / 4 * service
    lost = [m["inference.chat.requests"] * (1 - m["inference.chat.success_ratio"]) for m in runs]
    _check(lost, truth, "requests lost to a dead replica (hybrid)")
    assert all(m["inference.chat.request_level_share"] < 0.05 for m in runs)


# --- agreement with the request-level model --------------------------------------------------------------

def _fleet(arrivals: dict[str, Any], **keys: Any) -> dict[str, Any]:
    """4 replicas x 4 slots, exponential service 0.5 s (capacity 32/s), checks every 5 s, 2 misses, retries;
    servers fail every 3 h each (with 2 hot spares, a 1 min detection and swap, a 2 min reload)."""
    spec = _service(replicas=4, concurrency=4, arrivals=arrivals, timeout="5 s", reload_time="2 min",
                    service_time={"dist": "exponential", "mean": "0.5 s"},
                    load_balancer={"policy": "least_outstanding", "health_check_interval": "5 s",
                                   "unhealthy_threshold": 2},
                    retries={"max_attempts": 3}, slo={"latency": "3 s", "target": 0.99, "window": "5 min"})
    spec.update(keys)
    spec = {key: value for key, value in spec.items() if value is not None}
    return base_scenario(simulation={"horizon": "3 h", "replications": 1, "seed": 5, "serving_sample_requests": 5000},
                         nodes=_failing_nodes(6, 3.0),
                         spares={"hot": 2, "swap_time": "1 min"}, repair={"detection": "1 min"}, inference=[spec])


AGREEMENT = {
    "poisson, failures, health checks, retries": _fleet({"process": "poisson", "rate": "14 /s"}),
    "diurnal, failures": _fleet({"process": "diurnal", "trough": "4 /s", "peak": "18 /s", "period": "1 h",
                                 "peak_at": "0 s"}),
    "autoscaler on a diurnal load": _fleet(
        {"process": "diurnal", "trough": "3 /s", "peak": "16 /s", "period": "1 h", "peak_at": "0 s"},
        replicas=2, autoscaling={"target": 2.0, "min_replicas": 1, "max_replicas": 4, "sync_period": "15 s",
                                 "provisioning": "30 s", "scale_down_stabilization": "2 min"}),
    "tokens, rate limit, admission": _fleet(
        {"process": "poisson", "rate": "16 /s"}, service_time=None,
        tokens={"prompt_tokens": {"dist": "lognormal", "mean": 200, "cv": 1.0},
                "output_tokens": {"dist": "lognormal", "mean": 20, "cv": 1.0},
                "prefill_per_token": "0.0005 s", "decode_per_token": "0.02 s"},
        rate_limit={"rate": "15 /s", "burst": 20}, admission={"max_queue": 4}),
    "canary rolled back": _fleet({"process": "poisson", "rate": "14 /s"},
                                 canary={"start": "1 h", "steps": [0.1, 0.5], "analysis_interval": "1 min",
                                         "error_rate": 0.2, "max_error_rate": 0.05, "failed_checks": 2}),
    "canary promoted": _fleet({"process": "poisson", "rate": "14 /s"},
                              canary={"start": "1 h", "steps": [0.1, 0.5], "analysis_interval": "1 min",
                                      "error_rate": 0.005, "latency_factor": 1.2, "max_error_rate": 0.05,
                                      "max_latency_p99": "10 s", "failed_checks": 2}),
}


@pytest.mark.parametrize("case", list(AGREEMENT))
def test_hybrid_agrees_with_requests(case: str) -> None:
    raw = AGREEMENT[case]
    requests = _metrics(_hybrid(raw, "requests"), range(8))
    hybrid = _metrics(_hybrid(raw), range(8))
    _assert_agree(requests, hybrid, case)
    shares = [m["inference.chat.request_level_share"] for m in hybrid]
    print(f"{case}: request-level share {np.mean(shares):.3f}")
    assert np.mean(shares) < 0.8  # the stationary stretches really were used


def test_hybrid_keeps_an_overloaded_configuration_request_level() -> None:
    """2 replicas x 4 slots, 0.5 s service (16/s) at 12/s with no timeout; node 0 is down for 20 min from 30 min:
    one replica (8/s) cannot keep up, its queue grows without bound, so no stationary sample stands for it and
    the whole outage is simulated request by request — and agrees with the request-level model."""
    raw = base_scenario(simulation={"horizon": "1 h", "replications": 1, "seed": 5, "serving_sample_requests": 2000},
                        nodes=_nodes(4), inference=[_service(
        replicas=2, concurrency=4, arrivals={"process": "poisson", "rate": "12 /s"}, reload_time="1 min",
        service_time={"dist": "exponential", "mean": "0.5 s"}, slo={"latency": "5 s", "window": "5 min"},
        load_balancer={"health_check_interval": "5 s", "unhealthy_threshold": 2})],
        chaos=[{"action": "kill_node", "node": 0, "at": "30 min", "duration": "20 min"}])
    requests = _metrics(_hybrid(raw, "requests"), range(6))
    hybrid = _metrics(_hybrid(raw), range(6))
    assert all(m["inference.chat.request_level_share"] >= 20 / 60 for m in hybrid)
    _assert_agree(requests, hybrid, "an overloaded stretch")


def test_hybrid_agrees_with_a_fallback_pool_and_a_second_overloaded_service() -> None:
    """Two services on one loop: "chat" with a fallback pool (a degraded model at half the latency), "embed" on
    one replica at 14/s against 8/s of capacity, fail_open: overloaded, so it stays request-level while it serves."""
    raw = copy.deepcopy(AGREEMENT["poisson, failures, health checks, retries"])
    raw["simulation"]["horizon"] = "2 h"
    raw["nodes"]["count"] = 9
    chat = raw["inference"][0]
    embed = {**copy.deepcopy(chat), "name": "embed", "replicas": 1,
             "load_balancer": {**chat["load_balancer"], "fail_open": True}}
    chat["fallback"] = {"replicas": 1, "concurrency": 4, "latency_factor": 0.5}
    raw["inference"].append(embed)
    requests = _metrics(_hybrid(raw, "requests"), range(6))
    hybrid = _metrics(_hybrid(raw), range(6))
    _assert_agree(requests, hybrid, "a fallback pool and a second, overloaded service")
    # request-level whenever its replica serves (overloaded); a stretch only while none does (all refused)
    assert all(m["inference.embed.request_level_share"] >= 0.95 * m["inference.embed.availability"] for m in hybrid)
    assert all(m["inference.chat.request_level_share"] < 0.5 for m in hybrid)


def test_hybrid_is_deterministic() -> None:
    raw = _hybrid(AGREEMENT["canary rolled back"])
    assert _metrics(raw, range(2)) == _metrics(raw, range(2))


# --- services on the fast engine ------------------------------------------------------------------------------

def test_fast_engine_serves_as_simpy_does() -> None:
    """The fast engine's kernel runs the cluster and the same serving model runs on its trace: the cluster's
    random numbers differ between engines, so the services' metrics agree statistically."""
    raw = _hybrid(AGREEMENT["poisson, failures, health checks, retries"])
    raw["simulation"] = {**raw["simulation"], "replications": 8}
    results = {}
    for engine in ("simpy", "fast"):
        scenario = Scenario.model_validate({**raw, "simulation": {**raw["simulation"], "engine": engine}})
        results[engine] = run_scenario(scenario).rows
    _assert_agree(results["simpy"], results["fast"], "fast vs simpy (hybrid)")
    assert all(row["inference.chat.requests"] > 0 for row in results["fast"])


def test_events_file_keeps_time_order_with_services(tmp_path) -> None:
    """The services' rows are made after the cluster's run: events.parquet still holds each replication's rows
    in time order, and the replicas' rows are there."""
    import pandas as pd
    import tomli_w

    from clustersim.cli import main

    raw = AGREEMENT["poisson, failures, health checks, retries"]
    raw = {**raw, "simulation": {**raw["simulation"], "replications": 2, "horizon": "1 h"}}
    (tmp_path / "s.toml").write_text(tomli_w.dumps(raw))
    assert main([str(tmp_path / "s.toml"), "--events", "--out", str(tmp_path / "out")]) == 0
    events = pd.read_parquet(tmp_path / "out" / "events.parquet")
    for _, rows in events.groupby("replication"):
        assert rows["time_hours"].is_monotonic_increasing
    assert (events["kind"].astype(str) == "replica").any()

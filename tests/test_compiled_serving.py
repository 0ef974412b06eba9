"""The fast engine's compiled serving core (clustersim.engine.fast.serving) against the request-level model's
truths and against the Python model itself.

1. Every analytic and hand-worked case of test_inference and test_inference_patterns that uses only what the
   core compiles is run again with the core serving (the cluster still runs in SimPy with its tap, so chaos
   injections place the failures): the same exact counts, the same queueing truths within their intervals.
2. Agreement: the same replications' timelines served by the Python model and by the core; every headline
   metric's means within the combined interval (test_hybrid_serving's rule), over arrivals, policies, patterns,
   failure handling and the store.
3. The fast engine serves with the core when it can, says so, and names what sends a scenario to Python.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import json
import math
from pathlib import Path

import numpy as np
import pytest
import simpy
from scipy import stats as scipy_stats

import test_inference
import test_inference_patterns
from clustersim.cli import main
from clustersim.engine.fast.engine import FastEngine
from clustersim.engine.fast.serving import kernel
from clustersim.engine.fast.serving.plan import replica_transitions
from clustersim.engine.fast.serving.session import serve_compiled
from clustersim.model.base import Context
from clustersim.model.cluster import Cluster
from clustersim.layout import compiled_serving_gaps
from clustersim.rng import Streams
from clustersim.runner import run_scenario
from clustersim.scenario.load import dump_scenario_toml
from clustersim.scenario.schema import Scenario
from clustersim.workloads.inference import serve, tap_inference
from clustersim.workloads.inference.timeline import Timeline
from clustersim.workloads.training import close_training, start_training
from conftest import base_scenario
from test_hybrid_serving import AGREEMENT as HYBRID_AGREEMENT
from test_hybrid_serving import HEADLINE, HISTOGRAM_RESOLUTION, _failing_nodes, _hybrid

S = 1.0 / 3600.0


def _timeline(sc: Scenario, k: int) -> Timeline:
    """Replication k's cluster run in SimPy with the services' tap (as simulate_replication runs it)."""
    env = simpy.Environment()
    ctx = Context(env, lambda row: None)
    cluster = Cluster(ctx, sc, Streams(sc.simulation.seed, k))
    jobs = start_training(ctx, sc, cluster.slots, cluster.storage)
    tap = tap_inference(ctx, sc, cluster.slots, cluster.storage)
    assert tap is not None
    env.run(until=sc.simulation.horizon)
    close_training(jobs)
    return tap.timeline()


def _compiled_metrics(raw: dict[str, Any], replications: range | int) -> list[dict[str, float | None]]:
    """The services' metrics of each replication, served by the compiled core on the cluster's timeline."""
    sc = Scenario.model_validate(raw)
    assert not compiled_serving_gaps(sc), compiled_serving_gaps(sc)
    ks = range(replications) if isinstance(replications, int) else replications
    return [serve_compiled(sc, k, _timeline(sc, k))[0] for k in ks]


def _python_metrics(raw: dict[str, Any], replications: range) -> list[dict[str, float | None]]:
    sc = Scenario.model_validate(raw)
    return [serve(sc, Streams(sc.simulation.seed, k), _timeline(sc, k), lambda row: None).metrics()
            for k in replications]


# --- 1. the request-level truths, served compiled ---------------------------------------------------------

TRUTHS: dict[str, tuple[Any, Callable[..., None], tuple[Any, ...]]] = {
    "M/M/c mean wait is Erlang C": (test_inference, test_inference.test_mmc_mean_wait_is_erlang_c, ()),
    "a timeout counts from sending and cuts service (exact)":
        (test_inference, test_inference.test_timeout_counts_from_sending_and_cuts_service, ()),
    "requests lost to a dead replica, hang": (test_inference, test_inference.test_requests_lost_to_a_dead_replica,
                                              ("hang",)),
    "requests lost to a dead replica, fail_fast": (test_inference,
                                                   test_inference.test_requests_lost_to_a_dead_replica,
                                                   ("fail_fast",)),
    "retry amplification without a budget": (test_inference, test_inference.test_retry_amplification_without_budget,
                                             ()),
    "a retry budget caps amplification": (test_inference, test_inference.test_retry_budget_caps_amplification, ()),
    "node failures with spares lower availability":
        (test_inference, test_inference.test_node_failures_with_spares_lower_availability, ()),
    "queue timeout abandonment is M/M/c+D": (test_inference_patterns,
                                             test_inference_patterns.test_queue_timeout_abandonment_is_mmc_plus_d, ()),
    "admission without a queue is Erlang loss": (
        test_inference_patterns, test_inference_patterns.test_admission_without_a_queue_is_erlang_loss, ()),
    "a rate limit passes every other request (exact)": (
        test_inference_patterns, test_inference_patterns.test_rate_limit_token_bucket_passes_every_other_request, ()),
    "load shedding refuses what would miss its deadline (exact)": (
        test_inference_patterns, test_inference_patterns.test_load_shedding_refuses_what_would_miss_its_deadline, ()),
    "token timings are prefill and decode": (test_inference_patterns,
                                             test_inference_patterns.test_token_timings_are_prefill_and_decode, ()),
    "requests hanging past their SLO at the horizon count as failed (exact)": (
        test_inference_patterns,
        test_inference_patterns.test_requests_hanging_past_their_slo_at_the_horizon_count_as_failed, ()),
}


@pytest.mark.parametrize("case", list(TRUTHS))
def test_the_compiled_core_meets_the_request_level_truths(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    module, test, args = TRUTHS[case]
    monkeypatch.setattr(module, "_metrics", _compiled_metrics)
    test(*args)


def test_replica_transitions_wait_for_a_readable_store() -> None:
    """test_inference_patterns' store case through the event layer: the replica dies at 20 s and, its node
    back at 40 s but the store unreadable until 90 s, serves again after its 5 s reload at 95 s."""
    storage = {"servers": 1, "replication": 1, "objects": 1, "placement": "random", "failure_loses_data": False,
               "time_to_failure": {"dist": "deterministic", "value": "30 s"},
               "time_to_repair": {"dist": "deterministic", "value": "60 s"}}
    raw = test_inference_patterns._raw(
        {"arrivals": {"process": "trace", "times": [float(t) for t in range(100)]},
         "service_time": {"dist": "deterministic", "value": "0.1 s"}, "reload_time": "5 s"}, 110, nodes=4,
        storage=storage, spares={"swap_time": "0 s"},
        chaos=[{"action": "kill_node", "at": "20 s", "node": 0, "duration": "20 s"}])
    sc = Scenario.model_validate(raw)
    times, replicas, kinds, _, speeds = replica_transitions(sc, 0, _timeline(sc, 0))
    assert [(round(t / S, 6), int(r), int(kind)) for t, r, kind in zip(times, replicas, kinds)] == [
        (20.0, 0, kernel.DIES), (95.0, 0, kernel.SERVES)]
    assert speeds.tolist() == [1.0]
    m = _compiled_metrics(raw, 1)[0]
    assert m["inference.chat.availability"] == pytest.approx(1 - 75 / 110)


# --- 2. agreement with the Python model, on the same timelines ------------------------------------------------

def _fleet(arrivals: dict[str, Any], **keys: Any) -> dict[str, Any]:
    """4 replicas x 4 slots, exponential service 0.5 s (capacity 32/s), checks every 5 s, 2 misses; servers
    fail every 4 h each (2 hot spares, 1 min detection and swap, 2 min reload): ~1.5 deaths a replication."""
    spec = test_inference._service(
        replicas=4, concurrency=4, arrivals=arrivals, timeout="5 s", reload_time="2 min",
        service_time={"dist": "exponential", "mean": "0.5 s"},
        load_balancer={"policy": "least_outstanding", "health_check_interval": "5 s", "unhealthy_threshold": 2},
        retries={"max_attempts": 3}, slo={"latency": "3 s", "target": 0.99, "window": "5 min"})
    spec.update(keys)
    spec = {key: value for key, value in spec.items() if value is not None}
    return base_scenario(simulation={"horizon": "1 h", "replications": 1, "seed": 7},
                         nodes=_failing_nodes(6, 4.0), spares={"hot": 2, "swap_time": "1 min"},
                         repair={"detection": "1 min"}, inference=[spec])


_TOKENS = {"prompt_tokens": {"dist": "lognormal", "mean": 400, "cv": 1.0},
           "output_tokens": {"dist": "exponential", "mean": 60}, "prefill_per_token": "0.2 ms",
           "decode_per_token": "8 ms"}
_STORE = {"servers": 2, "replication": 1, "objects": 4, "placement": "random", "failure_loses_data": False,
          "time_to_failure": {"dist": "exponential", "mean": "20 min"},
          "time_to_repair": {"dist": "exponential", "mean": "5 min"}}
# Where each of a service's streams draws numbers of one kind only (client.py's Draws buffers each kind in blocks of
# 4,096 from the stream, the core draws one at a time: the same sequence when there is one kind), the core makes
# the Python model's draws in the Python model's order of events, so its metrics are the same bit for bit.
DRAWN_ALIKE = ("poisson, hang, retries with a budget", "bursty, round robin, rate limit, admission, no fail-open")
AGREEMENT: dict[str, dict[str, Any]] = {
    "poisson, hang, retries with a budget": _fleet({"process": "poisson", "rate": "22 /s"}),
    "diurnal, tokens, power of two, fail_fast": _fleet(
        {"process": "diurnal", "trough": "4 /s", "peak": "20 /s", "period": "30 min", "peak_at": "0 s"},
        service_time=None, tokens=_TOKENS, dead_replica="fail_fast",
        load_balancer={"policy": "power_of_two", "health_check_interval": "3 s", "unhealthy_threshold": 3}),
    "bursty, round robin, rate limit, admission, no fail-open": _fleet(
        {"process": "bursty", "rate": "40 /s", "off_rate": 8.0, "on_duration": "30 s", "off_duration": "90 s"},
        rate_limit={"rate": "30 /s", "burst": 20}, admission={"max_queue": 6},
        load_balancer={"policy": "round_robin", "fail_open": False, "healthy_threshold": 2,
                       "health_check_interval": "4 s"},
        retries={"max_attempts": 2, "jitter": "equal", "on_timeout": False, "budget": 5.0}),
    "trace replayed, empirical service, shedding, queue timeout, error rate, store": {
        **_fleet({"process": "trace", "times": [round(0.04 * i + 0.005 * (i % 3), 6) for i in range(1500)],
                  "repeat": True},
                 service_time={"dist": "empirical", "samples": ["0.1 s", "0.3 s", "0.4 s", "1.6 s"]},
                 load_shedding=True, error_rate=0.02, retries={"max_attempts": 4, "jitter": "none"},
                 load_balancer={"queue_timeout": "1 s", "health_check_interval": "5 s"}),
        "storage": _STORE},
}


def _assert_paired_agree(a: list[dict[str, Any]], b: list[dict[str, Any]], what: str) -> None:
    """Both served the same timelines (common random numbers for the cluster): every headline metric's mean
    per-replication difference within its Student-t interval (Bonferroni over the metrics; a latency
    quantile's two readings may also differ by the histogram's two half-bins)."""
    names = [n for n in a[0] if n.split(".", 2)[2] in HEADLINE
             and all(x.get(n) is not None and y.get(n) is not None for x, y in zip(a, b))]
    alpha = 0.05 / len(names)
    lines, failures = [], []
    for name in names:
        d = np.array([x[name] - y[name] for x, y in zip(a, b)], dtype=float)
        slack = scipy_stats.t.ppf(1 - alpha / 2, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
        if name.endswith(("_p50_s", "_p90_s", "_p99_s")):
            slack += HISTOGRAM_RESOLUTION * abs(np.mean([x[name] for x in a]))
        lines.append(f"{name}: {np.mean([x[name] for x in a]):.6g} - {np.mean([y[name] for y in b]):.6g} = "
                     f"{d.mean():.3g} (|.| <= {slack:.3g})")
        if abs(d.mean()) > slack + 1e-12 * max(1.0, abs(np.mean([x[name] for x in a]))):
            failures.append(lines[-1])
    print(f"{what}:\n  " + "\n  ".join(lines))
    assert not failures, f"{what}: " + "; ".join(failures)


@pytest.mark.parametrize("case", list(AGREEMENT))
def test_the_compiled_core_agrees_with_the_python_model(case: str) -> None:
    raw = AGREEMENT[case]
    replications = range(10)
    python, compiled = _python_metrics(raw, replications), _compiled_metrics(raw, replications)
    if case in DRAWN_ALIKE:
        assert compiled == python  # bit for bit
    else:
        _assert_paired_agree(python, compiled, f"Python - compiled serving: {case}")


HYBRID_CASES = ("poisson, failures, health checks, retries", "diurnal, failures")


@pytest.mark.parametrize("case", HYBRID_CASES)
def test_the_hybrid_technique_on_the_compiled_core_agrees_with_it_in_python(case: str) -> None:
    """test_hybrid_serving's cases by the hybrid technique, its windows and samples served by the core or by the
    Python model on the same timelines. Poisson: a sample's and a window's draws are alike (DRAWN_ALIKE's reason),
    so most replications are the same bit for bit (a window may open at another instant: the core knows every
    reload's end from the start, the Python model when the reload starts)."""
    raw = _hybrid(HYBRID_AGREEMENT[case])
    replications = range(6)
    python, compiled = _python_metrics(raw, replications), _compiled_metrics(raw, replications)
    assert all(m["inference.chat.request_level_share"] < 0.1 for m in compiled)
    if case.startswith("poisson"):
        assert sum(a == b for a, b in zip(python, compiled)) >= 4
    _assert_paired_agree(python, compiled, f"Python - compiled hybrid serving: {case}")


# --- 3. the fast engine with services -----------------------------------------------------------------------

def test_the_compiled_core_names_what_it_lacks() -> None:
    raw = _fleet({"process": "poisson", "rate": "10 /s"})
    assert compiled_serving_gaps(Scenario.model_validate(raw)) == []
    with_canary = {**raw, "inference": [{**raw["inference"][0], "canary": {"steps": [0.5]},
                                         "load_balancer": {"policy": "weighted", "weights": [1, 1, 1, 1]}}]}
    assert compiled_serving_gaps(Scenario.model_validate(with_canary)) == [
        "inference[chat].canary", 'inference[chat].load_balancer.policy = "weighted"']
    hybrid = {**raw, "simulation": {**raw["simulation"], "serving": "hybrid"}}
    assert compiled_serving_gaps(Scenario.model_validate(hybrid)) == []


def test_the_fast_engine_with_compiled_serving_is_deterministic_whatever_the_workers() -> None:
    raw = _fleet({"process": "poisson", "rate": "10 /s"})
    raw["simulation"].update({"engine": "fast", "replications": 4, "horizon": "20 min"})
    sc = Scenario.model_validate(raw)
    one = run_scenario(sc, engine=FastEngine(workers=1))
    two = run_scenario(sc, engine=FastEngine(workers=2))
    assert one.rows == two.rows
    assert all(row["inference.chat.requests"] > 0 for row in one.rows)


def test_the_run_says_where_its_requests_were_served(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = _fleet({"process": "poisson", "rate": "10 /s"})
    raw["simulation"].update({"engine": "fast", "replications": 2, "horizon": "10 min"})
    path = tmp_path / "s.toml"
    for extra, core, line in ((None, "compiled", "by the compiled core"),
                              ({"steps": [0.5]}, "python",
                               "in Python (the compiled core lacks inference[chat].canary)")):
        spec = {**raw["inference"][0], **({"canary": extra} if extra else {})}
        path.write_text(dump_scenario_toml(Scenario.model_validate({**raw, "inference": [spec]})))
        out = tmp_path / core
        assert main([str(path), "--out", str(out)]) == 0
        assert json.loads((out / "summary.json").read_text())["serving_core"] == core
        assert line in " ".join(capsys.readouterr().out.split())  # (the terminal wraps long lines)

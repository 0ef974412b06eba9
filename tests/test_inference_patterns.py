"""The inference model's resilience patterns and capacity features against exact or analytic truths:
M/M/c+D abandonment (the balancer's queue timeout), admission as Erlang loss, rate limits, shedding, the
fallback pool, token timings, the autoscaler's timeline, and a trace file read from a scenario."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from clustersim.engine.simpy_engine import simulate_replication
from clustersim.model.records import Kind
from clustersim.scenario import load_scenario
from clustersim.scenario.schema import Scenario
from clustersim.stats import estimate
from conftest import assert_within_ci, base_scenario
from queueing_truths import erlang_b, mmc_deterministic_patience
from test_inference import _run

S = 1.0 / 3600.0


def _raw(service: dict[str, Any], seconds: float, warmup: float = 0.0, nodes: int = 4, **sections: Any) -> dict:
    spec: dict[str, Any] = {"name": "chat", "replicas": 1, "concurrency": 1, "slo": {"latency": "1000 s",
                                                                                       "window": "1 s"}}
    spec.update(service)
    return base_scenario(simulation={"horizon": f"{seconds} s", "warmup": f"{warmup} s", "replications": 1,
                                     "seed": 5},
                         nodes={"count": nodes, "gpus_per_node": 8, "nodes_per_rack": 4, "failure_modes": []},
                         inference=[spec], **sections)


def _metrics(raw: dict, replications: int) -> list[dict[str, float]]:
    scenario = Scenario.model_validate(raw)
    return [simulate_replication(scenario, k)[0].metrics() for k in range(replications)]


def _ratio(metrics: list[dict[str, float]], name: str) -> list[float]:
    return [m[f"inference.chat.{name}"] / m["inference.chat.requests"] for m in metrics]


def test_queue_timeout_abandonment_is_mmc_plus_d() -> None:
    """M/M/4+D: λ = 9/s, μ = 2/s, patience d = 0.2 s on the queue only (no client timeout): the share of
    attempts that abandon and the mean wait of those served are Baccelli & Hébuterne's exact values."""
    truth = mmc_deterministic_patience(9.0, 2.0, 4, 0.2)
    raw = _raw({"replicas": 4, "arrivals": {"process": "poisson", "rate": "9 /s"},
                "service_time": {"dist": "exponential", "mean": "0.5 s"},
                "load_balancer": {"queue_timeout": "0.2 s"}}, 3600, 60, nodes=4)
    metrics = _metrics(raw, 6)
    assert_within_ci(estimate(_ratio(metrics, "timeouts"), ""), truth["p_abandon"], "abandonment")
    waits = [m["inference.chat.wait_mean_s"] for m in metrics]
    assert_within_ci(estimate(waits, ""), truth["mean_wait_served"], "mean wait of the served")
    assert truth["p_abandon"] > 0.1  # a case where abandonment matters


def test_admission_without_a_queue_is_erlang_loss() -> None:
    """max_queue = 0 turns the pool into M/M/c/c: the refused share is Erlang B (here c = 2, a = 3)."""
    raw = _raw({"replicas": 2, "arrivals": {"process": "poisson", "rate": "6 /s"},
                "service_time": {"dist": "exponential", "mean": "0.5 s"}, "admission": {"max_queue": 0}},
               1800, 30, nodes=2)
    metrics = _metrics(raw, 6)
    assert_within_ci(estimate(_ratio(metrics, "shed"), ""), erlang_b(2, 3.0), "Erlang B")
    served = [1.0 - r for r in _ratio(metrics, "shed")]
    assert_within_ci(estimate([m["inference.chat.success_ratio"] for m in metrics], ""),
                     sum(served) / len(served), "success = admitted")


def _trace(gap_s: float, count: int) -> dict[str, Any]:
    return {"process": "trace", "times": [round(gap_s * i, 9) for i in range(count)]}


def test_rate_limit_token_bucket_passes_every_other_request() -> None:
    """Requests every 50 ms (20/s) into a 10/s bucket of one token: exactly every other one is refused after the
    first, which takes the initial token."""
    raw = _raw({"replicas": 1, "concurrency": 100, "arrivals": _trace(0.05, 200),
                "service_time": {"dist": "deterministic", "value": "1 ms"},
                "rate_limit": {"rate": "10 /s", "burst": 1}}, 20)
    values = _metrics(raw, 1)[0]
    assert values["inference.chat.requests"] == 200
    assert values["inference.chat.rate_limited"] == 100
    assert values["inference.chat.success_ratio"] == 0.5


def test_load_shedding_refuses_what_would_miss_its_deadline() -> None:
    """One slot, service 1 s, timeout 2.5 s, five requests at once: the first is served, the second and third
    queue (expected waits 1 s and 2 s), the fourth and fifth would wait 3 s and 4 s > 2.5 s: shed."""
    raw = _raw({"arrivals": {"process": "trace", "times": [0.0] * 5},
                "service_time": {"dist": "deterministic", "value": "1 s"}, "timeout": "2.5 s",
                "load_shedding": True}, 60)
    values = _metrics(raw, 1)[0]
    assert values["inference.chat.shed"] == 2
    assert values["inference.chat.timeouts"] == 1   # the third starts at 2 s and would end at 3 s > 2.5 s
    assert values["inference.chat.success_ratio"] == pytest.approx(2 / 5)


def test_fallback_pool_answers_when_the_primary_cannot() -> None:
    """A primary whose only replica is killed for 20 s of 60 (and detected at once: fail_fast checks every
    second, one failure marks it) without fail-open: requests in that time go to the fallback pool."""
    raw = _raw({"arrivals": _trace(0.5, 120), "service_time": {"dist": "deterministic", "value": "0.1 s"},
                "dead_replica": "fail_fast", "reload_time": "0 s", "fallback": {"replicas": 1, "concurrency": 1},
                "load_balancer": {"health_check_interval": "1 s", "unhealthy_threshold": 1, "fail_open": False}},
               60, nodes=4, spares={"swap_time": "0 s"},
               chaos=[{"action": "kill_node", "at": "20 s", "node": 0, "duration": "20 s"}])
    values = _metrics(raw, 1)[0]
    fallback = values["inference.chat.fallback"]
    assert 30 <= fallback <= 42   # ~40 requests fall in the outage, less the ones before it is detected
    answered = values["inference.chat.success_ratio"] * 120
    assert answered >= 120 - 4    # at most the requests routed to it before detection fail


def test_token_timings_are_prefill_and_decode() -> None:
    """Deterministic tokens, no waiting: TTFT = prompt × prefill, TPOT = decode (within the histogram's half bin,
    0.58 %)."""
    tokens = {"prompt_tokens": {"dist": "deterministic", "mean": 1000}, "output_tokens": {"dist": "deterministic",
                                                                                         "mean": 100},
              "prefill_per_token": "0.2 ms", "decode_per_token": "30 ms"}
    raw = _raw({"concurrency": 10, "arrivals": _trace(5.0, 20), "tokens": tokens}, 120)
    values = _metrics(raw, 1)[0]
    assert values["inference.chat.ttft_p99_s"] == pytest.approx(0.2, rel=6e-3)
    assert values["inference.chat.tpot_p99_s"] == pytest.approx(0.03, rel=6e-3)
    assert values["inference.chat.latency_p50_s"] == pytest.approx(0.2 + 3.0, rel=6e-3)


def test_autoscaler_scales_up_then_down_after_stabilisation() -> None:
    """Load needing 3 replicas for 60 s, then none: at the first sync (10 s) the autoscaler asks for 3 (two new
    replicas serve after provisioning 5 s + reload 5 s), and gives them back once the 30 s stabilisation window
    holds only low demand."""
    raw = _raw({"replicas": 1, "concurrency": 1, "reload_time": "5 s",
                "arrivals": _trace(1 / 3, 180), "service_time": {"dist": "deterministic", "value": "0.9 s"},
                "autoscaling": {"target": 0.5, "min_replicas": 1, "max_replicas": 3, "sync_period": "10 s",
                                "provisioning": "5 s", "scale_down_stabilization": "30 s"},
                "load_balancer": {"health_check_interval": "1 s", "healthy_threshold": 1}}, 200, nodes=4)
    seen: list[Any] = []
    serving = _run(raw, before_run=seen.append)
    scaler = serving.autoscalers[0]
    assert scaler is not None
    times = [(round(t / S), held) for t, held in scaler.decisions]
    assert times[0] == (10, 3)
    assert times[-1][1] == 1 and 90 <= times[-1][0] <= 110   # load ends at 60 s; 30 s later the window is low
    values = serving.metrics()
    assert 1.0 < values["inference.chat.replicas_mean"] < 3.0


def test_trace_file_is_read_relative_to_the_scenario(tmp_path: Path) -> None:
    (tmp_path / "requests.csv").write_text("time_s,prompt\n0.5,a\n1.0,b\n2.0,c\n")
    text = ('name = "t"\n[simulation]\nhorizon = "1 min"\nreplications = 1\n[nodes]\ncount = 1\ngpus_per_node = 8\n'
            'nodes_per_rack = 1\n[[inference]]\nname = "chat"\nreplicas = 1\ntimeout = "10 s"\n'
            'arrivals = {process = "trace", file = "requests.csv", scale = 2.0}\n'
            'service_time = {dist = "deterministic", value = "0.1 s"}\n')
    (tmp_path / "s.toml").write_text(text)
    scenario = load_scenario(tmp_path / "s.toml")
    arrivals = scenario.inference[0].arrivals
    assert arrivals.process == "trace" and arrivals.times == [0.5, 1.0, 2.0]
    values = simulate_replication(scenario, 0)[0].metrics()
    assert values["inference.chat.requests"] == 3 and values["inference.chat.success_ratio"] == 1.0


def test_requests_hanging_past_their_slo_at_the_horizon_count_as_failed() -> None:
    """No timeout, a dead host that never comes back: requests sent from 10 s hang for ever. At the horizon
    (60 s) those sent before 60 s − slo.latency (1 s) can no longer be good and count as failed; the one sent at
    59 s is undecided and left out: 59 requests, 10 answered."""
    raw = _raw({"arrivals": _trace(1.0, 60), "service_time": {"dist": "deterministic", "value": "0.1 s"},
                "slo": {"latency": "1 s", "window": "1 min"}}, 60, nodes=4,
               chaos=[{"action": "kill_node", "at": "9.5 s", "node": 0, "duration": "1 h"}])
    values = _metrics(raw, 1)[0]
    assert values["inference.chat.requests"] == 59
    assert values["inference.chat.success_ratio"] == pytest.approx(10 / 59)
    assert values["inference.chat.slo_attainment"] == 0.0


def test_reload_waits_for_a_readable_store() -> None:
    """The replica's node is down 20–40 s; the store's only server is down 30–90 s: the replica reloads its
    weights (5 s) only once the store is readable again, so it serves from 95 s (REPLICA rows, hand-worked)."""
    storage = {"servers": 1, "replication": 1, "objects": 1, "placement": "random", "failure_loses_data": False,
               "time_to_failure": {"dist": "deterministic", "value": "30 s"},
               "time_to_repair": {"dist": "deterministic", "value": "60 s"}}
    raw = _raw({"arrivals": _trace(1.0, 100), "service_time": {"dist": "deterministic", "value": "0.1 s"},
                "reload_time": "5 s"}, 110, nodes=4, storage=storage, spares={"swap_time": "0 s"},
               chaos=[{"action": "kill_node", "at": "20 s", "node": 0, "duration": "20 s"}])
    kept: list[Any] = []
    simulate_replication(Scenario.model_validate(raw), 0, [kept.append])
    rows = [row for chunk in kept for row in chunk.tolist() if row[1] == Kind.REPLICA]
    assert [(round(t / S, 6), to) for t, _, _, _, to, _ in rows] == [(20.0, 1), (95.0, 0)]

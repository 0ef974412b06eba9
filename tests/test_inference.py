"""Analytic tests of the inference model (clustersim.workloads.inference) against queueing truths.

Every statistical check compares the mean over n >= 5 independent replications (fixed seeds) with its truth
inside the replications' own Student-t interval (``assert_within_ci``: the 95 % interval widened to 99.9 %);
deterministic cases are checked exactly. Times inside the model are hours; the truths below are in seconds.
"""
from __future__ import annotations

import math
from typing import Any

import pytest

from clustersim.engine.simpy_engine import simulate_replication
from clustersim.scenario.schema import Scenario
from clustersim.stats import estimate
from clustersim.workloads.inference import Serving
from clustersim.workloads.inference.balancer import (
    LatencyAware, LeastOutstanding, PowerOfTwo, RoundRobin, Weighted,
)
from clustersim.workloads.inference.patterns import CLOSED, HALF_OPEN, OPEN
from clustersim.workloads.inference.release import PROMOTED, ROLLED_BACK
from chaos_cases import serve_replication
from conftest import assert_within_ci, base_scenario
from queueing_truths import mean_detection_delay, mmc_mean_wait, mt_m_inf_mean, retry_amplification, retry_success

S = 1.0 / 3600.0  # one second in hours


def _sim(seconds: float, warmup: float = 0.0, seed: int = 3) -> dict[str, Any]:
    return {"horizon": f"{seconds} s", "warmup": f"{warmup} s", "replications": 1, "seed": seed}


def _nodes(count: int = 4) -> dict[str, Any]:
    return {"count": count, "gpus_per_node": 8, "nodes_per_rack": 4, "failure_modes": []}


def _service(**keys: Any) -> dict[str, Any]:
    """One service: defaults for what a case does not set (a generous SLO so success = answered)."""
    spec: dict[str, Any] = {"name": "chat", "replicas": 1, "concurrency": 1,
                            "service_time": {"dist": "deterministic", "value": "0.1 s"},
                            "slo": {"latency": "100 s", "window": "1 s"}}
    spec.update(keys)
    return spec


def _metrics(raw: dict[str, Any], replications: range) -> list[dict[str, float]]:
    sc = Scenario.model_validate(raw)
    return [simulate_replication(sc, k)[0].metrics() for k in replications]


_run = serve_replication


def _check(values: list[float], truth: float, what: str) -> None:
    assert len(values) >= 5
    assert_within_ci(estimate(values, ""), truth, what)


# --- 1. M/M/c: Erlang C ---------------------------------------------------------------------------------

def test_mmc_mean_wait_is_erlang_c() -> None:
    """8 replicas x concurrency 4 = 32 servers, lambda = 56/s, mean service 0.5 s (offered 28, rho = 0.875)."""
    raw = base_scenario(simulation=_sim(1800, warmup=120), nodes=_nodes(8), inference=[_service(
        replicas=8, concurrency=4, arrivals={"process": "poisson", "rate": "56 /s"},
        service_time={"dist": "exponential", "mean": "0.5 s"})])
    runs = _metrics(raw, range(8))
    _check([m["inference.chat.wait_mean_s"] for m in runs], mmc_mean_wait(56.0, 2.0, 32), "M/M/32 mean wait (s)")


# --- 2. timeouts: what the model does, checked exactly on a deterministic trace ----------------------------

def test_timeout_counts_from_sending_and_cuts_service() -> None:
    """The timeout is per attempt and counts from being sent, over the wait AND the service: an attempt still
    queued at its deadline abandons; one whose service would end after its deadline starts, holds its slot
    until the deadline and then times out; one ending exactly at its deadline is answered.

    One server, deterministic service 1 s, timeout 2.5 s, five requests all sent at t = 0 (FIFO):
    #0 waits 0 ends 1 (ok); #1 waits 1 ends 2 (ok); #2 waits 2, would end 3 > 2.5: cut at 2.5 (timeout, slot
    busy until 2.5); #3 waits 2.5 = its deadline: abandons in the queue; #4 the same. So 2 answered, 3
    timeouts. Timeout 1 s: #0 (never queued) ends exactly at its deadline and is answered, #1..#4 abandon.
    Timeout 3.5 s: #0..#2 answered, #3 cut at 3.5 s, #4 abandons. (An attempt that queued and then ends
    exactly at its deadline is cut instead: its queue deadline event runs first; a tie of measure zero.)
    Because a started attempt is cut at its deadline (it does not stay to completion), the pool is not the
    M/M/c+D queue of queueing_truths.mmc_deterministic_patience (patience on the wait only); an exact
    stationary truth for "patience on the sojourn" with c > 1 is not at hand, so this case is deterministic.
    """
    for timeout, answered, timeouts in (("2.5 s", 2, 3), ("1 s", 1, 4), ("3.5 s", 3, 2)):
        raw = base_scenario(simulation=_sim(20), nodes=_nodes(), inference=[_service(
            arrivals={"process": "trace", "times": [0.0] * 5}, timeout=timeout,
            service_time={"dist": "deterministic", "value": "1 s"})])
        m = _metrics(raw, range(1))[0]
        assert m["inference.chat.requests"] == 5
        assert m["inference.chat.timeouts"] == timeouts, timeout
        assert m["inference.chat.success_ratio"] == pytest.approx(answered / 5), timeout


# --- 3. requests lost to a dead replica before the balancer notices ------------------------------------------

@pytest.mark.parametrize("dead_replica", ["hang", "fail_fast"])
def test_requests_lost_to_a_dead_replica(dead_replica: str) -> None:
    """4 replicas, round_robin (each takes every 4th request: concurrency 100, never full), Poisson 20/s,
    service 1 ms, timeout 0.5 s, no retries. Node 0 dies at 30 s (for good). Every attempt sent to its replica
    until the k-th failed health check returns is lost: mean (lambda / 4) x the mean detection delay
    (k - 1/2) interval + check timeout (the first check's phase is uniform per replica), plus the
    (lambda / 4) x 1 ms it was serving at the death. interval 2 s, k = 3, check timeout 1 s. With "hang" a
    lost attempt times out; with "fail_fast" it errors at once, and so does a check (the delay has no check
    timeout: service.py ``_check`` fails a refused check at once)."""
    lam, interval, k, check_timeout, service = 20.0, 2.0, 3, 1.0, 0.001
    raw = base_scenario(simulation=_sim(60), nodes=_nodes(), inference=[_service(
        replicas=4, concurrency=100, arrivals={"process": "poisson", "rate": f"{lam} /s"},
        service_time={"dist": "deterministic", "value": f"{service} s"}, timeout="0.5 s", dead_replica=dead_replica,
        load_balancer={"policy": "round_robin", "health_check_interval": f"{interval} s",
                       "health_check_timeout": f"{check_timeout} s", "unhealthy_threshold": k})],
        chaos=[{"action": "kill_node", "node": 0, "at": "30 s", "duration": "10 h"}])
    runs = _metrics(raw, range(20))
    delay = mean_detection_delay(k, interval, check_timeout if dead_replica == "hang" else 0.0)
    truth = lam / 4 * delay + lam / 4 * service
    lost = [m["inference.chat.requests"] * (1 - m["inference.chat.success_ratio"]) for m in runs]
    _check(lost, truth, f"requests lost to a dead replica ({dead_replica})")
    timeouts = [m["inference.chat.timeouts"] for m in runs]
    assert timeouts == (pytest.approx(lost) if dead_replica == "hang" else [0.0] * len(runs))


# --- 4. retries ---------------------------------------------------------------------------------------------

def _retry_raw(p: float, m: int, budget: float, burst: float) -> dict[str, Any]:
    return base_scenario(simulation=_sim(200, seed=5), nodes=_nodes(), inference=[_service(
        replicas=2, concurrency=1000, arrivals={"process": "poisson", "rate": "100 /s"}, error_rate=p,
        service_time={"dist": "deterministic", "value": "0.01 s"},
        retries={"max_attempts": m, "budget": budget, "budget_burst": burst})])


def test_retry_amplification_without_budget() -> None:
    """error_rate p = 0.3, max_attempts m = 3: attempts per request (1 - p^m) / (1 - p) = 1.39, success
    1 - p^m = 0.973. No budget binds: a budget of 100 retries per request with a 1e9 burst (``budget``
    omitted in TOML means the 0.2 default, not "no budget")."""
    p, m = 0.3, 3
    runs = _metrics(_retry_raw(p, m, 100.0, 1e9), range(8))
    _check([r["inference.chat.retry_amplification"] for r in runs], retry_amplification(p, m), "amplification")
    _check([r["inference.chat.success_ratio"] for r in runs], retry_success(p, m), "success after retries")


def test_retry_budget_caps_amplification() -> None:
    """The same with a budget of b = 0.1 retries per request (< p + p^2 = 0.39 wanted), burst 10: retries are
    at most b x requests sent + burst, so amplification <= 1 + b + (burst + b x pending) / requests, where
    pending (sent, unresolved at the horizon) is at most 100/s x (0.01 s + backoffs) < 10. The bucket stays
    nearly empty, so the amplification is also close to 1 + b (checked to within the burst's share)."""
    b, burst = 0.1, 10.0
    for r in _metrics(_retry_raw(0.3, 3, b, burst), range(2)):
        requests = r["inference.chat.requests"]
        amplification = r["inference.chat.retry_amplification"]
        print(f"budget {b}: amplification {amplification:.5f}, bound {1 + b + (burst + b * 10) / requests:.5f}, "
              f"success {r['inference.chat.success_ratio']:.4f}")
        assert amplification <= 1 + b + (burst + b * 10) / requests
        assert amplification >= 1 + b - (burst + b * 10) / requests
        assert r["inference.chat.success_ratio"] < retry_success(0.3, 3)


# --- 5. circuit breaker ---------------------------------------------------------------------------------------

def test_breaker_timeline() -> None:
    """One replica, fail_fast, its node down from 0.5 s to 3.5 s, reload 0.5 s (serves again at 4 s); breaker
    minimum_calls 2, threshold 0.5, open 2 s, 1 half-open call; service 0.1 s; requests at
    1.0 (refused: error), 1.2 (error: opens at 1.2), 2.0 (open: unavailable), 3.3 (half-open trial, refused:
    opens again at 3.3), 4.5 (open, 1.2 s < 2 s), 5.5 (half-open trial, served, closes at 5.6), 6.0 (ok)."""
    times = [1.0, 1.2, 2.0, 3.3, 4.5, 5.5, 6.0]
    raw = base_scenario(simulation=_sim(10), nodes=_nodes(), inference=[_service(
        arrivals={"process": "trace", "times": times}, dead_replica="fail_fast", reload_time="0.5 s",
        load_balancer={"health_check_interval": "1000 h"},
        circuit_breaker={"minimum_calls": 2, "error_threshold": 0.5, "window": "10 s", "open_duration": "2 s",
                         "half_open_calls": 1})],
        chaos=[{"action": "kill_node", "node": 0, "at": "0.5 s", "duration": "3 s"}],
        spares={"swap_time": "0 s"})  # the node back at 3.5 s refills its position at once
    serving = _run(raw)
    changes = serving.services[0].pool.replicas[0].breaker.changes
    want = [(1.2, OPEN), (3.3, HALF_OPEN), (3.3, OPEN), (5.5, HALF_OPEN), (5.6, CLOSED)]
    assert [state for _, state in changes] == [state for _, state in want]
    assert [t / S for t, _ in changes] == pytest.approx([t for t, _ in want])
    m = serving.metrics()
    assert m["inference.chat.requests"] == 7
    assert m["inference.chat.success_ratio"] == pytest.approx(2 / 7)


# --- 6. canary ---------------------------------------------------------------------------------------------

def _canary_raw(error_rate: float) -> dict[str, Any]:
    return base_scenario(simulation=_sim(120), nodes=_nodes(), inference=[_service(
        replicas=2, concurrency=100, arrivals={"process": "poisson", "rate": "50 /s"},
        service_time={"dist": "deterministic", "value": "0.05 s"},
        canary={"steps": [0.1, 0.2, 0.5], "analysis_interval": "10 s", "error_rate": error_rate,
                "max_error_rate": 0.01, "failed_checks": 3})])


def test_bad_canary_rolls_back_after_failed_checks() -> None:
    """Canary error rate 0.5 vs max 0.01: every check fails (each interval sees ~50 canary calls; P(no error)
    = 2^-50), so the rollback comes at failed_checks x analysis_interval = 3 x 10 s = 30 s exactly."""
    serving = _run(_canary_raw(0.5))
    assert serving.metrics()["inference.chat.release.rollback_s"] == pytest.approx(30.0)
    release = serving.services[0].release
    assert release.state == ROLLED_BACK and release.timeline[-1][2] == 0.0


def test_good_canary_is_promoted() -> None:
    """A canary without errors (p99 0.05 s < 0.5 s) passes each step and is promoted after 3 x 10 s."""
    serving = _run(_canary_raw(0.0))
    assert serving.metrics()["inference.chat.release.rollback_s"] is None
    release = serving.services[0].release
    time, state, share = release.timeline[-1]
    assert (state, share) == (PROMOTED, 1.0)
    assert time / S == pytest.approx(30.0)


# --- 7. load-balancing policies on fake replicas --------------------------------------------------------

class _Fake:
    def __init__(self, index: int, outstanding: int = 0, latency: float = 1.0) -> None:
        self.index, self.outstanding, self.latency_ewma = index, outstanding, latency


class _Uniforms:
    def __init__(self, values: list[float]) -> None:
        self.values = iter(values)

    def uniform(self) -> float:
        return next(self.values)


def test_round_robin_alternates() -> None:
    reps = [_Fake(i) for i in range(3)]
    policy = RoundRobin()
    assert [policy.pick(reps, 0.0).index for _ in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    assert policy.pick([reps[0], reps[2]], 0.0).index == 2  # 1 is full: the next free in turn


def test_weighted_splits_by_weight() -> None:
    reps = [_Fake(0), _Fake(1)]
    policy = Weighted([3.0, 1.0])
    picks = [policy.pick(reps, 0.0).index for _ in range(400)]
    assert picks.count(0) == 300 and picks.count(1) == 100
    assert picks[:4].count(0) == 3  # smooth: every 4 picks hold the 3:1 split


def test_least_outstanding_picks_the_idle_one() -> None:
    reps = [_Fake(0, 3), _Fake(1, 0), _Fake(2, 2)]
    assert LeastOutstanding().pick(reps, 0.0).index == 1


def test_power_of_two_never_picks_the_busier() -> None:
    reps = [_Fake(0, 5), _Fake(1, 1), _Fake(2, 3)]
    grid = [i / 10 + 0.05 for i in range(10)]
    for u1 in grid:
        for u2 in grid:
            policy = PowerOfTwo(_Uniforms([u1, u2]))
            first = int(u1 * 3)
            second = int(u2 * 2)
            pair = {first, second + (second >= first)}
            assert len(pair) == 2
            chosen = policy.pick(reps, 0.0)
            assert chosen.index in pair
            assert chosen.outstanding == min(reps[i].outstanding for i in pair)


def test_latency_aware_prefers_the_faster() -> None:
    reps = [_Fake(0), _Fake(1)]
    policy = LatencyAware(ewma_hours=10 * S)
    policy.answered(reps[0], 2.0 * S, 0.0)   # slow replica
    policy.answered(reps[1], 0.5 * S, 0.0)   # fast replica
    assert [policy.pick(reps, 0.0).index for _ in range(3)] == [1, 1, 1]
    reps[1].outstanding = 3                   # 0.5 x 4 = 2 > 2 x 1: now the slow idle one costs less
    assert policy.pick(reps, 0.0).index == 0
    # a lower latency decays in with the time constant: after one ewma_time, e^-1 of the old value is kept
    policy.answered(reps[0], 1.0 * S, 10 * S)
    assert reps[0].latency_ewma / S == pytest.approx(math.exp(-1) * 2.0 + (1 - math.exp(-1)) * 1.0)


def test_latency_aware_in_the_model_sends_more_to_the_fast_replica() -> None:
    """Two replicas, replica 1 at speed 0.25 (set on the replica: its service takes 4x): latency_aware must
    send most requests to the fast one (answers counted through the policy's ``answered``)."""
    raw = base_scenario(simulation=_sim(60), nodes=_nodes(), inference=[_service(
        replicas=2, concurrency=50, arrivals={"process": "poisson", "rate": "20 /s"},
        service_time={"dist": "deterministic", "value": "0.1 s"},
        load_balancer={"policy": "latency_aware", "ewma_time": "5 s"})])
    counts = [0, 0]

    def count(serving: Serving) -> None:
        pool = serving.services[0].pool
        pool.replicas[1].speed = 0.25
        policy = pool.policy
        original = policy.answered

        def answered(replica: Any, latency: float, now: float) -> None:
            counts[replica.index] += 1
            original(replica, latency, now)
        policy.answered = answered  # type: ignore[method-assign]

    _run(raw, before_run=count)
    print(f"latency_aware answers: fast {counts[0]}, slow {counts[1]}")
    assert counts[0] > 3 * counts[1] > 0, counts


# --- 8. diurnal arrivals: M_t/M/inf mean occupancy -------------------------------------------------------

def test_diurnal_occupancy_is_mt_m_inf() -> None:
    """Rate 20..100 /s over a 60 s period (peak at 0), exponential service mean 10 s (mu = 0.1/s ~ omega =
    0.105/s: the occupancy's peak lags the rate's by ~7.6 s and swings less). 8 replicas x concurrency 2000:
    nobody waits. Empty at t0 = 0; sampled at 4 phases of the 4th period; truth m(t) of [EMW93] with t0."""
    trough, peak, period, mean_s = 20.0, 100.0, 60.0, 10.0
    raw = base_scenario(simulation=_sim(230), nodes=_nodes(8), inference=[_service(
        replicas=8, concurrency=2000,
        arrivals={"process": "diurnal", "trough": f"{trough} /s", "peak": f"{peak} /s", "period": f"{period} s",
                  "peak_at": "0 s"},
        service_time={"dist": "exponential", "mean": f"{mean_s} s"})])
    sample_at = [180.0, 195.0, 210.0, 225.0]
    samples: list[list[float]] = []
    for k in range(6):
        seen: list[float] = []

        def plan(serving: Serving, seen: list[float] = seen) -> None:
            pool = serving.services[0].pool

            def sample(_arg: object) -> None:
                assert not pool.queued
                seen.append(float(sum(r.outstanding for r in pool.active)))
            for t in sample_at:
                serving.loop.at(t * S, sample)
        _run(raw, k, before_run=plan)
        samples.append(seen)
    for j, t in enumerate(sample_at):
        truth = mt_m_inf_mean(t, trough, peak, period, 0.0, 1 / mean_s, t0=0.0)
        _check([s[j] for s in samples], truth, f"M_t/M/inf occupancy at {t} s")


# --- determinism and failures ---------------------------------------------------------------------------

def test_same_seed_same_metrics() -> None:
    raw = base_scenario(simulation=_sim(60), nodes=_nodes(), inference=[_service(
        replicas=3, concurrency=2, arrivals={"process": "poisson", "rate": "40 /s"}, timeout="1 s",
        service_time={"dist": "exponential", "mean": "0.1 s"}, error_rate=0.05, retries={"max_attempts": 2})])
    first, second = _metrics(raw, range(1))[0], _metrics(raw, range(1))[0]
    assert first == second
    assert _metrics(raw, range(1, 2))[0] != first


def test_node_failures_with_spares_lower_availability() -> None:
    """Node crashes (mean 2 h) with hot spares: the replica is down while a spare joins and it reloads."""
    raw = base_scenario(
        simulation={"horizon": "20 h", "replications": 1, "seed": 9},
        nodes={"count": 4, "gpus_per_node": 8, "nodes_per_rack": 4, "failure_modes": [
            {"name": "crash", "time_to_failure": {"dist": "exponential", "mean": "2 h"}, "recovery": "reboot",
             "time_to_repair": {"dist": "deterministic", "value": "1 h"}}]},
        spares={"hot": 2},
        inference=[_service(replicas=2, arrivals={"process": "poisson", "rate": "1 /s"}, reload_time="60 s",
                            timeout="5 s")])
    m = _metrics(raw, range(1))[0]
    assert 0.0 < m["inference.chat.availability"] < 1.0
    assert m["inference.chat.capacity_availability"] < 1.0
    assert m["inference.chat.requests"] > 0

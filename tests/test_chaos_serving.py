"""The serving actions of [[chaos]] (workloads/inference/injections): hand-worked cases with exact answers.

Most cases use a deterministic client: one request every second, at half seconds (a trace), a deterministic
0.1 s service time and room for every request (no queue), so every request's fate is known. Times inside the
model are hours; the cases below count in seconds.
"""
from __future__ import annotations

import math
from typing import Any

import pytest

from clustersim.engine.simpy_engine import simulate_replication
from clustersim.errors import ScenarioError
from clustersim.layout import compiled_serving_gaps, layout_of, serving_technique
from clustersim.scenario import scenario_from_dict
from clustersim.scenario.schema import Scenario
from clustersim.workloads.inference import Serving
from chaos_cases import serve_replication
from conftest import base_scenario

S = 1.0 / 3600.0  # one second in hours


def _every_second(seconds: int) -> dict[str, Any]:
    """One request each second, at k + 0.5 s (so no request falls on a whole-second boundary)."""
    return {"process": "trace", "times": [k + 0.5 for k in range(seconds)]}


def _service(name: str = "chat", **keys: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": name, "replicas": 2, "concurrency": 64, "arrivals": _every_second(10800),
                            "service_time": {"dist": "deterministic", "value": "0.1 s"},
                            "slo": {"latency": "100 s", "window": "60 s"}}
    spec.update(keys)
    return spec


def _raw(chaos: list[dict[str, Any]], seconds: int = 10800, services: list[dict[str, Any]] | None = None,
         **sections: Any) -> dict[str, Any]:
    return base_scenario(simulation={"horizon": f"{seconds} s", "replications": 1, "seed": 5},
                         inference=services if services is not None else [_service()], chaos=chaos, **sections)


def _metrics(raw: dict[str, Any], k: int = 0) -> dict[str, float]:
    return simulate_replication(Scenario.model_validate(raw), k)[0].metrics()


def _latencies(raw: dict[str, Any]) -> list[tuple[float, float, bool]]:
    """(sent s, latency s, answered) of every request of the first service, as it resolves."""
    seen: list[tuple[float, float, bool]] = []

    def watch(serving: Serving) -> None:
        measures = serving.services[0].measures
        resolved = measures.resolved

        def spy(sent: float, counted: bool, now: float, answered: bool, attempts: int) -> None:
            seen.append((sent / S, (now - sent) / S, answered))
            resolved(sent, counted, now, answered, attempts)
        measures.resolved = spy  # type: ignore[method-assign]
    _serve(raw, watch)
    return seen


def _serve(raw: dict[str, Any], before_run: Any) -> Serving:
    return serve_replication(raw, 0, before_run)


HOUR = {"at": "1 h", "duration": "1 h"}  # the second hour of three


# --- delay_replicas ------------------------------------------------------------------------------------------

def test_a_delay_on_every_replica_adds_exactly_its_latency_to_the_requests_sent_in_its_hour() -> None:
    seen = _latencies(_raw([{"action": "delay_replicas", "service": "chat", "added_latency": "2 s", **HOUR}]))
    assert len(seen) == 10800 and all(answered for _, _, answered in seen)
    for sent, latency, _ in seen:
        assert latency == pytest.approx(2.1 if 3600 <= sent < 7200 else 0.1, abs=1e-6)


def test_a_delay_on_one_of_two_round_robin_replicas_slows_every_other_request_of_its_hour() -> None:
    """round_robin alternates: exactly 1800 of the hour's 3600 requests meet the delayed replica; an SLO of 1 s
    makes each of them bad: success_ratio = 1 - 1800/10800."""
    service = _service(load_balancer={"policy": "round_robin"}, slo={"latency": "1 s", "window": "60 s"})
    raw = _raw([{"action": "delay_replicas", "service": "chat", "replicas": 1, "added_latency": "2 s", **HOUR}],
               services=[service])
    seen = _latencies(raw)
    slow = [sent for sent, latency, _ in seen if latency > 1.0]
    assert len(slow) == 1800 and all(3600 <= sent < 7200 for sent in slow)
    assert _metrics(raw)["inference.chat.success_ratio"] == pytest.approx(1 - 1800 / 10800, abs=1e-12)


# --- error_replicas ------------------------------------------------------------------------------------------

def test_errors_on_every_replica_fail_exactly_the_requests_sent_during_the_injection() -> None:
    values = _metrics(_raw([{"action": "error_replicas", "service": "chat", "error_rate": 1.0, **HOUR}]))
    assert values["inference.chat.requests"] == 10800
    assert values["inference.chat.success_ratio"] == pytest.approx(2 / 3, abs=1e-12)


def test_errors_at_a_rate_fail_a_binomial_share_of_the_hour() -> None:
    """error_rate 0.3 over the hour's 3600 requests: failures ~ Binomial(3600, 0.3), mean 1080, sd 27.5."""
    values = _metrics(_raw([{"action": "error_replicas", "service": "chat", "error_rate": 0.3, **HOUR}]))
    failed = (1 - values["inference.chat.success_ratio"]) * 10800
    assert abs(failed - 1080) < 4 * math.sqrt(3600 * 0.3 * 0.7)


def test_a_retry_goes_round_the_failing_replica() -> None:
    """One of two round-robin replicas fails everything for an hour: a failed attempt is retried (the budget never
    limits) within 0.05 s, before the next request, on the other replica, which moves the round-robin cursor back
    to the failing one: from its first failure on, every request of the hour fails once and is answered on its
    retry (3600 extra attempts, or 3599 when the hour's first request met the good replica)."""
    service = _service(load_balancer={"policy": "round_robin"}, retries={"max_attempts": 3, "budget": 2})
    values = _metrics(_raw([{"action": "error_replicas", "service": "chat", "replicas": 1, "error_rate": 1.0,
                             **HOUR}], services=[service]))
    assert values["inference.chat.success_ratio"] == 1.0
    extra = round((values["inference.chat.retry_amplification"] - 1) * 10800)
    assert extra in (3599, 3600)


# --- health_check_outage -------------------------------------------------------------------------------------

def _blind(fail_open: bool) -> dict[str, Any]:
    lb = {"health_check_interval": "10 s", "health_check_timeout": "1 s", "unhealthy_threshold": 3,
          "fail_open": fail_open}
    return _raw([{"action": "health_check_outage", "service": "chat", "at": "1 h", "duration": "600 s"}],
                services=[_service(replicas=1, load_balancer=lb)])


def test_a_health_check_outage_without_fail_open_takes_the_service_down_after_detection() -> None:
    """600 s of failing checks every 10 s: the replica is marked unhealthy 2 x 10 + 1 s after the first failed
    check and healthy again at the first check after the outage, 600 s after the first failed one: 579 s
    without a routable replica, so exactly 579 of the one-a-second requests fail (no retries)."""
    values = _metrics(_blind(fail_open=False))
    assert values["inference.chat.success_ratio"] == pytest.approx(1 - 579 / 10800, abs=1e-12)
    assert values["inference.chat.availability"] == 1.0  # the replica served all along


def test_a_health_check_outage_with_fail_open_costs_nothing() -> None:
    assert _metrics(_blind(fail_open=True))["inference.chat.success_ratio"] == 1.0


# --- bad_release ---------------------------------------------------------------------------------------------

def test_a_bad_release_without_a_canary_takes_all_traffic_for_its_duration() -> None:
    values = _metrics(_raw([{"action": "bad_release", "service": "chat", "error_rate": 1.0, **HOUR}]))
    assert values["inference.chat.release.bad_requests"] == 3600
    assert values["inference.chat.release.rollback_s"] == pytest.approx(3600, abs=1e-6)
    assert values["inference.chat.success_ratio"] == pytest.approx(2 / 3, abs=1e-12)


def test_a_bad_release_through_the_canary_is_rolled_back_by_its_analysis() -> None:
    """Steps 10 % then 20 %, checks every 60 s, 2 failed checks roll back: the bad version fails both checks, so
    it is rolled back 120 s after its start, having taken ~10 % of those 120 requests (each one bad)."""
    canary = {"start": "100 h", "steps": [0.1, 0.2], "analysis_interval": "60 s", "failed_checks": 2}
    raw = _raw([{"action": "bad_release", "service": "chat", "error_rate": 1.0, **HOUR}],
               services=[_service(canary=canary)])
    values = _metrics(raw)
    assert values["inference.chat.release.rollback_s"] == pytest.approx(120, abs=1e-6)
    bad = values["inference.chat.release.bad_requests"]
    assert 1 <= bad <= 40
    assert values["inference.chat.success_ratio"] == pytest.approx(1 - bad / 10800, abs=1e-12)


def test_a_bad_release_after_the_canarys_own_promoted_one_still_takes_its_share() -> None:
    """The canary's own (good) release is promoted 60 s in (one step, 50 %, passed); the bad version released at
    1 h takes 50 % of the attempts until the canary rolls it back after two failed checks (120 s): ~60 bad
    requests (Binomial(120, 0.5): sd 5.5), the rollback time that of the bad release alone."""
    canary = {"start": "0 h", "steps": [0.5], "analysis_interval": "60 s", "failed_checks": 2}
    raw = _raw([{"action": "bad_release", "service": "chat", "error_rate": 1.0, **HOUR}],
               services=[_service(canary=canary)])
    values = _metrics(raw)
    assert abs(values["inference.chat.release.bad_requests"] - 60) < 4 * math.sqrt(30)
    assert values["inference.chat.release.rollback_s"] == pytest.approx(120, abs=1e-6)


def test_a_slow_release_the_canary_promotes_is_rolled_back_by_hand_at_its_end() -> None:
    """latency_factor 3 (0.3 s, under the 0.5 s p99 bound) passes both checks: promoted 120 s after its start,
    it then serves every request until 30 min after the start, when it is rolled back."""
    canary = {"start": "100 h", "steps": [0.1, 0.2], "analysis_interval": "60 s", "failed_checks": 2}
    raw = _raw([{"action": "bad_release", "service": "chat", "latency_factor": 3.0, "at": "1 h",
                 "duration": "30 min"}], services=[_service(canary=canary)])
    assert _metrics(raw)["inference.chat.release.rollback_s"] == pytest.approx(1800, abs=1e-6)
    slow = [sent for sent, latency, _ in _latencies(raw) if latency > 0.2]
    assert all(3600 <= sent < 5400 for sent in slow)
    assert sum(sent >= 3720 for sent in slow) == 5400 - 3720  # all of them once promoted


# --- traffic_surge -------------------------------------------------------------------------------------------

def _poisson_services() -> list[dict[str, Any]]:
    poisson = {"process": "poisson", "rate": "1 /s"}
    return [_service(arrivals=poisson), _service("other", arrivals=poisson)]


def test_a_surge_times_three_adds_twice_the_rate_for_its_hour_and_reaches_nothing_else() -> None:
    """x3 for 1 h of 10 h at 1 /s: + Poisson(2 x 3600) requests (sd 85), the service's own arrivals the same;
    the other service, the nodes and the job are the same bit for bit."""
    services = _poisson_services()
    training = [{"name": "job", "nodes": 1, "checkpoint_interval": "1 h", "checkpoint_cost": "1 min",
                 "restart_overhead": "5 min"}]
    nodes = {"count": 6, "gpus_per_node": 8, "nodes_per_rack": 3, "failure_modes": [
        {"name": "crash", "time_to_failure": {"dist": "exponential", "mean": "20 h"},
         "time_to_repair": {"dist": "exponential", "mean": "1 h"}}]}
    surge = [{"name": "surge", "action": "traffic_surge", "service": "chat", "factor": 3.0, "at": "2 h",
              "duration": "1 h"}]
    for k in range(3):
        control = _metrics(_raw([], 36000, services, nodes=nodes, training=training), k)
        treated = _metrics(_raw(surge, 36000, services, nodes=nodes, training=training), k)
        assert set(control) == set(treated)
        extra = treated["inference.chat.requests"] - control["inference.chat.requests"]
        assert abs(extra - 7200) < 4 * math.sqrt(7200)
        untouched = [m for m in control if not m.startswith("inference.chat.")]
        assert any(m.startswith("training.job.") for m in untouched) and "nodes.failures" in untouched
        assert all(control[m] == treated[m] or (math.isnan(control[m]) and math.isnan(treated[m]))
                   for m in untouched)


def test_a_surge_below_one_drops_a_binomial_share_of_the_hour() -> None:
    values = _metrics(_raw([{"action": "traffic_surge", "service": "chat", "factor": 0.5, **HOUR}]))
    dropped = 10800 - values["inference.chat.requests"]
    assert abs(dropped - 1800) < 4 * math.sqrt(3600 * 0.25)


# --- repeats, plan and validation ----------------------------------------------------------------------------

def test_an_injection_repeats_with_every() -> None:
    """A 10 min delay every hour from 0.5 h: 3 injections (0.5, 1.5, 2.5 h) of 600 requests each."""
    chaos = [{"action": "delay_replicas", "service": "chat", "added_latency": "2 s", "at": "30 min",
              "every": "1 h", "duration": "10 min"}]
    slow = [sent for sent, latency, _ in _latencies(_raw(chaos)) if latency > 1.0]
    assert len(slow) == 1800
    assert {int(sent // 3600) for sent in slow} == {0, 1, 2}


def test_a_serving_injection_is_no_failure_cause_serves_request_level_and_in_python() -> None:
    sc = scenario_from_dict(_raw([{"name": "slow", "action": "delay_replicas", "service": "chat",
                                   "added_latency": "1 s", **HOUR},
                                  {"name": "kill", "action": "kill_node", "node": 0, **HOUR}]))
    assert "slow" not in sc.cause_names and "kill" in sc.cause_names
    assert layout_of(sc).chaos_causes == (-1, len(sc.cause_names) - 1)
    assert serving_technique(sc) == "requests"  # (a trace; a hybrid run keeps a window open over an injection)
    assert compiled_serving_gaps(sc) == ["chaos[slow] (delay_replicas)"]


@pytest.mark.parametrize(("chaos", "line"), [
    ({"action": "delay_replicas", "service": "chat", **HOUR},
     'chaos[0].added_latency: missing required key (action = "delay_replicas" needs the time added to each '
     'attempt)'),
    ({"action": "error_replicas", "error_rate": 0.5, **HOUR},
     'chaos[0].service: missing required key (action = "error_replicas" needs an [[inference]] service)'),
    ({"action": "error_replicas", "service": "chat", "error_rate": 0.5, "added_latency": "1 s", **HOUR},
     'chaos[0].added_latency: applies to action = "delay_replicas" only'),
    ({"action": "traffic_surge", "service": "chat", "factor": 0.5, "replicas": 1, **HOUR},
     'chaos[0].replicas: applies to action = "delay_replicas" or "error_replicas" only'),
    ({"action": "bad_release", "service": "chat", **HOUR},
     'chaos[0].error_rate: action = "bad_release" needs error_rate or latency_factor (or both)'),
    ({"action": "kill_node", "service": "chat", **HOUR}, "chaos[0].service: kill_node takes 'node', not 'service'"),
    ({"action": "health_check_outage", "service": "chat", "node": 1, **HOUR},
     "chaos[0].node: health_check_outage takes 'service', not 'node'"),
    ({"action": "health_check_outage", "service": "chatt", **HOUR},
     "chaos[0].service: no [[inference]] service is named 'chatt' (services: 'chat')"),
    ({"action": "error_replicas", "service": "chat", "replicas": 3, "error_rate": 0.5, **HOUR},
     "chaos[0].replicas: 3 is more than service 'chat' has (2)"),
    ({"action": "traffic_surge", "service": "chat", "factor": 2.0, **HOUR},
     "chaos[0].factor: a surge above 1 adds Poisson arrivals at (factor − 1) × the rate, which trace arrivals of "
     "'chat' do not have (use poisson or diurnal arrivals, or a factor ≤ 1)"),
])
def test_a_bad_serving_injection_is_one_line(chaos: dict[str, Any], line: str) -> None:
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(_raw([chaos]), source="s.toml")
    assert str(err.value).splitlines() == [f"s.toml: {line}"]


@pytest.mark.parametrize(("chaos", "lb", "bad"), [
    ({"action": "delay_replicas", "added_latency": "2 s", "at": "10 h", "duration": "1 h"}, {}, 5 * 3600),
    ({"action": "health_check_outage", "at": "10 h", "duration": "600 s"},
     {"health_check_interval": "10 s", "health_check_timeout": "1 s", "unhealthy_threshold": 3, "fail_open": False},
     5 * 579),
])
def test_the_hybrid_technique_simulates_an_injection_request_by_request(chaos: dict[str, Any], lb: dict[str, Any],
                                                                       bad: int) -> None:
    """48 h at 5 /s (864,000 requests) served hybrid, with no failure but the injection: its window is simulated
    request by request, so its bad requests are those a request-level run has (a 2 s delay for 1 h: 18,000 late;
    a 600 s health-check outage of a lone replica without fail_open: 579 s x 5 /s = 2,895 failed), give or take
    Poisson noise, and only a little of the horizon is simulated request by request."""
    service = _service(replicas=1 if lb else 2, arrivals={"process": "poisson", "rate": "5 /s"},
                       service_time={"dist": "deterministic", "value": "0.2 s"},
                       slo={"latency": "1 s", "window": "60 s"}, load_balancer=lb)
    raw = _raw([{"service": "chat", **chaos}], 48 * 3600, [service])
    raw["simulation"]["serving"] = "hybrid"
    values = _metrics(raw)
    requests = values["inference.chat.requests"]
    assert abs(requests - 864000) < 4 * math.sqrt(864000) + 0.01 * 864000
    assert abs((1 - values["inference.chat.success_ratio"]) * requests - bad) < 4 * math.sqrt(bad) + 30
    share = values["inference.chat.request_level_share"]
    assert chaos["duration"] == "1 h" and share >= 1 / 48 or chaos["duration"] == "600 s" and share >= 1 / 288
    assert share < 0.1

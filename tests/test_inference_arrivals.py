"""Arrival processes and service draws of inference services: the statistics they promise, exactly or within
4 standard deviations of the count or mean they estimate (a fixed seed, so a pass is reproducible; 4 sd is
a two-sided miss chance of 6e-5 per check for a sound generator)."""
from __future__ import annotations

import bisect
import math

import numpy as np
import pytest

from clustersim.scenario.sections.inference import (
    BurstyArrivals, DiurnalArrivals, Inference, PoissonArrivals, TokenLaw, TraceArrivals,
)
from clustersim.workloads.inference.arrivals import (
    BLOCK, BurstyProcess, DiurnalProcess, Draws, PoissonProcess, ServiceDraws, TraceProcess, arrivals_of,
    service_draws, token_counts,
)

H = 3600.0  # seconds per hour
Z = 4.0     # standard deviations allowed


def until(process: object, horizon: float) -> list[float]:
    """Arrival times up to ``horizon`` hours (checking they never go back)."""
    times: list[float] = []
    nxt = process.next  # type: ignore[attr-defined]
    t = nxt()
    while t <= horizon:
        assert not times or t >= times[-1]
        times.append(t)
        t = nxt()
    return times


def draws(seed: int) -> Draws:
    return Draws(np.random.default_rng(seed))


# --- Draws ------------------------------------------------------------------------------------------------

def test_draws_equal_numpys_own_blocks() -> None:
    d, rng = draws(7), np.random.default_rng(7)
    got = [d.exponential() for _ in range(5000)]
    want = np.concatenate([rng.standard_exponential(BLOCK), rng.standard_exponential(BLOCK)])[:5000]
    assert got == want.tolist()


def test_draws_refill_each_kind_lazily_in_call_order() -> None:
    d, rng = draws(8), np.random.default_rng(8)
    first_e, first_u = d.exponential(), d.uniform()
    assert first_e == rng.standard_exponential(BLOCK)[0]
    uniforms = rng.random(BLOCK)
    assert first_u == uniforms[0]
    assert [d.uniform() for _ in range(BLOCK - 1)] == uniforms[1:].tolist()
    assert all(0.0 <= u < 1.0 for u in uniforms)
    assert isinstance(first_e, float) and isinstance(first_u, float)


# --- poisson ----------------------------------------------------------------------------------------------

def test_poisson_count_matches_rate() -> None:
    spec = PoissonArrivals.model_validate({"process": "poisson", "rate": "40 /s"})
    process = arrivals_of(spec, draws(1))
    assert isinstance(process, PoissonProcess)
    horizon = 3.0
    n = len(until(process, horizon))
    expected = 40.0 * H * horizon
    assert abs(n - expected) < Z * math.sqrt(expected)  # a Poisson count: sd = sqrt(mean)


def test_poisson_starts_at_start_hours() -> None:
    spec = PoissonArrivals.model_validate({"process": "poisson", "rate": "10 /s"})
    start, horizon = 5.0, 1.0
    times = until(arrivals_of(spec, draws(2), start_hours=start), start + horizon)
    assert times[0] > start
    expected = 10.0 * H * horizon
    assert abs(len(times) - expected) < Z * math.sqrt(expected)


# --- diurnal ----------------------------------------------------------------------------------------------

DIURNAL = {"process": "diurnal", "trough": "1 /s", "peak": "9 /s", "period": "100 s", "peak_at": "30 s"}


def integral_per_s(trough: float, peak: float, period: float, peak_at: float, a: float, b: float) -> float:
    """∫_a^b λ(t) dt with λ in per second and times in hours (so the result is per second × hours)."""
    w = 2.0 * math.pi / period
    swing = (peak - trough) / 2.0
    return (trough + swing) * (b - a) + swing / w * (math.sin(w * (b - peak_at)) - math.sin(w * (a - peak_at)))


def test_diurnal_rate_curve() -> None:
    spec = DiurnalArrivals.model_validate(DIURNAL)
    process = arrivals_of(spec, draws(3))
    assert isinstance(process, DiurnalProcess)
    assert process.rate_per_s(spec.peak_at) == pytest.approx(9.0)
    assert process.rate_per_s(spec.peak_at + spec.period / 2) == pytest.approx(1.0)
    assert process.rate_per_s(spec.peak_at + spec.period / 4) == pytest.approx(5.0)
    assert process.rate_per_s(spec.peak_at + 3 * spec.period) == pytest.approx(9.0)


def test_diurnal_counts_per_phase_bin_follow_the_rate_integral() -> None:
    spec = DiurnalArrivals.model_validate(DIURNAL)
    periods, bins = 1000, 8
    times = np.array(until(arrivals_of(spec, draws(4)), periods * spec.period))
    phase = np.mod(times, spec.period) / spec.period
    counts = np.bincount(np.minimum((phase * bins).astype(int), bins - 1), minlength=bins)
    width = spec.period / bins
    for j in range(bins):
        # counts in disjoint intervals are independent Poisson counts: sd = sqrt(mean)
        expected = periods * H * integral_per_s(spec.trough, spec.peak, spec.period, spec.peak_at,
                                                j * width, (j + 1) * width)
        assert abs(counts[j] - expected) < Z * math.sqrt(expected), (j, counts[j], expected)
    total = periods * spec.period * H * spec.mean_rate_per_s
    assert abs(len(times) - total) < Z * math.sqrt(total)


def test_diurnal_flat_curve_is_poisson() -> None:
    spec = DiurnalArrivals.model_validate({**DIURNAL, "trough": "5 /s", "peak": "5 /s"})
    horizon = 2.0
    n = len(until(arrivals_of(spec, draws(5)), horizon))
    expected = 5.0 * H * horizon
    assert abs(n - expected) < Z * math.sqrt(expected)


# --- bursty -----------------------------------------------------------------------------------------------

BURSTY = {"process": "bursty", "rate": "50 /s", "off_rate": 5.0, "on_duration": "20 s", "off_duration": "60 s"}


def test_bursty_long_run_rate() -> None:
    spec = BurstyArrivals.model_validate(BURSTY)
    horizon = 20.0
    n = len(until(arrivals_of(spec, draws(6)), horizon))
    # Markov-modulated Poisson (rates l1 on, l0 off per hour; leaving rates a = 1/on, b = 1/off): the count
    # over T has mean ≈ mean_rate·T + (l1 − l0)·π_off/(a + b) (it starts on, not stationary) and asymptotic
    # variance (mean_rate + 2 (l1 − l0)² a b / (a + b)³)·T (the rate's autocovariance integrated).
    l1, l0 = spec.rate * H, spec.quiet_rate_per_s * H
    a, b = 1.0 / spec.on_duration, 1.0 / spec.off_duration
    mean_rate = spec.mean_rate_per_s * H
    assert mean_rate == pytest.approx((l1 * spec.on_duration + l0 * spec.off_duration)
                                      / (spec.on_duration + spec.off_duration))
    expected = mean_rate * horizon + (l1 - l0) * (a / (a + b)) / (a + b)
    sd = math.sqrt((mean_rate + 2.0 * (l1 - l0) ** 2 * a * b / (a + b) ** 3) * horizon)
    assert abs(n - expected) < Z * sd, (n, expected, sd)


def test_bursty_without_off_rate_is_silent_between_bursts() -> None:
    spec = BurstyArrivals.model_validate({k: v for k, v in BURSTY.items() if k != "off_rate"})
    assert spec.quiet_rate_per_s == 0.0
    log: list[tuple[float, float, bool]] = []
    process = BurstyProcess(spec.rate, spec.quiet_rate_per_s, spec.on_duration, spec.off_duration, draws(7),
                            start_hours=0.0, phase_log=log)
    horizon = 10.0
    times = until(process, horizon)
    starts = [s for s, _, _ in log]
    assert log[0][0] == 0.0 and log[0][2] is True  # starts on
    for (s0, e0, on0), (s1, _, on1) in zip(log, log[1:]):
        assert e0 == s1 and on0 != on1 and e0 >= s0  # back to back, alternating
    for t in times:
        s, e, on = log[bisect.bisect_right(starts, t) - 1]
        assert on and s <= t < e
    # the phases' lengths are exponential of the given means: sd of a mean of n of them = mean / sqrt(n)
    for on, mean in ((True, spec.on_duration), (False, spec.off_duration)):
        lengths = [e - s for s, e, o in log[:-1] if o == on]
        assert abs(np.mean(lengths) - mean) < Z * mean / math.sqrt(len(lengths))
    # and the count: as in test_bursty_long_run_rate with l0 = 0
    l1, a, b = spec.rate * H, 1.0 / spec.on_duration, 1.0 / spec.off_duration
    expected = spec.mean_rate_per_s * H * horizon + l1 * (a / (a + b)) / (a + b)
    sd = math.sqrt((spec.mean_rate_per_s * H + 2.0 * l1 ** 2 * a * b / (a + b) ** 3) * horizon)
    assert abs(len(times) - expected) < Z * sd


def test_bursty_starts_on_at_start_hours() -> None:
    log: list[tuple[float, float, bool]] = []
    process = BurstyProcess(10.0, 0.0, 0.01, 0.01, draws(8), start_hours=3.0, phase_log=log)
    assert process.next() > 3.0
    assert log[0][0] == 3.0 and log[0][2]


# --- trace ------------------------------------------------------------------------------------------------

def trace(**keys: object) -> TraceArrivals:
    return TraceArrivals.model_validate({"process": "trace", **keys})


def test_trace_replays_exact_times_scaled() -> None:
    process = arrivals_of(trace(times=[0.0, 1.0, 2.5, 4.0], scale=2.0), draws(9))
    assert isinstance(process, TraceProcess)
    got = [process.next() for _ in range(4)]
    assert got == pytest.approx([t / 2.0 / H for t in (0.0, 1.0, 2.5, 4.0)], rel=1e-15, abs=0.0)
    assert process.next() == math.inf and process.next() == math.inf


def test_trace_repeats_back_to_back() -> None:
    times = [0.0, 1.0, 2.5, 4.0]
    process = arrivals_of(trace(times=times, scale=2.0, repeat=True), draws(9), start_hours=1.0)
    period = (4.0 + 4.0 / 3.0) / 2.0 / H  # (last + mean gap) / scale
    assert isinstance(process, TraceProcess) and process.period_hours == pytest.approx(period)
    got = [process.next() for _ in range(3 * len(times))]
    want = [1.0 + k * period + t / 2.0 / H for k in range(3) for t in times]
    assert got == pytest.approx(want, rel=1e-14, abs=0.0)
    assert all(b > a for a, b in zip(got, got[1:]))


def test_trace_of_one_instant_repeats_every_second() -> None:
    process = arrivals_of(trace(times=[3.0, 3.0], repeat=True), draws(9))
    got = [process.next() for _ in range(6)]
    period = (3.0 + 1.0) / H
    assert got == pytest.approx([k * period + 3.0 / H for k in range(3) for _ in range(2)], rel=1e-14)


# --- determinism ------------------------------------------------------------------------------------------

SPECS = [
    PoissonArrivals.model_validate({"process": "poisson", "rate": "40 /s"}),
    DiurnalArrivals.model_validate(DIURNAL),
    BurstyArrivals.model_validate(BURSTY),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.process)
def test_same_seed_same_arrivals(spec: PoissonArrivals | DiurnalArrivals | BurstyArrivals) -> None:
    def first(seed: int) -> list[float]:
        process = arrivals_of(spec, draws(seed))
        return [process.next() for _ in range(3 * BLOCK)]
    assert first(11) == first(11)
    assert first(11) != first(12)


# --- service draws ----------------------------------------------------------------------------------------

def inference(**keys: object) -> Inference:
    base = {"name": "chat", "replicas": 2, "arrivals": {"process": "poisson", "rate": "40 /s"},
            "slo": {"latency": "10 s"}}
    return Inference.model_validate({**base, **keys})


def test_service_time_draws_are_the_distributions_blocks() -> None:
    spec = inference(service_time={"dist": "exponential", "mean": "2 s"})
    service, rng = service_draws(spec, np.random.default_rng(13)), np.random.default_rng(13)
    assert isinstance(service, ServiceDraws)
    got = [service.draw() for _ in range(BLOCK + 10)]
    assert spec.service_time is not None
    want = np.concatenate([spec.service_time.sample(rng, BLOCK), spec.service_time.sample(rng, BLOCK)])
    assert got == [(d, d, 0) for d in want[:BLOCK + 10].tolist()]


def test_deterministic_service_time() -> None:
    service = service_draws(inference(service_time={"dist": "deterministic", "value": "2 s"}),
                            np.random.default_rng(0))
    assert service.draw() == (2.0 / H, 2.0 / H, 0)


def rounded_pmf(cdf: object, mean: float) -> tuple[np.ndarray, np.ndarray]:
    """Support and probabilities of max(1, round(X)) for X with the vectorised ``cdf``."""
    k = np.arange(1, int(2000 * mean) + 2, dtype=float)
    upper = cdf(k + 0.5)  # type: ignore[operator]
    lower = np.concatenate([[0.0], upper[:-1]])  # k = 1 takes everything below 1.5
    return k, upper - lower


def exponential_cdf(mean: float) -> object:
    return lambda x: 1.0 - np.exp(-x / mean)


def lognormal_cdf(mean: float, cv: float) -> object:
    sigma2 = math.log1p(cv * cv)
    mu, sigma = math.log(mean) - sigma2 / 2.0, math.sqrt(sigma2)
    erf = np.frompyfunc(math.erf, 1, 1)
    return lambda x: 0.5 * (1.0 + erf((np.log(x) - mu) / (sigma * math.sqrt(2.0))).astype(float))


@pytest.mark.parametrize("law, cdf", [
    ({"dist": "exponential", "mean": 30.0}, exponential_cdf(30.0)),
    ({"dist": "lognormal", "mean": 50.0, "cv": 1.0}, lognormal_cdf(50.0, 1.0)),
], ids=["exponential", "lognormal"])
def test_token_counts_follow_the_rounded_law(law: dict[str, object], cdf: object) -> None:
    n = 200_000
    counts = token_counts(TokenLaw.model_validate(law), np.random.default_rng(14), n)
    assert counts.dtype == np.int64 and counts.min() >= 1
    k, p = rounded_pmf(cdf, float(law["mean"]))  # type: ignore[arg-type]
    assert p.sum() == pytest.approx(1.0, abs=1e-9)
    mean = float((k * p).sum())
    sd = math.sqrt(float((k * k * p).sum()) - mean * mean)
    assert abs(counts.mean() - mean) < Z * sd / math.sqrt(n)  # a sample mean: sd / sqrt(n)
    # the share of requests of one token: a binomial proportion
    assert abs(np.mean(counts == 1) - p[0]) < Z * math.sqrt(p[0] * (1 - p[0]) / n)


def test_token_counts_uniform_and_deterministic() -> None:
    rng = np.random.default_rng(15)
    uniform = token_counts(TokenLaw.model_validate({"dist": "uniform", "low": 3, "high": 6}), rng, 40_000)
    assert set(uniform.tolist()) == {3, 4, 5, 6}
    for value in (3, 4, 5, 6):  # each a binomial proportion of 1/4
        assert abs(np.mean(uniform == value) - 0.25) < Z * math.sqrt(0.25 * 0.75 / uniform.size)
    fixed = token_counts(TokenLaw.model_validate({"dist": "deterministic", "mean": 99.6}), rng, 10)
    assert fixed.tolist() == [100] * 10


def test_token_service_mean_is_prefill_plus_decode() -> None:
    spec = inference(tokens={"prompt_tokens": {"dist": "uniform", "low": 100, "high": 300},
                             "output_tokens": {"dist": "exponential", "mean": 200.0},
                             "prefill_per_token": "0.0005 s", "decode_per_token": "0.02 s"})
    assert spec.tokens is not None
    prefill, decode = spec.tokens.prefill_per_token, spec.tokens.decode_per_token
    assert decode == pytest.approx(0.02 / H)
    service = service_draws(spec, np.random.default_rng(16))
    n = 100_000
    rows = [service.draw() for _ in range(n)]
    for total, first, output in rows[:1000]:
        prompt = round(first / prefill)
        assert 100 <= prompt <= 300 and first == pytest.approx(prompt * prefill)
        assert isinstance(output, int) and output >= 1
        assert total == pytest.approx(first + output * decode)
    k, p = rounded_pmf(exponential_cdf(200.0), 200.0)
    out_mean = float((k * p).sum())
    out_var = float((k * k * p).sum()) - out_mean ** 2
    prompt_mean, prompt_var = 200.0, (201 ** 2 - 1) / 12.0  # discrete uniform on 201 values
    mean = prompt_mean * prefill + out_mean * decode
    sd = math.sqrt(prompt_var * prefill ** 2 + out_var * decode ** 2)  # independent prompt and output
    totals = np.array([r[0] for r in rows])
    assert abs(totals.mean() - mean) < Z * sd / math.sqrt(n)
    assert mean == pytest.approx(spec.service_mean_hours, rel=1e-3)  # rounding moves the mean a little only
    outputs = np.array([r[2] for r in rows])
    assert abs(outputs.mean() - out_mean) < Z * math.sqrt(out_var / n)


def test_service_draws_are_deterministic() -> None:
    spec = inference(tokens={"prompt_tokens": {"dist": "lognormal", "mean": 500.0, "cv": 0.5},
                             "output_tokens": {"dist": "uniform", "low": 1, "high": 9},
                             "prefill_per_token": "0.0001 s", "decode_per_token": "0.01 s"})
    a, b = service_draws(spec, np.random.default_rng(17)), service_draws(spec, np.random.default_rng(17))
    assert [a.draw() for _ in range(BLOCK + 5)] == [b.draw() for _ in range(BLOCK + 5)]

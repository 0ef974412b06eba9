"""Checks of the analytic reference formulas in ``queueing_truths`` by textbook values and independent methods."""
from __future__ import annotations

import heapq
import itertools
import math
from collections import deque

import numpy as np
import pytest
import queueing_truths as qt
from scipy import integrate

# ------------------------------------------------------------------------------------------------ Erlang B / C


def _erlang_c_direct(c: int, a: float) -> float:
    """Textbook explicit sum (GrossHarris eq. 2.31), fine for small c."""
    rho = a / c
    top = a ** c / math.factorial(c) / (1 - rho)
    return top / (sum(a ** j / math.factorial(j) for j in range(c)) + top)


def test_erlang_c_textbook_values() -> None:
    assert qt.erlang_c(2, 1.0) == pytest.approx(1 / 3, rel=1e-12)
    for a in (0.0, 0.1, 0.5, 0.99):
        assert qt.erlang_c(1, a) == pytest.approx(a, abs=1e-14)  # M/M/1: P(wait) = rho
    for a in (0.3, 1.0, 1.7):  # M/M/2: C = 2 rho^2 / (1 + rho), rho = a/2 (Kleinrock sec. 3.5)
        rho = a / 2
        assert qt.erlang_c(2, a) == pytest.approx(2 * rho * rho / (1 + rho), rel=1e-12)
    for c, a in [(3, 2.5), (5, 4.2), (10, 8.0), (20, 15.0)]:
        assert qt.erlang_c(c, a) == pytest.approx(_erlang_c_direct(c, a), rel=1e-12)


def test_erlang_b_table_values() -> None:
    # Standard Erlang B table entries: B(10, 5 E) = 0.01838, B(5, 3 E) = 0.1101.
    assert qt.erlang_b(10, 5.0) == pytest.approx(0.01838, abs=1e-5)
    assert qt.erlang_b(5, 3.0) == pytest.approx(0.1101, abs=1e-4)
    assert qt.erlang_b(0, 3.0) == 1.0


def test_erlang_c_is_stable_for_many_servers() -> None:
    # a^c / c! overflows a float at c ~ 170; the recursion does not.
    value = qt.erlang_c(2000, 1950.0)
    assert 0 < value < 1
    with pytest.raises(ValueError):
        qt.erlang_c(3, 3.0)


def test_mmc_wait_mean_and_tail() -> None:
    lam, mu = 0.8, 1.0  # M/M/1: W_q = rho / (mu - lam)
    assert qt.mmc_mean_wait(lam, mu, 1) == pytest.approx(0.8 / 0.2, rel=1e-12)
    lam, mu, c = 2.5, 1.0, 3
    wq = qt.mmc_mean_wait(lam, mu, c)
    # E[W_q] = int_0^inf P(W_q > t) dt
    tail_integral, _ = integrate.quad(lambda t: qt.mmc_wait_tail(lam, mu, c, t), 0, np.inf)
    assert tail_integral == pytest.approx(wq, rel=1e-8)
    assert qt.mmc_wait_tail(lam, mu, c, 0.0) == pytest.approx(qt.erlang_c(c, lam / mu), rel=1e-14)


# ------------------------------------------------------------------------------------------------ M/M/c+D


def _simulate_mmc_d(lam: float, mu: float, c: int, d: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Event-driven FCFS M/M/c+D: returns (abandoned flag, wait) per customer, all n customers resolved.

    Departures are kept in a heap; when a server frees up at time ``now`` the queue head is taken, after
    discarding (as abandoned) customers whose wait would exceed d, i.e. who left at their patience deadline
    before ``now``.  This is the literal queue + abandonment dynamics, not the balking/offered-wait argument
    used in the closed form.
    """
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1 / lam, n)).tolist()
    services = rng.exponential(1 / mu, n).tolist()
    waits = [math.nan] * n
    abandoned = [False] * n
    departures: list[float] = []
    queue: deque[int] = deque()

    def free_server(now: float) -> None:
        while queue and now - arrivals[queue[0]] > d:
            abandoned[queue.popleft()] = True
        if queue:
            j = queue.popleft()
            waits[j] = now - arrivals[j]
            heapq.heappush(departures, now + services[j])

    for i in range(n):
        t = arrivals[i]
        while departures and departures[0] <= t:
            free_server(heapq.heappop(departures))
        while queue and t - arrivals[queue[0]] > d:  # keep the queue short when overloaded
            abandoned[queue.popleft()] = True
        if len(departures) < c and not queue:
            waits[i] = 0.0
            heapq.heappush(departures, t + services[i])
        else:
            queue.append(i)
    while departures:
        free_server(heapq.heappop(departures))
    for j in queue:
        abandoned[j] = True
    return np.array(abandoned), np.array(waits)


def _batch_mean(values: np.ndarray, batches: int = 40) -> tuple[float, float]:
    """Mean and batch-means standard error (the per-customer outcomes are autocorrelated)."""
    means = np.array([b.mean() for b in np.array_split(values, batches)])
    return float(means.mean()), float(means.std(ddof=1) / math.sqrt(batches))


SIM_CASES = [
    # (lam, mu, c, d, seed): moderate load, overloaded, critically loaded (delta = 0), single server, short patience.
    # Distinct seeds: with one seed the cases share their random numbers and their errors are correlated.
    (2.5, 1.0, 3, 0.5, 101),
    (5.0, 1.0, 3, 1.0, 202),
    (4.0, 1.0, 4, 0.7, 303),
    (0.9, 1.0, 1, 2.0, 404),
    (9.0, 1.0, 10, 0.05, 505),
]


@pytest.mark.parametrize("lam, mu, c, d, seed", SIM_CASES)
def test_mmc_deterministic_patience_against_simulation(lam: float, mu: float, c: int, d: float, seed: int) -> None:
    """Closed form vs an independent event simulation: each statistic within 4 batch-means standard errors
    (~6e-5 two-sided false-alarm chance per statistic for near-normal batch means) of the truth."""
    n, warmup = 400_000, 5_000
    abandoned, waits = _simulate_mmc_d(lam, mu, c, d, n, seed=seed)
    abandoned, waits = abandoned[warmup:], waits[warmup:]
    truth = qt.mmc_deterministic_patience(lam, mu, c, d)

    p_ab, se = _batch_mean(abandoned.astype(float))
    assert abs(p_ab - truth["p_abandon"]) < 4 * se, (p_ab, se, truth["p_abandon"])

    # Fraction of all arrivals served after a positive wait, and the mean wait over all arrivals
    # (abandoners have waited d).
    served_wait = np.where(abandoned, 0.0, waits > 0).astype(float)
    est, se = _batch_mean(served_wait)
    assert abs(est - truth["p_wait_served"]) < 4 * se, (est, se, truth["p_wait_served"])
    wait_all = np.where(abandoned, d, waits)
    est, se = _batch_mean(wait_all)
    assert abs(est - truth["mean_wait_all"]) < 4 * se, (est, se, truth["mean_wait_all"])

    # Mean wait of the served: ratio estimator, SE by batch ratios.
    served = ~abandoned
    ratios = np.array([w[s].mean() for w, s in zip(np.array_split(waits, 40), np.array_split(served, 40))])
    est, se = float(ratios.mean()), float(ratios.std(ddof=1) / math.sqrt(40))
    assert abs(est - truth["mean_wait_served"]) < 4 * se, (est, se, truth["mean_wait_served"])
    assert np.all(waits[served] <= d)


@pytest.mark.parametrize("lam, mu, c", [(2.5, 1.0, 3), (0.5, 2.0, 1), (12.0, 1.0, 10), (5.0, 1.0, 3)])
def test_mmc_deterministic_patience_rate_conservation(lam: float, mu: float, c: int) -> None:
    """Mean busy servers from the state probabilities (sum_j j pi_j + c P(V > 0)) equals lam (1 - P_ab) / mu."""
    a = lam / mu
    for d in (0.0, 0.1, 1.0, 7.0):
        res = qt.mmc_deterministic_patience(lam, mu, c, d)
        weights = [a ** j / math.factorial(j) for j in range(c)]
        p_idle = 1 - res["p_wait"]  # probability of fewer than c busy
        busy = sum(j * w for j, w in enumerate(weights)) / sum(weights) * p_idle + c * res["p_wait"]
        assert busy == pytest.approx(res["mean_busy"], rel=1e-12)
        assert res["p_abandon"] + res["p_served"] == pytest.approx(1.0, rel=1e-14)
        assert res["p_wait"] == pytest.approx(res["p_wait_served"] + res["p_abandon"], rel=1e-12)


def test_mmc_deterministic_patience_limits() -> None:
    lam, mu, c = 2.5, 1.0, 3
    a = lam / mu
    # d -> 0: every arrival finding all servers busy is lost: M/M/c/c, Erlang B (not Erlang C).
    for d in (0.0, 1e-12):
        res = qt.mmc_deterministic_patience(lam, mu, c, d)
        assert res["p_abandon"] == pytest.approx(qt.erlang_b(c, a), rel=1e-9)
        assert res["p_wait"] == pytest.approx(qt.erlang_b(c, a), rel=1e-9)
        assert res["mean_wait_served"] == pytest.approx(0.0, abs=1e-9)
    # d -> inf (lam < c mu): plain M/M/c.
    res = qt.mmc_deterministic_patience(lam, mu, c, 1e4)
    assert res["p_abandon"] == pytest.approx(0.0, abs=1e-300)
    assert res["p_wait"] == pytest.approx(qt.erlang_c(c, a), rel=1e-12)
    assert res["mean_wait_served"] == pytest.approx(qt.mmc_mean_wait(lam, mu, c), rel=1e-12)
    assert res["mean_wait_all"] == pytest.approx(qt.mmc_mean_wait(lam, mu, c), rel=1e-12)
    # Monotone in d.
    p = [qt.mmc_deterministic_patience(lam, mu, c, d)["p_abandon"] for d in np.linspace(0, 20, 50)]
    assert all(x > y for x, y in zip(p, p[1:]) if y > 1e-300)
    # Overloaded, long patience: servers always busy, throughput -> c mu; no overflow for huge lam d.
    for lam_over, d in [(5.0, 50.0), (5.0, 1e6), (1e3, 1e3)]:
        res = qt.mmc_deterministic_patience(lam_over, mu, c, d)
        assert res["p_abandon"] == pytest.approx(1 - c * mu / lam_over, rel=1e-9)
        # served waits have density ~ e^{(lam - c mu) v} on (0, d): mean -> d - 1 / (lam - c mu)
        assert res["mean_wait_served"] == pytest.approx(d - 1 / (lam_over - c * mu), rel=1e-9)
    # delta = c mu - lam = 0 is the limit of both sides.
    at = qt.mmc_deterministic_patience(3.0, 1.0, 3, 1.3)
    for eps in (1e-6, -1e-6, 1e-10, -1e-10):
        near = qt.mmc_deterministic_patience(3.0 * (1 + eps), 1.0, 3, 1.3)
        for key, value in at.items():
            assert near[key] == pytest.approx(value, rel=10 * abs(eps) + 1e-12), key
    assert qt.mmc_deterministic_patience(0.0, 1.0, 2, 1.0)["p_abandon"] == 0.0


def test_mmc_deterministic_patience_density_by_quadrature() -> None:
    """The density written out explicitly (numerically integrated) reproduces the returned moments."""
    lam, mu, c, d = 5.0, 1.0, 3, 0.8
    a, delta = lam / mu, c * mu - lam
    pi_c1 = 1.0  # unnormalised: pi_{c-1} = 1

    def f(v: float) -> float:
        return lam * pi_c1 * (math.exp(-delta * v) if v < d else math.exp(-delta * d - c * mu * (v - d)))

    idle = sum(a ** j / math.factorial(j) for j in range(c)) / (a ** (c - 1) / math.factorial(c - 1))
    mid, _ = integrate.quad(f, 0, d)
    tail, _ = integrate.quad(f, d, np.inf)
    first, _ = integrate.quad(lambda v: v * f(v), 0, d)
    total = idle + mid + tail
    res = qt.mmc_deterministic_patience(lam, mu, c, d)
    assert res["p_abandon"] == pytest.approx(tail / total, rel=1e-10)
    assert res["mean_wait_served"] == pytest.approx(first / (idle + mid), rel=1e-10)


# ------------------------------------------------------------------------------------------------ M_t/M/inf


def _rate(t: float, trough: float, peak: float, period: float, peak_at: float) -> float:
    return trough + (peak - trough) * (1 + math.cos(2 * math.pi * (t - peak_at) / period)) / 2


MT_CASES = [(2.0, 10.0, 24.0, 14.0, 0.5), (0.0, 3.0, 1.0, 0.3, 4.0), (5.0, 5.0, 10.0, 0.0, 1.0),
            (1.0, 50.0, 24.0, 20.0, 0.05)]


@pytest.mark.parametrize("trough, peak, period, peak_at, mu", MT_CASES)
def test_mt_m_inf_mean_against_quadrature(trough: float, peak: float, period: float, peak_at: float, mu: float) -> None:
    horizon = 60 / mu  # e^{-60} truncation

    for t in np.linspace(-period, 2 * period, 13):
        def integrand(s: float, t: float = t) -> float:
            return _rate(t - s, trough, peak, period, peak_at) * math.exp(-mu * s)

        limit = int(50 + 20 * horizon / period)
        numeric, _ = integrate.quad(integrand, 0, horizon, limit=limit, epsabs=1e-11, epsrel=1e-11)
        assert qt.mt_m_inf_mean(t, trough, peak, period, peak_at, mu) == pytest.approx(numeric, rel=1e-8, abs=1e-10)
        t0 = t - 0.37 * period  # empty at t0
        numeric, _ = integrate.quad(integrand, 0, t - t0, limit=limit, epsabs=1e-11, epsrel=1e-11)
        assert qt.mt_m_inf_mean(t, trough, peak, period, peak_at, mu, t0=t0) == pytest.approx(numeric, rel=1e-8,
                                                                                              abs=1e-10)


def test_mt_m_inf_mean_limits() -> None:
    # Very slow variation: pointwise stationary lambda(t)/mu.  Constant rate: lambda/mu.  Peak lags the arrivals.
    args = dict(trough=2.0, peak=10.0, period=1e7, peak_at=3.0, mu=2.0)
    for t in (0.0, 3.0, 1e6):
        assert qt.mt_m_inf_mean(t, **args) == pytest.approx(_rate(t, 2.0, 10.0, 1e7, 3.0) / 2.0, rel=1e-5)
    assert qt.mt_m_inf_mean(7.0, 4.0, 4.0, 5.0, 1.0, 0.5) == pytest.approx(8.0, rel=1e-14)
    mu, period, peak_at = 0.5, 24.0, 14.0
    omega = 2 * math.pi / period
    lag = math.atan(omega / mu) / omega
    ts = np.linspace(0, period, 20001)
    m = [qt.mt_m_inf_mean(t, 2.0, 10.0, period, peak_at, mu) for t in ts]
    assert ts[int(np.argmax(m))] == pytest.approx((peak_at + lag) % period, abs=2e-3)
    assert max(m) == pytest.approx(6.0 / mu + 4.0 / math.hypot(mu, omega), rel=1e-8)


# ------------------------------------------------------------------------------------------------ retries


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("m", [1, 2, 3, 5, 8])
def test_retry_formulas_against_enumeration(p: float, m: int) -> None:
    """Enumerate all 2^m outcome patterns of m independent attempts; attempts stop at the first success."""
    attempts = success = 0.0
    for pattern in itertools.product((True, False), repeat=m):  # True = attempt fails
        prob = math.prod(p if fail else 1 - p for fail in pattern)
        used = next((i + 1 for i, fail in enumerate(pattern) if not fail), m)
        attempts += prob * used
        success += prob * (not all(pattern))
    assert qt.retry_amplification(p, m) == pytest.approx(attempts, rel=1e-12, abs=1e-15)
    assert qt.retry_success(p, m) == pytest.approx(success, rel=1e-12, abs=1e-15)


def test_retry_edge_cases() -> None:
    assert qt.retry_amplification(1.0, 4) == 4.0
    assert qt.retry_amplification(1 - 1e-12, 4) == pytest.approx(4.0, rel=1e-9)
    assert qt.retry_amplification(0.0, 4) == 1.0
    with pytest.raises(ValueError):
        qt.retry_amplification(1.5, 3)


# ------------------------------------------------------------------------------------------------ health checks


@pytest.mark.parametrize("k, interval, timeout", [(1, 10.0, 0.0), (3, 5.0, 2.0), (2, 1.0, 3.5)])
def test_mean_detection_delay_against_direct_model(k: int, interval: float, timeout: float) -> None:
    """Deaths on a fine uniform grid over several intervals; checks sent at n*interval, a check sent after the
    death fails, its result arrives ``timeout`` later, the k-th consecutive failure marks the replica."""
    n_deaths = 200_000
    deaths = (np.arange(n_deaths) + 0.5) / n_deaths * 7 * interval + 3.21 * interval
    first_failing = np.ceil(deaths / interval)
    marked = (first_failing + k - 1) * interval + timeout
    assert qt.mean_detection_delay(k, interval, timeout) == pytest.approx(float(np.mean(marked - deaths)), rel=1e-6)


def test_mean_number_in_service() -> None:
    assert qt.mmc_mean_number_in_service(3.0, 0.5) == 6.0

"""Analytic reference formulas ("truths") that the inference tests check the simulator against.

Pure Python + ``math``.  Units: every function takes its rates and times in ONE consistent time unit of the
caller's choosing (e.g. all per second and seconds, or all per hour and hours); results are in that same unit
(times) or dimensionless (probabilities, counts).  Nothing here converts units.

References
----------
[Kleinrock]   L. Kleinrock, *Queueing Systems, Vol. 1: Theory*, Wiley 1975, sections 3.5-3.6 (M/M/c, M/M/c/c).
[GrossHarris] D. Gross, J. Shortle, J. Thompson, C. Harris, *Fundamentals of Queueing Theory*, 4th ed., 2008,
              section 2.3 (M/M/c: Erlang C, W_q and its tail).
[Jagerman]    D. L. Jagerman, "Some properties of the Erlang loss function", Bell Syst. Tech. J. 53 (1974)
              525-551 (the stable recursion B(n) = a B(n-1) / (n + a B(n-1))).
[BH81]        F. Baccelli, G. Hebuterne, "On queues with impatient customers", Performance '81, North-Holland
              1981, pp. 159-179 (M/M/c+D via the virtual / offered waiting time).
[MZ]          A. Mandelbaum, S. Zeltyn, "The M/M/n+G queue: summary of performance measures" (Technion note, 2004)
              and S. Zeltyn, A. Mandelbaum, Queueing Systems 51 (2005) 361-402; deterministic patience case.
[EMW93]       S. G. Eick, W. A. Massey, W. Whitt, "The physics of the M_t/G/infinity queue",
              Operations Research 41 (1993) 731-742 (m(t) = E[int_{t-S}^t lambda(u) du]; sinusoidal case).
"""
from __future__ import annotations

import math

__all__ = [
    "erlang_b",
    "erlang_c",
    "mmc_mean_wait",
    "mmc_wait_tail",
    "mmc_deterministic_patience",
    "mt_m_inf_mean",
    "retry_amplification",
    "retry_success",
    "mean_detection_delay",
    "mmc_mean_number_in_service",
]


def _check_servers(c: int) -> None:
    if int(c) != c or c < 1:
        raise ValueError(f"number of servers must be a positive integer, got {c!r}")


def erlang_b(c: int, offered: float) -> float:
    """Erlang B (M/M/c/c blocking probability) for ``c`` servers and offered load ``offered`` = lambda/mu.

    Stable recursion B(0) = 1, B(n) = a B(n-1) / (n + a B(n-1))  [Jagerman 1974; Kleinrock eq. 3.44].
    Valid for any offered >= 0 (no stability condition for a loss system).  ``c = 0`` gives 1.
    """
    if int(c) != c or c < 0:
        raise ValueError(f"number of servers must be a non-negative integer, got {c!r}")
    if offered < 0:
        raise ValueError(f"offered load must be >= 0, got {offered!r}")
    b = 1.0
    for n in range(1, int(c) + 1):
        b = offered * b / (n + offered * b)
    return b


def erlang_c(c: int, offered: float) -> float:
    """Probability that an arrival waits (P(W_q > 0)) in M/M/c, offered load a = lambda/mu < c.

    C(c, a) = c B(c, a) / (c - a (1 - B(c, a)))  with B from the Erlang B recursion
    [GrossHarris eq. 2.31; Kleinrock eq. 3.40].  Examples: C(1, a) = a; C(2, 1) = 1/3.
    """
    _check_servers(c)
    if not 0 <= offered < c:
        raise ValueError(f"M/M/c needs 0 <= offered < c for a steady state, got offered={offered!r}, c={c!r}")
    b = erlang_b(c, offered)
    return c * b / (c - offered * (1.0 - b))


def mmc_mean_wait(lam: float, mu: float, c: int) -> float:
    """Mean wait in queue of M/M/c (FCFS), W_q = C(c, lambda/mu) / (c mu - lambda)  [GrossHarris eq. 2.33].

    ``lam`` arrival rate, ``mu`` service rate per server (same time unit); result in the reciprocal of that unit.
    """
    _check_servers(c)
    if mu <= 0 or lam < 0:
        raise ValueError("need mu > 0 and lam >= 0")
    return erlang_c(c, lam / mu) / (c * mu - lam)


def mmc_wait_tail(lam: float, mu: float, c: int, t: float) -> float:
    """P(W_q > t) for M/M/c FCFS, t >= 0:  C(c, a) exp(-(c mu - lambda) t)  [GrossHarris eq. 2.36]."""
    _check_servers(c)
    if mu <= 0 or lam < 0:
        raise ValueError("need mu > 0 and lam >= 0")
    if t < 0:
        return 1.0
    return erlang_c(c, lam / mu) * math.exp(-(c * mu - lam) * t)


# --------------------------------------------------------------------------------------------------- M/M/c+D
def _h(x: float) -> float:
    """(1 - e^{-x}) / x, with the value 1 at x = 0; finite for all x where e^{-x} does not overflow."""
    if abs(x) < 1e-8:
        return 1.0 - x / 2.0
    return -math.expm1(-x) / x


def _g(x: float) -> float:
    """(1 - e^{-x}(1 + x)) / x^2 = int_0^1 u e^{-x u} du, with the value 1/2 at x = 0."""
    if abs(x) < 1e-2:
        # sum_n (-x)^n / (n! (n + 2))
        total, term = 0.0, 1.0
        for n in range(12):
            total += term / (n + 2)
            term *= -x / (n + 1)
        return total
    return (-math.expm1(-x) - x * math.exp(-x)) / (x * x)


def mmc_deterministic_patience(lam: float, mu: float, c: int, d: float) -> dict[str, float]:
    """Stationary performance of M/M/c+D: Poisson(lam) arrivals, c exp(mu) servers, FCFS, every customer
    abandons the queue once its wait reaches the deterministic patience ``d`` (a customer that starts service
    within ``d`` stays to completion).  Any lam >= 0 is allowed (patience keeps the system stable, also for
    lam >= c mu).  Rates and ``d`` in one consistent time unit; waits are returned in that unit.

    Derivation (offered / virtual waiting time V, [BH81], [MZ] with G = point mass at d, H(x) = min(x, d)):
    with FCFS and deterministic patience an arrival abandons iff its offered wait V >= d, and abandoning
    customers never occupy a server, so they can be treated as balking.  Let pi_j (j < c) be the probability
    of j busy servers (V = 0) and f(v) the density of V on v > 0.  Level crossing of V at v > 0
    (down-crossings f(v) = up-crossings):

        f(v) = lam pi_{c-1} e^{-c mu v} + lam int_0^{min(v, d)} f(u) e^{-c mu (v - u)} du,

    whose solution, with delta = c mu - lam, is

        f(v) = lam pi_{c-1} e^{-delta v}                          0 < v < d,
        f(v) = lam pi_{c-1} e^{-delta d} e^{-c mu (v - d)}          v >= d,

    and pi_j = pi_0 a^j / j! (a = lam/mu), so sum_{j<c} pi_j = pi_{c-1} / B(c-1, a) (Erlang B).  Writing
    x = delta d and normalising by pi_{c-1}:

        mass(V = 0)       = 1 / B(c-1, a)
        mass(0 < V < d)   = lam d (1 - e^{-x}) / x                 (= lam d when delta = 0)
        mass(V >= d)      = lam e^{-x} / (c mu)
        int_0^d v f       = lam d^2 (1 - e^{-x}(1 + x)) / x^2        (= lam d^2 / 2 when delta = 0)

    By PASTA the fraction of arrivals that abandon is P(V >= d) = mass(V >= d) / total.  All terms are
    rescaled by e^{min(x, 0)} so nothing overflows when lam > c mu and d is large; delta = 0 is the limit.
    Limits: d -> 0 gives Erlang B (M/M/c/c: p_abandon -> B(c, a), NOT Erlang C); d -> inf with lam < c mu
    gives M/M/c (p_abandon -> 0, p_wait -> C(c, a), mean waits -> W_q).

    Returns a dict with
        p_abandon          fraction of arrivals that abandon, P(V >= d)
        p_served           1 - p_abandon
        p_wait             fraction of ALL arrivals whose offered wait is > 0, P(V > 0) (abandoners included)
        p_wait_served      fraction of all arrivals that are served after a positive wait, P(0 < V < d)
        mean_wait_served   E[V | V < d]: mean wait of served customers, zero waits included
        mean_wait_all      E[min(V, d)]: mean time in queue over all arrivals (abandoners count d)
        mean_queue         mean number waiting in queue (Little: lam * mean_wait_all)
        mean_busy          mean number of busy servers (lam p_served / mu)
        throughput         rate of served customers, lam p_served
        abandon_rate       lam p_abandon
    """
    _check_servers(c)
    if mu <= 0 or lam < 0 or d < 0:
        raise ValueError("need mu > 0, lam >= 0, d >= 0")
    if lam == 0:
        zero = {k: 0.0 for k in ("p_abandon", "p_wait", "p_wait_served", "mean_wait_served", "mean_wait_all",
                                 "mean_queue", "mean_busy", "throughput", "abandon_rate")}
        return {**zero, "p_served": 1.0}
    a = lam / mu
    delta = c * mu - lam
    x = delta * d
    scale_exp = min(x, 0.0)  # multiply every mass by e^{scale_exp}
    scale = math.exp(scale_exp)
    mass_idle = scale / erlang_b(c - 1, a)
    if x >= 0:
        mass_mid = lam * d * _h(x)
        first_moment_mid = lam * d * d * _g(x)
    else:  # e^{x} (1 - e^{-x}) / x = (e^{x} - 1) / x ;  e^{x} g(x) = (e^{x} - 1 - x) / x^2
        mass_mid = lam * d * (_h(x) * scale if x > -1e-2 else math.expm1(x) / x)
        first_moment_mid = lam * d * d * (_g(x) * scale if x > -1e-2 else (math.expm1(x) - x) / (x * x))
    mass_tail = lam * math.exp(scale_exp - x) / (c * mu)
    total = mass_idle + mass_mid + mass_tail
    p_abandon = mass_tail / total
    p_served = (mass_idle + mass_mid) / total
    mean_wait_all_num = first_moment_mid + d * mass_tail
    mean_wait_all = mean_wait_all_num / total
    return {
        "p_abandon": p_abandon,
        "p_served": p_served,
        "p_wait": (mass_mid + mass_tail) / total,
        "p_wait_served": mass_mid / total,
        "mean_wait_served": first_moment_mid / (mass_idle + mass_mid),
        "mean_wait_all": mean_wait_all,
        "mean_queue": lam * mean_wait_all,
        "mean_busy": lam * p_served / mu,
        "throughput": lam * p_served,
        "abandon_rate": lam * p_abandon,
    }


# --------------------------------------------------------------------------------------------------- M_t/M/inf
def _mt_m_inf_periodic(tau: float, mean_rate: float, amp: float, omega: float, mu: float) -> float:
    # int_0^inf (mean_rate + amp cos(omega (tau - s))) e^{-mu s} ds
    phase = omega * tau
    return mean_rate / mu + amp * (mu * math.cos(phase) + omega * math.sin(phase)) / (mu * mu + omega * omega)


def mt_m_inf_mean(t: float, trough: float, peak: float, period: float, peak_at: float, mu: float,
                  t0: float | None = None) -> float:
    """Mean number in system m(t) of the M_t/M/inf queue with arrival rate
    lambda(t) = trough + (peak - trough) (1 + cos(2 pi (t - peak_at) / period)) / 2 and exp(mu) service.

    All arguments in ONE time unit: ``t``, ``period``, ``peak_at``, ``t0`` are times, ``trough``, ``peak``,
    ``mu`` are rates per that unit.  Result is a (dimensionless) mean count.

    [EMW93] Theorem 1: m(t) = E[int_{t-S}^t lambda(u) du] = int_0^inf lambda(t - s) P(S > s) ds
    = int_0^inf lambda(t - s) e^{-mu s} ds.  With lambda_bar = (peak + trough)/2, A = (peak - trough)/2,
    omega = 2 pi / period, tau = t - peak_at, this is (periodic steady state, system started at -inf):

        m(t) = lambda_bar / mu + A (mu cos(omega tau) + omega sin(omega tau)) / (mu^2 + omega^2)
             = lambda_bar / mu + A / sqrt(mu^2 + omega^2) * cos(omega (tau) - atan(omega / mu)),

    i.e. the peak of m lags the arrival peak by atan(omega/mu)/omega (<= 1/mu) and the swing is damped by
    mu / sqrt(mu^2 + omega^2) relative to the "pointwise stationary" lambda(t)/mu.

    If ``t0`` is given the system is empty at time t0 (t >= t0) and
    m(t) = int_0^{t-t0} lambda(t - s) e^{-mu s} ds = m_ps(t) - e^{-mu (t - t0)} m_ps(t0).
    """
    if mu <= 0 or period <= 0:
        raise ValueError("need mu > 0 and period > 0")
    mean_rate = 0.5 * (peak + trough)
    amp = 0.5 * (peak - trough)
    omega = 2.0 * math.pi / period
    m = _mt_m_inf_periodic(t - peak_at, mean_rate, amp, omega, mu)
    if t0 is not None:
        if t < t0:
            raise ValueError("t must be >= t0")
        m -= math.exp(-mu * (t - t0)) * _mt_m_inf_periodic(t0 - peak_at, mean_rate, amp, omega, mu)
    return m


# --------------------------------------------------------------------------------------------------- retries
def _check_retry(p: float, m: int) -> None:
    if not 0 <= p <= 1:
        raise ValueError(f"failure probability must be in [0, 1], got {p!r}")
    if int(m) != m or m < 1:
        raise ValueError(f"maximum attempts must be a positive integer, got {m!r}")


def retry_amplification(p: float, m: int) -> float:
    """Expected attempts per request, independent per-attempt failure probability ``p``, at most ``m`` attempts
    (retry only after a failure):  sum_{k=1}^{m} p^{k-1} = (1 - p^m) / (1 - p), and m when p = 1
    (truncated geometric distribution)."""
    _check_retry(p, m)
    if p == 1:
        return float(m)
    return -math.expm1(m * math.log(p)) / (1.0 - p) if p > 0 else 1.0


def retry_success(p: float, m: int) -> float:
    """Probability a request eventually succeeds within ``m`` attempts: 1 - p^m (independent attempts)."""
    _check_retry(p, m)
    return 1.0 - p ** m


# --------------------------------------------------------------------------------------------------- health checks
def mean_detection_delay(k: int, interval: float, check_timeout: float) -> float:
    """Mean time from a replica's death to it being marked unhealthy: (k - 1/2) interval + check_timeout.

    Assumptions: health checks are sent at fixed phase every ``interval`` (n * interval, independent of
    outstanding checks); a check fails iff the replica is dead when the check is sent; a failing check's
    result arrives ``check_timeout`` after it is sent; the replica is marked unhealthy when the k-th
    consecutive failed result arrives; the death time is uniform within a check interval (e.g. the replica
    dies at a random time independent of the check phase).  Then the delay is
    (interval - U) + (k - 1) interval + check_timeout with U ~ Uniform(0, interval).  Same time unit in/out.
    """
    if int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if interval <= 0 or check_timeout < 0:
        raise ValueError("need interval > 0 and check_timeout >= 0")
    return (k - 0.5) * interval + check_timeout


def mmc_mean_number_in_service(lam: float, mu: float) -> float:
    """Mean number of busy servers in any stable M/G/c (or M/M/inf): lambda / mu (Little's law on servers)."""
    if mu <= 0:
        raise ValueError("need mu > 0")
    return lam / mu

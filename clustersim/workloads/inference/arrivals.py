"""Request arrival processes and per-request service draws of an inference service.

Everything here runs once per request, so it is written for speed: random numbers are drawn from numpy in
blocks and handed out as Python floats, and every class uses ``__slots__``. Times are hours (the model's
unit); the schema's rates are per second and trace times are seconds, converted here. Each process draws
from one ``Draws`` in a fixed order, so the same generator state gives the same arrivals.
"""
from __future__ import annotations

import math
from typing import Protocol

import numpy as np

from clustersim.scenario.sections.inference import (
    BurstyArrivals, DiurnalArrivals, Inference, PoissonArrivals, TokenLaw, TraceArrivals,
)

SECONDS_PER_HOUR = 3600.0
BLOCK = 4096  # draws per numpy call: large enough to amortise the call, small enough to stay in cache

__all__ = [
    "BLOCK", "ArrivalProcess", "BurstyProcess", "DiurnalProcess", "Draws", "PoissonProcess", "ServiceDraws",
    "TraceProcess", "arrivals_of", "service_draws", "token_counts",
]


class Draws:
    """Buffered standard exponential and uniform draws from one generator.

    Each kind is refilled lazily, ``BLOCK`` at a time (``rng.standard_exponential`` / ``rng.random``), so the
    sequence depends only on the generator's state and the order of the calls.
    """

    __slots__ = ("_rng", "_exp", "_exp_i", "_uni", "_uni_i")

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._exp: list[float] = []
        self._exp_i = BLOCK  # empty: the first call fills
        self._uni: list[float] = []
        self._uni_i = BLOCK

    def exponential(self) -> float:
        """One standard exponential draw (mean 1)."""
        i = self._exp_i
        if i == BLOCK:
            self._exp = self._rng.standard_exponential(BLOCK).tolist()
            i = 0
        self._exp_i = i + 1
        return self._exp[i]

    def uniform(self) -> float:
        """One uniform draw in [0, 1)."""
        i = self._uni_i
        if i == BLOCK:
            self._uni = self._rng.random(BLOCK).tolist()
            i = 0
        self._uni_i = i + 1
        return self._uni[i]


class ArrivalProcess(Protocol):
    """What the load balancer needs of an arrival process."""

    def next(self) -> float:
        """The next arrival time in hours (never before the previous one); ``math.inf`` when there is none."""
        ...


class PoissonProcess:
    """Homogeneous Poisson arrivals: exponential gaps of mean 1 / rate, from ``start_hours``."""

    __slots__ = ("_draws", "_gap_h", "_t")

    def __init__(self, rate_per_s: float, draws: Draws, start_hours: float = 0.0) -> None:
        self._draws = draws
        self._gap_h = 1.0 / (rate_per_s * SECONDS_PER_HOUR)
        self._t = start_hours

    def next(self) -> float:
        self._t = t = self._t + self._gap_h * self._draws.exponential()
        return t


class DiurnalProcess:
    """Nonhomogeneous Poisson arrivals by thinning (Lewis–Shedler): candidates at the peak rate, each kept with
    probability λ(t) / peak, where λ(t) = trough + (peak − trough)·(1 + cos(2π (t − peak_at) / period)) / 2.

    ``t`` is absolute model time (``peak_at`` counts from time 0), so a process started at ``start_hours``
    follows the same daily curve as one started at 0.
    """

    __slots__ = ("_draws", "_trough", "_peak", "_swing", "_omega", "_peak_at", "_gap_h", "_t")

    def __init__(self, trough_per_s: float, peak_per_s: float, period_hours: float, peak_at_hours: float,
                 draws: Draws, start_hours: float = 0.0) -> None:
        self._draws = draws
        self._trough = trough_per_s
        self._peak = peak_per_s
        self._swing = (peak_per_s - trough_per_s) / 2.0
        self._omega = 2.0 * math.pi / period_hours
        self._peak_at = peak_at_hours
        self._gap_h = 1.0 / (peak_per_s * SECONDS_PER_HOUR)
        self._t = start_hours

    def rate_per_s(self, t_hours: float) -> float:
        """λ(t): the arrival rate per second at time ``t_hours``."""
        return self._trough + self._swing * (1.0 + math.cos(self._omega * (t_hours - self._peak_at)))

    def rates_per_s(self, t_hours: np.ndarray) -> np.ndarray:
        """λ(t) at many times at once."""
        return self._trough + self._swing * (1.0 + np.cos(self._omega * (t_hours - self._peak_at)))

    def next(self) -> float:
        draws, gap, t = self._draws, self._gap_h, self._t
        if self._swing <= 0.0:  # a flat curve: every candidate is kept
            self._t = t = t + gap * draws.exponential()
            return t
        trough, swing, omega, peak_at, peak = self._trough, self._swing, self._omega, self._peak_at, self._peak
        cos = math.cos
        while True:
            t += gap * draws.exponential()
            if draws.uniform() * peak < trough + swing * (1.0 + cos(omega * (t - peak_at))):
                self._t = t
                return t


class BurstyProcess:
    """On/off modulated Poisson: ``on_rate`` during ON periods, ``off_rate`` (0: none) during OFF ones, the
    periods exponential with means ``on_hours`` and ``off_hours``; it starts ON at ``start_hours``.

    The gaps are exponential, so a gap that crosses a phase switch is dropped and drawn afresh at the switch
    (memorylessness makes that exact). ``phase_log``, when given a list, receives every phase as
    ``(start, end, on)`` as it is drawn (tests use it; None costs nothing).
    """

    __slots__ = ("_draws", "_on_gap_h", "_off_gap_h", "_on_hours", "_off_hours", "_t", "_on", "_phase_end",
                 "phase_log")

    def __init__(self, on_rate_per_s: float, off_rate_per_s: float, on_hours: float, off_hours: float,
                 draws: Draws, start_hours: float = 0.0,
                 phase_log: list[tuple[float, float, bool]] | None = None, start_on: bool = True) -> None:
        self._draws = draws
        self._on_gap_h = 1.0 / (on_rate_per_s * SECONDS_PER_HOUR)
        self._off_gap_h = 1.0 / (off_rate_per_s * SECONDS_PER_HOUR) if off_rate_per_s > 0.0 else 0.0  # 0: silent
        self._on_hours = on_hours
        self._off_hours = off_hours
        self.phase_log = phase_log
        self._t = start_hours
        self._on = start_on
        self._phase_end = start_hours + (on_hours if start_on else off_hours) * draws.exponential()
        if phase_log is not None:
            phase_log.append((start_hours, self._phase_end, start_on))

    def _switch(self) -> None:
        start = self._phase_end
        self._on = on = not self._on
        self._phase_end = end = start + (self._on_hours if on else self._off_hours) * self._draws.exponential()
        if self.phase_log is not None:
            self.phase_log.append((start, end, on))

    def next(self) -> float:
        draws, t = self._draws, self._t
        while True:
            gap = self._on_gap_h if self._on else self._off_gap_h
            if gap > 0.0:
                t += gap * draws.exponential()
                if t < self._phase_end:
                    self._t = t
                    return t
            t = self._phase_end
            self._switch()


class TraceProcess:
    """Replays recorded request times (seconds, sorted) divided by ``scale``, from ``start_hours``.

    With ``repeat`` the trace plays back to back forever: replay k is shifted by k × period, where
    period = (last + g) / scale and g is the trace's mean gap (last − first) / (n − 1), or 1 s when the trace
    has one request or all at one instant. The extra g keeps the seam between replays as spaced as the trace
    itself (no two requests at one instant when the trace starts at 0) and the period positive. Without
    ``repeat`` it returns ``math.inf`` after the last request.
    """

    __slots__ = ("_times", "_n", "_i", "_repeat", "_period_h", "_start", "_k", "_offset")

    def __init__(self, times_s: list[float], scale: float, repeat: bool, start_hours: float = 0.0) -> None:
        per = 1.0 / (scale * SECONDS_PER_HOUR)
        self._times = [t * per for t in times_s]
        self._n = len(times_s)
        gap_s = (times_s[-1] - times_s[0]) / (self._n - 1) if self._n > 1 else 0.0
        if not gap_s > 0.0:
            gap_s = 1.0
        self._period_h = (times_s[-1] + gap_s) * per if times_s else 0.0
        self._i = 0
        self._repeat = repeat
        self._start = start_hours
        self._k = 0
        self._offset = start_hours

    @property
    def period_hours(self) -> float:
        """The shift between replays (with repeat)."""
        return self._period_h

    def next(self) -> float:
        i = self._i
        if i == self._n:
            if not self._repeat or self._n == 0:
                return math.inf
            self._k += 1
            self._offset = self._start + self._k * self._period_h  # multiplied, not summed: no drift
            i = 0
        self._i = i + 1
        return self._offset + self._times[i]


def arrivals_of(spec: PoissonArrivals | DiurnalArrivals | BurstyArrivals | TraceArrivals, draws: Draws,
                start_hours: float = 0.0, stationary_phase: bool = False,
                ) -> PoissonProcess | DiurnalProcess | BurstyProcess | TraceProcess:
    """The arrival process a schema section describes, drawing from ``draws``, its first arrival after
    ``start_hours`` (a trace's time 0 falls at ``start_hours``); ``stationary_phase``: on/off arrivals start
    ON with their stationary probability on / (on + off), not always ON."""
    if isinstance(spec, PoissonArrivals):
        return PoissonProcess(spec.rate, draws, start_hours)
    if isinstance(spec, DiurnalArrivals):
        return DiurnalProcess(spec.trough, spec.peak, spec.period, spec.peak_at, draws, start_hours)
    if isinstance(spec, BurstyArrivals):
        on = True
        if stationary_phase:
            on = draws.uniform() * (spec.on_duration + spec.off_duration) < spec.on_duration
        return BurstyProcess(spec.rate, spec.quiet_rate_per_s, spec.on_duration, spec.off_duration, draws,
                             start_hours, start_on=on)
    if isinstance(spec, TraceArrivals):
        return TraceProcess(list(spec.times), spec.scale, spec.repeat, start_hours)
    raise TypeError(f"unknown arrival process {spec!r}")


# --- service ------------------------------------------------------------------------------------

def token_counts(law: TokenLaw, rng: np.random.Generator, size: int) -> np.ndarray:
    """``size`` token counts (int64, at least 1) from ``law``: deterministic round(mean); uniform integers in
    [low, high]; exponential and lognormal (by mean and cv) rounded, at least 1."""
    if law.dist == "uniform":
        assert law.low is not None and law.high is not None
        return rng.integers(law.low, law.high + 1, size, dtype=np.int64)
    assert law.mean is not None
    if law.dist == "deterministic":
        return np.full(size, max(1, round(law.mean)), dtype=np.int64)
    if law.dist == "exponential":
        values = rng.exponential(law.mean, size)
    else:
        assert law.cv is not None
        sigma2 = math.log1p(law.cv * law.cv)
        values = rng.lognormal(math.log(law.mean) - sigma2 / 2.0, math.sqrt(sigma2), size)
    return np.maximum(np.rint(values), 1.0).astype(np.int64)


class ServiceDraws:
    """Per-request service draws: (service hours at full speed, prefill hours, output tokens).

    With a service-time distribution a request is (d, d, 0); with tokens it is (P·prefill + O·decode,
    P·prefill, O) for prompt tokens P and output tokens O. Drawn ``BLOCK`` at a time with numpy and kept as a
    list of tuples, so a draw is an index and a list read.
    """

    __slots__ = ("_spec", "_rng", "_block", "_i")

    def __init__(self, spec: Inference, rng: np.random.Generator) -> None:
        if (spec.service_time is None) == (spec.tokens is None):
            raise ValueError("service draws need exactly one of service_time and tokens")
        self._spec = spec
        self._rng = rng
        self._block: list[tuple[float, float, int]] = []
        self._i = BLOCK

    def _fill(self) -> None:
        spec, rng = self._spec, self._rng
        if spec.tokens is not None:
            tokens = spec.tokens
            prompt = token_counts(tokens.prompt_tokens, rng, BLOCK)
            output = token_counts(tokens.output_tokens, rng, BLOCK)
            prefill = prompt * tokens.prefill_per_token
            service = prefill + output * tokens.decode_per_token
            self._block = list(zip(service.tolist(), prefill.tolist(), output.tolist()))
        else:
            assert spec.service_time is not None
            durations = spec.service_time.sample(rng, BLOCK).tolist()
            self._block = [(d, d, 0) for d in durations]

    def draw(self) -> tuple[float, float, int]:
        """The next request's (service hours at full speed, prefill hours, output tokens)."""
        i = self._i
        if i == BLOCK:
            self._fill()
            i = 0
        self._i = i + 1
        return self._block[i]


def service_draws(spec: Inference, rng: np.random.Generator) -> ServiceDraws:
    """The service draws of ``spec`` (service_time or tokens), from ``rng``."""
    return ServiceDraws(spec, rng)

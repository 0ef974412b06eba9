"""A service's metrics, accumulated as requests resolve: counts, exact sums, and latency histograms.

Memory stays flat in requests and horizon: latencies go into log-spaced bins (200 per decade, from 1 µs to
11.6 days), and a quantile is read as the geometric middle of its bin, so it is within 0.58 % (half a bin) of
the exact order statistic. Means are exact sums. A request counts in the window when it
was sent in [warmup, horizon) and its fate is decided by the horizon: resolved (answered, failed, refused),
or still unanswered though sent more than ``slo.latency`` before the horizon (it can no longer be good: it
counts as failed, e.g. an attempt hanging on a dead replica with no timeout). A request sent later and still
in flight at the horizon is left out.
"""
from __future__ import annotations

import math

import numpy as np

SECONDS_PER_HOUR = 3600.0
BINS_PER_DECADE = 200
LOWEST_S = 1e-6
DECADES = 12
_BINS = BINS_PER_DECADE * DECADES
_PER_LOWEST = 1.0 / LOWEST_S
_log10 = math.log10


def bin_middles_s(bins: np.ndarray) -> np.ndarray:
    """The seconds a bin stands for: its geometric middle (bin 0: ``LOWEST_S``)."""
    return np.where(bins == 0, LOWEST_S, LOWEST_S * 10.0 ** ((bins - 0.5) / BINS_PER_DECADE))


class Histogram:
    """Counts of positive values (seconds) in log-spaced bins; bin 0 also holds values below ``LOWEST_S``."""

    __slots__ = ("counts", "n")

    def __init__(self) -> None:
        self.counts = [0] * (_BINS + 1)
        self.n = 0

    def add(self, seconds: float) -> None:
        if seconds <= LOWEST_S:
            b = 0
        else:
            b = 1 + int(_log10(seconds * _PER_LOWEST) * BINS_PER_DECADE)
            if b > _BINS:
                b = _BINS
        self.counts[b] += 1
        self.n += 1

    def quantile(self, q: float) -> float | None:
        """The q-quantile (seconds): the geometric middle of the bin holding it (None with no values)."""
        if not self.n:
            return None
        rank = q * self.n
        seen = 0
        for b, count in enumerate(self.counts):
            seen += count
            if count and seen >= rank:
                return float(bin_middles_s(np.array([b]))[0])
        return LOWEST_S * 10.0 ** DECADES


class Level:
    """A time-weighted integer level over a window (replicas serving, say)."""

    __slots__ = ("value", "at", "start", "end", "area", "low_since", "needed", "enough_time", "positive_time")

    def __init__(self, value: int, start: float, end: float, needed: int) -> None:
        self.value, self.at, self.start, self.end = value, 0.0, start, end
        self.area = self.enough_time = self.positive_time = 0.0
        self.needed = needed

    def set(self, value: int, now: float) -> None:
        if value != self.value:
            self._advance(now)
            self.value = value

    def _advance(self, now: float) -> None:
        a, b = max(self.at, self.start), min(now, self.end)
        if b > a:
            span = b - a
            self.area += self.value * span
            if self.value >= self.needed:
                self.enough_time += span
            if self.value > 0:
                self.positive_time += span
        self.at = now

    def finish(self) -> None:
        self._advance(self.end)

    @property
    def span(self) -> float:
        return self.end - self.start


class ServiceMeasures:
    """Everything one service's metrics need, fed by the service as its requests resolve."""

    def __init__(self, start: float, end: float, slo_latency_hours: float, slo_window_hours: float,
                 tokens: bool) -> None:
        self.start, self.end = start, end
        self.slo_latency = slo_latency_hours
        self.window = slo_window_hours
        # whole SLO windows from the warmup (a run shorter than one window is judged as one window)
        self.windows = max(1, int((end - start) / slo_window_hours + 1e-9))
        self.window_sent = [0] * self.windows
        self.window_good = [0] * self.windows
        self.decided_by = end - slo_latency_hours  # sent before this: too late to be good at the horizon
        self.overdue = 0                           # such requests sent, less those resolved
        self.window_overdue = [0] * self.windows   # the same, per SLO window
        self.requests = self.good = self.answered = self.attempts = 0
        self.shed = self.rate_limited = self.timeouts = self.fallback = self.failed = 0
        self.wait_sum = 0.0
        self.waits = 0
        self.latency = Histogram()
        self.ttft = Histogram() if tokens else None
        self.tpot = Histogram() if tokens else None
        self.bad_release = 0
        self.rollback_hours: float | None = None   # mean time from a release's start to its rollback
        self.rollbacks = 0
        self.serving: Level | None = None
        self.replicas_held: Level | None = None
        self.count_from = -math.inf  # requests sent earlier do not count (the hybrid's burn-in before a window)

    def rolled_back(self, hours: float) -> None:
        """A release rolled back ``hours`` after its start: ``rollback_hours`` is the mean over the releases that
        did (one canary's own time when it is the only one)."""
        self.rollbacks += 1
        before = self.rollback_hours or 0.0
        self.rollback_hours = before + (hours - before) / self.rollbacks

    def arrived(self, sent: float, counted: bool) -> None:
        """A request was sent (at ``sent``; ``counted``: it counts in the window)."""
        if counted and sent < self.decided_by:
            self._overdue(sent, 1)

    def _overdue(self, sent: float, change: int) -> None:
        self.overdue += change
        w = int((sent - self.start) / self.window)
        if w < self.windows:
            self.window_overdue[w] += change

    def counts(self, sent: float) -> bool:
        """Does a request sent now, at ``sent``, count in the window? (Decided once, when it is sent.)"""
        return self.start <= sent < self.end and sent >= self.count_from

    def resolved(self, sent: float, counted: bool, now: float, answered: bool, attempts: int) -> None:
        """A request sent at ``sent`` is done (answered or not) at ``now`` after ``attempts`` attempts."""
        if not counted or now > self.end:
            return
        if sent < self.decided_by:
            self._overdue(sent, -1)
        self.requests += 1
        self.attempts += attempts
        good = answered and now - sent <= self.slo_latency
        if answered:
            self.answered += 1
            self.latency.add((now - sent) * SECONDS_PER_HOUR)
        else:
            self.failed += 1
        w = int((sent - self.start) / self.window)
        if w < self.windows:
            self.window_sent[w] += 1
            self.window_good[w] += good
        self.good += good

    def waited(self, counted: bool, wait_hours: float) -> None:
        """An attempt of a request (``counted`` in the window or not) started service after ``wait_hours``."""
        if counted:
            self.wait_sum += wait_hours
            self.waits += 1

    def tokens_timed(self, counted: bool, ttft_hours: float, tpot_hours: float) -> None:
        if self.ttft is not None and self.tpot is not None and counted:
            self.ttft.add(ttft_hours * SECONDS_PER_HOUR)
            self.tpot.add(tpot_hours * SECONDS_PER_HOUR)

    def values(self, slo_target: float) -> dict[str, float | None]:
        """The metric values by their name after ``inference.<svc>.`` (None: not measurable here)."""
        overdue = self.overdue   # unanswered at the horizon, too late to be good: failed
        window_sent = [sent + late for sent, late in zip(self.window_sent, self.window_overdue)]
        requests = self.requests + overdue
        success = self.good / requests if requests else None
        met = sum(1 for sent, good in zip(window_sent, self.window_good) if not sent or good >= slo_target * sent)
        values: dict[str, float | None] = {
            "requests": float(requests),
            "success_ratio": success,
            "latency_p50_s": self.latency.quantile(0.50),
            "latency_p90_s": self.latency.quantile(0.90),
            "latency_p99_s": self.latency.quantile(0.99),
            "wait_mean_s": self.wait_sum / self.waits * SECONDS_PER_HOUR if self.waits else None,
            "slo_attainment": met / self.windows,
            "error_budget_burn": (1.0 - success) / (1.0 - slo_target) if success is not None else None,
            "retry_amplification": self.attempts / requests if requests else None,
            "shed": float(self.shed),
            "rate_limited": float(self.rate_limited),
            "timeouts": float(self.timeouts),
            "fallback": float(self.fallback),
            "release.bad_requests": float(self.bad_release),
            "release.rollback_s": self.rollback_hours * SECONDS_PER_HOUR if self.rollback_hours is not None else None,
        }
        if self.ttft is not None and self.tpot is not None:
            values["ttft_p99_s"] = self.ttft.quantile(0.99)
            values["tpot_p99_s"] = self.tpot.quantile(0.99)
        if self.serving is not None:
            self.serving.finish()
            span = self.serving.span
            values["availability"] = self.serving.positive_time / span
            values["capacity_availability"] = self.serving.enough_time / span
        if self.replicas_held is not None:
            self.replicas_held.finish()
            values["replicas_mean"] = self.replicas_held.area / self.replicas_held.span
        return values


# The service metrics a window's requests determine (the rest count events the series does not route)
SERIES_KEYS = ("requests", "success_ratio", "latency_p50_s", "latency_p90_s", "latency_p99_s", "error_budget_burn",
               "retry_amplification")


class RequestSeries:
    """A service's request metrics per series window: each request counts in the window it was sent in,
    judged like the whole run's (``ServiceMeasures``, one per window, up to the horizon)."""

    def __init__(self, windows: list[tuple[float, float]], horizon: float, slo_latency_hours: float) -> None:
        self.first = windows[0][0]
        self.width = windows[0][1] - windows[0][0]
        self.last = len(windows) - 1
        self.windows = [ServiceMeasures(start, horizon, slo_latency_hours, horizon - start, False)
                        for start, _ in windows]

    def _of(self, sent: float) -> ServiceMeasures:
        return self.windows[min(self.last, int((sent - self.first) / self.width))]

    def arrived(self, sent: float) -> None:
        """A counted request was sent at ``sent``."""
        self._of(sent).arrived(sent, True)

    def resolved(self, sent: float, now: float, answered: bool, attempts: int) -> None:
        """A counted request sent at ``sent`` is done at ``now``."""
        self._of(sent).resolved(sent, True, now, answered, attempts)

    def values(self, slo_target: float) -> dict[str, list[float | None]]:
        """Each of ``SERIES_KEYS``, window by window."""
        per_window = [measures.values(slo_target) for measures in self.windows]
        return {key: [values[key] for values in per_window] for key in SERIES_KEYS}

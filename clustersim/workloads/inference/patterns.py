"""Resilience patterns as small state machines on the loop's clock: token buckets (rate limits, retry budgets),
backoff with jitter, and the per-replica circuit breaker."""
from __future__ import annotations

from collections import deque

from clustersim.scenario.sections.inference import CircuitBreaker, Retries

SECONDS_PER_HOUR = 3600.0


class TokenBucket:
    """``rate`` tokens per second up to ``burst``, full at the start; ``take()`` spends one if there is one."""

    __slots__ = ("rate_per_hour", "burst", "tokens", "at")

    def __init__(self, rate_per_s: float, burst: float) -> None:
        self.rate_per_hour = rate_per_s * SECONDS_PER_HOUR
        self.burst = burst
        self.tokens = burst
        self.at = 0.0

    def take(self, now: float) -> bool:
        tokens = min(self.burst, self.tokens + (now - self.at) * self.rate_per_hour)
        self.at = now
        if tokens >= 1.0 - 1e-9:  # (refills of exact fractions of a token add up with rounding)
            self.tokens = max(0.0, tokens - 1.0)
            return True
        self.tokens = tokens
        return False


class RetryBudget:
    """Envoy's and gRPC's retry budget as a bucket: each request sent adds ``ratio`` retries, up to ``burst``;
    a retry spends one. Over a run, retries ≤ ratio × requests + burst."""

    __slots__ = ("ratio", "burst", "balance")

    def __init__(self, ratio: float, burst: float) -> None:
        self.ratio, self.burst, self.balance = ratio, burst, burst

    def request_sent(self) -> None:
        self.balance = min(self.burst, self.balance + self.ratio)

    def allows_retry(self) -> bool:
        if self.balance >= 1.0:
            self.balance -= 1.0
            return True
        return False


def backoff_hours(spec: Retries, retry: int, uniform: float) -> float:
    """The wait before retry number ``retry`` (1 = the first): min(max, base × 2^(retry−1)) with its jitter."""
    ceiling = min(spec.backoff_max, spec.backoff_base * 2.0 ** (retry - 1))
    if spec.jitter == "full":
        return ceiling * uniform
    if spec.jitter == "equal":
        return ceiling * (0.5 + 0.5 * uniform)
    return ceiling


CLOSED, OPEN, HALF_OPEN = 0, 1, 2


class Breaker:
    """One replica's circuit breaker. Closed: every outcome goes into a rolling window; when the window holds at
    least ``minimum_calls`` outcomes and the error share reaches ``error_threshold`` it opens. Open: no calls
    until ``open_duration`` has passed (checked when asked), then half-open: ``half_open_calls`` trial calls go
    through; all good closes it (an empty window), any error opens it again."""

    __slots__ = ("spec", "state", "calls", "errors", "window", "opened_at", "trials", "trial_good", "changes")

    def __init__(self, spec: CircuitBreaker) -> None:
        self.spec = spec
        self.state = CLOSED
        self.window: deque[tuple[float, bool]] = deque()
        self.calls = self.errors = 0
        self.opened_at = 0.0
        self.trials = self.trial_good = 0   # half-open: calls let through, and answered well
        self.changes: list[tuple[float, int]] = []  # (time, new state): the breaker's timeline

    def allows(self, now: float) -> bool:
        """May a call go to the replica now? (Counts a half-open trial when it may.)"""
        state = self.state
        if state == CLOSED:
            return True
        if state == OPEN:
            if now - self.opened_at < self.spec.open_duration:
                return False
            self._set(HALF_OPEN, now)
            self.trials = self.trial_good = 0
        return self.trials < self.spec.half_open_calls

    def routed(self) -> None:
        """A call allowed by ``allows`` was sent."""
        if self.state == HALF_OPEN:
            self.trials += 1

    def outcome(self, now: float, error: bool) -> None:
        """A call ended well or with an error (a timeout is an error)."""
        if self.state == HALF_OPEN:
            if error:
                self._open(now)
            else:
                self.trial_good += 1
                if self.trial_good >= self.spec.half_open_calls:
                    self._set(CLOSED, now)
            return
        if self.state == OPEN:
            return  # a call sent before it opened
        window, horizon = self.window, now - self.spec.window
        window.append((now, error))
        self.calls += 1
        self.errors += error
        while window[0][0] <= horizon:
            _, old = window.popleft()
            self.calls -= 1
            self.errors -= old
        if self.calls >= self.spec.minimum_calls and self.errors >= self.spec.error_threshold * self.calls:
            self._open(now)

    def _open(self, now: float) -> None:
        self.opened_at = now
        self.window.clear()
        self.calls = self.errors = 0
        self._set(OPEN, now)

    def _set(self, state: int, now: float) -> None:
        self.state = state
        self.changes.append((now, state))

"""A canary release: the new version's share of attempts ramps by steps, each analysis interval judging its
error share and p99 latency; ``failed_checks`` failed checks roll it back, passing the last step promotes it.

The new version runs on the same pool (its replicas carry both versions): an attempt drawn for it has the
new version's error probability and latency factor. Bad requests are the new version's attempts that
errored or timed out; time to rollback runs from the release's start.

A ``bad_release`` chaos injection is a release too: through the service's canary (a ``Release`` drawing its traffic
split and its errors from the injection's own stream, rolled back at the latest ``duration`` after its start), or,
without a canary, a ``DirectRelease``: every attempt on the bad version from ``at`` until ``duration`` later.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

from clustersim.scenario.sections.inference import Canary
from clustersim.workloads.inference.loop import EventLoop
from clustersim.workloads.inference.measure import ServiceMeasures

if TYPE_CHECKING:
    from clustersim.workloads.inference.arrivals import Draws
    from clustersim.workloads.inference.service import Attempt, Pool

IDLE, RAMPING, PROMOTED, ROLLED_BACK = range(4)


class Release:
    """The canary's state, its traffic share and the figures of the current analysis interval."""

    def __init__(self, loop: EventLoop, spec: Canary, pool: Pool, measures: ServiceMeasures,
                 draws: Draws | None = None, until: float = math.inf) -> None:
        self.loop = loop
        self.spec = spec
        self.pool = pool
        self.measures = measures
        self.state = IDLE
        self.share = 0.0
        self.step = 0
        self.failed = 0
        self.calls = self.errors = 0
        self.latencies: list[float] = []
        self.timeline: list[tuple[float, int, float]] = []  # (time, state, share): for reports and tests
        self.error_rate = spec.error_rate
        self.latency_factor = spec.latency_factor
        self.draws = draws   # an injection's own stream (its split and its errors, on top); None: the canary's own
        loop.at(spec.start, self._begin)
        if until < math.inf:
            loop.at(until, self._abandon)

    def takes(self, draws: Draws) -> bool:
        """Does the next attempt go to the new version? (``draws``: the client's, unless it has its own.)"""
        share = self.share
        return share >= 1.0 or (share > 0.0 and (self.draws or draws).uniform() < share)

    def observed(self, attempt: Attempt, outcome: int, now: float) -> None:
        """An attempt of the new version ended."""
        from clustersim.workloads.inference.service import OK
        bad = outcome != OK
        if bad and attempt.request.counted:
            self.measures.bad_release += 1
        if self.state == RAMPING:
            self.calls += 1
            self.errors += bad
            if not bad:
                self.latencies.append(now - attempt.sent)

    def _begin(self, _arg: object) -> None:
        self.state = RAMPING
        self._set_share(self.spec.steps[0])
        self.loop.at(self.loop.now + self.spec.analysis_interval, self._analyse)

    def _analyse(self, _arg: object) -> None:
        if self.state != RAMPING:
            return
        spec, now = self.spec, self.loop.now
        passed = self._check_passes()
        self.calls = self.errors = 0
        self.latencies = []
        if not passed:
            self.failed += 1
            if self.failed >= spec.failed_checks:
                self.state = ROLLED_BACK
                self._set_share(0.0)
                self.measures.rolled_back(now - spec.start)
                return
        elif self.step + 1 < len(spec.steps):
            self.step += 1
            self._set_share(spec.steps[self.step])
        else:
            self.state = PROMOTED
            self._set_share(1.0)
            return
        self.loop.at(now + spec.analysis_interval, self._analyse)

    def _check_passes(self) -> bool:
        """Within bounds: error share at most max_error_rate and p99 of its answers at most max_latency_p99
        (an interval without calls passes: nothing to judge)."""
        if not self.calls:
            return True
        if self.errors > self.spec.max_error_rate * self.calls:
            return False
        if not self.latencies:
            return True
        ordered = sorted(self.latencies)
        p99 = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]
        return p99 <= self.spec.max_latency_p99

    def _abandon(self, _arg: object) -> None:
        """An injected bad release is rolled back by hand at its end, if its canary has not rolled it back."""
        if self.state in (RAMPING, PROMOTED):
            self.state = ROLLED_BACK
            self._set_share(0.0)
            self.measures.rolled_back(self.loop.now - self.spec.start)

    def _set_share(self, share: float) -> None:
        self.share = share
        self.timeline.append((self.loop.now, self.state, share))


class DirectRelease:
    """A bad version released to all traffic at once at ``start`` (no canary) and rolled back at ``until``."""

    def __init__(self, loop: EventLoop, start: float, until: float, error_rate: float, latency_factor: float,
                 measures: ServiceMeasures, draws: Draws) -> None:
        self.loop = loop
        self.measures = measures
        self.error_rate = error_rate
        self.latency_factor = latency_factor
        self.draws: Draws | None = draws   # its errors (on top of the service's own) come from the injection's stream
        self.start = start
        self.state = IDLE
        self.share = 0.0
        loop.at(start, self._begin)
        loop.at(until, self._roll_back)

    def takes(self, draws: Draws) -> bool:
        return self.state == PROMOTED

    def observed(self, attempt: Attempt, outcome: int, now: float) -> None:
        from clustersim.workloads.inference.service import OK
        if outcome != OK and attempt.request.counted:
            self.measures.bad_release += 1

    def _begin(self, _arg: object) -> None:
        self.state, self.share = PROMOTED, 1.0

    def _roll_back(self, _arg: object) -> None:
        self.state, self.share = ROLLED_BACK, 0.0
        self.measures.rolled_back(self.loop.now - self.start)


class PromotedRelease:
    """A release already promoted: every attempt runs the new version (the hybrid's stationary samples)."""

    state = PROMOTED
    share = 1.0

    draws: Draws | None = None  # the canary's own: its errors are the version's own error probability

    def __init__(self, spec: Canary, pool: Pool, measures: ServiceMeasures) -> None:
        self.measures = measures
        self.error_rate = spec.error_rate
        self.latency_factor = spec.latency_factor

    def takes(self, draws: Draws) -> bool:
        return True

    def observed(self, attempt: Attempt, outcome: int, now: float) -> None:
        from clustersim.workloads.inference.service import OK
        if outcome != OK and attempt.request.counted:
            self.measures.bad_release += 1

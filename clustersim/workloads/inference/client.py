"""One inference service end to end: its clients' requests and the policies on their way to the pools.

A request is sent when it arrives; each attempt passes the rate limit, then the primary pool takes it (a
replica or the queue) or cannot (no routable replica, admission, shedding), and then goes to the fallback
pool when there is one. A failed attempt (an error, or a timeout when ``retries.on_timeout``) is retried
after its backoff while attempts and the retry budget allow; a request is resolved by its first answer or
its last failure. The canary's traffic split is drawn per attempt.
"""
from __future__ import annotations

import math
from collections.abc import Callable

from clustersim.model.spares import Slot
from clustersim.model.storage import StorageCluster
from clustersim.rng import Streams
from clustersim.scenario.sections.inference import Inference
from clustersim.workloads.inference.arrivals import ArrivalProcess, Draws, ServiceDraws, arrivals_of, service_draws
from clustersim.workloads.inference.loop import EventLoop
from clustersim.workloads.inference.measure import Level, RequestSeries, ServiceMeasures
from clustersim.workloads.inference.patterns import RetryBudget, TokenBucket, backoff_hours
from clustersim.workloads.inference.release import DirectRelease, PromotedRelease, Release
from clustersim.workloads.inference.service import (
    ERROR, OK, QUEUED, SERVING, SHED, TIMEOUT, UNAVAILABLE, Attempt, Pool, Request, Version,
)


class _Scaled:
    """A pool's service draws at ``factor`` times the primary's (the fallback's degraded model)."""

    __slots__ = ("draws", "factor")

    def __init__(self, draws: ServiceDraws, factor: float) -> None:
        self.draws, self.factor = draws, factor

    def draw(self) -> tuple[float, float, int]:
        service, prefill, tokens = self.draws.draw()
        return service * self.factor, prefill * self.factor, tokens


class Service:
    """The clients of one service and the pools they reach."""

    def __init__(self, loop: EventLoop, spec: Inference, first_number: int, primary: list[list[Slot]],
                 fallback_slots: list[list[Slot]], streams: Streams, record: Callable[[tuple], None],
                 store: StorageCluster | None, window: tuple[float, float], stream_prefix: str = "",
                 series: list[tuple[float, float]] | None = None) -> None:
        self.loop = loop
        self.spec = spec
        name = f"inference/{spec.name}{stream_prefix}"
        self.draws = Draws(streams.generator(f"{name}/client"))
        start, end = window
        self.measures = measures = ServiceMeasures(start, end, spec.slo_latency_hours, spec.slo.window,
                                                   spec.tokens is not None)
        measures.serving = Level(len(primary), start, end, spec.healthy_needed)
        if spec.autoscaling is not None:
            measures.replicas_held = Level(len(primary), start, end, 0)
        self.series = RequestSeries(series, end, spec.slo_latency_hours) if series else None
        draws = service_draws(spec, streams.generator(f"{name}/service"))
        self.pool = Pool(loop, spec, spec.load_balancer, primary, first_number, 1.0, record, store,
                         Draws(streams.generator(f"{name}/balancer")), draws, self._ended, measures,
                         spec.replicas_most, spec.concurrency, measured=True)
        self.fallback: Pool | None = None
        if spec.fallback is not None:
            fallback = spec.fallback
            self.fallback = Pool(loop, spec, spec.load_balancer, fallback_slots, first_number + spec.replicas_most,
                                 fallback.latency_factor, record, store,
                                 Draws(streams.generator(f"{name}/fallback")),
                                 _Scaled(service_draws(spec, streams.generator(f"{name}/fallback-service")),
                                         fallback.latency_factor),
                                 self._ended, measures, fallback.replicas, fallback.concurrency, measured=False)
        self.timeout = spec.timeout if spec.timeout is not None else math.inf
        retries = spec.retries
        self.budget = RetryBudget(retries.budget, retries.budget_burst) \
            if retries is not None and retries.budget < retries.max_attempts - 1 else None
        self.limiter = TokenBucket(spec.rate_limit.rate, spec.rate_limit.burst) if spec.rate_limit is not None \
            else None
        self.release: Release | PromotedRelease | None = \
            Release(loop, spec.canary, self.pool, measures) if spec.canary is not None else None
        self.bad_releases: list[Release | DirectRelease] = []  # bad_release injections (their own streams)
        self.thinning: list[tuple[float, Draws]] = []           # traffic_surge injections with factor < 1 under way
        self.arrival_draws = Draws(streams.generator(f"{name}/arrivals"))
        self.live = True            # are requests being sent? (the hybrid technique stops them between windows)
        self._arrivals_epoch = 0    # bumped when arrivals stop: a stale arrival event does nothing
        self._start_arrivals(arrivals_of(spec.arrivals, self.arrival_draws))

    def _start_arrivals(self, process: ArrivalProcess) -> None:
        self.arrivals = process
        first_arrival = process.next()
        if first_arrival < math.inf:
            self.loop.at(first_arrival, self._arrive, self._arrivals_epoch)

    def stop_arrivals(self) -> None:
        """No more requests are sent (in flight ones go on)."""
        self.live = False
        self._arrivals_epoch += 1

    def resume_arrivals(self, now: float) -> None:
        """Requests are sent again from ``now``: a fresh arrival process from ``now`` (exact for Poisson, diurnal
        and on/off arrivals: their gaps are memoryless; the on/off phase is drawn from its stationary odds)."""
        self.live = True
        self._start_arrivals(arrivals_of(self.spec.arrivals, self.arrival_draws, now, stationary_phase=True))

    def reset_limits(self) -> None:
        """The retry budget and the rate limit full again (how a settled service leaves them: the hybrid
        technique's window starts so)."""
        retries, limit = self.spec.retries, self.spec.rate_limit
        if self.budget is not None and retries is not None:
            self.budget = RetryBudget(retries.budget, retries.budget_burst)
        if self.limiter is not None and limit is not None:
            self.limiter = TokenBucket(limit.rate, limit.burst)

    # --- requests -------------------------------------------------------------------------------------

    def _arrive(self, epoch: int) -> None:
        if epoch != self._arrivals_epoch:
            return
        now = self.loop.now
        following = self.arrivals.next()
        if following < math.inf:
            self.loop.at(following, self._arrive, epoch)
        if self.thinning and not _kept(self.thinning):
            return  # a surge below 1: this client does not send it
        self.send_request(now)

    def send_request(self, now: float) -> None:
        """A new request is sent now (an arrival, or a traffic surge's extra one)."""
        request = Request(now, self.measures.counts(now))
        self.measures.arrived(now, request.counted)
        if self.series is not None and request.counted:
            self.series.arrived(now)
        if self.budget is not None:
            self.budget.request_sent()
        self._send(request)

    def _send(self, request: Request) -> None:
        """A new attempt of ``request``, now."""
        now = self.loop.now
        request.attempts += 1
        limiter = self.limiter
        if limiter is not None and not limiter.take(now):
            if request.counted:
                self.measures.rate_limited += 1
            self._resolve(request, False, now)
            return
        release = self.release
        version: Version | None = release if release is not None and release.takes(self.draws) else None
        for bad in self.bad_releases:  # an injected bad version takes its share of every attempt (its own draws)
            if bad.takes(self.draws):
                version = bad
                break
        attempt = Attempt(request, self.pool, now, now + self.timeout, version)
        taken = self.pool.route(attempt, now)
        if taken == SERVING or taken == QUEUED:
            return
        if taken == SHED and request.counted:
            self.measures.shed += 1
        self._fall_back(attempt, now, taken)

    def _fall_back(self, attempt: Attempt, now: float, reason: int) -> None:
        """The primary pool cannot take ``attempt``: the fallback pool may, else the attempt fails."""
        fallback = self.fallback
        if fallback is not None:
            backup = Attempt(attempt.request, fallback, now, attempt.deadline, None)
            taken = fallback.route(backup, now)
            if taken == SERVING or taken == QUEUED:
                return
        self._failed(attempt, reason, now)

    def _ended(self, attempt: Attempt, outcome: int, now: float) -> None:
        """An attempt ended on a pool (answered, an error or a timeout)."""
        request = attempt.request
        if attempt.version is not None:
            attempt.version.observed(attempt, outcome, now)
        if outcome == OK:
            measures = self.measures
            if attempt.pool is self.fallback and request.counted:
                measures.fallback += 1
            if measures.ttft is not None:
                measures.tokens_timed(request.counted, attempt.started - request.sent + attempt.prefill, attempt.tpot)
            self._resolve(request, True, now)
            return
        if outcome == TIMEOUT and request.counted:
            self.measures.timeouts += 1
        self._failed(attempt, outcome, now)

    def _failed(self, attempt: Attempt, outcome: int, now: float) -> None:
        """A failed attempt: retried after its backoff if the policy allows, else the request fails."""
        request = attempt.request
        retries = self.spec.retries
        retryable = outcome in (ERROR, UNAVAILABLE) or (outcome == TIMEOUT and retries is not None
                                                         and retries.on_timeout)
        if (retries is not None and retryable and attempt.pool is self.pool
                and request.attempts < retries.max_attempts
                and (self.budget is None or self.budget.allows_retry())):
            wait = backoff_hours(retries, request.attempts, self.draws.uniform())
            self.loop.at(now + wait, self._send, request)
            return
        self._resolve(request, False, now)

    def _resolve(self, request: Request, answered: bool, now: float) -> None:
        self.measures.resolved(request.sent, request.counted, now, answered, request.attempts)
        if self.series is not None and request.counted:
            self.series.resolved(request.sent, now, answered, request.attempts)

    def values(self) -> dict[str, float | None]:
        """Its metrics, by the name after ``inference.<name>.``."""
        return self.measures.values(self.spec.slo.target)


def _kept(thinning: list[tuple[float, Draws]]) -> bool:
    """Is an arrival kept by every traffic surge below 1 under way (each keeps it with probability factor, drawn
    from its own stream)?"""
    kept = True
    for factor, draws in thinning:
        kept = draws.uniform() < factor and kept
    return kept

"""The request-level model of one inference service: arrivals, the balancer's pool and queue, the client's
timeouts and retries, rate limits, admission, shedding, the fallback pool and the canary's traffic split.

An attempt is routed to a replica the balancer believes healthy (not ejected, its breaker allowing) with a
free slot, by the pool's policy; when every routable replica is full it waits in the pool's one FIFO queue.
An attempt sent to a replica that is really dead fails at once (``dead_replica = "fail_fast"``) or hangs
until its timeout (``"hang"``); a replica that dies while serving loses its attempts the same way.
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Protocol, cast

from clustersim.model.spares import Slot
from clustersim.model.storage import StorageCluster
from clustersim.scenario.sections.inference import CircuitBreaker, Inference, LoadBalancer
from clustersim.workloads.inference.arrivals import Draws
from clustersim.workloads.inference.balancer import Policy, build_policy
from clustersim.workloads.inference.loop import EventLoop
from clustersim.workloads.inference.measure import ServiceMeasures
from clustersim.workloads.inference.patterns import CLOSED, OPEN, Breaker
from clustersim.workloads.inference.replica import DOWN, HEALTH, REPLICA, UP, Replica

# how an attempt ended
OK, ERROR, TIMEOUT, UNAVAILABLE, SHED = range(5)
# where an attempt is
NEW, QUEUED, SERVING, HANGING, ENDED = range(5)


class Request:
    """One client request: when it was sent, its attempts so far."""

    __slots__ = ("sent", "attempts", "counted")

    def __init__(self, sent: float, counted: bool) -> None:
        self.sent = sent
        self.attempts = 0
        self.counted = counted  # it counts in the metrics' window


class Attempt:
    """One try of a request on one pool."""

    __slots__ = ("request", "pool", "replica", "epoch", "state", "sent", "deadline", "version", "error",
                 "prefill", "tpot", "started", "cut")

    def __init__(self, request: Request, pool: Pool, sent: float, deadline: float, version: Version | None) -> None:
        self.request = request
        self.pool = pool
        self.replica: Replica | None = None
        self.epoch = 0
        self.state = NEW
        self.sent = sent
        self.deadline = deadline
        self.version = version  # the release it runs the new version of, or None (the old version)
        self.error = False
        self.prefill = self.tpot = self.started = 0.0
        self.cut = False  # its service would end after its deadline: the deadline ends it


class Version(Protocol):
    """A release's new version as an attempt meets it (``release.Release``, ``DirectRelease``, ``PromotedRelease``)."""

    error_rate: float
    latency_factor: float
    draws: Draws | None  # None: the canary's own (error probability max(own, the service's)); else drawn on top

    def observed(self, attempt: Attempt, outcome: int, now: float) -> None: ...


class ServiceDrawing(Protocol):
    """Draws one request's (service hours at full speed, prefill hours, output tokens)."""

    def draw(self) -> tuple[float, float, int]: ...


Ended = Callable[[Attempt, int, float], None]


class Pool:
    """Replicas behind one balancer, with its queue, health checks and outlier ejection."""

    def __init__(self, loop: EventLoop, spec: Inference, lb: LoadBalancer, replicas: list[list[Slot]],
                 first_number: int, latency_factor: float, record: Callable[[tuple], None],
                 store: StorageCluster | None, draws: Draws, service_draws: ServiceDrawing, ended: Ended,
                 measures: ServiceMeasures, most_replicas: int, concurrency: int, measured: bool) -> None:
        self.loop = loop
        self.spec = spec
        self.lb = lb
        self.record = record
        self.store = store
        self.draws = draws
        self.service_draws = service_draws
        self.ended = ended
        self.measures = measures
        self.concurrency = concurrency
        self.measured = measured  # its replicas are the service's (availability), not the fallback's
        self.latency_factor = latency_factor
        self.mean_service_hours = spec.service_mean_hours * latency_factor
        self.reload_hours = spec.reload_time
        self.breaker_spec: CircuitBreaker | None = spec.circuit_breaker
        self.fail_fast = spec.dead_replica == "fail_fast"
        self.queue_timeout = lb.queue_timeout if lb.queue_timeout is not None else math.inf
        self.policy: Policy = build_policy(lb, draws, most_replicas)
        self.first_number = first_number
        self.replicas: list[Replica] = []     # every replica it has held, by index
        self.active: list[Replica] = []       # replicas holding positions, in index order
        self.queue: deque[Attempt] = deque()
        self.queued = 0                        # live attempts in the queue
        self.ejected = 0
        self.serving = 0
        self.probes_blocked = 0                # health_check_outage injections under way: every check fails
        self.checks_epoch = 0                  # bumped when checks stop (the hybrid's stretches): stale ones end
        self.expect: Callable[[float], None] = _nothing  # told when a replica will start serving (hybrid)
        for slots in replicas:
            self.add_replica(slots, serving=True)

    # --- replicas -----------------------------------------------------------------------------------------

    def add_replica(self, slots: list[Slot], serving: bool) -> Replica:
        """A replica on ``slots``: serving at once (the run's start) or after provisioning and reloading."""
        replica = Replica(self, len(self.replicas), self.first_number + len(self.replicas), slots)
        self.replicas.append(replica)
        self.active.append(replica)
        self.active.sort(key=_index)
        interval = self.lb.health_check_interval
        replica.check_phase = self.loop.now + interval * self.draws.uniform()
        self.loop.at(replica.check_phase, self._check, (replica, self.checks_epoch))
        if serving:
            replica.serving = True
            self.serving += 1
            replica.speed = min(slot.node.speed for slot in slots)
        else:
            replica.healthy = False   # not in the balancer until its checks pass
            replica.passed_checks = 0
        self._levels()
        return replica

    def remove_replica(self, replica: Replica) -> None:
        """Scale down: the replica leaves the balancer and gives its positions back; what it serves finishes."""
        self.active.remove(replica)
        if replica.serving:
            replica.serving = False
            self.serving -= 1
            replica.log(REPLICA, UP, DOWN)
        if replica.ejected:
            self.ejected -= 1
        replica.release()
        self._levels()

    def replica_died(self, replica: Replica, now: float, cause: int) -> None:
        """A member position lost its node: what it serves is lost (fails now, or hangs until the timeout)."""
        replica.serving = False
        self.serving -= 1
        replica.epoch += 1
        replica.log(REPLICA, UP, DOWN, cause)
        self._levels()
        lost = sorted(replica.in_service, key=_sent)
        replica.in_service.clear()
        for attempt in lost:
            if self.fail_fast:
                attempt.state = ENDED
                self._release(replica, attempt, ERROR, now)
            else:
                attempt.state = HANGING
                replica.hung.add(attempt)
                if attempt.deadline < math.inf:
                    self.loop.at(attempt.deadline, self._timed_out, attempt)

    def replica_serves(self, replica: Replica, now: float) -> None:
        """A replica reloaded: it serves; attempts that hung on it since it died are reset (errors)."""
        replica.serving = True
        self.serving += 1
        replica.log(REPLICA, DOWN, UP)
        self._levels()
        hung = sorted(replica.hung, key=_sent)
        replica.hung.clear()
        for attempt in hung:
            attempt.state = ENDED
            self._release(replica, attempt, ERROR, now)
        self._drain(replica, now)

    def _levels(self) -> None:
        measures = self.measures
        if self.measured and measures.serving is not None:
            measures.serving.set(self.serving, self.loop.now)
            if measures.replicas_held is not None:
                measures.replicas_held.set(len(self.active), self.loop.now)

    # --- routing -------------------------------------------------------------------------------------------

    def route(self, attempt: Attempt, now: float) -> int:
        """Send ``attempt`` to a replica or the queue; returns SERVING/QUEUED, or UNAVAILABLE/SHED (not taken)."""
        active = self.active
        # Replica.routable inlined (it runs for every attempt)
        routable = [r for r in active if r.healthy and not r.ejected
                    and (r.breaker is None or r.breaker.state == CLOSED or r.breaker.allows(now))]
        if not routable:
            if self.lb.fail_open and active:  # every replica unhealthy: route to all (ejection, breakers count)
                routable = [r for r in active if not r.ejected
                            and (r.breaker is None or r.breaker.state == CLOSED or r.breaker.allows(now))]
            if not routable:
                return UNAVAILABLE
        concurrency = self.concurrency
        free = [r for r in routable if r.outstanding < concurrency]
        if free:
            self._assign(attempt, cast(Replica, self.policy.pick(free, now)), now)
            return SERVING
        spec = self.spec
        if spec.admission is not None and self.queued >= spec.admission.max_queue:
            return SHED
        if spec.load_shedding:
            expected = (self.queued + 1) * self.mean_service_hours / (len(routable) * concurrency)
            if now + expected > attempt.deadline:
                return SHED
        attempt.state = QUEUED
        self.queue.append(attempt)
        self.queued += 1
        leaves = min(attempt.deadline, now + self.queue_timeout)
        if leaves < math.inf:
            self.loop.at(leaves, self._left_queue, attempt)
        return QUEUED

    def _assign(self, attempt: Attempt, replica: Replica, now: float) -> None:
        replica.outstanding += 1
        if replica.breaker is not None:
            replica.breaker.routed()
        attempt.replica = replica
        attempt.epoch = replica.epoch
        if not replica.serving:  # dead or reloading, and the balancer does not know yet
            if self.fail_fast:
                attempt.state = ENDED
                self.loop.at(now, self._refused, attempt)
            else:
                attempt.state = HANGING
                replica.hung.add(attempt)
                if attempt.deadline < math.inf:
                    self.loop.at(attempt.deadline, self._timed_out, attempt)
            return
        attempt.state = SERVING
        attempt.started = now
        self.measures.waited(attempt.request.counted, now - attempt.sent)
        service, prefill, tokens = self.service_draws.draw()
        factor = self.latency_factor / replica.speed
        error_rate = self.spec.error_rate
        version = attempt.version
        if version is not None:
            factor *= version.latency_factor
            if version.draws is None:
                error_rate = max(error_rate, version.error_rate)
        delay = replica.delay_hours
        attempt.prefill = prefill * factor + delay
        attempt.tpot = (service - prefill) * factor / tokens if tokens else 0.0
        attempt.error = error_rate > 0.0 and self.draws.uniform() < error_rate
        if version is not None and version.draws is not None and version.error_rate > 0.0:
            attempt.error = version.draws.uniform() < version.error_rate or attempt.error
        if replica.aborts and _aborted(replica.aborts):
            attempt.state = ENDED  # an injected fault answers it with an error at once (Envoy's abort)
            self.loop.at(now, self._refused, attempt)
            return
        replica.in_service.add(attempt)
        end = now + service * factor + delay
        if end > attempt.deadline:
            attempt.cut = True
            self.loop.at(attempt.deadline, self._timed_out, attempt)
        else:
            self.loop.at(end, self._finished, attempt)

    def _refused(self, attempt: Attempt) -> None:
        """A dead replica refused the connection."""
        replica = attempt.replica
        assert replica is not None
        self._release(replica, attempt, ERROR, self.loop.now)

    def _finished(self, attempt: Attempt) -> None:
        replica = attempt.replica
        if attempt.state != SERVING or replica is None or attempt.epoch != replica.epoch:
            return  # lost when the replica died
        attempt.state = ENDED
        replica.in_service.discard(attempt)
        now = self.loop.now
        self._release(replica, attempt, ERROR if attempt.error else OK, now)

    def _left_queue(self, attempt: Attempt) -> None:
        """Its deadline (or the balancer's queue timeout) passed while it waited: it times out."""
        if attempt.state == QUEUED:
            attempt.state = ENDED
            self.queued -= 1
            self.ended(attempt, TIMEOUT, self.loop.now)

    def _timed_out(self, attempt: Attempt) -> None:
        """Its deadline passed while it was served (or hung on a dead replica)."""
        now = self.loop.now
        replica = attempt.replica
        if replica is None or attempt.state == ENDED:
            return
        if attempt.state == SERVING:
            if attempt.epoch != replica.epoch or not attempt.cut:
                return  # lost when the replica died, or it ends before its deadline
            replica.in_service.discard(attempt)
        elif attempt.state == HANGING:
            if attempt not in replica.hung:
                return
            replica.hung.discard(attempt)
        attempt.state = ENDED
        self._release(replica, attempt, TIMEOUT, now)

    def _release(self, replica: Replica, attempt: Attempt, outcome: int, now: float) -> None:
        """An attempt on ``replica`` ended: free its slot, tell the breaker and the ejector, take the next."""
        replica.outstanding -= 1
        if outcome == OK:
            replica.errors_in_row = 0
            self.policy.answered(replica, now - attempt.started, now)
        else:
            replica.errors_in_row += 1
            self._maybe_eject(replica, now)
        breaker = replica.breaker
        if breaker is not None:
            was_open = breaker.state == OPEN
            breaker.outcome(now, outcome != OK)
            if breaker.state == OPEN and not was_open:
                self.loop.at(now + breaker.spec.open_duration, self._breaker_may_close, replica)
        self.ended(attempt, outcome, now)
        if replica.held:
            self._drain(replica, now)

    def _drain(self, replica: Replica, now: float) -> None:
        """Queued attempts go to ``replica`` while it is routable and has a free slot."""
        queue = self.queue
        while self.queued and replica.outstanding < self.concurrency and replica in self.active and \
                replica.routable(now):
            attempt = queue.popleft()
            if attempt.state != QUEUED:
                continue  # timed out while queued
            self.queued -= 1
            self._assign(attempt, replica, now)
        if not self.queued:
            queue.clear()

    def _breaker_may_close(self, replica: Replica) -> None:
        self._drain(replica, self.loop.now)

    # --- health checks and ejection ---------------------------------------------------------------------

    def _check(self, chain: tuple[Replica, int]) -> None:
        """A periodic active check: passes at once when the replica serves, else fails after the check timeout
        (at once when a dead replica refuses connections)."""
        replica, epoch = chain
        if not replica.held or epoch != self.checks_epoch:
            return
        now = self.loop.now
        self.loop.at(now + self.lb.health_check_interval, self._check, chain)
        if replica.serving and not self.probes_blocked:
            replica.failed_checks = 0
            replica.passed_checks += 1
            if not replica.healthy and replica.passed_checks >= self.lb.healthy_threshold:
                replica.healthy = True
                replica.log(HEALTH, 1, 0)
                self._drain(replica, now)
        else:  # (a probe that cannot reach the replica times out, as a hung one does)
            delay = 0.0 if self.fail_fast and not self.probes_blocked else self.lb.health_check_timeout
            self.loop.at(now + delay, self._check_failed, replica)

    def stop_checks(self) -> None:
        """Health checks pause (a stretch where every replica's health is what its checks would say)."""
        self.checks_epoch += 1

    def resume_checks(self, now: float) -> None:
        """Health checks go on at each replica's own phase, their counters as a run of checks leaves them."""
        interval, lb = self.lb.health_check_interval, self.lb
        for replica in self.active:
            behind = max(0.0, math.ceil((now - replica.check_phase) / interval))
            self.loop.at(replica.check_phase + behind * interval, self._check, (replica, self.checks_epoch))
            if replica.serving:
                replica.failed_checks, replica.passed_checks = 0, max(replica.passed_checks, lb.healthy_threshold)
            else:
                replica.failed_checks, replica.passed_checks = max(replica.failed_checks,
                                                                   lb.unhealthy_threshold), 0

    def reset_patterns(self) -> None:
        """Breakers closed with a fresh window and no errors in a row: how a settled pool is (hybrid)."""
        for replica in self.active:
            replica.errors_in_row = 0
            if replica.breaker is not None:
                replica.breaker = Breaker(replica.breaker.spec)

    def settled(self) -> bool:
        """Does every replica the balancer holds look as its real state says, with no ejection or open breaker?"""
        for replica in self.active:
            if replica.healthy != replica.serving or replica.ejected or \
                    (replica.breaker is not None and replica.breaker.state != CLOSED):
                return False
        return True

    def _check_failed(self, replica: Replica) -> None:
        replica.passed_checks = 0
        replica.failed_checks += 1
        if replica.healthy and replica.failed_checks >= self.lb.unhealthy_threshold:
            replica.healthy = False
            replica.log(HEALTH, 0, 1)

    def _maybe_eject(self, replica: Replica, now: float) -> None:
        ejection = self.lb.outlier_ejection
        if ejection is None or replica.ejected or replica.errors_in_row < ejection.consecutive_errors:
            return
        most = max(1, math.floor(ejection.max_ejection_percent / 100.0 * len(self.active)))
        if self.ejected >= most:
            return
        replica.ejected = True
        replica.ejections += 1
        replica.errors_in_row = 0
        self.ejected += 1
        replica.log(HEALTH, 0, 1)
        self.loop.at(now + ejection.base_ejection_time * replica.ejections, self._returned, replica)

    def _returned(self, replica: Replica) -> None:
        if not replica.ejected:
            return
        replica.ejected = False
        self.ejected -= 1
        replica.log(HEALTH, 1, 0)
        self._drain(replica, self.loop.now)


def _aborted(aborts: list) -> bool:
    """Does one of the error_replicas injections under way fail this attempt? (Each draws from its own stream.)"""
    failed = False
    for probability, draws in aborts:
        failed = draws.uniform() < probability or failed
    return failed


def _nothing(_time: float) -> None:
    """Nobody listens (the request-level technique)."""


def _index(replica: Replica) -> int:
    return replica.index


def _sent(attempt: Attempt) -> float:
    return attempt.sent

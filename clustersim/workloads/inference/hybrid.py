"""The hybrid serving technique: requests simulated only around capacity changes, stationary samples between.

A service's capacity changes only when a replica stops or starts serving, changes speed, scales, or a release
ramps — thousands of times a year against billions of requests. Between such changes the request-level model
is a stationary queue, so its per-hour metrics are those of a *stationary sample*: the same request-level model
run once per configuration (serving replicas and their speeds, the fallback pool's, the version, the arrival
rate level), warmed up, for ``serving_sample_requests`` requests. The technique:

- **Windows.** Requests are simulated request by request (the whole model: health checks, retries, breakers,
  the autoscaler, the canary) from a *lead* before every change — the cluster's timeline is known ahead
  (``timeline``), a reload's end is known when it starts, a canary's start is in the scenario, and so is a
  ``[[chaos]]`` injection's into the service (the window stays open until its ``duration`` is over), an
  autoscaler's decision is drawn ahead from the sample's load distribution — until the service has *settled*: every
  replica's health as the balancer sees it matches its real state, no ejection, breakers closed, no release
  ramping, the queue within the sample's 99th percentile, and the change's influence (the longest sojourn
  in the sample, plus the timeout) passed. The first ``burn_in`` of a window is simulated but not counted
  (it brings the empty system to its stationary state before the change).
- **Stretches.** Between windows no request is simulated; the stretch adds the sample's per-hour counts and
  latency histograms times its length (diurnal arrivals: pointwise-stationary, linear between ``RATE_LEVELS``
  rate levels, in pieces no longer than the SLO window), and each SLO window's good and bad requests are
  drawn as Poisson counts (independent requests within a window: true when the window is long beside a sojourn).
- **Honesty.** A configuration whose sample does not settle (its queue grows), or whose offered work reaches
  its capacity (an overloaded pool's state depends on its history: a retry storm feeds itself, abandonment
  sets the queue), is never left: requests are simulated until the configuration changes. The run says how
  much of the horizon was simulated request by request.

Known approximations, all of the order of a sojourn per window: at a window's start the breakers, retry budget
and rate limiter start as a settled pool leaves them; requests in flight when a window closes finish without
traffic behind them (FIFO keeps their order, so only retries see the difference).
"""
from __future__ import annotations

import dataclasses
import heapq
import math
from collections import deque
from dataclasses import dataclass
from collections.abc import Callable, Sequence
from typing import Any, Protocol, cast

import numpy as np
import simpy

from clustersim.model.spares import Slot
from clustersim.rng import Streams
from clustersim.scenario.schema import Scenario
from clustersim.scenario.sections.inference import DiurnalArrivals, Inference, PoissonArrivals
from clustersim.workloads.inference.arrivals import SECONDS_PER_HOUR, DiurnalProcess, Draws
from clustersim.workloads.inference.autoscaler import Autoscaler, pool_load
from clustersim.workloads.inference.client import Service
from clustersim.workloads.inference.injections import injection_spans
from clustersim.workloads.inference.loop import EventLoop
from clustersim.workloads.inference.measure import _BINS, Histogram, ServiceMeasures, bin_middles_s
from clustersim.workloads.inference.release import RAMPING, PromotedRelease, Release
from clustersim.workloads.inference.replica import Replica
from clustersim.workloads.inference.service import Pool
from clustersim.workloads.inference.timeline import EMPTY, ReplaySlot

RATE_LEVELS = 9                # diurnal arrivals: samples at this many rates from trough to peak
SETTLE_EVERY_H = 5.0 / SECONDS_PER_HOUR       # how often a window asks whether the service has settled
BURN_IN_LEAST_H = 10.0 / SECONDS_PER_HOUR     # the least uncounted start of a window (and of a sample)
SAMPLE_EVERY_H = 1.0 / SECONDS_PER_HOUR       # a sample's queue and load are read this often
SAMPLE_LENGTHS = (1, 4, 16)    # a sample that has not settled is drawn again this many times as long
IN_FLIGHT_MISSED = 0.02        # requests in flight at a change that a window may start too late to count
BURN_IN_SHORTFALL = 1e-2       # the occupancy's shortfall (share of its mean) left when a window starts counting
COUNTERS = ("requests", "good", "answered", "attempts", "failed", "shed", "rate_limited", "timeouts",
            "fallback", "bad_release", "wait_sum", "waits")

Config = tuple[tuple[float, ...], tuple[float, ...], int, int]  # serving speeds, fallback's, version, dead held


@dataclass(frozen=True)
class Sample:
    """A configuration's stationary behaviour: per-hour counts and histograms, and what windows need."""

    per_hour: dict[str, float]
    latency: np.ndarray
    ttft: np.ndarray | None
    tpot: np.ndarray | None
    queue_p99: float
    fallback_queue_p99: float
    loads: np.ndarray            # the autoscaler's metric, read every SAMPLE_EVERY_H
    influence_hours: float       # how long a change can reach: the longest sojourn (+ the timeout when one ran out)
    burn_in_hours: float
    stable: bool
    events: int

    @property
    def good_per_hour(self) -> float:
        return self.per_hour["good"]

    @property
    def bad_per_hour(self) -> float:
        return self.per_hour["requests"] - self.per_hour["good"]


class Samples:
    """Stationary samples of one service, drawn when first needed, each from its own named stream (so a
    sample's numbers depend on its configuration and the replication, never on the order they are needed)."""

    def __init__(self, scenario: Scenario, s: int, streams: Streams, run: SampleRun | None = None) -> None:
        self.scenario = scenario
        self.spec = scenario.inference[s]
        self.streams = streams
        self.run = run if run is not None else run_sample
        arrivals = self.spec.arrivals
        if isinstance(arrivals, DiurnalArrivals):
            count = RATE_LEVELS if arrivals.peak > arrivals.trough else 1
            self.levels: list[float | None] = [float(v) for v in np.linspace(arrivals.trough, arrivals.peak, count)]
        elif isinstance(arrivals, PoissonArrivals):
            self.levels = [arrivals.rate]
        else:
            self.levels = [None]  # on/off arrivals: sampled as they are
        self._drawn: dict[tuple[Config, int], Sample] = {}

    def get(self, config: Config, level: int) -> Sample:
        key = (config, level)
        if key not in self._drawn:
            self._drawn[key] = _settled_sample(self.scenario, self.spec, config, self.levels[level], self.streams,
                                               self.run)
        return self._drawn[key]

    @property
    def events(self) -> int:
        return sum(sample.events for sample in self._drawn.values())

    def __len__(self) -> int:
        return len(self._drawn)


def _settled_sample(scenario: Scenario, spec: Inference, config: Config, rate_per_s: float | None,
                    streams: Streams, run: SampleRun) -> Sample:
    """A configuration's sample of ``serving_sample_requests`` requests; one that has not settled (a queue that
    fills slowly: near saturation, or overloaded with abandonment at the timeout) is drawn again 4 and 16 times
    as long before it counts as unstable (its events are all counted)."""
    wanted = scenario.simulation.serving_sample_requests
    events = 0
    for longer in SAMPLE_LENGTHS:
        sample = _draw_sample(spec, config, rate_per_s, streams, wanted * longer, run)
        events += sample.events
        if sample.stable:
            break
    return dataclasses.replace(sample, events=events)


@dataclass(frozen=True)
class SampleSpan:
    """A stationary sample's run: requests counted from ``burn_in``, sent until ``burn_in + send``, the model run
    until ``end`` (so that what was sent can resolve); streams named after ``label``."""

    burn_in: float
    send: float
    end: float
    label: str


@dataclass(frozen=True)
class SampleRunOutcome:
    """What a sample's run measured: its measures, its queues (and the fallback pool's) and the autoscaler's load
    read every SAMPLE_EVERY_H from the burn-in while requests were sent, and the request-level events run."""

    measures: ServiceMeasures
    queues: list[float]
    fallback_queues: list[float]
    loads: list[float]
    events: int


SampleRun = Callable[[Inference, Inference, Config, Streams, SampleSpan], SampleRunOutcome]


def _draw_sample(spec: Inference, config: Config, rate_per_s: float | None, streams: Streams, wanted: int,
                 run: SampleRun) -> Sample:
    """Run the request-level model of ``spec`` at a fixed configuration: warmed up, then ``wanted`` requests."""
    speeds, fallback_speeds, version, dead = config
    update: dict[str, object] = {"autoscaling": None, "canary": None}
    if rate_per_s is not None:
        update["arrivals"] = PoissonArrivals.model_construct(process="poisson", rate=float(rate_per_s))
    sampled = spec.model_copy(update=update)
    mean_rate = rate_per_s if rate_per_s is not None else spec.arrivals.mean_rate_per_s
    send_hours = wanted / (mean_rate * SECONDS_PER_HOUR)
    # long enough for the queue to fill (20 services) and, overloaded, for abandonment at the timeout to bound it
    burn_in = max(BURN_IN_LEAST_H, 20.0 * spec.service_mean_hours, 2.0 * _finite(spec.timeout))
    timeout_budget = _timeout_budget(spec)
    tail = timeout_budget if timeout_budget < math.inf else max(BURN_IN_LEAST_H, 200.0 * spec.service_mean_hours)
    label = f"/sample/{'-'.join(f'{v:g}' for v in speeds)}/{'-'.join(f'{v:g}' for v in fallback_speeds)}" \
            f"/{version}/{dead}/{rate_per_s if rate_per_s is not None else 'as-is'}"
    outcome = run(spec, sampled, config, streams, SampleSpan(burn_in, send_hours, burn_in + send_hours + tail, label))
    measures, queues, fallback_queues, loads = (outcome.measures, outcome.queues, outcome.fallback_queues,
                                                outcome.loads)
    # per request of the sample, times the exact request rate (the sample's own count is noisier)
    sent = measures.requests + measures.overdue
    scale = mean_rate * SECONDS_PER_HOUR / sent if sent else 0.0   # requests per hour / requests sent
    per_hour = {name: float(getattr(measures, name)) * scale for name in COUNTERS}
    per_hour["requests"] = float(sent) * scale
    per_hour["failed"] += float(measures.overdue) * scale
    latency = np.asarray(measures.latency.counts, dtype=np.float64) * scale
    sojourns = latency.copy()
    if measures.timeouts and spec.timeout is not None:  # an attempt that times out spends the timeout
        timed_out = Histogram()
        timed_out.add(spec.timeout * SECONDS_PER_HOUR)
        sojourns += np.asarray(timed_out.counts, dtype=np.float64) * measures.timeouts * scale
    sojourn = _Sojourns(sojourns)
    # a change can reach the requests in flight when it happens: those older than `influence` number
    # lambda E[(S - influence)+] <= IN_FLIGHT_MISSED on average (S: a request's sojourn)
    influence = sojourn.tail_time(IN_FLIGHT_MISSED / (mean_rate * SECONDS_PER_HOUR))
    # from empty, the occupancy's shortfall after t is lambda E[(S - t)+] (an M/G/inf argument): burn in
    # until it is a BURN_IN_SHORTFALL share of the mean occupancy lambda E[S]
    burn = sojourn.tail_time(BURN_IN_SHORTFALL * sojourn.mean_hours)
    # stable: every request resolved, and the queue not still growing (its last quarter's mean within a quarter of
    # the third's, give or take a few: a queue growing linearly has 3.5 / 2.5 = 1.4 times more)
    q = np.asarray(queues) if queues else np.zeros(1)
    quarter = max(1, len(q) // 4)
    third, last = float(q[-2 * quarter:-quarter].mean()) if len(q) >= 2 * quarter else 0.0, float(q[-quarter:].mean())
    stable = measures.overdue == 0 and last <= 1.25 * third + 5.0 and not _overloaded(spec, config, per_hour)
    mean_wait = measures.wait_sum / measures.waits if measures.waits else 0.0
    return Sample(
        per_hour=per_hour, latency=latency,
        ttft=np.asarray(measures.ttft.counts, dtype=np.float64) * scale if measures.ttft is not None else None,
        tpot=np.asarray(measures.tpot.counts, dtype=np.float64) * scale if measures.tpot is not None else None,
        queue_p99=float(np.quantile(q, 0.99)),
        fallback_queue_p99=float(np.quantile(fallback_queues, 0.99)) if fallback_queues else 0.0,
        loads=np.asarray(loads) if loads else np.zeros(1),
        influence_hours=max(influence, SETTLE_EVERY_H),
        burn_in_hours=max(BURN_IN_LEAST_H, burn, 3.0 * (mean_wait + spec.service_mean_hours)),
        stable=stable, events=outcome.events)


def run_sample(spec: Inference, sampled: Inference, config: Config, streams: Streams,
               span: SampleSpan) -> SampleRunOutcome:
    """A stationary sample run by the Python model: ``sampled`` (``spec`` at the sample's arrival rate, without
    its autoscaler and canary) on replayed positions that never change, its dead replicas known down from the
    start, ``spec``'s release promoted when the configuration's version is the new one."""
    speeds, fallback_speeds, version, dead = config
    burn_in, send_end = span.burn_in, span.burn_in + span.send
    env = simpy.Environment()
    loop = EventLoop(env)
    primary = [[cast(Slot, ReplaySlot(i, speed))] for i, speed in enumerate(speeds)]
    dead_replayed = [ReplaySlot(len(speeds) + i, 1.0) for i in range(dead)]
    dead_slots = [[cast(Slot, slot)] for slot in dead_replayed]
    fallback = [[cast(Slot, ReplaySlot(1000 + i, speed))] for i, speed in enumerate(fallback_speeds)]
    service = Service(loop, sampled, 0, primary + dead_slots, fallback, streams, _no_row, None, (burn_in, span.end),
                      stream_prefix=span.label)
    measures = service.measures
    measures.count_from = burn_in
    for slot in dead_replayed:
        _kill(service.pool, slot)
    if version and spec.canary is not None:
        service.release = PromotedRelease(spec.canary, service.pool, measures)
    queues: list[float] = []
    fallback_queues: list[float] = []
    loads: list[float] = []
    scaling = spec.autoscaling

    def read(_arg: object) -> None:
        queues.append(service.pool.queued)
        if service.fallback is not None:
            fallback_queues.append(service.fallback.queued)
        if scaling is not None:
            loads.append(pool_load(service.pool, scaling))
        if loop.now + SAMPLE_EVERY_H < send_end:
            loop.at(loop.now + SAMPLE_EVERY_H, read)

    loop.at(burn_in, read)
    loop.at(send_end, lambda _arg: service.stop_arrivals())
    env.run(until=span.end)
    return SampleRunOutcome(measures, queues, fallback_queues, loads, loop.events)


def _overloaded(spec: Inference, config: Config, per_hour: dict[str, float]) -> bool:
    """Is the work offered (attempts, retries included, times their mean service at the replicas' speeds) at
    least the serving replicas' capacity? Such a pool's stationary state depends on its history (a retry storm
    feeds itself; abandonment at the timeout sets the queue), so no sample stands for it."""
    speeds, _fallback, version, _dead = config
    capacity = sum(speeds) * spec.concurrency
    if capacity <= 0.0:
        return False  # no replica serves: every attempt is refused (or falls back) at once, nothing queues
    factor = spec.canary.latency_factor if version and spec.canary is not None else 1.0
    return per_hour["attempts"] * spec.service_mean_hours * factor >= capacity


def _timeout_budget(spec: Inference) -> float:
    """The longest a request can take when its attempts time out (inf without a timeout)."""
    if spec.timeout is None:
        return math.inf
    retries = spec.retries
    attempts = retries.max_attempts if retries is not None else 1
    backoff = retries.backoff_max if retries is not None else 0.0
    return attempts * spec.timeout + (attempts - 1) * backoff


class _Sojourns:
    """The sojourn law of answered requests, read from a latency histogram (bins' geometric middles)."""

    def __init__(self, counts: np.ndarray) -> None:
        self.hours = bin_middles_s(np.arange(len(counts))) / SECONDS_PER_HOUR
        total = counts.sum()
        self.p = counts / total if total > 0 else counts
        self.mean_hours = float((self.p * self.hours).sum())

    def tail_time(self, excess_hours: float) -> float:
        """The least t with E[(S - t)+] <= ``excess_hours`` (hours)."""
        p, s = self.p, self.hours
        # E[(S - t)+] at t = each bin's value, from the top: sum over higher bins of p (s - t)
        mass = np.cumsum(p[::-1])[::-1]              # P(S >= s_b)
        first = np.cumsum((p * s)[::-1])[::-1]        # E[S; S >= s_b]
        excess = first - s * mass
        ok = np.flatnonzero(excess <= excess_hours)
        return float(s[ok[0]]) if len(ok) else float(s[-1])


def _kill(pool: Pool, slot: ReplaySlot) -> None:
    """A held replica that does not serve and that the balancer knows is down (fail_open samples)."""
    slot.state = EMPTY
    slot.node.up = False
    replica = cast(Replica, slot.owner)
    replica.serving = replica.healthy = False
    pool.serving -= 1


def _no_row(_row: tuple) -> None:
    """A sample's replicas log nothing."""


class _Replica(Protocol):
    @property
    def speed(self) -> float: ...

    @property
    def serving(self) -> bool: ...


class ServedPool(Protocol):
    """What the technique asks of a pool (``service.Pool``, or the fast engine's compiled one)."""

    expect: Callable[[float], None]

    @property
    def active(self) -> Sequence[_Replica]: ...

    @property
    def queued(self) -> int: ...

    def settled(self) -> bool: ...

    def stop_checks(self) -> None: ...

    def resume_checks(self, now: float) -> None: ...

    def reset_patterns(self) -> None: ...


class Clock(Protocol):
    """Where the technique's own events run (``loop.EventLoop``)."""

    @property
    def now(self) -> float: ...

    def at(self, time: float, handler: Callable[[Any], None], arg: Any = None, sync: bool = False) -> None: ...


class Served(Protocol):
    """What the technique asks of a service (``client.Service``, or the fast engine's compiled one)."""

    @property
    def loop(self) -> Clock: ...

    @property
    def measures(self) -> ServiceMeasures: ...

    @property
    def pool(self) -> ServedPool: ...

    @property
    def fallback(self) -> ServedPool | None: ...

    @property
    def release(self) -> Release | PromotedRelease | None: ...

    def stop_arrivals(self) -> None: ...

    def resume_arrivals(self, now: float) -> None: ...

    def reset_limits(self) -> None: ...


class Hybrid:
    """Decides, for one service, when requests are simulated (windows) and accounts for the stretches between."""

    def __init__(self, scenario: Scenario, s: int, service: Served, scaler: Autoscaler | None,
                 changes: list[tuple[float, bool]], streams: Streams, samples: Samples | None = None) -> None:
        self.spec = spec = scenario.inference[s]
        self.service = service
        self.scaler = scaler
        self.loop = service.loop
        self.measures: ServiceMeasures = service.measures
        self.horizon = scenario.simulation.horizon
        self.pools = [service.pool] + ([service.fallback] if service.fallback is not None else [])
        for pool in self.pools:
            pool.expect = self.expect
        self.samples = samples if samples is not None else Samples(scenario, s, streams)
        self.rng = streams.generator(f"inference/{spec.name}/hybrid")
        self.sync_draws = Draws(streams.generator(f"inference/{spec.name}/hybrid-syncs"))
        self.diurnal = DiurnalProcess(spec.arrivals.trough, spec.arrivals.peak, spec.arrivals.period,
                                      spec.arrivals.peak_at, Draws(self.rng)) \
            if isinstance(spec.arrivals, DiurnalArrivals) else None  # only its rate curve is read (no draws)
        # changes ahead: losses (a replica may stop serving: the requests in flight on it are reached) and gains
        # (a replica starts serving or changes pace, a release starts, the autoscaler decides: only later
        # requests are)
        self.losses = sorted(t for t, loss in changes if loss)
        self.gains = sorted(t for t, loss in changes if not loss)
        if spec.canary is not None:
            heapq.heappush(self.gains, spec.canary.start)
        # chaos injections into the service: each start a gain, and no window closes while one is under way
        self.injected = deque(injection_spans(scenario, spec.name, streams))
        for start, _end in self.injected:
            heapq.heappush(self.gains, start)
        self.last_loss = -math.inf
        self.live = True
        self.live_since = 0.0
        self.live_hours = 0.0
        self.windows = 1
        self.quiet_since = 0.0
        self.quiet_config: Config | None = None
        self.open_epoch = 0
        self.open_at = math.inf
        self.drawn: deque[tuple[float, int]] = deque()   # autoscaler syncs drawn ahead while quiet
        self.scale_due = math.inf                        # the first drawn sync that scales
        self.weights: dict[tuple[Config, int], float] = {}
        m = self.measures
        self.window_good = np.zeros(m.windows)
        self.window_bad = np.zeros(m.windows)
        self.finished = False
        self.loop.at(SETTLE_EVERY_H, self._settle)

    # --- what the service tells it -------------------------------------------------------------------

    def expect(self, time: float) -> None:
        """A replica will start serving at ``time``: a window must be open by then."""
        heapq.heappush(self.gains, time)
        if not self.live:
            self._plan_open(self.loop.now)

    # --- configuration ----------------------------------------------------------------------------------

    def config(self) -> Config:
        """The service's configuration as a stationary sample needs it."""
        pool = self.service.pool
        speeds = tuple(sorted(r.speed for r in pool.active if r.serving))
        fallback = self.service.fallback
        fallback_speeds = tuple(sorted(r.speed for r in fallback.active if r.serving)) if fallback else ()
        release = self.service.release
        version = 1 if release is not None and release.share >= 1.0 else 0
        dead = sum(1 for r in pool.active if not r.serving) if self.spec.load_balancer.fail_open else 0
        return speeds, fallback_speeds, version, dead

    def _levels_at(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per time: the rate level at or below the arrival rate then, and the fraction of the way to the next
        (level 0, fraction 0 when there is one level)."""
        levels = self.samples.levels
        if self.diurnal is None or len(levels) == 1:
            return np.zeros(len(times), dtype=np.int64), np.zeros(len(times))
        low, high = cast(float, levels[0]), cast(float, levels[-1])
        x = (self.diurnal.rates_per_s(times) - low) / (high - low) * (len(levels) - 1)
        index = np.clip(x.astype(np.int64), 0, len(levels) - 2)
        return index, np.clip(x - index, 0.0, 1.0)

    def _nearest(self, t: float) -> int:
        """The rate level nearest the arrival rate at ``t``."""
        index, frac = self._levels_at(np.array([t]))
        return int(index[0]) + int(frac[0] >= 0.5)

    # --- windows -------------------------------------------------------------------------------------

    def _settle(self, _arg: object) -> None:
        """While a window is open: close it once the service has settled, else ask again soon."""
        if not self.live:
            return
        now = self.loop.now
        # a change at this very instant has not happened yet (the loop runs before the cluster's event): it
        # stays ahead, so the window stays open
        while self.losses and self.losses[0] < now:
            self.last_loss = max(self.last_loss, heapq.heappop(self.losses))
        while self.gains and self.gains[0] < now:
            heapq.heappop(self.gains)
        if self._may_close(now):
            self._close(now)
        else:
            self.loop.at(now + SETTLE_EVERY_H, self._settle)

    def _may_close(self, now: float) -> bool:
        config = self.config()
        sample = self.samples.get(config, self._nearest(now))
        if not sample.stable:
            return False
        release = self.service.release
        # after a loss, what it reached goes on after the window closes (attempts hung on the dead replica
        # time out and are retried): with a queue in the stationary state, their retries must meet it, so the
        # window waits them out; without one they meet none either way
        if sample.queue_p99 > 0 and now - self.last_loss < sample.influence_hours + _finite(self.spec.timeout):
            return False
        if self._due(sample) < now + SETTLE_EVERY_H:
            return False
        if release is not None and release.state == RAMPING:
            return False
        if self._injected(now):
            return False
        if not all(pool.settled() for pool in self.pools):
            return False
        if self.service.pool.queued > sample.queue_p99:
            return False
        fallback = self.service.fallback
        return fallback is None or fallback.queued <= sample.fallback_queue_p99

    def _injected(self, now: float) -> bool:
        """Is a chaos injection into the service under way (its end not yet passed)? Spent ones are dropped."""
        spans = self.injected
        while spans and spans[0][1] <= now:
            spans.popleft()
        for start, end in spans:
            if start > now:
                return False
            if end > now:
                return True
        return False

    def _due(self, sample: Sample) -> float:
        """When the next window must open for the changes ahead: a burn-in before a gain, a burn-in and the
        influence before a loss."""
        due = math.inf
        if self.losses:
            due = self.losses[0] - sample.burn_in_hours - sample.influence_hours
        if self.gains:
            due = min(due, self.gains[0] - sample.burn_in_hours)
        return due

    def _close(self, now: float) -> None:
        self.live = False
        self.live_hours += now - self.live_since
        self.service.stop_arrivals()
        for pool in self.pools:
            pool.stop_checks()
        if self.scaler is not None:
            self.scaler.pause()
            self.drawn = deque(self.scaler.desired)
        self.quiet_since = max(now, self.measures.count_from)  # a window closed within its burn-in: already counted
        self.quiet_config = self.config()
        self.open_at = math.inf
        self._plan_open(now)

    def _plan_open(self, now: float) -> None:
        """Open the next window a lead before the next change (or the autoscaler's next drawn decision)."""
        assert self.quiet_config is not None
        sample = self.samples.get(self.quiet_config, self._nearest(now))
        due = self._due(sample)
        if self.scaler is not None:
            due = min(due, self._next_scale(now, min(due + sample.burn_in_hours, self.horizon)) - sample.burn_in_hours)
        due = max(due, now)
        if due < self.open_at and due < self.horizon:
            self.open_at = due
            self.open_epoch += 1
            self.loop.at(due, self._open, self.open_epoch)

    def _next_scale(self, now: float, until: float) -> float:
        """Draw the autoscaler's syncs in (now, until) from the stationary load samples; the first sync that would
        scale (up, or down once the stabilisation window allows) is returned (inf if none)."""
        scaler = self.scaler
        assert scaler is not None and self.quiet_config is not None
        if self.scale_due < math.inf:
            return self.scale_due
        spec = scaler.spec
        period, window = spec.sync_period, spec.scale_down_stabilization
        held = len(scaler.pool.active)
        drawn = self.drawn
        j = max(scaler.syncs, int(drawn[-1][0] / period + 0.5) if drawn else 0) + 1
        while j * period < until:
            t = j * period
            loads = self.samples.get(self.quiet_config, self._nearest(t)).loads
            wanted = scaler.wanted(float(loads[min(len(loads) - 1, int(self.sync_draws.uniform() * len(loads)))]))
            drawn.append((t, wanted))
            while drawn[0][0] < t - window:
                drawn.popleft()
            if wanted > held or max(d for _, d in drawn) < held:
                self.scale_due = t
                return t
            j += 1
        return math.inf

    def _open(self, epoch: int) -> None:
        if epoch != self.open_epoch or self.live:
            return
        now = self.loop.now
        assert self.quiet_config is not None
        burn_in = self.samples.get(self.quiet_config, self._nearest(now)).burn_in_hours
        self._account(self.quiet_since, min(now + burn_in, self.horizon), self.quiet_config)
        self.measures.count_from = now + burn_in
        self.live, self.live_since = True, now
        self.windows += 1
        self.scale_due = math.inf
        service = self.service
        for pool in self.pools:
            pool.resume_checks(now)
            pool.reset_patterns()
        service.reset_limits()
        scaler = self.scaler
        if scaler is not None:
            scaler.desired = deque(d for d in self.drawn if d[0] < now)
            scaler.forced = deque(d for d in self.drawn if d[0] >= now)
            if scaler.desired:
                scaler.syncs = max(scaler.syncs, int(scaler.desired[-1][0] / scaler.spec.sync_period + 0.5))
            scaler.resume(now)
        service.resume_arrivals(now)
        self.loop.at(now + SETTLE_EVERY_H, self._settle)

    # --- stretches -----------------------------------------------------------------------------------

    def _account(self, a: float, b: float, config: Config) -> None:
        """Requests sent in [a, b) at ``config``, taken from its stationary samples."""
        m = self.measures
        a, b = max(a, m.start), min(b, m.end)
        if b <= a:
            return
        w = m.window
        first = int((a - m.start) / w)
        edges = np.concatenate(([a], m.start + w * np.arange(first + 1, int(math.ceil((b - m.start) / w)))))
        edges = np.concatenate((edges[edges < b], [b]))
        lengths = np.diff(edges)
        mids = (edges[:-1] + edges[1:]) / 2.0
        windows = ((mids - m.start) / w).astype(np.int64)
        index, frac = self._levels_at(mids)
        for level in np.unique(index):
            at = index == level
            self._add(config, int(level), lengths[at] * (1.0 - frac[at]), windows[at])
            if len(self.samples.levels) > 1:
                self._add(config, int(level) + 1, lengths[at] * frac[at], windows[at])

    def _add(self, config: Config, level: int, hours: np.ndarray, windows: np.ndarray) -> None:
        total = float(hours.sum())
        if total <= 0.0:
            return
        sample = self.samples.get(config, level)
        key = (config, level)
        self.weights[key] = self.weights.get(key, 0.0) + total
        inside = windows < len(self.window_good)
        np.add.at(self.window_good, windows[inside], hours[inside] * sample.good_per_hour)
        np.add.at(self.window_bad, windows[inside], hours[inside] * max(0.0, sample.bad_per_hour))

    def finish(self) -> None:
        """At the horizon: the last stretch, then every stretch's counts into the service's measures."""
        if self.finished:
            return
        self.finished = True
        if self.live:
            self.live_hours += self.horizon - self.live_since
        else:
            assert self.quiet_config is not None
            self._account(self.quiet_since, self.horizon, self.quiet_config)
        m = self.measures
        latency = np.asarray(m.latency.counts, dtype=np.float64)
        ttft = np.asarray(m.ttft.counts, dtype=np.float64) if m.ttft is not None else None
        tpot = np.asarray(m.tpot.counts, dtype=np.float64) if m.tpot is not None else None
        expected = dict.fromkeys(COUNTERS, 0.0)
        for (config, level), hours in sorted(self.weights.items()):
            sample = self.samples.get(config, level)
            for name in COUNTERS:
                expected[name] += hours * sample.per_hour[name]
            latency += hours * sample.latency
            if ttft is not None and sample.ttft is not None:
                ttft += hours * sample.ttft
            if tpot is not None and sample.tpot is not None:
                tpot += hours * sample.tpot
        _set_histogram(m.latency, latency)
        if m.ttft is not None and ttft is not None:
            _set_histogram(m.ttft, ttft)
        if m.tpot is not None and tpot is not None:
            _set_histogram(m.tpot, tpot)
        # counts are drawn (Poisson about their expectation: a replication's counts vary as real ones do; good and
        # bad requests per SLO window, whose sums are the stretches' requests and good ones); sums of times and
        # attempts, read only in ratios, are their expectations
        good = self.rng.poisson(self.window_good)
        bad = self.rng.poisson(self.window_bad)
        for w in range(len(good)):
            m.window_sent[w] += int(good[w] + bad[w])
            m.window_good[w] += int(good[w])
        drawn = {"requests": float(good.sum() + bad.sum()), "good": float(good.sum())}
        for name in ("timeouts", "shed", "rate_limited", "fallback", "bad_release"):
            drawn[name] = float(self.rng.poisson(expected[name]))
        scale = drawn["requests"] / expected["requests"] if expected["requests"] > 0 else 0.0
        for name in COUNTERS:
            value = drawn[name] if name in drawn else \
                expected[name] * (scale if name in ("attempts", "answered", "failed") else 1.0)
            setattr(m, name, getattr(m, name) + value)

    @property
    def sample_events(self) -> int:
        return self.samples.events

    def values(self) -> dict[str, float | None]:
        """Its own metrics, by the name after ``inference.<name>.``."""
        return {"request_level_share": self.live_hours / self.horizon if self.horizon else 1.0}


def _finite(hours: float | None) -> float:
    return hours if hours is not None else 0.0


def _set_histogram(histogram: Histogram, counts: np.ndarray) -> None:
    assert len(counts) == _BINS + 1
    histogram.counts = counts.tolist()
    histogram.n = float(counts.sum())  # type: ignore[assignment]

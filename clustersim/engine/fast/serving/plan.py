"""What the compiled serving loop (``kernel.py``) is given and what it gives back: a service's parameters as
arrays, its replicas' transitions computed by the Python replica itself on the cluster's timeline, and its
accumulators read back into ``measure.ServiceMeasures`` so that every metric is computed by one formula.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple, cast

import numpy as np
import simpy

from clustersim.distributions import Empirical
from clustersim.engine.fast.compile import LAW_CONVERTERS
from clustersim.engine.fast.serving import kernel as k
from clustersim.layout import layout_of
from clustersim.model.spares import Slot
from clustersim.model.storage import StorageCluster
from clustersim.scenario.schema import Scenario
from clustersim.scenario.sections.inference import (
    BurstyArrivals, CircuitBreaker, DiurnalArrivals, Inference, PoissonArrivals, TokenLaw, TraceArrivals,
)
from clustersim.workloads.inference.loop import EventLoop
from clustersim.workloads.inference.measure import SECONDS_PER_HOUR, Histogram, Level, ServiceMeasures
from clustersim.workloads.inference.replica import Replica
from clustersim.workloads.inference.timeline import ReplaySlot, ReplayStore, Timeline, replay

_POLICIES = {"round_robin": k.POLICY_ROUND_ROBIN, "least_outstanding": k.POLICY_LEAST_OUTSTANDING,
             "power_of_two": k.POLICY_POWER_OF_TWO}
_JITTER = {"full": k.JITTER_FULL, "equal": k.JITTER_EQUAL, "none": k.JITTER_NONE}
_TOKEN_LAWS = {"deterministic": k.TOKENS_DETERMINISTIC, "uniform": k.TOKENS_UNIFORM,
               "exponential": k.TOKENS_EXPONENTIAL, "lognormal": k.TOKENS_LOGNORMAL}
STREAM_PARTS = ("arrivals", "client", "service", "balancer")  # the service's named streams, as client.py's


# --- parameters ------------------------------------------------------------------------------------------

def parameters(scenario: Scenario, spec: Inference) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(floats, ints, trace times in hours, empirical samples) of one service, by kernel.F_* / kernel.I_*."""
    fp, ip = np.zeros(k.FLOATS), np.zeros(k.INTS, np.int64)
    sim, lb = scenario.simulation, spec.load_balancer
    start, end = sim.warmup, sim.horizon
    measures = ServiceMeasures(start, end, spec.slo_latency_hours, spec.slo.window, spec.tokens is not None)
    fp[[k.F_HORIZON, k.F_START, k.F_END, k.F_SLO_LATENCY, k.F_SLO_WINDOW, k.F_DECIDED_BY]] = (
        sim.horizon, start, end, spec.slo_latency_hours, spec.slo.window, measures.decided_by)
    fp[k.F_TIMEOUT] = spec.timeout if spec.timeout is not None else math.inf
    fp[k.F_COUNT_FROM] = -math.inf
    fp[k.F_QUEUE_TIMEOUT] = lb.queue_timeout if lb.queue_timeout is not None else math.inf
    fp[[k.F_CHECK_INTERVAL, k.F_CHECK_TIMEOUT, k.F_ERROR_RATE, k.F_MEAN_SERVICE]] = (
        lb.health_check_interval, lb.health_check_timeout, spec.error_rate, spec.service_mean_hours)
    ip[[k.I_REPLICAS, k.I_CONCURRENCY, k.I_FAIL_FAST, k.I_FAIL_OPEN, k.I_HEALTHY_THRESHOLD, k.I_UNHEALTHY_THRESHOLD,
        k.I_POLICY, k.I_WINDOWS, k.I_NEEDED]] = (
        spec.replicas, spec.concurrency, spec.dead_replica == "fail_fast", lb.fail_open, lb.healthy_threshold,
        lb.unhealthy_threshold, _POLICIES[lb.policy], measures.windows, spec.healthy_needed)
    trace = _arrivals(spec, fp, ip)
    _patterns(spec, fp, ip)
    return fp, ip, trace, _service(spec, fp, ip)


def _arrivals(spec: Inference, fp: np.ndarray, ip: np.ndarray) -> np.ndarray:
    """The arrival process's parameters (as arrivals.py's processes keep them); a trace's times in hours."""
    arrivals = spec.arrivals
    per_s = 1.0 / SECONDS_PER_HOUR
    trace = np.zeros(0)
    if isinstance(arrivals, PoissonArrivals):
        ip[k.I_ARRIVALS], fp[k.F_GAP] = k.ARRIVALS_POISSON, per_s / arrivals.rate
    elif isinstance(arrivals, DiurnalArrivals):
        ip[k.I_ARRIVALS] = k.ARRIVALS_DIURNAL
        fp[[k.F_GAP, k.F_TROUGH, k.F_PEAK, k.F_SWING, k.F_OMEGA, k.F_PEAK_AT]] = (
            per_s / arrivals.peak, arrivals.trough, arrivals.peak, (arrivals.peak - arrivals.trough) / 2.0,
            2.0 * math.pi / arrivals.period, arrivals.peak_at)
    elif isinstance(arrivals, BurstyArrivals):
        ip[k.I_ARRIVALS] = k.ARRIVALS_BURSTY
        quiet = arrivals.quiet_rate_per_s
        fp[[k.F_ON_GAP, k.F_OFF_GAP, k.F_ON_HOURS, k.F_OFF_HOURS]] = (
            per_s / arrivals.rate, per_s / quiet if quiet > 0.0 else 0.0, arrivals.on_duration, arrivals.off_duration)
    else:
        assert isinstance(arrivals, TraceArrivals)
        ip[k.I_ARRIVALS], ip[k.I_TRACE_REPEAT] = k.ARRIVALS_TRACE, arrivals.repeat
        times = arrivals.times
        per = 1.0 / (arrivals.scale * SECONDS_PER_HOUR)
        trace = np.array([t * per for t in times])
        gap_s = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else 0.0
        fp[k.F_TRACE_PERIOD] = (times[-1] + (gap_s if gap_s > 0.0 else 1.0)) * per
    return trace


def _patterns(spec: Inference, fp: np.ndarray, ip: np.ndarray) -> None:
    """Retries (with their budget when it can limit), the rate limit, admission and shedding."""
    retries = spec.retries
    if retries is not None:
        ip[[k.I_RETRIES, k.I_MAX_ATTEMPTS, k.I_JITTER, k.I_ON_TIMEOUT, k.I_BUDGET]] = (
            1, retries.max_attempts, _JITTER[retries.jitter], retries.on_timeout,
            retries.budget < retries.max_attempts - 1)
        fp[[k.F_BACKOFF_BASE, k.F_BACKOFF_MAX, k.F_BUDGET_RATIO, k.F_BUDGET_BURST]] = (
            retries.backoff_base, retries.backoff_max, retries.budget, retries.budget_burst)
    if spec.rate_limit is not None:
        ip[k.I_LIMIT] = 1
        fp[k.F_LIMIT_RATE], fp[k.F_LIMIT_BURST] = spec.rate_limit.rate * SECONDS_PER_HOUR, spec.rate_limit.burst
    if spec.admission is not None:
        ip[k.I_ADMISSION], ip[k.I_MAX_QUEUE] = 1, spec.admission.max_queue
    ip[k.I_SHEDDING] = spec.load_shedding


def _service(spec: Inference, fp: np.ndarray, ip: np.ndarray) -> np.ndarray:
    """The service law's code and parameters (the fast engine's conversion), or the token laws'."""
    if spec.tokens is not None:
        tokens = spec.tokens
        ip[k.I_TOKENS] = 1
        fp[k.F_PREFILL_PER_TOKEN], fp[k.F_DECODE_PER_TOKEN] = tokens.prefill_per_token, tokens.decode_per_token
        ip[k.I_PROMPT_LAW], fp[k.F_PROMPT_A], fp[k.F_PROMPT_B] = _token_law(tokens.prompt_tokens)
        ip[k.I_OUTPUT_LAW], fp[k.F_OUTPUT_A], fp[k.F_OUTPUT_B] = _token_law(tokens.output_tokens)
        return np.zeros(1)
    law = spec.service_time
    assert law is not None
    code, convert = LAW_CONVERTERS[type(law)]
    ip[k.I_LAW] = code
    fp[k.F_LAW_A], fp[k.F_LAW_B] = convert(law)
    return np.asarray(law.samples, dtype=np.float64) if isinstance(law, Empirical) else np.zeros(1)


def _token_law(law: TokenLaw) -> tuple[int, float, float]:
    """(code, a, b) as arrivals.token_counts draws: mean / low, high / the lognormal's mu, sigma."""
    if law.dist == "uniform":
        assert law.low is not None and law.high is not None
        return _TOKEN_LAWS["uniform"], float(law.low), float(law.high)
    assert law.mean is not None
    if law.dist == "lognormal":
        assert law.cv is not None
        sigma2 = math.log1p(law.cv * law.cv)
        return _TOKEN_LAWS["lognormal"], math.log(law.mean) - sigma2 / 2.0, math.sqrt(sigma2)
    return _TOKEN_LAWS[law.dist], law.mean, 0.0


# --- the replicas' transitions (the event layer) ---------------------------------------------------------

class _Transitions:
    """A pool that only writes down when each replica stops and starts serving and changes speed: the Python
    replica (its reload after its nodes are back, waiting for the store) run on the cluster's timeline."""

    def __init__(self, env: simpy.Environment, spec: Inference, store: ReplayStore | None) -> None:
        self.loop = EventLoop(env)
        self.record: Callable[[tuple], None] = _no_row  # the fast engine keeps no log
        self.breaker_spec: CircuitBreaker | None = None
        self.store = cast(StorageCluster | None, store)
        self.reload_hours = spec.reload_time
        self.mean_service_hours = spec.service_mean_hours
        self.moves: list[tuple[float, int, int, float]] = []

    def expect(self, _time: float) -> None:
        """Only the hybrid technique listens."""

    def replica_died(self, replica: Replica, now: float, _cause: int) -> None:
        replica.serving = False
        replica.epoch += 1
        self.moves.append((now, replica.index, k.DIES, replica.speed))

    def replica_serves(self, replica: Replica, now: float) -> None:
        replica.serving = True
        self.moves.append((now, replica.index, k.SERVES, replica.speed))


def _no_row(_row: tuple) -> None:
    """Nothing is logged."""


class _TrackedReplica(Replica):
    """A replica whose speed changes are written down too."""

    __slots__ = ()

    def member_speed_changed(self, slot: Slot) -> None:
        super().member_speed_changed(slot)
        pool = cast(_Transitions, self.pool)
        pool.moves.append((pool.loop.external(), self.index, k.SPEED, self.speed))


class Transitions(NamedTuple):
    """A service's replicas' transitions in time order (kernel.DIES / SERVES / SPEED, the speed after it), and
    each replica's speed at the start."""

    times: np.ndarray
    replicas: np.ndarray
    kinds: np.ndarray
    values: np.ndarray
    speeds: np.ndarray

    @property
    def moves(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The four arrays the loop reads."""
        return self.times, self.replicas, self.kinds, self.values


def no_transitions(speeds: list[float]) -> Transitions:
    """Replicas at ``speeds`` that never change (a stationary sample's)."""
    return Transitions(np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.array(speeds))


def replica_transitions(scenario: Scenario, s: int, timeline: Timeline) -> Transitions:
    """Service ``s``'s replicas' transitions over the horizon on ``timeline``."""
    env = simpy.Environment()
    spec = scenario.inference[s]
    store = ReplayStore(env, timeline.store_readable) if timeline.store_readable is not None else None
    replayed = {i: ReplaySlot(i, speed) for i, speed in zip(timeline.positions, timeline.speeds)}
    host = _Transitions(env, spec, store)
    speeds = []
    for index, positions in enumerate(layout_of(scenario).replica_positions[s]):
        replica = _TrackedReplica(host, index, index, [cast(Slot, replayed[i]) for i in positions])
        replica.serving = True
        replica.speed = min(replayed[i].node.speed for i in positions)
        speeds.append(replica.speed)
    env.process(replay(env, timeline, replayed, store))
    env.run(until=scenario.simulation.horizon)
    moves = sorted(host.moves, key=lambda move: move[0])  # stable: same-time moves keep their order
    return Transitions(np.array([m[0] for m in moves]), np.array([m[1] for m in moves], np.int64),
                       np.array([m[2] for m in moves], np.int64), np.array([m[3] for m in moves]), np.array(speeds))


# --- what comes back ---------------------------------------------------------------------------------------

def room_for(spec: Inference) -> int:
    """A first guess of the live attempts: the peak rate times a few timeouts (a minute without one)."""
    peak_per_s = spec.arrivals.mean_rate_per_s
    if isinstance(spec.arrivals, DiurnalArrivals):
        peak_per_s = spec.arrivals.peak
    elif isinstance(spec.arrivals, BurstyArrivals):
        peak_per_s = spec.arrivals.rate
    timeout_s = spec.timeout * SECONDS_PER_HOUR if spec.timeout is not None else 60.0
    return int(min(1 << 24, 1024 + 4 * peak_per_s * timeout_s + 2 * spec.replicas_most * spec.concurrency))


def fill_measures(m: ServiceMeasures, st: k.State) -> None:
    """The loop's accumulators into the Python model's measures (whose ``values`` computes every metric)."""
    ctr, acc = st.ctr, st.acc
    m.requests, m.good, m.answered, m.attempts = (int(ctr[c]) for c in (k.C_REQUESTS, k.C_GOOD, k.C_ANSWERED,
                                                                           k.C_ATTEMPTS))
    m.shed, m.rate_limited, m.timeouts, m.failed = (int(ctr[c]) for c in (k.C_SHED, k.C_RATE_LIMITED, k.C_TIMEOUTS,
                                                                           k.C_FAILED))
    m.waits, m.overdue, m.wait_sum = int(ctr[k.C_WAITS]), int(ctr[k.C_OVERDUE]), float(acc[k.A_WAIT_SUM])
    m.window_sent, m.window_good, m.window_overdue = (a.tolist() for a in (st.window_sent, st.window_good,
                                                                           st.window_overdue))
    _histogram(m.latency, st.latency)
    if m.ttft is not None and m.tpot is not None:
        _histogram(m.ttft, st.ttft)
        _histogram(m.tpot, st.tpot)
    serving = m.serving = Level(len(st.serving), m.start, m.end, 0)
    serving.area, serving.enough_time, serving.positive_time = (float(acc[a]) for a in (k.A_AREA, k.A_ENOUGH,
                                                                                       k.A_POSITIVE))
    serving.at = serving.end  # finished: the loop accumulated up to the window's end


def _histogram(histogram: Histogram, counts: np.ndarray) -> None:
    histogram.counts = counts.tolist()
    histogram.n = int(counts.sum())

"""One service served by the compiled loop: run to the horizon (every request), or driven by the hybrid
technique (``workloads/inference/hybrid.py``) — which opens and closes windows between the loop's runs — with
its stationary samples drawn by the loop too.

``CompiledService`` offers the hybrid what it asks of the Python ``client.Service`` (stop and resume arrivals,
its pool's checks, its counted window, the retry budget and rate limit full again, the configuration, whether
the pool has settled); the hybrid's own events run on a ``ControlLoop`` between the loop's runs.
"""
from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from clustersim.engine.fast.serving import kernel as k
from clustersim.engine.fast.serving.plan import (
    STREAM_PARTS, Transitions, fill_measures, no_transitions, parameters, replica_transitions, room_for,
)
from clustersim.layout import serving_technique
from clustersim.rng import Streams
from clustersim.scenario.schema import Scenario
from clustersim.scenario.sections.inference import Inference
from clustersim.workloads.inference.hybrid import (
    SAMPLE_EVERY_H, Config, Hybrid, Samples, SampleRunOutcome, SampleSpan,
)
from clustersim.workloads.inference.measure import ServiceMeasures
from clustersim.workloads.inference.timeline import Timeline, service_positions


class Full(Exception):
    """The loop outgrew its state: run again from the start with more room."""


class ControlLoop:
    """The hybrid technique's events (its settle checks and window openings), run between the loop's runs."""

    def __init__(self) -> None:
        self.now = 0.0
        self.events = 0  # the compiled loop's request-level events (Serving.requests_events reads it)
        self._heap: list[tuple[float, int, Callable[[Any], None], Any]] = []
        self._seq = itertools.count()

    def at(self, time: float, handler: Callable[[Any], None], arg: Any = None, sync: bool = False) -> None:
        heapq.heappush(self._heap, (time, next(self._seq), handler, arg))

    def next_time(self) -> float:
        return self._heap[0][0] if self._heap else math.inf

    def run_due(self) -> None:
        """Every event at the earliest time (events they schedule for then too)."""
        time = self.now = self._heap[0][0]
        while self._heap and self._heap[0][0] <= time:
            _, _, handler, arg = heapq.heappop(self._heap)
            handler(arg)


class _ReplicaView:
    """What the hybrid reads of a replica: its speed and whether it serves."""

    __slots__ = ("speed", "serving")

    def __init__(self, speed: float, serving: bool) -> None:
        self.speed, self.serving = speed, serving


class CompiledPool:
    """The loop's pool as the hybrid sees a ``service.Pool``."""

    def __init__(self, owner: CompiledService) -> None:
        self.owner = owner
        self.expect: Callable[[float], None] = _nothing  # the transitions are known ahead (CompiledService.gains)

    @property
    def active(self) -> list[_ReplicaView]:
        st = self.owner.st
        return [_ReplicaView(float(speed), bool(serving)) for speed, serving in zip(st.speed, st.serving)]

    @property
    def queued(self) -> int:
        return int(self.owner.st.ctr[k.C_QUEUED])

    def settled(self) -> bool:
        """Does the balancer see every replica as it really is? (No ejection or breakers here.)"""
        st = self.owner.st
        return bool(np.array_equal(st.healthy, st.serving))

    def stop_checks(self) -> None:
        self.owner.st.ctr[k.C_CHECKS_EPOCH] += 1

    def resume_checks(self, now: float) -> None:
        self.owner.st.ctr[k.C_RESUME_CHECKS] = 1
        self.owner.st.acc[k.A_RESUME_AT] = now

    def reset_patterns(self) -> None:
        """Nothing to reset: the compiled pool has no breakers or ejection (plan.compiled_serving_gaps)."""


class CompiledService:
    """One service's loop, run in steps: ``advance(until)`` runs its events before ``until``."""

    def __init__(self, scenario: Scenario, spec: Inference, streams: Streams, room: int,
                 transitions: Transitions, dead: int = 0, label: str = "") -> None:
        self.spec = spec
        fp, ip, self.trace, self.empirical = parameters(scenario, spec)
        self.fp, self.ip = fp, ip
        self.moves = transitions.moves
        speeds = transitions.speeds
        replicas = len(speeds) + dead
        ip[k.I_REPLICAS] = replicas
        self.st = k.new_state(replicas, room, int(ip[k.I_WINDOWS]))
        self.st.speed[: len(speeds)] = speeds
        self.st.serving[len(speeds):] = 0  # held but dead, and known so (a fail-open sample's configuration)
        self.st.healthy[len(speeds):] = 0
        self.gens = [streams.generator(f"inference/{spec.name}{label}/{part}") for part in STREAM_PARTS]
        start, end = scenario.simulation.warmup, scenario.simulation.horizon
        self.measures = ServiceMeasures(start, end, spec.slo_latency_hours, spec.slo.window, spec.tokens is not None)
        self.loop = ControlLoop()
        self.pool = CompiledPool(self)
        self.fallback = None   # (a service with one serves in Python)
        self.release = None
        self.horizon = float(fp[k.F_HORIZON])

    def advance(self, until: float) -> None:
        self.fp[k.F_COUNT_FROM] = self.measures.count_from
        status = k.serve_service(self.fp, self.ip, self.st, self.trace, self.empirical, *self.moves, *self.gens,
                                 until)
        self.loop.events = int(self.st.ctr[k.C_EVENTS])
        if status != k.STATUS_OK:
            raise Full

    def run(self) -> None:
        """To the horizon, the control loop's events between the loop's runs."""
        while self.loop.next_time() < self.horizon:
            self.advance(self.loop.next_time())
            self.loop.run_due()
        self.advance(math.inf)
        fill_measures(self.measures, self.st)

    # --- what the hybrid technique asks -----------------------------------------------------------------

    def stop_arrivals(self) -> None:
        self.st.ctr[k.C_ARRIVALS_EPOCH] += 1

    def resume_arrivals(self, now: float) -> None:
        self.st.ctr[k.C_RESUME_ARRIVALS] = 1
        self.st.acc[k.A_RESUME_AT] = now

    def reset_limits(self) -> None:
        """The retry budget and the rate limit full again (client.Service.reset_limits)."""
        acc, fp = self.st.acc, self.fp
        acc[k.A_BUDGET], acc[k.A_TOKENS], acc[k.A_TOKENS_AT] = fp[k.F_BUDGET_BURST], fp[k.F_LIMIT_BURST], 0.0


def serve_compiled(scenario: Scenario, replication: int, timeline: Timeline) -> tuple[dict[str, float | None], int]:
    """Every service's ``inference.<name>.*`` metrics on ``timeline`` from the compiled loop (request by request,
    or by the hybrid technique), and the request-level events it ran."""
    values: dict[str, float | None] = {}
    events = 0
    for s, spec in enumerate(scenario.inference):
        transitions = replica_transitions(scenario, s, timeline)
        room = room_for(spec)
        while True:
            try:
                own, ran = _serve_one(scenario, s, replication, timeline, transitions, room)
                break
            except Full:
                room *= 2
        events += ran
        values.update({f"inference.{spec.name}.{metric}": value for metric, value in own.items()})
    return values, events


def _serve_one(scenario: Scenario, s: int, replication: int, timeline: Timeline, transitions: Transitions,
               room: int) -> tuple[dict[str, float | None], int]:
    spec = scenario.inference[s]
    streams = Streams(scenario.simulation.seed, replication)
    service = CompiledService(scenario, spec, streams, room, transitions)
    if serving_technique(scenario) != "hybrid":
        service.run()
        return service.measures.values(spec.slo.target), service.loop.events
    reloads_done = [(float(t), False) for t, kind in zip(transitions.times, transitions.kinds) if kind == k.SERVES]
    changes = timeline.changes_of(service_positions(scenario, s)) + reloads_done  # gains, known ahead here
    samples = Samples(scenario, s, streams, run=_sample_runner(scenario, room))
    hybrid = Hybrid(scenario, s, service, None, changes, streams, samples=samples)
    service.run()
    hybrid.finish()
    own = service.measures.values(spec.slo.target)
    own.update(hybrid.values())
    return own, service.loop.events + hybrid.sample_events


def _sample_runner(scenario: Scenario, room: int) -> Callable[[Inference, Inference, Config, Streams, SampleSpan],
                                                               SampleRunOutcome]:
    """The hybrid's stationary samples, drawn by the compiled loop (hybrid.run_sample's model)."""

    def run(spec: Inference, sampled: Inference, config: Config, streams: Streams,
            span: SampleSpan) -> SampleRunOutcome:
        speeds, _fallback, _version, dead = config
        horizon = scenario.model_copy(update={"simulation": scenario.simulation.model_copy(
            update={"horizon": span.end, "warmup": span.burn_in})})
        service = CompiledService(horizon, sampled, streams, room, no_transitions(list(speeds)), dead, span.label)
        service.measures.count_from = span.burn_in
        queues: list[float] = []
        send_end, t = span.burn_in + span.send, span.burn_in
        while True:  # hybrid.run_sample's readings: from the burn-in, every SAMPLE_EVERY_H while requests are sent
            service.advance(t)
            queues.append(float(service.st.ctr[k.C_QUEUED]))
            if t + SAMPLE_EVERY_H >= send_end:
                break
            t += SAMPLE_EVERY_H
        service.advance(send_end)
        service.stop_arrivals()
        service.advance(math.inf)
        fill_measures(service.measures, service.st)
        return SampleRunOutcome(service.measures, queues, [], [], service.loop.events)

    return run


SERVING_COMPILE_HINT = "~15 s"  # a first compile of the serving loop here (2 cores, numba 0.68: 11-15 s)
_serving_compiled = False


def ensure_serving_compiled() -> None:
    """Compile (or load from numba's cache) the serving loop once per process, on a tiny service."""
    global _serving_compiled
    if _serving_compiled:
        return
    from clustersim.scenario.load import scenario_from_dict

    tiny = scenario_from_dict({"name": "warm-up", "simulation": {"horizon": "1 min"}, "nodes": {"count": 1},
                               "inference": [{"name": "s", "replicas": 1, "arrivals": {"process": "poisson",
                                                                                      "rate": "1 /s"},
                                              "service_time": {"dist": "deterministic", "value": "0.1 s"},
                                              "timeout": "1 s"}]})
    CompiledService(tiny, tiny.inference[0], Streams(0, 0), 64, no_transitions([1.0])).run()
    _serving_compiled = True


def _nothing(_time: float) -> None:
    """Nobody listens."""

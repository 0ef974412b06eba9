"""Inference services behind a load balancer, on the cluster's working positions.

The cluster runs first with a ``timeline.ServingTap`` on every position a service may use; ``serve`` then runs
every ``[[inference]]`` service on one request-level event loop (``loop``) of its own SimPy environment, its
positions replaying the tap's timeline (a service never acts on the cluster, so this is the same run), and
``Serving.metrics()`` gives their ``inference.<name>.*`` values. With ``[simulation] serving = "hybrid"`` requests
are simulated only in windows around the changes of a service's capacity (``hybrid``).
Modules: ``arrivals`` (request arrival processes, service-time draws), ``balancer`` (routing policies),
``patterns`` (token buckets, backoff, circuit breakers), ``replica`` (one replica and the balancer's view of
it), ``service`` (a pool: routing, queue, health checks, ejection), ``client`` (requests, retries, limits,
fallback), ``release`` (canary), ``autoscaler``, ``measure`` (the metrics' accumulators), ``timeline`` (the
tap and its replay), ``hybrid`` (windows and stationary stretches), ``injections`` (the ``[[chaos]]`` entries
aimed at a service: delays, errors, health-check outages, bad releases, traffic surges).
"""
from __future__ import annotations

import math

from collections.abc import Callable
from typing import cast

import simpy

from clustersim.layout import layout_of, serving_technique
from clustersim.model.base import Context
from clustersim.model.spares import Slot
from clustersim.model.storage import StorageCluster
from clustersim.rng import Streams
from clustersim.scenario.schema import Scenario
from clustersim.workloads.inference.autoscaler import Autoscaler
from clustersim.workloads.inference.client import Service
from clustersim.workloads.inference.hybrid import Hybrid
from clustersim.workloads.inference.injections import schedule_injections
from clustersim.workloads.inference.loop import EventLoop
from clustersim.workloads.inference.timeline import (
    ReplaySlot, ReplayStore, ServingTap, Timeline, replay, service_positions,
)


class Serving:
    """Every service of a replication and the loop they share."""

    def __init__(self, loop: EventLoop, services: list[Service], autoscalers: list[Autoscaler | None],
                 technique: str, hybrids: list[Hybrid]) -> None:
        self.loop = loop
        self.services = services
        self.autoscalers = autoscalers
        self.technique = technique  # "requests" | "hybrid"
        self.hybrids = hybrids

    def metrics(self) -> dict[str, float | None]:
        """``inference.<name>.<metric>`` of every service (None where a replication cannot measure it)."""
        for hybrid in self.hybrids:
            hybrid.finish()
        values: dict[str, float | None] = {}
        for s, service in enumerate(self.services):
            own = service.values()
            if self.hybrids:
                own.update(self.hybrids[s].values())
            for metric, value in own.items():
                values[f"inference.{service.spec.name}.{metric}"] = value
        return values

    def series(self) -> dict[str, list[float | None]]:
        """``inference.<name>.<metric>`` per series window, of the metrics a window's requests determine
        (empty without a series, or when the hybrid technique served: it does not simulate every request)."""
        values: dict[str, list[float | None]] = {}
        for service in self.services:
            if service.series is not None:
                for metric, by_window in service.series.values(service.spec.slo.target).items():
                    values[f"inference.{service.spec.name}.{metric}"] = by_window
        return values

    @property
    def requests_events(self) -> int:
        """Request-level events run (in windows and in the hybrid's stationary samples)."""
        return self.loop.events + sum(h.sample_events for h in self.hybrids)


def tap_inference(ctx: Context, scenario: Scenario, slots: list[Slot],
                  store: StorageCluster | None) -> ServingTap | None:
    """Listen to the positions the services use (None without services); ``serve`` replays what it heard."""
    return ServingTap(ctx, scenario, slots, store) if scenario.inference else None


def serve(scenario: Scenario, streams: Streams, timeline: Timeline, record: Callable[[tuple], None],
          before_run: Callable[[Serving], None] | None = None, injections_until: float = math.inf) -> Serving:
    """Run every service over [0, horizon) on ``timeline`` (``before_run`` sees the model before it runs); serving
    injections start only by ``injections_until`` (when an [[abort]] stopped the cluster's)."""
    env = simpy.Environment()
    layout = layout_of(scenario)
    store = ReplayStore(env, timeline.store_readable) if timeline.store_readable is not None else None
    replayed = {i: ReplaySlot(i, speed) for i, speed in zip(timeline.positions, timeline.speeds)}
    slots = cast(dict[int, Slot], replayed)
    loop = EventLoop(env)
    window = (scenario.simulation.warmup, scenario.simulation.horizon)
    technique = serving_technique(scenario)
    series = scenario.simulation.series_windows() if technique == "requests" else None
    services, autoscalers, hybrids = [], [], []
    free = [slots[i] for i in layout.free_positions if i in slots]
    for s, spec in enumerate(scenario.inference):
        primary = [[slots[i] for i in r] for r in layout.replica_positions[s]]
        fallback = [[slots[i] for i in r] for r in layout.fallback_positions[s]]
        service = Service(loop, spec, layout.replica_first[s], primary, fallback, streams, record,
                          cast(StorageCluster | None, store), window, series=series)
        services.append(service)
        scaling = spec.autoscaling
        scaler = Autoscaler(loop, scaling, service.pool, free, spec.nodes_per_replica) if scaling is not None \
            else None
        autoscalers.append(scaler)
        if technique == "hybrid":
            changes = timeline.changes_of(service_positions(scenario, s))
            hybrids.append(Hybrid(scenario, s, service, scaler, changes, streams))
    schedule_injections(loop, scenario, services, streams, injections_until)
    env.process(replay(env, timeline, replayed, store))
    serving = Serving(loop, services, autoscalers, technique, hybrids)
    if before_run is not None:
        before_run(serving)
    env.run(until=scenario.simulation.horizon)
    return serving

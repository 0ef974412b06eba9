"""Inference services behind a load balancer (the request-level model), on the cluster's working positions.

``start_inference`` builds every ``[[inference]]`` service on one request-level event loop (``loop``) beside
the SimPy cluster; ``Serving.metrics()`` gives their ``inference.<name>.*`` values at the end of a run.
Modules: ``arrivals`` (request arrival processes, service-time draws), ``balancer`` (routing policies),
``patterns`` (token buckets, backoff, circuit breakers), ``replica`` (one replica and the balancer's view of
it), ``service`` (a pool: routing, queue, health checks, ejection), ``client`` (requests, retries, limits,
fallback), ``release`` (canary), ``autoscaler``, ``measure`` (the metrics' accumulators).
"""
from __future__ import annotations

from clustersim.layout import layout_of
from clustersim.model.base import Context
from clustersim.model.spares import Slot
from clustersim.model.storage import StorageCluster
from clustersim.rng import Streams
from clustersim.scenario.schema import Scenario
from clustersim.workloads.inference.autoscaler import Autoscaler
from clustersim.workloads.inference.client import Service
from clustersim.workloads.inference.loop import EventLoop


class Serving:
    """Every service of a replication and the loop they share."""

    def __init__(self, loop: EventLoop, services: list[Service], autoscalers: list[Autoscaler | None]) -> None:
        self.loop = loop
        self.services = services
        self.autoscalers = autoscalers

    def metrics(self) -> dict[str, float | None]:
        """``inference.<name>.<metric>`` of every service (None where a replication cannot measure it)."""
        values: dict[str, float | None] = {}
        for service in self.services:
            for metric, value in service.values().items():
                values[f"inference.{service.spec.name}.{metric}"] = value
        return values


def start_inference(ctx: Context, scenario: Scenario, slots: list[Slot], streams: Streams,
                    store: StorageCluster | None) -> Serving | None:
    """Put every service's replicas on their positions and start its clients (None without services)."""
    if not scenario.inference:
        return None
    layout = layout_of(scenario)
    loop = EventLoop(ctx.env)
    window = (scenario.simulation.warmup, scenario.simulation.horizon)
    services, autoscalers = [], []
    free = [slots[i] for i in layout.free_positions]
    for s, spec in enumerate(scenario.inference):
        service = Service(loop, spec, s, layout, slots, streams, ctx.record, store, window)
        services.append(service)
        scaling = spec.autoscaling
        autoscalers.append(Autoscaler(loop, scaling, service.pool, free, spec.nodes_per_replica)
                           if scaling is not None else None)
    return Serving(loop, services, autoscalers)

"""A horizontal autoscaler with Kubernetes HPA's rule: every sync period, desired = ceil(load / target) within
[min_replicas, max_replicas], scaling down only to the highest desired count of the stabilisation window.

A new replica takes ``nodes_per_replica`` free working positions (filled by up nodes, held by nothing):
positions the spare pool keeps filled, so the autoscaler competes with failed positions for spares. It
serves after ``provisioning`` + ``reload_time`` and joins the balancer once its health checks pass. A
replica scaled down leaves the balancer at once and gives its positions back.
"""
from __future__ import annotations

import math
from collections import deque

from clustersim.model.spares import FILLED, Slot
from clustersim.scenario.sections.inference import Autoscaling
from clustersim.workloads.inference.loop import EventLoop
from clustersim.workloads.inference.replica import Replica
from clustersim.workloads.inference.service import Pool


class Autoscaler:
    """Scales one pool."""

    def __init__(self, loop: EventLoop, spec: Autoscaling, pool: Pool, free: list[Slot], nodes_per_replica: int):
        self.loop = loop
        self.spec = spec
        self.pool = pool
        self.free = free
        self.nodes_per_replica = nodes_per_replica
        self.desired: deque[tuple[float, int]] = deque()
        self.decisions: list[tuple[float, int]] = []  # (time, replicas held after the decision)
        loop.at(spec.sync_period, self._sync, sync=True)

    def load(self) -> float:
        """The metric summed over the pool, in units of the target (desired replicas before rounding)."""
        pool, spec = self.pool, self.spec
        if spec.metric == "concurrency":
            return (sum(r.outstanding for r in pool.active) + pool.queued) / spec.target
        serving = [r for r in pool.active if r.serving]
        if not serving:
            return float(len(pool.active))
        busy = sum(min(r.outstanding, pool.concurrency) for r in serving) / (len(serving) * pool.concurrency)
        return len(serving) * busy / spec.target

    def _sync(self, _arg: object) -> None:
        now, spec = self.loop.now, self.spec
        self.loop.at(now + spec.sync_period, self._sync, sync=True)
        wanted = min(spec.max_replicas, max(spec.min_replicas, math.ceil(self.load() - 1e-9)))
        desired = self.desired
        desired.append((now, wanted))
        while desired[0][0] < now - spec.scale_down_stabilization:
            desired.popleft()
        held = len(self.pool.active)
        if wanted > held:
            self._scale_up(wanted - held, now)
        else:
            target = max(d for _, d in desired)
            if target < held:
                self._scale_down(held - target)
        if len(self.pool.active) != held:
            self.decisions.append((now, len(self.pool.active)))

    def _scale_up(self, count: int, now: float) -> None:
        free = [slot for slot in self.free if slot.owner is None and slot.state == FILLED and slot.node.up]
        size = self.nodes_per_replica
        for first in range(0, min(count * size, len(free) - size + 1), size):
            # (too few free positions: the rest wait for the next sync)
            replica = self.pool.add_replica(free[first : first + size], serving=False)
            replica.reloading = True
            self.loop.at(now + self.spec.provisioning, self._provisioned, replica)

    def _provisioned(self, replica: Replica) -> None:
        replica.reloading = False
        if replica.held and replica.all_filled():
            replica.start_reload()

    def _scale_down(self, count: int) -> None:
        """Remove replicas not serving first, then the newest."""
        order = sorted(self.pool.active, key=lambda r: (r.serving, -r.index))
        for replica in order[:count]:
            self.pool.remove_replica(replica)

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
        self.forced: deque[tuple[float, int]] = deque()  # (sync time, wanted) drawn ahead by the hybrid technique
        self.epoch = 0  # bumped when syncs pause (the hybrid's stretches): a stale sync does nothing
        self.syncs = 0  # syncs so far: sync n runs at n x sync_period
        loop.at(spec.sync_period, self._sync, self.epoch, sync=True)

    def load(self) -> float:
        """The metric summed over the pool, in units of the target (desired replicas before rounding)."""
        return pool_load(self.pool, self.spec)

    def pause(self) -> None:
        """Syncs pause (the hybrid technique decides them ahead from stationary samples while requests are not
        simulated)."""
        self.epoch += 1

    def resume(self, now: float) -> None:
        """Syncs go on from the first one after ``now``."""
        period = self.spec.sync_period
        self.syncs = max(self.syncs, math.ceil(now / period - 1e-9) - 1)
        self.loop.at((self.syncs + 1) * period, self._sync, self.epoch, sync=True)

    def wanted(self, load: float) -> int:
        """The replicas a load (in units of the target) asks for."""
        spec = self.spec
        return min(spec.max_replicas, max(spec.min_replicas, math.ceil(load - 1e-9)))

    def _sync(self, epoch: int) -> None:
        if epoch != self.epoch:
            return
        now, spec = self.loop.now, self.spec
        self.syncs += 1
        self.loop.at(now + spec.sync_period, self._sync, epoch, sync=True)
        forced, near = self.forced, spec.sync_period * 1e-3
        while forced and forced[0][0] < now - near:
            forced.popleft()
        if forced and forced[0][0] <= now + near:
            wanted = forced.popleft()[1]
        else:
            wanted = self.wanted(self.load())
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


def pool_load(pool: Pool, spec: Autoscaling) -> float:
    """The autoscaler's metric summed over ``pool``, in units of the target (desired replicas before rounding)."""
    if spec.metric == "concurrency":
        return (sum(r.outstanding for r in pool.active) + pool.queued) / spec.target
    serving = [r for r in pool.active if r.serving]
    if not serving:
        return float(len(pool.active))
    busy = sum(min(r.outstanding, pool.concurrency) for r in serving) / (len(serving) * pool.concurrency)
    return len(serving) * busy / spec.target

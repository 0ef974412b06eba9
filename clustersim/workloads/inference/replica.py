"""An inference replica: the working positions it holds, whether it really serves, and what the balancer
believes of it (health checks, outlier ejection, its circuit breaker).

A replica serves when every one of its positions is filled by an up, connected node and it has reloaded
its weights since (``reload_time``, waiting while the store cannot be read). It is a ``PositionListener``
of its positions, so node, network and domain failures and the spare pool's refills reach it as they reach
a training job.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import simpy

from clustersim.model.records import Kind
from clustersim.model.spares import FILLED, Slot
from clustersim.model.storage import StorageCluster
from clustersim.scenario.sections.inference import CircuitBreaker
from clustersim.workloads.inference.loop import EventLoop
from clustersim.workloads.inference.patterns import CLOSED, Breaker

REPLICA, HEALTH = Kind.REPLICA.value, Kind.HEALTH.value
UP, DOWN = 0, 1


class Host(Protocol):
    """What a replica needs of its pool (``service.Pool``)."""

    loop: EventLoop
    record: Callable[[tuple], None]
    store: StorageCluster | None
    reload_hours: float
    mean_service_hours: float
    breaker_spec: CircuitBreaker | None

    def replica_died(self, replica: Replica, now: float, cause: int) -> None: ...

    def replica_serves(self, replica: Replica, now: float) -> None: ...

    def expect(self, time: float) -> None: ...


class Replica:
    """One replica of a pool; ``index`` is its place in the pool, ``number`` its component in the log."""

    __slots__ = ("pool", "index", "number", "slots", "serving", "reloading", "held", "epoch", "outstanding",
                 "latency_ewma", "healthy", "failed_checks", "passed_checks", "ejected", "ejections",
                 "errors_in_row", "breaker", "in_service", "hung", "speed", "down_cause", "check_phase",
                 "delay_hours", "delays", "aborts")

    def __init__(self, pool: Host, index: int, number: int, slots: list[Slot]) -> None:
        self.pool = pool
        self.index = index
        self.number = number
        self.slots = slots
        self.serving = False
        self.reloading = False
        self.held = True           # it holds its positions (an autoscaler may give them back)
        self.epoch = 0             # bumped at each death: attempts of an earlier epoch are lost
        self.outstanding = 0       # attempts routed to it and not yet ended
        self.latency_ewma = pool.mean_service_hours
        self.healthy = True        # the balancer's view, from health checks
        self.failed_checks = self.passed_checks = 0
        self.ejected = False
        self.ejections = 0
        self.errors_in_row = 0
        self.breaker = Breaker(pool.breaker_spec) if pool.breaker_spec is not None else None
        self.in_service: set = set()  # attempts it is serving (lost if it dies)
        self.hung: set = set()        # attempts sent to it while dead, hanging until their timeout
        self.speed = 1.0
        self.down_cause = -1
        self.check_phase = 0.0     # its health checks run at check_phase + n x interval
        self.delay_hours = 0.0     # added to each attempt it serves: the sum of ``delays``
        self.delays: list[float] = []  # added latencies of delay_replicas injections under way
        self.aborts: list = []     # (probability, draws) of error_replicas injections under way
        for slot in slots:
            slot.owner = self

    # --- what the positions tell it (SimPy time) ----------------------------------------------------------

    def member_changed(self, slot: Slot, before: int, cause: int) -> None:
        if not self.held:
            return
        now = self.pool.loop.external()
        if self.reloading and slot.state != FILLED:
            self.epoch += 1  # the reload under way is void: it starts again once every position is back
            self.reloading = False
        elif self.serving and slot.state != FILLED:
            self.down_cause = cause
            self.pool.replica_died(self, now, cause)
        elif not self.serving and not self.reloading and self.all_filled():
            self.start_reload()

    def member_starved(self, slot: Slot, starved: bool) -> None:
        """Waiting for a spare changes nothing until the position is filled."""

    def member_speed_changed(self, slot: Slot) -> None:
        self.speed = min(s.node.speed for s in self.slots)

    def all_filled(self) -> bool:
        return all(slot.state == FILLED and slot.node.up for slot in self.slots)

    def start_reload(self) -> None:
        """Its nodes are all back: reload the weights (after the store is readable), then serve."""
        pool = self.pool
        self.reloading = True
        store = pool.store
        if store is not None and not store.readable:
            store.when_readable().callbacks.append(self._load_weights)
        else:
            self._load_weights()

    def _load_weights(self, _store_readable: simpy.Event | None = None) -> None:
        """The store can be read: the weights are loaded ``reload_time`` from now."""
        pool = self.pool
        ready = pool.loop.external() + pool.reload_hours
        pool.expect(ready)
        pool.loop.at(ready, self._reloaded, self.epoch, sync=True)

    def _reloaded(self, epoch: int) -> None:
        if epoch != self.epoch or not self.held:
            return  # voided by a member leaving meanwhile
        self.reloading = False
        if self.all_filled():
            self.speed = min(s.node.speed for s in self.slots)
            self.pool.replica_serves(self, self.pool.loop.now)
        elif not self.serving:
            pass  # a member left while it reloaded: it reloads again once all are back (member_changed)

    def release(self) -> None:
        """Give its positions back (the autoscaler scaled it down)."""
        self.held = False
        for slot in self.slots:
            if slot.owner is self:
                slot.owner = None

    # --- the balancer's view ----------------------------------------------------------------------------

    def routable(self, now: float) -> bool:
        """Would the balancer send it an attempt (health, ejection and breaker allowing)?"""
        breaker = self.breaker
        return self.healthy and not self.ejected and (breaker is None or breaker.state == CLOSED
                                                      or breaker.allows(now))

    def log(self, kind: int, before: int, after: int, cause: int = -1) -> None:
        self.pool.record((self.pool.loop.now, kind, self.number, before, after, cause))

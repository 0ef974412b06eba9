"""One heap of request-level events for every service, run between the SimPy environment's own events.

Requests are far more numerous than the cluster's failures, so they are not SimPy events: the loop
pops its own events in time order while they are no later than the environment's next event
(``env.peek()``), then sleeps on one SimPy timeout until its next own event. Nothing in the cluster
changes between two SimPy events, so a request handled at loop time ``now > env.now`` reads the
cluster as it is at ``now``. An event that must act on the cluster itself (take a position, log a row)
is scheduled with ``sync=True``: the loop sleeps until the environment reaches its time, then runs it.
When the cluster tells a service of a change (a SimPy callback), the service schedules its reaction
from ``env.now``; an event earlier than the loop's sleep wakes it earlier (the stale wake-up is ignored).
"""
from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from typing import Any

import simpy

Handler = Callable[[Any], None]


class EventLoop:
    """The request-level clock: ``at(t, handler, arg)`` runs ``handler(arg)`` at loop time ``t``."""

    __slots__ = ("env", "now", "_heap", "_seq", "_wake_at", "_token", "events")

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.now = env.now
        self._heap: list[tuple[float, int, bool, Handler, Any]] = []
        self._seq = itertools.count()
        self._wake_at = math.inf
        self._token: simpy.Event | None = None
        self.events = 0  # request-level events run

    def at(self, time: float, handler: Handler, arg: Any = None, sync: bool = False) -> None:
        """Run ``handler(arg)`` at ``time`` (not before the loop's now); ``sync``: once the environment is there."""
        heapq.heappush(self._heap, (time, next(self._seq), sync, handler, arg))
        if time < self._wake_at:
            self._sleep_until(time)

    def external(self) -> float:
        """Bring the loop's clock to the environment's (a SimPy callback is about to act); returns it."""
        self.now = now = self.env.now
        return now

    def _sleep_until(self, time: float) -> None:
        env = self.env
        self._wake_at = time
        token = self._token = env.timeout(max(0.0, time - env.now))
        token.callbacks.append(self._wake)

    def _wake(self, token: simpy.Event) -> None:
        """Run every own event up to the environment's next event, then sleep until the next own one."""
        if token is not self._token:
            return  # superseded by an earlier wake-up
        self._token = None
        self._wake_at = -math.inf  # events scheduled while it runs do not wake it: it sleeps again at the end
        env, heap, pop = self.env, self._heap, heapq.heappop
        limit, env_now = env.peek(), env.now
        ran = 0
        while heap:
            entry = heap[0]
            time = entry[0]
            if time > limit or (entry[2] and time > env_now):
                break
            pop(heap)
            self.now = time
            entry[3](entry[4])
            ran += 1
        self.events += ran
        self._wake_at = math.inf
        if heap:
            self._sleep_until(heap[0][0])

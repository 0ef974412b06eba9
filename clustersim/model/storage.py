"""Replicated storage: servers that fail and return, objects whose replicas live on them, re-replication.

The rules (docs/scenario.md, ``[storage]``, says the same to users):

- Server i sits in rack ``layout.server_racks[i]``. It is up iff nothing holds it: its own failure
  (until ``time_to_repair`` has passed), a failure domain over its rack (``domains.domain_life``), or
  the network cutting its rack off (``hold``/``release``). SERVER rows log each change.
- ``failure_loses_data = true``: a server's own failure destroys its replicas at that instant and it
  returns empty. Holds by domains and the network never destroy data, nor does anything with
  ``failure_loses_data = false``.
- An object's live replicas are those on up servers (REPLICAS rows log every change of that count).
  An object whose last replica is destroyed is lost (one DATA_LOSS row) and stays lost.
- Re-replication: a replica is *missing* once it is destroyed, or once its server has been down
  (whatever holds it) for ``rereplication_delay`` — the server is then *out*, as Ceph marks an OSD
  out. Each missing replica is one copy to make, due ``rereplication_delay`` after its loss. When an
  out server returns, each replica it still holds counts again: it cancels one copy its object still
  waits for (the one lost last), or, when none waits, it is surplus and dropped (a copy already under
  way completes instead).
- A copy goes from a live holder to an up server holding no replica of the object (nor receiving
  one); with ``rack_aware``, in a rack holding none of its replicas when such a server is free. It
  takes ``copy_time`` (stream ``storage/copies``) or exactly ``object_size / bandwidth``. A server
  takes part in at most ``max_concurrent_copies`` copies at once; waiting copies start most
  endangered first (fewest live replicas, then the oldest loss). A copy whose source or target goes
  down is started again, from and to whichever servers are free. A completed copy logs COPIED (hours
  since the loss it restores) and the REPLICAS row.

Training jobs read ``writable``/``readable`` and wait with ``when_writable``/``when_readable``; for
them a lost object no longer counts (its checkpoint is gone, ``losses`` tells them), whereas the
storage metrics count it as unavailable for good.
"""
from __future__ import annotations

import heapq
from collections.abc import Callable
from functools import partial

import numpy as np
import simpy

from clustersim.layout import layout_of
from clustersim.model.base import Context
from clustersim.model.records import Kind, NodeState
from clustersim.rng import Streams
from clustersim.scenario.schema import Scenario, Storage

SERVER, REPLICAS, DATA_LOSS, COPIED = (k.value for k in (Kind.SERVER, Kind.REPLICAS, Kind.DATA_LOSS, Kind.COPIED))
UP, DOWN = NodeState.UP.value, NodeState.DOWN.value
OWN_FAILURE = -1
DUE, WAITING, COPYING, DONE = range(4)  # a copy's states: waiting out the delay, queued, under way, finished


def place_replicas(spec: Storage, server_racks: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """The (objects, replication) servers of every replica at time 0: ``random`` = distinct servers
    uniformly; ``rack_aware`` = distinct racks (uniformly among the racks with servers), then a server
    uniformly within each."""
    racks = np.asarray(server_racks)
    if spec.placement == "random":
        return _distinct(rng, spec.objects, spec.replication, len(racks))
    rack_ids = np.unique(racks)
    chosen = rack_ids[_distinct(rng, spec.objects, spec.replication, len(rack_ids))]
    per_rack = {int(r): np.flatnonzero(racks == r) for r in rack_ids}
    counts = np.array([len(per_rack[int(r)]) for r in rack_ids])
    members = np.full((len(rack_ids), counts.max()), -1)
    for k, r in enumerate(rack_ids):
        members[k, :counts[k]] = per_rack[int(r)]
    position = np.searchsorted(rack_ids, chosen)
    within = (rng.random(chosen.shape) * counts[position]).astype(np.int64)
    return members[position, within]


def _distinct(rng: np.random.Generator, rows: int, k: int, n: int) -> np.ndarray:
    """``rows`` uniform draws of ``k`` distinct values of range(n) (sequential sampling without replacement,
    each pick mapped past the values already taken)."""
    taken = np.empty((rows, 0), dtype=np.int64)
    for j in range(k):
        pick = rng.integers(0, n - j, size=rows)
        for column in np.sort(taken, axis=1).T:
            pick += pick >= column
        taken = np.column_stack((taken, pick))
    return taken


class _Copy:
    """One missing replica of an object: waiting out the delay, queued, under way or done."""

    __slots__ = ("obj", "lost_at", "state", "token", "source", "target")

    def __init__(self, obj: int, lost_at: float) -> None:
        self.obj = obj
        self.lost_at = lost_at
        self.state = DUE
        self.token = 0            # bumped whenever its queue entry or its copy under way goes stale
        self.source = self.target = -1


class StorageCluster:
    """The servers, the objects' replicas, and the copies that restore missing replicas."""

    def __init__(self, ctx: Context, scenario: Scenario, streams: Streams) -> None:
        spec = scenario.storage
        assert spec is not None  # built only for a scenario with [storage]
        self.ctx, self.spec = ctx, spec
        self.server_racks = layout_of(scenario).server_racks
        servers, objects = spec.servers, spec.objects
        placed = place_replicas(spec, self.server_racks, streams.generator("storage/placement"))
        self.holders: list[set[int]] = [set(row) for row in placed.tolist()]
        self.objects_on: list[set[int]] = [set() for _ in range(servers)]
        for obj, row in enumerate(placed.tolist()):
            for server in row:
                self.objects_on[server].add(obj)
        self.live = [spec.replication] * objects
        self.lost = [False] * objects
        self.losses = 0                    # objects lost so far
        self.holds = [0] * servers
        self.out = [False] * servers       # down for rereplication_delay: its replicas are missing
        self._episode = [0] * servers      # bumped at every return: a pending mark-out is stale
        self._quorum = spec.quorum
        self._unreachable = 0              # objects not lost with no live replica
        self._short = 0                    # objects not lost with fewer than quorum live replicas
        self._readable: list[simpy.Event] = []
        self._writable: list[simpy.Event] = []
        self._unwritable_listeners: list[Callable[[], None]] = []
        self._readability_listeners: list[Callable[[bool], None]] = []
        self._copies: list[list[_Copy]] = [[] for _ in range(objects)]  # missing replicas, not yet copied
        self._incoming: list[set[int]] = [set() for _ in range(objects)]  # targets of copies under way
        self._on_server: list[set[_Copy]] = [set() for _ in range(servers)]  # copies under way per server
        self._busy = [0] * servers
        self._queue: list[tuple[int, float, int, int, _Copy]] = []
        self._queued = 0                   # sequence number: ties in the queue keep their order
        self._dispatch_due = False
        self._copy_rng = streams.generator("storage/copies")
        self._target_rng = streams.generator("storage/targets")
        self._copy_hours = spec.copy_time.sampler(self._copy_rng) if spec.copy_time is not None else None
        self._server_rngs = streams.generators([f"storage/server/{i}" for i in range(servers)])

    def start(self) -> None:
        """Start every server's own failure cycle."""
        for server, rng in enumerate(self._server_rngs):
            self.ctx.env.process(self._server_life(server, rng))

    # --- what other components call ---------------------------------------------------------

    def hold(self, server: int, cause: int) -> None:
        """Hold ``server`` down for ``cause`` (a domain's cause code, the network's, or -1 for its own failure)."""
        self.holds[server] += 1
        if self.holds[server] == 1:
            self._went_down(server, cause)

    def release(self, server: int) -> None:
        """Release one hold of ``server``; it is up again when none is left."""
        self.holds[server] -= 1
        if self.holds[server] == 0:
            self._came_up(server)

    def fail(self, server: int) -> None:
        """The server's own failure: it goes down and, with failure_loses_data, its replicas are destroyed."""
        self.hold(server, OWN_FAILURE)
        if self.spec.failure_loses_data:
            for obj in sorted(self.objects_on[server]):
                self._destroy(obj, server)

    @property
    def readable(self) -> bool:
        """Every object still there has a live replica."""
        return self._unreachable == 0

    @property
    def writable(self) -> bool:
        """Every object still there has write_quorum live replicas."""
        return self._short == 0

    def when_readable(self) -> simpy.Event:
        """An event that succeeds once the store is readable (at once if it is)."""
        return self._when(self.readable, self._readable)

    def when_writable(self) -> simpy.Event:
        """An event that succeeds once the store is writable (at once if it is)."""
        return self._when(self.writable, self._writable)

    def on_readable_change(self, listener: Callable[[bool], None]) -> None:
        """Call ``listener(readable)`` whenever the store becomes readable or stops being readable."""
        self._readability_listeners.append(listener)

    def on_unwritable(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` whenever the store stops being writable."""
        self._unwritable_listeners.append(listener)

    def _when(self, now: bool, waiting: list[simpy.Event]) -> simpy.Event:
        event = self.ctx.env.event()
        if now:
            event.succeed()
        else:
            waiting.append(event)
        return event

    # --- servers ----------------------------------------------------------------------------

    def _server_life(self, server: int, rng: np.random.Generator):
        """SimPy process: the server fails after time_to_failure and is back after time_to_repair, forever."""
        env = self.ctx.env
        time_to_failure = self.spec.time_to_failure.sampler(rng)
        time_to_repair = self.spec.time_to_repair.sampler(rng)
        while True:
            yield env.timeout(time_to_failure())
            self.fail(server)
            yield env.timeout(time_to_repair())
            self.release(server)

    def _went_down(self, server: int, cause: int) -> None:
        """Its replicas are unreachable; copies from or to it stop; it is marked out after the delay."""
        self.ctx.record((self.ctx.env.now, SERVER, server, UP, DOWN, cause))
        for obj in sorted(self.objects_on[server]):
            self._set_live(obj, self.live[obj] - 1)
        for copy in sorted(self._on_server[server], key=lambda c: (c.obj, c.lost_at)):
            self._abort(copy)
        if not self.spec.rereplication:
            return
        if self.spec.rereplication_delay > 0:
            self.ctx.env.timeout(self.spec.rereplication_delay).callbacks.append(
                partial(self._still_down, server, self._episode[server]))
        else:
            self._mark_out(server)
        self._request_dispatch()

    def _still_down(self, server: int, episode: int, _event: simpy.Event) -> None:
        """rereplication_delay after it went down: mark it out unless it came back meanwhile."""
        if self._episode[server] == episode:
            self._mark_out(server)

    def _mark_out(self, server: int) -> None:
        """Down for rereplication_delay: each of its replicas is missing (due at once: the delay has passed)."""
        self.out[server] = True
        down_since = self.ctx.env.now - self.spec.rereplication_delay
        for obj in sorted(self.objects_on[server]):
            self._missing(obj, down_since, due_in=0.0)

    def _came_up(self, server: int) -> None:
        """Its replicas are live again (a replica an out server brings back may be surplus and dropped)."""
        self._episode[server] += 1
        self.ctx.record((self.ctx.env.now, SERVER, server, DOWN, UP, OWN_FAILURE))
        was_out, self.out[server] = self.out[server], False
        for obj in sorted(self.objects_on[server]):
            if was_out and not self._cancel_one(obj):
                self._drop(obj, server)
            else:
                self._set_live(obj, self.live[obj] + 1)
        if self.spec.rereplication:
            self._request_dispatch()  # a free source and target again

    # --- replicas ---------------------------------------------------------------------------

    def _set_live(self, obj: int, live: int) -> None:
        """Log a change of an object's live replicas and keep the store's read/write state."""
        old = self.live[obj]
        self.ctx.record((self.ctx.env.now, REPLICAS, obj, old, live, -1))
        self.live[obj] = live
        was = self.writable, self.readable
        self._count(old, -1)
        self._count(live, +1)
        self._notify(*was)
        if any(copy.state == WAITING for copy in self._copies[obj]):
            for copy in self._copies[obj]:
                if copy.state == WAITING:
                    self._enqueue(copy)  # its priority changed: the old queue entry goes stale

    def _count(self, live: int, sign: int) -> None:
        """Count (sign = +1) or uncount an object at ``live`` live replicas in the store's state."""
        if live == 0:
            self._unreachable += sign
        if live < self._quorum:
            self._short += sign

    def _notify(self, was_writable: bool, was_readable: bool) -> None:
        """Tell listeners and waiters how the store's state changed."""
        if was_writable and not self.writable:
            for listener in self._unwritable_listeners:
                listener()
        if not was_writable and self.writable:
            self._succeed(self._writable)
        if not was_readable and self.readable:
            self._succeed(self._readable)
        if was_readable != self.readable:
            for told in self._readability_listeners:
                told(self.readable)

    @staticmethod
    def _succeed(waiting: list[simpy.Event]) -> None:
        events = list(waiting)
        waiting.clear()
        for event in events:
            event.succeed()

    def _destroy(self, obj: int, server: int) -> None:
        """A replica is gone: the object is lost if it was the last, else one more replica is missing."""
        self.holders[obj].discard(server)
        self.objects_on[server].discard(obj)
        if not self.holders[obj]:  # copies from it stopped when it went down: none is under way
            self._lose(obj)
        elif self.spec.rereplication and not self.out[server]:
            self._missing(obj, self.ctx.env.now, due_in=self.spec.rereplication_delay)

    def _lose(self, obj: int) -> None:
        """The object's last replica is gone: it is lost for good, its copies are dropped."""
        self.ctx.record((self.ctx.env.now, DATA_LOSS, obj, 0, 1, -1))
        self.lost[obj] = True
        self.losses += 1
        for copy in self._copies[obj]:
            copy.token += 1
            copy.state = DONE
        self._copies[obj] = []
        was = self.writable, self.readable
        self._count(self.live[obj], -1)  # no longer counts for jobs (it counted as unreachable)
        self._notify(*was)

    def _drop(self, obj: int, server: int) -> None:
        """A surplus replica (its object is fully replicated again) is deleted."""
        self.holders[obj].discard(server)
        self.objects_on[server].discard(obj)

    # --- copies -----------------------------------------------------------------------------

    def _missing(self, obj: int, lost_at: float, due_in: float) -> None:
        """One more replica of ``obj`` to copy, queued ``due_in`` hours from now."""
        copy = _Copy(obj, lost_at)
        self._copies[obj].append(copy)
        if due_in > 0:
            self.ctx.env.timeout(due_in).callbacks.append(partial(self._due, copy, copy.token))
        else:
            self._queue_copy(copy)

    def _due(self, copy: _Copy, token: int, _event: simpy.Event) -> None:
        """The delay after its loss has passed: queue the copy, unless it was cancelled meanwhile."""
        if copy.token == token:
            self._queue_copy(copy)

    def _queue_copy(self, copy: _Copy) -> None:
        copy.state = WAITING
        self._enqueue(copy)
        self._request_dispatch()

    def _enqueue(self, copy: _Copy) -> None:
        """Queue (again) by fewest live replicas, then oldest loss; earlier entries of it go stale."""
        copy.token += 1
        self._queued += 1
        heapq.heappush(self._queue, (self.live[copy.obj], copy.lost_at, self._queued, copy.token, copy))

    def _cancel_one(self, obj: int) -> bool:
        """A replica came back: cancel the copy of ``obj`` waiting (or due) with the latest loss, if any."""
        waiting = [copy for copy in self._copies[obj] if copy.state in (DUE, WAITING)]
        if not waiting:
            return False
        copy = max(waiting, key=lambda c: c.lost_at)
        copy.token += 1
        copy.state = DONE
        self._copies[obj].remove(copy)
        return True

    def _request_dispatch(self) -> None:
        """Start waiting copies once this instant's changes are in (one pass per instant)."""
        if not self._dispatch_due:
            self._dispatch_due = True
            self.ctx.env.timeout(0).callbacks.append(self._dispatch)

    def _dispatch(self, _event: simpy.Event | None = None) -> None:
        """Start every waiting copy that a free source and target allow, most endangered first."""
        self._dispatch_due = False
        limit = self.spec.max_concurrent_copies
        free = sum(1 for s, busy in enumerate(self._busy) if busy < limit and self.holds[s] == 0)
        skipped = []
        while self._queue and free >= 2:
            entry = heapq.heappop(self._queue)
            copy = entry[-1]
            if entry[3] != copy.token or copy.state != WAITING:
                continue
            started = self._start(copy)
            if started:
                free -= sum(1 for s in (copy.source, copy.target) if self._busy[s] == limit)
            else:
                skipped.append(entry)
        for entry in skipped:
            heapq.heappush(self._queue, entry)

    def _start(self, copy: _Copy) -> bool:
        """Start ``copy`` from the least busy live holder to a free server holding none (rack_aware: in a rack
        holding none, if one is free); False when no source or no target is free."""
        limit, obj = self.spec.max_concurrent_copies, copy.obj
        sources = [s for s in sorted(self.holders[obj]) if self.holds[s] == 0 and self._busy[s] < limit]
        if not sources:
            return False
        taken = self.holders[obj] | self._incoming[obj]
        targets = [s for s in range(len(self._busy))
                   if self.holds[s] == 0 and self._busy[s] < limit and s not in taken]
        if self.spec.placement == "rack_aware":
            used = {self.server_racks[s] for s in taken}
            apart = [s for s in targets if self.server_racks[s] not in used]
            targets = apart or targets
        if not targets:
            return False
        source = min(sources, key=lambda s: self._busy[s])
        target = targets[int(self._target_rng.integers(len(targets)))]
        copy.state, copy.source, copy.target = COPYING, source, target
        copy.token += 1
        for server in (source, target):
            self._busy[server] += 1
            self._on_server[server].add(copy)
        self._incoming[obj].add(target)
        hours = self._copy_hours() if self._copy_hours is not None else self.spec.copy_hours
        self.ctx.env.timeout(hours).callbacks.append(partial(self._copied, copy, copy.token))
        return True

    def _free_slots(self, copy: _Copy) -> None:
        for server in (copy.source, copy.target):
            self._busy[server] -= 1
            self._on_server[server].discard(copy)
        self._incoming[copy.obj].discard(copy.target)

    def _abort(self, copy: _Copy) -> None:
        """Its source or target went down: queue it again (it keeps its loss time)."""
        self._free_slots(copy)
        self._queue_copy(copy)

    def _copied(self, copy: _Copy, token: int, _event: simpy.Event) -> None:
        """A copy completed: the target holds a live replica."""
        if copy.token != token:
            return
        self._free_slots(copy)
        copy.state = DONE
        obj, target = copy.obj, copy.target
        self._copies[obj].remove(copy)
        self.holders[obj].add(target)
        self.objects_on[target].add(obj)
        now = self.ctx.env.now
        self.ctx.record((now, COPIED, obj, 0, now - copy.lost_at, -1))
        self._set_live(obj, self.live[obj] + 1)
        self._request_dispatch()

"""What the serving model needs of the cluster, recorded as the cluster runs and replayed after it.

Nothing a service does reaches back into the cluster (its replicas only listen to their positions; an
autoscaler takes positions the spare pool keeps filled anyway), so the cluster runs first with a ``ServingTap``
listening to every position a service may use and to the store's readability, and the serving model then runs
on its own SimPy environment, its positions replaying what the tap heard. Knowing the whole timeline in
advance is what lets the hybrid serving technique (``hybrid``) start simulating requests shortly *before* a
replica fails. The tap's changes are few (positions changing state, not requests), so it costs nothing.
"""
from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import numpy as np
import simpy

from clustersim.layout import layout_of
from clustersim.model.base import Context
from clustersim.model.records import Kind
from clustersim.model.spares import FILLED, Slot
from clustersim.model.storage import StorageCluster
from clustersim.scenario.schema import Scenario

POSITION, SPEED, STORE = range(3)  # what a change is about
EMPTY = FILLED + 1                 # a replayed position that is not filled by an up node


@dataclass(frozen=True)
class Change:
    """One change the serving model hears: a position filled or not (``value`` 1/0), a position's node speed
    (``value``), or the store readable or not (``value`` 1/0; ``index`` −1)."""

    time: float
    what: int
    index: int
    value: float
    speed: float
    cause: int


@dataclass(frozen=True)
class Timeline:
    """Every change of the tapped positions and the store, in the order the cluster made them."""

    positions: tuple[int, ...]   # the tapped working positions, by index
    speeds: tuple[float, ...]    # their nodes' speed at time 0
    store_readable: bool | None  # at time 0 (None: no store)
    changes: tuple[Change, ...]

    def changes_of(self, indices: set[int]) -> list[tuple[float, bool]]:
        """(time, loss) whenever one of ``indices`` stopped being filled (loss: a replica on it may stop serving,
        reaching what it serves) or its node changed speed (a replica on it may change pace): the changes the
        hybrid technique opens windows for."""
        return [(c.time, c.what == POSITION) for c in self.changes
                if c.index in indices and (c.what == SPEED or (c.what == POSITION and not c.value))]


def service_positions(scenario: Scenario, s: int) -> set[int]:
    """The working positions service ``s`` may use: its replicas', its fallback pool's, and with an autoscaler
    the free ones."""
    layout = layout_of(scenario)
    held = {i for r in layout.replica_positions[s] for i in r} | {i for r in layout.fallback_positions[s] for i in r}
    return held | set(layout.free_positions) if scenario.inference[s].autoscaling is not None else held


def tapped_positions(scenario: Scenario) -> tuple[int, ...]:
    """Every position some service may use, in index order: what the tap listens to."""
    return tuple(sorted(set().union(*(service_positions(scenario, s) for s in range(len(scenario.inference))))))


class ServingTap:
    """Listens, in the cluster run, to every working position a service may use and to the store."""

    def __init__(self, ctx: Context, scenario: Scenario, slots: list[Slot], store: StorageCluster | None) -> None:
        indices = tapped_positions(scenario)
        self.env = ctx.env
        self.positions = indices
        self.speeds = tuple(slots[i].node.speed for i in indices)
        self.filled = {i: True for i in indices}
        self.changes: list[Change] = []
        for i in indices:
            slots[i].owner = self
        self.store = store
        self.readable = store.readable if store is not None else None
        if store is not None:
            store.on_readable_change(self._store_changed)

    def member_changed(self, slot: Slot, before: int, cause: int) -> None:
        filled = slot.state == FILLED and slot.node.up
        if filled != self.filled[slot.index]:
            self.filled[slot.index] = filled
            self.changes.append(Change(self.env.now, POSITION, slot.index, float(filled), slot.node.speed, cause))

    def member_starved(self, slot: Slot, starved: bool) -> None:
        """Waiting for a spare changes nothing a replica sees."""

    def member_speed_changed(self, slot: Slot) -> None:
        self.changes.append(Change(self.env.now, SPEED, slot.index, slot.node.speed, slot.node.speed, -1))

    def _store_changed(self, readable: bool) -> None:
        self.changes.append(Change(self.env.now, STORE, -1, float(readable), 1.0, -1))

    def timeline(self) -> Timeline:
        return Timeline(self.positions, self.speeds, self.readable, tuple(self.changes))


# --- the replay side --------------------------------------------------------------------------------------

class ReplayNode:
    """What a replica reads of the node on its position."""

    __slots__ = ("up", "speed")

    def __init__(self, speed: float) -> None:
        self.up = True
        self.speed = speed


class ReplaySlot:
    """A working position as the serving model sees it: filled by an up node or not."""

    __slots__ = ("index", "state", "node", "owner")

    def __init__(self, index: int, speed: float) -> None:
        self.index = index
        self.state = FILLED
        self.node = ReplayNode(speed)
        self.owner: object | None = None


class ReplayStore:
    """The store's readability, replayed (what a reloading replica waits for)."""

    def __init__(self, env: simpy.Environment, readable: bool) -> None:
        self.env = env
        self.readable = readable
        self._waiting: list[simpy.Event] = []

    def when_readable(self) -> simpy.Event:
        event = self.env.event()
        if self.readable:
            event.succeed()
        else:
            self._waiting.append(event)
        return event

    def set(self, readable: bool) -> None:
        self.readable = readable
        if readable:
            waiting, self._waiting = self._waiting, []
            for event in waiting:
                event.succeed()


def replay(env: simpy.Environment, timeline: Timeline, slots: dict[int, ReplaySlot],
           store: ReplayStore | None) -> Generator[simpy.Event, object, None]:
    """SimPy process: apply the timeline's changes at their times, telling each position's owner."""
    for change in timeline.changes:
        if change.time > env.now:
            yield env.timeout(change.time - env.now)
        if change.what == STORE:
            assert store is not None
            store.set(bool(change.value))
            continue
        slot = slots[change.index]
        owner = slot.owner
        if change.what == SPEED:
            slot.node.speed = change.speed
            if owner is not None:
                owner.member_speed_changed(slot)  # type: ignore[attr-defined]
            continue
        before = slot.state
        slot.state = FILLED if change.value else EMPTY
        slot.node.up = bool(change.value)
        slot.node.speed = change.speed
        if owner is not None:
            owner.member_changed(slot, before, change.cause)  # type: ignore[attr-defined]


def timeline_from_log(scenario: Scenario, log: np.ndarray) -> Timeline:
    """The timeline a ``ServingTap`` would have heard, read from a replication's state-change log (the fast
    engine's trace): its positions' SLOT rows (filled or not; the fast engine has no gray failures, so every
    speed is 1) and the store's readability from its REPLICAS and DATA_LOSS rows."""
    indices = tapped_positions(scenario)
    tapped = set(indices)
    filled = {i: True for i in indices}
    storage = scenario.storage
    live = [storage.replication] * storage.objects if storage is not None else []
    lost = [False] * len(live)
    unreachable = 0
    changes: list[Change] = []
    slot_kind, replicas_kind, loss_kind = int(Kind.SLOT), int(Kind.REPLICAS), int(Kind.DATA_LOSS)
    for time, kind, component, _from, to, cause in log.tolist():
        kind, component = int(kind), int(component)
        if kind == slot_kind and component in tapped:
            now_filled = int(to) == FILLED
            if now_filled != filled[component]:
                filled[component] = now_filled
                changes.append(Change(time, POSITION, component, float(now_filled), 1.0, int(cause)))
        elif kind in (replicas_kind, loss_kind) and storage is not None:
            was_readable = unreachable == 0
            if kind == replicas_kind:
                before = live[component]
                live[component] = int(to)
                if not lost[component]:
                    unreachable += (live[component] == 0) - (before == 0)
            else:
                lost[component] = True
                unreachable -= live[component] == 0
            if was_readable != (unreachable == 0):
                changes.append(Change(time, STORE, -1, float(unreachable == 0), 1.0, -1))
    return Timeline(indices, tuple(1.0 for _ in indices), True if storage is not None else None,
                    tuple(changes))

"""A synchronous training job over working positions, with checkpoint/restart.

The job computes in segments of ``checkpoint_interval`` of work; after each it checkpoints
(``sync``: blocking for the checkpoint time; ``async``: a blocking snapshot, then a background
persist — a failure before the persist completes loses that checkpoint; ``continuous``: every
computed moment is kept). A segment counts once its checkpoint completes. The job runs at the
speed of its slowest member (gray failures) times, when shrunk, the share of members it runs on.

When a member position empties (its node went down, or a higher-priority job took it) the job
stops and loses what it computed since its last completed checkpoint. It restarts once its
members are ready — ``spare`` and ``wait``: every position filled again (by a spare, or by the
member's own node after repair); ``shrink``: like ``spare`` while spares are coming, but a
position that waits with no usable spare is left out if ``min_nodes`` positions are filled —
spends ``restart_hours``, and resumes. Failures during a restart
or a checkpoint interrupt it too. A shrunk job takes positions that have been filled again back
at its next checkpoint, through a restart that loses nothing.

With ``[storage]`` the checkpoints go to the replicated store (``model.storage.StorageCluster``). A
sync checkpoint needs the store writable when it starts and throughout its write; if it is not,
``skip`` abandons the checkpoint (the segment stays uncheckpointed, carried into the next one, and is
lost if an interruption comes first) and ``block`` stops the job — an interruption of cause
``storage`` that loses nothing — until the store is writable, then writes it (the last checkpoint
of a job's work always blocks: there is nothing left to compute on). A restart waits until the store
is readable; if data was lost since the last checkpoint was written, that checkpoint is gone and the
job falls back to the one before, losing that segment's work too (logged with the interruption's
LOST row, or with a LOST row of cause ``storage`` at the restart, and a WORK row lowering the credit).

Members, slowdowns and the store arrive as notifications and per-checkpoint queries, so network
partitions can plug in as one more source of the same.
"""
from __future__ import annotations

import math
from functools import partial
from typing import TYPE_CHECKING

import simpy

from clustersim.model.records import JobState, Kind, SlotState
from clustersim.layout import layout_of
from clustersim.model.base import Context
from clustersim.model.load import LoadGroup
from clustersim.scenario.schema import Scenario, Training

if TYPE_CHECKING:
    from clustersim.model.spares import Slot
    from clustersim.model.storage import StorageCluster

WAITING, RESTARTING, COMPUTING, CHECKPOINTING, DONE = (s.value for s in JobState)
JOB, WORK, LOST, JOB_SPEED = Kind.JOB.value, Kind.WORK.value, Kind.LOST.value, Kind.JOB_SPEED.value
FILLED, EMPTY = SlotState.FILLED.value, SlotState.EMPTY.value
RUNNING = (RESTARTING, COMPUTING, CHECKPOINTING)
_LOST, _SPEED, _STORE = "lost", "speed", "store"  # what an interrupt is for: a member lost, a pace, the store


class TrainingJob:
    """One job's state; ``job_life`` drives it; its positions notify it (it is their ``PositionListener``)."""

    def __init__(self, ctx: Context, index: int, spec: Training, members: list[Slot], group: LoadGroup | None = None,
                 store: StorageCluster | None = None, storage_cause: int = -1):
        self.ctx = ctx
        self.store = store       # the checkpoint store ([storage]), None for one that is always there
        self.storage_cause = storage_cause
        self.group = group       # keeps its members' clocks of modes that age with computing
        self.first = members[0].index if members else 0
        self.index = index
        self.spec = spec
        self.members = members
        self.work_hours = spec.work if spec.work is not None else math.inf
        self.segment_hours = spec.checkpoint_interval or math.inf
        self.checkpoint_hours = spec.checkpoint_hours_on(store.spec if store is not None else None)
        self.snapshot_hours = spec.snapshot_cost or 0.0
        self.restart_hours = spec.restart_hours
        self.start_hours = spec.start_overhead
        self.state = WAITING
        self.elastic = spec.on_failure == "shrink"
        self.filled = len(members)   # member positions held by an up node (all, at the start)
        self.starved = 0             # member positions waiting with no usable spare
        self.active_count = len(members)
        self.slow: dict[Slot, float] = {}  # filled member positions whose node runs below full speed
        self.speed = 1.0
        self.credited = 0.0      # work safely checkpointed
        self.computed = 0.0      # work computed since the last checkpoint started (lost on interruption)
        self.persisting = 0.0    # async: work snapshotted, its persist not yet complete
        self.persist_done_at = -math.inf
        self.epoch = 0           # bumped by every interruption: stale persists are ignored
        self.pending: tuple[str, int] | None = None  # an interrupt sent but not yet handled
        self.ready: simpy.Event | None = None
        self.process: simpy.Process | None = None
        self.run_started = 0.0   # continuous: when the current compute stretch began
        self.last_segment = 0.0  # work the last completed checkpoint credited (lost with it)
        self.losses_at_checkpoint = 0  # the store's data losses when that checkpoint was written
        self.stalled = False     # stopped for the store, its computed work kept (block)
        if store is not None:
            store.on_unwritable(self._store_unwritable)
        for slot in members:
            slot.owner = self
            slot.active = True
            self._regroup(slot)

    # --- notifications --------------------------------------------------------------------------

    def _regroup(self, slot: Slot) -> None:
        """The group keeps the clocks of the node filling an active member position (and only those)."""
        if self.group is None:
            return
        if slot.state == FILLED and slot.active:
            self.group.join(slot.index - self.first, slot.node)
        elif slot.node.load_group is self.group and slot.node.group_member == slot.index - self.first:
            self.group.leave(slot.node)

    def member_changed(self, slot: Slot, before: int, cause: int) -> None:
        """A member position changed state: stop on losing an active member, else maybe restart."""
        if before == FILLED:
            self.filled -= 1
            self.slow.pop(slot, None)
        if slot.state == FILLED:
            self.filled += 1
            if slot.node.speed < 1.0:
                self.slow[slot] = slot.node.speed
        if (before == FILLED) != (slot.state == FILLED):
            self._regroup(slot)
        if self.state == DONE:
            return
        if slot.state == EMPTY and slot.active and (self.state in RUNNING or self.stalled):
            self._interrupt(_LOST, cause)
        else:
            self._maybe_ready()

    def member_starved(self, slot: Slot, starved: bool) -> None:
        """A member position waits with no usable spare (or no longer): an elastic job may go on without it."""
        self.starved += 1 if starved else -1
        if self.state != DONE:
            self._maybe_ready()

    def member_speed_changed(self, slot: Slot) -> None:
        """A member's node changed speed: the job's pace follows when it runs."""
        if slot.state == FILLED:
            if slot.node.speed < 1.0:
                self.slow[slot] = slot.node.speed
            else:
                self.slow.pop(slot, None)
        speed = self._pace()
        if speed == self.speed or self.state == DONE:
            return
        if self.state == COMPUTING:
            self._interrupt(_SPEED, -1)
        else:
            self._set_speed(speed)

    def _store_unwritable(self) -> None:
        """The store stopped being writable: a checkpoint being written is abandoned or blocks."""
        if self.state == CHECKPOINTING:
            self._interrupt(_STORE, self.storage_cause)

    # --- the run --------------------------------------------------------------------------------

    def _maybe_ready(self) -> None:
        if self.ready is not None and self._members_ready():
            self.ready.succeed()
            self.ready = None

    def _members_ready(self) -> bool:
        size = len(self.members)
        if not self.elastic:
            return self.filled == size
        # go on without a member only once its failure is noticed and no spare is coming for it
        coming = size - self.filled - self.starved
        return coming == 0 and self.filled >= (self.spec.min_nodes or size)

    def _pace(self) -> float:
        """Slowest active member's speed × share of members running (shrink)."""
        slowest = min((speed for slot, speed in self.slow.items() if slot.active), default=1.0)
        return slowest * self.active_count / len(self.members)

    def _interrupt(self, kind: str, cause: int) -> None:
        if self.pending is None:
            self.pending = (kind, cause)
            assert self.process is not None  # start_training starts every job before any event
            self.process.interrupt()
        elif kind == _LOST and self.pending[0] != _LOST:
            self.pending = (kind, cause)  # a member loss outranks a pending speed change

    def _set_state(self, state: int, cause: int = -1) -> None:
        self.ctx.record((self.ctx.env.now, JOB, self.index, self.state, state, cause))
        self.state = state
        if self.group is not None:
            self.group.set_computing(state in (COMPUTING, CHECKPOINTING))

    def _set_speed(self, speed: float) -> None:
        if speed != self.speed:
            self.ctx.record((self.ctx.env.now, JOB_SPEED, self.index, self.speed, speed, -1))
            self.speed = speed

    def _credit(self, hours: float) -> None:
        if hours > 0:
            self.ctx.record((self.ctx.env.now, WORK, self.index, self.credited, self.credited + hours, -1))
            self.credited += hours

    def wait_for_members(self):
        """SimPy sub-process: until the members are ready; then choose the active ones."""
        while not self._members_ready():  # checked again on waking: a member may be lost that instant
            self.ready = self.ctx.env.event()
            yield self.ready
        if self.elastic:  # it runs on the positions filled now; the others rejoin at a checkpoint
            for slot in self.members:
                slot.active = slot.state == FILLED
                self._regroup(slot)
            self.active_count = self.filled
        self._set_speed(self._pace())

    def stopped(self, cause: int) -> None:
        """Interrupted: everything not yet checkpointed is lost (and the last checkpoint, if data was lost
        since it was written). A job already stopped for the store stays WAITING."""
        self.flush()
        lost = self.computed + self.persisting + self.fall_back()
        self.ctx.record((self.ctx.env.now, LOST, self.index, 0, lost, cause))
        self.computed = self.persisting = 0.0
        self.epoch += 1
        if self.state != WAITING:
            self._set_state(WAITING, cause)

    def fall_back(self) -> float:
        """The work lost with the last checkpoint if the store lost data since it was written (a WORK row lowers
        the credit to the checkpoint before); 0 when it is intact."""
        store = self.store
        if store is None or store.losses == self.losses_at_checkpoint:
            return 0.0
        self.losses_at_checkpoint = store.losses
        lost, self.last_segment = self.last_segment, 0.0
        if lost > 0:
            self.ctx.record((self.ctx.env.now, WORK, self.index, self.credited, self.credited - lost, -1))
            self.credited -= lost
        return lost

    def restore(self) -> None:
        """Restarting: read the last checkpoint; data lost since the interruption costs its segment now."""
        lost = self.fall_back()
        if lost > 0:
            self.ctx.record((self.ctx.env.now, LOST, self.index, 0, lost, self.storage_cause))

    def wait_to_restart(self, restart: bool):
        """SimPy sub-process: until the members are ready and, for a restart, the store is readable."""
        while True:
            yield from self.wait_for_members()
            if not restart or self.store is None or self.store.readable:
                return
            yield self.store.when_readable()  # then the members again: one may have left meanwhile

    def flush(self) -> None:
        """Continuous checkpointing: credit what was computed up to now (at interruptions, warmup, the end)."""
        if self.spec.checkpoint_mode == "continuous" and self.state == COMPUTING:
            now = self.ctx.env.now
            self._credit((now - self.run_started) * self.speed)
            self.run_started = now

    @property
    def remaining_hours(self) -> float:
        return self.work_hours - self.credited - self.persisting - self.computed

    def compute(self, target_hours: float):
        """SimPy sub-process: compute until ``self.computed`` reaches ``target_hours`` at the current pace."""
        env = self.ctx.env
        while self.computed < target_hours:
            started, speed = env.now, self.speed
            try:
                yield env.timeout((target_hours - self.computed) / speed)
            except simpy.Interrupt:
                self.computed += (env.now - started) * speed
                assert self.pending is not None  # _interrupt sets it before interrupting
                if self.pending[0] != _LOST:  # a pace change, or a store change after the checkpoint ended
                    kind, self.pending = self.pending[0], None
                    if kind == _SPEED:
                        self._set_speed(self._pace())
                    continue
                raise
            self.computed = target_hours

    def compute_continuously(self):
        """SimPy sub-process: compute (every moment kept) until the work is done."""
        env = self.ctx.env
        while self.credited < self.work_hours:
            self.run_started = env.now
            try:
                yield env.timeout((self.work_hours - self.credited) / self.speed)
            except simpy.Interrupt:
                self.flush()
                if self.pending[0] == _SPEED:
                    self.pending = None
                    self._set_speed(self._pace())
                    continue
                raise
            self._credit(self.work_hours - self.credited)

    def checkpoint(self):
        """SimPy sub-process: checkpoint the segment just computed (blocking part only for async); returns
        whether it was written (False: skipped while the store is not writable, the job computes on)."""
        env = self.ctx.env
        if not (yield from self._store_takes_it()):
            return False
        self._set_state(CHECKPOINTING)
        segment = self.computed
        if self.spec.checkpoint_mode == "sync":
            while self.checkpoint_hours > 0:
                try:
                    yield env.timeout(self.checkpoint_hours)
                    break
                except simpy.Interrupt:
                    if self.pending is None or self.pending[0] != _STORE:
                        raise
                    self.pending = None
                    if not (yield from self._store_takes_it()):
                        return False
                    self._set_state(CHECKPOINTING)  # written again from its start
            self.computed = 0.0
            self._credit(segment)
            self.last_segment = segment
            self.losses_at_checkpoint = self.store.losses if self.store is not None else 0
            return True
        if env.now < self.persist_done_at:  # the previous persist must finish before the next snapshot
            yield env.timeout(self.persist_done_at - env.now)
        if self.snapshot_hours > 0:
            yield env.timeout(self.snapshot_hours)
        self.computed = 0.0
        self.persisting += segment
        self.persist_done_at = env.now + self.checkpoint_hours
        if self.checkpoint_hours > 0:
            env.timeout(self.checkpoint_hours).callbacks.append(
                lambda _, epoch=self.epoch, hours=segment: self._persisted(epoch, hours))
        else:
            self._persisted(self.epoch, segment)
        return True

    def _store_takes_it(self):
        """SimPy sub-process: True once the store can take the checkpoint (at once, or after blocking for it);
        False when it is skipped (not writable, skip, and work left to compute on)."""
        store = self.store
        if store is None or store.writable:
            return True
        if self.spec.store_down == "skip" and self.remaining_hours > 0:
            return False
        self.ctx.record((self.ctx.env.now, LOST, self.index, 0, 0.0, self.storage_cause))
        self._set_state(WAITING, self.storage_cause)
        self.stalled = True
        try:
            while not store.writable:
                yield store.when_writable()
        finally:
            self.stalled = False
        return True

    def _persisted(self, epoch: int, hours: float) -> None:
        """An async persist completed: its segment counts, unless the job was interrupted since."""
        if epoch == self.epoch and self.state != DONE:
            self.persisting -= hours
            self._credit(hours)

    def finish_persists(self):
        """SimPy sub-process: async jobs wait for their last persist before they are done."""
        env = self.ctx.env
        if env.now < self.persist_done_at:
            self._set_state(CHECKPOINTING)
            yield env.timeout(self.persist_done_at - env.now)

    def should_grow(self) -> bool:
        """Shrunk, with a member position filled again: take it back (at a checkpoint, losing nothing)."""
        return self.elastic and self.filled > self.active_count

    def finish(self) -> None:
        self._set_state(DONE)


def job_life(ctx: Context, job: TrainingJob):
    """SimPy process: run, checkpoint, stop on member loss, wait for members, restart — until done."""
    env = ctx.env
    restart = False
    while True:
        yield from job.wait_to_restart(restart)
        try:
            if restart:
                job.restore()
                job._set_state(RESTARTING)
                yield env.timeout(job.restart_hours)
            elif job.start_hours > 0:  # the first start: selecting hosts, starting
                restart = True
                job._set_state(RESTARTING)
                yield env.timeout(job.start_hours)
            restart = True
            if job.spec.checkpoint_mode == "continuous":
                job._set_state(COMPUTING)
                yield from job.compute_continuously()
                job.finish()
                return
            while job.remaining_hours > 0:
                job._set_state(COMPUTING)
                yield from job.compute(job.computed + min(job.segment_hours, job.remaining_hours))
                if not (yield from job.checkpoint()):
                    continue  # skipped: the segment is carried into the next
                if job.remaining_hours <= 0:
                    yield from job.finish_persists()
                    job.finish()
                    return
                if job.should_grow():
                    break
        except simpy.Interrupt:
            assert job.pending is not None  # _interrupt sets it before interrupting
            kind, cause = job.pending
            job.pending = None
            job.stopped(cause)


def start_training(ctx: Context, scenario: Scenario, slots: list[Slot],
                   store: StorageCluster | None = None) -> list[TrainingJob]:
    """Attach every training job to its working positions (and its checkpoint store) and start it (after the
    cluster's own processes, so that events at one instant tie as they always have)."""
    layout = layout_of(scenario)
    clocks = layout.clocks
    jobs = [TrainingJob(ctx, j, spec, [slots[i] for i in layout.job_positions[j]],
                        LoadGroup(ctx, clocks, spec.nodes)
                        if clocks.computing_modes and scenario.modelled_failures else None,
                        store, scenario.storage_cause)
            for j, spec in enumerate(scenario.training)]
    env, warmup = ctx.env, scenario.simulation.warmup
    for job in jobs:
        job.process = env.process(job_life(ctx, job))
        if warmup > 0 and job.spec.checkpoint_mode == "continuous":
            env.timeout(warmup).callbacks.append(partial(_flush, job))
    return jobs


def _flush(job: TrainingJob, _warmup_end: simpy.Event) -> None:
    """At the end of the warmup: credit what a continuous-checkpointing job computed so far."""
    job.flush()


def close_training(jobs: list[TrainingJob]) -> None:
    """At the horizon: credit what continuous-checkpointing jobs computed up to now."""
    for job in jobs:
        job.flush()

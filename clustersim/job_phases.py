"""Where a training job's wall time went: hours per phase over [warmup, min(horizon, its finish)), from one
replication's log alone.

The job's JOB rows say what it was doing (computing, checkpointing, restarting, stopped). Computing splits into
the work its checkpoints kept — exactly what ``training.<job>.ettr`` credits (WORK rows in the window), so
kept / wall is that metric — and the rest, lost at an interruption or not yet checkpointed when the window
closed (computing at reduced speed shows up there too: it keeps less work than it takes hours). A stop is
classified instant by instant by its member positions' SLOT rows (a position whose node is down but not yet
noticed is detection, one waiting for a spare or for its own node's repair is waiting, one taking a spare is a
swap; that priority when members differ), then by the store: every member filled and the job stopped by the
store (cause ``storage``) or the store unreadable (a restart waits for it to be readable, REPLICAS rows) is
waiting for the store; anything else is "stopped (other)".
"""
from __future__ import annotations

import numpy as np

from clustersim.measures import CAUSE, COMP, FROM, KIND, TO, ExactSum, T
from clustersim.model.records import JobState, Kind, SlotState
from clustersim.scenario.schema import Scenario

KEPT, LOST, CHECKPOINT, RESTART, DETECTION, SWAP, WAITING_SPARE, WAITING_STORE, STOPPED_OTHER = PHASES = (
    "compute (kept)", "compute (lost or not yet checkpointed)", "checkpoint", "restart", "detection", "swap",
    "waiting for a spare or repair", "waiting for the store", "stopped (other)")

_WAITING, _RESTARTING, _COMPUTING, _CHECKPOINTING = (int(s) for s in (
    JobState.WAITING, JobState.RESTARTING, JobState.COMPUTING, JobState.CHECKPOINTING))
_DONE = int(JobState.DONE)
_EMPTY, _SLOT_WAITING, _SWAPPING = int(SlotState.EMPTY), int(SlotState.WAITING), int(SlotState.SWAPPING)


def job_phases(scenario: Scenario, log: np.ndarray) -> dict[str, dict[str, float]]:
    """Each training job's hours per phase (``PHASES``, in that order) over its measured window; they sum to its
    wall time (all zero for a job done before the warmup ended)."""
    unreadable = _store_unreadable(log) if scenario.storage is not None else _Step.constant(0.0)
    return {spec.name: _phases_of(scenario, j, log, unreadable) for j, spec in enumerate(scenario.training)}


class _Step:
    """A piecewise-constant level: ``initial`` until ``times[0]``, then ``levels[i]`` from ``times[i]`` (the last
    row of an instant wins)."""

    def __init__(self, times: np.ndarray, levels: np.ndarray, initial: float) -> None:
        self.times, self.levels, self.initial = times, levels, initial

    @classmethod
    def constant(cls, level: float) -> _Step:
        return cls(np.empty(0), np.empty(0), level)

    @classmethod
    def counting(cls, rows: np.ndarray, state: int) -> _Step:
        """How many components are in ``state``, from their rows (none is at the start)."""
        deltas = (rows[:, TO] == state).astype(np.float64) - (rows[:, FROM] == state)
        return cls(rows[:, T], np.cumsum(deltas), 0.0)

    def at(self, times: np.ndarray) -> np.ndarray:
        """The level just after every row at or before each of ``times``."""
        index = np.searchsorted(self.times, times, side="right") - 1
        if not len(self.levels):
            return np.full(len(times), self.initial)
        return np.where(index >= 0, self.levels[np.maximum(index, 0)], self.initial)


def _store_unreadable(log: np.ndarray) -> _Step:
    """Objects not lost with no live replica (the store is readable when there are none): objects at zero live
    replicas (REPLICAS rows) less those lost for good (DATA_LOSS rows), as the store's ``readable`` counts."""
    of = log[(log[:, KIND] == int(Kind.REPLICAS)) | (log[:, KIND] == int(Kind.DATA_LOSS))]
    replicas = of[:, KIND] == int(Kind.REPLICAS)
    deltas = np.where(replicas, (of[:, TO] == 0).astype(np.float64) - (of[:, FROM] == 0), -1.0)
    return _Step(of[:, T], np.cumsum(deltas), 0.0)


def _phases_of(scenario: Scenario, j: int, log: np.ndarray, unreadable: _Step) -> dict[str, float]:
    """One job's hours per phase."""
    hours = dict.fromkeys(PHASES, 0.0)
    simulation = scenario.simulation
    job = log[(log[:, KIND] == int(Kind.JOB)) & (log[:, COMP] == j)]
    done = job[job[:, TO] == _DONE, T]
    start = simulation.warmup
    stop = min(simulation.horizon, float(done[0])) if len(done) else simulation.horizon
    if stop <= start:
        return hours
    work = log[(log[:, KIND] == int(Kind.WORK)) & (log[:, COMP] == j)]
    credited = work[(work[:, T] > start) & (work[:, T] <= stop)]  # what Measures' _Job credits to the ettr
    kept = ExactSum()
    kept.add(credited[:, TO] - credited[:, FROM])
    first, size = scenario.job_offsets[j], scenario.training[j].nodes
    slots = log[log[:, KIND] == int(Kind.SLOT)]
    members = slots[(slots[:, COMP] >= first) & (slots[:, COMP] < first + size)]
    state = _Step(job[:, T], job[:, TO], float(_WAITING))
    cause = _Step(job[:, T], job[:, CAUSE], -1.0)
    empty, waiting, swapping = (_Step.counting(members, s) for s in (_EMPTY, _SLOT_WAITING, _SWAPPING))
    changes = np.concatenate((job[:, T], members[:, T], unreadable.times))
    edges = np.unique(np.concatenate(([start, stop], changes[(changes > start) & (changes < stop)])))
    at, spans = edges[:-1], np.diff(edges)
    phase = _phase_codes(state.at(at), empty.at(at), waiting.at(at), swapping.at(at),
                         (cause.at(at) == scenario.storage_cause) | (unreadable.at(at) > 0))
    totals = np.bincount(phase, weights=spans, minlength=len(PHASES))
    for name, total in zip(PHASES, totals.tolist()):
        hours[name] = total
    hours[KEPT] = kept.value
    hours[LOST] = float(totals[PHASES.index(KEPT)]) - kept.value  # totals[KEPT] held every computing hour
    return hours


def _phase_codes(state: np.ndarray, empty: np.ndarray, waiting: np.ndarray, swapping: np.ndarray,
                 store: np.ndarray) -> np.ndarray:
    """The phase (index into PHASES) of each span: computing spans all as KEPT (split afterwards)."""
    stopped = np.select(
        [empty > 0, waiting > 0, swapping > 0, store],
        [PHASES.index(DETECTION), PHASES.index(WAITING_SPARE), PHASES.index(SWAP), PHASES.index(WAITING_STORE)],
        PHASES.index(STOPPED_OTHER))
    return np.select(
        [state == _COMPUTING, state == _CHECKPOINTING, state == _RESTARTING, state == _WAITING],
        [PHASES.index(KEPT), PHASES.index(CHECKPOINT), PHASES.index(RESTART), stopped],
        PHASES.index(STOPPED_OTHER)).astype(np.int64)

"""One replication's metrics, accumulated from its records as they stream in (O(components) state).

The model emits rows in the schema of ``clustersim.model.records`` in time order; ``Measures``
takes them in chunks of any size and keeps only what the metric plan needs: levels integrated
over [warmup, horizon), counts of events in that window, intervals still open per component,
the first time something happened. ``Measures.metrics()`` then reads one method per
``MetricSpec.quantity`` (the fast kernel's ``_KernelMeasures`` has the same methods). Sums are
exact (``ExactSum``, rounded once at the end), so no number depends on how the rows were chunked.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from clustersim.layout import MetricSpec, layout_of
from clustersim.model.records import EventCode, JobState, Kind, NodeState, RepairState, SlotState
from clustersim.scenario.schema import Scenario

T, KIND, COMP, FROM, TO, CAUSE = range(6)
ROW_VALUES = 6

# The codes as plain ints: numpy compares an array with an IntEnum member through Enum attribute
# look-ups, and swallows a KeyboardInterrupt raised inside them (a Ctrl-C would be lost).
NODE, REPAIR, SLOT, POOL, CREWS, FAILURE, EVENT, WARM, LEMON, JOB, WORK, LOST = (int(k) for k in (
    Kind.NODE, Kind.REPAIR, Kind.SLOT, Kind.POOL, Kind.CREWS, Kind.FAILURE, Kind.EVENT, Kind.WARM, Kind.LEMON,
    Kind.JOB, Kind.WORK, Kind.LOST))
SWITCH, LINK, CUT = int(Kind.SWITCH), int(Kind.LINK), int(Kind.CUT)
REPLICAS, DATA_LOSS, COPIED = int(Kind.REPLICAS), int(Kind.DATA_LOSS), int(Kind.COPIED)
UP, DOWN = int(NodeState.UP), int(NodeState.DOWN)
REPAIR_WAITING, REPAIRING, RETIRED = int(RepairState.WAITING), int(RepairState.REPAIRING), int(RepairState.RETIRED)
FILLED, SLOT_WAITING = int(SlotState.FILLED), int(SlotState.WAITING)
JOB_WAITING, RESTARTING, COMPUTING, CHECKPOINTING, DONE = (int(s) for s in (
    JobState.WAITING, JobState.RESTARTING, JobState.COMPUTING, JobState.CHECKPOINTING, JobState.DONE))
STAGE_ENTERED, ESCALATED, FALSE_SUCCESS, UNDIAGNOSED, MISDIAGNOSED, RECURRED, ABORTED = (int(c) for c in (
    EventCode.STAGE_ENTERED, EventCode.ESCALATED, EventCode.FALSE_SUCCESS, EventCode.UNDIAGNOSED,
    EventCode.MISDIAGNOSED, EventCode.RECURRED, EventCode.ABORTED))
RUNNING = (RESTARTING, COMPUTING, CHECKPOINTING)

_UNIT_EXPONENT = 1126  # ExactSum counts in units of 2**-1126: every float64's mantissa bits are whole units
_HALF_BITS = 26        # a 53-bit mantissa split in two halves whose sums stay exact in float64 bins
_MAX_VALUES = 1 << 25  # values added at once: a bin's sum of halves stays below 2**52


class ExactSum:
    """The exact sum of float64 values, whatever their order or grouping, rounded once when read."""

    __slots__ = ("_units", "_special")

    def __init__(self) -> None:
        self._units = 0          # the sum of the finite values, in units of 2**-1126 (a Python int: exact)
        self._special = 0.0      # the sum of non-finite values (inf, nan), if any

    def add(self, values: np.ndarray) -> None:
        """Add every element of ``values``."""
        values = np.asarray(values, dtype=np.float64).ravel()
        if values.size == 0:
            return
        if values.size > _MAX_VALUES:  # beyond what the float64 bins below hold exactly: in parts
            for first in range(0, values.size, _MAX_VALUES):
                self.add(values[first:first + _MAX_VALUES])
            return
        if not math.isfinite(float(np.sum(values))):  # an inf or nan among them (or a sum beyond float64)
            finite = np.isfinite(values)
            self._special += float(np.sum(values[~finite]))
            values = values[finite]
            if values.size == 0:
                return
        mantissa, exponent = np.frexp(values)  # values = mantissa * 2**exponent, 0.5 <= |mantissa| < 1
        whole = (mantissa * 2.0 ** 53).astype(np.int64)  # exact: the mantissa as a 53-bit integer
        low = int(exponent.min())
        bins = exponent - low
        # per exponent, the sums of each half: |half| < 2**27, so bins stay exact below 2**26 values
        high_sums = np.bincount(bins, weights=(whole >> _HALF_BITS).astype(np.float64))
        low_sums = np.bincount(bins, weights=(whole & ((1 << _HALF_BITS) - 1)).astype(np.float64))
        shift = low + (_UNIT_EXPONENT - 53)  # value = whole * 2**(exponent + 1126 - 53) units
        units = 0
        for b, (high, lo) in enumerate(zip(high_sums.tolist(), low_sums.tolist())):
            if high or lo:
                units += ((int(high) << _HALF_BITS) + int(lo)) << (shift + b)
        self._units += units

    @property
    def value(self) -> float:
        """The sum, correctly rounded (Python's int division is)."""
        return self._units / (1 << _UNIT_EXPONENT) + self._special


class _Level:
    """A piecewise-constant level over [start, stop): its integral and, optionally, the hours it satisfies ``low``.

    The level starts at ``initial``; ``jumps`` takes changes (deltas, summed as ``np.cumsum`` does), ``levels``
    takes the level after each change. Times before ``start`` or after ``stop`` count for nothing.
    """

    def __init__(self, initial: float, start: float, stop: float,
                 low: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        self.initial, self.start, self.stop, self.low = initial, start, stop, low
        self._cumulative = 0.0   # np.cumsum of every delta so far
        self.level = initial     # the level now
        self._edge = start       # when it took that level (clipped to the window)
        self.area = ExactSum()
        self.low_hours = ExactSum()

    def jumps(self, times: np.ndarray, deltas: np.ndarray) -> None:
        """The level changes by ``deltas`` at ``times``."""
        if len(times):
            cumulative = np.cumsum(np.concatenate(([self._cumulative], deltas)))[1:]
            self._cumulative = float(cumulative[-1])
            self.levels(times, self.initial + cumulative)

    def levels(self, times: np.ndarray, levels_after: np.ndarray) -> None:
        """The level becomes ``levels_after[i]`` at ``times[i]``."""
        if not len(times):
            return
        edges = np.clip(np.concatenate(([self._edge], times)), self.start, self.stop)
        held = np.concatenate(([self.level], levels_after[:-1]))
        self._add(held, np.diff(edges))
        self._edge, self.level = float(edges[-1]), float(levels_after[-1])

    def _add(self, held: np.ndarray, spans: np.ndarray) -> None:
        self.area.add(held * spans)
        if self.low is not None:
            self.low_hours.add(spans[self.low(held)])

    def finish(self) -> None:
        """Close the last piece at ``stop``."""
        self._add(np.array([self.level]), np.array([self.stop - self._edge]))
        self._edge = self.stop

    def mean(self) -> float:
        """The time-weighted mean over the window (after ``finish``)."""
        return self.area.value / (self.stop - self.start)


def _by_component(comp: np.ndarray) -> np.ndarray:
    """The order that groups rows by component, keeping each component's rows in time order."""
    return np.lexsort((np.arange(len(comp)), comp))


class _Intervals:
    """Intervals per component from a row into ``start_to`` to the next row out of ``end_from`` (into ``end_to``):
    those that begin in the window, their count and exact total length."""

    def __init__(self, start_to: int, end_from: int, end_to: int | None, window: tuple[float, float],
                 cause: int | None = None) -> None:
        self.start_to, self.end_from, self.end_to, self.window = start_to, end_from, end_to, window
        self.cause = cause  # only intervals begun by a row of this cause (None: any)
        self._open_comp = np.empty(0)   # starts in the window not yet ended: component, time
        self._open_t = np.empty(0)
        self.total, self.count = ExactSum(), 0
        self.seen = False

    def consume(self, rows: np.ndarray) -> None:
        if not len(rows):
            return
        self.seen = True
        opened = len(self._open_t)
        comp = np.concatenate((self._open_comp, rows[:, COMP]))
        t = np.concatenate((self._open_t, rows[:, T]))
        begins = rows[:, TO] == self.start_to
        if self.cause is not None:
            begins &= rows[:, CAUSE] == self.cause
        is_start = np.concatenate((np.ones(opened, bool), begins))
        is_end = rows[:, FROM] == self.end_from
        if self.end_to is not None:
            is_end &= rows[:, TO] == self.end_to
        is_end = np.concatenate((np.zeros(opened, bool), is_end))
        order = _by_component(comp)
        comp, t, is_start, is_end = comp[order], t[order], is_start[order], is_end[order]
        starts = np.flatnonzero(is_start & (t >= self.window[0]) & (t < self.window[1]))
        end_idx = np.flatnonzero(is_end)
        following = np.searchsorted(end_idx, starts, side="right")
        has_end = following < len(end_idx)
        if len(end_idx):
            ends = end_idx[np.minimum(following, len(end_idx) - 1)]
            has_end &= comp[ends] == comp[starts]
        else:
            ends = following
        matched, unmatched = starts[has_end], starts[~has_end]
        self.total.add(t[ends[has_end]] - t[matched])
        self.count += len(matched)
        self._open_comp, self._open_t = comp[unmatched], t[unmatched]

    def mean(self) -> float:
        """Mean length (NaN when no row of the kind was logged or no interval completed)."""
        if not self.seen or self.count == 0:
            return math.nan
        return self.total.value / self.count


class _FirstWait:
    """When a working position first waited for a spare for a positive time (from a SlotState.WAITING row to
    that slot's next row, or to the horizon)."""

    def __init__(self, start: float, end: float) -> None:
        self.start, self.end = start, end
        self.first = end
        self._open_comp = np.empty(0)  # slots whose last row was WAITING: component, time
        self._open_t = np.empty(0)

    def consume(self, rows: np.ndarray) -> None:
        if not len(rows):
            return
        opened = len(self._open_t)
        comp = np.concatenate((self._open_comp, rows[:, COMP]))
        t = np.concatenate((self._open_t, rows[:, T]))
        waiting = np.concatenate((np.ones(opened, bool), rows[:, TO] == SLOT_WAITING))
        order = _by_component(comp)
        comp, t, waiting = comp[order], t[order], waiting[order]
        waits = np.flatnonzero(waiting)
        has_next = waits + 1 < len(comp)
        nxt = np.minimum(waits + 1, len(comp) - 1)
        has_next &= comp[nxt] == comp[waits]
        self._note(t[waits[has_next]], t[nxt[has_next]])
        still = waits[~has_next]
        self._open_comp, self._open_t = comp[still], t[still]

    def _note(self, began: np.ndarray, ended: np.ndarray) -> None:
        hit = (ended > began) & (ended > self.start)
        if hit.any():
            self.first = min(self.first, float(np.maximum(began[hit], self.start).min()))

    def finish(self) -> None:
        self._note(self._open_t, np.full(len(self._open_t), self.end))

    def hours(self) -> float:
        return float(self.first - self.start)


class _Job:
    """What one training job did in [warmup, min(horizon, its finish))."""

    def __init__(self, scenario: Scenario, j: int, start: float, end: float) -> None:
        self.j, self.start, self.end = j, start, end
        self.size = scenario.training[j].nodes
        self.first_slot = scenario.job_offsets[j]
        self.finished_at = math.inf
        self.useful, self.lost = ExactSum(), ExactSum()
        self.stops = 0
        self.stop_causes: dict[int, int] = {}
        self._edge, self._state = start, float(JOB_WAITING)
        self.down_hours, self.checkpoint_hours = ExactSum(), ExactSum()
        self.allocated_level = _Level(float(self.size), start, end)

    @property
    def stop(self) -> float:
        return min(self.end, self.finished_at)

    def consume(self, job: np.ndarray, work: np.ndarray, lost: np.ndarray, slots: np.ndarray) -> None:
        """One chunk's rows of each kind (already this job's; slots: every SLOT row)."""
        done = job[job[:, TO] == DONE, T]
        if len(done) and self.finished_at == math.inf:
            self.finished_at = float(done[0])
        start, stop = self.start, self.stop
        self.allocated_level.stop = stop
        if len(work):
            credited = work[(work[:, T] > start) & (work[:, T] <= stop)]
            self.useful.add(credited[:, TO] - credited[:, FROM])
        if len(lost):
            self.lost.add(lost[(lost[:, T] >= start) & (lost[:, T] < stop), TO])
        if len(job):
            t = job[:, T]
            in_window = (t >= start) & (t < stop)
            stopped = job[in_window & (job[:, TO] == JOB_WAITING) & np.isin(job[:, FROM], RUNNING)]
            self.stops += len(stopped)
            for cause, n in zip(*np.unique(stopped[:, CAUSE], return_counts=True)):
                self.stop_causes[int(cause)] = self.stop_causes.get(int(cause), 0) + int(n)
            edges = np.clip(np.concatenate(([self._edge], t)), start, stop)
            held = np.concatenate(([self._state], job[:-1, TO]))
            self._add_states(held, np.diff(edges))
            self._edge, self._state = float(edges[-1]), float(job[-1, TO])
        if len(slots):
            comp = slots[:, COMP]
            mine = slots[(comp >= self.first_slot) & (comp < self.first_slot + self.size)]
            mine = mine[(mine[:, FROM] == FILLED) | (mine[:, TO] == FILLED)]
            self.allocated_level.jumps(mine[:, T], np.where(mine[:, TO] == FILLED, 1.0, -1.0))

    def _add_states(self, held: np.ndarray, spans: np.ndarray) -> None:
        self.down_hours.add(spans[(held == JOB_WAITING) | (held == RESTARTING)])
        self.checkpoint_hours.add(spans[held == CHECKPOINTING])

    def finish(self) -> None:
        stop = self.stop
        self._add_states(np.array([self._state]), np.array([max(stop, self.start) - self._edge]))
        self.allocated_level.stop = stop
        self.allocated_level.finish()

    @property
    def measured(self) -> bool:
        """Was the job still running when the window began (else nothing to measure in it)?"""
        return self.stop > self.start

    @property
    def wall(self) -> float:
        return self.stop - self.start

    @property
    def allocated(self) -> float:
        """Node-hours the job's positions were held by an up node over its window."""
        return self.allocated_level.mean() * (self.stop - self.start)


class _Network:
    """The fabric's measures: switch and link failures, nodes cut off, node-hours the network took."""

    def __init__(self, scenario: Scenario, start: float, end: float) -> None:
        self.start, self.end = start, end
        self.cause = scenario.network_cause
        self.switch_failures = 0
        self.link_failures = 0
        self.cut = _Level(0.0, start, end)
        self.lost = ExactSum()
        self._since: dict[int, float] = {}  # nodes in an outage the network began: since when

    def consume(self, switches: np.ndarray, links: np.ndarray, cuts: np.ndarray, nodes: np.ndarray) -> None:
        self.switch_failures += self._failures_in_window(switches)
        self.link_failures += self._failures_in_window(links)
        self.cut.jumps(cuts[:, T], cuts[:, TO] - cuts[:, FROM])
        turns = nodes[((nodes[:, TO] == DOWN) & (nodes[:, CAUSE] == self.cause)) | (nodes[:, TO] == UP)]
        spans = []
        for t, node, to in zip(turns[:, T].tolist(), turns[:, COMP].astype(np.int64).tolist(), turns[:, TO].tolist()):
            if to == DOWN:
                self._since[node] = t
            elif node in self._since:
                spans.append(self._clipped(self._since.pop(node), t))
        self.lost.add(np.array(spans))

    def _failures_in_window(self, rows: np.ndarray) -> int:
        return int(np.count_nonzero((rows[:, TO] == DOWN) & (rows[:, T] >= self.start) & (rows[:, T] < self.end)))

    def _clipped(self, began: float, ended: float) -> float:
        return max(0.0, min(ended, self.end) - max(began, self.start))

    def finish(self) -> None:
        self.cut.finish()
        self.lost.add(np.array([self._clipped(began, self.end) for began in self._since.values()]))
        self._since.clear()

# --- storage: what the [storage] metrics measure ------------------------------------------------

class _Storage:
    """Objects' live replicas (REPLICAS rows), data losses and completed copies over [warmup, horizon).

    Every object starts with ``replication`` live replicas; a lost object keeps its last count (0) for good.
    """

    def __init__(self, scenario: Scenario, start: float, end: float) -> None:
        spec = scenario.storage
        assert spec is not None  # built for scenarios with [storage] only
        self.replication, self.quorum, self.window = spec.replication, spec.quorum, end - start
        self.unreadable = _Level(0.0, start, end, low=lambda v: v == 0)  # objects with no live replica
        self.unwritable = _Level(0.0, start, end, low=lambda v: v == 0)  # objects short of write_quorum
        self.under = _Level(0.0, start, end)                              # objects short of replication
        self.at_risk = _Level(float(spec.objects), start, end)            # objects not lost
        self.start, self.end = start, end
        self.losses, self.copies = 0, 0
        self.copy_hours = ExactSum()

    def consume(self, replicas: np.ndarray, losses: np.ndarray, copied: np.ndarray) -> None:
        """One chunk's REPLICAS, DATA_LOSS and COPIED rows."""
        t, before, after = replicas[:, T], replicas[:, FROM], replicas[:, TO]
        for level, below in ((self.unreadable, 1), (self.unwritable, self.quorum), (self.under, self.replication)):
            level.jumps(t, (after < below).astype(np.float64) - (before < below))
        self.at_risk.jumps(losses[:, T], np.full(len(losses), -1.0))
        self.losses += int(np.count_nonzero(self._in_window(losses)))
        done = copied[self._in_window(copied), TO]
        self.copies += len(done)
        self.copy_hours.add(done)

    def _in_window(self, rows: np.ndarray) -> np.ndarray:
        return (rows[:, T] >= self.start) & (rows[:, T] < self.end)

    def finish(self) -> None:
        for level in (self.unreadable, self.unwritable, self.under, self.at_risk):
            level.finish()


def _rows_by_kind(rows: np.ndarray) -> list[np.ndarray]:
    """``rows`` of each kind (indexed by the Kind code), each in time order."""
    codes = rows[:, KIND].astype(np.int16)
    ordered = rows[np.argsort(codes, kind="stable")]
    bounds = np.concatenate(([0], np.cumsum(np.bincount(codes, minlength=len(Kind))))).tolist()
    return [ordered[bounds[k]:bounds[k + 1]] for k in range(len(bounds) - 1)]


class Measures:
    """One method per ``MetricSpec.quantity`` of the metric plan, over one replication's rows fed by ``consume``
    (in time order, in chunks of any size) and closed by ``finish``; what several metrics share is kept once."""

    def __init__(self, scenario: Scenario, window: tuple[float, float] | None = None) -> None:
        """``window``: measure over [start, end) instead of [warmup, horizon) (one window of a series)."""
        self.scenario = scenario
        self.plan = layout_of(scenario).metrics
        simulation = scenario.simulation
        start, end = window or (simulation.warmup, simulation.horizon)
        self.start, self.end = start, end
        self.events = 0
        self._held = np.empty((0, ROW_VALUES))  # the last instant's rows, until a later instant shows it is whole
        self._finished = False
        nodes = scenario.nodes
        self._up = _Level(float(nodes.count), start, end)
        self._failures = 0
        self._failures_by_cause = np.zeros(len(scenario.cause_names), dtype=np.int64)
        self._outage = _Intervals(DOWN, DOWN, UP, (start, end))
        self._outage_by_cause = {spec.cause: _Intervals(DOWN, DOWN, UP, (start, end), spec.cause)
                                 for spec in self.plan if spec.quantity == "outage_mean_of_cause"}
        self._crew_wait = _Intervals(REPAIR_WAITING, REPAIR_WAITING, REPAIRING, (start, end))
        self._crews = {spec.index: _Level(0.0, start, end) for spec in self.plan if spec.quantity == "crew_utilization"}
        self._event_counts: dict[tuple[int, int], int] = {}  # (code, cause) -> EVENT rows in the window
        self._aborted_at = math.inf  # when an [[abort]] stopped the injections (in the window)
        self._lemons: set[int] = set()
        self._retired_in_window: list[int] = []
        self._retired_ever: set[int] = set()
        working = scenario.working_nodes
        self._with_spares = bool(scenario.spares.hot + scenario.spares.cold)
        self._capacity = _Level(float(working), start, end, low=lambda v: v < working)
        self._pool = _Level(float(scenario.spares.hot + scenario.spares.cold), start, end, low=lambda v: v == 0)
        self._pool_at_start: float | None = None
        self._pool_first_empty = math.inf
        self._first_wait = _FirstWait(start, end)
        self._warm = _Level(float(scenario.spares.warm), start, end)
        self._jobs = [_Job(scenario, j, start, end) for j in range(len(scenario.training))]
        self._network = _Network(scenario, start, end) if scenario.network is not None else None
        self._storage = _Storage(scenario, start, end) if scenario.storage is not None else None
        self._inference: dict[str, float | None] = {}
        self.requests_events = 0  # request-level events of the inference model (not rows of the log)

    # --- feeding ---------------------------------------------------------------------------------

    def consume(self, rows: np.ndarray) -> None:
        """Take the next rows of the log (shape (n, 6), in time order)."""
        if self._finished:
            raise RuntimeError("Measures.consume after finish")
        if not len(rows):
            return
        self.events += len(rows)
        rows = np.concatenate((self._held, rows)) if len(self._held) else rows
        # hold back the rows of the last instant: a later chunk may hold more rows of it
        cut = int(np.searchsorted(rows[:, T], rows[-1, T], side="left"))
        self._held = np.array(rows[cut:])
        if cut:
            self._take(rows[:cut])

    def take_inference(self, values: dict[str, float | None], events: int) -> None:
        """The inference services' metrics, measured by their model as it ran (requests are not rows of the log:
        there are far too many)."""
        self._inference = values
        self.requests_events = events

    def finish(self) -> Measures:
        """The log is complete: close open levels and intervals."""
        if not self._finished:
            if len(self._held):
                self._take(self._held)
                self._held = np.empty((0, ROW_VALUES))
            self._finished = True
            for level in (self._up, self._capacity, self._warm, *self._crews.values()):
                level.finish()
            if self._pool_at_start is None:
                self._pool_at_start = self._pool.level
            self._pool.finish()
            self._first_wait.finish()
            for job in self._jobs:
                job.finish()
            if self._network is not None:
                self._network.finish()
            if self._storage is not None:
                self._storage.finish()
        return self

    def _take(self, rows: np.ndarray) -> None:
        """Rows holding every row of each of their instants."""
        kind = rows[:, KIND]
        t = rows[:, T]
        in_window = (t >= self.start) & (t < self.end)
        of = _rows_by_kind(rows)
        nodes = of[NODE]
        self._up.jumps(nodes[:, T], np.where(nodes[:, TO] == UP, 1.0, -1.0))
        self._outage.consume(nodes)
        for outages in self._outage_by_cause.values():
            outages.consume(nodes)
        failures = rows[in_window & (kind == FAILURE)]
        self._failures += len(failures)
        by_cause = np.bincount(failures[:, CAUSE].astype(np.int64), minlength=len(self._failures_by_cause))
        if len(by_cause) > len(self._failures_by_cause):
            by_cause[: len(self._failures_by_cause)] += self._failures_by_cause
            self._failures_by_cause = by_cause
        else:
            self._failures_by_cause += by_cause
        repair = of[REPAIR]
        self._crew_wait.consume(repair)
        retired = repair[repair[:, TO] == RETIRED]
        if len(retired):
            window = (retired[:, T] >= self.start) & (retired[:, T] < self.end)
            self._retired_in_window += retired[window, COMP].astype(np.int64).tolist()
            self._retired_ever.update(retired[retired[:, T] < self.end, COMP].astype(np.int64).tolist())
        crews = of[CREWS]
        for pool, level in self._crews.items():
            mine = crews[crews[:, COMP] == pool]
            level.jumps(mine[:, T], mine[:, TO] - mine[:, FROM])
        events = rows[in_window & (kind == EVENT)]
        if len(events):
            keys, counts = np.unique(events[:, [TO, CAUSE]], axis=0, return_counts=True)
            for (code, cause), n in zip(keys.tolist(), counts.tolist()):
                key = (int(code), int(cause))
                self._event_counts[key] = self._event_counts.get(key, 0) + n
            aborted = events[events[:, TO] == ABORTED, T]
            if len(aborted) and self._aborted_at == math.inf:
                self._aborted_at = float(aborted[0])
        lemons = of[LEMON]
        self._lemons.update(lemons[lemons[:, FROM] == 0, COMP].astype(np.int64).tolist())
        slots = of[SLOT]
        if self._with_spares:
            touches = slots[(slots[:, FROM] == FILLED) | (slots[:, TO] == FILLED)]
            self._capacity.jumps(touches[:, T], np.where(touches[:, TO] == FILLED, 1.0, -1.0))
        else:
            working = nodes[nodes[:, COMP] < self.scenario.working_nodes]
            self._capacity.jumps(working[:, T], np.where(working[:, TO] == UP, 1.0, -1.0))
        self._take_pool(of[POOL])
        self._first_wait.consume(slots)
        warm = of[WARM]
        self._warm.jumps(warm[:, T], warm[:, TO] - warm[:, FROM])
        job, work, lost = of[JOB], of[WORK], of[LOST]
        for j, tracked in enumerate(self._jobs):
            tracked.consume(job[job[:, COMP] == j], work[work[:, COMP] == j], lost[lost[:, COMP] == j], slots)
        if self._network is not None:
            self._network.consume(of[SWITCH], of[LINK], of[CUT], nodes)
        if self._storage is not None:
            self._storage.consume(of[REPLICAS], of[DATA_LOSS], of[COPIED])

    def _take_pool(self, rows: np.ndarray) -> None:
        """Usable spares: the level is logged as is (to_state); the first empty instant in the window."""
        if not len(rows):
            return
        if self._pool_at_start is None:
            before = rows[rows[:, T] < self.start]
            if len(before) < len(rows):  # this chunk reaches the window: the level just before it
                self._pool_at_start = float(before[-1, TO]) if len(before) else self._pool.level
        self._pool.levels(rows[:, T], rows[:, TO])
        empty = rows[(rows[:, T] >= self.start) & (rows[:, TO] == 0), T]
        if len(empty) and self._pool_first_empty == math.inf:
            self._pool_first_empty = float(empty[0])

    # --- reading ---------------------------------------------------------------------------------

    def metrics(self) -> dict[str, float]:
        """Every metric of the plan measurable in this replication, by name in plan order."""
        self.finish()
        metrics: dict[str, float] = {}
        for spec in self.plan:
            value = self.measure(spec)
            if value is not None:
                metrics[spec.name] = value
        return metrics

    def measure(self, spec: MetricSpec) -> float | None:
        """The value of ``spec`` in this replication (None: not measurable in it)."""
        return getattr(self, spec.quantity)(spec)

    def service(self, spec: MetricSpec) -> float | None:
        """An inference service's metric, as its model measured it."""
        return self._inference.get(spec.name)

    def _event_count(self, code: int, cause: int | None = None) -> float:
        return float(sum(n for (c, k), n in self._event_counts.items() if c == code and (cause is None or k == cause)))

    # nodes
    def availability(self, spec: MetricSpec) -> float:
        return self._up.mean() / self.scenario.nodes.count

    def up_mean(self, spec: MetricSpec) -> float:
        return self._up.mean()

    def failures(self, spec: MetricSpec) -> float:
        return float(self._failures)

    def failures_of_cause(self, spec: MetricSpec) -> float:
        return float(self._failures_by_cause[spec.index])

    def outage_mean(self, spec: MetricSpec) -> float:
        return self._outage.mean()

    def aborted(self, spec: MetricSpec) -> float:
        return self._event_count(ABORTED)

    def abort_hours(self, spec: MetricSpec) -> float:
        return min(self._aborted_at, self.end) - self.start

    def outage_mean_of_cause(self, spec: MetricSpec) -> float:
        return self._outage_by_cause[spec.cause].mean()

    # repair
    def crew_wait_mean(self, spec: MetricSpec) -> float:
        return self._crew_wait.mean()

    def crew_utilization(self, spec: MetricSpec) -> float:
        repair = self.scenario.repair
        crews = repair.crews if spec.index == 0 else repair.stages[spec.index - 1].crews
        assert crews is not None  # the plan lists finite crew pools only
        return self._crews[spec.index].mean() / crews

    def stage_entries(self, spec: MetricSpec) -> float:
        return self._event_count(STAGE_ENTERED, self.scenario.stage_cause(spec.index))

    def escalations(self, spec: MetricSpec) -> float:
        return self._event_count(ESCALATED)

    def false_successes(self, spec: MetricSpec) -> float:
        return self._event_count(FALSE_SUCCESS)

    def undiagnosed(self, spec: MetricSpec) -> float:
        return self._event_count(UNDIAGNOSED)

    def misdiagnoses(self, spec: MetricSpec) -> float:
        return self._event_count(MISDIAGNOSED)

    def recurrences(self, spec: MetricSpec) -> float:
        return self._event_count(RECURRED)

    # retirement
    def retired(self, spec: MetricSpec) -> float:
        return float(len(self._retired_in_window))

    def retired_healthy(self, spec: MetricSpec) -> float:
        return float(sum(1 for node in self._retired_in_window if node not in self._lemons))

    def lemons_retired_fraction(self, spec: MetricSpec) -> float:
        lemons = len(self._lemons)  # every node ever a lemon: drawn at the start or regenerated
        return len(self._retired_ever & self._lemons) / lemons if lemons else math.nan

    # capacity and spares
    def capacity_availability(self, spec: MetricSpec) -> float:
        return self._capacity.mean() / self.scenario.working_nodes

    def capacity_shortfall(self, spec: MetricSpec) -> float:
        return self._capacity.low_hours.value

    def spares_available_mean(self, spec: MetricSpec) -> float:
        return self._pool.mean()

    def spares_exhausted(self, spec: MetricSpec) -> float:
        return self._pool.low_hours.value

    def spares_first_exhausted(self, spec: MetricSpec) -> float:
        if self._pool_at_start == 0:
            return 0.0
        first = self._pool_first_empty
        return float(first) - self.start if first != math.inf else self.end - self.start

    def capacity_first_short(self, spec: MetricSpec) -> float:
        return self._first_wait.hours()

    def spares_warm_mean(self, spec: MetricSpec) -> float:
        return self._warm.mean()

    # training jobs
    def job_completion_hours(self, spec: MetricSpec) -> float:
        finished_at = self._jobs[spec.index].finished_at
        return finished_at if finished_at < self.end else math.nan

    def job_completed(self, spec: MetricSpec) -> float:
        return 1.0 if self._jobs[spec.index].finished_at < self.end else 0.0

    def job_ettr(self, spec: MetricSpec) -> float | None:
        job = self._jobs[spec.index]
        return job.useful.value / job.wall if job.measured else None

    def job_goodput(self, spec: MetricSpec) -> float | None:
        job = self._jobs[spec.index]
        if not job.measured:
            return None
        allocated = job.allocated
        return job.useful.value * job.size / allocated if allocated > 0 else math.nan

    def job_interruptions(self, spec: MetricSpec) -> float | None:
        job = self._jobs[spec.index]
        return float(job.stops) if job.measured else None

    def job_interruptions_of_cause(self, spec: MetricSpec) -> float | None:
        job = self._jobs[spec.index]
        return float(job.stop_causes.get(spec.cause, 0)) if job.measured else None

    def job_lost_work_hours(self, spec: MetricSpec) -> float | None:
        job = self._jobs[spec.index]
        return job.lost.value if job.measured else None

    def job_downtime_per_interruption_hours(self, spec: MetricSpec) -> float | None:
        job = self._jobs[spec.index]
        if not job.measured:
            return None
        return job.down_hours.value / job.stops if job.stops else math.nan

    def job_gpu_hours_wasted(self, spec: MetricSpec) -> float | None:
        job = self._jobs[spec.index]
        if not job.measured:
            return None
        return (job.allocated - job.useful.value * job.size) * self.scenario.nodes.gpus_per_node

    def job_checkpoint_overhead_fraction(self, spec: MetricSpec) -> float | None:
        job = self._jobs[spec.index]
        return job.checkpoint_hours.value / job.wall if job.measured else None

    # --- network
    def switch_failures(self, spec: MetricSpec) -> float:
        assert self._network is not None  # planned only with a [network]
        return float(self._network.switch_failures)

    def link_failures(self, spec: MetricSpec) -> float:
        assert self._network is not None
        return float(self._network.link_failures)

    def nodes_cut_off_mean(self, spec: MetricSpec) -> float:
        assert self._network is not None
        return self._network.cut.mean()

    def network_node_hours_lost(self, spec: MetricSpec) -> float:
        assert self._network is not None
        return self._network.lost.value
    # --- storage ([storage]: _Storage) -----------------------------------------------------------
    def storage_read_availability(self, spec: MetricSpec) -> float:
        assert self._storage is not None  # the plan lists storage metrics with [storage] only
        return self._storage.unreadable.low_hours.value / self._storage.window

    def storage_write_availability(self, spec: MetricSpec) -> float:
        assert self._storage is not None
        return self._storage.unwritable.low_hours.value / self._storage.window

    def storage_data_loss_events(self, spec: MetricSpec) -> float:
        assert self._storage is not None
        return float(self._storage.losses)

    def storage_rereplication_hours(self, spec: MetricSpec) -> float:
        assert self._storage is not None
        store = self._storage
        return store.copy_hours.value / store.copies if store.copies else math.nan

    def storage_objects_under_replicated_mean(self, spec: MetricSpec) -> float:
        assert self._storage is not None
        return self._storage.under.mean()

    def storage_mttdl_hours(self, spec: MetricSpec) -> float | None:
        assert self._storage is not None
        store = self._storage
        return store.at_risk.area.value / store.losses if store.losses else None


def measure_log(scenario: Scenario, log: np.ndarray, chunk_rows: int = 65536) -> dict[str, float]:
    """Every metric of the plan from a whole stored log, fed through ``Measures`` ``chunk_rows`` rows at a time."""
    measures = Measures(scenario)
    for first in range(0, len(log), chunk_rows):
        measures.consume(log[first:first + chunk_rows])
    return measures.metrics()

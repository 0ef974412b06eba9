"""The fast kernel's foundation: state layout, the event queue, random draws and the recording of rows.

Every component of ``clustersim.model`` is a row of an integer (and float) state array, and
every point where a SimPy process waits is an event type. Events are taken in SimPy's order —
by (time, priority, sequence number of scheduling) — from a binary heap of future events and
two FIFO rings of events for the current instant (urgent, normal), so simultaneous events
resolve the same way in both engines (a deterministic scenario gives the same log, row for row).

Each state change is recorded as SimPy records it (``_record``): it counts one model event and
feeds the streaming form of ``clustersim.stats.replication_metrics`` (time-weighted levels
integrated over [warmup, horizon), counts and intervals that start in the window), optionally
also a trace of rows in the log schema of ``engine/records.py`` (tests compare it to SimPy's).
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from clustersim.engine.fast.compile import (
    LAW_DETERMINISTIC, LAW_EXPONENTIAL, LAW_GAMMA, LAW_LOGNORMAL, LAW_UNIFORM, LAW_WEIBULL,
)
from clustersim.engine.records import EventCode, JobState, Kind, NodeState, RepairState, SlotState

# How the kernel is compiled (each measured on benchmarks/bench_engines.py, one thread):
# - no reference counting (``_nrt=False``) in the event loop and its helpers: numba otherwise
#   counts a reference to a state array at each access, atomically — 80 % of the run time
#   (1.2 M events/s -> 6.5 M). The arrays live for the whole call; only _new_state allocates.
# - helpers inlined into the loop (``forceinline``): a call passes every field of Plan and
#   State, some 300 values (6.5 -> 22 M events/s).
# - helpers without Python wrappers: only the loop calls them (first compile 30 s -> 21 s).
# - numpy's error model: a division by zero gives inf (a job running on no member never finishes)
#   instead of raising, which code without reference counting cannot do cleanly.
# - no helper calls itself, directly or through others: numba cannot inline a cycle (the job's
#   steps between two waits run as one loop over continuations, see jobs.py).
_helper = njit(cache=True, _nrt=False, error_model="numpy", forceinline=True, no_cpython_wrapper=True,
               no_cfunc_wrapper=True)
_loop = njit(cache=True, _nrt=False, error_model="numpy")


def _i64(*values: int) -> tuple:
    """Constants as numpy int64: numba types them as plain int64, where Python ints would be typed
    as literals and make it compile a copy of every helper for each constant passed to it."""
    return tuple(np.int64(v) for v in values)


# Record kinds and states: the log schema of engine/records.py (numba freezes these values
# into the cached kernel; they are part of the event-log contract and never change).
K_NODE, K_REPAIR, K_DOMAIN, K_SLOT, K_POOL, K_CREWS, K_FAILURE, K_EVENT, K_WARM, K_LEMON = _i64(
    Kind.NODE, Kind.REPAIR, Kind.DOMAIN, Kind.SLOT, Kind.POOL, Kind.CREWS, Kind.FAILURE, Kind.EVENT, Kind.WARM,
    Kind.LEMON)
K_JOB, K_WORK, K_LOST, K_JOB_SPEED = _i64(Kind.JOB, Kind.WORK, Kind.LOST, Kind.JOB_SPEED)
UP, DOWN = _i64(NodeState.UP, NodeState.DOWN)
R_OK, R_FAILED, R_WAITING, R_REPAIRING, R_REBOOTING, R_RETIRED = _i64(*RepairState)
FILLED, EMPTY, WAITING, SWAPPING = _i64(*SlotState)
J_WAITING, J_RESTARTING, J_COMPUTING, J_CHECKPOINTING, J_DONE = _i64(*JobState)
E_STAGE_ENTERED, E_ESCALATED, E_FALSE_SUCCESS, E_UNDIAGNOSED, E_MISDIAGNOSED, E_RECURRED = _i64(*EventCode)
NOT_STRUCK, STRUCK = _i64(0, 1)  # a FAILURE row's states
(THE_POOL,) = _i64(0)            # a POOL or WARM row's component
(NO_CAUSE,) = _i64(-1)

# Event priorities, as SimPy's: an interrupt precedes ordinary events at the same instant.
URGENT, NORMAL = _i64(0, 1)
SEQ_MASK, TWO_53 = _i64((1 << 62) - 1, 1 << 53)  # random() returns k / 2**53 for an integer k
TWO_53_FLOAT = float(TWO_53)

# Event types; the high nibble names the component kind that handles them.
(EV_NODE_FAIL, EV_NODE_DETECTED, EV_CREW_GRANTED, EV_STAGE_DONE, EV_NODE_POWERED, EV_REBOOT_DONE,
 EV_UNDIAGNOSED_DONE, EV_NODE_BLAMED, EV_WARMED) = _i64(*range(9))
EV_SLOT_INTERRUPT, EV_SLOT_DETECTED, EV_SLOT_HANDED, EV_SWAP_DONE, EV_SLOT_NODE_BACK = _i64(16, 17, 18, 19, 20)
EV_DOMAIN_FAIL, EV_DOMAIN_DETECTED, EV_DOMAIN_REPAIRED = _i64(32, 33, 34)
EV_CREW_RELEASED, EV_POOL_DISPATCH = _i64(48, 49)
EV_JOB_TIMEOUT, EV_JOB_INTERRUPT, EV_JOB_READY, EV_JOB_PERSISTED, EV_JOB_FLUSH = _i64(64, 65, 66, 67, 68)
KIND_NODE, KIND_SLOT, KIND_DOMAIN, KIND_POOL, KIND_JOB = _i64(0, 1, 2, 3, 4)

# Columns of State.node_i (one row per node).
(N_HOLDS, N_ROLE, N_SLOT, N_MODE, N_NEXT, N_PREV, N_LIST, N_REPAIR, N_STAGE, N_REAL_FAULT, N_FAIL_SEQ,
 N_PENDING_SOURCE, N_PENDING_INDEX, N_LEMON, N_WAS_LEMON, N_BLAMED, N_WARMING, N_BLAME_MODE) = _i64(*range(18))
NODE_I_COLS = 18
# Columns of State.node_f.
N_DOWN_SINCE, N_WAIT_SINCE, N_OPERATING_SINCE, N_PENDING_HOURS, N_SCORE_BASE, N_UP_SINCE = _i64(*range(6))
NODE_F_COLS = 6
# Sources of a node's proposed next failure (model/clocks.py).
SOURCE_NONE, SOURCE_EXP, SOURCE_PART, SOURCE_LATENT = _i64(0, 1, 2, 3)
# Columns of State.slot_i (one row per working position).
(S_NODE, S_ATTACHED, S_PHASE, S_CAUSE, S_SPARE, S_TIER, S_SWAP_SEQ, S_NOTICED, S_NODE_BACK, S_STARVED,
 S_ACTIVE) = _i64(*range(11))
SLOT_I_COLS = 11
NODE_BACK_NONE, NODE_BACK_WAITING, NODE_BACK_DUE = _i64(0, 1, 2)
# Columns of State.crew_i (one row per crew pool); its FIFO queue is a ring in State.crew_queue.
C_GRANTED, C_BUSY, C_QHEAD, C_QSIZE = _i64(*range(4))
CREW_I_COLS = 4
# State.pool_i: a FIFO list of usable spares per tier, linked through the nodes, and the heap of
# positions waiting for a spare (State.pool_wait rows: key = rank << 40 | arrival, slot).
TIER_WARM, TIER_HOT, TIER_COLD = _i64(0, 1, 2)
P_HEAD, P_TAIL, P_SIZE = _i64(0, 1, 2)    # offsets within a tier list's three entries
P_WARMING, P_WAIT_N, P_ARRIVALS, P_DISPATCH_PENDING = _i64(9, 10, 11, 12)
POOL_I_COLS = 13
RANK_SHIFT = _i64(40)[0]
# State.ctr: counters.
CT_SEQ, CT_HEAP_N, CT_EVENTS, CT_STATUS, CT_TRACE_N = _i64(*range(5))
CT_RING_HEAD, CT_RING_SIZE = _i64(5, 6)   # + 2 * priority: the rings of events for the current instant
(CT_LATENT_STAMP,) = _i64(9)
CTR_COLS = 10
STATUS_OK, STATUS_HEAP_FULL, STATUS_TRACE_FULL = _i64(0, 1, 2)

# Accumulators. A level block integrates a piecewise-constant level over the window and the
# hours it spends below a threshold.
L_VALUE, L_LAST, L_AREA, L_LOW_HOURS, L_BELOW = _i64(*range(5))
LEVEL_COLS = 5
# State.acc
A_UP, A_CAPACITY, A_POOL, A_WARM = _i64(0, 5, 10, 15)
(A_FAILURES, A_OUTAGE_SUM, A_OUTAGE_N, A_WAIT_SUM, A_WAIT_N, A_POOL_AT_START, A_FIRST_EMPTY, A_FIRST_SHORT,
 A_ESCALATIONS, A_FALSE_SUCCESSES, A_UNDIAGNOSED, A_MISDIAGNOSES, A_RECURRENCES, A_RETIRED, A_RETIRED_HEALTHY,
 A_LEMONS_RETIRED) = _i64(*range(20, 36))
ACC_SIZE = 36
# State.crew_acc, per crew pool: its busy level, then repairs that entered it (stages).
(CA_ENTERED,) = _i64(LEVEL_COLS)
CREW_ACC_COLS = LEVEL_COLS + 1
# State.job_acc, per job: its filled positions as a level (integrated until it is done), then
(JA_END, JA_DONE_AT, JA_USEFUL, JA_STOPS, JA_LOST, JA_STATE_LAST, JA_DOWN_HOURS, JA_CHECKPOINT_HOURS) = _i64(
    *range(LEVEL_COLS, LEVEL_COLS + 8))
JOB_ACC_COLS = LEVEL_COLS + 8

# Columns of State.job_i and State.job_f (one row per training job; see jobs.py).
(J_STATE, J_PHASE, J_FILLED, J_STARVED, J_ACTIVE, J_PENDING, J_PENDING_CAUSE, J_TOKEN, J_READY, J_PERSIST_TOKEN,
 J_RESTARTED) = _i64(*range(11))
JOB_I_COLS = 11
(JF_SPEED, JF_CREDITED, JF_COMPUTED, JF_PERSISTING, JF_PERSIST_DONE_AT, JF_RUN_STARTED, JF_STARTED, JF_TARGET,
 JF_SEGMENT, JF_PERSIST_HOURS) = _i64(*range(10))
JOB_F_COLS = 10

State = namedtuple("State", [
    "node_i", "node_f", "remaining",       # per node: ints, floats, remaining lifetime of each clocked part
    "latent", "latent_stamp",              # per node and mode: operating hours until a fault left in place recurs
    "blame_times",                         # per node: a ring of the last blame times (threshold retirement)
    "slot_i", "slot_f",                    # per working position: ints; when it began waiting for a spare
    "crew_i", "crew_queue",                # per crew pool
    "pool_i", "pool_wait", "scratch",      # the spare pool, its waiting positions, room for a dispatch
    "job_i", "job_f",                      # per training job
    "heap", "bits_f", "bits_i",            # the event heap (rows: time bits, key, item, -); a float <-> bits cast
    "ring_key", "ring_item", "clock",      # per priority, a FIFO ring of events at the current time; the time
    "ctr", "acc", "cause_count", "crew_acc", "job_acc", "job_cause", "trace",
])


# ---------------------------------------------------------------------------------------------
# events: a heap of future ones, FIFO rings of those due now


# A heap row is (time bits, key, item, padding): the IEEE-754 bits of a time >= 0 order as int64
# exactly as the times do, so (time, key) compares as two int64s (written out in place: a helper
# for it measured slower), and the 32-byte rows keep an entry within one cache line (~15 %
# faster than three separate arrays).


@_helper
def _push(st, t, priority, etype, target):
    """Schedule an event; returns its sequence number (-1 and STATUS_HEAP_FULL when out of room).

    An event for the current instant joins the FIFO ring of its priority instead of the heap:
    its sequence number is larger than any other's, so FIFO is its (time, priority, seq) order.
    """
    seq = st.ctr[CT_SEQ]
    st.ctr[CT_SEQ] = seq + 1
    key = (priority << 62) | seq
    item = (etype << 32) | target
    if t == st.clock[0]:
        size_at = CT_RING_SIZE + 2 * priority
        size = st.ctr[size_at]
        capacity = st.ring_key.shape[1]
        if size >= capacity:
            st.ctr[CT_STATUS] = STATUS_HEAP_FULL
            return -1
        slot = (st.ctr[CT_RING_HEAD + 2 * priority] + size) % capacity
        st.ring_key[priority, slot] = key
        st.ring_item[priority, slot] = item
        st.ctr[size_at] = size + 1
        return seq
    n = st.ctr[CT_HEAP_N]
    heap = st.heap
    if n >= heap.shape[0]:
        st.ctr[CT_STATUS] = STATUS_HEAP_FULL
        return -1
    st.bits_f[0] = t
    bits = st.bits_i[0]
    i = n
    while i > 0:
        parent = (i - 1) >> 1
        pb = heap[parent, 0]
        if pb < bits or (pb == bits and heap[parent, 1] < key):
            break
        heap[i, 0], heap[i, 1], heap[i, 2] = pb, heap[parent, 1], heap[parent, 2]
        i = parent
    heap[i, 0], heap[i, 1], heap[i, 2] = bits, key, item
    st.ctr[CT_HEAP_N] = n + 1
    return seq


@_helper
def _pop_heap(st):
    """Remove the heap's earliest event: (time, key, item)."""
    heap = st.heap
    n = st.ctr[CT_HEAP_N] - 1
    st.ctr[CT_HEAP_N] = n
    b0, k0, i0 = heap[0, 0], heap[0, 1], heap[0, 2]
    if n > 0:
        b, k, item = heap[n, 0], heap[n, 1], heap[n, 2]
        i = 0
        while True:
            child = 2 * i + 1
            if child >= n:
                break
            cb, ck = heap[child, 0], heap[child, 1]
            if child + 1 < n:
                rb, rk = heap[child + 1, 0], heap[child + 1, 1]
                if rb < cb or (rb == cb and rk < ck):
                    child += 1
                    cb, ck = rb, rk
            if not (cb < b or (cb == b and ck < k)):
                break
            heap[i, 0], heap[i, 1], heap[i, 2] = cb, ck, heap[child, 2]
            i = child
        heap[i, 0], heap[i, 1], heap[i, 2] = b, k, item
    st.bits_i[0] = b0
    return st.bits_f[0], k0, i0


@_helper
def _pop_ring(st, priority):
    """Remove the head of the current instant's ring of ``priority``: (key, item)."""
    head_at = CT_RING_HEAD + 2 * priority
    head = st.ctr[head_at]
    st.ctr[head_at] = (head + 1) % st.ring_key.shape[1]
    st.ctr[CT_RING_SIZE + 2 * priority] -= 1
    return st.ring_key[priority, head], st.ring_item[priority, head]


@_helper
def _pop(st, horizon):
    """The next event in (time, priority, seq) order before ``horizon``: (found, time, key, item).

    Ring entries are at the current time; a key carries the priority above the sequence
    number, so the urgent ring's head precedes the normal ring's, and either precedes the
    heap's top unless that is also due now with a smaller key.
    """
    ctr = st.ctr
    now = st.clock[0]
    ring = -1
    if ctr[CT_RING_SIZE + 2 * URGENT] > 0:
        ring = URGENT
    elif ctr[CT_RING_SIZE + 2 * NORMAL] > 0:
        ring = NORMAL
    st.bits_i[0] = st.heap[0, 0]
    top = st.bits_f[0]
    heap_due = ctr[CT_HEAP_N] > 0 and top < horizon
    if ring >= 0 and not (heap_due and top == now
                          and st.heap[0, 1] < st.ring_key[ring, ctr[CT_RING_HEAD + 2 * ring]]):
        key, item = _pop_ring(st, ring)
        return True, now, key, item
    if not heap_due:
        return False, now, 0, 0
    t, key, item = _pop_heap(st)
    st.clock[0] = t
    return True, t, key, item


# ---------------------------------------------------------------------------------------------
# random draws


@_helper
def _draw(plan, gen, law):
    """One draw in hours of law ``law`` (parameters as compile.py converted them)."""
    code = plan.law_code[law]
    a = plan.law_a[law]
    b = plan.law_b[law]
    if code == LAW_EXPONENTIAL:
        return gen.exponential(a)
    if code == LAW_WEIBULL:
        return a * gen.weibull(b)
    if code == LAW_LOGNORMAL:
        return gen.lognormal(a, b)
    if code == LAW_GAMMA:
        return gen.gamma(a, b)
    if code == LAW_DETERMINISTIC:
        return a
    if code == LAW_UNIFORM:
        return gen.uniform(a, b)
    # empirical: a uniform index (Generator.integers would allocate an array per draw in numba)
    return plan.empirical[np.int64(a) + _uniform_index(gen, np.int64(b))]


@_helper
def _uniform_index(gen, count):
    """An exactly uniform integer in [0, count), by rejection on random()'s 53-bit integer."""
    limit = (TWO_53 // count) * count
    while True:
        k = np.int64(gen.random() * TWO_53_FLOAT)
        if k < limit:
            return k % count


# ---------------------------------------------------------------------------------------------
# recording: count the event, trace it, and feed the metrics exactly as stats.py reads the log


@_helper
def _level_to(acc, block, t, value, start, end):
    """The level of ``block`` becomes ``value`` at ``t``: integrate the old level up to ``t``."""
    clipped = min(max(t, start), end)
    dt = clipped - acc[block + L_LAST]
    if dt > 0.0:
        old = acc[block + L_VALUE]
        acc[block + L_AREA] += old * dt
        if old < acc[block + L_BELOW]:
            acc[block + L_LOW_HOURS] += dt
    acc[block + L_LAST] = clipped
    acc[block + L_VALUE] = value


@_helper
def _record(plan, st, t, kind, comp, frm, to, cause):
    """One row of the state-change log ``(t, kind, comp, from, to, cause)``."""
    st.ctr[CT_EVENTS] += 1
    trace = st.trace
    if trace.shape[0] > 0:
        row = st.ctr[CT_TRACE_N]
        if row < trace.shape[0]:
            trace[row, 0], trace[row, 1], trace[row, 2] = t, kind, comp
            trace[row, 3], trace[row, 4], trace[row, 5] = frm, to, cause
            st.ctr[CT_TRACE_N] = row + 1
        else:
            st.ctr[CT_STATUS] = STATUS_TRACE_FULL
    acc = st.acc
    start, end = plan.warmup, plan.horizon
    in_window = start <= t < end
    if kind == K_NODE:
        step = 1.0 if to == UP else -1.0
        _level_to(acc, A_UP, t, acc[A_UP + L_VALUE] + step, start, end)
        if to == DOWN:
            st.node_f[comp, N_DOWN_SINCE] = t
        else:
            since = st.node_f[comp, N_DOWN_SINCE]
            if start <= since < end:
                acc[A_OUTAGE_SUM] += t - since
                acc[A_OUTAGE_N] += 1.0
        if plan.hot + plan.cold == 0 and comp < plan.working:
            _level_to(acc, A_CAPACITY, t, acc[A_CAPACITY + L_VALUE] + step, start, end)
    elif kind == K_FAILURE:
        if t >= start:
            acc[A_FAILURES] += 1.0
            st.cause_count[cause] += 1.0
    elif kind == K_REPAIR:
        if to == R_WAITING:
            st.node_f[comp, N_WAIT_SINCE] = t
        elif frm == R_WAITING and to == R_REPAIRING:
            since = st.node_f[comp, N_WAIT_SINCE]
            if start <= since < end:
                acc[A_WAIT_SUM] += t - since
                acc[A_WAIT_N] += 1.0
        elif to == R_RETIRED:
            lemon = st.node_i[comp, N_WAS_LEMON] == 1
            if in_window:
                acc[A_RETIRED] += 1.0
                if not lemon:
                    acc[A_RETIRED_HEALTHY] += 1.0
            if lemon and t < end:
                acc[A_LEMONS_RETIRED] += 1.0
    elif kind == K_CREWS:
        block = comp * CREW_ACC_COLS
        _level_to(st.crew_acc, block, t, st.crew_acc[block + L_VALUE] + (to - frm), start, end)
    elif kind == K_SLOT:
        if plan.hot + plan.cold > 0:  # else capacity follows the working nodes (stats.py)
            if to == FILLED:
                _level_to(acc, A_CAPACITY, t, acc[A_CAPACITY + L_VALUE] + 1.0, start, end)
            elif frm == FILLED:
                _level_to(acc, A_CAPACITY, t, acc[A_CAPACITY + L_VALUE] - 1.0, start, end)
        if to == WAITING:
            st.slot_f[comp] = t
        elif frm == WAITING:
            _wait_ended(acc, st.slot_f[comp], t, start)
        job = plan.slot_job[comp]
        if job >= 0 and (to == FILLED) != (frm == FILLED):
            block = job * JOB_ACC_COLS
            ja = st.job_acc
            _level_to(ja, block, t, ja[block + L_VALUE] + (1.0 if to == FILLED else -1.0), start, ja[block + JA_END])
    elif kind == K_POOL:
        _level_to(acc, A_POOL, t, float(to), start, end)
        if t < start:
            acc[A_POOL_AT_START] = to
        elif to == 0 and acc[A_FIRST_EMPTY] < 0.0:
            acc[A_FIRST_EMPTY] = t - start
    elif kind == K_WARM:
        _level_to(acc, A_WARM, t, acc[A_WARM + L_VALUE] + (to - frm), start, end)
    elif kind == K_EVENT:
        if in_window:
            if to == E_STAGE_ENTERED:
                st.crew_acc[(1 + cause - plan.causes) * CREW_ACC_COLS + CA_ENTERED] += 1.0
            elif to == E_ESCALATED:
                acc[A_ESCALATIONS] += 1.0
            elif to == E_FALSE_SUCCESS:
                acc[A_FALSE_SUCCESSES] += 1.0
            elif to == E_UNDIAGNOSED:
                acc[A_UNDIAGNOSED] += 1.0
            elif to == E_MISDIAGNOSED:
                acc[A_MISDIAGNOSES] += 1.0
            else:
                acc[A_RECURRENCES] += 1.0
    elif kind == K_JOB:
        _job_state_hours(plan, st, comp, frm, t)
        block = comp * JOB_ACC_COLS
        ja = st.job_acc
        if to == J_WAITING and frm != J_WAITING and frm != J_DONE and t >= start:
            ja[block + JA_STOPS] += 1.0
            st.job_cause[comp, cause] += 1.0
        elif to == J_DONE:
            ja[block + JA_DONE_AT] = t
            _level_to(ja, block, t, ja[block + L_VALUE], start, ja[block + JA_END])
            ja[block + JA_END] = t
    elif kind == K_WORK:
        if t > start:
            st.job_acc[comp * JOB_ACC_COLS + JA_USEFUL] += to - frm
    elif kind == K_LOST:
        if t >= start:
            st.job_acc[comp * JOB_ACC_COLS + JA_LOST] += to


@_helper
def _job_state_hours(plan, st, job, state, t):
    """The job leaves ``state`` at ``t``: add its time in [warmup, min(horizon, done)) to its bucket."""
    block = job * JOB_ACC_COLS
    ja = st.job_acc
    clipped = min(max(t, plan.warmup), ja[block + JA_END])
    dt = clipped - ja[block + JA_STATE_LAST]
    if dt > 0.0:
        if state == J_WAITING or state == J_RESTARTING:
            ja[block + JA_DOWN_HOURS] += dt
        elif state == J_CHECKPOINTING:
            ja[block + JA_CHECKPOINT_HOURS] += dt
    ja[block + JA_STATE_LAST] = max(clipped, ja[block + JA_STATE_LAST])


@_helper
def _wait_ended(acc, since, t, start):
    """A position waited for a spare over [since, t): the first such wait of positive length that
    reaches into the window marks when the cluster first ran short."""
    if t > since and t > start:
        acc[A_FIRST_SHORT] = min(acc[A_FIRST_SHORT], max(since, start))



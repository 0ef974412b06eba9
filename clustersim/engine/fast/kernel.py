"""The fast engine's numba kernel: one replication of the model as array state machines.

Every component of ``clustersim.model`` (and ``workloads/training.py``) is a row of an integer
(and float) state array, and every point where a SimPy process waits is an event type. Events
are taken in SimPy's order — by (time, priority, sequence number of scheduling) — from a binary
heap of future events and two FIFO rings of events for the current instant (urgent, normal),
and the handlers schedule them in exactly the order SimPy's processes do, so simultaneous
events resolve the same way in both engines (a deterministic scenario gives the same log, row
for row). Handlers per component kind (``etype >> 4``): nodes (node_life and the repair shop:
own failures, detection, diagnosis, repair stages and their crews, blame, retirement, warm-up
of standbys), working positions (slot_life), failure domains, the pool (a crew released, the
ranked dispatch at the end of an instant) and training jobs (job_life).

Each state change is recorded as SimPy records it (``_row``, through one ``_rec_<kind>`` per
row kind): it counts one model event and feeds the streaming form of
``clustersim.stats.replication_metrics`` (time-weighted levels integrated over [warmup, horizon),
counts and intervals that start in the window), optionally also a trace of rows in the log schema
of ``engine/records.py`` (tests compare it to SimPy's).

The codes it branches on and writes live in codes.py, its tables' column layouts in tables.py.
Every cached entry point (``_new_state``, ``_run``) is a closure over ``FINGERPRINT``, a hash of
every engine/fast module's source: numba keys a cached function on its own file and on its
closure's contents, so a change in any of those modules recompiles the kernel, where a constant
frozen from another module would otherwise be served stale from the cache. The helpers are not
cached themselves: they are compiled (and inlined) only when an entry point compiles.
"""
from __future__ import annotations

import hashlib
import math
from collections import namedtuple
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from clustersim.engine.fast.codes import (
    CKPT_CONTINUOUS, CKPT_SYNC, DOWN, E_ESCALATED, E_FALSE_SUCCESS, E_MISDIAGNOSED, E_RECURRED, E_STAGE_ENTERED,
    E_UNDIAGNOSED, EMPTY, FILLED, J_CHECKPOINTING, J_COMPUTING, J_DONE, J_RESTARTING, J_WAITING, K_CREWS, K_DOMAIN,
    K_EVENT, K_FAILURE, K_JOB, K_JOB_SPEED, K_LEMON, K_LOST, K_NODE, K_POOL, K_REPAIR, K_SLOT, K_WARM, K_WORK,
    LAW_DETERMINISTIC, LAW_EXPONENTIAL, LAW_GAMMA, LAW_LOGNORMAL, LAW_UNIFORM, LAW_WEIBULL, NO_CAUSE, NOT_STRUCK,
    R_FAILED, R_OK, R_REBOOTING, R_REPAIRING, R_RETIRED, R_WAITING, RECOVERY_REBOOT, RETIRE_NEVER, RETIRE_THRESHOLD,
    ROLE_COLD, ROLE_HOT, ROLE_LOOSE, ROLE_RETIRED, ROLE_WARM, ROLE_WORK, SELECT_FEWEST_FAILURES, SELECT_FIFO,
    SELECT_HIGHEST_SCORE, STRUCK, SWAPPING, THE_POOL, UNLIMITED, UP, WAITING, _i64,
)
from clustersim.engine.fast.tables import columns

if TYPE_CHECKING:
    from clustersim.engine.fast.compile import Plan

# How the kernel is compiled (each measured on benchmarks/bench_engines.py, one thread):
# - no reference counting (``_nrt=False``) in the event loop and its helpers: numba otherwise
#   counts a reference to a state array at each access, atomically — 80 % of the run time
#   (1.2 M events/s -> 6.5 M). The arrays live for the whole call; only _new_state allocates.
# - helpers inlined into the loop (``forceinline``): a call passes every field of Plan and
#   State, some 300 values (6.5 -> 22 M events/s).
# - helpers without Python wrappers: only the loop calls them (first compile 30 s -> 21 s).
# - helpers not cached (``cache=False``): forceinline links the callee's own library, which numba
#   would load from the helper's cache entry (keyed on the helper's file alone) — possibly stale.
# - numpy's error model: a division by zero gives inf (a job running on no member never finishes)
#   instead of raising, which code without reference counting cannot do cleanly.
# - no helper calls itself, directly or through others: numba cannot inline a cycle (the job's
#   steps between two waits run as one loop over continuations, _job_go).
# - the loop is called from Python, not from a jitted caller: numba re-optimises every library it
#   links into a caller, which cost the loop a second LLVM pass (first compile 107 s -> 81 s).
_helper = njit(cache=False, _nrt=False, error_model="numpy", forceinline=True, no_cpython_wrapper=True,
               no_cfunc_wrapper=True)
_loop = njit(cache=True, _nrt=False, error_model="numpy", nogil=True)


def source_fingerprint() -> int:
    """The first 8 bytes of sha256 over every engine/fast/*.py (by name): the source the kernel compiles from."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return int.from_bytes(digest.digest()[:8], "little", signed=True)


FINGERPRINT = source_fingerprint()

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

# Columns of State.node_i (one row per node). N_WARMING: the token of its warm-up, -1 if none;
# N_BLAME_MODE: the mode of a blame pending, -1 if none; N_OPERATING: 1 once its clocks run (a
# cold spare only once provisioned).
((N_HOLDS, N_ROLE, N_SLOT, N_MODE, N_NEXT, N_PREV, N_LIST, N_REPAIR, N_STAGE, N_REAL_FAULT, N_FAIL_SEQ,
  N_PENDING_SOURCE, N_PENDING_INDEX, N_LEMON, N_WAS_LEMON, N_BLAMED, N_WARMING, N_BLAME_MODE, N_OPERATING),
 NODE_I_COLS) = columns("node_i", "N", "holds role slot mode next prev list repair stage real_fault fail_seq "
                        "pending_source pending_index lemon was_lemon blamed warming blame_mode operating")
# Columns of State.node_f.
((N_DOWN_SINCE, N_WAIT_SINCE, N_OPERATING_SINCE, N_PENDING_HOURS, N_SCORE_BASE, N_UP_SINCE),
 NODE_F_COLS) = columns("node_f", "N", "down_since wait_since operating_since pending_hours score_base up_since")
# Sources of a node's proposed next failure (model/clocks.py).
SOURCE_NONE, SOURCE_EXP, SOURCE_PART, SOURCE_LATENT = _i64(0, 1, 2, 3)
# Columns of State.slot_i (one row per working position).
((S_NODE, S_ATTACHED, S_PHASE, S_CAUSE, S_SPARE, S_TIER, S_SWAP_SEQ, S_NOTICED, S_NODE_BACK, S_STARVED, S_ACTIVE),
 SLOT_I_COLS) = columns("slot_i", "S", "node attached phase cause spare tier swap_seq noticed node_back starved "
                        "active")
NODE_BACK_NONE, NODE_BACK_WAITING, NODE_BACK_DUE = _i64(0, 1, 2)
# Columns of State.crew_i (one row per crew pool); its FIFO queue is a ring in State.crew_queue.
(C_GRANTED, C_BUSY, C_QHEAD, C_QSIZE), CREW_I_COLS = columns("crew_i", "C", "granted busy qhead qsize")
# State.pool_i: a FIFO list of usable spares per tier (LIST_COLS entries each, from P_LISTS = 0),
# linked through the nodes, and the heap of positions waiting for a spare (State.pool_wait rows:
# key = rank << 40 | arrival, slot).
TIER_WARM, TIER_HOT, TIER_COLD = _i64(0, 1, 2)
(P_HEAD, P_TAIL, P_SIZE), LIST_COLS = columns("tier_list", "P", "head tail size")
((P_LISTS, P_WARMING, P_WAIT_N, P_ARRIVALS, P_DISPATCH_PENDING),
 POOL_I_COLS) = columns("pool_i", "P", f"lists:{3 * LIST_COLS} warming wait_n arrivals dispatch_pending")
RANK_SHIFT = _i64(40)[0]
# State.ctr: counters. CT_RING_HEAD, CT_RING_SIZE + 2 * priority: the rings of events for the
# current instant (urgent, then normal); CT_TIMER_JOB: the job whose timer is due first, or -1;
# CT_FINGERPRINT: the FINGERPRINT of the kernel that ran.
((CT_SEQ, CT_HEAP_N, CT_EVENTS, CT_STATUS, CT_TRACE_N, CT_RING_HEAD, CT_RING_SIZE, CT_RING_NORMAL, CT_LATENT_STAMP,
  CT_TIMER_JOB, CT_FINGERPRINT),
 CTR_COLS) = columns("ctr", "CT", "seq heap_n events status trace_n ring_head ring_size ring_normal:2 latent_stamp "
                     "timer_job fingerprint")
INF_BITS = np.float64(np.inf).view(np.int64)  # the bits of +inf: a timer that never comes due
STATUS_OK, STATUS_HEAP_FULL, STATUS_TRACE_FULL = _i64(0, 1, 2)

# Accumulators. A level block integrates a piecewise-constant level over the window and the
# hours it spends below a threshold.
(L_VALUE, L_LAST, L_AREA, L_LOW_HOURS, L_BELOW), LEVEL_COLS = columns("level", "L", "value last area low_hours below")
# State.acc: four level blocks, then counts and sums.
((A_UP, A_CAPACITY, A_POOL, A_WARM, A_FAILURES, A_OUTAGE_SUM, A_OUTAGE_N, A_WAIT_SUM, A_WAIT_N, A_POOL_AT_START,
  A_FIRST_EMPTY, A_FIRST_SHORT, A_ESCALATIONS, A_FALSE_SUCCESSES, A_UNDIAGNOSED, A_MISDIAGNOSES, A_RECURRENCES,
  A_RETIRED, A_RETIRED_HEALTHY, A_LEMONS_RETIRED),
 ACC_SIZE) = columns("acc", "A", f"up:{LEVEL_COLS} capacity:{LEVEL_COLS} pool:{LEVEL_COLS} warm:{LEVEL_COLS} "
                     "failures outage_sum outage_n wait_sum wait_n pool_at_start first_empty first_short "
                     "escalations false_successes undiagnosed misdiagnoses recurrences retired retired_healthy "
                     "lemons_retired")
# State.crew_acc, per crew pool: its busy level, then repairs that entered it (stages).
(CA_ENTERED,), CREW_ACC_COLS = columns("crew_acc", "CA", "entered", start=LEVEL_COLS)
# State.job_acc, per job: its filled positions as a level (integrated until it is done), then its
# times, sums and counts.
((JA_END, JA_DONE_AT, JA_USEFUL, JA_STOPS, JA_LOST, JA_STATE_LAST, JA_DOWN_HOURS, JA_CHECKPOINT_HOURS),
 JOB_ACC_COLS) = columns("job_acc", "JA", "end done_at useful stops lost state_last down_hours checkpoint_hours",
                         start=LEVEL_COLS)

# Columns of State.job_i and State.job_f (one row per training job; see the jobs section).
((J_STATE, J_PHASE, J_FILLED, J_STARVED, J_ACTIVE, J_PENDING, J_PENDING_CAUSE, J_TOKEN, J_READY, J_PERSIST_TOKEN,
  J_RESTARTED, J_TIMER_BITS, J_TIMER_KEY),
 JOB_I_COLS) = columns("job_i", "J", "state phase filled starved active pending pending_cause token ready "
                       "persist_token restarted timer_bits timer_key")
((JF_SPEED, JF_CREDITED, JF_COMPUTED, JF_PERSISTING, JF_PERSIST_DONE_AT, JF_RUN_STARTED, JF_STARTED, JF_TARGET,
  JF_SEGMENT, JF_PERSIST_HOURS),
 JOB_F_COLS) = columns("job_f", "JF", "speed credited computed persisting persist_done_at run_started started "
                       "target segment persist_hours")

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
    earliest future event — the heap's top or the first job timer — unless that is also due
    now with a smaller key.
    """
    ctr = st.ctr
    now = st.clock[0]
    ring = -1
    if ctr[CT_RING_SIZE + 2 * URGENT] > 0:
        ring = URGENT
    elif ctr[CT_RING_SIZE + 2 * NORMAL] > 0:
        ring = NORMAL
    bits = INF_BITS
    key = 0
    if ctr[CT_HEAP_N] > 0:
        bits, key = st.heap[0, 0], st.heap[0, 1]
    timer = ctr[CT_TIMER_JOB]
    if timer >= 0:
        timer_bits, timer_key = st.job_i[timer, J_TIMER_BITS], st.job_i[timer, J_TIMER_KEY]
        if timer_bits < bits or (timer_bits == bits and timer_key < key):
            bits, key = timer_bits, timer_key
        else:
            timer = -1
    st.bits_i[0] = bits
    top = st.bits_f[0]
    due = top < horizon
    if ring >= 0 and not (due and top == now and key < st.ring_key[ring, ctr[CT_RING_HEAD + 2 * ring]]):
        key, item = _pop_ring(st, ring)
        return True, now, key, item
    if not due:
        return False, now, 0, 0
    if timer >= 0:
        _set_timer(st, timer, INF_BITS, 0)
        st.clock[0] = top
        return True, top, key, (EV_JOB_TIMEOUT << 32) | timer
    t, key, item = _pop_heap(st)
    st.clock[0] = t
    return True, t, key, item


@_helper
def _set_timer(st, job, bits, key):
    """Set (or clear, with INF_BITS) the job's one timer; keep track of the first one due."""
    ji = st.job_i
    ji[job, J_TIMER_BITS] = bits
    ji[job, J_TIMER_KEY] = key
    first = -1
    for j in range(ji.shape[0]):
        b = ji[j, J_TIMER_BITS]
        if b < INF_BITS and (first < 0 or b < ji[first, J_TIMER_BITS]
                             or (b == ji[first, J_TIMER_BITS] and ji[j, J_TIMER_KEY] < ji[first, J_TIMER_KEY])):
            first = j
    st.ctr[CT_TIMER_JOB] = first


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
def _row(st, t, kind, comp, frm, to, cause):
    """One row of the state-change log ``(t, kind, comp, from, to, cause)``: count it, trace it."""
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


# One recorder per row kind, each feeding the metrics that read that kind (one function per kind
# keeps the inlined code small: LLVM's time dominates the first compile).


@_helper
def _rec_node(plan, st, t, comp, frm, to, cause):
    _row(st, t, K_NODE, comp, frm, to, cause)
    acc = st.acc
    start, end = plan.warmup, plan.horizon
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


@_helper
def _rec_failure(plan, st, t, comp, cause):
    _row(st, t, K_FAILURE, comp, NOT_STRUCK, STRUCK, cause)
    if t >= plan.warmup:
        st.acc[A_FAILURES] += 1.0
        st.cause_count[cause] += 1.0


@_helper
def _rec_repair(plan, st, t, comp, frm, to, cause):
    _row(st, t, K_REPAIR, comp, frm, to, cause)
    acc = st.acc
    start, end = plan.warmup, plan.horizon
    if to == R_WAITING:
        st.node_f[comp, N_WAIT_SINCE] = t
    elif frm == R_WAITING and to == R_REPAIRING:
        since = st.node_f[comp, N_WAIT_SINCE]
        if start <= since < end:
            acc[A_WAIT_SUM] += t - since
            acc[A_WAIT_N] += 1.0
    elif to == R_RETIRED:
        lemon = st.node_i[comp, N_WAS_LEMON] == 1
        if start <= t < end:
            acc[A_RETIRED] += 1.0
            if not lemon:
                acc[A_RETIRED_HEALTHY] += 1.0
        if lemon and t < end:
            acc[A_LEMONS_RETIRED] += 1.0


@_helper
def _rec_crews(plan, st, t, comp, frm, to):
    _row(st, t, K_CREWS, comp, frm, to, NO_CAUSE)
    block = comp * CREW_ACC_COLS
    _level_to(st.crew_acc, block, t, st.crew_acc[block + L_VALUE] + (to - frm), plan.warmup, plan.horizon)


@_helper
def _rec_slot(plan, st, t, comp, frm, to, cause):
    _row(st, t, K_SLOT, comp, frm, to, cause)
    acc = st.acc
    start, end = plan.warmup, plan.horizon
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


@_helper
def _rec_pool(plan, st, t, frm, to):
    _row(st, t, K_POOL, THE_POOL, frm, to, NO_CAUSE)
    acc = st.acc
    start = plan.warmup
    _level_to(acc, A_POOL, t, float(to), start, plan.horizon)
    if t < start:
        acc[A_POOL_AT_START] = to
    elif to == 0 and acc[A_FIRST_EMPTY] < 0.0:
        acc[A_FIRST_EMPTY] = t - start


@_helper
def _rec_warm(plan, st, t, frm, to):
    _row(st, t, K_WARM, THE_POOL, frm, to, NO_CAUSE)
    acc = st.acc
    _level_to(acc, A_WARM, t, acc[A_WARM + L_VALUE] + (to - frm), plan.warmup, plan.horizon)


@_helper
def _rec_event(plan, st, t, comp, code, cause):
    """An instantaneous repair outcome (EventCode ``code``) on node ``comp``."""
    _row(st, t, K_EVENT, comp, 0, code, cause)
    if not plan.warmup <= t < plan.horizon:
        return
    acc = st.acc
    if code == E_STAGE_ENTERED:
        st.crew_acc[(1 + cause - plan.causes) * CREW_ACC_COLS + CA_ENTERED] += 1.0
    elif code == E_ESCALATED:
        acc[A_ESCALATIONS] += 1.0
    elif code == E_FALSE_SUCCESS:
        acc[A_FALSE_SUCCESSES] += 1.0
    elif code == E_UNDIAGNOSED:
        acc[A_UNDIAGNOSED] += 1.0
    elif code == E_MISDIAGNOSED:
        acc[A_MISDIAGNOSES] += 1.0
    else:
        acc[A_RECURRENCES] += 1.0


@_helper
def _rec_job(plan, st, t, comp, frm, to, cause):
    _row(st, t, K_JOB, comp, frm, to, cause)
    _job_state_hours(plan, st, comp, frm, t)
    block = comp * JOB_ACC_COLS
    ja = st.job_acc
    if to == J_WAITING and frm != J_WAITING and frm != J_DONE and t >= plan.warmup:
        ja[block + JA_STOPS] += 1.0
        st.job_cause[comp, cause] += 1.0
    elif to == J_DONE:
        ja[block + JA_DONE_AT] = t
        _level_to(ja, block, t, ja[block + L_VALUE], plan.warmup, ja[block + JA_END])
        ja[block + JA_END] = t


@_helper
def _rec_work(plan, st, t, comp, frm, to):
    _row(st, t, K_WORK, comp, frm, to, NO_CAUSE)
    if t > plan.warmup:
        st.job_acc[comp * JOB_ACC_COLS + JA_USEFUL] += to - frm


@_helper
def _rec_lost(plan, st, t, comp, lost, cause):
    _row(st, t, K_LOST, comp, 0.0, lost, cause)
    if t >= plan.warmup:
        st.job_acc[comp * JOB_ACC_COLS + JA_LOST] += lost


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


# ---------------------------------------------------------------------------------------------
# failure clocks (model/clocks.py): a superposed exponential clock, one lifetime per part, and
# the latent faults left in place; a lemon consumes them faster


@_helper
def _start_clocks(plan, st, gen, node):
    st.node_i[node, N_OPERATING] = 1
    for p in range(plan.parts):
        st.remaining[node, p] = _draw(plan, gen, plan.part_law[p])


@_helper
def _advance(plan, st, node, hours):
    """``hours`` of operation pass without a failure (NodeClocks.advance)."""
    if hours <= 0.0:
        return
    lemon = st.node_i[node, N_LEMON] == 1
    for p in range(plan.parts):
        st.remaining[node, p] -= hours * (plan.part_lemon_speed[p] if lemon else 1.0)
    for m in range(plan.modes):
        if st.latent_stamp[node, m] >= 0:
            st.latent[node, m] -= hours


@_helper
def _schedule_failure(plan, st, gen, node, t):
    """Propose the node's next own failure (NodeClocks.next_failure) and wait for it."""
    lemon = st.node_i[node, N_LEMON]
    best = math.inf
    source = SOURCE_NONE
    index = -1
    if plan.exp_total_rate[lemon] > 0.0:
        best = gen.exponential(plan.exp_scale[lemon])
        source = SOURCE_EXP
    for p in range(plan.parts):
        dt = st.remaining[node, p] / (plan.part_lemon_speed[p] if lemon == 1 else 1.0)
        if dt < best:
            best, source, index = dt, SOURCE_PART, p
    # latent faults in the order they were left (a dict's order in SimPy): the first of equals wins
    chosen = -1
    for m in range(plan.modes):
        stamp = st.latent_stamp[node, m]
        if stamp >= 0:
            left = st.latent[node, m]
            if left < best and (chosen < 0 or left < st.latent[node, chosen]
                                or (left == st.latent[node, chosen] and stamp < st.latent_stamp[node, chosen])):
                chosen = m
    if chosen >= 0:
        best, source, index = st.latent[node, chosen], SOURCE_LATENT, chosen
    st.node_i[node, N_PENDING_SOURCE] = source
    st.node_i[node, N_PENDING_INDEX] = index
    st.node_f[node, N_PENDING_HOURS] = best
    st.node_f[node, N_OPERATING_SINCE] = t
    st.node_i[node, N_FAIL_SEQ] = _push(st, t + best, NORMAL, EV_NODE_FAIL, node) if best < math.inf else -1


@_helper
def _fire(plan, st, gen, node):
    """The proposed failure happens (NodeClocks.fire): returns (mode, was a recurrence)."""
    hours = st.node_f[node, N_PENDING_HOURS]
    source = st.node_i[node, N_PENDING_SOURCE]
    index = st.node_i[node, N_PENDING_INDEX]
    _advance(plan, st, node, hours)
    if source == SOURCE_PART:
        st.remaining[node, index] = _draw(plan, gen, plan.part_law[index])
        return plan.part_mode[index], False
    if source == SOURCE_LATENT:
        st.latent_stamp[node, index] = -1
        return index, True
    lemon = st.node_i[node, N_LEMON]
    cumulative = plan.exp_cumulative[lemon]
    x = gen.random() * plan.exp_total_rate[lemon]
    pick = 0
    while pick < cumulative.shape[0] and cumulative[pick] <= x:  # bisect_right
        pick += 1
    return plan.exp_modes[min(pick, cumulative.shape[0] - 1)], False


@_helper
def _leave_fault(plan, st, gen, node, mode):
    """The fault of ``mode`` stays in place: it recurs after a recurrence draw (if faults recur)."""
    if plan.recurrence_law < 0:
        return
    if st.latent_stamp[node, mode] < 0:
        st.latent_stamp[node, mode] = st.ctr[CT_LATENT_STAMP]
        st.ctr[CT_LATENT_STAMP] += 1
    st.latent[node, mode] = _draw(plan, gen, plan.recurrence_law)


# ---------------------------------------------------------------------------------------------
# the node score and the retirement policies (model/policies.py)


@_helper
def _credit(plan, uptime_hours):
    return plan.score_credit * math.floor(uptime_hours / plan.score_period)


@_helper
def _score(plan, st, node, t):
    base = st.node_f[node, N_SCORE_BASE]
    if st.node_i[node, N_HOLDS] == 0:
        return base + _credit(plan, t - st.node_f[node, N_UP_SINCE])
    return base


@_helper
def _blame(plan, st, node, t):
    """A failure is attributed to ``node``: its history and score remember it."""
    count = st.node_i[node, N_BLAMED]
    ring = st.blame_times.shape[1]
    if ring > 0:
        st.blame_times[node, count % ring] = t
    st.node_i[node, N_BLAMED] = count + 1
    if plan.scored:
        st.node_f[node, N_SCORE_BASE] -= plan.score_penalty


@_helper
def _should_retire(plan, st, node, t):
    policy = plan.retirement
    if policy == RETIRE_NEVER:
        return False
    if policy == RETIRE_THRESHOLD:
        count = st.node_i[node, N_BLAMED]
        k = plan.retire_max_failures
        if count < k:
            return False
        # blame times only grow: k blames in the window iff the k-th most recent is in it
        return st.blame_times[node, (count - k) % k] >= t - plan.retire_window
    return _score(plan, st, node, t) <= plan.retire_threshold


# ---------------------------------------------------------------------------------------------
# holds (model/nodes.py NodeHolds) and what a node going down or up means (model/cluster.py)


@_helper
def _strike(plan, st, gen, node, cause, counted, noticed, t):
    """Hold ``node`` down for ``cause``; ``counted``: this is the failure event itself;
    ``noticed``: taken out deliberately, so nobody waits for detection."""
    if counted:
        _rec_failure(plan, st, t, node, cause)
    st.node_i[node, N_HOLDS] += 1
    if st.node_i[node, N_HOLDS] == 1:
        _rec_node(plan, st, t, node, UP, DOWN, cause)
        _on_down(plan, st, gen, node, cause, noticed, t)


@_helper
def _release(plan, st, gen, node, t):
    st.node_i[node, N_HOLDS] -= 1
    if st.node_i[node, N_HOLDS] == 0:
        _rec_node(plan, st, t, node, DOWN, UP, NO_CAUSE)
        _on_up(plan, st, gen, node, t)


@_helper
def _on_down(plan, st, gen, node, cause, noticed, t):
    """Cluster._on_node_down: the score banks its uptime; interrupt the node's slot or leave the pool."""
    if plan.scored:
        st.node_f[node, N_SCORE_BASE] += _credit(plan, t - st.node_f[node, N_UP_SINCE])
    slot = st.node_i[node, N_SLOT]
    role = st.node_i[node, N_ROLE]
    if slot >= 0 and st.slot_i[slot, S_ATTACHED] == 1 and plan.slot_watched[slot] == 1:
        st.slot_i[slot, S_ATTACHED] = 0
        st.slot_i[slot, S_CAUSE] = cause
        st.slot_i[slot, S_NOTICED] = 1 if noticed else 0
        st.slot_i[slot, S_SWAP_SEQ] = -1  # a swap in progress will not complete
        _push(st, t, URGENT, EV_SLOT_INTERRUPT, slot)
    elif role == ROLE_WARM or role == ROLE_HOT or role == ROLE_COLD:
        _pool_remove(plan, st, gen, node, t)


@_helper
def _on_up(plan, st, gen, node, t):
    """Cluster._on_node_up: a repaired loose node joins the pool as hot; a position waiting for
    its own node takes it back."""
    if plan.scored:
        st.node_f[node, N_UP_SINCE] = t
    role = st.node_i[node, N_ROLE]
    if role == ROLE_LOOSE:
        role = ROLE_HOT
        st.node_i[node, N_ROLE] = role
    if role == ROLE_HOT or role == ROLE_COLD:
        _pool_add(plan, st, gen, node, t)
    else:
        _node_back(st, node, t)


@_helper
def _node_back(st, node, t):
    """Wake the position that waits for this node's recovery (SimPy: node_back.succeed())."""
    slot = st.node_i[node, N_SLOT]
    if slot >= 0 and st.slot_i[slot, S_NODE_BACK] == NODE_BACK_WAITING:
        st.slot_i[slot, S_NODE_BACK] = NODE_BACK_DUE
        _push(st, t, NORMAL, EV_SLOT_NODE_BACK, slot)


# ---------------------------------------------------------------------------------------------
# the spare pool (model/spares.py SparePool): tiers warm, hot, cold as FIFO lists linked
# through the nodes; waiting positions in a heap by (priority rank, arrival)


@_helper
def _list_append(st, lst, node):
    pool, links = st.pool_i, st.node_i
    base = LIST_COLS * lst
    tail = pool[base + P_TAIL]
    links[node, N_PREV] = tail
    links[node, N_NEXT] = -1
    links[node, N_LIST] = lst
    if tail >= 0:
        links[tail, N_NEXT] = node
    else:
        pool[base + P_HEAD] = node
    pool[base + P_TAIL] = node
    pool[base + P_SIZE] += 1


@_helper
def _list_remove(st, node):
    pool, links = st.pool_i, st.node_i
    base = LIST_COLS * links[node, N_LIST]
    prev, nxt = links[node, N_PREV], links[node, N_NEXT]
    if prev >= 0:
        links[prev, N_NEXT] = nxt
    else:
        pool[base + P_HEAD] = nxt
    if nxt >= 0:
        links[nxt, N_PREV] = prev
    else:
        pool[base + P_TAIL] = prev
    pool[base + P_SIZE] -= 1
    links[node, N_LIST] = -1


@_helper
def _usable(st):
    pool = st.pool_i
    return (pool[LIST_COLS * TIER_WARM + P_SIZE] + pool[LIST_COLS * TIER_HOT + P_SIZE]
            + pool[LIST_COLS * TIER_COLD + P_SIZE])


@_helper
def _warm_size(st):
    return st.pool_i[LIST_COLS * TIER_WARM + P_SIZE]


@_helper
def _log_pool(plan, st, before, warm_before, t):
    after = _usable(st)
    if after != before:
        _rec_pool(plan, st, t, before, after)
    warm = _warm_size(st)
    if warm != warm_before:
        _rec_warm(plan, st, t, warm_before, warm)


@_helper
def _pick(plan, st, gen, lst, skip_warming, t):
    """The selection policy's pick among the nodes of tier list ``lst`` (oldest first), optionally
    skipping hot spares being initialised; -1 when there is none."""
    policy = plan.selection
    node = st.pool_i[LIST_COLS * lst + P_HEAD]
    if policy == SELECT_FIFO:
        while node >= 0 and skip_warming and st.node_i[node, N_WARMING] >= 0:
            node = st.node_i[node, N_NEXT]
        return node
    count = 0
    best = -1
    best_value = 0.0
    while node >= 0:
        if not (skip_warming and st.node_i[node, N_WARMING] >= 0):
            count += 1
            if policy == SELECT_FEWEST_FAILURES:
                value = -float(st.node_i[node, N_BLAMED])
            elif policy == SELECT_HIGHEST_SCORE:
                value = _score(plan, st, node, t)
            else:
                value = 0.0
            if best < 0 or value > best_value:
                best, best_value = node, value
        node = st.node_i[node, N_NEXT]
    if policy == SELECT_FEWEST_FAILURES or policy == SELECT_HIGHEST_SCORE or count == 0:
        return best
    k = _uniform_index(gen, count)  # random: the k-th candidate
    node = st.pool_i[LIST_COLS * lst + P_HEAD]
    while True:
        if not (skip_warming and st.node_i[node, N_WARMING] >= 0):
            if k == 0:
                return node
            k -= 1
        node = st.node_i[node, N_NEXT]


@_helper
def _stop_warming(st, node):
    if st.node_i[node, N_WARMING] >= 0:
        st.node_i[node, N_WARMING] = -1
        st.pool_i[P_WARMING] -= 1


@_helper
def _replenish_warm(plan, st, gen, t):
    """Initialise hot spares until warm standbys (ready or being initialised) reach the target."""
    while _warm_size(st) + st.pool_i[P_WARMING] < plan.warm:
        node = _pick(plan, st, gen, TIER_HOT, True, t)
        if node < 0:
            return
        st.pool_i[P_WARMING] += 1
        if plan.swap_time > 0.0:
            st.node_i[node, N_WARMING] = _push(st, t + plan.swap_time, NORMAL, EV_WARMED, node)
        else:
            st.node_i[node, N_WARMING] = 0
            _warmed(plan, st, node, t)


@_helper
def _warmed(plan, st, node, t):
    """A hot spare finished initialising: a warm standby now."""
    _stop_warming(st, node)
    _list_remove(st, node)
    _list_append(st, TIER_WARM, node)
    st.node_i[node, N_ROLE] = ROLE_WARM
    warm = _warm_size(st)
    _rec_warm(plan, st, t, warm - 1, warm)


@_helper
def _hand_over(st, node, tier, slot, t):
    """The spare becomes the slot's at once; the slot resumes when the hand-over event runs."""
    _stop_warming(st, node)
    st.slot_i[slot, S_SPARE] = node
    st.slot_i[slot, S_TIER] = tier
    st.node_i[node, N_SLOT] = slot
    st.node_i[node, N_ROLE] = ROLE_WORK
    _push(st, t, NORMAL, EV_SLOT_HANDED, slot)


@_helper
def _take_spare(plan, st, gen, slot, t):
    """The selection policy's pick from the best non-empty tier, handed to ``slot``."""
    tier = TIER_WARM
    while st.pool_i[LIST_COLS * tier + P_SIZE] == 0:
        tier += 1
    before, warm_before = _usable(st), _warm_size(st)
    node = _pick(plan, st, gen, tier, False, t)
    _list_remove(st, node)
    _log_pool(plan, st, before, warm_before, t)
    _hand_over(st, node, tier, slot, t)


@_helper
def _wait_push(st, slot, key):
    """Add ``slot`` to the heap of waiting positions under ``key``."""
    heap = st.pool_wait
    i = st.pool_i[P_WAIT_N]
    st.pool_i[P_WAIT_N] = i + 1
    while i > 0:
        parent = (i - 1) >> 1
        if heap[parent, 0] < key:
            break
        heap[i, 0], heap[i, 1] = heap[parent, 0], heap[parent, 1]
        i = parent
    heap[i, 0], heap[i, 1] = key, slot


@_helper
def _wait_pop(st):
    """Remove the first waiting position (highest priority, then first come): (key, slot)."""
    heap = st.pool_wait
    n = st.pool_i[P_WAIT_N] - 1
    st.pool_i[P_WAIT_N] = n
    key0, slot0 = heap[0, 0], heap[0, 1]
    if n > 0:
        key, slot = heap[n, 0], heap[n, 1]
        i = 0
        while True:
            child = 2 * i + 1
            if child >= n:
                break
            if child + 1 < n and heap[child + 1, 0] < heap[child, 0]:
                child += 1
            if heap[child, 0] >= key:
                break
            heap[i, 0], heap[i, 1] = heap[child, 0], heap[child, 1]
            i = child
        heap[i, 0], heap[i, 1] = key, slot
    return key0, slot0


@_helper
def _wait_for_spare(plan, st, slot):
    arrival = st.pool_i[P_ARRIVALS]
    st.pool_i[P_ARRIVALS] = arrival + 1
    _wait_push(st, slot, (plan.slot_rank[slot] << RANK_SHIFT) | arrival)


@_helper
def _set_starved(plan, st, slot, starved, t):
    """Mark the position as waiting with no usable spare (or no longer), telling its job."""
    flag = 1 if starved else 0
    if st.slot_i[slot, S_STARVED] != flag:
        st.slot_i[slot, S_STARVED] = flag
        job = plan.slot_job[slot]
        if job >= 0:
            _job_member_starved(plan, st, job, 1 if starved else -1, t)


@_helper
def _pool_add(plan, st, gen, node, t):
    """A healthy idle spare becomes usable: the first waiting slot takes it at once, else it joins its tier."""
    tier = TIER_COLD if st.node_i[node, N_ROLE] == ROLE_COLD else TIER_HOT
    if st.pool_i[P_WAIT_N] > 0:
        _, slot = _wait_pop(st)
        _set_starved(plan, st, slot, False, t)
        _hand_over(st, node, tier, slot, t)
        return
    before, warm_before = _usable(st), _warm_size(st)
    _list_append(st, tier, node)
    _log_pool(plan, st, before, warm_before, t)
    _replenish_warm(plan, st, gen, t)


@_helper
def _pool_remove(plan, st, gen, node, t):
    """A spare in the pool went down; it is unusable until it is up again (then as a hot spare)."""
    before, warm_before = _usable(st), _warm_size(st)
    _list_remove(st, node)
    _stop_warming(st, node)
    if st.node_i[node, N_ROLE] == ROLE_WARM:
        st.node_i[node, N_ROLE] = ROLE_HOT
    _log_pool(plan, st, before, warm_before, t)
    _replenish_warm(plan, st, gen, t)


@_helper
def _pool_take(plan, st, gen, slot, t):
    """Give ``slot`` a usable spare, now or once one is usable; ranked pools serve at the end of the instant."""
    if plan.ranked:
        _wait_for_spare(plan, st, slot)
        _set_starved(plan, st, slot, False, t)
        if st.pool_i[P_DISPATCH_PENDING] == 0:
            st.pool_i[P_DISPATCH_PENDING] = 1
            _push(st, t, NORMAL, EV_POOL_DISPATCH, 0)
    elif _usable(st) > 0:
        _set_starved(plan, st, slot, False, t)
        _take_spare(plan, st, gen, slot, t)
        _replenish_warm(plan, st, gen, t)
    else:
        _wait_for_spare(plan, st, slot)
        _set_starved(plan, st, slot, True, t)


@_helper
def _dispatch(plan, st, gen, t):
    """Serve waiting positions by priority while spares are usable; tell the rest they starve."""
    st.pool_i[P_DISPATCH_PENDING] = 0
    kept = 0
    while st.pool_i[P_WAIT_N] > 0:
        key, slot = _wait_pop(st)
        if _usable(st) > 0:
            _set_starved(plan, st, slot, False, t)
            _take_spare(plan, st, gen, slot, t)
            continue
        victim = _victim_for(plan, st, slot) if plan.slot_preempt[slot] == 1 else -1
        if victim >= 0:
            _set_starved(plan, st, slot, False, t)
            _preempt(plan, st, victim, slot, t)
            continue
        st.scratch[kept, 0], st.scratch[kept, 1] = key, slot
        kept += 1
    for k in range(kept):
        _wait_push(st, st.scratch[k, 1], st.scratch[k, 0])
    for k in range(kept):
        _set_starved(plan, st, st.scratch[k, 1], True, t)
    _replenish_warm(plan, st, gen, t)


@_helper
def _victim_for(plan, st, slot):
    """The working position of lowest priority below ``slot``'s whose up node can be taken (the last
    such position among equals); -1 when there is none. A position already preempted in this
    instant (detached, its interrupt pending) is not taken twice (SimPy would hand one node to two
    positions and fail on the second interrupt)."""
    victim = -1
    rank = plan.slot_rank[slot]
    for other in range(plan.working):
        other_rank = plan.slot_rank[other]
        if (other_rank <= rank or st.slot_i[other, S_PHASE] != FILLED or st.slot_i[other, S_ATTACHED] == 0
                or st.node_i[st.slot_i[other, S_NODE], N_HOLDS] > 0):
            continue
        if victim < 0 or other_rank >= plan.slot_rank[victim]:
            victim = other
    return victim


@_helper
def _preempt(plan, st, victim, slot, t):
    """Take ``victim``'s node for ``slot``: it joins after swap_time; the victim refills from the pool."""
    node = st.slot_i[victim, S_NODE]
    st.slot_i[victim, S_ATTACHED] = 0
    st.slot_i[victim, S_CAUSE] = plan.preemption_cause
    st.slot_i[victim, S_NOTICED] = 1
    st.slot_i[victim, S_SWAP_SEQ] = -1
    _push(st, t, URGENT, EV_SLOT_INTERRUPT, victim)
    _hand_over(st, node, TIER_HOT, slot, t)


# ---------------------------------------------------------------------------------------------
# crews (model/nodes.py Crews): FIFO, granted as a simpy.Resource would grant them


@_helper
def _grant_next(st, pool, limit, t):
    crew = st.crew_i
    if crew[pool, C_QSIZE] > 0 and crew[pool, C_GRANTED] < limit:
        crew[pool, C_GRANTED] += 1
        head = crew[pool, C_QHEAD]
        node = st.crew_queue[pool, head]
        crew[pool, C_QHEAD] = (head + 1) % st.crew_queue.shape[1]
        crew[pool, C_QSIZE] -= 1
        _push(st, t, NORMAL, EV_CREW_GRANTED, node)


@_helper
def _set_busy(plan, st, pool, busy, t):
    _rec_crews(plan, st, t, pool, st.crew_i[pool, C_BUSY], busy)
    st.crew_i[pool, C_BUSY] = busy


@_helper
def _pool_event(plan, st, gen, etype, target, t):
    """A released crew passes to the head of its queue; the ranked dispatch of the spare pool."""
    if etype == EV_CREW_RELEASED:
        _grant_next(st, target, plan.crew_limit[target], t)
    else:
        _dispatch(plan, st, gen, t)


# ---------------------------------------------------------------------------------------------
# the repair shop (model/repair.py) inside each node's own cycle (model/nodes.py node_life)


@_helper
def _set_repair(plan, st, node, to, cause, t):
    _rec_repair(plan, st, t, node, st.node_i[node, N_REPAIR], to, cause)
    st.node_i[node, N_REPAIR] = to


@_helper
def _node_fails(plan, st, gen, node, t):
    """The proposed failure strikes (RepairShop.after_failure up to detection)."""
    mode, recurred = _fire(plan, st, gen, node)
    st.node_i[node, N_MODE] = mode
    _set_repair(plan, st, node, R_FAILED, mode, t)
    if recurred:
        _rec_event(plan, st, t, node, E_RECURRED, mode)
    _strike(plan, st, gen, node, mode, True, False, t)
    if plan.detection > 0.0:
        _push(st, t + plan.detection, NORMAL, EV_NODE_DETECTED, node)
    else:
        _node_detected(plan, st, gen, node, t)


@_helper
def _node_detected(plan, st, gen, node, t):
    """Recovery by the mode's rule: reboot; or diagnosis, then blame elsewhere or the repair stages."""
    mode = st.node_i[node, N_MODE]
    if plan.mode_recovery[mode] == RECOVERY_REBOOT:
        _blame(plan, st, node, t)
        _set_repair(plan, st, node, R_REBOOTING, mode, t)
        _push(st, t + _draw(plan, gen, plan.mode_ttr[mode]), NORMAL, EV_REBOOT_DONE, node)
        return
    if plan.diag_probability < 1.0 and gen.random() >= plan.diag_probability:
        _rec_event(plan, st, t, node, E_UNDIAGNOSED, mode)
        _set_repair(plan, st, node, R_REBOOTING, mode, t)
        hours = _draw(plan, gen, plan.diag_reboot_law)
        if hours > 0.0:
            _push(st, t + hours, NORMAL, EV_UNDIAGNOSED_DONE, node)
        else:
            _undiagnosed_done(plan, st, gen, node, t)
        return
    if plan.diag_wrong_node > 0.0 and gen.random() < plan.diag_wrong_node:
        innocent = _pick_innocent(plan, st, gen, node)
        if innocent >= 0:
            _rec_event(plan, st, t, innocent, E_MISDIAGNOSED, mode)
            _leave_fault(plan, st, gen, node, mode)
            _set_repair(plan, st, node, R_OK, mode, t)
            _release(plan, st, gen, node, t)
            st.node_i[innocent, N_BLAME_MODE] = mode
            _push(st, t, URGENT, EV_NODE_BLAMED, innocent)
            _schedule_failure(plan, st, gen, node, t)
            return
    _blame(plan, st, node, t)
    st.node_i[node, N_REAL_FAULT] = 1
    _enter_stage(plan, st, gen, node, plan.mode_stage_first[mode], t)


@_helper
def _pick_innocent(plan, st, gen, faulty):
    """Cluster._pick_innocent: an up, unrepaired node in service in a working position of the faulty
    node's job (or of any position), uniformly; -1 when there is none."""
    slot = st.node_i[faulty, N_SLOT]
    job = plan.slot_job[slot] if slot >= 0 else -1
    first, last = 0, plan.working
    if job >= 0:
        first = plan.job_first[job]
        last = first + plan.job_size[job]
    count = 0
    for s in range(first, last):
        if _innocent(st, s, faulty):
            count += 1
    if count == 0:
        return -1
    k = _uniform_index(gen, count)
    for s in range(first, last):
        if _innocent(st, s, faulty):
            if k == 0:
                return st.slot_i[s, S_NODE]
            k -= 1
    return -1


@_helper
def _innocent(st, slot, faulty):
    """Could the node in ``slot`` be blamed for ``faulty``'s failure (not if already blamed this instant)?"""
    node = st.slot_i[slot, S_NODE]
    return (st.slot_i[slot, S_PHASE] == FILLED and node != faulty and st.node_i[node, N_SLOT] == slot
            and st.node_i[node, N_HOLDS] == 0 and st.node_i[node, N_REPAIR] == R_OK
            and st.node_i[node, N_BLAME_MODE] < 0 and st.node_i[node, N_OPERATING] == 1)


@_helper
def _node_blamed(plan, st, gen, node, t):
    """An up, innocent node is blamed for another's failure: taken out at once and repaired."""
    _advance(plan, st, node, t - st.node_f[node, N_OPERATING_SINCE])
    st.node_i[node, N_FAIL_SEQ] = -1
    mode = st.node_i[node, N_BLAME_MODE]
    st.node_i[node, N_BLAME_MODE] = -1  # no blame pending any more
    st.node_i[node, N_MODE] = mode
    _strike(plan, st, gen, node, mode, False, True, t)
    _blame(plan, st, node, t)
    st.node_i[node, N_REAL_FAULT] = 0
    _enter_stage(plan, st, gen, node, plan.mode_stage_first[mode], t)


@_helper
def _enter_stage(plan, st, gen, node, stage, t):
    """The node queues for ``stage``'s crews (or starts at once when they are unlimited)."""
    mode = st.node_i[node, N_MODE]
    st.node_i[node, N_STAGE] = stage
    _set_repair(plan, st, node, R_WAITING, mode, t)
    cause = plan.stage_cause[stage]
    if cause >= 0:
        _rec_event(plan, st, t, node, E_STAGE_ENTERED, cause)
    pool = plan.stage_pool[stage]
    limit = plan.crew_limit[pool]
    if limit == UNLIMITED:
        _set_repair(plan, st, node, R_REPAIRING, mode, t)
        _push(st, t + _draw(plan, gen, plan.stage_law[stage]), NORMAL, EV_STAGE_DONE, node)
        return
    crew = st.crew_i
    st.crew_queue[pool, (crew[pool, C_QHEAD] + crew[pool, C_QSIZE]) % st.crew_queue.shape[1]] = node
    crew[pool, C_QSIZE] += 1
    _grant_next(st, pool, limit, t)


@_helper
def _crew_granted(plan, st, gen, node, t):
    stage = st.node_i[node, N_STAGE]
    pool = plan.stage_pool[stage]
    _set_repair(plan, st, node, R_REPAIRING, st.node_i[node, N_MODE], t)
    _set_busy(plan, st, pool, st.crew_i[pool, C_BUSY] + 1, t)
    _push(st, t + _draw(plan, gen, plan.stage_law[stage]), NORMAL, EV_STAGE_DONE, node)


@_helper
def _stage_done(plan, st, gen, node, t):
    """A stage's time is over: escalate to the next stage, or conclude (maybe falsely)."""
    stage = st.node_i[node, N_STAGE]
    mode = st.node_i[node, N_MODE]
    pool = plan.stage_pool[stage]
    if plan.crew_limit[pool] != UNLIMITED:
        _set_busy(plan, st, pool, st.crew_i[pool, C_BUSY] - 1, t)
        st.crew_i[pool, C_GRANTED] -= 1
        _push(st, t, NORMAL, EV_CREW_RELEASED, pool)
    cause = plan.stage_cause[stage]
    real = st.node_i[node, N_REAL_FAULT] == 1
    escalate = plan.stage_escalate[stage]
    if escalate > 0.0 and gen.random() < escalate:
        _rec_event(plan, st, t, node, E_ESCALATED, cause)
        if stage + 1 < plan.mode_stage_first[mode] + plan.mode_stage_count[mode]:
            _enter_stage(plan, st, gen, node, stage + 1, t)
            return
        fixed = True
    else:
        fixed = True
        false_success = plan.stage_false_success[stage]
        if false_success > 0.0 and gen.random() < false_success:
            if real:
                _rec_event(plan, st, t, node, E_FALSE_SUCCESS, cause)
            fixed = False
    if real:
        if fixed:
            st.latent_stamp[node, mode] = -1
            if plan.cure_lemons and st.node_i[node, N_LEMON] == 1:
                st.node_i[node, N_LEMON] = 0
                _row(st, t, K_LEMON, node, 1, 0, NO_CAUSE)
        else:
            _leave_fault(plan, st, gen, node, mode)
    _finish(plan, st, gen, node, t)


@_helper
def _undiagnosed_done(plan, st, gen, node, t):
    """An undiagnosed node is back from its reboot with its fault in place."""
    mode = st.node_i[node, N_MODE]
    _leave_fault(plan, st, gen, node, mode)
    _set_repair(plan, st, node, R_OK, mode, t)
    _release(plan, st, gen, node, t)
    _schedule_failure(plan, st, gen, node, t)


@_helper
def _finish(plan, st, gen, node, t):
    """The recovery is over: back into service, or retired for good (held down forever)."""
    mode = st.node_i[node, N_MODE]
    if _should_retire(plan, st, node, t):
        _set_repair(plan, st, node, R_RETIRED, mode, t)
        st.node_i[node, N_ROLE] = ROLE_RETIRED
        _node_back(st, node, t)  # a position waiting for it takes a spare instead
        return
    _set_repair(plan, st, node, R_OK, mode, t)
    _release(plan, st, gen, node, t)
    _schedule_failure(plan, st, gen, node, t)


@_helper
def _node_event(plan, st, gen, etype, node, key, t):
    if etype == EV_NODE_FAIL:
        if st.node_i[node, N_FAIL_SEQ] == (key & SEQ_MASK):
            _node_fails(plan, st, gen, node, t)
    elif etype == EV_NODE_DETECTED:
        _node_detected(plan, st, gen, node, t)
    elif etype == EV_CREW_GRANTED:
        _crew_granted(plan, st, gen, node, t)
    elif etype == EV_STAGE_DONE:
        _stage_done(plan, st, gen, node, t)
    elif etype == EV_REBOOT_DONE:
        _finish(plan, st, gen, node, t)
    elif etype == EV_UNDIAGNOSED_DONE:
        _undiagnosed_done(plan, st, gen, node, t)
    elif etype == EV_NODE_BLAMED:
        _node_blamed(plan, st, gen, node, t)
    elif etype == EV_WARMED:
        if st.node_i[node, N_WARMING] == (key & SEQ_MASK):
            _warmed(plan, st, node, t)
    else:  # EV_NODE_POWERED: a provisioned cold spare starts operating and ageing
        _start_clocks(plan, st, gen, node)
        _schedule_failure(plan, st, gen, node, t)


# ---------------------------------------------------------------------------------------------
# working positions (model/spares.py slot_life and _refill)


@_helper
def _set_slot(plan, st, slot, state, cause, t):
    """Log the slot's new state and tell its job."""
    before = st.slot_i[slot, S_PHASE]
    _rec_slot(plan, st, t, slot, before, state, cause)
    st.slot_i[slot, S_PHASE] = state
    job = plan.slot_job[slot]
    if job >= 0:
        _job_member_changed(plan, st, job, slot, before, cause, t)


@_helper
def _give_back(st, spare, tier):
    """A spare that failed before joining: it rejoins the pool (cold spares stay cold) once up."""
    st.node_i[spare, N_SLOT] = -1
    if st.node_i[spare, N_ROLE] != ROLE_RETIRED:
        st.node_i[spare, N_ROLE] = ROLE_COLD if tier == TIER_COLD else ROLE_LOOSE


@_helper
def _slot_detected(plan, st, gen, slot, t):
    node = st.slot_i[slot, S_NODE]
    mine = st.node_i[node, N_SLOT] == slot
    if mine and st.node_i[node, N_HOLDS] == 0:  # back before anyone noticed
        _set_slot(plan, st, slot, FILLED, NO_CAUSE, t)
        st.slot_i[slot, S_ATTACHED] = 1
        return
    _set_slot(plan, st, slot, WAITING, st.slot_i[slot, S_CAUSE], t)
    if plan.slot_own[slot] == 1 and mine and st.node_i[node, N_ROLE] != ROLE_RETIRED:
        st.slot_i[slot, S_NODE_BACK] = NODE_BACK_WAITING
        return
    _let_go(plan, st, gen, slot, t)


@_helper
def _let_go(plan, st, gen, slot, t):
    """The position gives its node up and takes a spare."""
    node = st.slot_i[slot, S_NODE]
    if st.node_i[node, N_SLOT] == slot:
        st.node_i[node, N_SLOT] = -1
        if st.node_i[node, N_ROLE] != ROLE_RETIRED:
            st.node_i[node, N_ROLE] = ROLE_LOOSE
    _pool_take(plan, st, gen, slot, t)


@_helper
def _slot_event(plan, st, gen, etype, slot, key, t):
    slots = st.slot_i
    if etype == EV_SLOT_INTERRUPT:
        if slots[slot, S_PHASE] == FILLED:
            _set_slot(plan, st, slot, EMPTY, slots[slot, S_CAUSE], t)
            if plan.detection > 0.0 and slots[slot, S_NOTICED] == 0:
                _push(st, t + plan.detection, NORMAL, EV_SLOT_DETECTED, slot)
            else:
                _slot_detected(plan, st, gen, slot, t)
        else:  # the spare failed during its swap
            _give_back(st, slots[slot, S_SPARE], slots[slot, S_TIER])
            _set_slot(plan, st, slot, WAITING, slots[slot, S_CAUSE], t)
            _pool_take(plan, st, gen, slot, t)
    elif etype == EV_SLOT_DETECTED:
        _slot_detected(plan, st, gen, slot, t)
    elif etype == EV_SLOT_HANDED:
        spare, tier = slots[slot, S_SPARE], slots[slot, S_TIER]
        if st.node_i[spare, N_HOLDS] > 0:  # failed the instant it was handed over
            _give_back(st, spare, tier)
            _pool_take(plan, st, gen, slot, t)
            return
        _set_slot(plan, st, slot, SWAPPING, NO_CAUSE, t)
        slots[slot, S_ATTACHED] = 1
        join = plan.standby_swap_time if tier == TIER_WARM else (plan.provisioning if tier == TIER_COLD
                                                                  else plan.swap_time)
        slots[slot, S_SWAP_SEQ] = _push(st, t + join, NORMAL, EV_SWAP_DONE, slot)
    elif etype == EV_SWAP_DONE:
        if slots[slot, S_SWAP_SEQ] != (key & SEQ_MASK):
            return  # the swap this event would end was interrupted
        spare = slots[slot, S_SPARE]
        if slots[slot, S_TIER] == TIER_COLD and plan.modes > 0:
            _push(st, t, NORMAL, EV_NODE_POWERED, spare)
        slots[slot, S_NODE] = spare
        slots[slot, S_SWAP_SEQ] = -1
        _set_slot(plan, st, slot, FILLED, NO_CAUSE, t)
    else:  # EV_SLOT_NODE_BACK: its own node is up again (or retired)
        slots[slot, S_NODE_BACK] = NODE_BACK_NONE
        if st.node_i[slots[slot, S_NODE], N_HOLDS] == 0:
            slots[slot, S_ATTACHED] = 1
            _set_slot(plan, st, slot, FILLED, NO_CAUSE, t)
        else:
            _let_go(plan, st, gen, slot, t)


# ---------------------------------------------------------------------------------------------
# failure domains (model/domains.py domain_life)


@_helper
def _domain_event(plan, st, gen, etype, domain, t):
    cause = plan.domain_cause[domain]
    first, last = plan.domain_ptr[domain], plan.domain_ptr[domain + 1]
    if etype == EV_DOMAIN_FAIL:
        _row(st, t, K_DOMAIN, domain, R_OK, R_FAILED, cause)
        for k in range(first, last):
            _strike(plan, st, gen, plan.domain_nodes[k], cause, True, False, t)
        if plan.detection > 0.0:
            _push(st, t + plan.detection, NORMAL, EV_DOMAIN_DETECTED, domain)
            return
        etype = EV_DOMAIN_DETECTED
    if etype == EV_DOMAIN_DETECTED:
        _row(st, t, K_DOMAIN, domain, R_FAILED, R_REPAIRING, cause)
        _push(st, t + _draw(plan, gen, plan.domain_ttr[domain]), NORMAL, EV_DOMAIN_REPAIRED, domain)
    else:  # EV_DOMAIN_REPAIRED
        _row(st, t, K_DOMAIN, domain, R_REPAIRING, R_OK, cause)
        for k in range(first, last):
            _release(plan, st, gen, plan.domain_nodes[k], t)
        _push(st, t + _draw(plan, gen, plan.domain_ttf[domain]), NORMAL, EV_DOMAIN_FAIL, domain)


# ---------------------------------------------------------------------------------------------
# training jobs (workloads/training.py): job_life as a state machine
#
# A job's process waits at one point at a time, its phase: for its members (J_READY), or for one
# timeout — the restart, a compute segment, a blocking checkpoint, the wait for the previous
# persist, an async snapshot, the last persist, or continuous computing to the end of the work.
# J_TOKEN is the sequence number of the pending timeout, so an interrupted one is ignored when it
# comes due. A member lost while the job runs sends one urgent interrupt (the first cause counts),
# as TrainingJob._interrupt does. Slow members (gray failures) are refused by the fast engine, so
# the job's speed is its share of members (shrink).

# What a job's process waits for (State.job_i[:, J_PHASE]).
(PH_MEMBERS, PH_RESTART, PH_COMPUTE, PH_CHECKPOINT, PH_PERSIST_WAIT, PH_SNAPSHOT, PH_FINISH,
 PH_CONTINUOUS) = (np.int64(v) for v in range(8))
READY_NONE, READY_WAITING, READY_DUE = (np.int64(v) for v in range(3))


@_helper
def _job_set_state(plan, st, job, state, cause, t):
    _rec_job(plan, st, t, job, st.job_i[job, J_STATE], state, cause)
    st.job_i[job, J_STATE] = state


@_helper
def _job_set_speed(plan, st, job, speed, t):
    old = st.job_f[job, JF_SPEED]
    if speed != old:
        _row(st, t, K_JOB_SPEED, job, old, speed, NO_CAUSE)
        st.job_f[job, JF_SPEED] = speed


@_helper
def _job_credit(plan, st, job, hours, t):
    if hours > 0.0:
        credited = st.job_f[job, JF_CREDITED]
        _rec_work(plan, st, t, job, credited, credited + hours)
        st.job_f[job, JF_CREDITED] = credited + hours


@_helper
def _job_remaining(plan, st, job):
    jf = st.job_f
    return plan.job_work[job] - jf[job, JF_CREDITED] - jf[job, JF_PERSISTING] - jf[job, JF_COMPUTED]


@_helper
def _job_wait(st, job, when, phase):
    """The job's process waits for a timeout until ``when``: on the job's own timer (cancelled
    when it is interrupted, where a heap entry would linger until it came due), or in the
    current instant's ring."""
    st.job_i[job, J_PHASE] = phase
    if when == st.clock[0]:
        st.job_i[job, J_TOKEN] = _push(st, when, NORMAL, EV_JOB_TIMEOUT, job)
        return
    seq = st.ctr[CT_SEQ]
    st.ctr[CT_SEQ] = seq + 1
    st.job_i[job, J_TOKEN] = seq
    st.bits_f[0] = when
    _set_timer(st, job, st.bits_i[0], (NORMAL << 62) | seq)


@_helper
def _job_flush(plan, st, job, t):
    """Continuous checkpointing: credit what was computed up to now."""
    if plan.job_mode[job] == CKPT_CONTINUOUS and st.job_i[job, J_STATE] == J_COMPUTING:
        _job_credit(plan, st, job, (t - st.job_f[job, JF_RUN_STARTED]) * st.job_f[job, JF_SPEED], t)
        st.job_f[job, JF_RUN_STARTED] = t


# --- notifications from member positions -------------------------------------------------------


@_helper
def _job_members_ready(plan, st, job):
    size = plan.job_size[job]
    filled = st.job_i[job, J_FILLED]
    if plan.job_elastic[job] == 0:
        return filled == size
    # go on without a member only once its failure is noticed and no spare is coming for it
    return size - filled - st.job_i[job, J_STARVED] == 0 and filled >= plan.job_min_nodes[job]


@_helper
def _job_maybe_ready(plan, st, job, t):
    if st.job_i[job, J_READY] == READY_WAITING and _job_members_ready(plan, st, job):
        st.job_i[job, J_READY] = READY_DUE
        _push(st, t, NORMAL, EV_JOB_READY, job)


@_helper
def _job_member_changed(plan, st, job, slot, before, cause, t):
    """A member position changed state: stop on losing an active member, else maybe restart."""
    phase = st.slot_i[slot, S_PHASE]
    if before == FILLED:
        st.job_i[job, J_FILLED] -= 1
    if phase == FILLED:
        st.job_i[job, J_FILLED] += 1
    state = st.job_i[job, J_STATE]
    if state == J_DONE:
        return
    if phase == EMPTY and st.slot_i[slot, S_ACTIVE] == 1 and state != J_WAITING:
        if st.job_i[job, J_PENDING] == 0:
            st.job_i[job, J_PENDING] = 1
            st.job_i[job, J_PENDING_CAUSE] = cause
            _push(st, t, URGENT, EV_JOB_INTERRUPT, job)
    else:
        _job_maybe_ready(plan, st, job, t)


@_helper
def _job_member_starved(plan, st, job, delta, t):
    """A member position waits with no usable spare (or no longer): an elastic job may go on without it."""
    st.job_i[job, J_STARVED] += delta
    if st.job_i[job, J_STATE] != J_DONE:
        _job_maybe_ready(plan, st, job, t)


# --- the run (job_life) ------------------------------------------------------------------------
# job_life's steps between two waits, as continuations of one loop (no recursion: numba inlines
# every helper into the event loop)

(GO_WAIT_MEMBERS, GO_MEMBERS_OK, GO_RUN, GO_CONTINUOUS, GO_NEXT_SEGMENT, GO_CHECKPOINT, GO_SYNC_CHECKPOINTED,
 GO_SNAPSHOT, GO_SNAPSHOTTED, GO_CHECKPOINTED, GO_DONE, GO_STOP) = (np.int64(v) for v in range(12))


@_helper
def _job_go(plan, st, job, step, t):
    """Run job_life from ``step`` until it waits (a timeout, its members) or is done."""
    ji, jf = st.job_i, st.job_f
    while step != GO_STOP:
        if step == GO_WAIT_MEMBERS:
            if _job_members_ready(plan, st, job):
                step = GO_MEMBERS_OK
            else:
                ji[job, J_PHASE] = PH_MEMBERS
                ji[job, J_READY] = READY_WAITING
                step = GO_STOP
        elif step == GO_MEMBERS_OK:  # an elastic job runs on the positions filled now; restart
            size = plan.job_size[job]
            if plan.job_elastic[job] == 1:
                first = plan.job_first[job]
                for slot in range(first, first + size):
                    st.slot_i[slot, S_ACTIVE] = 1 if st.slot_i[slot, S_PHASE] == FILLED else 0
                ji[job, J_ACTIVE] = ji[job, J_FILLED]
            _job_set_speed(plan, st, job, 1.0 * ji[job, J_ACTIVE] / size, t)
            if ji[job, J_RESTARTED] == 1:
                _job_set_state(plan, st, job, J_RESTARTING, NO_CAUSE, t)
                _job_wait(st, job, t + plan.job_restart[job], PH_RESTART)
                step = GO_STOP
            else:
                ji[job, J_RESTARTED] = 1
                step = GO_RUN
        elif step == GO_RUN:
            if plan.job_mode[job] == CKPT_CONTINUOUS:
                _job_set_state(plan, st, job, J_COMPUTING, NO_CAUSE, t)
                step = GO_CONTINUOUS
            else:
                step = GO_NEXT_SEGMENT
        elif step == GO_CONTINUOUS:
            credited = jf[job, JF_CREDITED]
            if credited < plan.job_work[job]:
                jf[job, JF_RUN_STARTED] = t
                _job_wait(st, job, t + (plan.job_work[job] - credited) / jf[job, JF_SPEED], PH_CONTINUOUS)
                step = GO_STOP
            else:
                step = GO_DONE
        elif step == GO_NEXT_SEGMENT:
            remaining = _job_remaining(plan, st, job)
            if not remaining > 0.0:  # nothing left to compute: job_life's outer loop waits and restarts
                step = GO_WAIT_MEMBERS
                continue
            _job_set_state(plan, st, job, J_COMPUTING, NO_CAUSE, t)
            target = min(plan.job_segment[job], remaining)
            jf[job, JF_TARGET] = target
            computed = jf[job, JF_COMPUTED]
            if computed < target:
                jf[job, JF_STARTED] = t
                _job_wait(st, job, t + (target - computed) / jf[job, JF_SPEED], PH_COMPUTE)
                step = GO_STOP
            else:
                step = GO_CHECKPOINT
        elif step == GO_CHECKPOINT:  # sync: blocking; async: a snapshot, then a persist
            _job_set_state(plan, st, job, J_CHECKPOINTING, NO_CAUSE, t)
            jf[job, JF_SEGMENT] = jf[job, JF_COMPUTED]
            step = GO_STOP
            if plan.job_mode[job] == CKPT_SYNC:
                if plan.job_checkpoint[job] > 0.0:
                    _job_wait(st, job, t + plan.job_checkpoint[job], PH_CHECKPOINT)
                else:
                    step = GO_SYNC_CHECKPOINTED
            else:
                done_at = jf[job, JF_PERSIST_DONE_AT]
                if t < done_at:  # the previous persist must finish before the next snapshot
                    _job_wait(st, job, t + (done_at - t), PH_PERSIST_WAIT)
                else:
                    step = GO_SNAPSHOT
        elif step == GO_SYNC_CHECKPOINTED:
            jf[job, JF_COMPUTED] = 0.0
            _job_credit(plan, st, job, jf[job, JF_SEGMENT], t)
            step = GO_CHECKPOINTED
        elif step == GO_SNAPSHOT:
            if plan.job_snapshot[job] > 0.0:
                _job_wait(st, job, t + plan.job_snapshot[job], PH_SNAPSHOT)
                step = GO_STOP
            else:
                step = GO_SNAPSHOTTED
        elif step == GO_SNAPSHOTTED:  # the segment persists in the background
            segment = jf[job, JF_SEGMENT]
            jf[job, JF_COMPUTED] = 0.0
            jf[job, JF_PERSISTING] += segment
            cost = plan.job_checkpoint[job]
            jf[job, JF_PERSIST_DONE_AT] = t + cost
            if cost > 0.0:
                jf[job, JF_PERSIST_HOURS] = segment
                ji[job, J_PERSIST_TOKEN] = _push(st, t + cost, NORMAL, EV_JOB_PERSISTED, job)
            else:
                _job_persisted(plan, st, job, segment, t)
            step = GO_CHECKPOINTED
        elif step == GO_CHECKPOINTED:  # done (once the last persist completes), grow back, or go on
            if _job_remaining(plan, st, job) <= 0.0:
                done_at = jf[job, JF_PERSIST_DONE_AT]
                if t < done_at:
                    _job_set_state(plan, st, job, J_CHECKPOINTING, NO_CAUSE, t)
                    _job_wait(st, job, t + (done_at - t), PH_FINISH)
                    step = GO_STOP
                else:
                    step = GO_DONE
            elif plan.job_elastic[job] == 1 and ji[job, J_FILLED] > ji[job, J_ACTIVE]:
                step = GO_WAIT_MEMBERS
            else:
                step = GO_NEXT_SEGMENT
        else:  # GO_DONE
            _job_set_state(plan, st, job, J_DONE, NO_CAUSE, t)
            step = GO_STOP


@_helper
def _job_persisted(plan, st, job, hours, t):
    """A persist completed: its segment counts."""
    if st.job_i[job, J_STATE] != J_DONE:
        st.job_f[job, JF_PERSISTING] -= hours
        _job_credit(plan, st, job, hours, t)


@_helper
def _job_resume_step(plan, st, job, t):
    """The job's pending timeout came due: the step it goes on from."""
    phase = st.job_i[job, J_PHASE]
    jf = st.job_f
    if phase == PH_RESTART:
        return GO_RUN
    if phase == PH_COMPUTE:
        jf[job, JF_COMPUTED] = jf[job, JF_TARGET]
        return GO_CHECKPOINT
    if phase == PH_CHECKPOINT:
        return GO_SYNC_CHECKPOINTED
    if phase == PH_PERSIST_WAIT:
        return GO_SNAPSHOT
    if phase == PH_SNAPSHOT:
        return GO_SNAPSHOTTED
    if phase == PH_FINISH:
        return GO_DONE
    # PH_CONTINUOUS: the work is done
    _job_credit(plan, st, job, plan.job_work[job] - jf[job, JF_CREDITED], t)
    return GO_CONTINUOUS


@_helper
def _job_interrupted(plan, st, job, t):
    """A member was lost: what was computed since the last checkpoint is lost; wait, then restart."""
    st.job_i[job, J_PENDING] = 0
    cause = st.job_i[job, J_PENDING_CAUSE]
    jf = st.job_f
    phase = st.job_i[job, J_PHASE]
    if phase == PH_COMPUTE:
        jf[job, JF_COMPUTED] += (t - jf[job, JF_STARTED]) * jf[job, JF_SPEED]
    st.job_i[job, J_TOKEN] = -1
    if st.job_i[job, J_TIMER_BITS] < INF_BITS:
        _set_timer(st, job, INF_BITS, 0)
    _job_flush(plan, st, job, t)
    lost = jf[job, JF_COMPUTED] + jf[job, JF_PERSISTING]
    _rec_lost(plan, st, t, job, lost, cause)
    jf[job, JF_COMPUTED] = 0.0
    jf[job, JF_PERSISTING] = 0.0
    st.job_i[job, J_PERSIST_TOKEN] = -1  # a persist in flight no longer counts
    _job_set_state(plan, st, job, J_WAITING, cause, t)


@_helper
def _job_event(plan, st, etype, job, key, t):
    step = GO_STOP
    if etype == EV_JOB_TIMEOUT:
        if st.job_i[job, J_TOKEN] == (key & SEQ_MASK):
            step = _job_resume_step(plan, st, job, t)
    elif etype == EV_JOB_INTERRUPT:
        _job_interrupted(plan, st, job, t)
        step = GO_WAIT_MEMBERS
    elif etype == EV_JOB_READY:  # checked again on waking: a member may be lost that instant
        st.job_i[job, J_READY] = READY_NONE
        step = GO_WAIT_MEMBERS
    elif etype == EV_JOB_PERSISTED:
        if st.job_i[job, J_PERSIST_TOKEN] == (key & SEQ_MASK):
            _job_persisted(plan, st, job, st.job_f[job, JF_PERSIST_HOURS], t)
    else:  # EV_JOB_FLUSH: the warm-up
        _job_flush(plan, st, job, t)
    _job_go(plan, st, job, step, t)


@_helper
def _job_start(plan, st, job, t):
    """job_life's first step, at time 0: every member is filled."""
    size = plan.job_size[job]
    st.job_i[job, J_STATE] = J_WAITING
    st.job_i[job, J_FILLED] = size
    st.job_i[job, J_ACTIVE] = size
    st.job_i[job, J_TOKEN] = -1
    st.job_i[job, J_PERSIST_TOKEN] = -1
    st.job_f[job, JF_SPEED] = 1.0
    st.job_i[job, J_TIMER_BITS] = INF_BITS
    st.job_f[job, JF_PERSIST_DONE_AT] = -math.inf
    _job_go(plan, st, job, GO_WAIT_MEMBERS, t)


@_helper
def _job_close(plan, st, job, horizon):
    """At the horizon: credit continuous work up to now, close the job's time-weighted measures."""
    _job_flush(plan, st, job, horizon)
    _job_state_hours(plan, st, job, st.job_i[job, J_STATE], horizon)
    block = job * JOB_ACC_COLS
    ja = st.job_acc
    _level_to(ja, block, horizon, ja[block + L_VALUE], plan.warmup, ja[block + JA_END])


# ---------------------------------------------------------------------------------------------
# one replication


def _new_state_entry(fingerprint: int):
    """The jitted ``_new_state``: a closure over ``fingerprint``, which numba's cache index keys on."""

    @njit(cache=True, nogil=True)
    def _new_state(plan, gen, heap_capacity, trace):
        """A replication's initial state: every table allocated, every component in its first state."""
        nodes, working, jobs = plan.nodes, plan.working, plan.job_size.shape[0]
        node_i = np.full((nodes, NODE_I_COLS), -1, dtype=np.int64)
        node_f = np.zeros((nodes, NODE_F_COLS))
        slot_i = np.zeros((working, SLOT_I_COLS), dtype=np.int64)
        pools = plan.crew_limit.shape[0]
        pool_i = np.zeros(POOL_I_COLS, dtype=np.int64)
        for tier in (TIER_WARM, TIER_HOT, TIER_COLD):
            pool_i[LIST_COLS * tier + P_HEAD] = -1
            pool_i[LIST_COLS * tier + P_TAIL] = -1
        bits = np.zeros(1)
        ring = plan.retire_max_failures if plan.retirement == RETIRE_THRESHOLD else 0
        st = State(
            node_i=node_i, node_f=node_f, remaining=np.zeros((nodes, plan.parts)),
            latent=np.zeros((nodes, plan.modes)), latent_stamp=np.full((nodes, plan.modes), -1, dtype=np.int64),
            blame_times=np.zeros((nodes, ring)),
            slot_i=slot_i, slot_f=np.full(max(working, 1), -1.0),
            crew_i=np.zeros((pools, CREW_I_COLS), dtype=np.int64), crew_queue=np.zeros((pools, nodes), dtype=np.int64),
            pool_i=pool_i, pool_wait=np.zeros((max(working, 1), 2), dtype=np.int64),
            scratch=np.zeros((max(working, 1), 2), dtype=np.int64),
            job_i=np.zeros((jobs, JOB_I_COLS), dtype=np.int64), job_f=np.zeros((jobs, JOB_F_COLS)),
            heap=np.zeros((heap_capacity, 4), dtype=np.int64), bits_f=bits, bits_i=bits.view(np.int64),
            ring_key=np.zeros((2, heap_capacity), dtype=np.int64),
            ring_item=np.zeros((2, heap_capacity), dtype=np.int64),
            clock=np.zeros(1),
            ctr=np.zeros(CTR_COLS, dtype=np.int64), acc=np.zeros(ACC_SIZE), cause_count=np.zeros(plan.causes),
            crew_acc=np.zeros(pools * CREW_ACC_COLS), job_acc=np.zeros(jobs * JOB_ACC_COLS),
            job_cause=np.zeros((jobs, plan.preemption_cause + 1)), trace=trace,
        )
        for node in range(nodes):
            node_i[node, N_HOLDS] = 0
            node_i[node, N_ROLE] = plan.node_role[node]
            node_i[node, N_SLOT] = node if node < working else -1
            node_i[node, N_REPAIR] = R_OK
            node_i[node, N_LEMON] = 0
            node_i[node, N_BLAMED] = 0
            node_i[node, N_FAIL_SEQ] = -1
            node_i[node, N_OPERATING] = 0
            node_f[node, N_SCORE_BASE] = plan.score_initial
        for slot in range(working):
            slot_i[slot, S_NODE] = slot
            slot_i[slot, S_ATTACHED] = 1
            slot_i[slot, S_PHASE] = FILLED
            slot_i[slot, S_SPARE] = -1
            slot_i[slot, S_SWAP_SEQ] = -1
            slot_i[slot, S_ACTIVE] = 1
        for node in range(working, nodes):  # SparePool(hot, cold): in node order, the first hot ones warm
            if plan.node_role[node] == ROLE_COLD:
                _list_append(st, TIER_COLD, node)
            elif node - working < plan.warm:
                node_i[node, N_ROLE] = ROLE_WARM
                _list_append(st, TIER_WARM, node)
            else:
                _list_append(st, TIER_HOT, node)
        acc = st.acc
        start = plan.warmup
        for block, value, below in ((A_UP, float(nodes), -1.0), (A_CAPACITY, float(working), float(working)),
                                    (A_POOL, float(plan.hot + plan.cold), 1.0), (A_WARM, float(plan.warm), -1.0)):
            acc[block + L_VALUE] = value
            acc[block + L_LAST] = start
            acc[block + L_BELOW] = below
        for pool in range(pools):
            st.crew_acc[pool * CREW_ACC_COLS + L_LAST] = start
            st.crew_acc[pool * CREW_ACC_COLS + L_BELOW] = -1.0
        for job in range(jobs):
            block = job * JOB_ACC_COLS
            st.job_acc[block + L_VALUE] = float(plan.job_size[job])
            st.job_acc[block + L_LAST] = start
            st.job_acc[block + L_BELOW] = -1.0
            st.job_acc[block + JA_END] = plan.horizon
            st.job_acc[block + JA_STATE_LAST] = start
            st.job_acc[block + JA_DONE_AT] = math.inf
        for job in range(jobs):
            st.job_i[job, J_TIMER_BITS] = INF_BITS
        st.ctr[CT_TIMER_JOB] = -1
        st.ctr[CT_FINGERPRINT] = fingerprint
        acc[A_POOL_AT_START] = plan.hot + plan.cold
        acc[A_FIRST_EMPTY] = -1.0
        acc[A_FIRST_SHORT] = plan.horizon
        _mark_lemons(plan, st, gen)
        return st

    return _new_state


@njit(cache=False)
def _mark_lemons(plan, st, gen):
    """A uniform subset of lemon_count nodes (partial Fisher-Yates), logged at time 0 in node order."""
    if plan.lemon_count == 0:
        return
    order = np.arange(plan.nodes)
    for i in range(plan.lemon_count):
        j = i + _uniform_index(gen, plan.nodes - i)
        order[i], order[j] = order[j], order[i]
        st.node_i[order[i], N_LEMON] = 1
        st.node_i[order[i], N_WAS_LEMON] = 1
    for node in range(plan.nodes):
        if st.node_i[node, N_LEMON] == 1:
            _row(st, 0.0, K_LEMON, node, 0, 1, NO_CAUSE)


def _run_entry(fingerprint: int):
    """The jitted ``_run``: a closure over ``fingerprint``, which numba's cache index keys on."""

    @_loop
    def _run(plan, st, gen):
        """Start every component in SimPy's order, then process events until the horizon; close the levels."""
        st.ctr[CT_FINGERPRINT] = fingerprint  # (the closure cell that keys this entry's cache)
        # continuous-checkpointing jobs credit their work at the warm-up (timeouts made at build time)
        for job in range(plan.job_size.shape[0]):
            if plan.warmup > 0.0 and plan.job_mode[job] == CKPT_CONTINUOUS:
                _push(st, plan.warmup, NORMAL, EV_JOB_FLUSH, job)
        # SimPy starts domains before nodes, then jobs; their first events tie in that order.
        for domain in range(plan.domain_cause.shape[0]):
            _push(st, _draw(plan, gen, plan.domain_ttf[domain]), NORMAL, EV_DOMAIN_FAIL, domain)
        if plan.modes > 0:
            for node in range(plan.nodes):
                if plan.node_role[node] != ROLE_COLD:  # cold spares age only once provisioned
                    _start_clocks(plan, st, gen, node)
                    _schedule_failure(plan, st, gen, node, 0.0)
        for job in range(plan.job_size.shape[0]):
            _job_start(plan, st, job, 0.0)
        horizon = plan.horizon
        while st.ctr[CT_STATUS] == STATUS_OK:
            found, t, key, item = _pop(st, horizon)
            if not found:
                break
            etype = item >> 32
            target = item & 0xFFFFFFFF
            kind = etype >> 4
            if kind == KIND_NODE:
                _node_event(plan, st, gen, etype, target, key, t)
            elif kind == KIND_SLOT:
                _slot_event(plan, st, gen, etype, target, key, t)
            elif kind == KIND_DOMAIN:
                _domain_event(plan, st, gen, etype, target, t)
            elif kind == KIND_JOB:
                _job_event(plan, st, etype, target, key, t)
            else:
                _pool_event(plan, st, gen, etype, target, t)
        for job in range(plan.job_size.shape[0]):
            _job_close(plan, st, job, horizon)
        acc = st.acc
        for block in (A_UP, A_CAPACITY, A_POOL, A_WARM):
            _level_to(acc, block, horizon, acc[block + L_VALUE], plan.warmup, horizon)
        for pool in range(plan.crew_limit.shape[0]):
            block = pool * CREW_ACC_COLS
            _level_to(st.crew_acc, block, horizon, st.crew_acc[block + L_VALUE], plan.warmup, horizon)
        for slot in range(plan.working):
            if st.slot_i[slot, S_PHASE] == WAITING:
                _wait_ended(acc, st.slot_f[slot], horizon, plan.warmup)

    return _run


_new_state = _new_state_entry(FINGERPRINT)
_run = _run_entry(FINGERPRINT)


def simulate(plan: Plan, gen: np.random.Generator, heap_capacity: int, trace: np.ndarray) -> tuple[np.ndarray, ...]:
    """Replication of ``plan`` drawing from ``gen``: the state's accumulators and counters.

    ``trace`` (rows, 6) receives the state-change log when it has rows; ``ctr[CT_STATUS]`` is
    STATUS_HEAP_FULL or STATUS_TRACE_FULL when the heap or trace was too small (rerun bigger).
    """
    st = _new_state(plan, gen, heap_capacity, trace)
    _run(plan, st, gen)
    return st.acc, st.cause_count, st.ctr, st.crew_acc, st.job_acc, st.job_cause

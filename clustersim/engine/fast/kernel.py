"""The fast engine's numba kernel: one replication of the foundation model as array state machines.

Every component of ``clustersim.model`` is a row of an integer (and float) state array, and
every point where a SimPy process waits is an event type here. Events are taken in SimPy's
order — by (time, priority, sequence number of scheduling) — from a binary heap of future
events and two FIFO rings of events for the current instant (urgent, normal), and the handlers
schedule them in the order the SimPy processes do, so simultaneous events resolve the same way
in both engines (a deterministic scenario gives the same log, row for row).

Each state change is recorded as SimPy records it (``_record``): it counts one model event and
feeds the streaming form of ``clustersim.stats.replication_metrics`` (time-weighted levels
integrated over [warmup, horizon), counts and intervals that start in the window), optionally
also a trace of rows in the log schema of ``engine/records.py`` (tests compare it to SimPy's).

Component kinds and their event types (``etype >> 4`` is the kind, one dispatch function each):
node (0: own failure, detection, crew granted, repaired, powered), slot (1: interrupted by its
node's failure, detection, spare handed over, swap done), domain (2: failure, detection,
repaired), crew pool (3: a crew released).
"""
from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit

from clustersim.engine.fast.compile import (
    LAW_DETERMINISTIC, LAW_EXPONENTIAL, LAW_GAMMA, LAW_LOGNORMAL, LAW_UNIFORM, LAW_WEIBULL,
    RECOVERY_REBOOT, ROLE_COLD, ROLE_HOT, ROLE_LOOSE, ROLE_WORK, UNLIMITED,
)
from clustersim.engine.records import Kind, NodeState, RepairState, SlotState

# How the kernel is compiled (each measured on benchmarks/bench_engines.py, one thread):
# - no reference counting (``_nrt=False``) in the event loop and its helpers: numba otherwise
#   counts a reference to a state array at each access, atomically — 80 % of the run time
#   (1.2 M events/s -> 6.5 M). The arrays live for the whole call; only _new_state allocates.
# - helpers inlined into the loop (``forceinline``): a call passes every field of Plan and
#   State, some 300 values (6.5 -> 22 M events/s).
# - helpers without Python wrappers: only the loop calls them (first compile 30 s -> 21 s).
_helper = njit(cache=True, _nrt=False, forceinline=True, no_cpython_wrapper=True, no_cfunc_wrapper=True)
_loop = njit(cache=True, _nrt=False)


def _i64(*values: int) -> tuple:
    """Constants as numpy int64: numba types them as plain int64, where Python ints would be typed
    as literals and make it compile a copy of every helper for each constant passed to it."""
    return tuple(np.int64(v) for v in values)


# Record kinds and states: the log schema of engine/records.py (numba freezes these values
# into the cached kernel; they are part of the event-log contract and never change).
K_NODE, K_REPAIR, K_DOMAIN, K_SLOT, K_POOL, K_CREWS, K_FAILURE = _i64(
    Kind.NODE, Kind.REPAIR, Kind.DOMAIN, Kind.SLOT, Kind.POOL, Kind.CREWS, Kind.FAILURE)
UP, DOWN = _i64(NodeState.UP, NodeState.DOWN)
R_OK, R_FAILED, R_WAITING, R_REPAIRING, R_REBOOTING = _i64(*RepairState)[:5]
FILLED, EMPTY, WAITING, SWAPPING = _i64(*SlotState)
NOT_STRUCK, STRUCK = _i64(0, 1)  # a FAILURE row's states
(THE_POOL,) = _i64(0)            # a POOL row's component
(NO_CAUSE,) = _i64(-1)

# Event priorities, as SimPy's: an interrupt precedes ordinary events at the same instant.
URGENT, NORMAL = _i64(0, 1)
SEQ_MASK, TWO_53 = _i64((1 << 62) - 1, 1 << 53)  # random() returns k / 2**53 for an integer k
TWO_53_FLOAT = float(TWO_53)

# Event types; the high nibble names the component kind that handles them.
EV_NODE_FAIL, EV_NODE_DETECTED, EV_CREW_GRANTED, EV_NODE_REPAIRED, EV_NODE_POWERED = _i64(0, 1, 2, 3, 4)
EV_SLOT_INTERRUPT, EV_SLOT_DETECTED, EV_SLOT_HANDED, EV_SWAP_DONE = _i64(16, 17, 18, 19)
EV_DOMAIN_FAIL, EV_DOMAIN_DETECTED, EV_DOMAIN_REPAIRED = _i64(32, 33, 34)
(EV_CREW_RELEASED,) = _i64(48)
KIND_NODE, KIND_SLOT, KIND_DOMAIN, KIND_CREW = _i64(0, 1, 2, 3)

# Columns of State.node_i (one row per node).
N_HOLDS, N_ROLE, N_SLOT, N_MODE, N_NEXT, N_PREV, N_LIST = _i64(*range(7))
NODE_I_COLS = 7
# Columns of State.node_f.
N_REPAIR_HOURS, N_DOWN_SINCE, N_WAIT_SINCE = _i64(*range(3))
NODE_F_COLS = 3
# Columns of State.slot_i (one row per working position).
S_NODE, S_ATTACHED, S_PHASE, S_CAUSE, S_SPARE, S_SPARE_COLD, S_SWAP_SEQ = _i64(*range(7))
SLOT_I_COLS = 7
# Columns of State.crew_i (one row per crew pool); its FIFO queue is a ring in State.crew_queue.
C_GRANTED, C_BUSY, C_QHEAD, C_QSIZE = _i64(*range(4))
CREW_I_COLS = 4
# State.pool_i: two FIFO lists of usable spares linked through the nodes (hot, cold) and the
# ring of slots waiting for a spare (State.pool_waiting).
HOT_LIST, COLD_LIST = _i64(0, 1)
P_HEAD, P_TAIL, P_SIZE = _i64(0, 1, 2)    # offsets within a list's three entries
P_WAIT_HEAD, P_WAIT_SIZE = _i64(6, 7)
POOL_I_COLS = 8
# State.ctr: counters.
CT_SEQ, CT_HEAP_N, CT_EVENTS, CT_STATUS, CT_TRACE_N = _i64(*range(5))
CT_RING_HEAD, CT_RING_SIZE = _i64(5, 6)   # + 2 * priority: the rings of events for the current instant
CTR_COLS = 9
STATUS_OK, STATUS_HEAP_FULL, STATUS_TRACE_FULL = _i64(0, 1, 2)

# State.acc: accumulators. A level block integrates a piecewise-constant level over the window
# and the hours it spends below a threshold.
L_VALUE, L_LAST, L_AREA, L_LOW_HOURS, L_BELOW = _i64(*range(5))
A_UP, A_CAPACITY, A_BUSY, A_POOL = _i64(0, 5, 10, 15)
A_FAILURES, A_OUTAGE_SUM, A_OUTAGE_N, A_WAIT_SUM, A_WAIT_N, A_POOL_AT_START, A_FIRST_EMPTY, A_FIRST_SHORT = _i64(
    *range(20, 28))
ACC_SIZE = 28

State = namedtuple("State", [
    "node_i", "node_f", "remaining",       # per node: ints, floats, remaining lifetime of each clocked part
    "slot_i", "slot_f",                    # per working position: ints; when it began waiting for a spare
    "crew_i", "crew_queue",                # per crew pool
    "pool_i", "pool_waiting",              # the spare pool
    "heap", "bits_f", "bits_i",            # the event heap (rows: time bits, key, item, -); a float <-> bits cast
    "ring_key", "ring_item", "clock",      # per priority, a FIFO ring of events at the current time; the time
    "ctr", "acc", "cause_count", "trace",
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
    # empirical: an exactly uniform index by rejection on random()'s 53-bit integer
    # (Generator.integers would allocate an array per draw in numba)
    count = np.int64(b)
    limit = (TWO_53 // count) * count
    while True:
        k = np.int64(gen.random() * TWO_53_FLOAT)
        if k < limit:
            return plan.empirical[np.int64(a) + k % count]


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
    elif kind == K_CREWS:
        _level_to(acc, A_BUSY, t, acc[A_BUSY + L_VALUE] + (to - frm), start, end)
    elif kind == K_SLOT:
        if to == FILLED:
            _level_to(acc, A_CAPACITY, t, acc[A_CAPACITY + L_VALUE] + 1.0, start, end)
        elif frm == FILLED:
            _level_to(acc, A_CAPACITY, t, acc[A_CAPACITY + L_VALUE] - 1.0, start, end)
        if to == WAITING:
            st.slot_f[comp] = t
        elif frm == WAITING:
            _wait_ended(acc, st.slot_f[comp], t, start)
    elif kind == K_POOL:
        _level_to(acc, A_POOL, t, float(to), start, end)
        if t < start:
            acc[A_POOL_AT_START] = to
        elif to == 0 and acc[A_FIRST_EMPTY] < 0.0:
            acc[A_FIRST_EMPTY] = t - start


@_helper
def _wait_ended(acc, since, t, start):
    """A position waited for a spare over [since, t): the first such wait of positive length that
    reaches into the window marks when the cluster first ran short."""
    if t > since and t > start:
        acc[A_FIRST_SHORT] = min(acc[A_FIRST_SHORT], max(since, start))


# ---------------------------------------------------------------------------------------------
# failure clocks (model/clocks.py): a superposed exponential clock and one lifetime per part


@_helper
def _start_clocks(plan, st, gen, node):
    for p in range(plan.parts):
        st.remaining[node, p] = _draw(plan, gen, plan.part_law[p])


@_helper
def _age(plan, st, node, hours):
    for p in range(plan.parts):
        st.remaining[node, p] -= hours


@_helper
def _schedule_failure(plan, st, gen, node, t):
    """Draw the node's next own failure (operating hours, mode) and schedule it."""
    exp_dt = math.inf
    if plan.exp_total_rate > 0.0:
        exp_dt = gen.exponential(plan.exp_scale)
    part_dt = math.inf
    part = -1
    for p in range(plan.parts):
        left = st.remaining[node, p]
        if left < part_dt:
            part_dt = left
            part = p
    if exp_dt <= part_dt:
        if exp_dt == math.inf:
            return
        _age(plan, st, node, exp_dt)
        x = gen.random() * plan.exp_total_rate
        cumulative = plan.exp_cumulative
        pick = 0
        while pick < cumulative.shape[0] and cumulative[pick] <= x:  # bisect_right
            pick += 1
        mode = plan.exp_modes[min(pick, cumulative.shape[0] - 1)]
        dt = exp_dt
    else:
        _age(plan, st, node, part_dt)
        mode = plan.part_mode[part]
        st.remaining[node, part] = _draw(plan, gen, plan.part_law[part])
        dt = part_dt
    st.node_i[node, N_MODE] = mode
    _push(st, t + dt, NORMAL, EV_NODE_FAIL, node)


# ---------------------------------------------------------------------------------------------
# holds (model/nodes.py NodeHolds) and the spare pool (model/spares.py SparePool)


@_helper
def _list_append(st, lst, node):
    pool, links = st.pool_i, st.node_i
    base = 3 * lst
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
    base = 3 * links[node, N_LIST]
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
    return st.pool_i[3 * HOT_LIST + P_SIZE] + st.pool_i[3 * COLD_LIST + P_SIZE]


@_helper
def _hand_over(st, node, slot, t):
    """The spare becomes the slot's at once; the slot resumes when the hand-over event runs."""
    st.slot_i[slot, S_SPARE] = node
    st.slot_i[slot, S_SPARE_COLD] = 1 if st.node_i[node, N_ROLE] == ROLE_COLD else 0
    st.node_i[node, N_SLOT] = slot
    st.node_i[node, N_ROLE] = ROLE_WORK
    _push(st, t, NORMAL, EV_SLOT_HANDED, slot)


@_helper
def _pool_add(plan, st, node, t):
    """A healthy idle spare becomes usable: a waiting slot takes it at once, else it queues."""
    pool = st.pool_i
    if pool[P_WAIT_SIZE] > 0:
        head = pool[P_WAIT_HEAD]
        slot = st.pool_waiting[head]
        pool[P_WAIT_HEAD] = (head + 1) % st.pool_waiting.shape[0]
        pool[P_WAIT_SIZE] -= 1
        _hand_over(st, node, slot, t)
        return
    before = _usable(st)
    _list_append(st, COLD_LIST if st.node_i[node, N_ROLE] == ROLE_COLD else HOT_LIST, node)
    _record(plan, st, t, K_POOL, THE_POOL, before, before + 1, NO_CAUSE)


@_helper
def _pool_take(plan, st, slot, t):
    """Give ``slot`` a usable spare (hot first), now or once one is usable."""
    before = _usable(st)
    if before > 0:
        lst = HOT_LIST if st.pool_i[3 * HOT_LIST + P_SIZE] > 0 else COLD_LIST
        node = st.pool_i[3 * lst + P_HEAD]
        _list_remove(st, node)
        _record(plan, st, t, K_POOL, THE_POOL, before, before - 1, NO_CAUSE)
        _hand_over(st, node, slot, t)
    else:
        pool = st.pool_i
        ring = st.pool_waiting.shape[0]
        st.pool_waiting[(pool[P_WAIT_HEAD] + pool[P_WAIT_SIZE]) % ring] = slot
        pool[P_WAIT_SIZE] += 1


@_helper
def _strike(plan, st, node, cause, t):
    """A failure hits ``node``: count it and hold the node down (model/nodes.py NodeHolds.strike)."""
    _record(plan, st, t, K_FAILURE, node, NOT_STRUCK, STRUCK, cause)
    st.node_i[node, N_HOLDS] += 1
    if st.node_i[node, N_HOLDS] == 1:
        _record(plan, st, t, K_NODE, node, UP, DOWN, cause)
        _on_down(plan, st, node, cause, t)


@_helper
def _release(plan, st, node, t):
    st.node_i[node, N_HOLDS] -= 1
    if st.node_i[node, N_HOLDS] == 0:
        _record(plan, st, t, K_NODE, node, DOWN, UP, NO_CAUSE)
        _on_up(plan, st, node, t)


@_helper
def _on_down(plan, st, node, cause, t):
    """model/cluster.py Cluster._on_node_down: interrupt the node's slot or leave the pool."""
    slot = st.node_i[node, N_SLOT]
    role = st.node_i[node, N_ROLE]
    if slot >= 0 and st.slot_i[slot, S_ATTACHED] == 1 and plan.hot + plan.cold > 0:
        st.slot_i[slot, S_ATTACHED] = 0
        st.slot_i[slot, S_CAUSE] = cause
        st.slot_i[slot, S_SWAP_SEQ] = -1  # a swap in progress will not complete
        _push(st, t, URGENT, EV_SLOT_INTERRUPT, slot)
    elif role == ROLE_HOT or role == ROLE_COLD:
        before = _usable(st)
        _list_remove(st, node)
        _record(plan, st, t, K_POOL, THE_POOL, before, before - 1, NO_CAUSE)


@_helper
def _on_up(plan, st, node, t):
    """model/cluster.py Cluster._on_node_up: a repaired loose node joins the pool as hot."""
    role = st.node_i[node, N_ROLE]
    if role == ROLE_LOOSE:
        role = ROLE_HOT
        st.node_i[node, N_ROLE] = role
    if role == ROLE_HOT or role == ROLE_COLD:
        _pool_add(plan, st, node, t)


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
    _record(plan, st, t, K_CREWS, pool, st.crew_i[pool, C_BUSY], busy, NO_CAUSE)
    st.crew_i[pool, C_BUSY] = busy


@_helper
def _crew_event(plan, st, etype, pool, t):
    """A released crew passes to the head of the queue (EV_CREW_RELEASED)."""
    _grant_next(st, pool, plan.crew_limit[pool], t)


# ---------------------------------------------------------------------------------------------
# a node's own failure-and-repair cycle (model/nodes.py node_life)


@_helper
def _node_fails(plan, st, gen, node, t):
    mode = st.node_i[node, N_MODE]
    _record(plan, st, t, K_REPAIR, node, R_OK, R_FAILED, mode)
    _strike(plan, st, node, mode, t)
    if plan.detection > 0.0:
        _push(st, t + plan.detection, NORMAL, EV_NODE_DETECTED, node)
    else:
        _node_detected(plan, st, gen, node, t)


@_helper
def _node_detected(plan, st, gen, node, t):
    mode = st.node_i[node, N_MODE]
    hours = _draw(plan, gen, plan.mode_ttr[mode])
    if plan.mode_recovery[mode] == RECOVERY_REBOOT:
        _record(plan, st, t, K_REPAIR, node, R_FAILED, R_REBOOTING, mode)
        _push(st, t + hours, NORMAL, EV_NODE_REPAIRED, node)
        return
    _record(plan, st, t, K_REPAIR, node, R_FAILED, R_WAITING, mode)
    pool = plan.mode_pool[mode]
    limit = plan.crew_limit[pool]
    if limit == UNLIMITED:
        _record(plan, st, t, K_REPAIR, node, R_WAITING, R_REPAIRING, mode)
        _push(st, t + hours, NORMAL, EV_NODE_REPAIRED, node)
        return
    st.node_f[node, N_REPAIR_HOURS] = hours
    crew = st.crew_i
    st.crew_queue[pool, (crew[pool, C_QHEAD] + crew[pool, C_QSIZE]) % st.crew_queue.shape[1]] = node
    crew[pool, C_QSIZE] += 1
    _grant_next(st, pool, limit, t)


@_helper
def _crew_granted(plan, st, node, t):
    mode = st.node_i[node, N_MODE]
    pool = plan.mode_pool[mode]
    _record(plan, st, t, K_REPAIR, node, R_WAITING, R_REPAIRING, mode)
    _set_busy(plan, st, pool, st.crew_i[pool, C_BUSY] + 1, t)
    _push(st, t + st.node_f[node, N_REPAIR_HOURS], NORMAL, EV_NODE_REPAIRED, node)


@_helper
def _node_repaired(plan, st, gen, node, t):
    mode = st.node_i[node, N_MODE]
    if plan.mode_recovery[mode] == RECOVERY_REBOOT:
        _record(plan, st, t, K_REPAIR, node, R_REBOOTING, R_OK, mode)
    else:
        pool = plan.mode_pool[mode]
        if plan.crew_limit[pool] != UNLIMITED:
            _set_busy(plan, st, pool, st.crew_i[pool, C_BUSY] - 1, t)
            st.crew_i[pool, C_GRANTED] -= 1
            _push(st, t, NORMAL, EV_CREW_RELEASED, pool)
        _record(plan, st, t, K_REPAIR, node, R_REPAIRING, R_OK, mode)
    _release(plan, st, node, t)
    _schedule_failure(plan, st, gen, node, t)


@_helper
def _node_event(plan, st, gen, etype, node, t):
    if etype == EV_NODE_FAIL:
        _node_fails(plan, st, gen, node, t)
    elif etype == EV_NODE_DETECTED:
        _node_detected(plan, st, gen, node, t)
    elif etype == EV_CREW_GRANTED:
        _crew_granted(plan, st, node, t)
    elif etype == EV_NODE_REPAIRED:
        _node_repaired(plan, st, gen, node, t)
    else:  # EV_NODE_POWERED: a provisioned cold spare starts operating and ageing
        _start_clocks(plan, st, gen, node)
        _schedule_failure(plan, st, gen, node, t)


# ---------------------------------------------------------------------------------------------
# working positions (model/spares.py slot_life and _refill)


@_helper
def _give_back(st, spare, cold):
    """A spare that failed before joining: it rejoins the pool (cold spares stay cold) once up."""
    st.node_i[spare, N_SLOT] = -1
    st.node_i[spare, N_ROLE] = ROLE_COLD if cold == 1 else ROLE_LOOSE


@_helper
def _slot_detected(plan, st, slot, t):
    node = st.slot_i[slot, S_NODE]
    if st.node_i[node, N_HOLDS] == 0:  # back before anyone noticed
        _record(plan, st, t, K_SLOT, slot, EMPTY, FILLED, NO_CAUSE)
        st.slot_i[slot, S_PHASE] = FILLED
        st.slot_i[slot, S_ATTACHED] = 1
        return
    st.node_i[node, N_SLOT] = -1
    st.node_i[node, N_ROLE] = ROLE_LOOSE
    _record(plan, st, t, K_SLOT, slot, EMPTY, WAITING, st.slot_i[slot, S_CAUSE])
    st.slot_i[slot, S_PHASE] = WAITING
    _pool_take(plan, st, slot, t)


@_helper
def _slot_event(plan, st, etype, slot, key, t):
    slots = st.slot_i
    if etype == EV_SLOT_INTERRUPT:
        if slots[slot, S_PHASE] == FILLED:
            _record(plan, st, t, K_SLOT, slot, FILLED, EMPTY, slots[slot, S_CAUSE])
            slots[slot, S_PHASE] = EMPTY
            if plan.detection > 0.0:
                _push(st, t + plan.detection, NORMAL, EV_SLOT_DETECTED, slot)
            else:
                _slot_detected(plan, st, slot, t)
        else:  # the spare failed during its swap
            _give_back(st, slots[slot, S_SPARE], slots[slot, S_SPARE_COLD])
            _record(plan, st, t, K_SLOT, slot, SWAPPING, WAITING, slots[slot, S_CAUSE])
            slots[slot, S_PHASE] = WAITING
            _pool_take(plan, st, slot, t)
    elif etype == EV_SLOT_DETECTED:
        _slot_detected(plan, st, slot, t)
    elif etype == EV_SLOT_HANDED:
        spare, cold = slots[slot, S_SPARE], slots[slot, S_SPARE_COLD]
        if st.node_i[spare, N_HOLDS] > 0:  # failed the instant it was handed over
            _give_back(st, spare, cold)
            _pool_take(plan, st, slot, t)
            return
        _record(plan, st, t, K_SLOT, slot, WAITING, SWAPPING, NO_CAUSE)
        slots[slot, S_PHASE] = SWAPPING
        slots[slot, S_ATTACHED] = 1
        slots[slot, S_SWAP_SEQ] = _push(st, t + (plan.provisioning if cold == 1 else plan.swap_time),
                                        NORMAL, EV_SWAP_DONE, slot)
    else:  # EV_SWAP_DONE
        if slots[slot, S_SWAP_SEQ] != (key & SEQ_MASK):
            return  # the swap this event would end was interrupted
        spare = slots[slot, S_SPARE]
        if slots[slot, S_SPARE_COLD] == 1 and plan.mode_ttf.shape[0] > 0:
            _push(st, t, NORMAL, EV_NODE_POWERED, spare)
        slots[slot, S_NODE] = spare
        slots[slot, S_SWAP_SEQ] = -1
        _record(plan, st, t, K_SLOT, slot, SWAPPING, FILLED, NO_CAUSE)
        slots[slot, S_PHASE] = FILLED


# ---------------------------------------------------------------------------------------------
# failure domains (model/domains.py domain_life)


@_helper
def _domain_event(plan, st, gen, etype, domain, t):
    cause = plan.domain_cause[domain]
    first, last = plan.domain_ptr[domain], plan.domain_ptr[domain + 1]
    if etype == EV_DOMAIN_FAIL:
        _record(plan, st, t, K_DOMAIN, domain, R_OK, R_FAILED, cause)
        for k in range(first, last):
            _strike(plan, st, plan.domain_nodes[k], cause, t)
        if plan.detection > 0.0:
            _push(st, t + plan.detection, NORMAL, EV_DOMAIN_DETECTED, domain)
            return
        etype = EV_DOMAIN_DETECTED
    if etype == EV_DOMAIN_DETECTED:
        _record(plan, st, t, K_DOMAIN, domain, R_FAILED, R_REPAIRING, cause)
        _push(st, t + _draw(plan, gen, plan.domain_ttr[domain]), NORMAL, EV_DOMAIN_REPAIRED, domain)
    else:  # EV_DOMAIN_REPAIRED
        _record(plan, st, t, K_DOMAIN, domain, R_REPAIRING, R_OK, cause)
        for k in range(first, last):
            _release(plan, st, plan.domain_nodes[k], t)
        _push(st, t + _draw(plan, gen, plan.domain_ttf[domain]), NORMAL, EV_DOMAIN_FAIL, domain)


# ---------------------------------------------------------------------------------------------
# one replication


@njit(cache=True)
def _new_state(plan, heap_capacity, trace):
    nodes, working = plan.nodes, plan.working
    node_i = np.full((nodes, NODE_I_COLS), -1, dtype=np.int64)
    node_f = np.zeros((nodes, NODE_F_COLS))
    slot_i = np.zeros((working, SLOT_I_COLS), dtype=np.int64)
    crews = plan.crew_limit.shape[0]
    crew_i = np.zeros((crews, CREW_I_COLS), dtype=np.int64)
    pool_i = np.zeros(POOL_I_COLS, dtype=np.int64)
    for lst in (HOT_LIST, COLD_LIST):
        pool_i[3 * lst + P_HEAD] = -1
        pool_i[3 * lst + P_TAIL] = -1
    bits = np.zeros(1)
    st = State(
        node_i, node_f, np.zeros((nodes, plan.parts)), slot_i, np.full(max(working, 1), -1.0), crew_i,
        np.zeros((crews, nodes), dtype=np.int64),
        pool_i, np.zeros(max(working, 1), dtype=np.int64),
        np.zeros((heap_capacity, 4), dtype=np.int64), bits, bits.view(np.int64),
        np.zeros((2, heap_capacity), dtype=np.int64), np.zeros((2, heap_capacity), dtype=np.int64), np.zeros(1),
        np.zeros(CTR_COLS, dtype=np.int64), np.zeros(ACC_SIZE), np.zeros(plan.causes), trace,
    )
    for node in range(nodes):
        node_i[node, N_HOLDS] = 0
        node_i[node, N_ROLE] = plan.node_role[node]
        node_i[node, N_SLOT] = node if node < working else -1
    for slot in range(working):
        slot_i[slot, S_NODE] = slot
        slot_i[slot, S_ATTACHED] = 1
        slot_i[slot, S_PHASE] = FILLED
        slot_i[slot, S_SPARE] = -1
        slot_i[slot, S_SWAP_SEQ] = -1
    for node in range(working, nodes):  # SparePool(hot, cold): in node order
        _list_append(st, COLD_LIST if plan.node_role[node] == ROLE_COLD else HOT_LIST, node)
    acc = st.acc
    start = plan.warmup
    for block, value, below in ((A_UP, float(nodes), -1.0), (A_CAPACITY, float(working), float(working)),
                                (A_BUSY, 0.0, -1.0), (A_POOL, float(plan.hot + plan.cold), 1.0)):
        acc[block + L_VALUE] = value
        acc[block + L_LAST] = start
        acc[block + L_BELOW] = below
    acc[A_POOL_AT_START] = plan.hot + plan.cold
    acc[A_FIRST_EMPTY] = -1.0
    acc[A_FIRST_SHORT] = plan.horizon
    return st


@_loop
def _run(plan, st, gen):
    """Start every component, then process events in order until the horizon; close the levels."""
    # SimPy starts domains before nodes; their first events tie in that order.
    for domain in range(plan.domain_cause.shape[0]):
        _push(st, _draw(plan, gen, plan.domain_ttf[domain]), NORMAL, EV_DOMAIN_FAIL, domain)
    if plan.mode_ttf.shape[0] > 0:
        for node in range(plan.nodes):
            if plan.node_role[node] != ROLE_COLD:  # cold spares age only once provisioned
                _start_clocks(plan, st, gen, node)
                _schedule_failure(plan, st, gen, node, 0.0)
    horizon = plan.horizon
    while st.ctr[CT_STATUS] == STATUS_OK:
        found, t, key, item = _pop(st, horizon)
        if not found:
            break
        etype = item >> 32
        target = item & 0xFFFFFFFF
        kind = etype >> 4
        if kind == KIND_NODE:
            _node_event(plan, st, gen, etype, target, t)
        elif kind == KIND_SLOT:
            _slot_event(plan, st, etype, target, key, t)
        elif kind == KIND_DOMAIN:
            _domain_event(plan, st, gen, etype, target, t)
        else:
            _crew_event(plan, st, etype, target, t)
    acc = st.acc
    for block in (A_UP, A_CAPACITY, A_BUSY, A_POOL):
        _level_to(acc, block, horizon, acc[block + L_VALUE], plan.warmup, horizon)
    for slot in range(plan.working):
        if st.slot_i[slot, S_PHASE] == WAITING:
            _wait_ended(acc, st.slot_f[slot], horizon, plan.warmup)


@njit(cache=True, nogil=True)
def simulate(plan, gen, heap_capacity, trace):
    """Replication of ``plan`` drawing from ``gen``: (acc, cause_count, ctr) — see the A_* and CT_* columns.

    ``trace`` (rows, 6) receives the state-change log when it has rows; ``ctr[CT_STATUS]`` is
    STATUS_HEAP_FULL or STATUS_TRACE_FULL when the heap or trace was too small (rerun bigger).
    """
    st = _new_state(plan, heap_capacity, trace)
    _run(plan, st, gen)
    return st.acc, st.cause_count, st.ctr

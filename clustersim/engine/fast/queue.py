"""The event queue, in SimPy's order: a heap of future events, FIFO rings of those due now, the jobs' timers."""
from __future__ import annotations

import numpy as np

from clustersim.engine.fast.codes import _i64
from clustersim.engine.fast.jit import helper
from clustersim.engine.fast.tables import (
    CT_HEAP_N, CT_RING_HEAD, CT_RING_SIZE, CT_SEQ, CT_STATUS, CT_TIMER_JOB, J_TIMER_BITS, J_TIMER_KEY,
)


# Event priorities, as SimPy's: an interrupt precedes ordinary events at the same instant.
URGENT, NORMAL = _i64(0, 1)
SEQ_MASK, TWO_53 = _i64((1 << 62) - 1, 1 << 53)  # random() returns k / 2**53 for an integer k
TWO_53_FLOAT = float(TWO_53)

# Event types; the high nibble names the component kind that handles them.
(EV_NODE_FAIL, EV_NODE_DETECTED, EV_CREW_GRANTED, EV_STAGE_DONE, EV_NODE_POWERED, EV_REBOOT_DONE,
 EV_UNDIAGNOSED_DONE, EV_NODE_BLAMED, EV_WARMED, EV_NODE_REPLAN, EV_NODE_GROUP_FAIL) = _i64(*range(11))
EV_SLOT_INTERRUPT, EV_SLOT_DETECTED, EV_SLOT_HANDED, EV_SWAP_DONE, EV_SLOT_NODE_BACK = _i64(16, 17, 18, 19, 20)
EV_DOMAIN_FAIL, EV_DOMAIN_DETECTED, EV_DOMAIN_REPAIRED = _i64(32, 33, 34)
EV_CREW_RELEASED, EV_POOL_DISPATCH = _i64(48, 49)
EV_JOB_TIMEOUT, EV_JOB_INTERRUPT, EV_JOB_READY, EV_JOB_PERSISTED, EV_JOB_FLUSH, EV_JOB_GROUP_DUE, EV_JOB_STORE = _i64(
    64, 65, 66, 67, 68, 69, 70)
EV_SWITCH_FAIL, EV_SWITCH_BACK, EV_LINK_FAIL, EV_LINK_BACK = _i64(80, 81, 82, 83)
# the replicated store: a server's own failure and return, its mark-out, a copy due or completed, a dispatch
EV_SERVER_FAIL, EV_SERVER_BACK, EV_SERVER_OUT, EV_COPY_DUE, EV_COPY_DONE, EV_STORE_DISPATCH = _i64(
    96, 97, 98, 99, 100, 101)
# [[chaos]]: an injection (target: its entry), its release armed (chaos_life's env.process(_release_after) starting:
# target the injection's index in State.chaos_pick), its release
EV_CHAOS_INJECT, EV_CHAOS_ARM, EV_CHAOS_RELEASE = _i64(112, 113, 114)
KIND_NODE, KIND_SLOT, KIND_DOMAIN, KIND_POOL, KIND_JOB, KIND_NET, KIND_STORE, KIND_CHAOS = _i64(0, 1, 2, 3, 4, 5, 6, 7)
INF_BITS = np.float64(np.inf).view(np.int64)  # the bits of +inf: a timer that never comes due
STATUS_OK, STATUS_HEAP_FULL, STATUS_TRACE_FULL = _i64(0, 1, 2)


# A heap row is (time bits, key, item, padding): the IEEE-754 bits of a time >= 0 order as int64
# exactly as the times do, so (time, key) compares as two int64s (written out in place: a helper
# for it measured slower), and the 32-byte rows keep an entry within one cache line (~15 %
# faster than three separate arrays).


@helper
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


@helper
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


@helper
def _pop_ring(st, priority):
    """Remove the head of the current instant's ring of ``priority``: (key, item)."""
    head_at = CT_RING_HEAD + 2 * priority
    head = st.ctr[head_at]
    st.ctr[head_at] = (head + 1) % st.ring_key.shape[1]
    st.ctr[CT_RING_SIZE + 2 * priority] -= 1
    return st.ring_key[priority, head], st.ring_item[priority, head]


@helper
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


@helper
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

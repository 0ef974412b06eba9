"""The replicated store (model/storage.py StorageCluster): servers, replicas, data loss, re-replication.

A server is up while nothing holds it (SV_HOLDS): its own failure, a failure domain over its rack, the
network cutting its rack off. ``State.sto_on[obj, server]`` is 1 while the server keeps a replica of
the object (live or not); an object's live replicas are those on up servers. Each missing replica is
one copy in the object's copy slots (``replication`` per object: an object never misses more), made
in StorageCluster's list order (CP_MADE) and queued (CP_QUEUED) exactly when SimPy pushes it on its
copy queue; the queue itself is a scan for the waiting copy of fewest live replicas, oldest loss,
then first queued — the order of SimPy's heap, whose one live entry per waiting copy has that key.
Every timeout SimPy makes is one pushed event, in the same order; a stale one (a mark-out after the
server returned, a copy cancelled, restarted or dropped) is known by its sequence number.

Placement is the replication's input (engine.py draws it with model/storage.place_replicas from the
replication's ``storage/placement`` stream, as SimPy does, so both engines place alike); the copy
targets and every law draw come from the kernel's one generator.
"""
from __future__ import annotations

from clustersim.engine.fast.codes import DOWN, K_SERVER, NO_CAUSE, UP
from clustersim.engine.fast.draws import _draw, _uniform_index
from clustersim.engine.fast.jit import called, helper
from clustersim.engine.fast.jobs import _store_changed
from clustersim.engine.fast.queue import (
    EV_COPY_DONE, EV_COPY_DUE, EV_SERVER_BACK, EV_SERVER_FAIL, EV_SERVER_OUT, EV_STORE_DISPATCH, NORMAL, SEQ_MASK,
    _push,
)
from clustersim.engine.fast.recording import _rec_copied, _rec_data_loss, _rec_replicas, _row
from clustersim.engine.fast.tables import (
    CP_COPYING, CP_DUE, CP_EVENT, CP_FREE, CP_MADE, CP_QUEUED, CP_SOURCE, CP_STATE, CP_TARGET, CP_TRIED, CP_WAITING,
    OB_HELD, OB_LIVE, OB_LOST, SC_DISPATCH_DUE, SC_LOSSES, SC_MADE, SC_PASS, SC_QUEUED, SC_SHORT, SC_UNREACHABLE,
    SV_BUSY, SV_CUT, SV_HOLDS, SV_OUT, SV_OUT_SEQ,
)

OWN_FAILURE = NO_CAUSE  # a SERVER row's cause for its own failure and for every return


@helper
def _sto_start(plan, st, gen):
    """Every server waits for its first own failure (StorageCluster.start)."""
    for server in range(plan.sto_servers):
        _push(st, _draw(plan, gen, plan.sto_ttf), NORMAL, EV_SERVER_FAIL, server)


@helper
def _sto_event(plan, st, gen, etype, target, key, t):
    """A server fails or returns, a mark-out or a copy comes due, a copy completes, or the queue dispatches."""
    seq = key & SEQ_MASK
    if etype == EV_SERVER_FAIL:
        _sto_fail(plan, st, gen, target, t)
        _push(st, t + _draw(plan, gen, plan.sto_ttr), NORMAL, EV_SERVER_BACK, target)
    elif etype == EV_SERVER_BACK:
        _sto_release(plan, st, gen, target, t)
        _push(st, t + _draw(plan, gen, plan.sto_ttf), NORMAL, EV_SERVER_FAIL, target)
    elif etype == EV_SERVER_OUT:
        if st.sto_srv[target, SV_OUT_SEQ] == seq:
            st.sto_srv[target, SV_OUT_SEQ] = -1
            _sto_mark_out(plan, st, gen, target, t)
    elif etype == EV_COPY_DUE:
        if st.sto_cp[target, CP_STATE] == CP_DUE and st.sto_cp[target, CP_EVENT] == seq:
            _sto_queue_copy(plan, st, target, t)
    elif etype == EV_COPY_DONE:
        if st.sto_cp[target, CP_STATE] == CP_COPYING and st.sto_cp[target, CP_EVENT] == seq:
            _sto_copied(plan, st, gen, target, t)
    else:  # EV_STORE_DISPATCH
        _sto_dispatch(plan, st, gen, t)


# --- servers -----------------------------------------------------------------------------------


@helper
def _sto_fail(plan, st, gen, server, t):
    """The server's own failure: it goes down and, with failure_loses_data, its replicas are destroyed."""
    _sto_hold(plan, st, gen, server, OWN_FAILURE, t)
    if plan.sto_loses_data:
        for obj in range(plan.sto_objects):
            if st.sto_on[obj, server] == 1:
                _sto_destroy(plan, st, obj, server, t)


@called
def _sto_hold(plan, st, gen, server, cause, t):
    """Hold ``server`` down for ``cause``; the first hold takes it down."""
    st.sto_srv[server, SV_HOLDS] += 1
    if st.sto_srv[server, SV_HOLDS] == 1:
        _sto_went_down(plan, st, gen, server, cause, t)


@called
def _sto_release(plan, st, gen, server, t):
    """Release one hold of ``server``; it is up again when none is left."""
    st.sto_srv[server, SV_HOLDS] -= 1
    if st.sto_srv[server, SV_HOLDS] == 0:
        _sto_came_up(plan, st, server, t)


@helper
def _sto_went_down(plan, st, gen, server, cause, t):
    """Its replicas are unreachable; copies from or to it stop; it is marked out after the delay."""
    _row(st, t, K_SERVER, server, UP, DOWN, cause)
    for obj in range(plan.sto_objects):
        if st.sto_on[obj, server] == 1:
            _sto_set_live(plan, st, obj, st.sto_obj[obj, OB_LIVE] - 1, t)
    for obj in range(plan.sto_objects):  # (by object, then by loss time; equal ones as made)
        while True:
            pick = _sto_next_on(plan, st, server, obj)
            if pick < 0:
                break
            _sto_abort(plan, st, pick, t)
    if not plan.sto_rereplication:
        return
    if plan.sto_delay > 0.0:
        st.sto_srv[server, SV_OUT_SEQ] = _push(st, t + plan.sto_delay, NORMAL, EV_SERVER_OUT, server)
    else:
        _sto_mark_out(plan, st, gen, server, t)
    _sto_request_dispatch(st, t)


@helper
def _sto_next_on(plan, st, server, obj):
    """The copy of ``obj`` under way from or to ``server`` that comes first by loss time (then as made); -1: none."""
    r = plan.sto_replication
    best = -1
    cp = st.sto_cp
    for k in range(obj * r, obj * r + r):
        if cp[k, CP_STATE] == CP_COPYING and (cp[k, CP_SOURCE] == server or cp[k, CP_TARGET] == server):
            if best < 0 or _sto_before(st, k, best):
                best = k
    return best


@helper
def _sto_before(st, a, b):
    """Copy ``a`` comes before copy ``b`` of the same object: earlier loss, then made earlier."""
    la, lb = st.sto_lost_at[a], st.sto_lost_at[b]
    return la < lb or (la == lb and st.sto_cp[a, CP_MADE] < st.sto_cp[b, CP_MADE])


@helper
def _sto_mark_out(plan, st, gen, server, t):
    """Down for rereplication_delay: each of its replicas is missing (due at once: the delay has passed)."""
    st.sto_srv[server, SV_OUT] = 1
    down_since = t - plan.sto_delay
    for obj in range(plan.sto_objects):
        if st.sto_on[obj, server] == 1:
            _sto_missing(plan, st, obj, down_since, 0.0, t)


@helper
def _sto_came_up(plan, st, server, t):
    """Its replicas are live again (a replica an out server brings back may be surplus and dropped)."""
    st.sto_srv[server, SV_OUT_SEQ] = -1  # a pending mark-out is stale
    _row(st, t, K_SERVER, server, DOWN, UP, OWN_FAILURE)
    was_out = st.sto_srv[server, SV_OUT] == 1
    st.sto_srv[server, SV_OUT] = 0
    for obj in range(plan.sto_objects):
        if st.sto_on[obj, server] == 1:
            if was_out and not _sto_cancel_one(plan, st, obj):
                st.sto_on[obj, server] = 0  # surplus: dropped
                st.sto_obj[obj, OB_HELD] -= 1
            else:
                _sto_set_live(plan, st, obj, st.sto_obj[obj, OB_LIVE] + 1, t)
    if plan.sto_rereplication:
        _sto_request_dispatch(st, t)


# --- replicas ----------------------------------------------------------------------------------


@called
def _sto_set_live(plan, st, obj, live, t):
    """Log a change of an object's live replicas, keep the store's read/write state, requeue its waiting copies."""
    old = st.sto_obj[obj, OB_LIVE]
    _rec_replicas(plan, st, t, obj, old, live)
    st.sto_obj[obj, OB_LIVE] = live
    was_writable, was_readable = st.sto_ctr[SC_SHORT] == 0, st.sto_ctr[SC_UNREACHABLE] == 0
    _sto_count(plan, st, old, -1)
    _sto_count(plan, st, live, 1)
    _store_changed(plan, st, was_writable, was_readable, t)
    r = plan.sto_replication
    made = -1
    while True:  # its waiting copies, as made: each queued again under its new priority
        nxt = -1
        for k in range(obj * r, obj * r + r):
            if st.sto_cp[k, CP_STATE] == CP_WAITING and st.sto_cp[k, CP_MADE] > made and (
                    nxt < 0 or st.sto_cp[k, CP_MADE] < st.sto_cp[nxt, CP_MADE]):
                nxt = k
        if nxt < 0:
            break
        made = st.sto_cp[nxt, CP_MADE]
        _sto_enqueue(st, nxt)


@helper
def _sto_count(plan, st, live, sign):
    """Count (sign = +1) or uncount an object at ``live`` live replicas in the store's state."""
    if live == 0:
        st.sto_ctr[SC_UNREACHABLE] += sign
    if live < plan.sto_quorum:
        st.sto_ctr[SC_SHORT] += sign


@helper
def _sto_destroy(plan, st, obj, server, t):
    """A replica is gone: the object is lost if it was the last, else one more replica is missing."""
    st.sto_on[obj, server] = 0
    st.sto_obj[obj, OB_HELD] -= 1
    if st.sto_obj[obj, OB_HELD] == 0:
        _sto_lose(plan, st, obj, t)
    elif plan.sto_rereplication and st.sto_srv[server, SV_OUT] == 0:
        _sto_missing(plan, st, obj, t, plan.sto_delay, t)


@helper
def _sto_lose(plan, st, obj, t):
    """The object's last replica is gone: it is lost for good, its copies are dropped."""
    _rec_data_loss(plan, st, t, obj)
    st.sto_obj[obj, OB_LOST] = 1
    st.sto_ctr[SC_LOSSES] += 1
    r = plan.sto_replication
    for k in range(obj * r, obj * r + r):
        st.sto_cp[k, CP_STATE] = CP_FREE
        st.sto_cp[k, CP_EVENT] = -1
    was_writable, was_readable = st.sto_ctr[SC_SHORT] == 0, st.sto_ctr[SC_UNREACHABLE] == 0
    _sto_count(plan, st, st.sto_obj[obj, OB_LIVE], -1)  # it no longer counts for jobs
    _store_changed(plan, st, was_writable, was_readable, t)


# --- copies ------------------------------------------------------------------------------------


@helper
def _sto_missing(plan, st, obj, lost_at, due_in, t):
    """One more replica of ``obj`` to copy, queued ``due_in`` hours from now."""
    r = plan.sto_replication
    slot = obj * r
    while st.sto_cp[slot, CP_STATE] != CP_FREE:  # (an object misses at most replication replicas)
        slot += 1
    st.sto_cp[slot, CP_MADE] = st.sto_ctr[SC_MADE]
    st.sto_ctr[SC_MADE] += 1
    st.sto_lost_at[slot] = lost_at
    st.sto_cp[slot, CP_SOURCE] = -1
    st.sto_cp[slot, CP_TARGET] = -1
    st.sto_cp[slot, CP_STATE] = CP_DUE
    if due_in > 0.0:
        st.sto_cp[slot, CP_EVENT] = _push(st, t + due_in, NORMAL, EV_COPY_DUE, slot)
    else:
        st.sto_cp[slot, CP_EVENT] = -1
        _sto_queue_copy(plan, st, slot, t)


@helper
def _sto_queue_copy(plan, st, slot, t):
    st.sto_cp[slot, CP_STATE] = CP_WAITING
    st.sto_cp[slot, CP_EVENT] = -1
    _sto_enqueue(st, slot)
    _sto_request_dispatch(st, t)


@helper
def _sto_enqueue(st, slot):
    """Queue (again): a new place among equals (fewest live replicas, then oldest loss)."""
    st.sto_cp[slot, CP_QUEUED] = st.sto_ctr[SC_QUEUED]
    st.sto_ctr[SC_QUEUED] += 1


@helper
def _sto_cancel_one(plan, st, obj):
    """A replica came back: cancel the copy of ``obj`` waiting (or due) with the latest loss (the first made
    among equals), if any."""
    r = plan.sto_replication
    best = -1
    for k in range(obj * r, obj * r + r):
        state = st.sto_cp[k, CP_STATE]
        if state == CP_DUE or state == CP_WAITING:
            if best < 0 or st.sto_lost_at[k] > st.sto_lost_at[best] or (
                    st.sto_lost_at[k] == st.sto_lost_at[best] and st.sto_cp[k, CP_MADE] < st.sto_cp[best, CP_MADE]):
                best = k
    if best < 0:
        return False
    st.sto_cp[best, CP_STATE] = CP_FREE
    st.sto_cp[best, CP_EVENT] = -1
    return True


@helper
def _sto_request_dispatch(st, t):
    """Start waiting copies once this instant's changes are in (one pass per instant)."""
    if st.sto_ctr[SC_DISPATCH_DUE] == 0:
        st.sto_ctr[SC_DISPATCH_DUE] = 1
        _push(st, t, NORMAL, EV_STORE_DISPATCH, 0)


@helper
def _sto_free(plan, st, server):
    return st.sto_srv[server, SV_HOLDS] == 0 and st.sto_srv[server, SV_BUSY] < plan.sto_limit


@helper
def _sto_dispatch(plan, st, gen, t):
    """Start every waiting copy that a free source and target allow, most endangered first."""
    st.sto_ctr[SC_DISPATCH_DUE] = 0
    st.sto_ctr[SC_PASS] += 1
    this_pass = st.sto_ctr[SC_PASS]
    free = 0
    for server in range(plan.sto_servers):
        if _sto_free(plan, st, server):
            free += 1
    cp = st.sto_cp
    r = plan.sto_replication
    while free >= 2:
        best = -1
        for k in range(cp.shape[0]):
            if cp[k, CP_STATE] == CP_WAITING and cp[k, CP_TRIED] != this_pass:
                if best < 0:
                    best = k
                    continue
                lk, lb = st.sto_obj[k // r, OB_LIVE], st.sto_obj[best // r, OB_LIVE]
                if lk < lb or (lk == lb and (st.sto_lost_at[k] < st.sto_lost_at[best] or (
                        st.sto_lost_at[k] == st.sto_lost_at[best] and cp[k, CP_QUEUED] < cp[best, CP_QUEUED]))):
                    best = k
        if best < 0:
            break
        cp[best, CP_TRIED] = this_pass
        if _sto_start_copy(plan, st, gen, best, t):
            for server in (cp[best, CP_SOURCE], cp[best, CP_TARGET]):
                if st.sto_srv[server, SV_BUSY] == plan.sto_limit:
                    free -= 1


@helper
def _sto_start_copy(plan, st, gen, slot, t):
    """Start the copy from the least busy live holder to a free server holding none (rack_aware: in a rack
    holding none, if one is free); False when no source or no target is free."""
    r = plan.sto_replication
    obj = slot // r
    source = -1
    for server in range(plan.sto_servers):
        if st.sto_on[obj, server] == 1 and _sto_free(plan, st, server) and (
                source < 0 or st.sto_srv[server, SV_BUSY] < st.sto_srv[source, SV_BUSY]):
            source = server
    if source < 0:
        return False
    apart = 0
    near = 0
    for server in range(plan.sto_servers):
        if _sto_free(plan, st, server) and not _sto_taken(plan, st, obj, server):
            near += 1
            if plan.sto_rack_aware and not _sto_rack_used(plan, st, obj, plan.sto_rack[server]):
                apart += 1
    if near == 0:
        return False
    count = apart if apart > 0 else near
    pick = _uniform_index(gen, count) if count > 1 else 0
    target = -1
    for server in range(plan.sto_servers):
        if _sto_free(plan, st, server) and not _sto_taken(plan, st, obj, server) and (
                apart == 0 or not _sto_rack_used(plan, st, obj, plan.sto_rack[server])):
            if pick == 0:
                target = server
                break
            pick -= 1
    cp = st.sto_cp
    cp[slot, CP_STATE] = CP_COPYING
    cp[slot, CP_SOURCE] = source
    cp[slot, CP_TARGET] = target
    st.sto_srv[source, SV_BUSY] += 1
    st.sto_srv[target, SV_BUSY] += 1
    hours = _draw(plan, gen, plan.sto_copy_law) if plan.sto_copy_law >= 0 else plan.sto_copy_hours
    cp[slot, CP_EVENT] = _push(st, t + hours, NORMAL, EV_COPY_DONE, slot)
    return True


@helper
def _sto_taken(plan, st, obj, server):
    """``server`` holds a replica of ``obj`` or receives one."""
    if st.sto_on[obj, server] == 1:
        return True
    r = plan.sto_replication
    for k in range(obj * r, obj * r + r):
        if st.sto_cp[k, CP_STATE] == CP_COPYING and st.sto_cp[k, CP_TARGET] == server:
            return True
    return False


@helper
def _sto_rack_used(plan, st, obj, rack):
    """A server of ``rack`` holds a replica of ``obj`` or receives one."""
    for server in range(plan.sto_servers):
        if plan.sto_rack[server] == rack and _sto_taken(plan, st, obj, server):
            return True
    return False


@helper
def _sto_free_slots(st, slot):
    st.sto_srv[st.sto_cp[slot, CP_SOURCE], SV_BUSY] -= 1
    st.sto_srv[st.sto_cp[slot, CP_TARGET], SV_BUSY] -= 1
    st.sto_cp[slot, CP_SOURCE] = -1
    st.sto_cp[slot, CP_TARGET] = -1


@helper
def _sto_abort(plan, st, slot, t):
    """Its source or target went down: queue it again (it keeps its loss time)."""
    _sto_free_slots(st, slot)
    _sto_queue_copy(plan, st, slot, t)


@helper
def _sto_copied(plan, st, gen, slot, t):
    """A copy completed: the target holds a live replica."""
    target = st.sto_cp[slot, CP_TARGET]
    _sto_free_slots(st, slot)
    st.sto_cp[slot, CP_STATE] = CP_FREE
    st.sto_cp[slot, CP_EVENT] = -1
    obj = slot // plan.sto_replication
    st.sto_on[obj, target] = 1
    st.sto_obj[obj, OB_HELD] += 1
    _rec_copied(plan, st, t, obj, t - st.sto_lost_at[slot])
    _sto_set_live(plan, st, obj, st.sto_obj[obj, OB_LIVE] + 1, t)
    _sto_request_dispatch(st, t)


# --- what domains and the network hold ---------------------------------------------------------


@helper
def _sto_net_apply(plan, st, gen, t):
    """After the network's nodes: hold each server whose rack no switch of the rack connects, release the others."""
    for server in range(plan.sto_servers):
        rack = plan.sto_rack[server]
        cut = 1
        for k in range(plan.net_rack_ptr[rack], plan.net_rack_ptr[rack + 1]):
            if st.net_reach[plan.net_rack_switch[k]] == 1:
                cut = 0
                break
        if cut != st.sto_srv[server, SV_CUT]:
            st.sto_srv[server, SV_CUT] = cut
            if cut == 1:
                _sto_hold(plan, st, gen, server, plan.network_cause, t)
            else:
                _sto_release(plan, st, gen, server, t)

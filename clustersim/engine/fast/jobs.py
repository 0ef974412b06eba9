"""Training jobs (workloads/training.py): job_life as a state machine.

A job's process waits at one point at a time, its phase: for its members (J_READY), or for one
timeout — the restart, a compute segment, a blocking checkpoint, the wait for the previous
persist, an async snapshot, the last persist, or continuous computing to the end of the work.
J_TOKEN is the sequence number of the pending timeout, so an interrupted one is ignored when it
comes due. A member lost while the job runs sends one urgent interrupt (the first cause counts),
as TrainingJob._interrupt does. Slow members (gray failures) are refused by the fast engine, so
the job's speed is its share of members (shrink). With ``[storage]`` a checkpoint the store cannot
take is skipped or blocks (PH_STORE_WRITABLE), a store that stops being writable interrupts a sync
write, a restart waits for the store to be readable (PH_STORE_READABLE), and data lost since the
last checkpoint costs that checkpoint's segment too (``_job_fall_back``).
"""
from __future__ import annotations

import math

import numpy as np

from clustersim.engine.fast.codes import (
    CKPT_CONTINUOUS, CKPT_SYNC, EMPTY, FILLED, J_CHECKPOINTING, J_COMPUTING, J_DONE, J_RESTARTING, J_WAITING,
    K_JOB_SPEED, NO_CAUSE,
)
from clustersim.engine.fast.clocks import _replan, _sync
from clustersim.engine.fast.draws import _draw
from clustersim.engine.fast.jit import called, helper
from clustersim.engine.fast.queue import (
    EV_JOB_GROUP_DUE, EV_JOB_INTERRUPT, EV_JOB_PERSISTED, EV_JOB_READY, EV_JOB_STORE, EV_JOB_TIMEOUT,
    EV_NODE_GROUP_FAIL, INF_BITS,
    NORMAL, SEQ_MASK, URGENT, _push, _set_timer,
)
from clustersim.engine.fast.recording import _job_state_hours, _level_to, _rec_job, _rec_lost, _rec_work, _row
from clustersim.engine.fast.tables import (
    CT_SEQ, JA_END, JF_COMPUTED, JF_CREDITED, JF_PERSISTING, JF_PERSIST_DONE_AT, JF_PERSIST_HOURS, JF_RUN_STARTED,
    JF_SEGMENT, JF_SPEED, JF_STARTED, JF_TARGET, JOB_ACC_COLS, J_ACTIVE, J_FILLED, J_PENDING, J_PENDING_CAUSE,
    J_PERSIST_TOKEN, J_PHASE, J_READY, J_RESTARTED, J_STARVED, J_STATE, J_TIMER_BITS, J_TOKEN, L_VALUE, S_ACTIVE,
    S_PHASE, JF_G_LAST, J_G_COMPUTING, J_G_MODE, J_G_TOKEN, N_BLAME_MODE, N_FAIL_SEQ, N_GROUP_JOB, N_GROUP_KEPT,
    N_GROUP_SLOT, N_LEMON, N_OPERATING, N_PENDING_INDEX, N_PENDING_SOURCE, N_RUNNING, S_NODE, SOURCE_EXP,
    SOURCE_LATENT, SOURCE_NONE, SOURCE_PART, JF_LAST_SEGMENT, J_LOSSES_AT, J_PENDING_KIND, J_STORE_EVENT,
    J_STORE_SINCE, J_STORE_WAIT, PENDING_LOST, PENDING_STORE, SC_LOSSES, SC_SHORT, SC_UNREACHABLE, SC_WAITS,
    STORE_NONE, STORE_READABLE, STORE_WRITABLE,
)


# What a job's process waits for (State.job_i[:, J_PHASE]).
# (PH_STORE_WRITABLE: blocked until the store takes its checkpoint, TrainingJob.stalled; PH_STORE_READABLE:
# its restart waits until the store can be read)
(PH_MEMBERS, PH_RESTART, PH_COMPUTE, PH_CHECKPOINT, PH_PERSIST_WAIT, PH_SNAPSHOT, PH_FINISH,
 PH_CONTINUOUS, PH_STORE_WRITABLE, PH_STORE_READABLE) = (np.int64(v) for v in range(10))
READY_NONE, READY_WAITING, READY_DUE = (np.int64(v) for v in range(3))


@helper
def _job_set_state(plan, st, job, state, cause, t):
    _rec_job(plan, st, t, job, st.job_i[job, J_STATE], state, cause)
    st.job_i[job, J_STATE] = state
    if plan.gmode_mode.shape[0] > 0:
        _g_set_computing(plan, st, job, 1 if state == J_COMPUTING or state == J_CHECKPOINTING else 0, t)


# --- the job's LoadGroup (model/load.py): its members' clocks of computing-aged modes ------------


@helper
def _g_set_threshold(plan, st, job, g, slot, value):
    """A member's threshold of group mode ``g``; the job's min-tree follows (the first of equals wins,
    as np.argmin)."""
    st.g_thresh[slot, g] = value
    off, leaves = plan.job_tree_off[job], plan.job_tree_p[job]
    i = leaves + slot - plan.job_first[job]
    st.g_tval[g, off + i] = value
    i >>= 1
    while i >= 1:
        left, right = off + 2 * i, off + 2 * i + 1
        if st.g_tval[g, right] < st.g_tval[g, left]:
            st.g_tval[g, off + i] = st.g_tval[g, right]
            st.g_tidx[g, off + i] = st.g_tidx[g, right]
        else:
            st.g_tval[g, off + i] = st.g_tval[g, left]
            st.g_tidx[g, off + i] = st.g_tidx[g, left]
        i >>= 1


@called
def _g_advance(plan, st, job, t):
    last = st.job_f[job, JF_G_LAST]
    if t > last:
        for g in range(plan.gmode_mode.shape[0]):
            st.g_odo[job, g] += (t - last) * st.g_rate[job, g]
    st.job_f[job, JF_G_LAST] = t


@helper
def _g_set_computing(plan, st, job, computing, t):
    """The job starts or stops computing: its members' computing-aged clocks speed up or slow down."""
    if st.job_i[job, J_G_COMPUTING] == computing:
        return
    _g_advance(plan, st, job, t)
    st.job_i[job, J_G_COMPUTING] = computing
    for g in range(plan.gmode_mode.shape[0]):
        st.g_rate[job, g] = 1.0 if computing == 1 else plan.gmode_idle_rate[g]
    _g_schedule(plan, st, job, t)


@helper
def _g_draw(plan, st, gen, node, g):
    """Operating hours of group mode ``g`` until its next failure (NodeClocks.group_draw), remembered."""
    mode = plan.gmode_mode[g]
    multiplier = plan.mode_lemon_speed[mode] if st.node_i[node, N_LEMON] == 1 else 1.0
    rate = plan.gmode_exp_rate[g] * multiplier
    best = math.inf
    source = SOURCE_NONE
    index = -1
    if rate > 0.0:
        best = gen.exponential(1.0 / rate)
        source = SOURCE_EXP
    for p in range(plan.parts):
        if plan.part_mode[p] == mode:
            dt = st.remaining[node, p] / multiplier
            if dt < best:
                best, source, index = dt, SOURCE_PART, p
    if st.latent_stamp[node, mode] >= 0 and st.latent[node, mode] < best:
        best, source, index = st.latent[node, mode], SOURCE_LATENT, mode
    st.g_pend[node, g] = best
    st.g_src[node, g] = source
    st.g_idx[node, g] = index
    return best


@helper
def _g_consume(plan, st, node, g, hours):
    """``hours`` of group mode ``g``'s operating time passed without its failure (NodeClocks.group_consume)."""
    st.g_src[node, g] = -1
    if hours <= 0.0:
        return
    mode = plan.gmode_mode[g]
    multiplier = plan.mode_lemon_speed[mode] if st.node_i[node, N_LEMON] == 1 else 1.0
    for p in range(plan.parts):
        if plan.part_mode[p] == mode:
            st.remaining[node, p] -= hours * multiplier
    if st.latent_stamp[node, mode] >= 0:
        st.latent[node, mode] -= hours


@helper
def _g_fire(plan, st, gen, node, g):
    """Group mode ``g``'s proposed failure happens (NodeClocks.group_fire): was it a recurrence?"""
    source = st.g_src[node, g]
    index = st.g_idx[node, g]
    _g_consume(plan, st, node, g, st.g_pend[node, g])
    if source == SOURCE_PART:
        st.remaining[node, index] = _draw(plan, gen, plan.part_law[index])
        return False
    if source == SOURCE_LATENT:
        st.latent_stamp[node, index] = -1
        return True
    return False


@helper
def _g_join(plan, st, gen, job, slot, node, t):
    """``node`` fills member position ``slot``: the group keeps its computing-aged clocks (LoadGroup.join)."""
    ni = st.node_i
    if ni[node, N_GROUP_JOB] == job and ni[node, N_GROUP_SLOT] == slot and ni[node, N_GROUP_KEPT] == 1:
        return
    if ni[node, N_GROUP_JOB] >= 0:
        _g_leave(plan, st, gen, node, t)
    _g_advance(plan, st, job, t)
    ni[node, N_GROUP_JOB] = job
    ni[node, N_GROUP_SLOT] = slot
    ni[node, N_GROUP_KEPT] = 1
    if ni[node, N_OPERATING] == 1:  # (a cold spare's clocks start once provisioned: then _g_enter)
        _g_enter(plan, st, gen, node, t)


@helper
def _g_enter(plan, st, gen, node, t):
    """The member's clocks start running on the group's odometers (LoadGroup.enter)."""
    _replan(plan, st, node, t)
    job = st.node_i[node, N_GROUP_JOB]
    slot = st.node_i[node, N_GROUP_SLOT]
    _g_advance(plan, st, job, t)
    for g in range(plan.gmode_mode.shape[0]):
        st.g_entered[slot, g] = st.g_odo[job, g]
        _g_set_threshold(plan, st, job, g, slot, st.g_odo[job, g] + _g_draw(plan, st, gen, node, g))
    _g_schedule(plan, st, job, t)


@helper
def _g_leave(plan, st, gen, node, t):
    """``node`` no longer fills its member position: its clocks go back to its own timer (LoadGroup.leave)."""
    ni = st.node_i
    job = ni[node, N_GROUP_JOB]
    if job < 0:
        return
    slot = ni[node, N_GROUP_SLOT]
    _g_advance(plan, st, job, t)
    if ni[node, N_GROUP_KEPT] == 1:
        ni[node, N_GROUP_KEPT] = 0
        if plan.gmode_mode.shape[0] > 0 and st.g_src[node, 0] >= 0:
            for g in range(plan.gmode_mode.shape[0]):
                _g_consume(plan, st, node, g, st.g_odo[job, g] - st.g_entered[slot, g])
        for g in range(plan.gmode_mode.shape[0]):
            _g_set_threshold(plan, st, job, g, slot, math.inf)
    ni[node, N_GROUP_JOB] = -1
    ni[node, N_GROUP_SLOT] = -1
    _replan(plan, st, node, t)
    _g_schedule(plan, st, job, t)


@called
def _g_schedule(plan, st, job, t):
    """Wait for the first member failure due at the current rates (LoadGroup._schedule)."""
    st.job_i[job, J_G_TOKEN] = -1
    best = math.inf
    best_g = -1
    root = plan.job_tree_off[job] + 1
    for g in range(plan.gmode_mode.shape[0]):
        rate = st.g_rate[job, g]
        if rate > 0.0:
            due = (st.g_tval[g, root] - st.g_odo[job, g]) / rate
            if due < best:
                best, best_g = due, g
    if best < math.inf:
        st.job_i[job, J_G_MODE] = best_g
        st.job_i[job, J_G_TOKEN] = _push(st, t + max(best, 0.0), NORMAL, EV_JOB_GROUP_DUE, job)


@helper
def _g_due(plan, st, gen, job, t):
    """A member's failure of a computing-aged mode is due: it fails (LoadGroup._due)."""
    _g_advance(plan, st, job, t)
    g = st.job_i[job, J_G_MODE]
    slot = st.g_tidx[g, plan.job_tree_off[job] + 1]  # the first of equals, as np.argmin
    node = st.slot_i[slot, S_NODE]
    for other in range(plan.gmode_mode.shape[0]):  # its other computing-aged modes aged until now
        if other != g:
            _g_consume(plan, st, node, other, st.g_odo[job, other] - st.g_entered[slot, other])
    recurred = _g_fire(plan, st, gen, node, g)
    for other in range(plan.gmode_mode.shape[0]):
        _g_set_threshold(plan, st, job, other, slot, math.inf)
    st.node_i[node, N_GROUP_KEPT] = 0  # it stays the group's until its position empties (_g_leave)
    _g_schedule(plan, st, job, t)
    if st.node_i[node, N_RUNNING] == 1 and st.node_i[node, N_BLAME_MODE] < 0:
        _sync(plan, st, node, t)
        st.node_i[node, N_RUNNING] = 0
        st.node_i[node, N_FAIL_SEQ] = -1
        st.node_i[node, N_PENDING_INDEX] = plan.gmode_mode[g]
        st.node_i[node, N_PENDING_SOURCE] = 1 if recurred else 0
        _push(st, t, URGENT, EV_NODE_GROUP_FAIL, node)


@helper
def _g_regroup(plan, st, gen, job, slot, t):
    """The group keeps the clocks of the node filling an active member position, and only those."""
    if plan.gmode_mode.shape[0] == 0:
        return
    node = st.slot_i[slot, S_NODE]
    if st.slot_i[slot, S_PHASE] == FILLED and st.slot_i[slot, S_ACTIVE] == 1:
        _g_join(plan, st, gen, job, slot, node, t)
    elif st.node_i[node, N_GROUP_JOB] == job and st.node_i[node, N_GROUP_SLOT] == slot:
        _g_leave(plan, st, gen, node, t)


@helper
def _job_set_speed(plan, st, job, speed, t):
    old = st.job_f[job, JF_SPEED]
    if speed != old:
        _row(st, t, K_JOB_SPEED, job, old, speed, NO_CAUSE)
        st.job_f[job, JF_SPEED] = speed


@helper
def _job_credit(plan, st, job, hours, t):
    if hours > 0.0:
        credited = st.job_f[job, JF_CREDITED]
        _rec_work(plan, st, t, job, credited, credited + hours)
        st.job_f[job, JF_CREDITED] = credited + hours


@helper
def _job_remaining(plan, st, job):
    jf = st.job_f
    return plan.job_work[job] - jf[job, JF_CREDITED] - jf[job, JF_PERSISTING] - jf[job, JF_COMPUTED]


@helper
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


@helper
def _job_flush(plan, st, job, t):
    """Continuous checkpointing: credit what was computed up to now."""
    if plan.job_mode[job] == CKPT_CONTINUOUS and st.job_i[job, J_STATE] == J_COMPUTING:
        _job_credit(plan, st, job, (t - st.job_f[job, JF_RUN_STARTED]) * st.job_f[job, JF_SPEED], t)
        st.job_f[job, JF_RUN_STARTED] = t


# --- notifications from member positions -------------------------------------------------------


@helper
def _job_members_ready(plan, st, job):
    size = plan.job_size[job]
    filled = st.job_i[job, J_FILLED]
    if plan.job_elastic[job] == 0:
        return filled == size
    # go on without a member only once its failure is noticed and no spare is coming for it
    return size - filled - st.job_i[job, J_STARVED] == 0 and filled >= plan.job_min_nodes[job]


@helper
def _job_maybe_ready(plan, st, job, t):
    if st.job_i[job, J_READY] == READY_WAITING and _job_members_ready(plan, st, job):
        st.job_i[job, J_READY] = READY_DUE
        _push(st, t, NORMAL, EV_JOB_READY, job)


@helper
def _job_member_changed(plan, st, gen, job, slot, before, cause, t):
    """A member position changed state: stop on losing an active member, else maybe restart."""
    phase = st.slot_i[slot, S_PHASE]
    if before == FILLED:
        st.job_i[job, J_FILLED] -= 1
    if phase == FILLED:
        st.job_i[job, J_FILLED] += 1
    if (before == FILLED) != (phase == FILLED):
        _g_regroup(plan, st, gen, job, slot, t)
    state = st.job_i[job, J_STATE]
    if state == J_DONE:
        return
    stalled = st.job_i[job, J_PHASE] == PH_STORE_WRITABLE
    if phase == EMPTY and st.slot_i[slot, S_ACTIVE] == 1 and (state != J_WAITING or stalled):
        _job_send_interrupt(st, job, PENDING_LOST, cause, t)
    else:
        _job_maybe_ready(plan, st, job, t)


@helper
def _job_send_interrupt(st, job, kind, cause, t):
    """TrainingJob._interrupt: one urgent interrupt at a time; a member loss outranks a pending store change."""
    if st.job_i[job, J_PENDING] == 0:
        st.job_i[job, J_PENDING] = 1
        st.job_i[job, J_PENDING_KIND] = kind
        st.job_i[job, J_PENDING_CAUSE] = cause
        _push(st, t, URGENT, EV_JOB_INTERRUPT, job)
    elif kind == PENDING_LOST and st.job_i[job, J_PENDING_KIND] != PENDING_LOST:
        st.job_i[job, J_PENDING_KIND] = kind
        st.job_i[job, J_PENDING_CAUSE] = cause


# --- the checkpoint store (StorageCluster's listeners and waiters) -------------------------------


@helper
def _store_changed(plan, st, was_writable, was_readable, t):
    """StorageCluster._notify: a store no longer writable interrupts the jobs writing a checkpoint; jobs waiting
    for it to be writable, then readable, wake in the order they began waiting."""
    writable = st.sto_ctr[SC_SHORT] == 0
    if was_writable and not writable:
        for job in range(plan.job_size.shape[0]):
            if st.job_i[job, J_STATE] == J_CHECKPOINTING:
                _job_send_interrupt(st, job, PENDING_STORE, plan.storage_cause, t)
    if not was_writable and writable:
        _store_wake(st, STORE_WRITABLE, t)
    if not was_readable and st.sto_ctr[SC_UNREACHABLE] == 0:
        _store_wake(st, STORE_READABLE, t)


@helper
def _store_wake(st, what, t):
    """Wake every job waiting for ``what`` of the store, first waiter first."""
    ji = st.job_i
    while True:
        first = -1
        for job in range(ji.shape[0]):
            if ji[job, J_STORE_WAIT] == what and (first < 0 or ji[job, J_STORE_SINCE] < ji[first, J_STORE_SINCE]):
                first = job
        if first < 0:
            return
        ji[first, J_STORE_WAIT] = STORE_NONE
        ji[first, J_STORE_EVENT] = _push(st, t, NORMAL, EV_JOB_STORE, first)


@helper
def _store_wait(st, job, what, phase):
    """The job's process waits until the store is ``what``."""
    st.job_i[job, J_PHASE] = phase
    st.job_i[job, J_STORE_WAIT] = what
    st.job_i[job, J_STORE_SINCE] = st.sto_ctr[SC_WAITS]
    st.sto_ctr[SC_WAITS] += 1


@helper
def _store_writable(plan, st):
    return plan.sto_servers == 0 or st.sto_ctr[SC_SHORT] == 0


@helper
def _job_fall_back(plan, st, job, t):
    """TrainingJob.fall_back: the work lost with the last checkpoint if the store lost data since it was written
    (a WORK row lowers the credit to the checkpoint before); 0 when it is intact."""
    losses = st.sto_ctr[SC_LOSSES] if plan.sto_servers > 0 else 0
    if losses == st.job_i[job, J_LOSSES_AT]:
        return 0.0
    st.job_i[job, J_LOSSES_AT] = losses
    lost = st.job_f[job, JF_LAST_SEGMENT]
    st.job_f[job, JF_LAST_SEGMENT] = 0.0
    if lost > 0.0:
        credited = st.job_f[job, JF_CREDITED]
        _rec_work(plan, st, t, job, credited, credited - lost)
        st.job_f[job, JF_CREDITED] = credited - lost
    return lost


@helper
def _job_member_starved(plan, st, job, delta, t):
    """A member position waits with no usable spare (or no longer): an elastic job may go on without it."""
    st.job_i[job, J_STARVED] += delta
    if st.job_i[job, J_STATE] != J_DONE:
        _job_maybe_ready(plan, st, job, t)


# --- the run (job_life) ------------------------------------------------------------------------
# job_life's steps between two waits, as continuations of one loop (no recursion: numba inlines
# every helper into the event loop)

# (GO_CHECKPOINT: does the store take the checkpoint (TrainingJob._store_takes_it); GO_STALL: blocked until it
# does; GO_WRITE: the checkpoint proper)
(GO_WAIT_MEMBERS, GO_MEMBERS_OK, GO_RUN, GO_CONTINUOUS, GO_NEXT_SEGMENT, GO_CHECKPOINT, GO_SYNC_CHECKPOINTED,
 GO_SNAPSHOT, GO_SNAPSHOTTED, GO_CHECKPOINTED, GO_DONE, GO_STOP, GO_STALL, GO_WRITE) = (
    np.int64(v) for v in range(14))


@helper
def _job_go(plan, st, gen, job, step, t):
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
                    _g_regroup(plan, st, gen, job, slot, t)
                ji[job, J_ACTIVE] = ji[job, J_FILLED]
            _job_set_speed(plan, st, job, 1.0 * ji[job, J_ACTIVE] / size, t)
            if ji[job, J_RESTARTED] == 1 and plan.sto_servers > 0 and st.sto_ctr[SC_UNREACHABLE] > 0:
                _store_wait(st, job, STORE_READABLE, PH_STORE_READABLE)  # then the members again
                step = GO_STOP
            elif ji[job, J_RESTARTED] == 1:
                lost = _job_fall_back(plan, st, job, t)  # (TrainingJob.restore)
                if lost > 0.0:
                    _rec_lost(plan, st, t, job, lost, plan.storage_cause)
                _job_set_state(plan, st, job, J_RESTARTING, NO_CAUSE, t)
                _job_wait(st, job, t + plan.job_restart[job], PH_RESTART)
                step = GO_STOP
            elif plan.job_start[job] > 0.0:  # the first start: selecting hosts, starting
                ji[job, J_RESTARTED] = 1
                _job_set_state(plan, st, job, J_RESTARTING, NO_CAUSE, t)
                _job_wait(st, job, t + plan.job_start[job], PH_RESTART)
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
            computed = jf[job, JF_COMPUTED]  # (a segment whose checkpoint was skipped is carried)
            target = computed + min(plan.job_segment[job], remaining)
            jf[job, JF_TARGET] = target
            if computed < target:
                jf[job, JF_STARTED] = t
                _job_wait(st, job, t + (target - computed) / jf[job, JF_SPEED], PH_COMPUTE)
                step = GO_STOP
            else:
                step = GO_CHECKPOINT
        elif step == GO_CHECKPOINT:  # written now, skipped (computing on), or blocked until the store takes it
            if _store_writable(plan, st):
                step = GO_WRITE
            elif plan.job_skip[job] == 1 and _job_remaining(plan, st, job) > 0.0:
                step = GO_NEXT_SEGMENT
            else:
                _rec_lost(plan, st, t, job, 0.0, plan.storage_cause)
                _job_set_state(plan, st, job, J_WAITING, plan.storage_cause, t)
                step = GO_STALL
        elif step == GO_STALL:
            if _store_writable(plan, st):
                step = GO_WRITE
            else:
                _store_wait(st, job, STORE_WRITABLE, PH_STORE_WRITABLE)
                step = GO_STOP
        elif step == GO_WRITE:  # sync: blocking; async: a snapshot, then a persist
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
            jf[job, JF_LAST_SEGMENT] = jf[job, JF_SEGMENT]
            ji[job, J_LOSSES_AT] = st.sto_ctr[SC_LOSSES] if plan.sto_servers > 0 else 0
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


@helper
def _job_persisted(plan, st, job, hours, t):
    """A persist completed: its segment counts."""
    if st.job_i[job, J_STATE] != J_DONE:
        st.job_f[job, JF_PERSISTING] -= hours
        _job_credit(plan, st, job, hours, t)


@helper
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


@helper
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
    st.job_i[job, J_STORE_WAIT] = STORE_NONE  # (a wait for the store it was stalled in ends)
    st.job_i[job, J_STORE_EVENT] = -1
    _job_flush(plan, st, job, t)
    lost = jf[job, JF_COMPUTED] + jf[job, JF_PERSISTING]
    lost += _job_fall_back(plan, st, job, t)
    _rec_lost(plan, st, t, job, lost, cause)
    jf[job, JF_COMPUTED] = 0.0
    jf[job, JF_PERSISTING] = 0.0
    st.job_i[job, J_PERSIST_TOKEN] = -1  # a persist in flight no longer counts
    if st.job_i[job, J_STATE] != J_WAITING:  # (a job stalled for the store is WAITING already)
        _job_set_state(plan, st, job, J_WAITING, cause, t)


@helper
def _job_store_interrupted(st, job):
    """The store stopped being writable during a sync checkpoint's write: the write stops (the job goes on)."""
    st.job_i[job, J_PENDING] = 0
    st.job_i[job, J_TOKEN] = -1
    if st.job_i[job, J_TIMER_BITS] < INF_BITS:
        _set_timer(st, job, INF_BITS, 0)


@helper
def _job_event(plan, st, gen, etype, job, key, t):
    step = GO_STOP
    if etype == EV_JOB_GROUP_DUE:
        if st.job_i[job, J_G_TOKEN] == (key & SEQ_MASK):
            _g_due(plan, st, gen, job, t)
        return
    if etype == EV_JOB_TIMEOUT:
        if st.job_i[job, J_TOKEN] == (key & SEQ_MASK):
            step = _job_resume_step(plan, st, job, t)
    elif etype == EV_JOB_INTERRUPT:
        if st.job_i[job, J_PENDING_KIND] == PENDING_STORE and st.job_i[job, J_PHASE] == PH_CHECKPOINT:
            _job_store_interrupted(st, job)  # a sync write abandoned: taken again, skipped or blocked
            step = GO_CHECKPOINT
        else:
            _job_interrupted(plan, st, job, t)
            step = GO_WAIT_MEMBERS
    elif etype == EV_JOB_STORE:  # the store became writable (stalled: check again) or readable (restart)
        if st.job_i[job, J_STORE_EVENT] == (key & SEQ_MASK):
            st.job_i[job, J_STORE_EVENT] = -1
            step = GO_STALL if st.job_i[job, J_PHASE] == PH_STORE_WRITABLE else GO_WAIT_MEMBERS
    elif etype == EV_JOB_READY:  # checked again on waking: a member may be lost that instant
        st.job_i[job, J_READY] = READY_NONE
        step = GO_WAIT_MEMBERS
    elif etype == EV_JOB_PERSISTED:
        if st.job_i[job, J_PERSIST_TOKEN] == (key & SEQ_MASK):
            _job_persisted(plan, st, job, st.job_f[job, JF_PERSIST_HOURS], t)
    else:  # EV_JOB_FLUSH: the warm-up
        _job_flush(plan, st, job, t)
    _job_go(plan, st, gen, job, step, t)


@helper
def _job_start(plan, st, gen, job, t):
    """job_life's first step, at time 0: every member is filled."""
    size = plan.job_size[job]
    st.job_i[job, J_STATE] = J_WAITING
    st.job_i[job, J_FILLED] = size
    st.job_i[job, J_ACTIVE] = size
    st.job_i[job, J_TOKEN] = -1
    st.job_i[job, J_PERSIST_TOKEN] = -1
    st.job_i[job, J_STORE_EVENT] = -1
    st.job_f[job, JF_SPEED] = 1.0
    st.job_i[job, J_TIMER_BITS] = INF_BITS
    st.job_f[job, JF_PERSIST_DONE_AT] = -math.inf
    _job_go(plan, st, gen, job, GO_WAIT_MEMBERS, t)


@helper
def _job_close(plan, st, job, horizon):
    """At the horizon: credit continuous work up to now, close the job's time-weighted measures."""
    _job_flush(plan, st, job, horizon)
    _job_state_hours(plan, st, job, st.job_i[job, J_STATE], horizon)
    block = job * JOB_ACC_COLS
    ja = st.job_acc
    _level_to(ja, block, horizon, ja[block + L_VALUE], plan.warmup, ja[block + JA_END])

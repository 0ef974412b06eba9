"""Recording: count the event, trace it, and feed the metrics exactly as stats.py reads the log."""
from __future__ import annotations

import math

from clustersim.engine.fast.codes import (
    DOWN, E_ESCALATED, E_FALSE_SUCCESS, E_MISDIAGNOSED, E_STAGE_ENTERED, E_UNDIAGNOSED, FILLED, J_CHECKPOINTING, J_DONE,
    J_RESTARTING, J_WAITING, K_CREWS, K_EVENT, K_FAILURE, K_JOB, K_LOST, K_NODE, K_POOL, K_REPAIR, K_SLOT, K_WARM,
    K_WORK, K_COPIED, K_DATA_LOSS, K_REPLICAS, NOT_STRUCK, NO_CAUSE, R_REBOOTING, R_REPAIRING, R_RETIRED, R_WAITING,
    STRUCK, THE_POOL, UP, WAITING,
)
from clustersim.engine.fast.jit import helper
from clustersim.engine.fast.queue import STATUS_TRACE_FULL
from clustersim.engine.fast.tables import (
    A_CAPACITY, A_ESCALATIONS, A_NET_LOST, A_FAILURES, A_FALSE_SUCCESSES, A_FIRST_EMPTY, A_FIRST_SHORT,
    A_LEMONS_RETIRED, A_MISDIAGNOSES, A_OUTAGE_N, A_OUTAGE_SUM, A_POOL, A_POOL_AT_START, A_RECURRENCES, A_RETIRED,
    A_RETIRED_HEALTHY, A_UNDIAGNOSED, A_AT_RISK, A_COPIES, A_COPY_HOURS, A_DATA_LOSSES, A_UNDER, A_UNREADABLE,
    A_UNWRITABLE, A_UP, A_WAIT_N, A_WAIT_SUM, A_WARM, CA_ENTERED, CREW_ACC_COLS, CT_EVENTS,
    CT_STATUS, CT_TRACE_N, JA_CHECKPOINT_HOURS, JA_DONE_AT, JA_DOWN_HOURS, JA_END, JA_LOST, JA_STATE_LAST, JA_STOPS,
    JA_USEFUL, JOB_ACC_COLS, L_AREA, L_BELOW, L_LAST, L_LOW_HOURS, L_VALUE, N_DOWN_CAUSE, N_DOWN_SINCE, N_NET_SINCE,
    N_WAIT_SINCE,
    N_WAS_LEMON, NT_BLAMED, NT_CREDITS, NT_FAILURES, NT_RETIRED_AT, NT_UP, NT_UP_HOURS, NT_UP_SINCE,
)


@helper
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


@helper
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


@helper
def _rec_node(plan, st, t, comp, frm, to, cause):
    _row(st, t, K_NODE, comp, frm, to, cause)
    acc = st.acc
    start, end = plan.warmup, plan.horizon
    step = 1.0 if to == UP else -1.0
    _level_to(acc, A_UP, t, acc[A_UP + L_VALUE] + step, start, end)
    if plan.node_table:
        _node_table_service(plan, st.node_table, t, comp, to)
    if to == DOWN:
        st.node_f[comp, N_DOWN_SINCE] = t
        st.node_i[comp, N_DOWN_CAUSE] = cause
        if cause == plan.network_cause:
            st.node_f[comp, N_NET_SINCE] = t
    else:
        since = st.node_f[comp, N_DOWN_SINCE]
        if start <= since < end:
            acc[A_OUTAGE_SUM] += t - since
            acc[A_OUTAGE_N] += 1.0
            began = st.node_i[comp, N_DOWN_CAUSE]
            if 0 <= began < st.cause_outage.shape[0]:  # (measures.outage_mean_of_cause: the outages a cause began)
                st.cause_outage[began, 0] += t - since
                st.cause_outage[began, 1] += 1.0
        if st.node_f[comp, N_NET_SINCE] >= 0.0:
            _net_lost(plan, st, comp, t)
    if plan.hot + plan.cold == 0 and comp < plan.working:
        _level_to(acc, A_CAPACITY, t, acc[A_CAPACITY + L_VALUE] + step, start, end)


@helper
def _net_lost(plan, st, node, t):
    """An outage the network began ends at ``t``: its node-hours in the window."""
    st.acc[A_NET_LOST] += max(0.0, min(t, plan.horizon) - max(st.node_f[node, N_NET_SINCE], plan.warmup))
    st.node_f[node, N_NET_SINCE] = -1.0


@helper
def _node_table_service(plan, nt, t, comp, to):
    """node_table.NodeTable._take_service: hours up and score credits per up interval."""
    if to == DOWN:
        span = t - nt[comp, NT_UP_SINCE]
        nt[comp, NT_UP_HOURS] += span
        if plan.scored:
            nt[comp, NT_CREDITS] += math.floor(span / plan.score_period)
        nt[comp, NT_UP] = 0.0
    else:
        nt[comp, NT_UP_SINCE] = t
        nt[comp, NT_UP] = 1.0


@helper
def _rec_failure(plan, st, t, comp, cause):
    _row(st, t, K_FAILURE, comp, NOT_STRUCK, STRUCK, cause)
    if plan.node_table:
        st.node_table[comp, NT_FAILURES] += 1.0
    if t >= plan.warmup:
        st.acc[A_FAILURES] += 1.0
        st.cause_count[cause] += 1.0


@helper
def _rec_repair(plan, st, t, comp, frm, to, cause):
    _row(st, t, K_REPAIR, comp, frm, to, cause)
    acc = st.acc
    start, end = plan.warmup, plan.horizon
    if plan.node_table:  # (node_table.NodeTable.consume: blames and retirement)
        if (to == R_WAITING and frm != R_REPAIRING) or to == R_REBOOTING:
            st.node_table[comp, NT_BLAMED] += 1.0
        elif to == R_RETIRED:
            st.node_table[comp, NT_RETIRED_AT] = t
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


@helper
def _rec_crews(plan, st, t, comp, frm, to):
    _row(st, t, K_CREWS, comp, frm, to, NO_CAUSE)
    block = comp * CREW_ACC_COLS
    _level_to(st.crew_acc, block, t, st.crew_acc[block + L_VALUE] + (to - frm), plan.warmup, plan.horizon)


@helper
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


@helper
def _rec_pool(plan, st, t, frm, to):
    _row(st, t, K_POOL, THE_POOL, frm, to, NO_CAUSE)
    acc = st.acc
    start = plan.warmup
    _level_to(acc, A_POOL, t, float(to), start, plan.horizon)
    if t < start:
        acc[A_POOL_AT_START] = to
    elif to == 0 and acc[A_FIRST_EMPTY] < 0.0:
        acc[A_FIRST_EMPTY] = t - start


@helper
def _rec_warm(plan, st, t, frm, to):
    _row(st, t, K_WARM, THE_POOL, frm, to, NO_CAUSE)
    acc = st.acc
    _level_to(acc, A_WARM, t, acc[A_WARM + L_VALUE] + (to - frm), plan.warmup, plan.horizon)


@helper
def _rec_event(plan, st, t, comp, code, cause):
    """An instantaneous repair outcome (EventCode ``code``) on node ``comp``."""
    _row(st, t, K_EVENT, comp, 0, code, cause)
    if plan.node_table and code == E_UNDIAGNOSED:  # its reboot blames nobody
        st.node_table[comp, NT_BLAMED] -= 1.0
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


@helper
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


@helper
def _rec_work(plan, st, t, comp, frm, to):
    _row(st, t, K_WORK, comp, frm, to, NO_CAUSE)
    if t > plan.warmup:
        st.job_acc[comp * JOB_ACC_COLS + JA_USEFUL] += to - frm


@helper
def _rec_lost(plan, st, t, comp, lost, cause):
    _row(st, t, K_LOST, comp, 0.0, lost, cause)
    if t >= plan.warmup:
        st.job_acc[comp * JOB_ACC_COLS + JA_LOST] += lost


@helper
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


@helper
def _wait_ended(acc, since, t, start):
    """A position waited for a spare over [since, t): the first such wait of positive length that
    reaches into the window marks when the cluster first ran short."""
    if t > since and t > start:
        acc[A_FIRST_SHORT] = min(acc[A_FIRST_SHORT], max(since, start))


@helper
def _rec_replicas(plan, st, t, comp, frm, to):
    """An object's live replicas change: the levels of objects unreadable, unwritable and under-replicated."""
    _row(st, t, K_REPLICAS, comp, frm, to, NO_CAUSE)
    acc = st.acc
    start, end = plan.warmup, plan.horizon
    _short_of(acc, A_UNREADABLE, 1, frm, to, t, start, end)
    _short_of(acc, A_UNWRITABLE, plan.sto_quorum, frm, to, t, start, end)
    _short_of(acc, A_UNDER, plan.sto_replication, frm, to, t, start, end)


@helper
def _short_of(acc, block, below, frm, to, t, start, end):
    """The level ``block`` counts objects with fewer than ``below`` live replicas: one went from ``frm`` to ``to``."""
    step = (1.0 if to < below else 0.0) - (1.0 if frm < below else 0.0)
    if step != 0.0:
        _level_to(acc, block, t, acc[block + L_VALUE] + step, start, end)


@helper
def _rec_data_loss(plan, st, t, comp):
    """An object lost its last replica: one object fewer at risk."""
    _row(st, t, K_DATA_LOSS, comp, 0, 1, NO_CAUSE)
    acc = st.acc
    _level_to(acc, A_AT_RISK, t, acc[A_AT_RISK + L_VALUE] - 1.0, plan.warmup, plan.horizon)
    if plan.warmup <= t < plan.horizon:
        acc[A_DATA_LOSSES] += 1.0


@helper
def _rec_copied(plan, st, t, comp, hours):
    """A copy completed ``hours`` after the loss it restores."""
    _row(st, t, K_COPIED, comp, 0, hours, NO_CAUSE)
    if plan.warmup <= t < plan.horizon:
        st.acc[A_COPIES] += 1.0
        st.acc[A_COPY_HOURS] += hours

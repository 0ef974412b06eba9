"""The repair shop (model/repair.py) inside each node's own cycle (model/nodes.py node_life);
and crews (model/nodes.py Crews): FIFO, granted as a simpy.Resource would grant them.
"""
from __future__ import annotations

from clustersim.engine.fast.clocks import _fire, _leave_fault, _own_load, _schedule_failure, _start_clocks, _sync
from clustersim.engine.fast.codes import (
    E_ESCALATED, E_FALSE_SUCCESS, E_MISDIAGNOSED, E_RECURRED, E_STAGE_ENTERED, E_UNDIAGNOSED, FILLED, K_LEMON,
    NO_CAUSE, RECOVERY_REBOOT, ROLE_RETIRED, R_FAILED, R_OK, R_REBOOTING, R_REPAIRING, R_RETIRED, R_WAITING,
    UNLIMITED,
)
from clustersim.engine.fast.draws import _draw, _uniform_index
from clustersim.engine.fast.holds import _node_back, _release, _strike
from clustersim.engine.fast.jit import helper
from clustersim.engine.fast.jobs import _g_enter
from clustersim.engine.fast.pool import _dispatch, _warmed
from clustersim.engine.fast.queue import (
    EV_CREW_GRANTED, EV_CREW_RELEASED, EV_NODE_BLAMED, EV_NODE_DETECTED, EV_NODE_FAIL, EV_NODE_GROUP_FAIL,
    EV_NODE_REPLAN, EV_REBOOT_DONE, EV_STAGE_DONE, EV_UNDIAGNOSED_DONE, EV_WARMED, NORMAL, SEQ_MASK, URGENT, _push,
)
from clustersim.engine.fast.recording import _rec_crews, _rec_event, _rec_repair, _row
from clustersim.engine.fast.score import _blame, _should_retire
from clustersim.engine.fast.tables import (
    C_BUSY, C_GRANTED, C_QHEAD, C_QSIZE, N_BLAME_MODE, N_FAIL_SEQ, N_GROUP_JOB, N_HOLDS, N_LEMON, N_LOAD, N_MODE,
    N_OPERATING, N_PENDING_INDEX, N_PENDING_SOURCE, N_REAL_FAULT, N_REPAIR, N_ROLE, N_RUNNING, N_SLOT, N_STAGE,
    N_WARMING, S_NODE, S_PHASE,
)


@helper
def _grant_next(st, pool, limit, t):
    crew = st.crew_i
    if crew[pool, C_QSIZE] > 0 and crew[pool, C_GRANTED] < limit:
        crew[pool, C_GRANTED] += 1
        head = crew[pool, C_QHEAD]
        node = st.crew_queue[pool, head]
        crew[pool, C_QHEAD] = (head + 1) % st.crew_queue.shape[1]
        crew[pool, C_QSIZE] -= 1
        _push(st, t, NORMAL, EV_CREW_GRANTED, node)


@helper
def _set_busy(plan, st, pool, busy, t):
    _rec_crews(plan, st, t, pool, st.crew_i[pool, C_BUSY], busy)
    st.crew_i[pool, C_BUSY] = busy


@helper
def _pool_event(plan, st, gen, etype, target, t):
    """A released crew passes to the head of its queue; the ranked dispatch of the spare pool."""
    if etype == EV_CREW_RELEASED:
        _grant_next(st, target, plan.crew_limit[target], t)
    else:
        _dispatch(plan, st, gen, t)


@helper
def _set_repair(plan, st, node, to, cause, t):
    _rec_repair(plan, st, t, node, st.node_i[node, N_REPAIR], to, cause)
    st.node_i[node, N_REPAIR] = to


@helper
def _node_fails(plan, st, gen, node, t):
    """The proposed failure strikes (RepairShop.after_failure up to detection)."""
    mode, recurred = _fire(plan, st, gen, node)
    _node_struck(plan, st, gen, node, mode, recurred, t)


@helper
def _node_struck(plan, st, gen, node, mode, recurred, t):
    """A failure of ``mode`` strikes: the repair shop takes the node (RepairShop.after_failure)."""
    st.node_i[node, N_MODE] = mode
    _set_repair(plan, st, node, R_FAILED, mode, t)
    if recurred:
        _rec_event(plan, st, t, node, E_RECURRED, mode)
    _strike(plan, st, gen, node, mode, True, False, t)
    if plan.detection > 0.0:
        _push(st, t + plan.detection, NORMAL, EV_NODE_DETECTED, node)
    else:
        _node_detected(plan, st, gen, node, t)


@helper
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


@helper
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


@helper
def _innocent(st, slot, faulty):
    """Could the node in ``slot`` be blamed for ``faulty``'s failure (not if already blamed this instant)?"""
    node = st.slot_i[slot, S_NODE]
    return (st.slot_i[slot, S_PHASE] == FILLED and node != faulty and st.node_i[node, N_SLOT] == slot
            and st.node_i[node, N_HOLDS] == 0 and st.node_i[node, N_REPAIR] == R_OK
            and st.node_i[node, N_BLAME_MODE] < 0 and st.node_i[node, N_OPERATING] == 1)


@helper
def _node_blamed(plan, st, gen, node, t):
    """An up, innocent node is blamed for another's failure: taken out at once and repaired."""
    _sync(plan, st, node, t)
    st.node_i[node, N_RUNNING] = 0
    st.node_i[node, N_FAIL_SEQ] = -1
    mode = st.node_i[node, N_BLAME_MODE]
    st.node_i[node, N_BLAME_MODE] = -1  # no blame pending any more
    st.node_i[node, N_MODE] = mode
    _strike(plan, st, gen, node, mode, False, True, t)
    _blame(plan, st, node, t)
    st.node_i[node, N_REAL_FAULT] = 0
    _enter_stage(plan, st, gen, node, plan.mode_stage_first[mode], t)


@helper
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


@helper
def _crew_granted(plan, st, gen, node, t):
    stage = st.node_i[node, N_STAGE]
    pool = plan.stage_pool[stage]
    _set_repair(plan, st, node, R_REPAIRING, st.node_i[node, N_MODE], t)
    _set_busy(plan, st, pool, st.crew_i[pool, C_BUSY] + 1, t)
    _push(st, t + _draw(plan, gen, plan.stage_law[stage]), NORMAL, EV_STAGE_DONE, node)


@helper
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


@helper
def _undiagnosed_done(plan, st, gen, node, t):
    """An undiagnosed node is back from its reboot with its fault in place."""
    mode = st.node_i[node, N_MODE]
    _leave_fault(plan, st, gen, node, mode)
    _set_repair(plan, st, node, R_OK, mode, t)
    _release(plan, st, gen, node, t)
    _schedule_failure(plan, st, gen, node, t)


@helper
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


@helper
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
    elif etype == EV_NODE_REPLAN:  # its load changed: its life plans its own timer again
        _schedule_failure(plan, st, gen, node, t)
    elif etype == EV_NODE_GROUP_FAIL:  # a computing-aged mode failed it in its job's group
        _node_struck(plan, st, gen, node, st.node_i[node, N_PENDING_INDEX], st.node_i[node, N_PENDING_SOURCE] == 1, t)
    else:  # EV_NODE_POWERED: a provisioned cold spare starts operating and ageing
        _start_clocks(plan, st, gen, node)
        _start_load(plan, st, gen, node, t)
        _schedule_failure(plan, st, gen, node, t)


@helper
def _start_load(plan, st, gen, node, t):
    """Its clocks start at its own load; a job's group that it already fills keeps its computing-aged clocks."""
    if not plan.load_dependent:
        return
    st.node_i[node, N_LOAD] = _own_load(st, node)
    if st.node_i[node, N_GROUP_JOB] >= 0:
        _g_enter(plan, st, gen, node, t)

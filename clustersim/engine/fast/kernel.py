"""The fast engine's numba kernel: one replication of the infrastructure model as array state machines.

Handlers per component kind schedule their events in exactly the order SimPy's processes do
(see ``core.py`` for the event queue and the recording of rows): nodes (``model/nodes.py``
node_life and ``model/repair.py``: own failures, detection, diagnosis, repair stages with their
crews, blame, retirement, warm-up of standbys), working positions (``model/spares.py``
slot_life: interrupted, detected, spare handed over, swap done, own node back), failure domains
(``model/domains.py``), the pool (a crew released, the ranked dispatch at the end of an
instant) and training jobs (``jobs.py``). ``etype >> 4`` is the kind, one dispatch function each.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from clustersim.engine.fast.compile import (
    CKPT_CONTINUOUS, RECOVERY_REBOOT, RETIRE_NEVER, RETIRE_THRESHOLD, ROLE_COLD, ROLE_HOT, ROLE_LOOSE, ROLE_RETIRED,
    ROLE_WARM, ROLE_WORK, SELECT_FEWEST_FAILURES, SELECT_FIFO, SELECT_HIGHEST_SCORE, UNLIMITED,
)
from clustersim.engine.fast.core import (
    A_CAPACITY, A_FIRST_EMPTY, A_FIRST_SHORT, A_POOL, A_POOL_AT_START, A_UP, A_WARM, ACC_SIZE, C_BUSY, C_GRANTED,
    C_QHEAD, C_QSIZE, CREW_ACC_COLS, CREW_I_COLS, CT_LATENT_STAMP, CTR_COLS, DOWN, E_ESCALATED,
    E_FALSE_SUCCESS, E_MISDIAGNOSED, E_RECURRED, E_STAGE_ENTERED, E_UNDIAGNOSED, EMPTY, EV_CREW_GRANTED,
    EV_CREW_RELEASED, EV_DOMAIN_DETECTED, EV_DOMAIN_FAIL, EV_DOMAIN_REPAIRED, EV_JOB_FLUSH, EV_NODE_BLAMED, EV_NODE_DETECTED, EV_NODE_FAIL,
    EV_NODE_POWERED, EV_POOL_DISPATCH, EV_REBOOT_DONE, EV_SLOT_DETECTED, EV_SLOT_HANDED, EV_SLOT_INTERRUPT,
    EV_SLOT_NODE_BACK, EV_STAGE_DONE, EV_SWAP_DONE, EV_UNDIAGNOSED_DONE, EV_WARMED, FILLED, JA_DONE_AT, JA_END, JA_STATE_LAST,
    JOB_ACC_COLS, JOB_F_COLS, JOB_I_COLS, K_CREWS, K_DOMAIN, K_EVENT, K_FAILURE, K_LEMON, K_NODE, K_POOL, K_REPAIR,
    K_SLOT, K_WARM, KIND_DOMAIN, KIND_JOB, KIND_NODE, KIND_SLOT, L_BELOW, L_LAST, L_VALUE, N_BLAME_MODE, N_BLAMED,
    N_FAIL_SEQ, N_HOLDS, N_LEMON, N_LIST, N_MODE, N_NEXT, N_OPERATING_SINCE, N_PENDING_HOURS,
    N_PENDING_INDEX, N_PENDING_SOURCE, N_PREV, N_REAL_FAULT, N_REPAIR, N_ROLE, N_SCORE_BASE, N_SLOT, N_STAGE,
    N_UP_SINCE, N_WARMING, N_WAS_LEMON, NO_CAUSE, NODE_BACK_DUE, NODE_BACK_NONE, NODE_BACK_WAITING, NODE_F_COLS,
    NODE_I_COLS, NORMAL, NOT_STRUCK, P_ARRIVALS, P_DISPATCH_PENDING, P_HEAD, P_SIZE, P_TAIL, P_WAIT_N, P_WARMING,
    POOL_I_COLS, R_FAILED, R_OK, R_REBOOTING, R_REPAIRING, R_RETIRED, R_WAITING, RANK_SHIFT, S_ACTIVE, S_ATTACHED,
    S_CAUSE, S_NODE, S_NODE_BACK, S_NOTICED, S_PHASE, S_SPARE, S_STARVED, S_SWAP_SEQ, S_TIER, SEQ_MASK, SLOT_I_COLS,
    SOURCE_EXP, SOURCE_LATENT, SOURCE_NONE, SOURCE_PART, STATUS_OK, STRUCK, SWAPPING, THE_POOL, TIER_COLD, TIER_HOT,
    TIER_WARM, UP, URGENT, WAITING, State, _draw, _level_to, _loop, _helper, _pop, _push, _record,
    _uniform_index, _wait_ended, CT_STATUS,
)
from clustersim.engine.fast.jobs import _job_close, _job_event, _job_member_changed, _job_member_starved, _job_start

# ---------------------------------------------------------------------------------------------
# failure clocks (model/clocks.py): a superposed exponential clock, one lifetime per part, and
# the latent faults left in place; a lemon consumes them faster


@_helper
def _start_clocks(plan, st, gen, node):
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
        _record(plan, st, t, K_FAILURE, node, NOT_STRUCK, STRUCK, cause)
    st.node_i[node, N_HOLDS] += 1
    if st.node_i[node, N_HOLDS] == 1:
        _record(plan, st, t, K_NODE, node, UP, DOWN, cause)
        _on_down(plan, st, gen, node, cause, noticed, t)


@_helper
def _release(plan, st, gen, node, t):
    st.node_i[node, N_HOLDS] -= 1
    if st.node_i[node, N_HOLDS] == 0:
        _record(plan, st, t, K_NODE, node, DOWN, UP, NO_CAUSE)
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
    pool = st.pool_i
    return pool[3 * TIER_WARM + P_SIZE] + pool[3 * TIER_HOT + P_SIZE] + pool[3 * TIER_COLD + P_SIZE]


@_helper
def _warm_size(st):
    return st.pool_i[3 * TIER_WARM + P_SIZE]


@_helper
def _log_pool(plan, st, before, warm_before, t):
    after = _usable(st)
    if after != before:
        _record(plan, st, t, K_POOL, THE_POOL, before, after, NO_CAUSE)
    warm = _warm_size(st)
    if warm != warm_before:
        _record(plan, st, t, K_WARM, THE_POOL, warm_before, warm, NO_CAUSE)


@_helper
def _pick(plan, st, gen, lst, skip_warming, t):
    """The selection policy's pick among the nodes of tier list ``lst`` (oldest first), optionally
    skipping hot spares being initialised; -1 when there is none."""
    policy = plan.selection
    node = st.pool_i[3 * lst + P_HEAD]
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
    node = st.pool_i[3 * lst + P_HEAD]
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
    _record(plan, st, t, K_WARM, THE_POOL, warm - 1, warm, NO_CAUSE)


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
    while st.pool_i[3 * tier + P_SIZE] == 0:
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
        else:
            st.scratch[kept, 0], st.scratch[kept, 1] = key, slot
            kept += 1
    for k in range(kept):
        _wait_push(st, st.scratch[k, 1], st.scratch[k, 0])
    for k in range(kept):
        _set_starved(plan, st, st.scratch[k, 1], True, t)
    _replenish_warm(plan, st, gen, t)


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
    _record(plan, st, t, K_REPAIR, node, st.node_i[node, N_REPAIR], to, cause)
    st.node_i[node, N_REPAIR] = to


@_helper
def _node_fails(plan, st, gen, node, t):
    """The proposed failure strikes (RepairShop.after_failure up to detection)."""
    mode, recurred = _fire(plan, st, gen, node)
    st.node_i[node, N_MODE] = mode
    _set_repair(plan, st, node, R_FAILED, mode, t)
    if recurred:
        _record(plan, st, t, K_EVENT, node, 0, E_RECURRED, mode)
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
        _record(plan, st, t, K_EVENT, node, 0, E_UNDIAGNOSED, mode)
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
            _record(plan, st, t, K_EVENT, innocent, 0, E_MISDIAGNOSED, mode)
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
    """Could the node in ``slot`` be blamed for ``faulty``'s failure?"""
    node = st.slot_i[slot, S_NODE]
    return (st.slot_i[slot, S_PHASE] == FILLED and node != faulty and st.node_i[node, N_SLOT] == slot
            and st.node_i[node, N_HOLDS] == 0 and st.node_i[node, N_REPAIR] == R_OK)


@_helper
def _node_blamed(plan, st, gen, node, t):
    """An up, innocent node is blamed for another's failure: taken out at once and repaired."""
    _advance(plan, st, node, t - st.node_f[node, N_OPERATING_SINCE])
    st.node_i[node, N_FAIL_SEQ] = -1
    mode = st.node_i[node, N_BLAME_MODE]
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
        _record(plan, st, t, K_EVENT, node, 0, E_STAGE_ENTERED, cause)
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
        _record(plan, st, t, K_EVENT, node, 0, E_ESCALATED, cause)
        if stage + 1 < plan.mode_stage_first[mode] + plan.mode_stage_count[mode]:
            _enter_stage(plan, st, gen, node, stage + 1, t)
            return
        fixed = True
    else:
        fixed = True
        false_success = plan.stage_false_success[stage]
        if false_success > 0.0 and gen.random() < false_success:
            if real:
                _record(plan, st, t, K_EVENT, node, 0, E_FALSE_SUCCESS, cause)
            fixed = False
    if real:
        if fixed:
            st.latent_stamp[node, mode] = -1
            if plan.cure_lemons and st.node_i[node, N_LEMON] == 1:
                st.node_i[node, N_LEMON] = 0
                _record(plan, st, t, K_LEMON, node, 1, 0, NO_CAUSE)
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
    _record(plan, st, t, K_SLOT, slot, before, state, cause)
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
        _record(plan, st, t, K_DOMAIN, domain, R_OK, R_FAILED, cause)
        for k in range(first, last):
            _strike(plan, st, gen, plan.domain_nodes[k], cause, True, False, t)
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
            _release(plan, st, gen, plan.domain_nodes[k], t)
        _push(st, t + _draw(plan, gen, plan.domain_ttf[domain]), NORMAL, EV_DOMAIN_FAIL, domain)


# ---------------------------------------------------------------------------------------------
# one replication


@njit(cache=True)
def _new_state(plan, gen, heap_capacity, trace):
    nodes, working, jobs = plan.nodes, plan.working, plan.job_size.shape[0]
    node_i = np.full((nodes, NODE_I_COLS), -1, dtype=np.int64)
    node_f = np.zeros((nodes, NODE_F_COLS))
    slot_i = np.zeros((working, SLOT_I_COLS), dtype=np.int64)
    pools = plan.crew_limit.shape[0]
    pool_i = np.zeros(POOL_I_COLS, dtype=np.int64)
    for tier in (TIER_WARM, TIER_HOT, TIER_COLD):
        pool_i[3 * tier + P_HEAD] = -1
        pool_i[3 * tier + P_TAIL] = -1
    bits = np.zeros(1)
    ring = plan.retire_max_failures if plan.retirement == RETIRE_THRESHOLD else 0
    st = State(
        node_i, node_f, np.zeros((nodes, plan.parts)),
        np.zeros((nodes, plan.modes)), np.full((nodes, plan.modes), -1, dtype=np.int64), np.zeros((nodes, ring)),
        slot_i, np.full(max(working, 1), -1.0),
        np.zeros((pools, CREW_I_COLS), dtype=np.int64), np.zeros((pools, nodes), dtype=np.int64),
        pool_i, np.zeros((max(working, 1), 2), dtype=np.int64), np.zeros((max(working, 1), 2), dtype=np.int64),
        np.zeros((jobs, JOB_I_COLS), dtype=np.int64), np.zeros((jobs, JOB_F_COLS)),
        np.zeros((heap_capacity, 4), dtype=np.int64), bits, bits.view(np.int64),
        np.zeros((2, heap_capacity), dtype=np.int64), np.zeros((2, heap_capacity), dtype=np.int64), np.zeros(1),
        np.zeros(CTR_COLS, dtype=np.int64), np.zeros(ACC_SIZE), np.zeros(plan.causes),
        np.zeros(pools * CREW_ACC_COLS), np.zeros(jobs * JOB_ACC_COLS), np.zeros((jobs, max(plan.causes, 1))), trace,
    )
    for node in range(nodes):
        node_i[node, N_HOLDS] = 0
        node_i[node, N_ROLE] = plan.node_role[node]
        node_i[node, N_SLOT] = node if node < working else -1
        node_i[node, N_REPAIR] = R_OK
        node_i[node, N_LEMON] = 0
        node_i[node, N_BLAMED] = 0
        node_i[node, N_FAIL_SEQ] = -1
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
    acc[A_POOL_AT_START] = plan.hot + plan.cold
    acc[A_FIRST_EMPTY] = -1.0
    acc[A_FIRST_SHORT] = plan.horizon
    _mark_lemons(plan, st, gen)
    return st


@njit(cache=True)
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
            _record(plan, st, 0.0, K_LEMON, node, 0, 1, NO_CAUSE)


@_loop
def _run(plan, st, gen):
    """Start every component in SimPy's order, then process events until the horizon; close the levels."""
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


@njit(cache=True, nogil=True)
def simulate(plan, gen, heap_capacity, trace):
    """Replication of ``plan`` drawing from ``gen``: the state's accumulators and counters.

    ``trace`` (rows, 6) receives the state-change log when it has rows; ``ctr[CT_STATUS]`` is
    STATUS_HEAP_FULL or STATUS_TRACE_FULL when the heap or trace was too small (rerun bigger).
    """
    st = _new_state(plan, gen, heap_capacity, trace)
    _run(plan, st, gen)
    return st.acc, st.cause_count, st.ctr, st.crew_acc, st.job_acc, st.job_cause

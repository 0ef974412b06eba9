"""The spare pool (model/spares.py SparePool): tiers warm, hot, cold as FIFO lists linked
through the nodes; waiting positions in a heap by (priority rank, arrival).
"""
from __future__ import annotations

from clustersim.engine.fast.codes import (
    FILLED, ROLE_COLD, ROLE_HOT, ROLE_WARM, ROLE_WORK, SELECT_FEWEST_FAILURES, SELECT_FIFO, SELECT_HIGHEST_SCORE,
)
from clustersim.engine.fast.clocks import _replan
from clustersim.engine.fast.draws import _uniform_index
from clustersim.engine.fast.jit import helper
from clustersim.engine.fast.jobs import _job_member_starved
from clustersim.engine.fast.queue import (
    EV_POOL_DISPATCH, EV_SLOT_HANDED, EV_SLOT_INTERRUPT, EV_WARMED, NORMAL, URGENT, _push,
)
from clustersim.engine.fast.recording import _rec_pool, _rec_warm
from clustersim.engine.fast.score import _score
from clustersim.engine.fast.tables import (
    LIST_COLS, N_BLAMED, N_HOLDS, N_LIST, N_NEXT, N_PREV, N_ROLE, N_SLOT, N_WARMING, P_ARRIVALS, P_DISPATCH_PENDING,
    P_HEAD, P_SIZE, P_TAIL, P_WAIT_N, P_WARMING, RANK_SHIFT, S_ATTACHED, S_CAUSE, S_NODE, S_NOTICED, S_PHASE, S_SPARE,
    S_STARVED, S_SWAP_SEQ, S_TIER, TIER_COLD, TIER_HOT, TIER_WARM,
)


@helper
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


@helper
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


@helper
def _usable(st):
    pool = st.pool_i
    return (pool[LIST_COLS * TIER_WARM + P_SIZE] + pool[LIST_COLS * TIER_HOT + P_SIZE]
            + pool[LIST_COLS * TIER_COLD + P_SIZE])


@helper
def _warm_size(st):
    return st.pool_i[LIST_COLS * TIER_WARM + P_SIZE]


@helper
def _log_pool(plan, st, before, warm_before, t):
    after = _usable(st)
    if after != before:
        _rec_pool(plan, st, t, before, after)
    warm = _warm_size(st)
    if warm != warm_before:
        _rec_warm(plan, st, t, warm_before, warm)


@helper
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


@helper
def _stop_warming(st, node):
    if st.node_i[node, N_WARMING] >= 0:
        st.node_i[node, N_WARMING] = -1
        st.pool_i[P_WARMING] -= 1


@helper
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


@helper
def _warmed(plan, st, node, t):
    """A hot spare finished initialising: a warm standby now."""
    _stop_warming(st, node)
    _list_remove(st, node)
    _list_append(st, TIER_WARM, node)
    st.node_i[node, N_ROLE] = ROLE_WARM
    warm = _warm_size(st)
    _rec_warm(plan, st, t, warm - 1, warm)


@helper
def _hand_over(plan, st, node, tier, slot, t):
    """The spare becomes the slot's at once; the slot resumes when the hand-over event runs."""
    _stop_warming(st, node)
    st.slot_i[slot, S_SPARE] = node
    st.slot_i[slot, S_TIER] = tier
    st.node_i[node, N_SLOT] = slot
    st.node_i[node, N_ROLE] = ROLE_WORK
    _replan(plan, st, node, t)
    _push(st, t, NORMAL, EV_SLOT_HANDED, slot)


@helper
def _take_spare(plan, st, gen, slot, t):
    """The selection policy's pick from the best non-empty tier, handed to ``slot``."""
    tier = TIER_WARM
    while st.pool_i[LIST_COLS * tier + P_SIZE] == 0:
        tier += 1
    before, warm_before = _usable(st), _warm_size(st)
    node = _pick(plan, st, gen, tier, False, t)
    _list_remove(st, node)
    _log_pool(plan, st, before, warm_before, t)
    _hand_over(plan, st, node, tier, slot, t)


@helper
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


@helper
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


@helper
def _wait_for_spare(plan, st, slot):
    arrival = st.pool_i[P_ARRIVALS]
    st.pool_i[P_ARRIVALS] = arrival + 1
    _wait_push(st, slot, (plan.slot_rank[slot] << RANK_SHIFT) | arrival)


@helper
def _set_starved(plan, st, slot, starved, t):
    """Mark the position as waiting with no usable spare (or no longer), telling its job."""
    flag = 1 if starved else 0
    if st.slot_i[slot, S_STARVED] != flag:
        st.slot_i[slot, S_STARVED] = flag
        job = plan.slot_job[slot]
        if job >= 0:
            _job_member_starved(plan, st, job, 1 if starved else -1, t)


@helper
def _pool_add(plan, st, gen, node, t):
    """A healthy idle spare becomes usable: the first waiting slot takes it at once, else it joins its tier."""
    tier = TIER_COLD if st.node_i[node, N_ROLE] == ROLE_COLD else TIER_HOT
    if st.pool_i[P_WAIT_N] > 0:
        _, slot = _wait_pop(st)
        _set_starved(plan, st, slot, False, t)
        _hand_over(plan, st, node, tier, slot, t)
        return
    before, warm_before = _usable(st), _warm_size(st)
    _list_append(st, tier, node)
    _log_pool(plan, st, before, warm_before, t)
    _replenish_warm(plan, st, gen, t)


@helper
def _pool_remove(plan, st, gen, node, t):
    """A spare in the pool went down; it is unusable until it is up again (then as a hot spare)."""
    before, warm_before = _usable(st), _warm_size(st)
    _list_remove(st, node)
    _stop_warming(st, node)
    if st.node_i[node, N_ROLE] == ROLE_WARM:
        st.node_i[node, N_ROLE] = ROLE_HOT
    _log_pool(plan, st, before, warm_before, t)
    _replenish_warm(plan, st, gen, t)


@helper
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


@helper
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


@helper
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


@helper
def _preempt(plan, st, victim, slot, t):
    """Take ``victim``'s node for ``slot``: it joins after swap_time; the victim refills from the pool."""
    node = st.slot_i[victim, S_NODE]
    st.slot_i[victim, S_ATTACHED] = 0
    st.slot_i[victim, S_CAUSE] = plan.preemption_cause
    st.slot_i[victim, S_NOTICED] = 1
    st.slot_i[victim, S_SWAP_SEQ] = -1
    _push(st, t, URGENT, EV_SLOT_INTERRUPT, victim)
    _hand_over(plan, st, node, TIER_HOT, slot, t)

"""Working positions (model/spares.py slot_life and _refill)."""
from __future__ import annotations

from clustersim.engine.fast.codes import EMPTY, FILLED, NO_CAUSE, ROLE_COLD, ROLE_LOOSE, ROLE_RETIRED, SWAPPING, WAITING
from clustersim.engine.fast.clocks import _replan
from clustersim.engine.fast.jit import helper
from clustersim.engine.fast.jobs import _job_member_changed
from clustersim.engine.fast.pool import _pool_take
from clustersim.engine.fast.queue import (
    EV_NODE_POWERED, EV_SLOT_DETECTED, EV_SLOT_HANDED, EV_SLOT_INTERRUPT, EV_SWAP_DONE, NORMAL, SEQ_MASK, _push,
)
from clustersim.engine.fast.recording import _rec_slot
from clustersim.engine.fast.tables import (
    NODE_BACK_NONE, NODE_BACK_WAITING, N_HOLDS, N_ROLE, N_SLOT, S_ATTACHED, S_CAUSE, S_NODE, S_NODE_BACK, S_NOTICED,
    S_PHASE, S_SPARE, S_SWAP_SEQ, S_TIER, TIER_COLD, TIER_WARM,
)


@helper
def _set_slot(plan, st, gen, slot, state, cause, t):
    """Log the slot's new state and tell its job."""
    before = st.slot_i[slot, S_PHASE]
    _rec_slot(plan, st, t, slot, before, state, cause)
    st.slot_i[slot, S_PHASE] = state
    job = plan.slot_job[slot]
    if job >= 0:
        _job_member_changed(plan, st, gen, job, slot, before, cause, t)


@helper
def _give_back(plan, st, spare, tier, t):
    """A spare that failed before joining: it rejoins the pool (cold spares stay cold) once up."""
    st.node_i[spare, N_SLOT] = -1
    if st.node_i[spare, N_ROLE] != ROLE_RETIRED:
        st.node_i[spare, N_ROLE] = ROLE_COLD if tier == TIER_COLD else ROLE_LOOSE
        _replan(plan, st, spare, t)


@helper
def _slot_detected(plan, st, gen, slot, t):
    node = st.slot_i[slot, S_NODE]
    mine = st.node_i[node, N_SLOT] == slot
    if mine and st.node_i[node, N_HOLDS] == 0:  # back before anyone noticed
        _set_slot(plan, st, gen, slot, FILLED, NO_CAUSE, t)
        st.slot_i[slot, S_ATTACHED] = 1
        return
    _set_slot(plan, st, gen, slot, WAITING, st.slot_i[slot, S_CAUSE], t)
    if plan.slot_own[slot] == 1 and mine and st.node_i[node, N_ROLE] != ROLE_RETIRED:
        st.slot_i[slot, S_NODE_BACK] = NODE_BACK_WAITING
        return
    _let_go(plan, st, gen, slot, t)


@helper
def _let_go(plan, st, gen, slot, t):
    """The position gives its node up and takes a spare."""
    node = st.slot_i[slot, S_NODE]
    if st.node_i[node, N_SLOT] == slot:
        st.node_i[node, N_SLOT] = -1
        if st.node_i[node, N_ROLE] != ROLE_RETIRED:
            st.node_i[node, N_ROLE] = ROLE_LOOSE
            _replan(plan, st, node, t)
    _pool_take(plan, st, gen, slot, t)


@helper
def _slot_event(plan, st, gen, etype, slot, key, t):
    slots = st.slot_i
    if etype == EV_SLOT_INTERRUPT:
        if slots[slot, S_PHASE] == FILLED:
            _set_slot(plan, st, gen, slot, EMPTY, slots[slot, S_CAUSE], t)
            if plan.detection > 0.0 and slots[slot, S_NOTICED] == 0:
                _push(st, t + plan.detection, NORMAL, EV_SLOT_DETECTED, slot)
            else:
                _slot_detected(plan, st, gen, slot, t)
        else:  # the spare failed during its swap
            _give_back(plan, st, slots[slot, S_SPARE], slots[slot, S_TIER], t)
            _set_slot(plan, st, gen, slot, WAITING, slots[slot, S_CAUSE], t)
            _pool_take(plan, st, gen, slot, t)
    elif etype == EV_SLOT_DETECTED:
        _slot_detected(plan, st, gen, slot, t)
    elif etype == EV_SLOT_HANDED:
        spare, tier = slots[slot, S_SPARE], slots[slot, S_TIER]
        if st.node_i[spare, N_HOLDS] > 0:  # failed the instant it was handed over
            _give_back(plan, st, spare, tier, t)
            _pool_take(plan, st, gen, slot, t)
            return
        _set_slot(plan, st, gen, slot, SWAPPING, NO_CAUSE, t)
        slots[slot, S_ATTACHED] = 1
        if tier == TIER_COLD:
            join = plan.provisioning
            if plan.serial_cold:  # after those ahead of it in line (model/spares.py provisioning_hours)
                st.line_free[0] = max(t, st.line_free[0]) + plan.provisioning
                join = st.line_free[0] - t
        else:
            join = plan.standby_swap_time if tier == TIER_WARM else plan.swap_time
        slots[slot, S_SWAP_SEQ] = _push(st, t + join, NORMAL, EV_SWAP_DONE, slot)
    elif etype == EV_SWAP_DONE:
        if slots[slot, S_SWAP_SEQ] != (key & SEQ_MASK):
            return  # the swap this event would end was interrupted
        spare = slots[slot, S_SPARE]
        if slots[slot, S_TIER] == TIER_COLD and plan.modes > 0:
            _push(st, t, NORMAL, EV_NODE_POWERED, spare)
        slots[slot, S_NODE] = spare
        slots[slot, S_SWAP_SEQ] = -1
        _set_slot(plan, st, gen, slot, FILLED, NO_CAUSE, t)
    else:  # EV_SLOT_NODE_BACK: its own node is up again (or retired)
        slots[slot, S_NODE_BACK] = NODE_BACK_NONE
        if st.node_i[slots[slot, S_NODE], N_HOLDS] == 0:
            slots[slot, S_ATTACHED] = 1
            _set_slot(plan, st, gen, slot, FILLED, NO_CAUSE, t)
        else:
            _let_go(plan, st, gen, slot, t)

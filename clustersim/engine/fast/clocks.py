"""Failure clocks (model/clocks.py): a superposed exponential clock, one lifetime per part, and
the latent faults left in place; a lemon consumes them faster. With load-dependent ageing the
own timer runs them at the rate factors of the node's load (N_LOAD), and is planned again when
that changes (``_replan``, as model/load.replan).
"""
from __future__ import annotations

import math

from clustersim.engine.fast.draws import _draw
from clustersim.engine.fast.jit import called, helper
from clustersim.engine.fast.queue import EV_NODE_FAIL, EV_NODE_REPLAN, NORMAL, URGENT, _push
from clustersim.engine.fast.tables import (
    CT_LATENT_STAMP, LOAD_GROUPED, LOAD_IDLE, LOAD_WORKING, N_BLAME_MODE, N_FAIL_SEQ, N_GROUP_JOB, N_LEMON, N_LOAD,
    N_OPERATING, N_OPERATING_SINCE, N_PENDING_HOURS, N_PENDING_INDEX, N_PENDING_SOURCE, N_ROLE, N_RUNNING,
    SOURCE_EXP, SOURCE_LATENT, SOURCE_NONE, SOURCE_PART,
)
from clustersim.engine.fast.codes import ROLE_WORK


@helper
def _start_clocks(plan, st, gen, node):
    st.node_i[node, N_OPERATING] = 1
    for p in range(plan.parts):
        st.remaining[node, p] = _draw(plan, gen, plan.part_law[p])


@called
def _advance(plan, st, node, hours):
    """``hours`` of operation pass without a failure (NodeClocks.advance)."""
    if hours <= 0.0:
        return
    config = 3 * st.node_i[node, N_LEMON] + st.node_i[node, N_LOAD]
    for p in range(plan.parts):
        st.remaining[node, p] -= hours * plan.part_speed[config, p]
    load = st.node_i[node, N_LOAD]
    for m in range(plan.modes):
        if st.latent_stamp[node, m] >= 0:
            factor = plan.mode_load_factor[load, m]
            st.latent[node, m] -= hours if factor == 1.0 else hours * factor


@helper
def _schedule_failure(plan, st, gen, node, t):
    """Propose the node's next own failure (NodeClocks.next_failure) and wait for it."""
    config = 3 * st.node_i[node, N_LEMON] + st.node_i[node, N_LOAD]
    best = math.inf
    source = SOURCE_NONE
    index = -1
    if plan.exp_total_rate[config] > 0.0:
        best = gen.exponential(plan.exp_scale[config])
        source = SOURCE_EXP
    for p in range(plan.parts):
        speed = plan.part_speed[config, p]
        if speed == 0.0:  # (a paused clock: load-dependent ageing)
            continue
        dt = st.remaining[node, p] / speed
        if dt < best:
            best, source, index = dt, SOURCE_PART, p
    # latent faults in the order they were left (a dict's order in SimPy): the first of equals wins
    load = st.node_i[node, N_LOAD]
    chosen = -1
    chosen_left = math.inf
    for m in range(plan.modes):
        stamp = st.latent_stamp[node, m]
        if stamp >= 0:
            factor = plan.mode_load_factor[load, m]
            left = st.latent[node, m]
            if factor != 1.0:
                left = left / factor if factor > 0.0 else math.inf
            if left < best and (chosen < 0 or left < chosen_left
                                or (left == chosen_left and stamp < st.latent_stamp[node, chosen])):
                chosen = m
                chosen_left = left
    if chosen >= 0:
        best, source, index = chosen_left, SOURCE_LATENT, chosen
    st.node_i[node, N_PENDING_SOURCE] = source
    st.node_i[node, N_PENDING_INDEX] = index
    st.node_f[node, N_PENDING_HOURS] = best
    st.node_f[node, N_OPERATING_SINCE] = t
    st.node_i[node, N_RUNNING] = 1
    st.node_i[node, N_FAIL_SEQ] = _push(st, t + best, NORMAL, EV_NODE_FAIL, node) if best < math.inf else -1


@helper
def _fire(plan, st, gen, node):
    """The proposed failure happens (NodeClocks.fire): returns (mode, was a recurrence)."""
    st.node_i[node, N_RUNNING] = 0
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
    config = 3 * st.node_i[node, N_LEMON] + st.node_i[node, N_LOAD]
    cumulative = plan.exp_cumulative[config]
    x = gen.random() * plan.exp_total_rate[config]
    pick = 0
    while pick < cumulative.shape[0] and cumulative[pick] <= x:  # bisect_right
        pick += 1
    return plan.exp_modes[min(pick, cumulative.shape[0] - 1)], False


@helper
def _sync(plan, st, node, t):
    """Age the own timer's clocks up to ``t`` (only while the node's life waits on them)."""
    if st.node_i[node, N_RUNNING] == 1:
        _advance(plan, st, node, t - st.node_f[node, N_OPERATING_SINCE])
    st.node_f[node, N_OPERATING_SINCE] = t


@helper
def _own_load(st, node):
    if st.node_i[node, N_GROUP_JOB] >= 0:
        return LOAD_GROUPED
    return LOAD_WORKING if st.node_i[node, N_ROLE] == ROLE_WORK else LOAD_IDLE


@helper
def _replan(plan, st, node, t):
    """The node's load may have changed (model/load.replan): age its clocks, and if it changed plan its timer again."""
    if not plan.load_dependent or st.node_i[node, N_OPERATING] == 0:
        return
    load = _own_load(st, node)
    if load == st.node_i[node, N_LOAD]:
        return
    _sync(plan, st, node, t)
    st.node_i[node, N_LOAD] = load
    if st.node_i[node, N_RUNNING] == 1 and st.node_i[node, N_BLAME_MODE] < 0:
        st.node_i[node, N_RUNNING] = 0  # one interrupt: its life plans again when it handles it
        st.node_i[node, N_FAIL_SEQ] = -1
        _push(st, t, URGENT, EV_NODE_REPLAN, node)


@helper
def _leave_fault(plan, st, gen, node, mode):
    """The fault of ``mode`` stays in place: it recurs after a recurrence draw (if faults recur)."""
    if plan.recurrence_law < 0:
        return
    if st.latent_stamp[node, mode] < 0:
        st.latent_stamp[node, mode] = st.ctr[CT_LATENT_STAMP]
        st.ctr[CT_LATENT_STAMP] += 1
    st.latent[node, mode] = _draw(plan, gen, plan.recurrence_law)

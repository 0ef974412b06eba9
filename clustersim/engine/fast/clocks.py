"""Failure clocks (model/clocks.py): a superposed exponential clock, one lifetime per part, and
the latent faults left in place; a lemon consumes them faster.
"""
from __future__ import annotations

import math

from clustersim.engine.fast.draws import _draw
from clustersim.engine.fast.jit import helper
from clustersim.engine.fast.queue import EV_NODE_FAIL, NORMAL, _push
from clustersim.engine.fast.tables import (
    CT_LATENT_STAMP, N_FAIL_SEQ, N_LEMON, N_OPERATING, N_OPERATING_SINCE, N_PENDING_HOURS, N_PENDING_INDEX,
    N_PENDING_SOURCE, SOURCE_EXP, SOURCE_LATENT, SOURCE_NONE, SOURCE_PART,
)


@helper
def _start_clocks(plan, st, gen, node):
    st.node_i[node, N_OPERATING] = 1
    for p in range(plan.parts):
        st.remaining[node, p] = _draw(plan, gen, plan.part_law[p])


@helper
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


@helper
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


@helper
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


@helper
def _leave_fault(plan, st, gen, node, mode):
    """The fault of ``mode`` stays in place: it recurs after a recurrence draw (if faults recur)."""
    if plan.recurrence_law < 0:
        return
    if st.latent_stamp[node, mode] < 0:
        st.latent_stamp[node, mode] = st.ctr[CT_LATENT_STAMP]
        st.ctr[CT_LATENT_STAMP] += 1
    st.latent[node, mode] = _draw(plan, gen, plan.recurrence_law)

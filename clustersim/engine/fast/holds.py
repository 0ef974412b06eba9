"""Holds (model/nodes.py NodeHolds) and what a node going down or up means (model/cluster.py)."""
from __future__ import annotations

from clustersim.engine.fast.codes import DOWN, NO_CAUSE, ROLE_COLD, ROLE_HOT, ROLE_LOOSE, ROLE_WARM, UP
from clustersim.engine.fast.jit import helper
from clustersim.engine.fast.pool import _pool_add, _pool_remove
from clustersim.engine.fast.queue import EV_SLOT_INTERRUPT, EV_SLOT_NODE_BACK, NORMAL, URGENT, _push
from clustersim.engine.fast.recording import _rec_failure, _rec_node
from clustersim.engine.fast.score import _credit
from clustersim.engine.fast.tables import (
    NODE_BACK_DUE, NODE_BACK_WAITING, N_HOLDS, N_ROLE, N_SCORE_BASE, N_SLOT, N_UP_SINCE, S_ATTACHED, S_CAUSE,
    S_NODE_BACK, S_NOTICED, S_SWAP_SEQ,
)


@helper
def _strike(plan, st, gen, node, cause, counted, noticed, t):
    """Hold ``node`` down for ``cause``; ``counted``: this is the failure event itself;
    ``noticed``: taken out deliberately, so nobody waits for detection."""
    if counted:
        _rec_failure(plan, st, t, node, cause)
    st.node_i[node, N_HOLDS] += 1
    if st.node_i[node, N_HOLDS] == 1:
        _rec_node(plan, st, t, node, UP, DOWN, cause)
        _on_down(plan, st, gen, node, cause, noticed, t)


@helper
def _release(plan, st, gen, node, t):
    st.node_i[node, N_HOLDS] -= 1
    if st.node_i[node, N_HOLDS] == 0:
        _rec_node(plan, st, t, node, DOWN, UP, NO_CAUSE)
        _on_up(plan, st, gen, node, t)


@helper
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


@helper
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


@helper
def _node_back(st, node, t):
    """Wake the position that waits for this node's recovery (SimPy: node_back.succeed())."""
    slot = st.node_i[node, N_SLOT]
    if slot >= 0 and st.slot_i[slot, S_NODE_BACK] == NODE_BACK_WAITING:
        st.slot_i[slot, S_NODE_BACK] = NODE_BACK_DUE
        _push(st, t, NORMAL, EV_SLOT_NODE_BACK, slot)

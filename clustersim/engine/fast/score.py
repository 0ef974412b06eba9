"""The node score and the retirement policies (model/policies.py)."""
from __future__ import annotations

import math

from clustersim.engine.fast.codes import RETIRE_ANY, RETIRE_NEVER, RETIRE_SCORED, RETIRE_THRESHOLD
from clustersim.engine.fast.jit import helper
from clustersim.engine.fast.tables import N_BLAMED, N_HOLDS, N_SCORE_BASE, N_UP_SINCE


@helper
def _credit(plan, uptime_hours):
    return plan.score_credit * math.floor(uptime_hours / plan.score_period)


@helper
def _score(plan, st, node, t):
    base = st.node_f[node, N_SCORE_BASE]
    if st.node_i[node, N_HOLDS] == 0:
        return base + _credit(plan, t - st.node_f[node, N_UP_SINCE])
    return base


@helper
def _blame(plan, st, node, t):
    """A failure is attributed to ``node``: its history and score remember it."""
    count = st.node_i[node, N_BLAMED]
    ring = st.blame_times.shape[1]
    if ring > 0:
        st.blame_times[node, count % ring] = t
    st.node_i[node, N_BLAMED] = count + 1
    if plan.scored:
        st.node_f[node, N_SCORE_BASE] -= plan.score_penalty


@helper
def _should_retire(plan, st, node, t):
    policy = plan.retirement
    if policy == RETIRE_NEVER:
        return False
    if policy == RETIRE_THRESHOLD or policy == RETIRE_ANY:
        count = st.node_i[node, N_BLAMED]
        k = plan.retire_max_failures
        # blame times only grow: k blames in the window iff the k-th most recent is in it
        if count >= k and st.blame_times[node, (count - k) % k] >= t - plan.retire_window:
            return True
    if policy == RETIRE_SCORED or policy == RETIRE_ANY:
        return _score(plan, st, node, t) <= plan.retire_threshold
    return False

"""The fabric (model/network.py NetworkModel): switches and links fail and return; who is cut off follows.

A switch or link is down while anything holds it (its own failure, a chaos injection:
``State.net_switch_holds``, ``net_link_holds``). ``topology.Reach`` as arrays: a pass over the
switches nearest the top layer first (plan.net_order) marks each switch that is up and top, or has
a live uplink to a marked switch; the nodes attached to a switch whose mark changed (or to a host
link that changed) are checked, in node order, and each
one cut off or joined again is held down or released with the network's cause, uncounted. Then every
storage server whose rack no longer reaches the fabric through any of its switches is held, and every
one that does again is released (storage.py).
"""
from __future__ import annotations

from clustersim.engine.fast.codes import DOWN, K_CUT, K_LINK, K_SWITCH, NO_CAUSE, UP
from clustersim.engine.fast.draws import _draw
from clustersim.engine.fast.holds import _release, _strike
from clustersim.engine.fast.jit import called, helper
from clustersim.engine.fast.queue import EV_LINK_BACK, EV_LINK_FAIL, EV_SWITCH_BACK, EV_SWITCH_FAIL, NORMAL, _push
from clustersim.engine.fast.recording import _level_to, _row
from clustersim.engine.fast.storage import _sto_net_apply
from clustersim.engine.fast.tables import A_CUT, A_LINK_FAILURES, A_SWITCH_FAILURES, L_VALUE


@helper
def _net_start(plan, st, gen):
    """Every switch, then every link, with a failure law waits for its first failure (NetworkModel.start);
    one beyond the horizon is not scheduled at all (most parts of a large fabric never fail in a run)."""
    for switch in range(plan.net_switch_ttf.shape[0]):
        if plan.net_switch_ttf[switch] >= 0:
            first = _draw(plan, gen, plan.net_switch_ttf[switch])
            if first < plan.horizon:
                _push(st, first, NORMAL, EV_SWITCH_FAIL, switch)
    for link in range(plan.net_link_ttf.shape[0]):
        if plan.net_link_ttf[link] >= 0:
            first = _draw(plan, gen, plan.net_link_ttf[link])
            if first < plan.horizon:
                _push(st, first, NORMAL, EV_LINK_FAIL, link)


@helper
def _net_event(plan, st, gen, etype, target, t):
    """A switch or link fails or returns by its own law: hold or release it, then wait for its next change."""
    switch = etype == EV_SWITCH_FAIL or etype == EV_SWITCH_BACK
    _net_part(plan, st, gen, switch, target, etype == EV_SWITCH_FAIL or etype == EV_LINK_FAIL, NO_CAUSE, t)
    if etype == EV_SWITCH_FAIL:
        _push(st, t + _draw(plan, gen, plan.net_switch_ttr[target]), NORMAL, EV_SWITCH_BACK, target)
    elif etype == EV_SWITCH_BACK:
        _push(st, t + _draw(plan, gen, plan.net_switch_ttf[target]), NORMAL, EV_SWITCH_FAIL, target)
    elif etype == EV_LINK_FAIL:
        _push(st, t + _draw(plan, gen, plan.net_link_ttr[target]), NORMAL, EV_LINK_BACK, target)
    else:
        _push(st, t + _draw(plan, gen, plan.net_link_ttf[target]), NORMAL, EV_LINK_FAIL, target)


@called
def _net_part(plan, st, gen, switch, part, down, cause, t):
    """NetworkModel.hold_part (``down``) / release_part of a switch (``switch``) or link: it goes down with its
    first hold (its row of ``cause``: NO_CAUSE for its own failure, a chaos injection's code) and returns when no
    hold is left; then apply who is cut off."""
    holds = st.net_switch_holds if switch else st.net_link_holds
    holds[part] += 1 if down else -1
    if holds[part] != (1 if down else 0):
        return
    _row(st, t, K_SWITCH if switch else K_LINK, part, UP if down else DOWN, DOWN if down else UP,
         cause if down else NO_CAUSE)
    if down and plan.warmup <= t < plan.horizon:
        st.acc[A_SWITCH_FAILURES if switch else A_LINK_FAILURES] += 1.0
    if switch:
        st.net_switch_up[part] = 0 if down else 1
        _net_reach(plan, st)
    else:
        st.net_link_up[part] = 0 if down else 1
        if part >= plan.net_host_base:
            st.net_mark[_host_link_node(plan, part)] = 1
        else:
            _net_reach(plan, st)
    _net_apply(plan, st, gen, t)


@helper
def _host_link_node(plan, link):
    """The node of a host link (plan.net_node_ptr is each node's first, relative to net_host_base)."""
    lo, hi = 0, plan.net_node_ptr.shape[0] - 1
    k = link - plan.net_host_base
    while hi - lo > 1:  # the last node whose first host link is <= k
        mid = (lo + hi) >> 1
        if plan.net_node_ptr[mid] <= k:
            lo = mid
        else:
            hi = mid
    return lo


@helper
def _net_reach(plan, st):
    """Mark each switch that reaches a live top switch by climbing; mark the nodes of those that changed."""
    for i in range(plan.net_order.shape[0]):
        switch = plan.net_order[i]
        reaches = 0
        if st.net_switch_up[switch] == 1:
            if plan.net_top[switch] == 1:
                reaches = 1
            else:
                for k in range(plan.net_up_ptr[switch], plan.net_up_ptr[switch + 1]):
                    if st.net_link_up[plan.net_up_link[k]] == 1 and st.net_reach[plan.net_up_switch[k]] == 1:
                        reaches = 1
                        break
        if reaches != st.net_reach[switch]:
            st.net_reach[switch] = reaches
            for k in range(plan.net_att_ptr[switch], plan.net_att_ptr[switch + 1]):
                st.net_mark[plan.net_att_nodes[k]] = 1


@helper
def _net_apply(plan, st, gen, t):
    """The marked nodes, in node order: log and hold down each one just cut off, release each joined again."""
    for node in range(plan.nodes):
        if st.net_mark[node] == 0:
            continue
        st.net_mark[node] = 0
        connected = 1
        for k in range(plan.net_node_ptr[node], plan.net_node_ptr[node + 1]):
            if st.net_link_up[plan.net_host_base + k] == 0 or st.net_reach[plan.net_node_switch[k]] == 0:
                connected = 0
                break
        cut = 1 - connected
        if cut == st.net_cut[node]:
            continue
        st.net_cut[node] = cut
        _row(st, t, K_CUT, node, 1 - cut, cut, plan.network_cause)
        _level_to(st.acc, A_CUT, t, st.acc[A_CUT + L_VALUE] + (1.0 if cut == 1 else -1.0), plan.warmup,
                  plan.horizon)
        if cut == 1:
            _strike(plan, st, gen, node, plan.network_cause, False, False, t)
        else:
            _release(plan, st, gen, node, t)
    if plan.sto_servers > 0:
        _sto_net_apply(plan, st, gen, t)

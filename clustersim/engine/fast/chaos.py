"""[[chaos]] injections (model/domains.py chaos_life): kill a node or rack, a switch or link, a storage server or
the whole store, at ``at`` and every ``every``, each for ``duration``.

An entry is one process: its injection strikes (counted as a failure of the entry's cause, as
``NodeHolds.strike``) or holds its targets, then starts its release — as SimPy's
``env.process(_release_after)``, whose timeout is made when that process starts (an urgent event
now: EV_CHAOS_ARM) — and waits ``every`` for the next. No detection delay, no crew: the release
comes ``duration`` after the injection. Each injection's target is ``State.chaos_pick`` at the
injection's index (``plan.chaos_pick_ptr[c] + injections made``): the named one, or the one drawn
from the entry's own stream ``chaos/<name>`` as SimPy draws it (engine.chaos_targets), so both
engines aim alike.
"""
from __future__ import annotations

import math

from clustersim.engine.fast.codes import (
    CHAOS_KILL_NODE, CHAOS_KILL_RACK, CHAOS_KILL_SWITCH, CHAOS_KILL_LINK, CHAOS_STORE_OUTAGE,
)
from clustersim.engine.fast.holds import _release, _strike
from clustersim.engine.fast.jit import called, helper
from clustersim.engine.fast.network import _net_part
from clustersim.engine.fast.queue import EV_CHAOS_ARM, EV_CHAOS_INJECT, EV_CHAOS_RELEASE, NORMAL, URGENT, _push
from clustersim.engine.fast.storage import _sto_hold, _sto_release


@helper
def _chaos_start(plan, st):
    """Every entry waits for its first injection (chaos_life's first timeout)."""
    for c in range(plan.chaos_action.shape[0]):
        _push(st, plan.chaos_at[c], NORMAL, EV_CHAOS_INJECT, c)


@helper
def _chaos_event(plan, st, gen, etype, target, t):
    """An injection (then the entry's next one ``every`` on), its release armed, or its release."""
    if etype == EV_CHAOS_ARM:
        _push(st, t + plan.chaos_duration[plan.chaos_of[target]], NORMAL, EV_CHAOS_RELEASE, target)
        return
    inject = etype == EV_CHAOS_INJECT
    if inject:
        entry = target
        pick = plan.chaos_pick_ptr[entry] + st.chaos_done[entry]
        if pick >= plan.chaos_pick_ptr[entry + 1]:
            return  # (never: compile.py counts the injections before the horizon as this loop makes them)
        st.chaos_done[entry] += 1
    else:  # EV_CHAOS_RELEASE
        pick = target
        entry = plan.chaos_of[pick]
    _chaos_apply(plan, st, gen, entry, pick, inject, t)
    if inject:
        _push(st, t, URGENT, EV_CHAOS_ARM, pick)
        if plan.chaos_every[entry] < math.inf:
            _push(st, t + plan.chaos_every[entry], NORMAL, EV_CHAOS_INJECT, entry)


@called
def _chaos_apply(plan, st, gen, entry, pick, down, t):
    """Strike or hold (``down``), or release, the targets of injection ``pick`` of ``entry``, in SimPy's order."""
    action, cause, aim = plan.chaos_action[entry], plan.chaos_cause[entry], st.chaos_pick[pick]
    if action == CHAOS_KILL_NODE or action == CHAOS_KILL_RACK:
        first, last = aim, aim + 1
        if action == CHAOS_KILL_RACK:
            first, last = plan.rack_ptr[aim], plan.rack_ptr[aim + 1]
        for node in range(first, last):
            if down:
                _strike(plan, st, gen, node, cause, True, False, t)
            else:
                _release(plan, st, gen, node, t)
    elif action == CHAOS_KILL_SWITCH or action == CHAOS_KILL_LINK:
        _net_part(plan, st, gen, action == CHAOS_KILL_SWITCH, aim, down, cause, t)
    else:  # CHAOS_KILL_SERVER: the one; CHAOS_STORE_OUTAGE: every server
        first, last = aim, aim + 1
        if action == CHAOS_STORE_OUTAGE:
            first, last = 0, plan.sto_servers
        for server in range(first, last):
            if down:
                _sto_hold(plan, st, gen, server, cause, t)
            else:
                _sto_release(plan, st, gen, server, t)

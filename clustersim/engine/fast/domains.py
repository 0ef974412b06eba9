"""Failure domains (model/domains.py domain_life): their nodes, then the storage servers of their racks."""
from __future__ import annotations

from clustersim.engine.fast.codes import K_DOMAIN, R_FAILED, R_OK, R_REPAIRING
from clustersim.engine.fast.draws import _draw
from clustersim.engine.fast.holds import _release, _strike
from clustersim.engine.fast.jit import helper
from clustersim.engine.fast.queue import EV_DOMAIN_DETECTED, EV_DOMAIN_FAIL, EV_DOMAIN_REPAIRED, NORMAL, _push
from clustersim.engine.fast.recording import _row
from clustersim.engine.fast.storage import _sto_hold, _sto_release


@helper
def _domain_event(plan, st, gen, etype, domain, t):
    cause = plan.domain_cause[domain]
    first, last = plan.domain_ptr[domain], plan.domain_ptr[domain + 1]
    if etype == EV_DOMAIN_FAIL:
        _row(st, t, K_DOMAIN, domain, R_OK, R_FAILED, cause)
        for k in range(first, last):
            _strike(plan, st, gen, plan.domain_nodes[k], cause, True, False, t)
        for k in range(plan.domain_srv_ptr[domain], plan.domain_srv_ptr[domain + 1]):
            _sto_hold(plan, st, gen, plan.domain_servers[k], cause, t)
        if plan.detection > 0.0:
            _push(st, t + plan.detection, NORMAL, EV_DOMAIN_DETECTED, domain)
            return
        etype = EV_DOMAIN_DETECTED
    if etype == EV_DOMAIN_DETECTED:
        _row(st, t, K_DOMAIN, domain, R_FAILED, R_REPAIRING, cause)
        _push(st, t + _draw(plan, gen, plan.domain_ttr[domain]), NORMAL, EV_DOMAIN_REPAIRED, domain)
    else:  # EV_DOMAIN_REPAIRED
        _row(st, t, K_DOMAIN, domain, R_REPAIRING, R_OK, cause)
        for k in range(first, last):
            _release(plan, st, gen, plan.domain_nodes[k], t)
        for k in range(plan.domain_srv_ptr[domain], plan.domain_srv_ptr[domain + 1]):
            _sto_release(plan, st, gen, plan.domain_servers[k], t)
        _push(st, t + _draw(plan, gen, plan.domain_ttf[domain]), NORMAL, EV_DOMAIN_FAIL, domain)

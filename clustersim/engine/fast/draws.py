"""Random draws: one draw of a Plan law (in hours), an exactly uniform index."""
from __future__ import annotations

import numpy as np

from clustersim.engine.fast.codes import (
    LAW_DETERMINISTIC, LAW_EMPIRICAL, LAW_EXPONENTIAL, LAW_GAMMA, LAW_LOGNORMAL, LAW_WEIBULL,
)
from clustersim.engine.fast.jit import called, helper
from clustersim.engine.fast.queue import TWO_53, TWO_53_FLOAT


@helper
def _draw(plan, gen, law):
    """One draw in hours of law ``law`` (parameters as compile.py converted them)."""
    code = plan.law_code[law]
    a = plan.law_a[law]
    b = plan.law_b[law]
    if code == LAW_EMPIRICAL:  # a uniform index (Generator.integers would allocate an array per draw in numba)
        return plan.empirical[np.int64(a) + _uniform_index(gen, np.int64(b))]
    return _sample(gen, code, a, b)


@called
def _sample(gen, code, a, b):
    """One draw of a parametric law: numba's samplers are large, so one copy serves every call site."""
    if code == LAW_EXPONENTIAL:
        return gen.exponential(a)
    if code == LAW_WEIBULL:
        return a * gen.weibull(b)
    if code == LAW_LOGNORMAL:
        return gen.lognormal(a, b)
    if code == LAW_GAMMA:
        return gen.gamma(a, b)
    if code == LAW_DETERMINISTIC:
        return a
    return gen.uniform(a, b)  # LAW_UNIFORM


@helper
def _uniform_index(gen, count):
    """An exactly uniform integer in [0, count), by rejection on random()'s 53-bit integer."""
    limit = (TWO_53 // count) * count
    while True:
        k = np.int64(gen.random() * TWO_53_FLOAT)
        if k < limit:
            return k % count

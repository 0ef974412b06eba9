"""Scenario -> Plan: the flat numpy arrays and scalars the fast kernel reads, no Python objects.

The layout mirrors the SimPy model (``clustersim.model``): nodes ``0 .. working-1`` hold the
working positions (slots), then ``hot`` then ``cold`` spares; a node's failure clocks follow
``model/clocks.py`` (exponential modes superposed into one clock, one remaining lifetime per
part for every other law); failure-domain instances are numbered as ``model/cluster.py``
numbers them, their members stored as CSR arrays. Every array has a fixed dtype and rank, so
one compiled (and cached) kernel serves every scenario.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from clustersim.distributions import (
    Deterministic, Empirical, Exponential, Gamma, Lognormal, Uniform, Weibull,
)
from clustersim.scenario.schema import FailureDomain, Scenario

# Constants are numpy int64 so that numba types them as int64, never as literals (see kernel.py).
# Law codes of Plan.law_code; the kernel's sampler switches on them.
LAW_EXPONENTIAL, LAW_WEIBULL, LAW_LOGNORMAL, LAW_GAMMA, LAW_DETERMINISTIC, LAW_UNIFORM, LAW_EMPIRICAL = np.arange(7)

# Node roles (Plan.node_role and the kernel's node state), as model/nodes.py names them.
ROLE_WORK, ROLE_HOT, ROLE_COLD, ROLE_LOOSE = np.arange(4)

# Recovery of a failure mode.
RECOVERY_REBOOT, RECOVERY_REPLACE = np.arange(2)

UNLIMITED = np.int64(-1)  # crew_limit of a pool with no limit

Plan = namedtuple("Plan", [
    # window and timings (hours)
    "horizon", "warmup", "detection", "swap_time", "provisioning",
    # sizes
    "nodes", "working", "hot", "cold", "parts", "causes",
    # laws: parameters per law index; empirical samples concatenated, law_a/law_b = start/length
    "law_code", "law_a", "law_b", "empirical",
    # failure modes: laws, recovery, crew pool
    "mode_ttf", "mode_ttr", "mode_recovery", "mode_pool",
    # exponential modes superposed: mode indices, cumulative rates, scale = 1 / total rate (0: none)
    "exp_modes", "exp_cumulative", "exp_total_rate", "exp_scale",
    # clocked parts of every node: mode and lifetime law of part p
    "part_mode", "part_law",
    # initial role of every node
    "node_role",
    # failure-domain instances: failure cause, laws, members node_ptr[j]:node_ptr[j+1] of domain_nodes
    "domain_cause", "domain_ttf", "domain_ttr", "domain_ptr", "domain_nodes",
    # crew pools: limit (UNLIMITED or crews)
    "crew_limit",
])


class _Laws:
    """Collects distributions into the law arrays of a Plan."""

    def __init__(self) -> None:
        self.code: list[int] = []
        self.a: list[float] = []
        self.b: list[float] = []
        self.empirical: list[float] = []

    def add(self, dist) -> int:
        """The law index of ``dist`` (parameters converted exactly as distributions.py samples)."""
        if isinstance(dist, Exponential):
            code, a, b = LAW_EXPONENTIAL, dist.mean, 0.0
        elif isinstance(dist, Weibull):
            code, a, b = LAW_WEIBULL, dist.scale_hours, dist.shape
        elif isinstance(dist, Lognormal):
            code, (a, b) = LAW_LOGNORMAL, dist.mu_sigma
        elif isinstance(dist, Gamma):
            code, a, b = LAW_GAMMA, dist.shape, dist.mean / dist.shape
        elif isinstance(dist, Deterministic):
            code, a, b = LAW_DETERMINISTIC, dist.value, 0.0
        elif isinstance(dist, Uniform):
            code, a, b = LAW_UNIFORM, dist.low, dist.high
        elif isinstance(dist, Empirical):
            code, a, b = LAW_EMPIRICAL, float(len(self.empirical)), float(len(dist.samples))
            self.empirical += dist.samples
        else:
            raise TypeError(f"no fast-engine law for {type(dist).__name__}")
        self.code.append(code)
        self.a.append(float(a))
        self.b.append(float(b))
        return len(self.code) - 1


def domain_groups(domain: FailureDomain, count: int, per_rack: int) -> list[range]:
    """The node-index ranges of one domain declaration's instances, as model/domains.py groups them."""
    racks = -(-count // per_rack)
    if domain.kind == "rack":
        size = 1
    elif domain.kind == "power":
        size = domain.power_racks or 1
    else:
        size = racks
    return [range(r * per_rack, min((r + size) * per_rack, count)) for r in range(0, racks, size)]


def compile_plan(scenario: Scenario) -> Plan:
    """The kernel's view of ``scenario`` (which must use only features the fast engine supports)."""
    nodes, spares, sim = scenario.nodes, scenario.spares, scenario.simulation
    laws = _Laws()
    modes = nodes.failure_modes
    mode_ttf = [laws.add(m.time_to_failure) for m in modes]
    mode_ttr = [laws.add(m.time_to_repair) for m in modes]

    exp_rates = [(i, (nodes.gpus_per_node if m.scope == "gpu" else 1) / m.time_to_failure.mean_hours)
                 for i, m in enumerate(modes) if m.time_to_failure.is_exponential]
    exp_cumulative = np.cumsum([r for _, r in exp_rates]) if exp_rates else np.empty(0)
    exp_total = float(exp_cumulative[-1]) if exp_rates else 0.0
    part_mode = [i for i, m in enumerate(modes) if not m.time_to_failure.is_exponential
                 for _ in range(nodes.gpus_per_node if m.scope == "gpu" else 1)]

    roles = [ROLE_WORK] * scenario.working_nodes + [ROLE_HOT] * spares.hot + [ROLE_COLD] * spares.cold

    first_domain_cause = len(modes)
    domain_cause, domain_ttf, domain_ttr, ptr, members = [], [], [], [0], []
    for d, domain in enumerate(scenario.failure_domains):
        ttf, ttr = laws.add(domain.time_to_failure), laws.add(domain.time_to_repair)
        for group in domain_groups(domain, nodes.count, nodes.nodes_per_rack):
            domain_cause.append(first_domain_cause + d)
            domain_ttf.append(ttf)
            domain_ttr.append(ttr)
            members += list(group)
            ptr.append(len(members))

    def ints(values) -> np.ndarray:
        return np.ascontiguousarray(values, dtype=np.int64)

    def floats(values) -> np.ndarray:
        return np.ascontiguousarray(values, dtype=np.float64)

    return Plan(
        horizon=float(sim.horizon), warmup=float(sim.warmup), detection=float(scenario.repair.detection),
        swap_time=float(spares.swap_time), provisioning=float(spares.provisioning),
        nodes=nodes.count, working=scenario.working_nodes, hot=spares.hot, cold=spares.cold,
        parts=len(part_mode), causes=len(scenario.cause_names),
        law_code=ints(laws.code), law_a=floats(laws.a), law_b=floats(laws.b), empirical=floats(laws.empirical),
        mode_ttf=ints(mode_ttf), mode_ttr=ints(mode_ttr),
        mode_recovery=ints([RECOVERY_REBOOT if m.recovery == "reboot" else RECOVERY_REPLACE for m in modes]),
        mode_pool=ints([0 for _ in modes]),
        exp_modes=ints([i for i, _ in exp_rates]), exp_cumulative=floats(exp_cumulative),
        exp_total_rate=exp_total, exp_scale=1.0 / exp_total if exp_total > 0 else 0.0,
        part_mode=ints(part_mode), part_law=ints([mode_ttf[m] for m in part_mode]),
        node_role=ints(roles),
        domain_cause=ints(domain_cause), domain_ttf=ints(domain_ttf), domain_ttr=ints(domain_ttr),
        domain_ptr=ints(ptr), domain_nodes=ints(members),
        crew_limit=ints([scenario.repair.crews if scenario.repair.crews is not None else UNLIMITED]),
    )

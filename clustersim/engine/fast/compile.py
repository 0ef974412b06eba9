"""Scenario -> Plan: the flat numpy arrays and scalars the fast kernel reads, no Python objects.

The layout mirrors the SimPy model (``clustersim.model``): nodes ``0 .. working-1`` hold the
working positions (slots), then ``hot`` then ``cold`` spares; a node's failure clocks follow
``model/clocks.py`` (exponential modes superposed into one clock, one remaining lifetime per
part for every other law, and a lemon's speed for each); failure-domain instances are numbered
as ``model/cluster.py`` numbers them, their members stored as CSR arrays. Repair stages form one
table: the pipeline's ``[[repair.stages]]`` (crew pool 1 + s), then one stage per ``replace``
mode (crew pool 0), so every repair walks stages ``mode_stage_first ..``. Working positions
carry their job, priority rank and refill rule; jobs their sizes and times. Every array has a
fixed dtype and rank, so one compiled (and cached) kernel serves every scenario.
"""
from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from clustersim.distributions import (
    Deterministic, Empirical, Exponential, Gamma, Lognormal, Uniform, Weibull,
)
from clustersim.layout import IDLE_PRIORITY
from clustersim.scenario.schema import FailureDomain, Scenario

# Constants are numpy int64 so that numba types them as int64, never as literals (see kernel.py).
# Law codes of Plan.law_code; the kernel's sampler switches on them.
LAW_EXPONENTIAL, LAW_WEIBULL, LAW_LOGNORMAL, LAW_GAMMA, LAW_DETERMINISTIC, LAW_UNIFORM, LAW_EMPIRICAL = np.arange(7)

# Node roles (the kernel's node state), as model/nodes.py names them.
ROLE_WORK, ROLE_HOT, ROLE_COLD, ROLE_LOOSE, ROLE_WARM, ROLE_RETIRED = np.arange(6)

# Recovery of a failure mode.
RECOVERY_REBOOT, RECOVERY_REPAIR = np.arange(2)

# Retirement policies and spare selection policies (model/policies.py registries).
RETIRE_NEVER, RETIRE_THRESHOLD, RETIRE_SCORED = np.arange(3)
SELECT_FIFO, SELECT_RANDOM, SELECT_FEWEST_FAILURES, SELECT_HIGHEST_SCORE = np.arange(4)
RETIREMENT_CODES = {"never": RETIRE_NEVER, "threshold": RETIRE_THRESHOLD, "scored": RETIRE_SCORED}
SELECTION_CODES = {"fifo": SELECT_FIFO, "random": SELECT_RANDOM, "fewest_failures": SELECT_FEWEST_FAILURES,
                   "highest_score": SELECT_HIGHEST_SCORE}

# Checkpoint modes of a training job.
CKPT_SYNC, CKPT_ASYNC, CKPT_CONTINUOUS = np.arange(3)
CKPT_CODES = {"sync": CKPT_SYNC, "async": CKPT_ASYNC, "continuous": CKPT_CONTINUOUS}

UNLIMITED = np.int64(-1)  # crew_limit of a pool with no limit
NO_LAW = np.int64(-1)     # a law index that is absent

Plan = namedtuple("Plan", [
    # window and timings (hours)
    "horizon", "warmup", "detection", "swap_time", "provisioning", "standby_swap_time",
    # sizes
    "nodes", "working", "hot", "cold", "warm", "parts", "causes", "modes",
    # laws: parameters per law index; empirical samples concatenated, law_a/law_b = start/length
    "law_code", "law_a", "law_b", "empirical",
    # failure modes: laws, recovery, their repair stages first .. first + count - 1
    "mode_ttf", "mode_ttr", "mode_recovery", "mode_stage_first", "mode_stage_count",
    # repair stages (the pipeline's, then one per "replace" mode): law, crew pool, outcomes, EVENT cause
    "stage_law", "stage_pool", "stage_escalate", "stage_false_success", "stage_cause",
    # exponential modes superposed, for a good node [0] and a lemon [1]: mode indices,
    # cumulative rates, total rate, scale = 1 / total rate (0: none)
    "exp_modes", "exp_cumulative", "exp_total_rate", "exp_scale",
    # clocked parts of every node: mode, lifetime law, and how fast a lemon consumes it
    "part_mode", "part_law", "part_lemon_speed",
    # initial role of every node
    "node_role",
    # failure-domain instances: failure cause, laws, members node_ptr[j]:node_ptr[j+1] of domain_nodes
    "domain_cause", "domain_ttf", "domain_ttr", "domain_ptr", "domain_nodes",
    # crew pools (0: repair.crews, 1 + s: stage s): limit (UNLIMITED or crews)
    "crew_limit",
    # diagnosis and faults left in place
    "diag_probability", "diag_wrong_node", "diag_reboot_law", "recurrence_law", "cure_lemons", "lemon_count",
    # retirement and the node score
    "retirement", "retire_max_failures", "retire_window", "retire_threshold",
    "score_initial", "score_penalty", "score_credit", "score_period", "scored",
    # spare selection; ranked: positions differ in priority (dispatch at the end of each instant)
    "selection", "ranked",
    # working positions: rank of their priority (0 = highest), job (-1: none), refill from their own
    # node (wait), whether a process watches them, whether they take nodes of lower-priority work;
    # the cause code of such a preemption
    "slot_rank", "slot_job", "slot_own", "slot_watched", "slot_preempt", "preemption_cause",
    # training jobs
    "job_first", "job_size", "job_work", "job_segment", "job_checkpoint", "job_snapshot", "job_restart",
    "job_mode", "job_elastic", "job_min_nodes",
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
    nodes, spares, sim, repair = scenario.nodes, scenario.spares, scenario.simulation, scenario.repair
    laws = _Laws()
    modes = nodes.failure_modes
    mode_ttf = [laws.add(m.time_to_failure) for m in modes]
    mode_ttr = [laws.add(m.time_to_repair) if m.time_to_repair is not None else NO_LAW for m in modes]
    lemon_speed = [nodes.lemon_multiplier(i) for i in range(len(modes))]

    # repair stages: the pipeline's (crew pool 1 + s), then one per "replace" mode (pool 0)
    stage_law = [laws.add(stage.time) for stage in repair.stages]
    stage_pool = [1 + s for s in range(len(repair.stages))]
    stage_escalate = [stage.escalate for stage in repair.stages]
    stage_false_success = [stage.false_success for stage in repair.stages]
    stage_cause = [scenario.stage_cause(s) for s in range(len(repair.stages))]
    mode_stage_first, mode_stage_count = [], []
    for i, mode in enumerate(modes):
        if mode.recovery == "pipeline":
            mode_stage_first.append(0)
            mode_stage_count.append(len(repair.stages))
            continue
        mode_stage_first.append(len(stage_law))
        mode_stage_count.append(1)
        stage_law.append(mode_ttr[i])
        stage_pool.append(0)
        stage_escalate.append(0.0)
        stage_false_success.append(0.0)
        stage_cause.append(-1)

    exp_rates = [(i, (nodes.gpus_per_node if m.scope == "gpu" else 1) / m.time_to_failure.mean_hours)
                 for i, m in enumerate(modes) if m.time_to_failure.is_exponential]
    exp_cumulative = [np.cumsum([r * (lemon_speed[i] if lemon else 1.0) for i, r in exp_rates]) if exp_rates
                      else np.empty(0) for lemon in (False, True)]
    exp_total = [float(c[-1]) if exp_rates else 0.0 for c in exp_cumulative]
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

    diagnosis, retirement, score = repair.diagnosis, repair.retirement, nodes.score
    reboot_law = laws.add(diagnosis.reboot_time)
    recurrence_law = laws.add(repair.recurrence) if repair.recurs else NO_LAW
    slot_rank, slot_job, slot_own, slot_watched, slot_preempt = _slots(scenario)
    jobs = scenario.training

    def ints(values) -> np.ndarray:
        return np.ascontiguousarray(values, dtype=np.int64)

    def floats(values) -> np.ndarray:
        return np.ascontiguousarray(values, dtype=np.float64)

    return Plan(
        horizon=float(sim.horizon), warmup=float(sim.warmup), detection=float(repair.detection),
        swap_time=float(spares.swap_time), provisioning=float(spares.provisioning),
        standby_swap_time=float(spares.standby_swap_time),
        nodes=nodes.count, working=scenario.working_nodes, hot=spares.hot, cold=spares.cold, warm=spares.warm,
        parts=len(part_mode), causes=len(scenario.cause_names), modes=len(modes),
        law_code=ints(laws.code), law_a=floats(laws.a), law_b=floats(laws.b), empirical=floats(laws.empirical),
        mode_ttf=ints(mode_ttf), mode_ttr=ints(mode_ttr),
        mode_recovery=ints([RECOVERY_REBOOT if m.recovery == "reboot" else RECOVERY_REPAIR for m in modes]),
        mode_stage_first=ints(mode_stage_first), mode_stage_count=ints(mode_stage_count),
        stage_law=ints(stage_law), stage_pool=ints(stage_pool), stage_escalate=floats(stage_escalate),
        stage_false_success=floats(stage_false_success), stage_cause=ints(stage_cause),
        exp_modes=ints([i for i, _ in exp_rates]), exp_cumulative=floats(exp_cumulative).reshape(2, len(exp_rates)),
        exp_total_rate=floats(exp_total), exp_scale=floats([1.0 / t if t > 0 else 0.0 for t in exp_total]),
        part_mode=ints(part_mode), part_law=ints([mode_ttf[m] for m in part_mode]),
        part_lemon_speed=floats([lemon_speed[m] for m in part_mode]),
        node_role=ints(roles),
        domain_cause=ints(domain_cause), domain_ttf=ints(domain_ttf), domain_ttr=ints(domain_ttr),
        domain_ptr=ints(ptr), domain_nodes=ints(members),
        crew_limit=ints([c if c is not None else UNLIMITED for c in [repair.crews] + [s.crews for s in repair.stages]]),
        diag_probability=float(diagnosis.probability), diag_wrong_node=float(diagnosis.wrong_node),
        diag_reboot_law=reboot_law, recurrence_law=recurrence_law,
        cure_lemons=bool(nodes.lemon_cured_by_repair), lemon_count=nodes.lemon_count,
        retirement=RETIREMENT_CODES[retirement.policy],
        retire_max_failures=int(getattr(retirement, "max_failures", 0)),
        retire_window=float(getattr(retirement, "window", 0.0)),
        retire_threshold=float(getattr(retirement, "threshold", 0.0)),
        score_initial=float(score.initial if score else 0.0),
        score_penalty=float(score.failure_penalty if score else 0.0),
        score_credit=float(score.uptime_credit if score else 0.0),
        score_period=float(score.credit_period if score else 1.0), scored=score is not None,
        selection=SELECTION_CODES[spares.selection],
        ranked=len(set(slot_rank)) > 1 or any(slot_preempt),
        slot_rank=ints(slot_rank), slot_job=ints(slot_job), slot_own=ints(slot_own), slot_watched=ints(slot_watched),
        slot_preempt=ints(slot_preempt), preemption_cause=scenario.preemption_cause,
        job_first=ints(scenario.job_offsets), job_size=ints([j.nodes for j in jobs]),
        job_work=floats([j.work if j.work is not None else math.inf for j in jobs]),
        job_segment=floats([j.checkpoint_interval or math.inf for j in jobs]),
        job_checkpoint=floats([j.checkpoint_hours for j in jobs]),
        job_snapshot=floats([j.snapshot_cost or 0.0 for j in jobs]),
        job_restart=floats([j.restart_hours for j in jobs]),
        job_mode=ints([CKPT_CODES[j.checkpoint_mode] for j in jobs]),
        job_elastic=ints([j.on_failure == "shrink" for j in jobs]),
        job_min_nodes=ints([j.min_nodes or j.nodes for j in jobs]),
    )


def _slots(scenario: Scenario) -> tuple[list[int], list[int], list[int], list[int], list[int]]:
    """Per working position: priority rank (0 = highest), job, own-node refill, watched by a process,
    preempts.

    As model/cluster.py: a job's positions carry its priority and preempt flag, the others
    IDLE_PRIORITY; a position has a process when spares can refill it, a job listens to it, or
    positions may be preempted.
    """
    working = scenario.working_nodes
    priority = [IDLE_PRIORITY] * working
    job = [-1] * working
    own = [0] * working
    preempt = [0] * working
    for j, (spec, first) in enumerate(zip(scenario.training, scenario.job_offsets)):
        for slot in range(first, first + spec.nodes):
            priority[slot], job[slot], own[slot] = spec.priority, j, int(spec.on_failure == "wait")
            preempt[slot] = int(spec.preempt)
    ranks = {p: r for r, p in enumerate(sorted(set(priority), reverse=True))}
    watched_all = scenario.spares.hot + scenario.spares.cold > 0 or any(preempt)
    watched = [int(watched_all or job[slot] >= 0) for slot in range(working)]
    return [ranks[p] for p in priority], job, own, watched, preempt

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
from typing import Any
from collections.abc import Callable

import numpy as np

from clustersim.distributions import (
    Deterministic, Empirical, Exponential, Gamma, Lognormal, Uniform, Weibull,
)
from clustersim.engine.fast.codes import (
    CHAOS_KILL_LINK, CHAOS_KILL_NODE, CHAOS_KILL_RACK, CHAOS_KILL_SERVER, CHAOS_KILL_SWITCH, CHAOS_STORE_OUTAGE,
    CKPT_ASYNC, CKPT_CONTINUOUS, CKPT_SYNC, LAW_DETERMINISTIC, LAW_EMPIRICAL, LAW_EXPONENTIAL, LAW_GAMMA,
    LAW_LOGNORMAL, LAW_UNIFORM, LAW_WEIBULL, NO_LAW, RECOVERY_REBOOT, RECOVERY_REPAIR, RETIRE_ANY, RETIRE_NEVER,
    RETIRE_SCORED,
    RETIRE_THRESHOLD, ROLE_COLD, ROLE_HOT, ROLE_WORK, SELECT_FEWEST_FAILURES, SELECT_FIFO, SELECT_HIGHEST_SCORE,
    SELECT_RANDOM, UNLIMITED,
)
from clustersim.layout import fabric_of, layout_of
from clustersim.scenario.schema import Chaos, Scenario

# The schema's choices as the kernel's codes (tests/test_fast_codes.py ties the keys to the schema).
CHAOS_CODES = {"kill_node": CHAOS_KILL_NODE, "kill_rack": CHAOS_KILL_RACK, "kill_switch": CHAOS_KILL_SWITCH,
               "kill_link": CHAOS_KILL_LINK, "kill_storage_server": CHAOS_KILL_SERVER,
               "store_outage": CHAOS_STORE_OUTAGE}  # the [[chaos]] actions the kernel runs
ROLE_CODES = {"work": ROLE_WORK, "hot": ROLE_HOT, "cold": ROLE_COLD}  # the layout's initial roles
RETIREMENT_CODES = {"never": RETIRE_NEVER, "threshold": RETIRE_THRESHOLD, "scored": RETIRE_SCORED, "any": RETIRE_ANY}
SELECTION_CODES = {"fifo": SELECT_FIFO, "random": SELECT_RANDOM, "fewest_failures": SELECT_FEWEST_FAILURES,
                   "highest_score": SELECT_HIGHEST_SCORE}
CKPT_CODES = {"sync": CKPT_SYNC, "async": CKPT_ASYNC, "continuous": CKPT_CONTINUOUS}

Fields = dict[str, Any]  # some fields of a Plan, by name

Plan = namedtuple("Plan", [
    # window and timings (hours)
    "horizon", "warmup", "detection", "swap_time", "provisioning", "standby_swap_time",
    # cold spares provisioned one after another (spares.cold_provisioning = "serial")
    "serial_cold",
    # keep nodes.parquet's per-node accumulators (State.node_table): set by the run, not the scenario
    "node_table",
    # sizes
    "nodes", "working", "hot", "cold", "warm", "parts", "causes", "modes",
    # laws: parameters per law index; empirical samples concatenated, law_a/law_b = start/length
    "law_code", "law_a", "law_b", "empirical",
    # failure modes: laws, recovery, their repair stages first .. first + count - 1
    "mode_ttf", "mode_ttr", "mode_recovery", "mode_stage_first", "mode_stage_count",
    # repair stages (the pipeline's, then one per "replace" mode): law, crew pool, outcomes, EVENT cause
    "stage_law", "stage_pool", "stage_escalate", "stage_false_success", "stage_cause",
    # exponential modes superposed on a node's own timer, per [3 * lemon + load] (load: idle,
    # working, in a job's group): mode indices, cumulative rates, total rate, scale = 1 / total (0: none)
    "exp_modes", "exp_cumulative", "exp_total_rate", "exp_scale",
    # clocked parts of every node: mode, lifetime law, how fast a lemon consumes it, and how fast
    # the own timer consumes it per [3 * lemon + load]
    "part_mode", "part_law", "part_lemon_speed", "part_speed",
    # load-dependent ageing: any mode depends on load; per [load, mode] the own timer's rate (latent
    # faults); the modes that age with computing (kept by a job's group): their mode, rate while
    # the job does not compute, exponential rate (0: another law); each mode's group index (-1)
    "load_dependent", "mode_load_factor", "gmode_mode", "gmode_idle_rate", "gmode_exp_rate", "mode_gmode",
    "mode_lemon_speed",
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
    "job_first", "job_size", "job_work", "job_segment", "job_checkpoint", "job_snapshot", "job_restart", "job_start",
    "job_mode", "job_elastic", "job_min_nodes",
    # per job, a min-tree over its positions (a job's LoadGroup's next member failure): its offset
    # in State.g_tval / g_tidx and its number of leaves (a power of two); the trees' total size
    "job_tree_off", "job_tree_p", "tree_size",
    # the job-interruption cause codes: failure causes, stages, preemption, network, storage
    "job_causes",
    # the fabric (topology.Fabric; empty without a [network]): per switch its failure laws (NO_LAW: never
    # fails), top layer flag, uplinks net_up_ptr[s]:net_up_ptr[s+1] of (net_up_switch, net_up_link), the
    # nodes needing it (CSR net_att_ptr, net_att_nodes); switches nearest the top first (net_order); per
    # link its laws (switch-to-switch, then host links from net_host_base); per node the switches it
    # needs, net_node_ptr[n]:net_node_ptr[n+1] of net_node_switch (host link net_host_base + k); the
    # network's cause code
    "net_switch_ttf", "net_switch_ttr", "net_top", "net_up_ptr", "net_up_switch", "net_up_link", "net_att_ptr",
    "net_att_nodes", "net_order", "net_link_ttf", "net_link_ttr", "net_host_base", "net_node_ptr",
    "net_node_switch", "network_cause",
    # per rack, the switches a storage server in it reaches the fabric through (CSR net_rack_ptr, net_rack_switch)
    "net_rack_ptr", "net_rack_switch",
    # the replicated store ([storage]; sto_servers = 0 without): sizes, write quorum, its rules, the copy
    # concurrency limit, a copy's law (NO_LAW: exactly sto_copy_hours), the servers' laws and racks; per
    # domain instance the servers of its racks (CSR domain_srv_ptr, domain_servers); per job whether a
    # checkpoint the store cannot take is skipped; the storage cause code
    "sto_servers", "sto_objects", "sto_replication", "sto_quorum", "sto_loses_data", "sto_rereplication",
    "sto_rack_aware", "sto_delay", "sto_limit", "sto_copy_law", "sto_copy_hours", "sto_ttf", "sto_ttr", "sto_rack",
    "domain_srv_ptr", "domain_servers", "job_skip", "storage_cause",
    # [[chaos]] entries (the kernel's actions, support.FAST_CHAOS_ACTIONS): action code, cause, first time, period
    # (inf: once), duration (hours), candidates a random target is drawn among (0: a named one, or none); the
    # injections before the horizon, entry c's chaos_pick_ptr[c]:chaos_pick_ptr[c+1], each one's entry (chaos_of)
    # and its named target (chaos_pick; -1: drawn per replication, engine.chaos_targets); the nodes of each rack
    # rack_ptr[r]:rack_ptr[r+1]
    "chaos_action", "chaos_cause", "chaos_at", "chaos_every", "chaos_duration", "chaos_choices", "chaos_pick_ptr",
    "chaos_of", "chaos_pick", "rack_ptr",
])


# Per distribution class: its law code and (a, b) parameters, converted exactly as distributions.py
# samples (empirical laws are handled by _Laws.add: a, b = start, length of their samples).
LAW_CONVERTERS: dict[type, tuple[np.int64, Callable[[Any], tuple[float, float]]]] = {
    Exponential: (LAW_EXPONENTIAL, lambda d: (d.mean, 0.0)),
    Weibull: (LAW_WEIBULL, lambda d: (d.scale_hours, d.shape)),
    Lognormal: (LAW_LOGNORMAL, lambda d: d.mu_sigma),
    Gamma: (LAW_GAMMA, lambda d: (d.shape, d.mean / d.shape)),
    Deterministic: (LAW_DETERMINISTIC, lambda d: (d.value, 0.0)),
    Uniform: (LAW_UNIFORM, lambda d: (d.low, d.high)),
    Empirical: (LAW_EMPIRICAL, lambda d: (0.0, 0.0)),
}


class _Laws:
    """Collects distributions into the law arrays of a Plan."""

    def __init__(self) -> None:
        self.code: list[int | np.integer] = []
        self.a: list[float] = []
        self.b: list[float] = []
        self.empirical: list[float] = []

    def add(self, dist) -> int:
        """The law index of ``dist`` (parameters converted exactly as distributions.py samples)."""
        if type(dist) not in LAW_CONVERTERS:
            raise TypeError(f"no fast-engine law for {type(dist).__name__}")
        code, convert = LAW_CONVERTERS[type(dist)]
        a, b = convert(dist)
        if code == LAW_EMPIRICAL:
            a, b = float(len(self.empirical)), float(len(dist.samples))
            self.empirical += dist.samples
        self.code.append(code)
        self.a.append(float(a))
        self.b.append(float(b))
        return len(self.code) - 1

    def fields(self) -> Fields:
        """The law arrays of the Plan (call once every law is added)."""
        return {"law_code": _ints(self.code), "law_a": _floats(self.a), "law_b": _floats(self.b),
                "empirical": _floats(self.empirical)}


def _ints(values) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.int64)


def _floats(values) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.float64)


def compile_plan(scenario: Scenario) -> Plan:
    """The kernel's view of ``scenario`` (which must use only features the fast engine supports)."""
    laws = _Laws()  # its builders add laws in a fixed order: modes, stages, domains, diagnosis, recurrence
    modes = _modes_and_stages(scenario, laws)
    return Plan(**_merged(
        _window(scenario), _sizes(scenario), modes, _clocks(scenario, modes["mode_ttf"]), _domains(scenario, laws),
        _crews(scenario), _diagnosis_retirement_score(scenario, laws), _positions(scenario), _jobs(scenario),
        _network(scenario, laws), _storage(scenario, laws), _chaos(scenario), laws.fields(),
    ))


def _merged(*parts: Fields) -> Fields:
    """The builders' fields in one mapping; no two builders may set the same field."""
    fields: Fields = {}
    for part in parts:
        twice = fields.keys() & part.keys()
        if twice:
            raise ValueError(f"Plan fields built twice: {sorted(twice)}")
        fields.update(part)
    return fields


def _window(scenario: Scenario) -> Fields:
    """The simulated window and the fixed timings (hours)."""
    sim, spares = scenario.simulation, scenario.spares
    return {"horizon": float(sim.horizon), "warmup": float(sim.warmup), "detection": float(scenario.repair.detection),
            "swap_time": float(spares.swap_time), "provisioning": float(spares.provisioning),
            "standby_swap_time": float(spares.standby_swap_time),
            "serial_cold": spares.cold_provisioning == "serial", "node_table": False}


def _sizes(scenario: Scenario) -> Fields:
    """Counts of nodes by role, causes and modes, and every node's initial role."""
    nodes, spares = scenario.nodes, scenario.spares
    roles = [ROLE_CODES[role] for role in layout_of(scenario).node_roles]
    return {"nodes": nodes.count, "working": scenario.working_nodes, "hot": spares.hot, "cold": spares.cold,
            "warm": spares.warm, "causes": len(scenario.cause_names), "modes": len(nodes.failure_modes),
            "node_role": _ints(roles)}


def _modes_and_stages(scenario: Scenario, laws: _Laws) -> Fields:
    """Failure modes and the stage table: the pipeline's stages (crew pool 1 + s), then one per
    "replace" mode (pool 0)."""
    modes, stages = scenario.nodes.failure_modes, scenario.repair.stages
    mode_ttf = [laws.add(m.time_to_failure) for m in modes]
    mode_ttr = [laws.add(m.time_to_repair) if m.time_to_repair is not None else NO_LAW for m in modes]
    stage_law: list[int | np.integer] = [laws.add(stage.time) for stage in stages]
    stage_pool = [1 + s for s in range(len(stages))]
    stage_escalate = [stage.escalate for stage in stages]
    stage_false_success = [stage.false_success for stage in stages]
    stage_cause = [scenario.stage_cause(s) for s in range(len(stages))]
    mode_stage_first, mode_stage_count = [], []
    for i, mode in enumerate(modes):
        if mode.recovery == "pipeline":
            mode_stage_first.append(0)
            mode_stage_count.append(len(stages))
            continue
        mode_stage_first.append(len(stage_law))
        mode_stage_count.append(1)
        stage_law.append(mode_ttr[i])
        stage_pool.append(0)
        stage_escalate.append(0.0)
        stage_false_success.append(0.0)
        stage_cause.append(-1)
    return {
        "mode_ttf": _ints(mode_ttf), "mode_ttr": _ints(mode_ttr),
        "mode_recovery": _ints([RECOVERY_REBOOT if m.recovery == "reboot" else RECOVERY_REPAIR for m in modes]),
        "mode_stage_first": _ints(mode_stage_first), "mode_stage_count": _ints(mode_stage_count),
        "stage_law": _ints(stage_law), "stage_pool": _ints(stage_pool), "stage_escalate": _floats(stage_escalate),
        "stage_false_success": _floats(stage_false_success), "stage_cause": _ints(stage_cause),
    }


def _clocks(scenario: Scenario, mode_ttf: np.ndarray) -> Fields:
    """A node's failure clocks (the layout's, as model/clocks.py runs them): exponential modes superposed
    into one clock, for a good node [0] and a lemon [1]; one remaining lifetime per part of every other mode."""
    nodes = scenario.nodes
    lemon_speed = [nodes.lemon_multiplier(i) for i in range(len(nodes.failure_modes))]
    clocks = layout_of(scenario).clocks
    exp_rates, part_mode = clocks.exponential, clocks.part_modes
    factors = [[clocks.own_factors(m)[load] for m in range(len(nodes.failure_modes))] for load in range(3)]
    configs = [(lemon, load) for lemon in (False, True) for load in range(3)]
    exp_cumulative = [np.cumsum([r * (lemon_speed[i] if lemon else 1.0) * factors[load][i] for i, r in exp_rates])
                      if exp_rates else np.empty(0) for lemon, load in configs]
    exp_total = [float(c[-1]) if exp_rates else 0.0 for c in exp_cumulative]
    gmodes = list(clocks.computing_modes)
    exp_rate = dict(exp_rates)
    return {
        "exp_modes": _ints([i for i, _ in exp_rates]),
        "exp_cumulative": _floats(exp_cumulative).reshape(len(configs), len(exp_rates)),
        "exp_total_rate": _floats(exp_total), "exp_scale": _floats([1.0 / t if t > 0 else 0.0 for t in exp_total]),
        "parts": len(part_mode), "part_mode": _ints(part_mode), "part_law": _ints([mode_ttf[m] for m in part_mode]),
        "part_lemon_speed": _floats([lemon_speed[m] for m in part_mode]),
        "part_speed": _floats([[(lemon_speed[m] if lemon else 1.0) * factors[load][m] for m in part_mode]
                               for lemon, load in configs]).reshape(len(configs), len(part_mode)),
        "load_dependent": clocks.load_dependent,
        "mode_load_factor": _floats(factors).reshape(3, len(nodes.failure_modes)),
        "gmode_mode": _ints(gmodes), "gmode_idle_rate": _floats([clocks.load_factors[m][1] for m in gmodes]),
        "gmode_exp_rate": _floats([exp_rate.get(m, 0.0) for m in gmodes]),
        "mode_gmode": _ints([gmodes.index(m) if m in gmodes else -1 for m in range(len(nodes.failure_modes))]),
        "mode_lemon_speed": _floats(lemon_speed),
    }



def _domains(scenario: Scenario, laws: _Laws) -> Fields:
    """The layout's failure-domain instances, members as CSR arrays."""
    declared = [(laws.add(d.time_to_failure), laws.add(d.time_to_repair)) for d in scenario.failure_domains]
    domain_cause, domain_ttf, domain_ttr, ptr, members = [], [], [], [0], []
    for instance in layout_of(scenario).domains:
        ttf, ttr = declared[instance.declaration]
        domain_cause.append(instance.cause)
        domain_ttf.append(ttf)
        domain_ttr.append(ttr)
        members += list(instance.members)
        ptr.append(len(members))
    return {"domain_cause": _ints(domain_cause), "domain_ttf": _ints(domain_ttf), "domain_ttr": _ints(domain_ttr),
            "domain_ptr": _ints(ptr), "domain_nodes": _ints(members)}


def _crews(scenario: Scenario) -> Fields:
    """Crew pools (0: repair.crews, 1 + s: stage s): their limits."""
    repair = scenario.repair
    limits = [repair.crews] + [s.crews for s in repair.stages]
    return {"crew_limit": _ints([c if c is not None else UNLIMITED for c in limits])}


def _diagnosis_retirement_score(scenario: Scenario, laws: _Laws) -> Fields:
    """Diagnosis, faults left in place, lemons, the retirement policy and the node score."""
    nodes, repair = scenario.nodes, scenario.repair
    diagnosis, retirement, score = repair.diagnosis, repair.retirement, nodes.score
    reboot_law = laws.add(diagnosis.reboot_time)
    return {
        "diag_probability": float(diagnosis.probability), "diag_wrong_node": float(diagnosis.wrong_node),
        "diag_reboot_law": reboot_law, "recurrence_law": laws.add(repair.recurrence) if repair.recurs else NO_LAW,
        "cure_lemons": bool(nodes.lemon_cured_by_repair), "lemon_count": nodes.lemon_count,
        "retirement": RETIREMENT_CODES[retirement.policy],
        "retire_max_failures": int(getattr(retirement, "max_failures", 0)),
        "retire_window": float(getattr(retirement, "window", 0.0)),
        "retire_threshold": float(getattr(retirement, "threshold", 0.0)),
        "score_initial": float(score.initial if score else 0.0),
        "score_penalty": float(score.failure_penalty if score else 0.0),
        "score_credit": float(score.uptime_credit if score else 0.0),
        "score_period": float(score.credit_period if score else 1.0), "scored": score is not None,
    }


def _positions(scenario: Scenario) -> Fields:
    """The layout's working positions and the spare selection policy."""
    layout = layout_of(scenario)
    positions = layout.positions
    return {
        "selection": SELECTION_CODES[scenario.spares.selection],
        "ranked": layout.ranked,
        "slot_rank": _ints([p.rank for p in positions]), "slot_job": _ints([p.job for p in positions]),
        "slot_own": _ints([p.refill == "own" for p in positions]),
        "slot_watched": _ints([p.watched for p in positions]), "slot_preempt": _ints([p.preempt for p in positions]),
        "preemption_cause": layout.preemption_cause,
    }


def _jobs(scenario: Scenario) -> Fields:
    """Training jobs: their positions, sizes, work and times (hours), checkpoint mode and failure rule."""
    jobs = scenario.training
    return {
        "job_first": _ints([positions.start for positions in layout_of(scenario).job_positions]),
        "job_size": _ints([j.nodes for j in jobs]),
        "job_work": _floats([j.work if j.work is not None else math.inf for j in jobs]),
        "job_segment": _floats([j.checkpoint_interval or math.inf for j in jobs]),
        "job_checkpoint": _floats([j.checkpoint_hours_on(scenario.storage) for j in jobs]),
        "job_skip": _ints([j.store_down == "skip" for j in jobs]),
        "job_snapshot": _floats([j.snapshot_cost or 0.0 for j in jobs]),
        "job_restart": _floats([j.restart_hours for j in jobs]),
        "job_start": _floats([j.start_overhead for j in jobs]),
        "job_mode": _ints([CKPT_CODES[j.checkpoint_mode] for j in jobs]),
        "job_elastic": _ints([j.on_failure == "shrink" for j in jobs]),
        "job_min_nodes": _ints([j.min_nodes or j.nodes for j in jobs]),
        **_job_trees([j.nodes for j in jobs]),
    }


def _network(scenario: Scenario, laws: _Laws) -> Fields:
    """The fabric as CSR arrays (topology.Reach's uplinks, attachments and order), and each part's laws."""
    fields: Fields = {"network_cause": scenario.network_cause, "job_causes": scenario.storage_cause + 1}
    network = scenario.network
    if network is None:
        empty = _ints([])
        return {**fields, **{name: empty for name in (
            "net_switch_ttf", "net_switch_ttr", "net_top", "net_up_switch", "net_up_link", "net_att_nodes",
            "net_order", "net_link_ttf", "net_link_ttr", "net_node_switch", "net_rack_switch")},
            "net_rack_ptr": _ints([0]),
            "net_up_ptr": _ints([0]), "net_att_ptr": _ints([0]),
            "net_node_ptr": _ints([0] * (scenario.nodes.count + 1)), "net_host_base": 0}
    from clustersim.topology import Reach

    fabric = fabric_of(scenario)
    reach = Reach(fabric)  # its uplinks, attachments and order, derived once there
    switch_laws = [_law_pair(laws, network.law_of_layer(layer)) for layer in fabric.switch_layers]
    link_laws = [_law_pair(laws, network.host_link_failure if fabric.is_host_link(link) else network.link_failure)
                 for link in range(fabric.link_count)]
    return {
        **fields,
        "net_switch_ttf": _ints([ttf for ttf, _ in switch_laws]),
        "net_switch_ttr": _ints([ttr for _, ttr in switch_laws]),
        "net_top": _ints(fabric.top), **_csr("net_up", [[(s, link) for s, link in up] for up in reach.uplinks],
                                             ("net_up_switch", "net_up_link")),
        **_csr("net_att", [[(n,) for n in nodes] for nodes in reach.attached], ("net_att_nodes",)),
        "net_order": _ints(reach.order),
        "net_link_ttf": _ints([ttf for ttf, _ in link_laws]), "net_link_ttr": _ints([ttr for _, ttr in link_laws]),
        "net_host_base": len(fabric.links),
        **_csr("net_node", [[(s,) for s in needed] for needed in fabric.node_switches], ("net_node_switch",)),
        **_csr("net_rack", [[(s,) for s in switches] for switches in fabric.rack_switches], ("net_rack_switch",)),
    }


def _storage(scenario: Scenario, laws: _Laws) -> Fields:
    """The store's sizes, rules and laws, each server's rack and the servers each domain instance holds."""
    spec, layout = scenario.storage, layout_of(scenario)
    fields: Fields = {"storage_cause": scenario.storage_cause}
    if spec is None:
        return {**fields, "sto_servers": 0, "sto_objects": 0, "sto_replication": 1, "sto_quorum": 1,
                "sto_loses_data": False, "sto_rereplication": False, "sto_rack_aware": False, "sto_delay": 0.0,
                "sto_limit": 1, "sto_copy_law": NO_LAW, "sto_copy_hours": 0.0, "sto_ttf": NO_LAW, "sto_ttr": NO_LAW,
                "sto_rack": _ints([]), "domain_srv_ptr": _ints([0] * (len(layout.domains) + 1)),
                "domain_servers": _ints([])}
    racks, per_rack = layout.server_racks, scenario.nodes.nodes_per_rack
    held: list[list[tuple[int, ...]]] = [
        [(s,) for s, rack in enumerate(racks) if rack in {i // per_rack for i in instance.members}]
        for instance in layout.domains]
    return {
        **fields, "sto_servers": spec.servers, "sto_objects": spec.objects, "sto_replication": spec.replication,
        "sto_quorum": spec.quorum, "sto_loses_data": spec.failure_loses_data, "sto_rereplication": spec.rereplication,
        "sto_rack_aware": spec.placement == "rack_aware", "sto_delay": float(spec.rereplication_delay),
        "sto_limit": spec.max_concurrent_copies,
        "sto_copy_law": laws.add(spec.copy_time) if spec.copy_time is not None else NO_LAW,
        "sto_copy_hours": float(spec.copy_hours), "sto_ttf": laws.add(spec.time_to_failure),
        "sto_ttr": laws.add(spec.time_to_repair), "sto_rack": _ints(racks),
        **_csr("domain_srv", held, ("domain_servers",)),
    }


def _chaos(scenario: Scenario) -> Fields:
    """The [[chaos]] entries as arrays: each one's action, cause, times and target (named, or how many a random
    one is drawn among), and its injections before the horizon (times at, at + every, ... as SimPy adds them)."""
    layout = layout_of(scenario)
    fields: dict[str, list[Any]] = {key: [] for key in (
        "chaos_action", "chaos_cause", "chaos_at", "chaos_every", "chaos_duration", "chaos_choices")}
    pick_ptr, chaos_of, picks = [0], [], []
    horizon = scenario.simulation.horizon
    for entry, (chaos, cause) in enumerate(zip(scenario.chaos, layout.chaos_causes)):
        named, choices = _chaos_target(scenario, chaos)
        injections, at = 0, chaos.at
        while at < horizon:  # (the kernel's and SimPy's times: each the last plus every)
            injections += 1
            if chaos.every is None:
                break
            at = at + chaos.every
        for key, value in (("chaos_action", CHAOS_CODES[chaos.action]), ("chaos_cause", cause),
                           ("chaos_at", chaos.at), ("chaos_every", chaos.every or math.inf),
                           ("chaos_duration", chaos.duration_hours), ("chaos_choices", choices)):
            fields[key].append(value)
        chaos_of += [entry] * injections
        picks += [named] * injections
        pick_ptr.append(len(picks))
    return {**{key: _ints(values) if key in ("chaos_action", "chaos_cause", "chaos_choices") else _floats(values)
               for key, values in fields.items()},
            "chaos_pick_ptr": _ints(pick_ptr), "chaos_of": _ints(chaos_of), "chaos_pick": _ints(picks),
            "rack_ptr": _ints([rack.start for rack in layout.racks] + [scenario.nodes.count])}


def _chaos_target(scenario: Scenario, chaos: Chaos) -> tuple[int, int]:
    """(named target or -1, how many candidates a random one is drawn among: 0 when named or none) of an
    entry, numbered as the SimPy model numbers nodes, racks, switches, links and servers."""
    action = chaos.action
    if action == "store_outage":
        return -1, 0
    if action in ("kill_switch", "kill_link"):
        fabric = fabric_of(scenario)
        if action == "kill_switch":
            return (-1, fabric.switches) if chaos.switch is None else (fabric.switch_names.index(chaos.switch), 0)
        if chaos.link is None:
            return -1, fabric.link_count
        return next(k for k in range(fabric.link_count) if fabric.link_name(k) == chaos.link), 0
    named, count = {"kill_node": (chaos.node, scenario.nodes.count),
                    "kill_rack": (chaos.rack, len(layout_of(scenario).racks)),
                    "kill_storage_server": (chaos.server, scenario.storage.servers if scenario.storage else 0)}[action]
    return (-1, count) if named is None else (named, 0)


def _law_pair(laws: _Laws, law) -> tuple[int, int]:
    """(time to failure, time to repair) law indices of a FailureLaw; NO_LAW twice when there is none."""
    if law is None:
        return int(NO_LAW), int(NO_LAW)
    return laws.add(law.time_to_failure), laws.add(law.time_to_repair)


def _csr(prefix: str, rows: list[list[tuple[int, ...]]], names: tuple[str, ...]) -> Fields:
    """Rows of tuples as CSR arrays: ``<prefix>_ptr`` and one array per tuple position."""
    ptr = np.cumsum([0] + [len(row) for row in rows])
    return {f"{prefix}_ptr": _ints(ptr),
            **{name: _ints([entry[i] for row in rows for entry in row]) for i, name in enumerate(names)}}


def _job_trees(sizes: list[int]) -> Fields:
    """Each job's min-tree over its positions: leaves a power of two >= its size, 2 x leaves entries."""
    leaves = [1 << max(size - 1, 0).bit_length() for size in sizes]
    offsets = np.cumsum([0] + [2 * p for p in leaves])
    return {"job_tree_off": _ints(offsets[:-1]), "job_tree_p": _ints(leaves), "tree_size": int(offsets[-1]) or 1}

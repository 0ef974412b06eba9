"""Scenario -> the integer layout both engines read: derived once, here, and nowhere else.

Pure Python (no simpy, no numba). ``layout_of(scenario)`` numbers what the engines index —
nodes and their initial roles, racks, failure-domain instances and their members, cause codes,
working positions (job, priority rank, refill rule), the failure-clock layout of a node — and
lists the metrics the scenario produces (``metric_plan``: name, unit, bounds, meaning and what
each measures). The SimPy model (``clustersim.model``), the fast engine's plan
(``engine/fast/compile.py``), the statistics and the reports all take these from here, so the
two engines cannot number a domain, a cause or a position differently, nor report different
metric sets.

A new component (a network switch, a storage server, an inference replica) adds its numbering
here, beside the nodes', and its metrics to the plan.
"""
from __future__ import annotations

import difflib

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from clustersim.scenario.schema import FailureDomain, Inference, Scenario
from clustersim.scenario.sections.chaos import SERVING_ACTIONS
from clustersim.topology import Fabric, build_fabric

IDLE_PRIORITY = -(2**62)  # a working position that runs no job: served last, preempted first
ROLES = ("work", "hot", "cold")  # a node's initial role: holds a working position, hot or cold spare


@dataclass(frozen=True, slots=True)
class DomainInstance:
    """One failing group of nodes: a rack, a power group of racks, or the whole cluster."""

    declaration: int  # index into scenario.failure_domains
    name: str         # "rack/0": its name in the event log and its random stream's suffix
    cause: int        # the cause code of its failures
    members: range    # node indices


@dataclass(frozen=True, slots=True)
class Position:
    """One working position (slot): the node it starts with has the same index."""

    index: int
    job: int          # the training job running on it, -1 for none
    priority: int     # its job's priority (IDLE_PRIORITY without a job)
    rank: int         # 0 = the highest priority among the positions
    refill: str       # "spare" (take a spare) | "own" (wait for its own node's repair)
    preempt: bool     # takes nodes of lower-priority positions when no spare is usable
    watched: bool     # a process keeps it filled (spares can refill it, a job listens, or preemption)
    service: int = -1  # the inference service whose replica (or fallback replica) holds it, -1 for none


@dataclass(frozen=True, slots=True)
class ClockLayout:
    """A node's failure clocks (model/clocks.py): exponential modes superposed, one clock per other part."""

    exponential: tuple[tuple[int, float], ...]  # (mode, rate per node-hour) of every exponential mode
    part_modes: tuple[int, ...]                 # the mode of each clocked part, parts of a mode adjacent
    mean_rate_per_node: float                   # failures per operating node-hour, every mode (its clocks / mean)
    load_factors: tuple[tuple[float, float, float], ...] = ()  # per mode: ageing rate idle, working, computing
    computing_modes: tuple[int, ...] = ()       # modes that age with the job's computing (a job's LoadGroup)

    def own_factors(self, mode: int) -> tuple[float, float, float]:
        """A mode's ageing rate on a node's own timer when idle, working, or in a running job's group
        (0 there for a computing-aged mode: the job's group keeps its clocks)."""
        idle, working, _ = self.load_factors[mode] if self.load_factors else (1.0, 1.0, 1.0)
        return (idle, working, 0.0 if mode in self.computing_modes else working)

    @property
    def load_dependent(self) -> bool:
        """Does any mode's ageing depend on what the node does (ages = working or computing)?"""
        return any(factors != (1.0, 1.0, 1.0) for factors in self.load_factors)


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric a scenario produces: what it is called and means, its unit and bounds, what it measures.

    ``quantity`` names the measurement both engines implement (one function each); ``index`` is
    the cause, crew pool, stage or job it is of (-1 where none), ``cause`` the cause code of a
    per-cause count of a job.
    """

    name: str
    unit: str
    low: float
    high: float
    meaning: str
    quantity: str
    index: int = -1
    cause: int = -1


@dataclass(frozen=True)
class Layout:
    """Every integer both engines index, derived from one scenario."""

    node_roles: tuple[str, ...]
    racks: tuple[range, ...]
    domains: tuple[DomainInstance, ...]
    positions: tuple[Position, ...]
    job_positions: tuple[range, ...]
    ranked: bool      # positions differ in priority or may preempt: spares are dispatched by rank
    clocks: ClockLayout
    cause_names: tuple[str, ...]           # failure causes: modes, domains, chaos, then a replay's own modes
    chaos_causes: tuple[int, ...]
    stage_causes: tuple[int, ...]
    preemption_cause: int
    metrics: tuple[MetricSpec, ...]
    server_racks: tuple[int, ...] = ()     # [storage]: the rack of each storage server (server i: rack i mod racks)
    replica_positions: tuple[tuple[range, ...], ...] = ()   # per service: each initial replica's positions
    fallback_positions: tuple[tuple[range, ...], ...] = ()  # per service: each fallback replica's positions
    free_positions: tuple[int, ...] = ()   # working positions nothing holds at the start (autoscalers take them)
    replica_first: tuple[int, ...] = ()    # per service: the component number of its first replica in REPLICA rows


Derived = TypeVar("Derived")


def _once_per_scenario(cache: dict[int, tuple[Scenario, Any]], scenario: Scenario,
                       derive: Callable[[Scenario], Derived]) -> Derived:
    """``derive(scenario)``, computed once per Scenario object (frozen, so it cannot go stale); the last 16 kept."""
    known = cache.get(id(scenario))
    if known is not None and known[0] is scenario:
        return known[1]
    value = derive(scenario)
    if len(cache) >= 16:
        cache.pop(next(iter(cache)))
    cache[id(scenario)] = (scenario, value)  # holding the scenario keeps its id from being reused
    return value


_layouts: dict[int, tuple[Scenario, Any]] = {}
_fabrics: dict[int, tuple[Scenario, Any]] = {}


def layout_of(scenario: Scenario) -> Layout:
    """The layout of ``scenario``, derived once per Scenario object."""
    return _once_per_scenario(_layouts, scenario, _derive)


def fabric_of(scenario: Scenario) -> Fabric:
    """The fabric of ``scenario`` (which has a [network]), built once per Scenario object."""
    return _once_per_scenario(_fabrics, scenario, _build_fabric)


def _build_fabric(scenario: Scenario) -> Fabric:
    assert scenario.network is not None
    nodes = scenario.nodes
    return build_fabric(scenario.network, nodes.count, nodes.nodes_per_rack, nodes.gpus_per_node)


def chaos_causes(scenario: Scenario) -> tuple[int, ...]:
    """Each chaos entry's cause code, in order: the cluster's injections numbered after the modes and domains
    (before a replayed log's own modes), a serving one −1 (it fails no node)."""
    cluster = [c.action not in SERVING_ACTIONS for c in scenario.chaos]
    first = len(scenario.nodes.failure_modes) + len(scenario.failure_domains)
    codes, k = [], 0
    for is_cluster in cluster:
        codes.append(first + k if is_cluster else -1)
        k += is_cluster
    return tuple(codes)


def _derive(scenario: Scenario) -> Layout:
    """The layout of ``scenario``, computed."""
    nodes, spares = scenario.nodes, scenario.spares
    roles = ("work",) * scenario.working_nodes + ("hot",) * spares.hot + ("cold",) * spares.cold
    per_rack = nodes.nodes_per_rack
    racks = tuple(range(r, min(r + per_rack, nodes.count)) for r in range(0, nodes.count, per_rack))
    positions = _positions(scenario)
    return Layout(
        node_roles=roles, racks=racks, domains=_domain_instances(scenario), positions=positions,
        job_positions=tuple(range(first, first + job.nodes)
                            for job, first in zip(scenario.training, scenario.job_offsets)),
        ranked=len({p.rank for p in positions}) > 1 or any(p.preempt for p in positions),
        clocks=_clock_layout(scenario), cause_names=tuple(scenario.cause_names),
        chaos_causes=chaos_causes(scenario),
        stage_causes=tuple(scenario.stage_cause(s) for s in range(len(scenario.repair.stages))),
        preemption_cause=scenario.preemption_cause, metrics=tuple(metric_plan(scenario)),
        server_racks=_server_racks(scenario, len(racks)),
        replica_positions=tuple(_replica_ranges(first, service.replicas, service.nodes_per_replica)
                                for service, first in zip(scenario.inference, scenario.service_offsets)),
        fallback_positions=tuple(
            _replica_ranges(first + service.positions, service.fallback.replicas, service.fallback.nodes_per_replica)
            if service.fallback is not None else () for service, first in zip(scenario.inference,
                                                                              scenario.service_offsets)),
        free_positions=tuple(p.index for p in positions if p.job < 0 and p.service < 0),
        replica_first=_replica_first(scenario),
    )


def _replica_first(scenario: Scenario) -> tuple[int, ...]:
    """Replicas are numbered service by service: its replicas up to its most, then its fallback pool's."""
    firsts, first = [], 0
    for service in scenario.inference:
        firsts.append(first)
        first += service.replicas_most + (service.fallback.replicas if service.fallback is not None else 0)
    return tuple(firsts)


def _replica_ranges(first: int, replicas: int, nodes_per_replica: int) -> tuple[range, ...]:
    """The positions of ``replicas`` consecutive replicas of ``nodes_per_replica`` nodes from ``first``."""
    return tuple(range(first + r * nodes_per_replica, first + (r + 1) * nodes_per_replica) for r in range(replicas))


# --- storage servers ---------------------------------------------------------------------------

def _server_racks(scenario: Scenario, racks: int) -> tuple[int, ...]:
    """Storage server i sits in rack i mod racks, so consecutive servers are spread over the racks."""
    servers = scenario.storage.servers if scenario.storage is not None else 0
    return tuple(i % racks for i in range(servers))


def domain_groups(domain: FailureDomain, count: int, per_rack: int) -> list[range]:
    """The node-index ranges of one domain declaration's instances: each rack, each power group, or all."""
    racks = -(-count // per_rack)
    size = {"rack": 1, "power": domain.power_racks or 1, "cluster": racks}[domain.kind]
    return [range(r * per_rack, min((r + size) * per_rack, count)) for r in range(0, racks, size)]


def _domain_instances(scenario: Scenario) -> tuple[DomainInstance, ...]:
    """Every domain instance, numbered declaration by declaration, its failures caused after the modes'."""
    first_cause = len(scenario.nodes.failure_modes)
    return tuple(
        DomainInstance(d, f"{domain.label}/{k}", first_cause + d, members)
        for d, domain in enumerate(scenario.failure_domains)
        for k, members in enumerate(domain_groups(domain, scenario.nodes.count, scenario.nodes.nodes_per_rack))
    )


def _positions(scenario: Scenario) -> tuple[Position, ...]:
    """The working positions: a job's carry its priority, refill rule and preempt flag (jobs take them in order)."""
    working = scenario.working_nodes
    job = [-1] * working
    for j, (spec, first) in enumerate(zip(scenario.training, scenario.job_offsets)):
        job[first : first + spec.nodes] = [j] * spec.nodes
    service = [-1] * working
    for s, (served, first) in enumerate(zip(scenario.inference, scenario.service_offsets)):
        held = served.positions + served.fallback_positions
        service[first : first + held] = [s] * held
    specs = [scenario.training[j] if j >= 0 else None for j in job]
    priority = [spec.priority if spec else IDLE_PRIORITY for spec in specs]
    ranks = {p: r for r, p in enumerate(sorted(set(priority), reverse=True))}
    preemption = any(spec.preempt for spec in scenario.training)
    # an autoscaler's replicas run on free positions: those are kept filled like a replica's
    scaling = any(spec.autoscaling is not None for spec in scenario.inference)
    watched_all = scenario.spares.hot + scenario.spares.cold > 0 or preemption or scaling
    return tuple(
        Position(index=i, job=job[i], priority=priority[i], rank=ranks[priority[i]],
                 refill="own" if spec is not None and spec.on_failure == "wait" else "spare",
                 preempt=bool(spec and spec.preempt), watched=watched_all or spec is not None or service[i] >= 0,
                 service=service[i])
        for i, spec in enumerate(specs)
    )


def _clock_layout(scenario: Scenario) -> ClockLayout:
    """Exponential modes' per-node rates (a per-GPU mode runs one clock per GPU), the other modes' parts."""
    nodes = scenario.nodes
    clocks = [(i, nodes.gpus_per_node if m.scope == "gpu" else 1) for i, m in enumerate(nodes.failure_modes)]
    modes = nodes.failure_modes
    return ClockLayout(
        exponential=tuple((i, n / modes[i].time_to_failure.mean_hours) for i, n in clocks
                          if modes[i].time_to_failure.is_exponential),
        part_modes=tuple(i for i, n in clocks if not modes[i].time_to_failure.is_exponential for _ in range(n)),
        mean_rate_per_node=sum(n / modes[i].time_to_failure.mean_hours for i, n in clocks),
        load_factors=tuple(mode.load_factors for mode in modes),
        computing_modes=tuple(i for i, mode in enumerate(modes) if mode.load_factors[1] != mode.load_factors[2]),
    )


# --- the metric plan -------------------------------------------------------------------------

INF = math.inf


@dataclass(frozen=True, slots=True)
class MetricInfo:
    """What a metric (or a family, ``<cause>``/``<name>``/``<job>`` in its name) is: unit, bounds, meaning."""

    unit: str
    meaning: str
    low: float = 0.0
    high: float = INF


def _fraction(meaning: str) -> MetricInfo:
    return MetricInfo("fraction", meaning, 0.0, 1.0)


def _count(meaning: str) -> MetricInfo:
    return MetricInfo("count", meaning)


def _hours(meaning: str) -> MetricInfo:
    return MetricInfo("h", meaning)


# Every metric clustersim reports (the README glossary lists each). Node levels are bounded by
# nodes.count, checked per scenario in metric_plan.
METRICS: dict[str, MetricInfo] = {
    "nodes.availability": _fraction("time-weighted fraction of nodes up"),
    "nodes.up_mean": MetricInfo("nodes", "time-weighted mean number of nodes up"),
    "nodes.failures": _count("node failure events in the window (all modes, domains, chaos)"),
    "nodes.failures.<cause>": _count("node failure events of one failure mode, domain or chaos injection"),
    "nodes.outage_mean_hours": _hours("mean time from a node going down to its return to service"),
    "chaos.aborted": _count("1 when an [[abort]] condition stopped the injections in the window, else 0"),
    "chaos.abort_hours": _hours("time from warmup until an [[abort]] stopped the injections; horizon − warmup if "
                                "never"),
    "nodes.outage_mean_hours.<cause>": _hours("the same, of the outages a chaos injection began (its MTTR)"),
    "repair.wait_mean_hours": _hours("mean wait for a repair crew ('replace' recovery)"),
    "repair.crew_utilization": _fraction("time-weighted fraction of repair crews busy (finite crews)"),
    "capacity.availability": _fraction("time-weighted fraction of working positions held by an up node"),
    "capacity.shortfall_hours": _hours("time with at least one working position not held by an up node"),
    "spares.available_mean": MetricInfo("nodes", "time-weighted mean number of usable spares (with spares)"),
    "spares.exhausted_hours": _hours("time with no usable spare in the pool (with spares)"),
    "spares.first_exhausted_hours": _hours(
        "time from warmup until the pool first ran dry; horizon − warmup if never"),
    "spares.warm_mean": MetricInfo("nodes", "time-weighted mean number of warm standbys ready (with spares.warm)"),
    "capacity.first_short_hours": _hours(
        "time from warmup until a working position first waited for a spare; horizon − warmup if never"),
    "repair.stage.<name>.count": _count("repairs that entered this pipeline stage"),
    "repair.stage.<name>.crew_utilization": _fraction("time-weighted fraction of the stage's crews busy"),
    "repair.escalations": _count("repairs a stage handed on to the next stage"),
    "repair.false_successes": _count("repairs that reported success but left the fault in place"),
    "repair.undiagnosed": _count("detected failures not diagnosed: rebooted with the fault in place"),
    "repair.misdiagnoses": _count("innocent nodes blamed (and repaired) for another node's failure"),
    "nodes.recurrences": _count("failures of a fault left in place striking again"),
    "nodes.retired": _count("nodes the retirement policy took out of the cluster"),
    "nodes.retired_healthy": _count("retired nodes that were not lemons"),
    "nodes.lemons_retired_fraction": _fraction("share of the lemons retired by the horizon"),
    "network.switch_failures": _count("switch failure events in the window (all layers)"),
    "network.link_failures": _count("link failure events in the window (switch-switch and node-switch)"),
    "network.nodes_cut_off_mean": MetricInfo("nodes", "time-weighted mean number of nodes cut off by the network"),
    "network.node_hours_lost": MetricInfo("node-h", "node-hours of outages the network began (a node cut off while "
                                                    "up, until its return to service)"),
    "storage.read_availability": _fraction("time-weighted fraction of time every object has a live replica"),
    "storage.write_availability": _fraction("time-weighted fraction of time every object has write_quorum "
                                            "live replicas"),
    "storage.data_loss_events": _count("objects that lost every replica in the window"),
    "storage.rereplication_hours": _hours("mean time from a replica's loss to its copy completing"),
    "storage.objects_under_replicated_mean": MetricInfo("objects", "time-weighted mean number of objects with "
                                                                   "fewer live replicas than replication"),
    "storage.mttdl_hours": _hours("object-hours at risk in the window per data loss (replications with a loss)"),
    "inference.<svc>.requests": _count("requests sent in the window whose fate is decided by the horizon "
                                       "(resolved, or too late to be good)"),
    "inference.<svc>.success_ratio": _fraction("requests answered within the SLO latency / requests sent"),
    "inference.<svc>.latency_p50_s": MetricInfo("s", "median end-to-end latency of answered requests "
                                                     "(first attempt sent to answer)"),
    "inference.<svc>.latency_p90_s": MetricInfo("s", "90th percentile end-to-end latency of answered requests"),
    "inference.<svc>.latency_p99_s": MetricInfo("s", "99th percentile end-to-end latency of answered requests"),
    "inference.<svc>.wait_mean_s": MetricInfo("s", "mean time an attempt waits in the balancer's queue before "
                                                   "its service starts (zero waits included)"),
    "inference.<svc>.ttft_p99_s": MetricInfo("s", "99th percentile time to first token of answered requests "
                                                  "(token-based service)"),
    "inference.<svc>.tpot_p99_s": MetricInfo("s", "99th percentile time per output token of answered requests "
                                                  "(token-based service)"),
    "inference.<svc>.slo_attainment": _fraction("fraction of SLO windows whose good share met slo.target"),
    "inference.<svc>.error_budget_burn": MetricInfo("ratio", "(1 − success_ratio) / (1 − slo.target): 1 spends "
                                                             "exactly the error budget"),
    "inference.<svc>.retry_amplification": MetricInfo("attempts", "attempts per request sent", 1.0),
    "inference.<svc>.shed": _count("attempts refused by admission control or load shedding"),
    "inference.<svc>.rate_limited": _count("attempts refused by the rate limit"),
    "inference.<svc>.timeouts": _count("attempts that timed out (waiting, served, or hung on a dead replica)"),
    "inference.<svc>.fallback": _count("requests answered by the fallback pool"),
    "inference.<svc>.availability": _fraction("time-weighted fraction of time with at least one replica serving"),
    "inference.<svc>.capacity_availability": _fraction("time-weighted fraction of time with at least min_healthy "
                                                       "replicas serving"),
    "inference.<svc>.replicas_mean": MetricInfo("replicas", "time-weighted mean number of replicas held "
                                                            "(with autoscaling)"),
    "inference.<svc>.release.bad_requests": _count("attempts of the canary's new version (or of a bad_release "
                                                   "injection's bad version) that errored or timed out"),
    "inference.<svc>.release.rollback_s": MetricInfo("s", "time from the release's start to its rollback "
                                                          "(replications that rolled back; the mean over "
                                                          "releases when several did)"),
    "inference.<svc>.request_level_share": _fraction("share of the horizon the hybrid technique simulated request "
                                                     "by request (serving = \"hybrid\")"),
    "training.<job>.ettr": _fraction("checkpointed compute time / wall time while the job runs"),
    "training.<job>.goodput": _fraction("useful GPU-hours / GPU-hours allocated to the job"),
    "training.<job>.interruptions": _count("times the job stopped (during compute, checkpoint or restart)"),
    "training.<job>.interruptions.<cause>": _count("interruptions by one failure cause or preemption"),
    "training.<job>.lost_work_hours": _hours("computed work thrown away at interruptions"),
    "training.<job>.downtime_per_interruption_hours": _hours("hours stopped or restarting per interruption"),
    "training.<job>.completion_hours": _hours("wall time to finish the job's work (jobs with work)"),
    "training.<job>.completed": _fraction("1 if the job finished its work before the horizon, else 0"),
    "training.<job>.gpu_hours_wasted": MetricInfo("GPU-h", "allocated GPU-hours that produced no kept work"),
    "training.<job>.checkpoint_overhead_fraction": _fraction("wall time spent in blocking checkpoints"),
}


def metric_key_problems(scenario: Scenario) -> list[str]:
    """Keys that name a metric (``abort[i].metric``) name one the scenario measures."""
    names = [spec.name for spec in layout_of(scenario).metrics]
    problems = []
    for i, condition in enumerate(scenario.abort):
        if condition.metric not in names:
            close = difflib.get_close_matches(condition.metric, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"abort[{i}].metric: {condition.metric!r} is not a metric this scenario measures{hint}")
    return problems


def metric_info(name: str) -> MetricInfo:
    """The unit, bounds and meaning of a metric, including per-cause, per-stage and per-job names."""
    if name in METRICS:
        return METRICS[name]
    if name.startswith("nodes.failures."):
        return METRICS["nodes.failures.<cause>"]
    if name.startswith("nodes.outage_mean_hours."):
        return METRICS["nodes.outage_mean_hours.<cause>"]
    if name.startswith("repair.stage."):
        return METRICS["repair.stage.<name>." + name.rsplit(".", 1)[1]]
    if name.startswith("inference."):
        return METRICS["inference.<svc>." + name.split(".", 2)[2]]
    if name.startswith("training."):
        parts = name.split(".")
        generic = "training.<job>." + ".".join(parts[2:3] + ["<cause>"] * (len(parts) > 3))
        return METRICS[generic]
    raise KeyError(name)


def metric_plan(scenario: Scenario) -> list[MetricSpec]:
    """Every metric ``scenario`` produces, in the order both engines report them.

    A job's metrics other than completion are absent from a replication in which the job was done
    before the window began (nothing to measure in it).
    """
    plan = _Plan(scenario)
    plan.add("nodes.availability", "availability")
    plan.add("nodes.up_mean", "up_mean", high=float(scenario.nodes.count))
    plan.add("nodes.failures", "failures")
    for cause, name in enumerate(scenario.cause_names):
        plan.add(f"nodes.failures.{name}", "failures_of_cause", index=cause)
    plan.add("nodes.outage_mean_hours", "outage_mean")
    if scenario.abort:
        plan.add("chaos.aborted", "aborted")
        plan.add("chaos.abort_hours", "abort_hours")
    for cause, name in zip(chaos_causes(scenario), scenario.chaos_names):
        if cause >= 0:  # (a serving injection takes no node down)
            plan.add(f"nodes.outage_mean_hours.{name}", "outage_mean_of_cause", cause=cause)
    repair = scenario.repair
    if scenario.nodes.failure_modes:
        plan.add("repair.wait_mean_hours", "crew_wait_mean")
    if repair.crews:
        plan.add("repair.crew_utilization", "crew_utilization", index=0)
    for s, stage in enumerate(repair.stages):
        plan.add(f"repair.stage.{stage.name}.count", "stage_entries", index=s)
        if stage.crews:
            plan.add(f"repair.stage.{stage.name}.crew_utilization", "crew_utilization", index=1 + s)
    if repair.stages:
        plan.add("repair.escalations", "escalations")
        plan.add("repair.false_successes", "false_successes")
    if repair.diagnosis.probability < 1 or repair.diagnosis.wrong_node > 0:
        plan.add("repair.undiagnosed", "undiagnosed")
        plan.add("repair.misdiagnoses", "misdiagnoses")
    if repair.recurs:
        plan.add("nodes.recurrences", "recurrences")
    if repair.retirement.policy != "never":
        plan.add("nodes.retired", "retired")
        plan.add("nodes.retired_healthy", "retired_healthy")
        if scenario.nodes.has_lemons:
            plan.add("nodes.lemons_retired_fraction", "lemons_retired_fraction")
    plan.add("capacity.availability", "capacity_availability")
    plan.add("capacity.shortfall_hours", "capacity_shortfall")
    spares = scenario.spares
    if spares.hot + spares.cold:
        plan.add("spares.available_mean", "spares_available_mean", high=float(spares.hot + spares.cold))
        plan.add("spares.exhausted_hours", "spares_exhausted")
        plan.add("spares.first_exhausted_hours", "spares_first_exhausted")
        plan.add("capacity.first_short_hours", "capacity_first_short")
        if spares.warm:
            plan.add("spares.warm_mean", "spares_warm_mean", high=float(spares.warm))
    if scenario.network is not None:
        plan.add("network.switch_failures", "switch_failures")
        plan.add("network.link_failures", "link_failures")
        plan.add("network.nodes_cut_off_mean", "nodes_cut_off_mean", high=float(scenario.nodes.count))
        plan.add("network.node_hours_lost", "network_node_hours_lost")
    if scenario.storage is not None:
        plan.add("storage.read_availability", "storage_read_availability")
        plan.add("storage.write_availability", "storage_write_availability")
        plan.add("storage.data_loss_events", "storage_data_loss_events")
        if scenario.storage.rereplication:
            plan.add("storage.rereplication_hours", "storage_rereplication_hours")
        plan.add("storage.objects_under_replicated_mean", "storage_objects_under_replicated_mean",
                 high=float(scenario.storage.objects))
        plan.add("storage.mttdl_hours", "storage_mttdl_hours")
    for j in range(len(scenario.training)):
        _job_metric_plan(plan, scenario, j)
    hybrid = serving_technique(scenario) == "hybrid"
    for s, service in enumerate(scenario.inference):
        released = any(c.action == "bad_release" for _, c in scenario.serving_chaos(service.name))
        _service_metric_plan(plan, service, s, hybrid, released)
    return plan.specs


AUTO_HYBRID_REQUESTS = 5_000_000  # serving = "auto": more expected requests per replication than this -> hybrid


def serving_technique(scenario: Scenario) -> str:
    """``requests`` or ``hybrid``: the scenario's ``simulation.serving``, or for ``auto`` hybrid beyond
    AUTO_HYBRID_REQUESTS expected requests per replication when every service's arrivals allow it (a replayed
    trace is not stationary). (A serving chaos injection is simulated request by request in either: the hybrid
    technique keeps a window open while one is under way.)"""
    chosen = scenario.simulation.serving
    if chosen != "auto":
        return chosen
    if not scenario.inference or any(s.arrivals.process == "trace" for s in scenario.inference):
        return "requests"
    return "hybrid" if expected_requests(scenario) > AUTO_HYBRID_REQUESTS else "requests"


COMPILED_POLICIES = ("round_robin", "least_outstanding", "power_of_two")  # routing the fast engine compiles
_PYTHON_ONLY = ("fallback", "autoscaling", "canary", "circuit_breaker")  # [[inference]] sections it does not


def compiled_serving_gaps(scenario: Scenario) -> list[str]:
    """One phrase per serving feature ``scenario`` uses that the fast engine's compiled serving core lacks (empty:
    it serves compiled); with one, the fast engine serves in the Python model on its own timeline."""
    gaps = []
    for spec in scenario.inference:
        at = f"inference[{spec.name}]"
        gaps += [f"{at}.{key}" for key in _PYTHON_ONLY if getattr(spec, key) is not None]
        if spec.load_balancer.outlier_ejection is not None:
            gaps.append(f"{at}.load_balancer.outlier_ejection")
        if spec.load_balancer.policy not in COMPILED_POLICIES:
            gaps.append(f'{at}.load_balancer.policy = "{spec.load_balancer.policy}"')
        gaps += [f"chaos[{name}] ({chaos.action})" for name, chaos in scenario.serving_chaos(spec.name)]
    return gaps


def serving_core(scenario: Scenario) -> str:
    """Where the services' requests are simulated: ``compiled`` (the fast engine's core) or ``python``."""
    compiled = scenario.inference and scenario.simulation.engine == "fast" and not compiled_serving_gaps(scenario)
    return "compiled" if compiled else "python"


def expected_requests(scenario: Scenario) -> float:
    """Requests every service together expects to be sent in one replication (mean rate x horizon)."""
    per_hour = sum(s.arrivals.mean_rate_per_s for s in scenario.inference) * 3600.0
    return per_hour * scenario.simulation.horizon


def _service_metric_plan(plan: _Plan, service: Inference, s: int, hybrid: bool, released: bool) -> None:
    """An inference service's metrics: the headline ones, then those of the patterns it uses (a bad_release
    injection's counts as a canary's)."""
    names = ["requests", "success_ratio", "latency_p50_s", "latency_p90_s", "latency_p99_s", "wait_mean_s"]
    if service.tokens is not None:
        names += ["ttft_p99_s", "tpot_p99_s"]
    names += ["slo_attainment", "error_budget_burn", "retry_amplification", "timeouts", "availability",
              "capacity_availability"]
    if service.admission is not None or service.load_shedding:
        names.append("shed")
    if service.rate_limit is not None:
        names.append("rate_limited")
    if service.fallback is not None:
        names.append("fallback")
    if service.autoscaling is not None:
        names.append("replicas_mean")
    if service.canary is not None or released:
        names += ["release.bad_requests", "release.rollback_s"]
    if hybrid:
        names.append("request_level_share")
    for name in names:
        high = float(service.replicas_most) if name == "replicas_mean" else \
            1.0 / (1.0 - service.slo.target) if name == "error_budget_burn" else \
            float(service.retries.max_attempts if service.retries is not None else 1) \
            if name == "retry_amplification" else None
        plan.add(f"inference.{service.name}.{name}", "service", index=s, high=high)


def _job_metric_plan(plan: _Plan, scenario: Scenario, j: int) -> None:
    """A training job's metrics: completion (jobs with work), then what it did in the window."""
    prefix = f"training.{scenario.training[j].name}"
    if scenario.training[j].work is not None:
        plan.add(f"{prefix}.completion_hours", "job_completion_hours", index=j)
        plan.add(f"{prefix}.completed", "job_completed", index=j)
    for metric in ("ettr", "goodput", "interruptions"):
        plan.add(f"{prefix}.{metric}", f"job_{metric}", index=j)
    causes = list(enumerate(scenario.cause_names))
    if any(job.preempt for job in scenario.training):
        causes.append((scenario.preemption_cause, "preemption"))
    if scenario.network is not None:
        causes.append((scenario.network_cause, "network"))
    if scenario.storage is not None:
        causes.append((scenario.storage_cause, "storage"))
    for cause, name in causes:
        plan.add(f"{prefix}.interruptions.{name}", "job_interruptions_of_cause", index=j, cause=cause)
    for metric in ("lost_work_hours", "downtime_per_interruption_hours", "gpu_hours_wasted",
                   "checkpoint_overhead_fraction"):
        plan.add(f"{prefix}.{metric}", f"job_{metric}", index=j)


class _Plan:
    """Collects MetricSpecs, their unit, bounds and meaning from the catalogue."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.specs: list[MetricSpec] = []

    def add(self, name: str, quantity: str, index: int = -1, cause: int = -1, high: float | None = None) -> None:
        info = metric_info(name)
        self.specs.append(MetricSpec(name, info.unit, info.low, info.high if high is None else high, info.meaning,
                                     quantity, index, cause))

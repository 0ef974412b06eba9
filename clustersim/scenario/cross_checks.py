"""Checks across sections: the problems of a whole scenario that no single section can see.

Each check is a function registered with ``@cross_check``; its parameter names are the top-level
keys of the sections it reads, and it returns ``key.path: problem`` lines with full key paths.
``cross_section_problems`` runs every check whose sections are at hand, so the loader can still run
the checks that a bad section does not concern.
"""
from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from clustersim.scenario.sections.abort import Abort
from clustersim.scenario.sections.chaos import FABRIC_ACTIONS, SERVING_ACTIONS, STORAGE_ACTIONS, Chaos
from clustersim.scenario.sections.common import repeated
from clustersim.scenario.sections.domains import FailureDomain
from clustersim.scenario.sections.inference import Inference
from clustersim.scenario.sections.network import Network
from clustersim.scenario.sections.nodes import Nodes, reads_score
from clustersim.scenario.sections.repair import Repair
from clustersim.scenario.sections.replay import Replay
from clustersim.scenario.sections.simulation import Simulation
from clustersim.scenario.sections.spares import Spares
from clustersim.scenario.sections.storage import Storage
from clustersim.scenario.sections.training import Training

CrossCheck = Callable[..., list[str]]

_CHECKS: list[tuple[tuple[str, ...], CrossCheck]] = []


def cross_check(check: CrossCheck) -> CrossCheck:
    """Register a check across sections; its parameter names say which sections it reads."""
    _CHECKS.append((tuple(inspect.signature(check).parameters), check))
    return check


def cross_section_problems(sections: Mapping[str, Any]) -> list[str]:
    """Every registered check whose sections ``sections`` holds, in registration order, as ``key.path: problem``."""
    problems: list[str] = []
    for keys, check in _CHECKS:
        if all(key in sections for key in keys):
            problems += check(**{key: sections[key] for key in keys})
    return problems


@cross_check
def _spares_leave_working_nodes(nodes: Nodes, spares: Spares) -> list[str]:
    """Spares are held back from nodes.count; at least one node must work."""
    held = spares.hot + spares.cold
    if held >= nodes.count:
        return [f"spares: hot + cold = {held} leaves no working node out of nodes.count = {nodes.count}"]
    return []


@cross_check
def _cause_names_unique(nodes: Nodes, failure_domains: list[FailureDomain], chaos: list[Chaos]) -> list[str]:
    """Failure modes, domains and chaos injections share one namespace (metric names use it)."""
    named = [(f"nodes.failure_modes[{i}].name", m.name, "") for i, m in enumerate(nodes.failure_modes)]
    named += [(f"failure_domains[{i}].name", d.label, "" if d.name else " (the default: kind)")
              for i, d in enumerate(failure_domains)]
    named += [(f"chaos[{i}].name", c.name or f"chaos{i}", "" if c.name else " (the default)")
              for i, c in enumerate(chaos)]
    first: dict[str, str] = {}
    problems = []
    for path, name, note in named:
        if name in first:
            problems.append(f"{path}: {name!r}{note} is already used by {first[name]} "
                            "(failure modes, domains and chaos share names)")
        first.setdefault(name, path)
    return problems


@cross_check
def _jobs_fit(training: list[Training], nodes: Nodes, spares: Spares) -> list[str]:
    """Jobs take the working positions in order; the first job that does not fit names the key to change."""
    working = nodes.count - spares.hot - spares.cold
    needed = 0
    for i, job in enumerate(training):
        needed += job.nodes
        if needed > working:
            need = f"needs {needed}" if i == 0 else f"the jobs up to this one need {needed}"
            return [(f"training[{i}].nodes: {need} working positions, the cluster has {working} "
                    f"(nodes.count {nodes.count} − spares.hot {spares.hot} − spares.cold {spares.cold})")]
    return []


@cross_check
def _jobs_named_once(training: list[Training]) -> list[str]:
    """Job names are unique (metric names use them)."""
    return [f"training[{i}].name: {training[i].name!r} is already the name of an earlier job"
            for i in repeated([job.name for job in training])]


@cross_check
def _stragglers_noticed(repair: Repair, nodes: Nodes, chaos: list[Chaos]) -> list[str]:
    """A slow node (failure mode or chaos) is only taken out after repair.straggler_detection."""
    slow = [f"nodes.failure_modes[{i}]" for i, m in enumerate(nodes.failure_modes) if m.effect == "slow"]
    slow += [f"chaos[{i}]" for i, c in enumerate(chaos) if c.action == "slow_node"]
    if slow and repair.straggler_detection is None:
        return [f"repair.straggler_detection: required to notice slow nodes ({', '.join(slow)})"]
    return []


@cross_check
def _pipeline_used(nodes: Nodes, repair: Repair) -> list[str]:
    """recovery = "pipeline" needs stages; stages need a mode that uses them."""
    pipeline = [i for i, m in enumerate(nodes.failure_modes) if m.recovery == "pipeline"]
    if pipeline and not repair.stages:
        return [f'nodes.failure_modes[{i}].recovery: "pipeline" needs at least one [[repair.stages]] entry'
                for i in pipeline]
    if repair.stages and not pipeline:
        return ['repair.stages: no failure mode has recovery = "pipeline", so no repair would use these stages']
    return []


@cross_check
def _score_read(nodes: Nodes, repair: Repair, spares: Spares) -> list[str]:
    """[nodes.score] is given only when something reads it."""
    if nodes.score is not None and not reads_score(repair.retirement.policy, spares.selection):
        return [('nodes.score: only repair.retirement policy = "scored" (or "any") or spares.selection = '
                '"highest_score" read the score; neither is set')]
    return []


@cross_check
def _chaos_targets_exist(chaos: list[Chaos], nodes: Nodes) -> list[str]:
    """A chaos injection aimed at a node or rack aims at one the cluster has."""
    problems = []
    for i, c in enumerate(chaos):
        if c.node is not None and c.node >= nodes.count:
            problems.append(f"chaos[{i}].node: node {c.node} does not exist (nodes.count = {nodes.count}, first is 0)")
        if c.rack is not None and c.rack >= nodes.racks:
            problems.append(f"chaos[{i}].rack: rack {c.rack} does not exist ({nodes.racks} racks, first is 0)")
    return problems


@cross_check
def _chaos_parts_exist(chaos: list[Chaos], network: Network | None, storage: Storage | None, nodes: Nodes) -> list[str]:
    """A fault of the fabric needs [network] and names a switch or link (or a layer) it has; one of the store,
    [storage]."""
    problems = []
    fabric = _fabric_if_named(chaos, network, nodes)
    for i, c in enumerate(chaos):
        if c.action in FABRIC_ACTIONS:
            if network is None:
                problems.append(f"chaos[{i}].action: {c.action} needs a [network]")
            elif fabric is not None and (c.switch is not None or c.link is not None):
                problems += _fabric_part_problem(i, c, fabric)
            elif fabric is not None and c.layer is not None and c.layer not in fabric.switch_layers:
                layers = ", ".join(dict.fromkeys(fabric.switch_layers))
                problems.append(f"chaos[{i}].layer: the fabric has no layer {c.layer!r} (its layers: {layers})")
        elif c.action in STORAGE_ACTIONS:
            if storage is None:
                problems.append(f"chaos[{i}].action: {c.action} needs a [storage]")
            elif c.server is not None and c.server >= storage.servers:
                problems.append(f"chaos[{i}].server: server {c.server} does not exist (storage.servers = "
                                f"{storage.servers}, first is 0)")
    return problems


def _fabric_if_named(chaos: list[Chaos], network: Network | None, nodes: Nodes) -> Any:
    """The fabric, built once, when an injection names a switch, link or layer of it (None: none does, or it does not
    build: _fabric_builds reports that)."""
    if network is None or network.problems() or not any(c.switch is not None or c.link is not None
                                                         or c.layer is not None for c in chaos):
        return None
    from clustersim.topology import FabricError, build_fabric

    try:
        return build_fabric(network, nodes.count, nodes.nodes_per_rack, nodes.gpus_per_node)
    except FabricError:
        return None


def _fabric_part_problem(i: int, c: Chaos, fabric: Any) -> list[str]:
    """The switch or link injection ``i`` names is not in the fabric: one line, with a near miss."""
    key = "switch" if c.switch is not None else "link"
    names = fabric.switch_names if key == "switch" else tuple(fabric.link_name(k) for k in range(fabric.link_count))
    wanted = c.switch if key == "switch" else c.link
    if wanted in names:
        return []
    close = difflib.get_close_matches(str(wanted), names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f" (e.g. {names[0]!r})"
    return [f"chaos[{i}].{key}: the fabric has no {key} {wanted!r}{hint}"]


@cross_check
def _chaos_fault_modes_exist(chaos: list[Chaos], nodes: Nodes) -> list[str]:
    """A gpu_fault fails by a failure mode the nodes have: the one it names, or their first crash."""
    problems = []
    modes = nodes.failure_modes
    for i, c in enumerate(chaos):
        if c.action != "gpu_fault" or c.fault_mode(modes) is not None:
            continue
        if c.mode is not None:
            names = ", ".join(repr(m.name) for m in modes) or "none"
            problems.append(f"chaos[{i}].mode: no failure mode {c.mode!r} in nodes.failure_modes (its modes: {names})")
        else:
            problems.append(f'chaos[{i}].mode: gpu_fault fails by a failure mode, and no mode of nodes.failure_modes '
                            f'has effect = "crash" (name one with mode)')
    return problems


@cross_check
def _chaos_within_horizon(chaos: list[Chaos], simulation: Simulation) -> list[str]:
    """A chaos injection starts before the simulation ends."""
    return [f"chaos[{i}].at: {c.at!r} h is not before the horizon ({simulation.horizon!r} h)"
            for i, c in enumerate(chaos) if c.at >= simulation.horizon]


@cross_check
def _replay_parts_exist(replay: Replay | None, nodes: Nodes, network: Network | None,
                        storage: Storage | None) -> list[str]:
    """Every replayed incident aims at a node, rack, storage server, switch or link the scenario has (the first
    ten that do not, one line each)."""
    if replay is None:
        return []
    from clustersim.incidents import parse_component

    fabric = _fabric_if_any(network, nodes) if any(parse_component(i.component).kind in ("switch", "link")
                                                   for i in replay.incidents) else None
    problems = []
    for index, incident in enumerate(replay.incidents):
        problem = _missing_part(parse_component(incident.component), nodes, network, storage, fabric)
        if problem is not None:
            problems.append(f"replay.{replay.where(index, 'component')}: {problem}")
        if len(problems) == 10:
            break
    return problems


def _missing_part(part: Any, nodes: Nodes, network: Network | None, storage: Storage | None,
                  fabric: Any) -> str | None:
    """Why the cluster has no such ``part`` (an incidents.Component); None when it has it."""
    if part.kind == "node" and part.index >= nodes.count:
        return f"no node{part.index} (nodes.count = {nodes.count}: node0 .. node{nodes.count - 1})"
    if part.kind == "rack" and part.index >= nodes.racks:
        racks = f"{nodes.racks} rack{'s' if nodes.racks != 1 else ''}"
        return f"no rack/{part.index} ({racks}: rack/0 .. rack/{nodes.racks - 1})"
    if part.kind == "storage":
        if storage is None:
            return f"storage/{part.index} needs a [storage]"
        if part.index >= storage.servers:
            return (f"no storage/{part.index} (storage.servers = {storage.servers}: storage/0 .. "
                    f"storage/{storage.servers - 1})")
    if part.kind in ("switch", "link"):
        if network is None:
            return f"{part.name!r} is not node<N>, rack/<N> or storage/<N>, and a switch or link needs a [network]"
        if fabric is None:
            return None  # the fabric does not build: _fabric_builds reports that
        names = fabric.switch_names if part.kind == "switch" else \
            tuple(fabric.link_name(k) for k in range(fabric.link_count))
        if part.name not in names:
            close = difflib.get_close_matches(part.name, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f" (e.g. {names[0]!r})" if names else ""
            return f"the fabric has no {part.kind} {part.name!r}{hint}"
    return None


def _fabric_if_any(network: Network | None, nodes: Nodes) -> Any:
    """The fabric of [network], or None when there is none or it does not build."""
    if network is None or network.problems():
        return None
    from clustersim.topology import FabricError, build_fabric

    try:
        return build_fabric(network, nodes.count, nodes.nodes_per_rack, nodes.gpus_per_node)
    except FabricError:
        return None


@cross_check
def _replay_modes_free(replay: Replay | None, failure_domains: list[FailureDomain], chaos: list[Chaos]) -> list[str]:
    """A replayed mode names a failure mode or a cause of its own, never a domain's or a chaos injection's."""
    if replay is None:
        return []
    taken = {d.label: f"failure_domains[{i}]" for i, d in enumerate(failure_domains)}
    taken.update({c.name or f"chaos{i}": f"chaos[{i}]" for i, c in enumerate(chaos)})
    problems, seen = [], set()
    for index, incident in enumerate(replay.incidents):
        if incident.mode in taken and incident.mode not in seen:
            seen.add(incident.mode)
            problems.append(f"replay.{replay.where(index, 'mode')}: {incident.mode!r} is the cause name of "
                            f"{taken[incident.mode]}; name a failure mode or a cause of the log's own")
    return problems


@cross_check
def _fabric_builds(network: Network | None, nodes: Nodes) -> list[str]:
    """The fabric can be built for these nodes: a fat-tree large enough, every node linked to switches that
    reach the top layer (clustersim.topology says what is wrong, naming the key)."""
    if network is None or network.problems():  # the section's own problems are reported on their own
        return []
    from clustersim.topology import FabricError, build_fabric

    try:
        build_fabric(network, nodes.count, nodes.nodes_per_rack, nodes.gpus_per_node)
    except FabricError as err:
        return [str(err)]
    return []

# --- storage -----------------------------------------------------------------------------------

@cross_check
def _rack_aware_racks(storage: Storage | None, nodes: Nodes) -> list[str]:
    """rack_aware puts an object's replicas in distinct racks: the racks holding servers must be enough."""
    if storage is None or storage.placement != "rack_aware":
        return []
    racks = min(storage.servers, nodes.racks)  # server i sits in rack i mod racks
    if racks < storage.replication:
        return [f'storage.replication: {storage.replication} replicas in distinct racks (storage.placement = '
                f'"rack_aware") need as many racks with servers; {storage.servers} servers sit in {racks}']
    return []


@cross_check
def _jobs_and_the_store(training: list[Training], storage: Storage | None) -> list[str]:
    """Store rules need [storage]; a size alone derives the checkpoint cost from it; async persists are not
    modelled against it."""
    problems = []
    for i, job in enumerate(training):
        if storage is None and job.checkpoint_on_store_down is not None:
            problems.append(f"training[{i}].checkpoint_on_store_down: applies with [storage] only")
        periodic = job.checkpoint_mode in ("sync", "async")
        alone = job.checkpoint_cost is None and job.checkpoint_bandwidth is None and job.checkpoint_size is not None
        if storage is None and periodic and alone:
            problems.append(f"training[{i}].checkpoint_cost: missing (give checkpoint_cost, checkpoint_size with "
                            "checkpoint_bandwidth, or checkpoint_size with [storage])")
        if storage is not None and job.checkpoint_mode == "async":
            problems.append(f'training[{i}].checkpoint_mode: "async" persists to [storage] are not modelled; '
                            'use "sync" or "continuous"')
    return problems


@cross_check
def _services_fit(inference: list[Inference], training: list[Training], nodes: Nodes, spares: Spares) -> list[str]:
    """Replicas (and fallback pools) take working positions after the training jobs'."""
    working = nodes.count - spares.hot - spares.cold
    jobs = sum(job.nodes for job in training)
    replicas = sum(service.positions + service.fallback_positions for service in inference)
    if inference and jobs + replicas > working:
        return [f"inference: the replicas need {replicas} working positions beside the training jobs' {jobs}, "
                f"but only {working} nodes work (nodes.count − spares.hot − spares.cold)"]
    return []


@cross_check
def _services_named_once(inference: list[Inference]) -> list[str]:
    return [f"inference[{i}].name: {inference[i].name!r} is already used by another service"
            for i in repeated([service.name for service in inference])]


@cross_check
def _hybrid_arrivals_stationary(inference: list[Inference], simulation: Simulation) -> list[str]:
    """The hybrid technique takes stationary samples between windows: a replayed trace has none."""
    if simulation.serving != "hybrid":
        return []
    return [f"simulation.serving: \"hybrid\" needs stationary arrivals, but inference[{i}] ({service.name!r}) "
            f"replays a trace; use serving = \"requests\""
            for i, service in enumerate(inference) if service.arrivals.process == "trace"]


@cross_check
def _serving_chaos_targets(chaos: list[Chaos], inference: list[Inference]) -> list[str]:
    """A serving injection names a defined service, at most its replicas, and an arrival rate it can scale."""
    services = {service.name: service for service in inference}
    problems = []
    for i, c in enumerate(chaos):
        if c.action not in SERVING_ACTIONS or c.service is None:
            continue
        service = services.get(c.service)
        if service is None:
            known = ", ".join(repr(name) for name in services) or "none"
            problems.append(f"chaos[{i}].service: no [[inference]] service is named {c.service!r} (services: {known})")
            continue
        if c.replicas is not None and c.replicas > service.replicas_most:
            problems.append(f"chaos[{i}].replicas: {c.replicas} is more than service {c.service!r} has "
                            f"({service.replicas_most})")
        if c.action == "traffic_surge" and c.factor is not None and c.factor > 1 \
                and service.arrivals.process in ("bursty", "trace"):
            problems.append(f"chaos[{i}].factor: a surge above 1 adds Poisson arrivals at (factor − 1) × the rate, "
                            f"which {service.arrivals.process} arrivals of {c.service!r} do not have (use poisson "
                            f"or diurnal arrivals, or a factor ≤ 1)")
    return problems


@cross_check
def _aborts_judge_cluster_windows(abort: list[Abort], chaos: list[Chaos], simulation: Simulation) -> list[str]:
    """An abort stops [[chaos]] injections, judged in the series' windows as they close, on a cluster metric (a
    service's are measured after the cluster's run)."""
    problems = []
    for i, condition in enumerate(abort):
        if condition.metric.startswith("inference."):
            problems.append(f"abort[{i}].metric: {condition.metric!r}: a service's metrics are measured after "
                            "the cluster's run, so they cannot stop an injection; use a cluster metric")
    if abort and simulation.series_window is None:
        problems.append("abort: needs simulation.series_window (the windows the conditions are judged in)")
    if abort and not chaos:
        problems.append("abort: there is no [[chaos]] injection to stop")
    return problems

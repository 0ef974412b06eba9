"""Which scenario features the fast engine lacks, so it refuses them instead of approximating.

The fast engine knows the schema keys it implements (``SUPPORTED``). Features it lacks are
refused by a readable phrase each (``unsupported_features``); any other key a scenario sets away
from its default is refused by its dotted path — so a key added to the schema for the SimPy
model is refused by the fast engine until the kernel implements it, never silently ignored.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from clustersim.scenario.schema import Scenario

# Dotted schema paths the kernel implements (list items share their list's path).
SUPPORTED = frozenset({
    "name", "sweep",  # [sweep] is read by the sweep command, not by an engine
    "simulation.horizon", "simulation.warmup", "simulation.replications", "simulation.seed", "simulation.engine",
    "simulation.precision", "simulation.precision_metrics", "simulation.min_replications",
    "simulation.max_replications",
    "nodes.count", "nodes.gpus_per_node", "nodes.nodes_per_rack",
    "nodes.failure_modes.name", "nodes.failure_modes.scope", "nodes.failure_modes.time_to_failure",
    "nodes.failure_modes.recovery", "nodes.failure_modes.time_to_repair",
    "nodes.failure_modes.lemon_rate_multiplier", "nodes.failure_modes.ages", "nodes.failure_modes.idle_rate_factor",
    "nodes.lemon_fraction", "nodes.lemon_rate_multiplier", "nodes.lemon_cured_by_repair",
    "nodes.score", "nodes.score.initial", "nodes.score.failure_penalty", "nodes.score.uptime_credit",
    "nodes.score.credit_period",
    "repair.crews", "repair.detection", "repair.recurrence", "repair.fault_left_in_place",
    "repair.diagnosis.probability", "repair.diagnosis.wrong_node", "repair.diagnosis.reboot_time",
    "repair.stages", "repair.stages.name", "repair.stages.time", "repair.stages.crews", "repair.stages.escalate",
    "repair.stages.false_success",
    "repair.retirement.policy", "repair.retirement.max_failures", "repair.retirement.window",
    "repair.retirement.threshold",
    "spares.hot", "spares.cold", "spares.swap_time", "spares.provisioning",
    "spares.cold_provisioning", "spares.warm", "spares.standby_swap_time",
    "spares.selection",
    "failure_domains", "failure_domains.name", "failure_domains.kind", "failure_domains.power_racks",
    "failure_domains.time_to_failure", "failure_domains.time_to_repair",
    "training", "training.name", "training.nodes", "training.work", "training.checkpoint_mode",
    "training.checkpoint_interval", "training.checkpoint_cost", "training.checkpoint_size",
    "training.checkpoint_bandwidth", "training.restore_bandwidth", "training.snapshot_cost",
    "training.restart_overhead", "training.start_overhead", "training.reschedule_time", "training.init_time",
    "training.on_failure",
    "training.min_nodes", "training.priority", "training.preempt", "training.checkpoint_on_store_down",
    "network", "network.topology", "network.spines", "network.k", "network.group_size", "network.file",
    "network.top_layer", "network.switches", "network.switches.name", "network.switches.layer", "network.links",
    "network.links.between", "network.groups", "network.groups.first", "network.groups.count",
    "network.groups.switches", "network.layer_failure",
    *(f"network.{law}.{part}" for law in ("switch_failure", "link_failure", "host_link_failure")
      for part in ("time_to_failure", "time_to_repair")),
    "storage", *(f"storage.{key}" for key in (
        "servers", "replication", "write_quorum", "objects", "object_size", "placement", "time_to_failure",
        "time_to_repair", "failure_loses_data", "rereplication", "bandwidth", "copy_time", "rereplication_delay",
        "max_concurrent_copies")),
    # [[chaos]] of FAST_CHAOS_ACTIONS, each aimed at a named target or a random one of all (no selector)
    "chaos", *(f"chaos.{key}" for key in ("name", "action", "at", "every", "node", "rack", "switch", "link", "server",
                                          "duration")),
})
# The [[chaos]] actions the kernel runs (engine/fast/chaos.py; compile.CHAOS_CODES), others refused by name.
FAST_CHAOS_ACTIONS = ("kill_node", "kill_rack", "kill_switch", "kill_link", "kill_storage_server", "store_outage")
# What each target selector narrows (refused by name: a random target among a rack's, a role's or a layer's)
_SELECTORS = {"rack": "a random node drawn from a rack", "role": "a random node drawn by role",
              "layer": "a random switch or link drawn from a layer", "between": "injections at random times"}
# Distribution laws the kernel samples (compile.py converts each).
SUPPORTED_LAWS = frozenset({"exponential", "weibull", "lognormal", "gamma", "deterministic", "uniform", "empirical"})


def _lacking(scenario: Scenario) -> list[tuple[str, list[str]]]:
    """(phrase, the dotted keys it covers) for each feature the kernel lacks that ``scenario`` uses."""
    found = _chaos_lacking(scenario)
    if scenario.abort:
        found.append(("chaos aborts ([[abort]])", ["abort"]))
    if scenario.simulation.series_window is not None:
        found.append(("metric time series (simulation.series_window)", ["simulation.series_window"]))
    if scenario.replay is not None:
        found.append(("incident replay ([replay])", ["replay"]))
    for i, mode in enumerate(scenario.nodes.failure_modes):
        if mode.effect != "crash":
            keys = ["nodes.failure_modes.effect", "nodes.failure_modes.speed", "nodes.failure_modes.time_to_crash"]
            found.append((f'gray failures (nodes.failure_modes[{i}].effect = "{mode.effect}")', keys))
    if scenario.repair.straggler_detection is not None:
        found.append(("straggler detection (repair.straggler_detection)", ["repair.straggler_detection"]))
    return found


def _chaos_lacking(scenario: Scenario) -> list[tuple[str, list[str]]]:
    """Each [[chaos]] entry whose action the kernel lacks (``chaos[i] (slow_node)``, covering that entry's keys),
    and each target selector of an entry it runs (``chaos[i].role (...)``)."""
    found = []
    for i, chaos in enumerate(scenario.chaos):
        if chaos.action not in FAST_CHAOS_ACTIONS:
            found.append((f"chaos[{i}] ({chaos.action})", _set_keys(chaos, "chaos.")))
            continue
        selectors = ["role", "layer", "between"] + (["rack"] if chaos.action == "kill_node" else [])
        found += [(f"chaos[{i}].{key} ({_SELECTORS[key]})", [f"chaos.{key}"])
                  for key in selectors if getattr(chaos, key) is not None]
    return found


def unsupported_features(scenario: Scenario) -> list[str]:
    """One readable phrase per feature ``scenario`` uses that the fast engine cannot run."""
    lacking = _lacking(scenario)
    missing = [phrase for phrase, _ in lacking]
    covered = {key for _, keys in lacking for key in keys}
    for path in _set_keys(scenario, ""):
        if path not in SUPPORTED and path not in covered and path.split(".")[0] not in covered and path not in missing \
                and not _served(path):
            missing.append(path)
    for path, law in _laws(scenario, ""):
        if law not in SUPPORTED_LAWS and f"{path} = {law}" not in missing and not _served(path):
            missing.append(f"{path} = {law}")
    return missing


def _served(path: str) -> bool:
    """Keys of the serving model, which runs in Python on the kernel's timeline (every key and law it has)."""
    return path.startswith("inference.") or path.startswith("simulation.serving")


def refusal(missing: list[str]) -> str:
    """The one-line message that refuses a scenario using the ``missing`` features."""
    return f'simulation.engine: the fast engine does not support: {", ".join(missing)}; use engine = "simpy"'


def _set_keys(model: BaseModel, prefix: str) -> list[str]:
    """Dotted paths of the leaf keys ``model`` sets away from their defaults (distributions are leaves)."""
    paths = []
    for name, field in type(model).model_fields.items():
        value, path = getattr(model, name), f"{prefix}{name}"
        if _is_section(value):
            paths += _set_keys(value, f"{path}.")
        elif isinstance(value, list) and value and all(_is_section(item) for item in value):
            for item in value:
                paths += _set_keys(item, f"{path}.")
        elif value != _default(type(model), name, field):
            paths.append(path)
    return paths


_DEFAULTS: dict[tuple[type, str], Any] = {}


def _default(model: type[BaseModel], name: str, field: Any) -> Any:
    """A field's default, computed once per model class (pydantic's get_default inspects the factory's
    signature on every call: ~4 ms per scenario, paid by every point of a sweep)."""
    key = (model, name)
    if key not in _DEFAULTS:
        _DEFAULTS[key] = field.get_default(call_default_factory=True)
    return _DEFAULTS[key]


def _laws(model: BaseModel, prefix: str) -> list[tuple[str, str]]:
    """(path, law) of every distribution in ``model``."""
    found = []
    for name in type(model).model_fields:
        value, path = getattr(model, name), f"{prefix}{name}"
        items = value if isinstance(value, list) else [value]
        for item in items:
            if _is_distribution(item):
                found.append((path, item.dist))
            elif isinstance(item, BaseModel):
                found += _laws(item, f"{path}.")
    return found


def _is_distribution(value: Any) -> bool:
    return isinstance(value, BaseModel) and "dist" in type(value).model_fields


def _is_section(value: Any) -> bool:
    return isinstance(value, BaseModel) and not _is_distribution(value)

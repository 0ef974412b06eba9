"""Which scenario features the fast engine lacks, so it refuses them instead of approximating.

The fast engine knows the schema keys it implements (``SUPPORTED``). Any other key a scenario
sets away from its default is refused by name — so a key added to the schema for the SimPy
model is refused by the fast engine until the kernel implements it, never silently ignored.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from clustersim.scenario.schema import Scenario

# Dotted schema paths the kernel implements (list items share their list's path).
SUPPORTED = frozenset({
    "name",
    "simulation.horizon", "simulation.warmup", "simulation.replications", "simulation.seed", "simulation.engine",
    "simulation.precision", "simulation.precision_metrics", "simulation.min_replications",
    "simulation.max_replications",
    "nodes.count", "nodes.gpus_per_node", "nodes.nodes_per_rack",
    "nodes.failure_modes.name", "nodes.failure_modes.scope", "nodes.failure_modes.time_to_failure",
    "nodes.failure_modes.recovery", "nodes.failure_modes.time_to_repair",
    "repair.crews", "repair.detection",
    "spares.hot", "spares.cold", "spares.swap_time", "spares.provisioning",
    "failure_domains.name", "failure_domains.kind", "failure_domains.power_racks",
    "failure_domains.time_to_failure", "failure_domains.time_to_repair",
})
# Sections the kernel lacks as a whole, with the phrase that names them.
UNSUPPORTED_SECTIONS = {"chaos": "chaos injections ([[chaos]])"}
# Recoveries the kernel runs.
SUPPORTED_RECOVERIES = frozenset({"reboot", "replace"})
# Distribution laws the kernel samples (compile.py converts each).
SUPPORTED_LAWS = frozenset({"exponential", "weibull", "lognormal", "gamma", "deterministic", "uniform", "empirical"})


def unsupported_features(scenario: Scenario) -> list[str]:
    """One readable phrase per feature ``scenario`` uses that the fast engine cannot run."""
    missing = [phrase for key, phrase in UNSUPPORTED_SECTIONS.items() if getattr(scenario, key)]
    missing += [f'nodes.failure_modes[{i}].recovery = "{mode.recovery}"'
                for i, mode in enumerate(scenario.nodes.failure_modes) if mode.recovery not in SUPPORTED_RECOVERIES]
    for path in _set_keys(scenario, ""):
        if path not in SUPPORTED and path.split(".")[0] not in UNSUPPORTED_SECTIONS and path not in missing:
            missing.append(path)
    for path, law in _laws(scenario, ""):
        if law not in SUPPORTED_LAWS and f"{path} = {law}" not in missing:
            missing.append(f"{path} = {law}")
    return missing


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
        elif value != field.get_default(call_default_factory=True):
            paths.append(path)
    return paths


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

"""The scenario's key parameters as report tables: the settings an architecture review asks about first
(size, failure laws, repair, spares, network, store, workloads), read from the resolved scenario."""
from __future__ import annotations

from typing import Any

from clustersim.errors import UnitError
from clustersim.report.document import Table, table
from clustersim.scenario.schema import Scenario
from clustersim.units import parse_duration_hours, readable_hours

HOURS_PER_YEAR = 8760.0

# (section, keys shown from it): a key absent from the resolved scenario is skipped
_SETTINGS = (
    ("simulation", ("horizon", "warmup", "replications", "seed", "engine", "series_window")),
    ("nodes", ("count", "gpus_per_node", "nodes_per_rack", "lemon_fraction")),
    ("repair", ("crews", "detection")),
    ("spares", ("hot", "cold", "warm", "swap_time", "provisioning")),
    ("network", ("topology", "spines")),
    ("storage", ("servers", "replication", "write_quorum", "objects", "object_size", "placement", "rereplication")),
)


def duration_text(hours: float) -> str:
    """A duration for people, in years beyond a year (a failure law's mean of 16.4 years, not 5.98e+03 d)."""
    return f"{hours / HOURS_PER_YEAR:,.3g} years" if hours >= HOURS_PER_YEAR else readable_hours(hours)


def shown(value: Any) -> str:
    """A resolved value for people: durations readable (``"0.1667 h"`` → ``10 min``), a law by its parameters."""
    if isinstance(value, str) and value.endswith(" h"):
        try:
            return duration_text(parse_duration_hours(value))
        except UnitError:
            return value
    if isinstance(value, dict):
        if "dist" in value:
            parameters = ", ".join(f"{k} {shown(v)}" for k, v in value.items() if k != "dist")
            return f"{value['dist']} ({parameters})" if parameters else str(value["dist"])
        return ", ".join(f"{k} {shown(v)}" for k, v in value.items())
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _resolved(scenario: Scenario) -> dict[str, Any]:
    return scenario.model_dump(mode="json", exclude_none=True)


def settings_table(scenario: Scenario) -> Table:
    """One row per key setting: ``section.key`` and its value."""
    data = _resolved(scenario)
    rows = []
    for section, keys in _SETTINGS:
        values = data.get(section)
        if not isinstance(values, dict):
            continue
        rows += [[f"{section}.{key}", shown(values[key])] for key in keys if key in values]
    rows.append(["chaos injections", str(len(data.get("chaos", [])))])
    return table(["setting", "value"], rows, caption="key settings (every other key at its default or as in "
                 "scenario.resolved.toml)")


def failure_modes_table(scenario: Scenario) -> Table | None:
    """Each failure mode: scope, effect, time to failure and time to repair."""
    modes = _resolved(scenario)["nodes"].get("failure_modes", [])
    if not modes:
        return None
    rows = [[m["name"], m.get("scope", ""), m.get("effect", ""), shown(m.get("time_to_failure")),
             shown(m.get("time_to_repair"))] for m in modes]
    return table(["failure mode", "scope", "effect", "time to failure", "time to repair"], rows,
                 caption="failure modes (per node, or per GPU where the scope is gpu)")


def workloads_table(scenario: Scenario) -> Table | None:
    """Each training job and inference service with the settings that drive its numbers."""
    data = _resolved(scenario)
    rows = []
    for job in data.get("training", []):
        rows.append([f"training {job['name']}", f"{job['nodes']:,} nodes, checkpoint every "
                     f"{shown(job.get('checkpoint_interval'))} costing {shown(job.get('checkpoint_cost'))} "
                     f"({job.get('checkpoint_mode', 'sync')}), restart {shown(job.get('restart_overhead'))}, "
                     f"on failure: {job.get('on_failure', '')}"])
    for service in data.get("inference", []):
        arrivals = service.get("arrivals", {})
        rate = arrivals.get("rate", "")
        rows.append([f"inference {service['name']}", f"{service['replicas']} replicas × {service['concurrency']} "
                     f"concurrent, {arrivals.get('process', '')} arrivals {rate}, timeout "
                     f"{shown(service.get('timeout'))}"])
    return table(["workload", "settings"], rows) if rows else None

"""The written part of a report, generated from the numbers: a metric's value with its interval, and the
paired difference of a design to the baseline in words ("B raises training.pretrain.ettr by 3.1 ± 0.4 points;
the difference is significant"). "Significant" is said exactly when the paired 95 % interval excludes 0
(``comparison.Difference.significant``); no sentence here states anything its numbers do not carry.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from clustersim.comparison import Difference
from clustersim.layout import metric_info
from clustersim.report.terminal import decimals_for, default_decimals, format_interval, format_mean, format_number
from clustersim.stats import Estimate
from clustersim.units import readable_hours

SIGNIFICANT = "the difference is significant (its 95 % interval excludes 0)"
NOT_SIGNIFICANT = "the difference is not significant (its 95 % interval includes 0)"


def _is_fraction(metric: str) -> bool:
    return metric_info(metric).unit == "fraction"


def value_text(metric: str, e: Estimate) -> str:
    """``99.56 % [99.55, 99.57]`` for a fraction, ``28.4 h [27.9, 28.9]`` otherwise: the mean to the digits its
    interval supports, the unit once."""
    unit = e.unit
    if _is_fraction(metric):
        scaled = Estimate(e.mean * 100, _scale(e.ci95_low), _scale(e.ci95_high), e.n, "%",
                          None if e.half_width is None else e.half_width * 100)
        interval = format_interval(scaled, 0, 100)
        return f"{format_mean(scaled)} %" + ("" if interval == "—" else f" {interval}")
    info = metric_info(metric)
    interval = format_interval(e, info.low, info.high)
    suffix = "" if unit in ("", "count") else f" {unit}"
    return f"{format_mean(e)}{suffix}" + ("" if interval == "—" else f" {interval}")


def _scale(x: float | None) -> float | None:
    return None if x is None else x * 100


def _change_text(metric: str, e: Estimate) -> str:
    """The size of a change with its 95 % half-width, in the metric's terms: percentage points for a fraction
    (``3.1 ± 0.4 points``), else its unit (``2.5 ± 0.3 h``, ``41 ± 6`` for a count)."""
    fraction = _is_fraction(metric)
    scale, unit = (100.0, "points") if fraction else (1.0, metric_info(metric).unit)
    mean = abs(e.mean) * scale
    half = None if e.half_width is None else e.half_width * scale
    decimals = decimals_for(half) if half is not None and half > 0 else default_decimals(mean)
    text = format_number(mean, decimals)
    if half is not None and half > 0:
        text += f" ± {format_number(half, decimals)}"
    return text if unit in ("", "count") else f"{text} {unit}"


def difference_sentence(d: Difference, baseline: str, baseline_mean: float | None = None) -> str:
    """One sentence: how ``d.scenario`` moves ``d.metric`` from the baseline, with its 95 % half-width, and whether
    the difference is significant (exactly when its interval excludes 0)."""
    e = d.estimate
    if not math.isfinite(e.mean):
        return f"{d.metric} was not measured in both {d.scenario} and {baseline} in any replication: no difference."
    if e.mean == 0 and not (e.half_width or 0) > 0:
        return f"{d.scenario} leaves {d.metric} as {baseline} has it in every replication; {NOT_SIGNIFICANT}."
    verb = "raises" if e.mean > 0 else "lowers"
    relative = ""
    if baseline_mean and math.isfinite(baseline_mean) and not _is_fraction(d.metric):
        relative = f" ({e.mean / abs(baseline_mean):+.1%} of {baseline}'s mean)"
    verdict = SIGNIFICANT if d.significant else NOT_SIGNIFICANT
    return f"{d.scenario} {verb} {d.metric} by {_change_text(d.metric, e)}{relative} against {baseline}; {verdict}."


def significant_first(differences: Iterable[Difference]) -> list[Difference]:
    """The significant differences first, then the rest, each in the order given."""
    ds = list(differences)
    return [d for d in ds if d.significant] + [d for d in ds if not d.significant]


def flat_parameters(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A resolved scenario as dotted keys → values; a list of tables keyed by position (``training[0].nodes``)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flat_parameters(value, name + "."))
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            for i, item in enumerate(value):
                flat.update(flat_parameters(item, f"{name}[{i}]."))
        else:
            flat[name] = value
    return flat


def parameter_differences(baseline: Mapping[str, Any], other: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """``(key, baseline's value, other's value)`` for every parameter the two resolved scenarios set differently
    (``name`` excluded: it is what tells them apart)."""
    a, b = flat_parameters(baseline), flat_parameters(other)
    keys = [k for k in dict.fromkeys([*a, *b]) if k != "name" and a.get(k) != b.get(k)]
    return [(k, _shown(a.get(k)), _shown(b.get(k))) for k in keys]


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def spare_nodes_sentence(name: str, baseline: str, spares: int, baseline_spares: int) -> str | None:
    """``B holds 32 more spare nodes than A`` (None when both hold as many)."""
    more = spares - baseline_spares
    if more == 0:
        return None
    return f"{name} holds {abs(more):,} {'more' if more > 0 else 'fewer'} spare node{'s' * (abs(more) != 1)} " \
           f"than {baseline} ({baseline_spares:,} → {spares:,})."


def hours_text(hours: float) -> str:
    """A duration for people (``57 min``, ``1.38 h``, ``12.5 d``)."""
    return readable_hours(hours) if math.isfinite(hours) else "∞"


_HEADLINE = ("nodes.availability", "capacity.availability", "nodes.failures", "nodes.outage_mean_hours",
             "repair.wait_mean_hours", "spares.exhausted_hours", "network.node_hours_lost",
             "storage.read_availability", "storage.write_availability", "storage.data_loss_events")
_JOB_HEADLINE = ("ettr", "goodput", "interruptions", "lost_work_hours", "completion_hours")
_SERVICE_HEADLINE = ("success_ratio", "latency_p99_s", "availability", "slo_attainment", "error_budget_burn")


def headline_metrics(names: Iterable[str]) -> list[str]:
    """The metrics a review reads first, of those present, in reading order: the cluster's, each job's, each
    service's."""
    present = list(names)
    chosen = [m for m in _HEADLINE if m in present]
    jobs = dict.fromkeys(m.split(".")[1] for m in present if m.startswith("training."))
    chosen += [f"training.{j}.{k}" for j in jobs for k in _JOB_HEADLINE if f"training.{j}.{k}" in present]
    services = dict.fromkeys(m.split(".")[1] for m in present if m.startswith("inference."))
    chosen += [f"inference.{s}.{k}" for s in services for k in _SERVICE_HEADLINE if f"inference.{s}.{k}" in present]
    return chosen

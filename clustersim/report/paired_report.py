"""The reports of paired runs: a comparison of designs (compare) and a chaos experiment (control against
treatment). Both say in words how each design moves the headline metrics from the baseline — "significant"
exactly when the paired 95 % interval excludes 0 — show the differences as a forest plot, and list what the
designs set differently."""
from __future__ import annotations

import math
from typing import Any

from clustersim.comparison import Comparison, Difference
from clustersim.report.document import Figure, Report, Section, Table, table
from clustersim.report.figures.differences import differences_png
from clustersim.report.parameters import settings_table
from clustersim.report.review import (
    difference_sentence,
    headline_metrics,
    parameter_differences,
    significant_first,
    spare_nodes_sentence,
    value_text,
)
from clustersim.scenario.schema import Scenario
from clustersim.units import readable_hours


def _headline_differences(comparison: Comparison) -> list[Difference]:
    metrics = headline_metrics(comparison.results[0].estimates)
    order = {m: i for i, m in enumerate(metrics)}
    chosen = [d for d in comparison.differences if d.metric in order]
    return sorted(chosen, key=lambda d: (comparison.names.index(d.scenario), order[d.metric]))


def written_comparison(comparison: Comparison) -> list[str]:
    """Per design against the baseline: its spare nodes, then each headline metric it moves, significant first."""
    baseline = comparison.names[0]
    base = comparison.results[0]
    lines = []
    for name, result in zip(comparison.names[1:], comparison.results[1:]):
        spares = spare_nodes_sentence(name, baseline, _spares(result.scenario), _spares(base.scenario))
        if spares:
            lines.append(spares)
        mine = [d for d in _headline_differences(comparison) if d.scenario == name and math.isfinite(d.estimate.mean)]
        lines += [difference_sentence(d, baseline, base.estimates[d.metric].mean) for d in significant_first(mine)]
    return lines


def _spares(scenario: Scenario) -> int:
    return scenario.spares.hot + scenario.spares.cold if scenario.spares is not None else 0


def means_table(comparison: Comparison) -> Table:
    """Each headline metric's mean and interval in every design, side by side."""
    names = comparison.names
    metrics = headline_metrics(comparison.results[0].estimates)
    rows = []
    for metric in metrics:
        cells = [value_text(metric, r.estimates[metric]) if metric in r.estimates else "—" for r in comparison.results]
        rows.append([metric, *cells])
    return table(["metric", *names], rows, numeric=set(range(1, len(names) + 1)),
                 caption="mean [95 % CI] of each design over the same replications (common random numbers)")


def differences_table(comparison: Comparison) -> Table:
    """Every paired difference of a headline metric with its interval and verdict."""
    from clustersim.report.terminal import format_interval, format_plus_minus

    rows = [[d.metric, d.scenario, format_plus_minus(d.estimate), format_interval(d.estimate),
             "yes" if d.significant else "no"] for d in _headline_differences(comparison)]
    return table(["metric", "design", "difference ± 95 %", "95 % CI", "significant"], rows, numeric={2, 3},
                 caption=f"paired difference to {comparison.names[0]}, replication by replication")


def parameters_table(comparison: Comparison) -> Table | None:
    """What each design sets differently from the baseline."""
    base = comparison.results[0].scenario.model_dump(mode="json", exclude_none=True)
    rows = []
    for name, result in zip(comparison.names[1:], comparison.results[1:]):
        other = result.scenario.model_dump(mode="json", exclude_none=True)
        rows += [[name, key, a, b] for key, a, b in parameter_differences(base, other)]
    if not rows:
        return None
    return table(["design", "setting", comparison.names[0], "this design"], rows[:200],
                 caption="settings that differ from the baseline" + (" (first 200)" if len(rows) > 200 else ""))


def _forest(comparison: Comparison, name: str) -> list[Figure]:
    png = differences_png(comparison)
    return [] if png is None else [Figure(name, "Paired differences to the baseline as a share of its mean, with 95 % "
                                          "CIs; filled: significant (the interval excludes 0).", png)]


def compare_report(comparison: Comparison, files: list[str]) -> Report:
    """compare's report: the written comparison, the forest plot, the designs' means and what they change."""
    base = comparison.results[0].scenario
    sim = base.simulation
    subtitle = (f"{len(comparison.names)} designs ({', '.join(files)}), {len(comparison.results[0].rows)} paired "
                f"replications of {readable_hours(sim.horizon)} each, seed {sim.seed}; baseline {comparison.names[0]}")
    parameters = parameters_table(comparison)
    sections = [
        Section("Written comparison", paragraphs=written_comparison(comparison) or [
            "No design changes any headline metric."]),
        Section("Differences", tables=[differences_table(comparison)], figures=_forest(comparison, "differences")),
        Section("The designs side by side", tables=[means_table(comparison)]),
        Section("What the designs set differently", tables=[parameters] if parameters else [],
                paragraphs=[] if parameters else ["The designs' resolved scenarios differ only in name."]),
        Section("Baseline scenario", tables=[settings_table(base)]),
    ]
    return Report(f"{base.name}: comparison of {len(comparison.names)} designs", subtitle, sections)


def _hypothesis_line(h: dict[str, Any]) -> str:
    window = f" in every {readable_hours(h['window_hours'])} window" if h.get("window_hours") else ""
    low, high = h["held_ci95_low"], h["held_ci95_high"]
    interval = "" if low is None or high is None else f" [{low:.0%}, {high:.0%}]"
    return (f"\"{h['metric']} {h['comparator']} {h['threshold']:g}{window}\" held in {h['held_fraction']:.0%}"
            f"{interval} of the treatment's replications and {h['control_held_fraction']:.0%} of the control's: "
            f"{h['verdict']}.")


def hypotheses_table(info: dict[str, Any]) -> Table:
    rows = [[f"{h['metric']} {h['comparator']} {h['threshold']:g}", h["verdict"], f"{h['held_fraction']:.0%}",
             f"{h['control_held_fraction']:.0%}"] for h in info["hypotheses"]]
    return table(["hypothesis", "verdict", "held (treatment)", "held (control)"], rows, numeric={2, 3})


def chaos_report(info: dict[str, Any], comparison: Comparison, timeline_png: bytes | None) -> Report:
    """chaos's report: each hypothesis's verdict, what the injections moved (paired, in words), the timeline."""
    subtitle = (f"{info.get('file', info['experiment'])}: control and treatment, {info['replications']} paired "
                f"replications, seed {info['seed']}, {info['engine']} engine; "
                f"{len(info['injections'])} injection entr{'y' if len(info['injections']) == 1 else 'ies'}")
    injections = table(["injection", "action", "node failures", "MTTR", "job interruptions"], [
        [i["name"], i["action"], _maybe(i["node_failures_mean"]), _hours(i["mttr_hours"]),
         _maybe(i["job_interruptions_mean"])] for i in info["injections"]], numeric={2, 3, 4},
        caption="each injection entry's reach, mean per replication")
    figures = [] if timeline_png is None else [Figure("chaos_timeline", "Each hypothesis metric per window around "
                                                      "the injections: treatment against control, mean and 95 % band; "
                                                      "dashed: the threshold.", timeline_png)]
    sections = [
        Section("Hypotheses", paragraphs=[_hypothesis_line(h) for h in info["hypotheses"]] or
                ["The experiment states no hypothesis."],
                tables=[hypotheses_table(info)] if info["hypotheses"] else []),
        Section("What the injections moved", paragraphs=written_comparison(comparison) or [
            "The injections moved no headline metric."], tables=[differences_table(comparison)],
            figures=_forest(comparison, "differences")),
        Section("Injections", tables=[injections], figures=figures),
        Section("Control scenario", tables=[settings_table(comparison.results[0].scenario)]),
    ]
    return Report(f"{info['experiment']}: chaos experiment report", subtitle, sections)


def _maybe(x: float | None) -> str:
    return "—" if x is None else f"{x:,.3g}"


def _hours(x: float | None) -> str:
    return "—" if x is None else readable_hours(x)

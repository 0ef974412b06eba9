"""A sweep's report: for each headline metric, where it is best and how that point differs from the first one
(paired over the replications both ran: every point runs with the scenario's seed, so common random numbers),
its curve or heat map, and the table of points."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from clustersim.comparison import Difference, paired_difference
from clustersim.layout import metric_info
from clustersim.report.document import Figure, Report, Section, table
from clustersim.report.review import difference_sentence, headline_metrics, value_text
from clustersim.report.sweep_plots import plot_file_name, sweep_plots
from clustersim.stats import Estimate
from clustersim.executors import PointOutcome
from clustersim.sweep_grid import SweepPlan
from clustersim.units import readable_hours

TABLE_METRICS = 5  # columns of the points table beside the parameters: the page's width
_LOWER_IS_BETTER_UNITS = ("h", "count", "node-h", "GPU-h", "s", "objects", "ratio", "attempts")


def point_label(plan: SweepPlan, index: int) -> str:
    """``point 3 (repair.crews = 8)``."""
    values = plan.points[index].values
    return f"point {index} (" + ", ".join(f"{k} = {values[k]}" for k in plan.keys) + ")"


def _better_is_higher(metric: str) -> bool:
    """Fractions (availability, ETTR, success) are better high; durations, counts and latencies low."""
    return metric_info(metric).unit not in _LOWER_IS_BETTER_UNITS


def best_point(points: pd.DataFrame, metric: str) -> int | None:
    """The point where ``metric``'s mean is best (None when no point measured it)."""
    column = points[f"{metric}_mean"].to_numpy(dtype=float)
    finite = [i for i, x in enumerate(column) if math.isfinite(x)]
    if not finite:
        return None
    pick = max if _better_is_higher(metric) else min
    return int(points["point"].iloc[pick(finite, key=lambda i: column[i])])


def _metrics(points: pd.DataFrame) -> list[str]:
    return headline_metrics(c.removesuffix("_mean") for c in points.columns if c.endswith("_mean"))


def sweep_findings(plan: SweepPlan, points: pd.DataFrame, outcomes: dict[int, PointOutcome]) -> list[str]:
    """Per headline metric: its best point with its value, and that point's paired difference to point 0."""
    lines = []
    first = plan.points[0].index
    for metric in _metrics(points):
        best = best_point(points, metric)
        if best is None:
            continue
        means = points[f"{metric}_mean"].to_numpy(dtype=float)
        row = points[points["point"] == best].iloc[0]
        e = point_estimate(row, metric)
        if np.all(means[np.isfinite(means)] == e.mean):
            lines.append(f"{metric} is the same at every point: {value_text(metric, e)}.")
            continue
        line = f"{metric} is best at {point_label(plan, best)}: {value_text(metric, e)}."
        if best != first and first in outcomes and best in outcomes:
            diff = paired_difference(outcomes[first].rows, outcomes[best].rows, metric)
            base_mean = float(points[points["point"] == first].iloc[0][f"{metric}_mean"])
            line += " " + difference_sentence(Difference(metric, f"point {best}", diff), f"point {first}", base_mean)
        lines.append(line)
    return lines


def _or_none(x: float) -> float | None:
    return None if pd.isna(x) else float(x)


def point_estimate(row: pd.Series, metric: str) -> Estimate:
    """One point's estimate of ``metric`` from its row of the sweep table."""
    return Estimate(float(row[f"{metric}_mean"]), _or_none(row[f"{metric}_ci95_low"]),
                    _or_none(row[f"{metric}_ci95_high"]), int(row["replications"]), metric_info(metric).unit)


def sweep_report(plan: SweepPlan, points: pd.DataFrame, outcomes: dict[int, PointOutcome]) -> Report:
    """The whole report of a sweep: findings, the headline curves, the points, then every other metric's curve."""
    horizon = plan.points[0].scenario.simulation.horizon
    subtitle = (f"{len(plan.points)} points over {', '.join(plan.keys)}; "
                f"{int(points['replications'].min())} replications of {readable_hours(horizon)} per point, seed "
                f"{plan.points[0].scenario.simulation.seed}")
    metrics = _metrics(points)
    headline = {plot_file_name(m) for m in metrics}
    every = {plot_file_name(c.removesuffix("_mean")): c.removesuffix("_mean") for c in points.columns
             if c.endswith("_mean")}
    axes = len(plan.axes) if plan.axes else len(plan.keys)
    figures = [(name in headline, Figure(name.removesuffix(".png"), _caption(every.get(name, name), axes), png))
               for name, png in sweep_plots(plan, points)]
    shown = ["point", *plan.keys, "replications"]
    metrics = metrics[:TABLE_METRICS]
    rows = []
    for _, row in points.iterrows():
        cells = [str(row[c]) for c in shown]
        for metric in metrics:
            e = point_estimate(row, metric)
            cells.append(value_text(metric, e) if math.isfinite(e.mean) else "—")
        rows.append(cells)
    points_table = table([*shown, *metrics], rows, numeric=set(range(len(shown), len(shown) + len(metrics))),
                         caption=f"the first {len(metrics)} headline metrics per point: mean [95 % CI] "
                         "(every metric of every point: sweep.csv)")
    sections = [
        Section("Findings", paragraphs=sweep_findings(plan, points, outcomes) or ["No headline metric was measured."]),
        Section("Headline metrics across the sweep", figures=[f for top, f in figures if top]),
        Section("Points", tables=[points_table]),
        Section("Every other metric", figures=[f for top, f in figures if not top], folded=True),
    ]
    return Report(f"{plan.name}: sweep report", subtitle, [s for s in sections if s.figures or s.tables or
                                                          s.paragraphs])


def _caption(metric: str, axes: int) -> str:
    what = "mean and 95 % CI band at each point" if axes == 1 else "mean at each point of the grid"
    return f"{metric}: {what}."

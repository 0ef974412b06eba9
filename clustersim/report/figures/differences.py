"""A comparison as a forest plot: each design's paired difference to the baseline, metric by metric, as a
percentage of the baseline's mean (so metrics of different units share one axis), with its 95 % interval."""
from __future__ import annotations

import math
from typing import NamedTuple

from clustersim.comparison import Comparison
from clustersim.report.canvas import new_figure, png_bytes, with_unit
from clustersim.report.review import headline_metrics

class ForestRow(NamedTuple):
    """One (metric, scenario) row: the paired difference to the baseline and its 95 % bounds, in percent of the
    baseline's mean, and whether the interval excludes 0."""

    metric: str
    scenario: str
    percent: float
    low_percent: float
    high_percent: float
    significant: bool


class Forest(NamedTuple):
    """The rows drawn and the metrics left out because the baseline's mean is 0 (no percentage of it)."""

    rows: list[ForestRow]
    zero_baseline: list[str]


def compared_metrics(comparison: Comparison) -> list[str]:
    """The headline metrics (``review.headline_metrics``) the baseline measured."""
    return headline_metrics(comparison.results[0].estimates) if comparison.results else []


def forest(comparison: Comparison, metrics: list[str] | None = None) -> Forest:
    """Rows per metric (in ``metrics`` order, default the headlines) and non-baseline scenario (in run order):
    difference / |baseline mean| x 100. A metric whose baseline mean is 0 is left out and named in ``zero_baseline``,
    one undefined (NaN) left out; a difference with no interval (fewer than two paired replications) is left out."""
    chosen = compared_metrics(comparison) if metrics is None else metrics
    baseline = comparison.results[0].estimates if comparison.results else {}
    by_key = {(d.metric, d.scenario): d for d in comparison.differences}
    rows: list[ForestRow] = []
    zero: list[str] = []
    for metric in chosen:
        base = baseline.get(metric)
        if base is None or not math.isfinite(base.mean):
            continue
        if base.mean == 0:
            zero.append(metric)
            continue
        scale = 100.0 / abs(base.mean)
        for name in comparison.names[1:]:
            difference = by_key.get((metric, name))
            if difference is None:
                continue
            e = difference.estimate
            if e.ci95_low is None or e.ci95_high is None or not math.isfinite(e.mean):
                continue
            rows.append(ForestRow(metric, name, e.mean * scale, e.ci95_low * scale, e.ci95_high * scale,
                                  difference.significant))
    return Forest(rows, zero)


def differences_png(comparison: Comparison, metrics: list[str] | None = None) -> bytes | None:
    """The forest plot, one row per (metric, non-baseline scenario), top to bottom; None when no row has an
    interval (one scenario, or fewer than two replications)."""
    data = forest(comparison, metrics)
    if not data.rows:
        return None
    rows = data.rows
    figure = new_figure(height=max(3.0, 1.6 + 0.32 * len(rows)))
    axes = figure.add_subplot()
    y = list(range(len(rows)))[::-1]
    for row, at in zip(rows, y):
        color = "tab:blue" if row.significant else "grey"
        axes.plot([row.low_percent, row.high_percent], [at, at], color=color, linewidth=1.5)
        axes.plot([row.percent], [at], "o", markersize=6, color=color,
                  markerfacecolor=color if row.significant else "white",
                  label="significant (95 % CI excludes 0)" if row.significant else "not significant")
    axes.axvline(0.0, color="black", linewidth=0.8)
    several = len(comparison.names) > 2
    axes.set_yticks(y, [f"{r.metric} — {r.scenario}" if several else r.metric for r in rows], fontsize="small")
    axes.set_ylim(-0.7, len(rows) - 0.3)
    axes.set_xlabel(with_unit("paired difference to the baseline's mean", "%"))
    axes.grid(True, axis="x", alpha=0.3)
    handles, labels = axes.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    figure.legend(list(unique.values()), list(unique), loc="outside lower center", ncols=2, fontsize="small",
                  frameon=False)
    n = comparison.results[0].estimates[rows[0].metric].n if comparison.results else 0
    others = ", ".join(comparison.names[1:])
    title = f"{others} minus {comparison.names[0]}:\npaired difference with 95 % CI over {n} replications"
    if data.zero_baseline:
        title += f"\nnot shown (baseline mean 0): {', '.join(data.zero_baseline)}"
    axes.set_title(title, fontsize="small")
    return png_bytes(figure)


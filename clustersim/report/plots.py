"""Figures as PNG bytes, drawn with matplotlib's Agg canvas (no display, no global pyplot state)."""
from __future__ import annotations

import math
from typing import NamedTuple

from clustersim.checkpointing import CheckpointAdvice
from clustersim.report.canvas import legend_below, new_figure, png_bytes
from clustersim.units import readable_hours


class Mark(NamedTuple):
    """A vertical line at an interval: its label, position (hours) and line style."""

    label: str
    hours: float
    color: str
    style: str


def merged_marks(marks: list[Mark]) -> list[Mark]:
    """One line per interval as the axis reads it: marks whose hours print alike (``readable_hours``) merge
    into the first one's line, labelled with every name ("Young = Daly: 86 min"); marks with no positive finite
    interval are left out."""
    groups: dict[str, list[Mark]] = {}
    for mark in marks:
        if math.isfinite(mark.hours) and mark.hours > 0:
            groups.setdefault(readable_hours(mark.hours), []).append(mark)
    return [Mark(" = ".join(m.label for m in group) + f": {shown}", group[0].hours, group[0].color, group[0].style)
            for shown, group in groups.items()]


def goodput_vs_interval_png(advice: CheckpointAdvice) -> bytes:
    """Goodput with 95 % error bars against the checkpoint interval (log axis), with Young's, Daly's and
    the simulated optimum marked (one line where they coincide) and the optimum's range shaded."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    outcomes = advice.outcomes
    hours = [o.interval_hours for o in outcomes]
    means = [o.goodput.mean for o in outcomes]
    below = [o.goodput.mean - o.goodput.ci95_low if o.goodput.ci95_low is not None else 0.0 for o in outcomes]
    above = [o.goodput.ci95_high - o.goodput.mean if o.goodput.ci95_high is not None else 0.0 for o in outcomes]

    figure = new_figure(7.5, 5.0)
    axes = figure.add_subplot()
    axes.errorbar(hours, means, yerr=[below, above], fmt="o-", color="black", capsize=3,
                  label="simulated goodput (95 % CI)")
    axes.axvspan(advice.optimum.low_hours, advice.optimum.high_hours, color="tab:green", alpha=0.12,
                 label="optimum range (CI overlaps the best)")
    marks = [Mark("simulated optimum", advice.optimum.best.interval_hours, "tab:green", "-"),
             Mark("Young", advice.young_hours, "tab:blue", "--"), Mark("Daly", advice.daly_hours, "tab:red", ":"),
             Mark("current", advice.current_interval_hours, "tab:gray", "-.")]
    for mark in merged_marks(marks):
        axes.axvline(mark.hours, color=mark.color, linestyle=mark.style, label=mark.label)
    axes.set_xscale("log")
    axes.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda hours, _: readable_hours(hours)))
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_xlabel("checkpoint interval (log scale; min, h or d as labelled)")
    axes.set_ylabel("goodput (fraction: useful / allocated GPU-hours)")
    axes.set_title(f"{advice.scenario.name}: job {advice.job_name}, {outcomes[0].goodput.n} replications per interval")
    axes.grid(True, which="both", alpha=0.3)
    legend_below(axes, columns=2)
    return png_bytes(figure)

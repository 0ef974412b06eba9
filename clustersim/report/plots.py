"""Figures as PNG bytes, drawn with matplotlib's Agg canvas (no display, no global pyplot state)."""
from __future__ import annotations

import io
import math

from clustersim.checkpointing import CheckpointAdvice
from clustersim.units import readable_hours


def goodput_vs_interval_png(advice: CheckpointAdvice) -> bytes:
    """Goodput with 95 % error bars against the checkpoint interval (log axis), with Young's, Daly's and
    the simulated optimum marked and the optimum's range shaded."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    outcomes = advice.outcomes
    hours = [o.interval_hours for o in outcomes]
    means = [o.goodput.mean for o in outcomes]
    below = [o.goodput.mean - o.goodput.ci95_low if o.goodput.ci95_low is not None else 0.0 for o in outcomes]
    above = [o.goodput.ci95_high - o.goodput.mean if o.goodput.ci95_high is not None else 0.0 for o in outcomes]

    figure = Figure(figsize=(7.5, 4.5), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.errorbar(hours, means, yerr=[below, above], fmt="o-", color="black", capsize=3,
                  label="simulated goodput (95 % CI)")
    axes.axvspan(advice.optimum.low_hours, advice.optimum.high_hours, color="tab:green", alpha=0.12,
                 label="optimum range (CI overlaps the best)")
    marks = [("simulated optimum", advice.optimum.best.interval_hours, "tab:green", "-"),
             ("Young", advice.young_hours, "tab:blue", "--"), ("Daly", advice.daly_hours, "tab:red", ":"),
             ("current", advice.current_interval_hours, "tab:gray", "-.")]
    for label, x, color, style in marks:
        if math.isfinite(x) and x > 0:
            axes.axvline(x, color=color, linestyle=style, label=f"{label}: {readable_hours(x)}")
    axes.set_xscale("log")
    axes.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda hours, _: readable_hours(hours)))
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_xlabel("checkpoint interval (log scale)")
    axes.set_ylabel("goodput (useful / allocated GPU-hours)")
    axes.set_title(f"{advice.scenario.name}: job {advice.job_name}, {outcomes[0].goodput.n} replications per interval")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize="small", loc="best")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()

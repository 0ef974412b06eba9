"""A chaos experiment's timeline: each hypothesis metric aligned at each injection entry's occurrences — mean
and 95 % band across replications and occurrences, treatment against control — as PNG bytes (Agg canvas)."""
from __future__ import annotations

import io
from typing import TYPE_CHECKING

from clustersim.chaos_run import REPLAY, ChaosOutcome, entry_names
from clustersim.chaos_judging import AlignedBand
from clustersim.layout import metric_info
from clustersim.units import readable_hours

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.artist import Artist

PANEL_INCHES = (4.2, 2.8)
COLUMNS = 3
RUNS = (("treatment", "tab:red"), ("control", "tab:blue"))
TIMELINE_COLUMNS = ("metric", "injection", "run", "offset_hours", "mean", "ci95_low", "ci95_high")


def timeline_rows(outcome: ChaosOutcome) -> list[dict[str, object]]:
    """chaos_timeline.csv: per hypothesis metric, injection entry, run and offset from the injection's window."""
    rows: list[dict[str, object]] = []
    for (i, name), bands in outcome.bands.items():
        metric = outcome.experiment.hypotheses[i].metric
        for (run, _), band in zip(RUNS, bands):
            for offset, mean, low, high in zip(band.offsets_hours, band.mean, band.low, band.high):
                rows.append({"metric": metric, "injection": name, "run": run, "offset_hours": offset,
                             "mean": mean, "ci95_low": low, "ci95_high": high})
    return rows


def timeline_png(outcome: ChaosOutcome) -> bytes | None:
    """One panel per hypothesis and injection entry, up to ``COLUMNS`` a row; None when nothing was measured
    per window."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    experiment = outcome.experiment
    order = entry_names(experiment)
    panels = sorted(outcome.bands, key=lambda key: (key[0], order.index(key[1])))
    window = experiment.window
    if not panels or window is None:
        return None
    durations = {name: chaos.duration or 0.0 for name, chaos in experiment.injections}  # gpu_fault: none
    durations.setdefault(REPLAY, 0.0)  # incidents of many lengths: each marked at its start
    columns = min(COLUMNS, len(panels))
    rows = -(-len(panels) // columns)
    figure = Figure(figsize=(PANEL_INCHES[0] * columns, PANEL_INCHES[1] * rows + 0.9), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.subplots(rows, columns, squeeze=False)
    for p, (i, name) in enumerate(panels):
        axes = grid[p // columns][p % columns]
        hypothesis = experiment.hypotheses[i]
        for (run, color), band in zip(RUNS, outcome.bands[(i, name)]):
            _draw(axes, band, run, color, window)
        axes.axhline(hypothesis.threshold, color="black", linestyle="--", linewidth=0.8)
        if durations[name]:
            axes.axvspan(0.0, durations[name], color="tab:orange", alpha=0.25, linewidth=0)
        else:
            axes.axvline(0.0, color="tab:orange", linewidth=1.5)
        unit = metric_info(hypothesis.metric).unit
        axes.set_title(f"{hypothesis.metric}\nafter {name}", fontsize="small")
        axes.set_ylabel(unit or "value", fontsize="small")
        axes.set_xlabel("hours from the injection", fontsize="small")
        axes.tick_params(labelsize="x-small")
        axes.grid(True, alpha=0.3)
    for p in range(len(panels), rows * columns):
        grid[p // columns][p % columns].set_visible(False)
    handles, labels = grid[0][0].get_legend_handles_labels()
    figure.legend(handles + [_patch("tab:orange"), _line()], labels + ["injected (duration)", "threshold"],
                  loc="outside lower center", ncol=4, fontsize="small", frameon=False)
    figure.suptitle(f"chaos experiment {experiment.name}: mean and 95 % band across replications and "
                    f"injections, per {readable_hours(window)} window", fontsize="medium")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _draw(axes: Axes, band: AlignedBand, run: str, color: str, width_hours: float) -> None:
    """A run's mean as steps over each window, its band shaded where it has one."""
    if not band.offsets_hours:
        return
    x = [*band.offsets_hours, band.offsets_hours[-1] + width_hours]  # the last window drawn to its end
    mean = [m if m is not None else float("nan") for m in band.mean]
    low = [v if v is not None else m for v, m in zip(band.low, mean)]
    high = [v if v is not None else m for v, m in zip(band.high, mean)]
    axes.step(x, [*mean, mean[-1]], where="post", color=color, linewidth=1.2, label=f"{run} (mean)")
    axes.fill_between(x, [*low, low[-1]], [*high, high[-1]], step="post", color=color, alpha=0.2, linewidth=0)


def _patch(color: str) -> Artist:
    from matplotlib.patches import Patch
    return Patch(color=color, alpha=0.15)


def _line() -> Artist:
    from matplotlib.lines import Line2D
    return Line2D([], [], color="black", linestyle="--", linewidth=0.8)

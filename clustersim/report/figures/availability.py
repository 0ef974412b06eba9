"""Availability and each job's ETTR window by window: the mean over replications with its 95 % Student-t band,
against the whole run's mean — does the run settle, drift, or dip (a spare pool running dry, a bad week)?"""
from __future__ import annotations

import math

from clustersim.layout import metric_info
from clustersim.report.canvas import legend_right, new_figure, png_bytes, with_unit
from clustersim.report.figures.bands import Series, draw_band, time_axis, window_bands
from clustersim.scenario.schema import Scenario
from clustersim.units import readable_hours



def series_metrics(scenario: Scenario, series: Series) -> list[str]:
    """The metrics drawn, in panel order: node and capacity availability, then each job's ETTR, those present."""
    jobs = [f"training.{job.name}.ettr" for job in scenario.training]
    wanted = ["nodes.availability", "capacity.availability", *jobs]
    return [name for name in wanted if any(name in replication for replication in series)]


def run_mean(scenario: Scenario, series: Series, metric: str) -> float:
    """The whole run's mean of ``metric``: every replication's windows weighted by their length (the last
    window may be shorter), as the run's time-weighted metric averages them."""
    widths = [end - start for start, end in scenario.simulation.series_windows()]
    total = weight = 0.0
    for replication in series:
        for w, value in enumerate(replication.get(metric, [])):
            if value is not None and math.isfinite(value) and w < len(widths):
                total += value * widths[w]
                weight += widths[w]
    return total / weight if weight > 0 else math.nan


def availability_png(scenario: Scenario, series: list[dict[str, list[float | None]]]) -> bytes | None:
    """One panel per availability / ETTR metric over the windows (None without series)."""
    metrics = series_metrics(scenario, series) if series else []
    windows = scenario.simulation.series_windows()
    if not metrics or not windows:
        return None
    scale, unit = time_axis(scenario.simulation.horizon)
    figure = new_figure(height=1.0 + 1.9 * len(metrics))
    panels = figure.subplots(len(metrics), 1, sharex=True, squeeze=False)[:, 0]
    for axes, metric in zip(panels, metrics):
        draw_band(axes, window_bands(series, metric, windows), scale, "tab:blue", "per window")
        overall = run_mean(scenario, series, metric)
        if math.isfinite(overall):
            axes.axhline(overall, color="black", linestyle="--", linewidth=1, label=f"whole-run mean {_shown(overall)}")
        axes.set_ylabel(with_unit(metric, metric_info(metric).unit), fontsize="small")
        axes.ticklabel_format(axis="y", useOffset=False)  # 0.99998 on the axis, not an offset of 1e-5
        axes.grid(True, alpha=0.3)
        legend_right(axes)
    panels[-1].set_xlabel(with_unit("window mid-time", unit))
    figure.suptitle(f"{scenario.name}: per-window mean and 95 % band over {len(series)} replications "
                    f"(windows of {readable_hours(windows[0][1] - windows[0][0])})", fontsize="medium")
    return png_bytes(figure)


def _shown(fraction: float) -> str:
    """A fraction near 1 with the digits that tell it from 1 (0.99996, not 1)."""
    from clustersim.report.terminal import default_decimals, format_number

    return format_number(fraction, max(4, default_decimals(fraction, "fraction")))

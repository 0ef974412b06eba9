"""Storage exposure: how many objects run under-replicated and whether reads and writes stay available, window by
window, beside the run's data-loss events, re-replication time and mean time to data loss."""
from __future__ import annotations

from typing import Any

from clustersim.layout import metric_info
from clustersim.report.canvas import legend_below, new_figure, png_bytes, with_unit
from clustersim.report.figures.bands import Series, draw_band, time_axis, window_bands
from clustersim.scenario.schema import Scenario
from clustersim.stats import Estimate
from clustersim.units import readable_hours

UNDER_REPLICATED = "storage.objects_under_replicated_mean"
AVAILABILITIES = (("storage.read_availability", "read availability", "tab:blue"),
                  ("storage.write_availability", "write availability", "tab:orange"))


def exposure_lines(estimates: dict[str, Estimate]) -> list[str]:
    """The text box's entries: data-loss events, re-replication time and MTTDL, each with its 95 % interval, or
    what it means when the run did not measure it (MTTDL needs a replication with a loss)."""
    loss = estimates.get("storage.data_loss_events")
    copy = estimates.get("storage.rereplication_hours")
    mttdl = estimates.get("storage.mttdl_hours")
    return ["data-loss events per replication:\n" + (_bounds(loss, lambda x: f"{x:.3g}") if loss else "  —"),
            "re-replication time (mean):\n" + (_bounds(copy, readable_hours) if copy and copy.n
                                                else "  — (no replica lost)"),
            "MTTDL (object-hours per loss):\n" + (_bounds(mttdl, readable_hours) if mttdl and mttdl.n
                                                   else "  — (no data lost)")]


def _bounds(e: Estimate, show: Any) -> str:
    if e.ci95_low is None or e.ci95_high is None:
        return "  " + show(e.mean)
    return f"  {show(e.mean)}\n  (95 % CI {show(e.ci95_low)} – {show(e.ci95_high)})"


def storage_png(scenario: Scenario, estimates: dict[str, Estimate], series: Series) -> bytes | None:
    """Under-replicated objects and read/write availability per series window (mean and 95 % band) when the run
    has series, else the availabilities' whole-run estimates as bars; the exposure numbers in a text box. None
    without [storage]."""
    if scenario.storage is None:
        return None
    windows = scenario.simulation.series_windows()
    under = window_bands(series, UNDER_REPLICATED, windows)
    replications = max((e.n for name, e in estimates.items() if name.startswith("storage.")), default=len(series))
    figure = new_figure(height=6.0 if under else 4.2)
    rows = 2 if under else 1
    layout = figure.add_gridspec(rows, 2, width_ratios=(2.3, 1.0))
    if under:
        top = figure.add_subplot(layout[0, 0])
        bottom = figure.add_subplot(layout[1, 0], sharex=top)
        _draw_series(scenario, series, under, top, bottom)
        per = f" per {readable_hours(windows[0][1] - windows[0][0])} window"
    else:
        _draw_availability_bars(figure.add_subplot(layout[0, 0]), estimates)
        per = ""
    text = figure.add_subplot(layout[:, 1])
    text.axis("off")
    text.text(0.0, 0.5, "\n\n".join(exposure_lines(estimates)), va="center", ha="left", fontsize="small",
              bbox={"boxstyle": "round", "facecolor": "whitesmoke", "edgecolor": "grey"})
    figure.suptitle(f"Storage exposure{per}, {scenario.storage.objects} objects x {scenario.storage.replication} "
                    f"replicas:\nmean and 95 % CI over {replications} replications", fontsize="medium")
    return png_bytes(figure)


def _draw_series(scenario: Scenario, series: Series, under: list[Any], top: Any, bottom: Any) -> None:
    scale, unit = time_axis(scenario.simulation.horizon)
    draw_band(top, under, scale, "tab:red", "under-replicated objects")
    top.set_ylabel(with_unit("under-replicated", metric_info(UNDER_REPLICATED).unit))
    top.set_ylim(bottom=0)
    top.tick_params(labelbottom=False)
    for metric, label, color in AVAILABILITIES:
        bands = window_bands(series, metric, scenario.simulation.series_windows())
        if bands:
            draw_band(bottom, bands, scale, color, label)
    bottom.set_ylabel(with_unit("availability", metric_info(AVAILABILITIES[0][0]).unit))
    bottom.set_xlabel(with_unit("time from the start", unit))
    for axes in (top, bottom):
        axes.grid(True, alpha=0.3)
    legend_below(top, columns=2)
    legend_below(bottom, columns=2)


def _draw_availability_bars(axes: Any, estimates: dict[str, Estimate]) -> None:
    for x, (metric, _, color) in enumerate(AVAILABILITIES):
        e = estimates.get(metric)
        if e is None:
            continue
        below = e.mean - e.ci95_low if e.ci95_low is not None else 0.0
        above = e.ci95_high - e.mean if e.ci95_high is not None else 0.0
        bars = axes.bar([x], [e.mean], color=color)
        axes.bar_label(bars, labels=[f"{e.mean:.4g}"], fontsize="small", padding=8)
        axes.errorbar([x], [e.mean], yerr=[[below], [above]], fmt="none", ecolor="black", capsize=3)
    axes.set_xticks(range(len(AVAILABILITIES)), [label for _, label, _ in AVAILABILITIES])
    axes.set_ylabel(with_unit("availability over the run", metric_info(AVAILABILITIES[0][0]).unit))
    axes.set_ylim(0, 1.05)
    axes.grid(True, axis="y", alpha=0.3)

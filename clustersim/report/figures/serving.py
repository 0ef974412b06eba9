"""Inference services: their latency quantiles with 95 % intervals, and their success ratio window by window
against the SLO target (the windows that miss it shaded)."""
from __future__ import annotations

from typing import Any, NamedTuple

from clustersim.layout import metric_info
from clustersim.report.canvas import legend_below, new_figure, png_bytes, with_unit
from clustersim.scenario.schema import Scenario
from clustersim.stats import Estimate, estimate
from clustersim.units import readable_hours

Series = list[dict[str, list[float | None]]]

# (metric suffix, bar label): the quantiles drawn per service, those a service does not report left out
LATENCIES = (("latency_p50_s", "latency p50"), ("latency_p90_s", "latency p90"), ("latency_p99_s", "latency p99"),
             ("ttft_p99_s", "TTFT p99"), ("tpot_p99_s", "TPOT p99"))
COLORS = ("tab:blue", "tab:cyan", "tab:purple", "tab:orange", "tab:olive")


class WindowBand(NamedTuple):
    """One series window: its span (hours) and the metric's mean and 95 % band across replications (None
    where no replication measured it)."""

    start_hours: float
    end_hours: float
    mean: float | None
    low: float | None
    high: float | None


def window_bands(series: Series, metric: str, windows: list[tuple[float, float]]) -> list[WindowBand]:
    """Per window, the mean of ``metric`` over the replications that measured it there and its Student-t 95 %
    interval, clamped to the metric's bounds (the mean when one replication did); empty when no replication's
    series has the metric."""
    columns = [replication[metric] for replication in series if metric in replication]
    if not columns:
        return []
    info = metric_info(metric)
    bands = []
    for w, (start, end) in enumerate(windows):
        values = [float(v) for column in columns if w < len(column) and (v := column[w]) is not None]
        e = estimate(values, info.unit, info.low, info.high)
        if e.n == 0:
            bands.append(WindowBand(start, end, None, None, None))
        else:
            low = e.ci95_low if e.ci95_low is not None else e.mean
            high = e.ci95_high if e.ci95_high is not None else e.mean
            bands.append(WindowBand(start, end, e.mean, low, high))
    return bands


def time_axis(horizon_hours: float) -> tuple[float, str]:
    """Hours per axis unit and the unit's name: days from two days on, hours from two hours, else minutes."""
    if horizon_hours >= 48.0:
        return 24.0, "d"
    if horizon_hours >= 2.0:
        return 1.0, "h"
    return 1.0 / 60.0, "min"


def draw_band(axes: Any, bands: list[WindowBand], scale_hours: float, color: str, label: str) -> None:
    """The mean at each window's middle joined by a line, the 95 % band shaded (gaps where unmeasured)."""
    x = [(b.start_hours + b.end_hours) / 2 / scale_hours for b in bands]
    mean = [float("nan") if b.mean is None else b.mean for b in bands]
    low = [float("nan") if b.low is None else b.low for b in bands]
    high = [float("nan") if b.high is None else b.high for b in bands]
    axes.plot(x, mean, "o-", color=color, markersize=3, label=f"{label} (mean)")
    axes.fill_between(x, low, high, color=color, alpha=0.2, linewidth=0, label=f"{label} (95 % band)")


def services_with_latency(estimates: dict[str, Estimate]) -> list[str]:
    """The inference services whose estimates hold a latency quantile, in first-seen order."""
    services: list[str] = []
    for name in estimates:
        parts = name.split(".")
        if len(parts) == 3 and parts[0] == "inference" and parts[2] in dict(LATENCIES) and parts[1] not in services:
            services.append(parts[1])
    return services


def latency_png(estimates: dict[str, Estimate]) -> bytes | None:
    """Per service, grouped bars of its latency quantiles (and TTFT / TPOT p99 when token-based) with 95 %
    intervals on a log seconds axis; None without a service's latency."""
    services = services_with_latency(estimates)
    if not services:
        return None
    figure = new_figure()
    axes = figure.add_subplot()
    width = 0.8 / len(LATENCIES)
    replications = 0
    for k, ((suffix, label), color) in enumerate(zip(LATENCIES, COLORS)):
        x, means, below, above = [], [], [], []
        for s, service in enumerate(services):
            e = estimates.get(f"inference.{service}.{suffix}")
            if e is None or not e.mean > 0:
                continue
            replications = max(replications, e.n)
            x.append(s - 0.4 + width * (k + 0.5))
            means.append(e.mean)
            below.append(e.mean - e.ci95_low if e.ci95_low is not None else 0.0)
            above.append(e.ci95_high - e.mean if e.ci95_high is not None else 0.0)
        if x:
            bars = axes.bar(x, means, width=width, color=color, label=label)
            axes.bar_label(bars, labels=[f"{m:.3g} s" for m in means], fontsize="x-small", padding=2)
            axes.errorbar(x, means, yerr=[below, above], fmt="none", ecolor="black", capsize=2)
    axes.set_yscale("log")
    axes.set_xticks(range(len(services)), services)
    axes.set_xlabel("inference service")
    axes.set_ylabel(with_unit("latency of answered requests, log scale", "s"))
    axes.grid(True, axis="y", which="both", alpha=0.3)
    axes.set_title(f"Latency quantiles per service: mean with 95 % CI over {replications} replications",
                   fontsize="medium")
    legend_below(axes, columns=len(LATENCIES))
    return png_bytes(figure)


def slo_windows_png(scenario: Scenario, series: Series) -> bytes | None:
    """One panel per service: its success ratio per series window (mean and 95 % band across replications),
    the SLO target dashed, the windows whose mean misses it shaded; None without a service or its series."""
    windows = scenario.simulation.series_windows()
    panels = [(service, bands) for service in scenario.inference
              if (bands := window_bands(series, f"inference.{service.name}.success_ratio", windows))]
    if not panels:
        return None
    scale, unit = time_axis(scenario.simulation.horizon)
    figure = new_figure(height=2.6 * len(panels) + 1.0)
    grid = figure.subplots(len(panels), 1, squeeze=False, sharex=True)
    for (service, bands), row in zip(panels, grid):
        axes = row[0]
        target = service.slo.target
        for b in below_target(bands, target):
            axes.axvspan(b.start_hours / scale, b.end_hours / scale, color="tab:red", alpha=0.12, linewidth=0,
                         label="window below the SLO target")
        draw_band(axes, bands, scale, "tab:blue", "success ratio")
        axes.axhline(target, color="black", linestyle="--", linewidth=1, label=f"SLO target {target:g}")
        axes.set_ylabel(with_unit("success ratio", metric_info("inference.<svc>.success_ratio").unit))
        axes.set_title(f"service {service.name}: {len(below_target(bands, target))} of {len(bands)} windows "
                       f"below the target", fontsize="small")
        axes.grid(True, alpha=0.3)
    grid[-1][0].set_xlabel(with_unit("time from the start", unit))
    _legend_once([row[0] for row in grid])
    figure.suptitle(f"Success ratio per {_window_text(windows)} window: mean and 95 % band over {len(series)} "
                    "replications", fontsize="medium")
    return png_bytes(figure)


def below_target(bands: list[WindowBand], target: float) -> list[WindowBand]:
    """The windows whose mean success ratio is below the SLO target."""
    return [b for b in bands if b.mean is not None and b.mean < target]


def _window_text(windows: list[tuple[float, float]]) -> str:
    return readable_hours(windows[0][1] - windows[0][0])


def _legend_once(panels: list[Any]) -> None:
    """The legend under the last panel, each label of any panel once (every shaded window has the same one)."""
    unique: dict[str, Any] = {}
    for axes in panels:
        handles, labels = axes.get_legend_handles_labels()
        unique.update((label, handle) for label, handle in zip(labels, handles) if label not in unique)
    panels[-1].legend(list(unique.values()), list(unique), loc="upper center", bbox_to_anchor=(0.5, -0.3), ncols=2,
                fontsize="small", frameon=False)

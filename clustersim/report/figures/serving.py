"""Inference services: their latency quantiles with 95 % intervals, and their success ratio window by window
against the SLO target (the windows that miss it shaded)."""
from __future__ import annotations

from typing import Any

from clustersim.layout import metric_info
from clustersim.report.canvas import legend_below, new_figure, png_bytes, with_unit
from clustersim.scenario.schema import Scenario
from clustersim.report.figures.bands import Series, WindowBand, draw_band, time_axis, window_bands
from clustersim.stats import Estimate
from clustersim.units import readable_hours

# (metric suffix, bar label): the quantiles drawn per service, those a service does not report left out
LATENCIES = (("latency_p50_s", "latency p50"), ("latency_p90_s", "latency p90"), ("latency_p99_s", "latency p99"),
             ("ttft_p99_s", "TTFT p99"), ("tpot_p99_s", "TPOT p99"))
COLORS = ("tab:blue", "tab:cyan", "tab:purple", "tab:orange", "tab:olive")


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

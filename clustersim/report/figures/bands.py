"""A metric window by window across replications: each window's mean over the replications that measured it
there and its Student-t 95 % interval (``stats.estimate``, clamped to the metric's bounds) — the band every
per-window figure draws."""
from __future__ import annotations

from typing import Any, NamedTuple

from clustersim.layout import metric_info
from clustersim.stats import estimate

Series = list[dict[str, list[float | None]]]


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

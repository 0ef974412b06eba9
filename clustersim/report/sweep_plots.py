"""A sweep's figures: each metric against a one-axis sweep's parameter with its 95 % band, or a heat map
of each metric's mean over a two-axis sweep (matplotlib's Agg canvas, PNG bytes)."""
from __future__ import annotations

import io
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from clustersim.errors import UnitError
from clustersim.layout import metric_info
from clustersim.sweep_grid import SweepPlan
from clustersim.units import parse_bandwidth_gbps, parse_duration_hours, parse_rate_per_s, parse_size_gb

_QUANTITIES = ((parse_duration_hours, "h"), (parse_rate_per_s, "/s"), (parse_size_gb, "GB"),
               (parse_bandwidth_gbps, "GB/s"))


def numeric_axis(values: list[Any]) -> tuple[list[float], str] | None:
    """A parameter's values as numbers with their unit ("" for plain numbers), or None (categories)."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return [float(v) for v in values], ""
    for parse, unit in _QUANTITIES:
        try:
            return [parse(v) for v in values], unit
        except UnitError:
            continue
    return None


def _label(key: str, unit: str) -> str:
    return f"{key} ({unit})" if unit else key


def _metrics(table: pd.DataFrame) -> list[str]:
    return [c.removesuffix("_mean") for c in table.columns if c.endswith("_mean")]


def _figure(width: float = 6.4, height: float = 4.2) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Any) -> bytes:
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def plot_file_name(metric: str) -> str:
    return "sweep_" + metric.replace(".", "_").replace("/", "_") + ".png"


def line_png(plan: SweepPlan, table: pd.DataFrame, key: str, metric: str) -> bytes:
    """``metric`` against ``key``: the mean as a line, its 95 % interval as a band; units on both axes."""
    values = list(table[key])
    axis = numeric_axis(values)
    xs, unit = axis if axis is not None else (list(range(len(values))), "")
    order = np.argsort(xs, kind="stable")
    x = np.asarray(xs, dtype=float)[order]
    mean = table[f"{metric}_mean"].to_numpy(dtype=float)[order]
    low = table[f"{metric}_ci95_low"].to_numpy(dtype=float)[order]
    high = table[f"{metric}_ci95_high"].to_numpy(dtype=float)[order]
    figure = _figure()
    axes = figure.add_subplot()
    axes.fill_between(x, low, high, color="tab:blue", alpha=0.2, linewidth=0)
    axes.plot(x, mean, "o-", color="tab:blue", markersize=3)
    if axis is None:
        axes.set_xticks(x, [str(values[i]) for i in order], rotation=30, ha="right", fontsize="small")
    elif len(x) > 2 and x.min() > 0 and x.max() / x.min() >= 50:
        axes.set_xscale("log")
    axes.set_xlabel(_label(key, unit))
    axes.set_ylabel(_label(metric, metric_info(metric).unit))
    reps = int(table["replications"].min())
    axes.set_title(f"{plan.name}: {metric}\nmean and 95 % CI band, {reps} replications per point", fontsize="medium")
    axes.grid(True, alpha=0.3)
    return _png(figure)


def heatmap_png(plan: SweepPlan, table: pd.DataFrame, keys: tuple[str, str], metric: str) -> bytes:
    """``metric``'s mean over the grid of two parameters, one cell per point, the value written in each cell
    when the grid is small enough to read."""
    x_key, y_key = keys
    x_values = list(dict.fromkeys(table[x_key]))
    y_values = list(dict.fromkeys(table[y_key]))
    grid = np.full((len(y_values), len(x_values)), math.nan)
    for xv, yv, m in zip(table[x_key], table[y_key], table[f"{metric}_mean"]):
        grid[y_values.index(yv), x_values.index(xv)] = m
    figure = _figure(6.8, 4.8)
    axes = figure.add_subplot()
    image = axes.imshow(grid, origin="lower", aspect="auto", cmap="viridis")
    colorbar = figure.colorbar(image, ax=axes)
    colorbar.set_label(_label(metric, metric_info(metric).unit))
    x_axis, y_axis = numeric_axis(x_values), numeric_axis(y_values)
    axes.set_xticks(range(len(x_values)), [str(v) for v in x_values], rotation=30, ha="right", fontsize="small")
    axes.set_yticks(range(len(y_values)), [str(v) for v in y_values], fontsize="small")
    axes.set_xlabel(_label(x_key, x_axis[1] if x_axis else ""))
    axes.set_ylabel(_label(y_key, y_axis[1] if y_axis else ""))
    if grid.size <= 64:
        finite = grid[np.isfinite(grid)]
        middle = float(np.mean([finite.min(), finite.max()])) if finite.size else 0.0
        for (row, col), value in np.ndenumerate(grid):
            if math.isfinite(value):
                axes.text(col, row, f"{value:.4g}", ha="center", va="center", fontsize="x-small",
                          color="black" if value > middle else "white")
    axes.set_title(f"{plan.name}: {metric} (mean)", fontsize="medium")
    return _png(figure)


def sweep_plots(plan: SweepPlan, table: pd.DataFrame) -> Iterator[tuple[str, bytes]]:
    """(file name, PNG) per metric: a line with its band for one axis, a heat map for two; none for more
    (or for a metric no point measured)."""
    axes = plan.axes or tuple((k,) for k in plan.keys)
    if len(axes) not in (1, 2) or len(table) < 2:
        return
    for metric in _metrics(table):
        if not np.isfinite(table[f"{metric}_mean"].to_numpy(dtype=float)).any():
            continue
        if len(axes) == 1:
            yield plot_file_name(metric), line_png(plan, table, axes[0][0], metric)
        else:
            yield plot_file_name(metric), heatmap_png(plan, table, (axes[0][0], axes[1][0]), metric)

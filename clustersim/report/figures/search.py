"""A threshold search's steps: the target metric's mean at each value tried, its one-sided bounds, the target."""
from __future__ import annotations

from typing import Any

from clustersim.layout import metric_info
from clustersim.report.canvas import legend_below, new_figure, png_bytes, with_unit
from clustersim.report.sweep_plots import numeric_axis


def search_png(info: dict[str, Any]) -> bytes | None:
    """The search.json's steps in the order run, numbered, at their parameter value (None without steps or with
    values that are not numbers)."""
    steps = [s for s in info["steps"] if s["mean"] is not None]
    axis = numeric_axis([s["value"] for s in steps]) if steps else None
    if axis is None:
        return None
    xs, unit = axis
    target = info["target"]
    figure = new_figure()
    axes = figure.add_subplot()
    for i, (x, step) in enumerate(zip(xs, steps), start=1):
        low = step["lower"] if step["lower"] is not None else step["mean"]
        high = step["upper"] if step["upper"] is not None else step["mean"]
        axes.errorbar([x], [step["mean"]], yerr=[[step["mean"] - low], [high - step["mean"]]], fmt="o",
                      color="tab:blue", capsize=3, label="mean with one-sided bounds" if i == 1 else None)
        axes.annotate(str(i), (x, step["mean"]), textcoords="offset points", xytext=(5, 5), fontsize="small")
    axes.axhline(target["threshold"], color="tab:red", linestyle="--",
                 label=f"target: {target['metric']} {target['comparator']} {target['threshold']:g}")
    axes.set_xlabel(with_unit(info["key"], unit))
    axes.set_ylabel(with_unit(target["metric"], metric_info(target["metric"]).unit))
    axes.set_title(f"{info['scenario']}: search steps (numbered in the order run)", fontsize="medium")
    axes.grid(True, alpha=0.3)
    legend_below(axes, columns=2)
    return png_bytes(figure)

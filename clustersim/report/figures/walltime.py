"""Where each training job's wall time went (clustersim.job_phases): one stacked bar per job, the percentage of
its wall time in each phase — the ETTR is the first segment; the rest says what to fix first."""
from __future__ import annotations

import numpy as np

from clustersim.job_phases import PHASES
from clustersim.report.canvas import new_figure, png_bytes, with_unit

LABELLED_PERCENT = 3.0  # segments at least this wide carry their percentage
PHASE_COLOURS = dict(zip(PHASES, ("tab:green", "yellowgreen", "tab:blue", "tab:orange", "tab:red", "tab:purple",
                                  "tab:brown", "tab:cyan", "tab:gray")))


def phase_percents(phases: dict[str, dict[str, float]]) -> dict[str, list[float]]:
    """Per job with a wall time, each phase's share of it in percent (PHASES order; a negative share — work
    credited in the window but computed before the warmup — drawn as none)."""
    percents: dict[str, list[float]] = {}
    for job, hours in phases.items():
        wall = sum(hours.get(phase, 0.0) for phase in PHASES)
        if wall > 0:
            percents[job] = [max(0.0, 100.0 * hours.get(phase, 0.0) / wall) for phase in PHASES]
    return percents


def walltime_png(phases: dict[str, dict[str, float]], replication: int = 0) -> bytes | None:
    """A horizontal stacked bar per job of its phases' shares of its wall time (None without jobs)."""
    percents = phase_percents(phases)
    if not percents:
        return None
    jobs = list(percents)
    figure = new_figure(height=2.2 + 0.45 * len(jobs))
    axes = figure.subplots()
    left = np.zeros(len(jobs))
    for p, phase in enumerate(PHASES):
        widths = np.array([percents[job][p] for job in jobs])
        if not widths.any():
            continue
        bars = axes.barh(range(len(jobs)), widths, left=left, height=0.6, color=PHASE_COLOURS[phase], label=phase,
                         linewidth=0)
        for bar, width in zip(bars, widths):
            if width >= LABELLED_PERCENT:
                axes.text(bar.get_x() + width / 2, bar.get_y() + bar.get_height() / 2, f"{width:.0f} %",
                          ha="center", va="center", fontsize="x-small")
        left += widths
    axes.set_yticks(range(len(jobs)), [f"job {job}" for job in jobs])
    axes.set_ylim(len(jobs) - 0.5, -0.5)
    axes.set_xlim(0, 100)
    axes.set_xlabel(with_unit("share of the job's wall time", "%"))
    axes.set_title(f"Where each job's wall time went (replication {replication})", fontsize="medium")
    handles, labels = axes.get_legend_handles_labels()  # below the whole figure: clear of the axis label
    figure.legend(handles, labels, loc="outside lower center", ncols=3, fontsize="small", frameon=False)
    return png_bytes(figure)

"""Failure causes as a Pareto chart: which causes strike most (bars, descending, with their 95 % intervals) and
how much of the total the first few explain (the cumulative share) — for node failures and, when a training job
runs, for the job interruptions they cause."""
from __future__ import annotations

from typing import Any, NamedTuple

from clustersim.layout import metric_info
from clustersim.report.canvas import new_figure, png_bytes, with_unit
from clustersim.stats import Estimate

NODE_FAILURES = "nodes.failures."
ALL_JOBS = "training.*.interruptions."  # the prefix of interruption estimates summed over jobs


class ParetoBar(NamedTuple):
    """One cause's bar: its mean count with the 95 % bounds (the mean when unknown), and the share of the total
    that this cause and every larger one explain (0-1)."""

    cause: str
    mean: float
    low: float
    high: float
    cumulative_share: float


def pareto(estimates: dict[str, Estimate], prefix: str) -> list[ParetoBar]:
    """The causes named ``<prefix><cause>`` with a positive mean, largest first (ties by name), each with the
    cumulative share of the causes' total; empty when none has a positive mean."""
    found = [(name[len(prefix):], e) for name, e in estimates.items()
             if name.startswith(prefix) and "." not in name[len(prefix):] and e.mean > 0]
    found.sort(key=lambda item: (-item[1].mean, item[0]))
    total = sum(e.mean for _, e in found)
    bars, running = [], 0.0
    for cause, e in found:
        running += e.mean
        low = e.ci95_low if e.ci95_low is not None else e.mean
        high = e.ci95_high if e.ci95_high is not None else e.mean
        bars.append(ParetoBar(cause, e.mean, low, high, running / total))
    return bars


def training_jobs(estimates: dict[str, Estimate]) -> list[str]:
    """The training jobs with interruption counts by cause, in first-seen order."""
    jobs: list[str] = []
    for name in estimates:
        parts = name.split(".")
        if len(parts) == 4 and parts[0] == "training" and parts[2] == "interruptions" and parts[1] not in jobs:
            jobs.append(parts[1])
    return jobs


def interruptions_over_jobs(estimates: dict[str, Estimate]) -> dict[str, Estimate]:
    """Every job's interruptions by cause summed, named ``ALL_JOBS + cause``: means add; a 95 % bound is the sum
    of the jobs' bounds (exact when the jobs are interrupted together, conservative otherwise — the jobs share
    the cluster's failures, so their counts are not independent)."""
    summed: dict[str, Estimate] = {}
    for job in training_jobs(estimates):
        prefix = f"training.{job}.interruptions."
        for name, e in estimates.items():
            if not name.startswith(prefix):
                continue
            key = ALL_JOBS + name[len(prefix):]
            before = summed.get(key)
            low = e.ci95_low if e.ci95_low is not None else e.mean
            high = e.ci95_high if e.ci95_high is not None else e.mean
            if before is not None:
                assert before.ci95_low is not None and before.ci95_high is not None
                summed[key] = Estimate(before.mean + e.mean, before.ci95_low + low, before.ci95_high + high,
                                       min(before.n, e.n), e.unit)
            else:
                summed[key] = Estimate(e.mean, low, high, e.n, e.unit)
    return summed


def _interruption_bars(estimates: dict[str, Estimate]) -> tuple[str, list[ParetoBar]] | None:
    """The interruption panel's title and bars (per job when one job runs, summed when several), None without
    a training job."""
    jobs = training_jobs(estimates)
    if not jobs:
        return None
    if len(jobs) == 1:
        return f"interruptions of training job {jobs[0]} by cause", pareto(
            estimates, f"training.{jobs[0]}.interruptions.")
    return f"interruptions of the {len(jobs)} training jobs by cause (summed)", pareto(
        interruptions_over_jobs(estimates), ALL_JOBS)


def causes_png(estimates: dict[str, Estimate], replications: int) -> bytes | None:
    """Node failures by cause as a Pareto chart, and below it job interruptions by cause when a training job
    runs; None when no cause has a failure."""
    failures = pareto(estimates, NODE_FAILURES)
    if not failures:
        return None
    panels = [("node failures by cause", failures, metric_info("nodes.failures.<cause>").unit)]
    interruptions = _interruption_bars(estimates)
    if interruptions is not None and interruptions[1]:
        panels.append((interruptions[0], interruptions[1],
                       metric_info("training.<job>.interruptions.<cause>").unit))
    figure = new_figure(height=3.4 * len(panels) + 0.6)
    grid = figure.subplots(len(panels), 1, squeeze=False)
    for (title, bars, unit), row in zip(panels, grid):
        handles, labels = _draw_pareto(row[0], bars, title, unit)
    figure.legend(handles, labels, loc="outside lower center", ncols=3, fontsize="small", frameon=False)
    figure.suptitle(f"Failure causes, mean per replication with 95 % CI over {replications} replications",
                    fontsize="medium")
    return png_bytes(figure)


def _draw_pareto(axes: Any, bars: list[ParetoBar], title: str, unit: str) -> tuple[list[Any], list[str]]:
    """Bars with error bars on the left axis, the cumulative share as a line on a right-hand 0-100 % axis;
    returns the legend's handles and labels (one legend for the figure, below every panel)."""
    from matplotlib.ticker import PercentFormatter

    x = list(range(len(bars)))
    means = [b.mean for b in bars]
    axes.bar(x, means, color="tab:blue", alpha=0.8, label="mean per replication")
    axes.errorbar(x, means, yerr=[[b.mean - b.low for b in bars], [b.high - b.mean for b in bars]], fmt="none",
                  ecolor="black", capsize=3, label="95 % CI")
    axes.set_xticks(x, [b.cause for b in bars], rotation=20 if len(bars) > 4 else 0, ha="right" if len(bars) > 4
                    else "center", fontsize="small")
    axes.set_ylabel(with_unit("events per replication", unit))
    axes.set_xlabel("cause")
    axes.set_title(title, fontsize="small")
    axes.set_ylim(bottom=0)
    axes.grid(True, axis="y", alpha=0.3)
    share = axes.twinx()
    share.plot(x, [100 * b.cumulative_share for b in bars], "o-", color="tab:red", label="cumulative share")
    share.set_ylim(0, 105)
    share.yaxis.set_major_formatter(PercentFormatter(100))
    share.set_ylabel(with_unit("cumulative share", "%"))
    handles, labels = axes.get_legend_handles_labels()
    more_handles, more_labels = share.get_legend_handles_labels()
    return handles + more_handles, labels + more_labels


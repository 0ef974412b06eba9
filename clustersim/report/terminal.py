"""What a person sees in the terminal: a progress bar over replications and a metrics table."""
from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from clustersim.adaptive import PrecisionOutcome
from clustersim.checkpointing import CheckpointAdvice
from clustersim.report.checkpoint import checkpoint_verdict, plus_minus
from clustersim.run import RunResult
from clustersim.stats import Estimate
from clustersim.units import readable_hours


def format_value(x: float | None, unit: str) -> str:
    if x is None:
        return "—"
    if unit == "fraction":
        return f"{x:.6f}" if x > 0.999 else f"{x:.4f}"
    return f"{x:.4g}" if abs(x) < 1e5 else f"{x:,.0f}"


class Terminal:
    """Progress and results on stdout; silent when quiet, no bar when not a terminal."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.console = Console()

    @contextmanager
    def progress(self, name: str, total: int | None, unit: str = "replications") -> Iterator[Callable[..., None]]:
        """A bar counting ``unit``; the callback takes the count done and, when it becomes known, the total."""
        if self.quiet or not sys.stdout.isatty():
            yield lambda done, total=None: None
            return
        columns = [TextColumn(f"[bold]{name}[/]"), BarColumn(), MofNCompleteColumn(), TextColumn(unit),
                   TimeElapsedColumn()]
        with Progress(*columns, console=self.console, transient=True) as bar:
            task = bar.add_task(name, total=total)
            yield lambda done, total=None: bar.update(task, completed=done, total=total)

    def show_summary(self, result: RunResult, out: Path) -> None:
        if self.quiet:
            return
        table = Table(title=f"{result.scenario.name}: {len(result.rows)} replications, 95 % confidence intervals")
        for column, justify in (("metric", "left"), ("mean", "right"), ("95 % CI", "right"), ("unit", "left")):
            table.add_column(column, justify=justify)
        for name, e in result.estimates.items():
            table.add_row(name, format_value(e.mean, e.unit), _interval(e), e.unit)
        self.console.print(table)
        if result.precision is not None:
            self.console.print(precision_table(result.precision))
            self.console.print(precision_verdict(result.precision, len(result.rows), result.complete))
        if not result.complete:
            self.console.print("[yellow]interrupted: results cover the replications that finished[/]")
        rate = result.events / result.simulate_s if result.simulate_s > 0 else 0.0
        self.console.print(f"{result.events:,} events in {result.simulate_s:.2f} s of simulation ({rate:,.0f} events/s)")
        self.console.print(f"results in {out}/")

    def show_checkpoint_advice(self, advice: CheckpointAdvice, out: Path) -> None:
        """The sweep's table (one row per interval) and the written verdict."""
        if self.quiet:
            return
        table = Table(title=f"job {advice.job_name}, ± 95 % CI", box=box.SIMPLE_HEAD, pad_edge=False)
        for column in ("interval", "goodput", "ETTR", "interrupts", "lost h", ""):
            table.add_column(column, justify="left" if column in ("", "interval") else "right", no_wrap=True)
        for o in advice.outcomes:
            mark = "▸ " if o.interval_hours == advice.current_interval_hours else "  "
            note = "best" if o is advice.optimum.best else "in range" if advice.optimum.contains(o.interval_hours) else ""
            table.add_row(mark + readable_hours(o.interval_hours), plus_minus(o.goodput, "±"), plus_minus(o.ettr, "±"),
                          format_value(o.interruptions.mean, "count"),
                          format_value(o.lost_work_hours.mean, "h"), note)
        self.console.print(table)
        self.console.print(f"{advice.current.goodput.n} replications per interval, one seed; ▸ the current interval; "
                           "interrupts and lost h: means per replication", highlight=False)
        for line in checkpoint_verdict(advice):
            self.console.print(line, highlight=False)
        self.console.print(f"results in {out}/")


def _interval(e: Estimate) -> str:
    if e.ci95_low is None:
        return "—"
    return f"[{format_value(e.ci95_low, e.unit)}, {format_value(e.ci95_high, e.unit)}]"


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.3g} %"


def precision_verdict(outcome: PrecisionOutcome, replications: int, complete: bool) -> str:
    """One line: did the adaptive run reach its precision, and after how many replications."""
    target = f"±{_percent(outcome.target.precision)} of the mean"
    if outcome.converged:
        return f"[green]converged[/] after {replications} replications: every precision metric within {target}"
    if not complete:
        return f"[yellow]not converged[/]: interrupted after {replications} replications, target {target}"
    return f"[yellow]not converged[/] after {replications} replications (max_replications), target {target}"


def precision_table(outcome: PrecisionOutcome) -> Table:
    """Each precision metric's achieved 95 % half-width relative to its mean, against the target."""
    table = Table()
    for column, justify in (("precision metric", "left"), ("± of the mean", "right"), ("target", "right"),
                            ("", "left")):
        table.add_column(column, justify=justify)
    for name, width in outcome.achieved.items():
        met = width is not None and width <= outcome.target.precision
        table.add_row(name, "undefined" if width is None else _percent(width), _percent(outcome.target.precision),
                      "[green]met[/]" if met else "[yellow]not met[/]")
    return table

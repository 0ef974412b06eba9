"""What a person sees in the terminal: a progress bar over replications and a metrics table."""
from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from clustersim.report.results import RunResult
from clustersim.stats import Estimate


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
    def progress(self, name: str, total: int) -> Iterator[Callable[[int], None]]:
        if self.quiet or not sys.stdout.isatty():
            yield lambda done: None
            return
        columns = [TextColumn(f"[bold]{name}[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("replications"),
                   TimeElapsedColumn()]
        with Progress(*columns, console=self.console, transient=True) as bar:
            task = bar.add_task(name, total=total)
            yield lambda done: bar.update(task, completed=done)

    def show_summary(self, result: RunResult, out: Path) -> None:
        if self.quiet:
            return
        table = Table(title=f"{result.scenario.name}: {len(result.rows)} replications, 95 % confidence intervals")
        for column, justify in (("metric", "left"), ("mean", "right"), ("95 % CI", "right"), ("unit", "left")):
            table.add_column(column, justify=justify)
        for name, e in result.estimates.items():
            table.add_row(name, format_value(e.mean, e.unit), _interval(e), e.unit)
        self.console.print(table)
        if not result.complete:
            self.console.print("[yellow]interrupted: results cover the replications that finished[/]")
        rate = result.events / result.simulate_s if result.simulate_s > 0 else 0.0
        self.console.print(f"{result.events:,} events in {result.simulate_s:.2f} s of simulation ({rate:,.0f} events/s)")
        self.console.print(f"results in {out}/")


def _interval(e: Estimate) -> str:
    if e.ci95_low is None:
        return "—"
    return f"[{format_value(e.ci95_low, e.unit)}, {format_value(e.ci95_high, e.unit)}]"

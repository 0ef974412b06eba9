"""What a person sees in the terminal: a progress bar over replications and tables that read at 80 columns.

Metric names are never cut: rows are grouped under their dotted prefix (``training.pretrain`` then
indented ``interruptions``, ``hw_gpu``...), and at narrow widths the interval wraps and the unit
column goes before a name would. Numbers carry the digits their 95 % interval supports.
"""
from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, Task, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from rich.table import Table
from rich.text import Text

from clustersim.adaptive import PrecisionOutcome
from clustersim.checkpointing import CheckpointAdvice
from clustersim.layout import compiled_serving_gaps, metric_info, serving_technique
from clustersim.report.checkpoint import checkpoint_verdict
from clustersim.runner import RunResult
from clustersim.scenario.schema import Scenario
from clustersim.stats import Estimate
from clustersim.units import readable_hours

MAX_DECIMALS = 12  # beyond this a number is not of an ordinary magnitude: scientific notation
GAP = 2  # between two columns of a _table: a padding cell and the (blank) rule


# --- numbers ---------------------------------------------------------------------------------

def decimals_for(half_width: float) -> int:
    """Decimal places that keep two significant digits of a positive half-width (negative: tens, hundreds...)."""
    exponent = int(f"{half_width:.1e}".split("e")[1])  # after rounding to 2 digits: 0.0996 -> 1.0e-01
    return 1 - exponent


def default_decimals(x: float, unit: str = "") -> int:
    """Without an interval: whole numbers as such, else up to 4 significant digits (a fraction near 1: 2 of 1 − x)."""
    if not math.isfinite(x) or x == round(x):
        return 0
    decimals = max(0, 3 - math.floor(math.log10(abs(x))))
    if unit == "fraction" and 0 < 1 - x < 0.01:
        decimals = max(decimals, 1 - math.floor(math.log10(1 - x)))
    while decimals > 0 and round(x, decimals - 1) == round(x, decimals):  # no trailing zeros: 0.85, not 0.8500
        decimals -= 1
    return decimals


def format_number(x: float | None, decimals: int) -> str:
    """``x`` to ``decimals`` places (negative: rounded to tens, hundreds...), thousands separated, never ``-0``."""
    if x is None or math.isnan(x):
        return "—"
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if abs(x) >= 1e15 or (decimals > MAX_DECIMALS and 0 < abs(x) < 1e-6):
        return f"{x:.3g}"
    decimals = min(decimals, MAX_DECIMALS)
    if decimals < 0:
        x, decimals = round(x, decimals), 0
    text = f"{x:,.{decimals}f}"
    return text[1:] if text.startswith("-") and not text.strip("-0.,") else text


def estimate_decimals(e: Estimate) -> int:
    """The decimal place an estimate is shown to: its half-width's second significant digit, else the default."""
    if e.half_width is not None and math.isfinite(e.half_width) and e.half_width > 0:
        return decimals_for(e.half_width)
    return default_decimals(e.mean, e.unit)


def format_mean(e: Estimate) -> str:
    """The mean to the digits its 95 % interval supports."""
    return format_number(e.mean, estimate_decimals(e))


def format_interval(e: Estimate, low: float = -math.inf, high: float = math.inf) -> str:
    """``[low, high]`` to the mean's decimal place; a bound at the metric's limit (``low``/``high``) shown exactly."""
    if e.ci95_low is None or e.ci95_high is None:
        return "—"
    decimals = estimate_decimals(e)
    return f"[{_bound(e.ci95_low, low, decimals)}, {_bound(e.ci95_high, high, decimals)}]"


def _bound(x: float, limit: float, decimals: int) -> str:
    """One interval bound; clamped to an integer limit (0, 1) it reads as that limit, ``[0, 1.54]``."""
    if x == limit and limit == round(limit):
        return format_number(limit, 0)
    return format_number(x, decimals)


def format_plus_minus(e: Estimate) -> str:
    """``0.8612 ± 0.0021``: the mean and its 95 % half-width to the same place, or the mean alone."""
    if e.half_width is None or not e.half_width > 0:
        return format_mean(e)
    decimals = estimate_decimals(e)
    return f"{format_number(e.mean, decimals)} ± {format_number(e.half_width, decimals)}"


def _percent(fraction: float) -> str:
    """A relative width as a percentage to 3 significant digits: ``0.523 %``, ``10 %``, ``1,234 %``."""
    p = fraction * 100
    exact = p == 0 or not math.isfinite(p) or round(p, 9) == round(p)
    return f"{format_number(p, 0 if exact else max(0, 2 - math.floor(math.log10(abs(p)))))} %"


# --- metric names ----------------------------------------------------------------------------

def outline(names: list[str]) -> list[tuple[str, str | None]]:
    """``(label, name)`` rows: names under their dotted prefix, indented, with a ``(prefix, None)`` section line.

    ``nodes.failures`` then ``  gpu`` for ``nodes.failures.gpu``; ``training.pretrain`` (a section)
    then ``  ettr``; two-part names such as ``nodes.availability`` stay whole.
    """
    rows: list[tuple[str, str | None]] = []
    open_: list[str] = []  # the lines above that the next name may sit under
    for name in names:
        parent = name.rsplit(".", 1)[0] if name.count(".") >= 2 else ""
        while open_ and not (parent == open_[-1] or parent.startswith(open_[-1] + ".")):
            open_.pop()
        if parent and (not open_ or open_[-1] != parent):
            above = open_[-1] + "." if open_ else ""
            rows.append(("  " * len(open_) + parent[len(above):], None))
            open_.append(parent)
        rows.append(("  " * len(open_) + name[len(parent) + 1 if parent else 0:], name))
        open_.append(name)
    return rows


# --- tables ----------------------------------------------------------------------------------

def _longest_word(texts: list[str]) -> int:
    """The widest unbreakable piece of ``texts``: what a wrapping column needs at least."""
    return max((cell_len(word) for text in texts for word in text.split()), default=0)


def _width(texts: list[str]) -> int:
    return max((cell_len(text) for text in texts), default=0)


def _table(title: str) -> Table:
    """A table with a rule under its head and no side edges: columns GAP apart, nothing spent on edges."""
    return Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))


SUMMARY_COLUMNS = ("metric", "mean", "95 % CI", "unit")


def summary_cells(result: RunResult) -> list[tuple[str, ...]]:
    """The metrics table's rows as text: ``(section,)`` lines and ``(label, mean, interval, unit)`` rows."""
    cells: list[tuple[str, ...]] = []
    for label, name in outline(list(result.estimates)):
        if name is None:
            cells.append((label,))
            continue
        e, info = result.estimates[name], metric_info(name)
        cells.append((label, format_mean(e), format_interval(e, info.low, info.high), e.unit))
    return cells


def summary_layout(cells: list[tuple[str, ...]], width: int) -> tuple[bool, bool]:
    """``(with_unit, fold_names)``: the unit column goes when even a wrapped interval leaves no room for it,
    and names fold (never an ellipsis) only when they cannot fit beside the mean and a wrapped interval."""
    rows = [c for c in cells if len(c) > 1]
    names = _width([c[0] for c in cells] + [SUMMARY_COLUMNS[0]])
    means = _width([c[1] for c in rows] + [SUMMARY_COLUMNS[1]])
    interval = _longest_word([c[2] for c in rows] + [SUMMARY_COLUMNS[2]])
    units = _width([c[3] for c in rows] + [SUMMARY_COLUMNS[3]])
    return names + means + interval + units + 3 * GAP <= width, names + means + interval + 2 * GAP > width


def summary_table(result: RunResult, width: int) -> Table:
    """The metrics table for a console ``width`` wide: grouped names, mean, 95 % CI and (when it fits) unit."""
    cells = summary_cells(result)
    with_unit, fold_names = summary_layout(cells, width)
    table = _table(f"{result.scenario.name}: {len(result.rows)} replications, 95 % confidence intervals")
    table.add_column("metric", no_wrap=not fold_names, overflow="fold")
    table.add_column("mean", justify="right", no_wrap=True)
    table.add_column("95 % CI", justify="right")
    if with_unit:
        table.add_column("unit", no_wrap=True)
    for cell in cells:
        if len(cell) == 1:
            table.add_row(Text(cell[0], style="bold"))
        else:
            table.add_row(*cell[: 4 if with_unit else 3])
    return table


def precision_table(outcome: PrecisionOutcome, order: list[str] | None = None) -> Table:
    """Each precision metric's achieved 95 % half-width relative to its mean (in ``order``, grouped), met or not."""
    names = sorted(outcome.achieved, key=(order or list(outcome.achieved)).index)
    table = _table(f"precision, target ±{_percent(outcome.target.precision)} of the mean")
    table.add_column("precision metric", overflow="fold")
    table.add_column("± of the mean", justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)
    for label, name in outline(names):
        if name is None:
            table.add_row(Text(label, style="bold"))
            continue
        width = outcome.achieved[name]
        met = width is not None and width <= outcome.target.precision
        table.add_row(label, "undefined" if width is None else _percent(width),
                      "[green]met[/]" if met else "[yellow]not met[/]")
    return table


CHECKPOINT_COLUMNS = ("interval", "goodput", "ETTR", "interrupts", "lost h", "")


def checkpoint_table(advice: CheckpointAdvice, width: int = 80) -> Table:
    """The sweep: one row per interval, goodput and ETTR ± 95 % (the ± on a line of its own when narrow), means."""
    rows = []
    for o in advice.outcomes:
        mark = "▸ " if o.interval_hours == advice.current_interval_hours else "  "
        note = "best" if o is advice.optimum.best else "in range" if advice.optimum.contains(o.interval_hours) else ""
        rows.append([mark + readable_hours(o.interval_hours), format_plus_minus(o.goodput), format_plus_minus(o.ettr),
                     format_mean(o.interruptions), format_mean(o.lost_work_hours), note])
    natural = sum(_width([row[i] for row in rows] + [c]) for i, c in enumerate(CHECKPOINT_COLUMNS))
    if natural + GAP * (len(CHECKPOINT_COLUMNS) - 1) > width:
        rows = [[row[0], row[1].replace(" ± ", "\n± "), row[2].replace(" ± ", "\n± "), *row[3:]] for row in rows]
    table = _table(f"job {advice.job_name}, ± 95 % CI")
    for column in CHECKPOINT_COLUMNS:
        table.add_column(column, justify="left" if column in ("", "interval") else "right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    return table


# --- progress ----------------------------------------------------------------------------------

class EtaColumn(TimeRemainingColumn):
    """``ETA 0:01:05`` once the total is known; blank before (an unknown total has no ETA)."""

    def render(self, task: Task) -> Text:
        if task.total is None:
            return Text("")
        return Text.assemble("ETA ", super().render(task))


class RateColumn(TextColumn):
    """``12.5 points/s``: the recent rate of progress (blank until rich has measured one)."""

    def __init__(self, unit: str) -> None:
        super().__init__("")
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.3g} {self.unit}/s")


def progress_columns(name: str, unit: str, rate: bool = False) -> list:
    """The progress bar's columns: name, bar, done/total, unit, elapsed, the ETA (and, with ``rate``, units/s)."""
    columns = [TextColumn(f"[bold]{name}[/]"), BarColumn(), MofNCompleteColumn(), TextColumn(unit),
               TimeElapsedColumn(), EtaColumn()]
    return columns + [RateColumn(unit)] if rate else columns


class Terminal:
    """Progress and results on stdout; silent when quiet, no bar when not a terminal."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.console = Console()

    @contextmanager
    def progress(self, name: str, total: int | None, unit: str = "replications",
                 rate: bool = False) -> Iterator[Callable[..., None]]:
        """A bar counting ``unit`` (with ``rate``, also units per second); the callback takes the count done and,
        when it becomes known, the total."""
        if self.quiet or not sys.stdout.isatty():
            yield lambda done, total=None: None
            return
        with Progress(*progress_columns(name, unit, rate), console=self.console, transient=True) as bar:
            task = bar.add_task(name, total=total)
            started = False

            def advance(done: int, total: int | None = None) -> None:
                nonlocal started
                if not started and done > 0 and rate:  # work found done (a resumed sweep) is no speed sample
                    bar.reset(task, total=total, completed=done)
                else:
                    bar.update(task, completed=done, total=total)
                started = True

            yield advance

    @contextmanager
    def preparing(self, what: str) -> Iterator[None]:
        """A spinner saying what is being prepared and how long it may take (on a terminal, unless quiet)."""
        if self.quiet or not sys.stdout.isatty():
            yield
            return
        with self.console.status(what):
            yield

    def show_summary(self, result: RunResult, out: Path) -> None:
        """The metrics table, the precision reached (adaptive runs), timing and where the files are."""
        if self.quiet:
            return
        self.console.print(summary_table(result, self.console.width), "")
        if result.precision is not None:
            self.console.print(precision_table(result.precision, list(result.estimates)), "")
            self.console.print(precision_verdict(result.precision, len(result.rows), result.complete))
        if not result.complete:
            self.console.print("[yellow]interrupted: results cover the replications that finished[/]")
        rate = result.events / result.simulate_s if result.simulate_s > 0 else 0.0
        requests = sum(value for row in result.rows for name, value in row.items()
                       if name.startswith("inference.") and name.endswith(".requests"))
        served = f" and {requests:,.0f} requests" if requests else ""
        self.console.print(f"{result.events:,} events{served} in {result.simulate_s:.2f} s of simulation "
                           f"({rate:,.0f} events/s)")
        if result.scenario.inference:
            self.console.print(serving_line(result))
        self.console.print(f"results in {out}/")

    def show_checkpoint_advice(self, advice: CheckpointAdvice, out: Path) -> None:
        """The sweep's table (one row per interval) and the written verdict."""
        if self.quiet:
            return
        self.console.print(checkpoint_table(advice, self.console.width), "")
        self.console.print(f"{advice.current.goodput.n} replications per interval, one seed; ▸ the current interval; "
                           "interrupts and lost h: means per replication", highlight=False)
        for line in checkpoint_verdict(advice):
            self.console.print(line, highlight=False)
        self.console.print(f"results in {out}/")


def precision_verdict(outcome: PrecisionOutcome, replications: int, complete: bool) -> str:
    """One line: did the adaptive run reach its precision, and after how many replications."""
    target = f"±{_percent(outcome.target.precision)} of the mean"
    if outcome.converged:
        return f"[green]converged[/] after {replications} replications: every precision metric within {target}"
    if not complete:
        return f"[yellow]not converged[/]: interrupted after {replications} replications, target {target}"
    return f"[yellow]not converged[/] after {replications} replications (max_replications), target {target}"


def serving_line(result: RunResult) -> str:
    """How the services were simulated: every request, or hybrid with the share simulated request by request."""
    scenario = result.scenario
    technique = serving_technique(scenario)
    how = "chosen" if scenario.simulation.serving != "auto" else "auto"
    if technique == "requests":
        return f"serving: requests ({how}): every request simulated{_core(scenario)}"
    shares = [value for row in result.rows for name, value in row.items()
              if name.endswith(".request_level_share") and value is not None]
    share = sum(shares) / len(shares) if shares else 0.0
    return (f"serving: hybrid ({how}): requests simulated in windows around capacity changes, "
            f"{share:.3%} of the horizon; stationary samples of {scenario.simulation.serving_sample_requests:,} "
            f"requests between{_core(scenario)}")


def _core(scenario: Scenario) -> str:
    """On the fast engine: whether its compiled core served the requests, or what sent them to Python."""
    if scenario.simulation.engine != "fast":
        return ""
    gaps = compiled_serving_gaps(scenario)  # (escaped: "inference[chat]" is not a rich markup tag)
    return f", in Python (the compiled core lacks {escape(', '.join(gaps))})" if gaps else ", by the compiled core"

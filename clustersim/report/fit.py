"""What ``clustersim fit`` shows and writes: the fitted rates and repair laws as tables, the TOML snippet and JSON."""
from __future__ import annotations

import json
import math
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

from clustersim.errors import ClusterSimError
from clustersim.fit import FitReport, Interval, failure_modes_toml, fits_json


def _table(title: str) -> Table:
    """As the run's tables (report/terminal.py): a rule under the head, no side edges."""
    return Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))


def _number(x: float) -> str:
    """Three significant digits; an unbounded end as ∞; none as —."""
    if math.isnan(x):
        return "—"
    return "∞" if math.isinf(x) else f"{x:.3g}"


def _interval(i: Interval) -> str:
    return f"{_number(i.low)} .. {_number(i.high)}"


def rate_table(report: FitReport) -> Table:
    """Per mode: count, rate per node-hour and MTTF per node with their 95 % intervals."""
    table = _table(f"{report.source}: {report.incidents} incidents, {report.nodes} nodes, {report.span_hours:.6g} h")
    for column in ("mode", "count", "rate /node-h", "95 % CI", "MTTF h", "95 % CI", "struck"):
        table.add_column(column, justify="left" if column in ("mode", "struck") else "right",
                         no_wrap="CI" not in column)
    for m in report.modes:
        table.add_row(m.mode, str(m.count), _number(m.rate_per_node_hour.value), _interval(m.rate_per_node_hour),
                      _number(m.mttf_hours.value), _interval(m.mttf_hours), ", ".join(m.components))
    return table


def repair_table(report: FitReport) -> Table:
    """Per mode and law: the schema's parameters with their intervals, AIC and KS; the best by AIC marked *."""
    table = _table("repair times: maximum-likelihood fits (* least AIC)")
    for column in ("mode", "law", "parameters (95 % CI)", "AIC", "KS D", "KS p"):
        table.add_column(column, justify="right" if column in ("AIC", "KS D", "KS p") else "left",
                         no_wrap=column != "parameters (95 % CI)")
    for m in report.modes:
        for k, fit in enumerate(m.repairs):
            parameters = "; ".join(f"{key} {_number(i.value)}{' h' if key == 'mean' else ''} ({_interval(i)})"
                                   for key, i in fit.parameters.items())
            table.add_row(m.mode if k == 0 else "", ("* " if fit.best else "  ") + fit.law, parameters,
                          f"{fit.aic:.1f}", f"{fit.ks_statistic:.3f}", f"{fit.ks_p_value:.3g}")
    return table


def show_fit(report: FitReport, console: Console | None = None) -> None:
    """Both tables on the terminal."""
    console = console or Console()
    console.print(rate_table(report))
    console.print(repair_table(report))


def write_fit(path: Path, report: FitReport) -> Path:
    """The TOML snippet at ``path`` and the JSON of every fit beside it (same name, .json); returns the JSON's
    path."""
    json_path = path.with_suffix(".json")
    try:
        path.write_text(failure_modes_toml(report), encoding="utf-8")
        json_path.write_text(json.dumps(fits_json(report), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    except OSError as err:
        raise ClusterSimError(f"--out {path}: cannot write ({err.strerror or type(err).__name__})") from None
    return json_path

"""A fleet's incident log: a CSV of what failed, when, how and for how long — read and checked once.

Both the replay (``[replay]``: the log's incidents happen in a run) and the fit (``clustersim fit``: failure laws
estimated from the log) read a log through ``read_incidents``. Columns (a header row names them, in any order;
other columns are ignored): ``time`` (hours from the run's start, or a duration with a unit like ``3 d``),
``component`` (``node12``, ``rack/3``, ``storage/2``, a switch ``spine/1`` or a link ``leaf/0~spine/1``),
``mode`` (the failure mode's name) and ``repair_hours`` (how long it stayed down, a number of hours or a duration
with a unit). Blank lines and lines starting with ``#`` are skipped. A bad row is one line naming the file, the
row (its line number in the file) and the column.
"""
from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

from clustersim.errors import UnitError
from clustersim.input_files import DATA_LIMIT_BYTES, InputFileError, excerpt, read_input_text
from clustersim.units import parse_duration_hours

COLUMNS = ("time", "component", "mode", "repair_hours")
# cause names the job metrics already use (training.<job>.interruptions.<name>): a log's mode cannot take them
RESERVED_MODES = ("preemption", "network", "storage")
MODE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
COMPONENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_/~-]*$")
_NODE = re.compile(r"^node(\d+)$")
_NUMBERED = re.compile(r"^(rack|storage)/(\d+)$")
NAME_LIMIT = 64
MAX_HOURS = 1000 * 8760.0  # a thousand years: the scenario schema's longest horizon


class IncidentLogError(ValueError):
    """A log that cannot be used; the message is one line naming the file (and the row and column)."""


@dataclass(frozen=True, slots=True)
class Incident:
    """One row of a log: ``component`` down from ``time_hours`` for ``repair_hours``, a failure of ``mode``."""

    row: int             # its line number in the file (the header is line 1)
    time_hours: float
    component: str
    mode: str
    repair_hours: float


@dataclass(frozen=True, slots=True)
class Component:
    """What a component name aims at: ``kind`` node | rack | storage (``index`` set) or fabric (a switch or link
    of [network], by ``name``)."""

    kind: str
    index: int = -1
    name: str = ""


def parse_component(text: str) -> Component:
    """``node12`` -> node 12, ``rack/3`` -> rack 3, ``storage/2`` -> server 2; any other name -> a part of the
    fabric (a link when it holds ``~``), looked up in the scenario's [network]."""
    node = _NODE.match(text)
    if node:
        return Component("node", int(node.group(1)))
    numbered = _NUMBERED.match(text)
    if numbered:
        return Component(numbered.group(1), int(numbered.group(2)))
    return Component("link" if "~" in text else "switch", name=text)


def read_incidents(path: Path, name: str | None = None) -> list[Incident]:
    """The incidents of the log at ``path`` (``name``: how messages name it, default the path as given)."""
    shown = name if name is not None else str(path)
    try:
        text = read_input_text(path, DATA_LIMIT_BYTES)
    except InputFileError as err:
        raise IncidentLogError(f"{shown}: {err}") from None
    return parse_incidents(shown, text)


def parse_incidents(name: str, text: str) -> list[Incident]:
    """The incidents of a log's ``text``, in file order; IncidentLogError at the first bad row."""
    rows = csv.reader(io.StringIO(text))
    columns: dict[str, int] | None = None
    incidents: list[Incident] = []
    try:
        for fields in rows:
            if not fields or not "".join(fields).strip() or fields[0].lstrip().startswith("#"):
                continue
            if columns is None:
                columns = _header(name, rows.line_num, fields)
                continue
            incidents.append(_incident(name, rows.line_num, fields, columns))
    except csv.Error as err:
        raise IncidentLogError(f"{name} row {rows.line_num}: not CSV ({err})") from None
    if columns is None:
        raise IncidentLogError(f"{name}: no header row (it names the columns {', '.join(COLUMNS)})")
    if not incidents:
        raise IncidentLogError(f"{name}: holds no incidents (only the header)")
    return incidents


def _header(name: str, row: int, fields: list[str]) -> dict[str, int]:
    """The column of each of COLUMNS in the header row."""
    found = {field.strip(): i for i, field in reversed(list(enumerate(fields)))}
    for column in COLUMNS:
        if column not in found:
            raise IncidentLogError(f"{name} row {row}: missing column {column!r} (the header names the columns "
                                   f"{', '.join(COLUMNS)})")
    return {column: found[column] for column in COLUMNS}


def _incident(name: str, row: int, fields: list[str], columns: dict[str, int]) -> Incident:
    """One data row, each column checked."""
    def value(column: str) -> str:
        at = columns[column]
        text = fields[at].strip() if at < len(fields) else ""
        if not text:
            raise IncidentLogError(f"{name} row {row}, column {column}: missing value")
        return text

    time_hours = _hours(name, row, "time", value("time"), positive=False)
    component = value("component")
    if not COMPONENT.match(component) or len(component) > NAME_LIMIT:
        raise IncidentLogError(f"{name} row {row}, column component: {_shown(component)} is not a component name "
                               "(node12, rack/3, storage/2, a switch spine/1 or a link leaf/0~spine/1)")
    mode = value("mode")
    if not MODE_NAME.match(mode) or len(mode) > NAME_LIMIT:
        raise IncidentLogError(f"{name} row {row}, column mode: {_shown(mode)} is not a mode name (a letter, then "
                               "letters, digits, '_' or '-')")
    if mode in RESERVED_MODES:
        raise IncidentLogError(f"{name} row {row}, column mode: {mode!r} is reserved (the job metrics' own cause "
                               f"names: {', '.join(RESERVED_MODES)}); name the mode otherwise")
    repair_hours = _hours(name, row, "repair_hours", value("repair_hours"), positive=True)
    return Incident(row, time_hours, component, mode, repair_hours)


def _hours(name: str, row: int, column: str, text: str, positive: bool) -> float:
    """A number of hours, or a duration with a unit (``30 min``); non-negative, or positive."""
    try:
        hours = float(text)
    except ValueError:
        try:
            hours = parse_duration_hours(text)
        except UnitError:
            raise IncidentLogError(f"{name} row {row}, column {column}: {_shown(text)} is not a number of hours "
                                   "(or a duration like '3 d')") from None
    if not math.isfinite(hours):
        raise IncidentLogError(f"{name} row {row}, column {column}: {_shown(text)} is not finite")
    if hours > MAX_HOURS:
        raise IncidentLogError(f"{name} row {row}, column {column}: {_shown(text)} is more than a thousand years")
    if hours < 0 or (positive and hours == 0):
        what = "positive" if positive else "negative"
        raise IncidentLogError(f"{name} row {row}, column {column}: {_shown(text)} is "
                               f"{'not ' + what if positive else what}")
    return hours


def _shown(text: str) -> str:
    """A value quoted for a message when it looks typed; else a neutral phrase (never arbitrary contents)."""
    quoted = excerpt(text)
    return quoted if quoted is not None else "the value"

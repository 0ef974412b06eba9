"""The results contract: summary.json, replications.csv, scenario.resolved.toml, events.parquet, nodes.parquet.

pandas and pyarrow are imported only inside the functions that write (they are not in memory while
replications run). events.parquet is written as the run goes (``EventsFile``), by row groups.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np

from clustersim import __version__
from clustersim.adaptive import PrecisionOutcome
from clustersim.errors import ResultsError
from clustersim.model.records import (
    COLUMNS, EventCode, JobState, Kind, NodeState, RepairState, ReplicationRecords, SlotState,
)
from clustersim.layout import layout_of, serving_core, serving_technique
from clustersim.node_table import NODE_COLUMNS
from clustersim.report.files import write_synced
from clustersim.scenario.load import dump_scenario_toml
from clustersim.scenario.schema import Scenario
from clustersim.runner import RunResult
from clustersim.stats import Estimate, finite_or_none

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow.parquet as pq

SUMMARY = "summary.json"
REPLICATIONS = "replications.csv"
RESOLVED = "scenario.resolved.toml"
EVENTS = "events.parquet"
NODES = "nodes.parquet"
SERIES = "series.csv"


@dataclass(frozen=True)
class Invocation:
    """How a run was asked for: the command line as typed and the KEY=VALUE overrides it applied, in order."""

    command_line: tuple[str, ...]
    overrides: tuple[str, ...]


def estimate_dict(e: Estimate) -> dict:
    """An estimate as summary.json writes it: mean, 95 % bounds (null when undefined), unit, n."""
    return {"mean": finite_or_none(e.mean), "ci95_low": finite_or_none(e.ci95_low),
            "ci95_high": finite_or_none(e.ci95_high), "unit": e.unit, "n": e.n}


def summary_dict(result: RunResult, invocation: Invocation | None = None) -> dict:
    """summary.json as the contract fixes it (plus ``complete``, each metric's ``n`` and, adaptive, ``precision``;
    with ``invocation``, the command line and the overrides it applied).

    ``replications_requested`` is the fixed count asked for, null in an adaptive run (see ``precision``).
    """
    sim = result.scenario.simulation
    summary = {
        "scenario": result.scenario.name,
        "engine": sim.engine,
        "seed": sim.seed,
        "replications": len(result.rows),
        "replications_requested": sim.replications,
        "complete": result.complete,
        "horizon_hours": sim.horizon,
        "warmup_hours": sim.warmup,
        "clustersim_version": __version__,
        "timing": {"simulate_s": result.simulate_s, "events": result.events},
        "metrics": {name: estimate_dict(e) for name, e in result.estimates.items()},
    }
    if result.scenario.inference:
        summary["serving"] = serving_technique(result.scenario)  # how the services ran: requests | hybrid
        summary["serving_core"] = serving_core(result.scenario)   # where: python | compiled (the fast engine's)
    if result.precision is not None:
        summary["precision"] = precision_dict(result.precision)
    if invocation is not None:
        summary["command_line"] = list(invocation.command_line)
        summary["overrides"] = list(invocation.overrides)
    return summary


def precision_dict(outcome: PrecisionOutcome) -> dict:
    """summary.json's ``precision`` block: target, achieved relative half-widths (null if undefined), bounds."""
    return {
        "target": outcome.target.precision,
        "metrics": {name: finite_or_none(width) for name, width in outcome.achieved.items()},
        "converged": outcome.converged,
        "min_replications": outcome.target.min_replications,
        "max_replications": outcome.target.max_replications,
    }


def replications_frame(result: RunResult) -> pd.DataFrame:
    """replications.csv: one row per replication, its index first, then every metric."""
    import pandas as pd

    frame = pd.DataFrame(result.rows, columns=list(result.estimates))
    frame.insert(0, "replication", range(len(result.rows)))
    return frame


def replications_csv(result: RunResult) -> str:
    """replications.csv's text, byte for byte what ``replications_frame(result).to_csv(index=False)`` writes
    (shortest round-trip floats, a missing or NaN value empty) without importing pandas (~0.3 s of every run)."""
    names = list(result.estimates)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["replication", *names])
    for index, row in enumerate(result.rows):
        writer.writerow([index, *(_csv_number(row.get(name, math.nan)) for name in names)])
    return buffer.getvalue()


def series_csv(result: RunResult) -> str:
    """series.csv's text: one row per replication and window (its index and bounds first), then every metric
    measured in some window, in the metric plan's order (empty where a window cannot measure it)."""
    windows = result.scenario.simulation.series_windows()
    measured = {name for series in result.series for name in series}
    names = [name for name in result.estimates if name in measured]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["replication", "window_start_hours", "window_end_hours", *names])
    for index, series in enumerate(result.series):
        for w, (start, end) in enumerate(windows):
            values = [series.get(name, [None] * len(windows))[w] for name in names]
            writer.writerow([index, repr(start), repr(end),
                             *(_csv_number(math.nan if v is None else v) for v in values)])
    return buffer.getvalue()


def _csv_number(value: float) -> str:
    number = float(value)
    return "" if math.isnan(number) else repr(number)


def events_frame(scenario: Scenario, logs: list[ReplicationRecords]) -> pd.DataFrame:
    """The state-change log of every replication, with readable names for kinds and causes."""
    import pandas as pd

    if logs:
        stacked = np.vstack([r.log for r in logs])
        reps = np.concatenate([np.full(r.events, r.replication) for r in logs])
    else:
        stacked, reps = np.empty((0, len(COLUMNS))), np.empty(0)
    kinds = [k.name.lower() for k in Kind]
    causes = scenario.label_names
    domains = [instance.name for instance in layout_of(scenario).domains]
    kind_codes = stacked[:, 1].astype(np.int8)
    frame = pd.DataFrame({
        "replication": reps.astype(np.int32),
        "time_hours": stacked[:, 0],
        "kind": pd.Categorical.from_codes(kind_codes, categories=kinds),
        "component": stacked[:, 2].astype(np.int32),
        # states are small integers, except levels that are amounts (work hours, speeds, counts)
        "from_state": stacked[:, 3],
        "to_state": stacked[:, 4],
        "cause": pd.Categorical.from_codes(stacked[:, 5].astype(np.int16), categories=causes),
        "from_label": _state_labels(kind_codes, stacked[:, 3], to_side=False),
        "to_label": _state_labels(kind_codes, stacked[:, 4], to_side=True),
    })
    if domains:
        frame.attrs["domains"] = ",".join(domains)
    return frame


# The state enum of each row kind whose states are codes (the other kinds' states are amounts: no label).
_STATE_ENUMS: dict[Kind, type[IntEnum]] = {
    Kind.NODE: NodeState, Kind.REPAIR: RepairState, Kind.DOMAIN: RepairState, Kind.SLOT: SlotState,
    Kind.JOB: JobState,
    Kind.SWITCH: NodeState, Kind.LINK: NodeState, Kind.SERVER: NodeState, Kind.REPLICA: NodeState,
}
_LABELLED_ENUMS: tuple[type[IntEnum], ...] = (*_STATE_ENUMS.values(), EventCode)
_STATE_LABELS = sorted({m.name.lower() for enum in _LABELLED_ENUMS for m in enum}
                       | {"struck", "not_struck", "lemon", "not_lemon", "healthy", "unhealthy"})


def _state_labels(kinds: np.ndarray, states: np.ndarray, to_side: bool) -> pd.Categorical:
    """Readable names of the state codes (dictionary-encoded); missing where a state is an amount."""
    import pandas as pd

    codes = np.full(len(kinds), -1, dtype=np.int16)
    index = {label: i for i, label in enumerate(_STATE_LABELS)}
    tables: dict[int, dict[int, str]] = {
        int(kind): {int(m): m.name.lower() for m in enum} for kind, enum in _STATE_ENUMS.items()}
    tables[int(Kind.FAILURE)] = {0: "not_struck", 1: "struck"}
    tables[int(Kind.LEMON)] = {0: "not_lemon", 1: "lemon"}
    tables[int(Kind.HEALTH)] = {0: "healthy", 1: "unhealthy"}  # the balancer's view of a replica
    if to_side:
        tables[int(Kind.EVENT)] = {int(m): m.name.lower() for m in EventCode}
    for kind, names in tables.items():
        lookup = np.full(max(names) + 1, -1, dtype=np.int16)
        for code, name in names.items():
            lookup[code] = index[name]
        rows = np.flatnonzero(kinds == kind)
        values = states[rows]
        known = (values >= 0) & (values < len(lookup)) & (values == np.floor(values))
        codes[rows[known]] = lookup[values[known].astype(np.int64)]
    return pd.Categorical.from_codes(codes, categories=_STATE_LABELS)


ROW_GROUP_ROWS = 1 << 17  # rows per Parquet row group (~6 MB of log, ~10 MB as a frame while written)


class EventsFile:
    """events.parquet written while the run goes (a ``LogSink``): memory stays flat in replications and horizon.

    A replication's rows are spilled, as they come, to a raw file beside it (``.events-<k>.rows``);
    when the run keeps that replication its rows move into the Parquet file, ``ROW_GROUP_ROWS`` at a
    time, in replication order as the run keeps them. Rows of a replication the run never keeps (cut
    by a stop signal) are thrown away at ``close``. The file holds what ``events_frame`` gives.
    """

    def __init__(self, out_dir: Path, scenario: Scenario) -> None:
        self.path = Path(out_dir) / EVENTS
        self.scenario = scenario
        self._spills: dict[int, tuple[Path, IO[bytes]]] = {}
        self._writer: pq.ParquetWriter | None = None
        self._last: dict[int, float] = {}              # the latest time spilled, per replication
        self._late: dict[int, list[np.ndarray]] = {}   # rows earlier than that (the services', made after the
                                                       # cluster's: few), merged in when the replication is kept

    def rows(self, replication: int, rows: np.ndarray) -> None:
        """The next rows of replication ``replication``: appended to its spill file (or, earlier than rows already
        spilled, held to be merged into place)."""
        if len(rows) and rows[0, 0] < self._last.get(replication, -np.inf):
            self._late.setdefault(replication, []).append(np.array(rows))
            return
        if len(rows):
            self._last[replication] = float(rows[-1, 0])
        try:
            if replication not in self._spills:
                spill = self.path.with_name(f".events-{replication}.rows")
                self._spills[replication] = (spill, open(spill, "wb"))
            self._spills[replication][1].write(np.ascontiguousarray(rows, dtype=np.float64).data)
        except OSError as err:
            raise ResultsError(f"{self.path.parent}: cannot write the event log: {err.strerror or err}") from None

    def keep(self, replication: int) -> None:
        """The run keeps replication ``replication``: its spilled rows go into the Parquet file."""
        if replication not in self._spills:
            return  # no row at all
        spill, handle = self._spills.pop(replication)
        handle.close()
        late = self._late.pop(replication, [])
        held = np.concatenate(late) if late else np.empty((0, len(COLUMNS)))
        held = held[np.argsort(held[:, 0], kind="stable")]
        with open(spill, "rb") as source:
            while True:
                piece = np.fromfile(source, dtype=np.float64, count=ROW_GROUP_ROWS * len(COLUMNS))
                if not piece.size:
                    break
                piece = piece.reshape(-1, len(COLUMNS))
                # the held rows up to this piece's last instant go in after the piece's rows of their instant
                upto = int(np.searchsorted(held[:, 0], piece[-1, 0], side="right"))
                if upto:
                    merged = np.concatenate((piece, held[:upto]))
                    piece, held = merged[np.argsort(merged[:, 0], kind="stable")], held[upto:]
                self._write(replication, piece)
        if len(held):
            self._write(replication, held)
        spill.unlink()

    def write_log(self, records: ReplicationRecords) -> None:
        """A log kept whole in memory (``keep_logs=True``), written by row groups."""
        for first in range(0, records.events, ROW_GROUP_ROWS):
            self._write(records.replication, records.log[first:first + ROW_GROUP_ROWS])

    def _write(self, replication: int, rows: np.ndarray) -> None:
        import pyarrow.parquet as pq

        table = _events_table(self.scenario, [ReplicationRecords(replication, rows, 0.0)])
        try:
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.path, table.schema)
            self._writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
        except OSError as err:
            raise ResultsError(f"{self.path}: cannot write: {err}") from None

    def close(self) -> Path:
        """Finish the file (a table with no rows when no replication had any), fsynced; drop untaken spills."""
        for spill, handle in self._spills.values():
            handle.close()
            spill.unlink(missing_ok=True)
        self._spills.clear()
        self._late.clear()
        if self._writer is None:
            import pyarrow.parquet as pq

            table = _events_table(self.scenario, [])
            self._writer = pq.ParquetWriter(self.path, table.schema)
            self._writer.write_table(table)
        self._writer.close()
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return self.path


def _events_table(scenario: Scenario, logs: list[ReplicationRecords]):
    """``events_frame`` as an Arrow table, as ``DataFrame.to_parquet`` makes it (its attrs in the metadata)."""
    import pyarrow as pa

    frame = events_frame(scenario, logs)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if frame.attrs:
        table = table.replace_schema_metadata({**table.schema.metadata, "PANDAS_ATTRS": json.dumps(frame.attrs)})
    return table


def nodes_frame(result: RunResult) -> pd.DataFrame:
    """nodes.parquet: one row per node of each replication kept (its index first), the columns of ``NODE_COLUMNS``."""
    import pandas as pd

    tables = result.nodes
    columns: dict[str, np.ndarray] = {
        "replication": np.concatenate([np.full(len(t["node"]), k, dtype=np.int32) for k, t in enumerate(tables)])
        if tables else np.empty(0, dtype=np.int32)}
    for name in NODE_COLUMNS:
        columns[name] = np.concatenate([t[name] for t in tables]) if tables else np.empty(0)
    frame = pd.DataFrame(columns)
    frame["role"] = pd.Categorical(frame["role"], categories=["work", "hot", "cold"])
    return frame


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    """``frame`` as a Parquet file's bytes (written whole by ``write_synced``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink)
    return sink.getvalue().to_pybytes()


def write_results(out_dir: Path, result: RunResult, with_events: bool,
                  invocation: Invocation | None = None, events: EventsFile | None = None,
                  with_nodes: bool = False) -> list[Path]:
    """Write every results file, fsynced, into ``out_dir`` (a staging directory: see ``report.files``);
    returns the paths written.

    ``with_events``: also events.parquet, finished from ``events`` (the run's streamed log) or, without
    it, written from the logs the result kept in memory. ``with_nodes``: also nodes.parquet, from the node
    tables the result kept."""
    out_dir = Path(out_dir)
    written = [out_dir / RESOLVED, out_dir / REPLICATIONS]
    write_synced(written[0], dump_scenario_toml(result.scenario))
    write_synced(written[1], replications_csv(result))
    if result.scenario.simulation.series_window is not None:
        written.append(out_dir / SERIES)
        write_synced(written[-1], series_csv(result))
    if with_nodes:
        written.append(out_dir / NODES)
        write_synced(written[-1], _parquet_bytes(nodes_frame(result)))
    if with_events:
        if events is None:
            events = EventsFile(out_dir, result.scenario)
            for records in result.logs:
                events.write_log(records)
        written.append(events.close())
    written.append(out_dir / SUMMARY)
    write_synced(written[-1], json.dumps(summary_dict(result, invocation), indent=2) + "\n")
    return written

"""Running a sweep into a resumable store: one atomic file per finished point, then the tidy table.

The store is the output directory itself: ``sweep-store.json`` names the scenario and the sweep (a
fingerprint of every point's resolved scenario, in order), ``points/<index>.json`` holds a finished
point's per-replication metric rows with a checksum. Each point file is written (fsynced, renamed
into place) by the parent process as its point comes back, so a SIGKILL loses at most the points in
flight and never leaves a half-written file. Rerunning the same sweep into the same directory reuses
every valid point file and computes only the rest; a store of another scenario or sweep is refused;
a point file that does not read back (bad JSON, wrong checksum, another point's) is named and only its
point computed again. The final ``sweep.csv``, ``sweep.parquet`` and ``sweep.json`` follow from the
point files alone, so they are the same bit for bit whichever executor, worker count or completion
order produced them.
"""
from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from clustersim import __version__
from clustersim.errors import ResultsError
from clustersim.executors import Executor, PointOutcome, chunk_size, chunked, run_points
from clustersim.report.files import DirectoryLock, fsync_directory, remove_stale_temporaries, write_atomic
from clustersim.sweep_grid import SweepPlan, SweepPoint, value_text

MANIFEST = "sweep-store.json"
POINTS = "points"
TABLE_CSV, TABLE_PARQUET, SWEEP_JSON = "sweep.csv", "sweep.parquet", "sweep.json"
STORE_FORMAT = 1

Progress = Callable[[int, int], None]   # (points done, points in all)


@dataclass
class SweepResult:
    """What a sweep produced: the table (one row per point) and how much of it this run computed."""

    plan: SweepPlan
    table: pd.DataFrame
    points_computed: int
    points_reused: int
    corrupt: list[str]
    simulate_s: float        # simulating time of every point in the table
    simulate_s_computed: float  # of the points computed by this run
    wall_s: float
    out: Path
    outcomes: dict[int, PointOutcome] = field(default_factory=dict)


# --- the store --------------------------------------------------------------------------------

def _checksum(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode("utf-8")).hexdigest()


def point_file(out: Path, index: int) -> Path:
    return out / POINTS / f"{index:07d}.json"


def encode_point(point: SweepPoint, outcome: PointOutcome) -> str:
    """A point file's text: the point, its fingerprint, its rows and a checksum over them."""
    body = {"point": point.index, "fingerprint": point.fingerprint, "values": point.values,
            "rows": outcome.rows, "estimates": outcome.estimates, "simulate_s": outcome.simulate_s,
            "events": outcome.events}
    return json.dumps({**body, "checksum": _checksum(body)}) + "\n"


def decode_point(text: str, point: SweepPoint) -> PointOutcome:
    """A point file read back, or ValueError saying why it cannot be this point's."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"not valid JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(data, dict) or "checksum" not in data:
        raise ValueError("not a point file")
    checksum = data.pop("checksum")
    if checksum != _checksum(data):
        raise ValueError("its checksum does not match its contents")
    if data.get("point") != point.index or data.get("fingerprint") != point.fingerprint:
        raise ValueError(f"it holds point {data.get('point')!r} of another scenario")
    rows = data["rows"]
    return PointOutcome(point.index, point.fingerprint, rows, float(data["simulate_s"]), int(data["events"]),
                        data["estimates"])


class SweepStore:
    """The output directory of one sweep, locked while a run uses it."""

    def __init__(self, out: Path, plan: SweepPlan, overwrite: bool = False) -> None:
        self.out = Path(out)
        self.plan = plan
        self.overwrite = overwrite
        self._lock = DirectoryLock(self.out)

    def manifest(self) -> dict[str, Any]:
        return {"format": STORE_FORMAT, "scenario": self.plan.name, "sweep_fingerprint": self.plan.fingerprint,
                "keys": list(self.plan.keys), "points_total": len(self.plan.points),
                "clustersim_version": __version__}

    def __enter__(self) -> SweepStore:
        self._lock.__enter__()
        try:
            self._open()
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self._lock.__exit__(*exc)

    def _refuse(self, reason: str) -> ResultsError:
        return ResultsError(f"--out {self.out}: {reason}")

    def _open(self) -> None:
        """Check the directory is this sweep's store (or new, or --overwrite), then make it ready."""
        out = self.out
        if out.exists() and not out.is_dir():
            raise self._refuse("is a file, not a directory")
        held = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
        if held and self.overwrite:
            if MANIFEST not in held:
                raise self._refuse(f"holds files that are not a clustersim sweep ({' '.join(held[:3])}); "
                                   "--overwrite replaces only a sweep's directory")
            shutil.rmtree(out)
            held = []
        if held:
            if MANIFEST not in held:
                raise self._refuse(f"holds files that are not a clustersim sweep ({' '.join(held[:3])}); "
                                   "choose another directory")
            try:
                found = json.loads((out / MANIFEST).read_text())
            except (OSError, json.JSONDecodeError) as err:
                raise self._refuse(f"{MANIFEST} cannot be read ({err}); choose another directory") from None
            if found.get("sweep_fingerprint") != self.plan.fingerprint:
                raise self._refuse(
                    f"holds another sweep (scenario {found.get('scenario')!r}, {found.get('points_total')} points, "
                    f"keys {', '.join(found.get('keys', []))}): its scenario or its points differ from this one's; "
                    "choose another directory, or pass --overwrite to replace it")
        (out / POINTS).mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(out)
        remove_stale_temporaries(out / POINTS)
        if MANIFEST not in held:
            write_atomic(out / MANIFEST, json.dumps(self.manifest(), indent=2) + "\n")

    def finished(self) -> tuple[dict[int, PointOutcome], list[str]]:
        """The points whose files read back, and a line for each file that is there but cannot be used."""
        done: dict[int, PointOutcome] = {}
        corrupt = []
        for point in self.plan.points:
            path = point_file(self.out, point.index)
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                continue
            except (OSError, UnicodeDecodeError) as err:
                corrupt.append(f"{path}: cannot be read ({err}); point {point.index} is computed again")
                continue
            try:
                done[point.index] = decode_point(text, point)
            except (ValueError, KeyError, TypeError) as err:
                corrupt.append(f"{path}: {err}; point {point.index} is computed again")
        return done, corrupt

    def save(self, point: SweepPoint, outcome: PointOutcome) -> None:
        """Write a point's file (whole or not at all); ``sync`` makes a batch of them durable."""
        write_atomic(point_file(self.out, point.index), encode_point(point, outcome), sync_dir=False)

    def sync(self) -> None:
        fsync_directory(self.out / POINTS)


# --- the sweep --------------------------------------------------------------------------------

def run_sweep(plan: SweepPlan, out: Path, executor: Executor, overwrite: bool = False,
              progress: Progress | None = None, on_corrupt: Callable[[str], None] | None = None,
              uncut: Callable[[], Any] | None = None, plots: bool = True) -> SweepResult:
    """Compute every point not already in the store at ``out`` on ``executor``, saving each as it comes, then
    write the table. ``uncut()`` (a context manager) guards each point file's write from a stop signal."""
    import contextlib

    started = time.perf_counter()
    with SweepStore(out, plan, overwrite) as store:
        done, corrupt = store.finished()
        for line in corrupt:
            if on_corrupt:
                on_corrupt(line)
        reused = len(done)
        total = len(plan.points)
        by_index = {p.index: p for p in plan.points}
        todo = [p for p in plan.points if p.index not in done]
        if progress:
            progress(len(done), total)
        computed_s = 0.0
        if todo:
            tasks = [[(p.index, p.fingerprint, p.scenario) for p in chunk]
                     for chunk in chunked(todo, chunk_size(len(todo), executor.workers))]
            with executor:
                for outcomes in executor.results(run_points, tasks):
                    with uncut() if uncut else contextlib.nullcontext():
                        for outcome in outcomes:
                            store.save(by_index[outcome.index], outcome)
                            done[outcome.index] = outcome
                            computed_s += outcome.simulate_s
                        store.sync()
                    if progress:
                        progress(len(done), total)
        table = sweep_table(plan, done)
        result = SweepResult(plan, table, total - reused, reused, corrupt,
                             sum(o.simulate_s for o in done.values()), computed_s, 0.0, Path(out), done)
        result.wall_s = time.perf_counter() - started
        with uncut() if uncut else contextlib.nullcontext():  # a stop signal waits for the tables to be whole
            write_sweep_files(Path(out), result, executor, plots)
    return result


def _column_values(values: list[Any]) -> list[Any]:
    """A parameter column: numbers and strings as they are; tables and arrays as TOML text; mixed kinds as text."""
    scalar = [v if isinstance(v, (bool, int, float, str)) else value_text(v) for v in values]
    kinds = {type(v) for v in scalar}
    if kinds <= {int, float} and float in kinds:
        return [float(v) for v in scalar]
    if len(kinds) > 1:
        return [v if isinstance(v, str) else value_text(v) for v in scalar]
    return scalar


def sweep_table(plan: SweepPlan, done: dict[int, PointOutcome]) -> pd.DataFrame:
    """One row per point: ``point``, each varied key, ``replications``, then each metric's mean and 95 % bounds
    (the estimates each point's run made of its rows, clamped to its metric plan's bounds, as in summary.json)."""
    estimates = [done[p.index].estimates for p in plan.points]
    metrics: list[str] = []
    for found in estimates:
        metrics += [m for m in found if m not in metrics]
    data: dict[str, list[Any]] = {"point": [p.index for p in plan.points]}
    for key in plan.keys:
        data[key] = _column_values([p.values[key] for p in plan.points])
    data["replications"] = [len(done[p.index].rows) for p in plan.points]
    for metric in metrics:
        got = [found.get(metric, [None, None, None]) for found in estimates]
        for position, suffix in enumerate(("mean", "ci95_low", "ci95_high")):
            data[f"{metric}_{suffix}"] = [_or_nan(e[position]) for e in got]
    return pd.DataFrame(data)


def _or_nan(x: float | None) -> float:
    return math.nan if x is None else x


def sweep_summary(result: SweepResult, executor: Executor) -> dict[str, Any]:
    """sweep.json: the counts of the contract, what was varied, the timing of this run and its executor."""
    return {
        "scenario": result.plan.name,
        "keys": list(result.plan.keys),
        "points_total": len(result.plan.points),
        "points_computed": result.points_computed,
        "points_reused": result.points_reused,
        "corrupt_point_files": result.corrupt,
        "sweep_fingerprint": result.plan.fingerprint,
        "executor": type(executor).__name__.removesuffix("Executor").lower(),
        "workers": executor.workers,
        "timing": {"wall_s": result.wall_s, "simulate_s": result.simulate_s,
                   "simulate_s_computed": result.simulate_s_computed},
        "clustersim_version": __version__,
    }


def write_sweep_files(out: Path, result: SweepResult, executor: Executor, plots: bool) -> None:
    """sweep.csv, sweep.parquet, sweep.json and (unless ``plots`` is False) the report: plots/*.png, report.md and
    report.html, each file atomically."""
    import io

    table = result.table
    write_atomic(out / TABLE_CSV, table.to_csv(index=False))
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    write_atomic(out / TABLE_PARQUET, buffer.getvalue())
    if plots:  # the report carries every plot: plots/*.png, report.md, report.html
        from clustersim.report.document import write_report
        from clustersim.report.sweep_report import sweep_report

        write_report(out, sweep_report(result.plan, table, result.outcomes), write=write_atomic)
    write_atomic(out / SWEEP_JSON, json.dumps(sweep_summary(result, executor), indent=2, allow_nan=False) + "\n")


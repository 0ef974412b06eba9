"""A sweep's points: the ``[sweep]`` table and ``--vary`` -> axes -> the Cartesian product, each point validated.

``[sweep]`` maps dotted scenario keys (quoted in TOML) to a list of values or a range
``{start, stop, num, scale = "linear" | "log"}``; each ``[[sweep.zip]]`` table is one axis whose keys
advance together (equal lengths). ``--vary KEY=V1,V2,...`` adds an axis (or replaces the file's axis of
that key). Points are the product of the axes in order, the last varying fastest; point ``i`` is the
base scenario with its values put in place exactly as ``--set`` would, then validated like any
scenario, so a bad value is refused before anything runs, naming the point and the key.
"""
from __future__ import annotations

import hashlib
import itertools
import math
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clustersim.errors import ScenarioError
from clustersim.scenario.load import apply_overrides, load_scenario, scenario_from_dict, set_values
from clustersim.scenario.schema import Scenario

RANGE_KEYS = ("start", "stop", "num", "scale")
MAX_POINTS = 1_000_000
SHOWN_BAD_POINTS = 5   # points whose problems are listed; the rest are counted
_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S.*?)\s*$")


@dataclass(frozen=True)
class Axis:
    """One dimension of the grid: its keys (one, or a zip group's) and, per step, one value per key."""

    keys: tuple[str, ...]
    steps: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True)
class SweepPoint:
    """One point: its index, its values by dotted key, its validated scenario and that scenario's fingerprint."""

    index: int
    values: dict[str, Any]
    scenario: Scenario
    fingerprint: str


@dataclass(frozen=True)
class SweepPlan:
    """Every point of a sweep, the keys varied (table columns, in order) and the sweep's own fingerprint."""

    name: str
    keys: tuple[str, ...]
    points: tuple[SweepPoint, ...]
    fingerprint: str
    axes: tuple[tuple[str, ...], ...] = ()  # the keys of each axis (a zip group's together), in grid order


def value_text(value: Any) -> str:
    """A point's value as TOML text (what ``--set`` would take)."""
    import tomli_w

    return tomli_w.dumps({"v": value}).strip()[len("v = "):]


def _range_values(key: str, spec: dict[str, Any]) -> tuple[list[Any], list[str]]:
    """The values of a ``{start, stop, num, scale}`` range; numbers stay numbers (integers when both ends are),
    quantities (``"10 min"``) keep their unit; or the problems with it."""
    where = f"sweep.{_quoted(key)}"
    unknown = [k for k in spec if k not in RANGE_KEYS]
    if unknown:
        return [], [f"{where}.{unknown[0]}: unknown key in a range (valid: {', '.join(RANGE_KEYS)})"]
    missing = [k for k in ("start", "stop", "num") if k not in spec]
    if missing:
        return [], [f"{where}: a range needs {', '.join(missing)} (keys: start, stop, num, scale)"]
    num, scale = spec["num"], spec.get("scale", "linear")
    problems = []
    if isinstance(num, bool) or not isinstance(num, int) or not 1 <= num <= MAX_POINTS:
        problems.append(f"{where}.num: must be an integer from 1 to {MAX_POINTS:,}, got {num!r}")
    if scale not in ("linear", "log"):
        problems.append(f'{where}.scale: must be "linear" or "log", got {scale!r}')
    ends = [_number_and_unit(spec[k]) for k in ("start", "stop")]
    for k, end in zip(("start", "stop"), ends):
        if end is None:
            problems.append(f'{where}.{k}: must be a number or a quantity like "10 min", got {spec[k]!r}')
    if problems:
        return [], problems
    (start, unit), (stop, stop_unit) = ends  # type: ignore[misc]
    if unit != stop_unit:
        return [], [f"{where}: start and stop must have the same unit, got {unit or 'none'!r} and "
                    f"{stop_unit or 'none'!r}"]
    if scale == "log" and not (start > 0 and stop > 0):
        return [], [f"{where}: a log range needs a positive start and stop, got {spec['start']!r} and {spec['stop']!r}"]
    grid = np.geomspace(start, stop, num) if scale == "log" else np.linspace(start, stop, num)
    integral = unit == "" and all(isinstance(spec[k], int) and not isinstance(spec[k], bool) for k in ("start", "stop"))
    if integral:
        values: list[Any] = [int(round(float(x))) for x in grid]
        if len(set(values)) < len(values):
            shown = ", ".join(map(str, values[:8])) + (", ..." if len(values) > 8 else "")
            return [], [f"{where}: {num} integer steps from {spec['start']} to {spec['stop']} repeat a value "
                        f"({shown}); take fewer steps or a wider range"]
        return values, []
    numbers = [float(f"{x:.12g}") for x in grid]  # 20.000000000000004 -> 20.0: the digits a person would write
    numbers[0], numbers[-1] = float(start), float(stop)  # the ends exactly as written
    return ([repr(x) + f" {unit}" for x in numbers] if unit else numbers), []


def _number_and_unit(value: Any) -> tuple[float, str] | None:
    """A range end as (number, unit text): 4 -> (4.0, ""), "10 min" -> (10.0, "min"); None if neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return (float(value), "") if math.isfinite(value) else None
    if isinstance(value, str):
        match = _QUANTITY.match(value)
        if match:
            return float(match.group(1)), match.group(2)
    return None


def _quoted(key: str) -> str:
    """A dotted key as TOML writes it inside the [sweep] table: ``"repair.crews"``."""
    return f'"{key}"' if "." in key or "[" in key else key


def _axis_values(key: str, value: Any) -> tuple[list[Any], list[str]]:
    """One key's values: a non-empty list as it is, or a range expanded."""
    if isinstance(value, list):
        if not value:
            return [], [f"sweep.{_quoted(key)}: an empty list gives no point; give at least one value"]
        return value, []
    if isinstance(value, dict):
        return _range_values(key, value)
    return [], [f"sweep.{_quoted(key)}: must be a list of values or a range {{start, stop, num, scale}}, "
                f"got {value_text(value)}"]


def axes_of_table(table: dict[str, Any]) -> tuple[list[Axis], list[str]]:
    """The axes a ``[sweep]`` table declares (keys in file order, then each zip group), or its problems."""
    axes, problems = [], []
    for key, value in table.items():
        if key == "zip":
            continue
        values, found = _axis_values(key, value)
        problems += found
        if values:
            axes.append(Axis((key,), tuple((v,) for v in values)))
    groups = table.get("zip", [])
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        return axes, problems + ["sweep.zip: must be an array of tables ([[sweep.zip]]), each mapping keys to "
                                 "lists of one length"]
    for i, group in enumerate(groups):
        columns, lengths = [], []
        for key, value in group.items():
            values, found = _axis_values(key, value)
            problems += [p.replace("sweep.", f"sweep.zip[{i}].", 1) for p in found]
            columns.append(values)
            lengths.append(len(values))
        if not group:
            problems.append(f"sweep.zip[{i}]: an empty zip group; give keys mapping to lists of one length")
        elif len(set(lengths)) > 1:
            problems.append(f"sweep.zip[{i}]: its keys must have lists of one length, got "
                            + ", ".join(f"{k} {n}" for k, n in zip(group, lengths)))
        elif all(columns):
            axes.append(Axis(tuple(group), tuple(zip(*columns))))
    return axes, problems


def parse_vary(texts: Sequence[str]) -> tuple[list[Axis], list[str]]:
    """``--vary KEY=V1,V2,...`` (TOML values, comma-separated) -> one axis each, or the problems."""
    axes, problems = [], []
    for text in texts:
        key, sep, values = text.partition("=")
        key = ".".join(part.strip() for part in key.split("."))
        if not sep or not key or not values.strip():
            problems.append(f"--vary {text!r}: expected KEY=V1,V2,..., like repair.crews=2,4,8")
            continue
        try:
            parsed = tomllib.loads(f"v = [{values}]")["v"]
        except tomllib.TOMLDecodeError:
            problems.append(f"--vary {key}: {values!r} is not a comma-separated list of TOML values "
                            f"(quote strings: {key}='\"10 min\",\"1 h\"')")
            continue
        if not parsed:
            problems.append(f"--vary {key}: no values")
            continue
        axes.append(Axis((key,), tuple((v,) for v in parsed)))
    return axes, problems


def combine_axes(from_file: list[Axis], from_flags: list[Axis]) -> tuple[list[Axis], list[str]]:
    """The file's axes with each ``--vary`` axis replacing the file's axis of its key, or added after them."""
    axes = list(from_file)
    problems = []
    for axis in from_flags:
        (key,) = axis.keys
        same = [i for i, a in enumerate(axes) if a.keys == (key,)]
        grouped = [a for a in axes if key in a.keys and len(a.keys) > 1]
        if grouped:
            problems.append(f"--vary {key}: the key is in a [[sweep.zip]] group of the scenario; change it there")
        elif same:
            axes[same[0]] = axis
        else:
            axes.append(axis)
    keys = [k for a in axes for k in a.keys]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        problems.append(f"sweep: {', '.join(repeated)} varied twice (a key may be in one axis only)")
    return axes, problems


def _fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def scenario_fingerprint(scenario: Scenario) -> str:
    """sha256 of the fully resolved scenario (every field, defaults included, in schema order, as JSON): two
    points with one fingerprint compute the same numbers."""
    return _fingerprint(scenario.model_dump_json())


def plan_sweep(path: str | Path, overrides: Sequence[str] = (), vary: Sequence[str] = ()) -> SweepPlan:
    """Read the scenario, apply ``--set`` overrides, expand ``[sweep]`` and ``--vary`` into validated points."""
    import tomllib as _toml

    path = Path(path)
    base = load_scenario(path, overrides)  # every file-level problem first, as a plain run reports it
    source = path.name
    raw = apply_overrides(_toml.loads(path.read_text(encoding="utf-8")), overrides, source)
    table = raw.pop("sweep", None) or {}
    file_axes, problems = axes_of_table(table)
    flag_axes, flag_problems = parse_vary(vary)
    axes, combined = combine_axes(file_axes, flag_axes)
    problems += flag_problems + combined
    if not problems and not axes:
        problems.append("sweep: nothing to vary; add a [sweep] table or --vary KEY=V1,V2,...")
    total = math.prod(len(a.steps) for a in axes)
    if total > MAX_POINTS:
        problems.append(f"sweep: {total:,} points is more than {MAX_POINTS:,}; vary fewer keys or values")
    if problems:
        raise ScenarioError(source, problems)
    return _points(base.name, raw, axes, source, path.parent)


def _points(name: str, raw: dict[str, Any], axes: list[Axis], source: str, base_dir: Path) -> SweepPlan:
    """Every point of the product of ``axes``, validated; refuses the sweep listing the first bad points."""
    from clustersim.engine.select import engine_for
    from clustersim.errors import ClusterSimError
    from clustersim.feasibility import run_problems

    keys = tuple(k for a in axes for k in a.keys)
    points: list[SweepPoint] = []
    bad: dict[str, list[str]] = {}  # problem -> the points that have it (the first one named in full)
    count = 0
    for index, combination in enumerate(itertools.product(*(a.steps for a in axes))):
        count += 1
        values = dict(zip(keys, (v for step in combination for v in step)))
        where = f"sweep point {index} (" + ", ".join(f"{k}={value_text(v)}" for k, v in values.items()) + ")"
        try:
            scenario = scenario_from_dict(set_values(raw, list(values.items()), where, flag="sweep"),
                                          source=where, base_dir=base_dir)
            found = run_problems(scenario)
            if not found:
                try:
                    engine_for(scenario)
                except ClusterSimError as err:
                    found = [str(err)]
        except ScenarioError as err:
            found = err.problems
        if found:
            for problem in found:
                bad.setdefault(problem, []).append(where)
            continue
        points.append(SweepPoint(index, values, scenario, scenario_fingerprint(scenario)))
    if bad:
        problems = []
        for problem, where_all in list(bad.items())[:SHOWN_BAD_POINTS]:
            more = f" (and {len(where_all) - 1} more of the {count} points)" if len(where_all) > 1 else ""
            problems.append(f"{where_all[0]}: {problem}{more}")
        if len(bad) > SHOWN_BAD_POINTS:
            problems.append(f"sweep: {len(bad) - SHOWN_BAD_POINTS} more problems")
        raise ScenarioError(source, problems)
    identity = "\n".join([name, *keys, *(p.fingerprint for p in points)])
    return SweepPlan(name, keys, tuple(points), _fingerprint(identity), tuple(a.keys for a in axes))


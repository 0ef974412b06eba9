"""Property: any one mutation of a valid scenario either runs or is refused in one line — never a traceback.

Hypothesis picks a shipped scenario, one key of its fully resolved form (a leaf, a table or a list
item) and a hostile value (huge, negative, subnormal, wrongly typed, a bad unit, an empty table),
writes the file and runs the command line in-process on a short horizon. A refusal must be exit
status 2 with every stderr line naming the file, within a few seconds; an accepted mutation must
run to exit status 0.
"""
from __future__ import annotations

import contextlib
import io
import time
import tomllib
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clustersim.cli import main
from clustersim.scenario import dump_scenario_toml, load_scenario

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
BASES = [SCENARIOS / name for name in ("example_renewal.toml", "example_crews_and_spares.toml",
                                       "example_chaos_rack.toml", "gpt_cluster.toml")]
BASES.append(SCENARIOS.parent / "docs" / "examples" / "complete_example.toml")
REFUSAL_SECONDS = 5.0

HOSTILE = st.sampled_from([
    -1, 0, 1, 3, 2**31, 2**63, 2**64, 10**30, -(2**63),
    -1.0, 0.0, 5e-324, 1e-300, 0.5, 1.0, 1.5, 1e308,
    True, False, "", "x", "1 h", "-1 h", "0 s", "1e308 h", "1e-300 h", "1e6 y", "5 parsecs", "nan h",
    "weibull", "simpy", [], [1, 2], {}, {"dist": "exponential"}, {"dist": "gamma", "shape": 1e-300, "mean": "1 h"},
])


def resolved(path: Path) -> dict[str, Any]:
    """The fully resolved scenario as a TOML mapping (every default written out, so every key can be hit)."""
    return tomllib.loads(dump_scenario_toml(load_scenario(path)))


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path of a TOML mapping: tables, list items and leaves."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += paths(value, (*prefix, i))
    return found


def put(raw: dict[str, Any], path: tuple, value: Any) -> None:
    node: Any = raw
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value


@st.composite
def mutations(draw: st.DrawFn) -> tuple[str, dict[str, Any], tuple]:
    base = draw(st.sampled_from(BASES))
    name, raw = base.name, resolved(base)
    raw["simulation"]["horizon"] = "24 h"
    raw["simulation"]["replications"] = 2
    raw["simulation"].pop("engine", None)  # the SimPy engine: the fast one compiles for a minute first
    path = draw(st.sampled_from([p for p in paths(raw) if p not in (("simulation", "engine"),)]))
    put(raw, path, draw(HOSTILE))
    return name, raw, path


@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(mutations())
def test_a_mutation_runs_or_is_refused_in_one_line_per_problem(tmp_path_factory, case):
    name, raw, path = case
    folder = tmp_path_factory.mktemp("mutation")
    scenario = folder / "mutated.toml"
    scenario.write_text(tomli_w.dumps(raw))
    stdout, stderr = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = main([str(scenario), "--out", str(folder / "out"), "--quiet"])
    seconds = time.perf_counter() - started
    lines = stderr.getvalue().splitlines()
    where = f"{name}: {'.'.join(map(str, path))} = {raw_value(raw, path)!r}"
    assert status in (0, 2), f"{where}: exit status {status}; stderr {lines}"
    if status == 2:
        assert lines and all(line.startswith(("mutated.toml: ", "--out")) for line in lines), f"{where}: {lines}"
        assert seconds < REFUSAL_SECONDS, f"{where}: refused after {seconds:.1f} s"
    else:
        assert not lines, f"{where}: ran, yet printed {lines}"


def raw_value(raw: dict[str, Any], path: tuple) -> Any:
    node: Any = raw
    for step in path:
        node = node[step]
    return node

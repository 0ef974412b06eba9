"""Start-up stays light: a command imports the heavy libraries only on the path that needs them.

Each case runs in a fresh interpreter and reads its ``sys.modules`` afterwards (no timing here:
benchmarks/bench_startup.py measures the seconds). numba alone costs ~0.4 s to import and pandas,
scipy.stats or matplotlib as much again, so ``--version`` and ``validate`` import none of them, and
choosing the fast engine does not load numba until a replication runs.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CHECKOUT

# Libraries that no start-up path below may import (a prefix covers its submodules).
HEAVY = ("numba", "llvmlite", "pandas", "pyarrow", "matplotlib", "networkx", "scipy.stats")

PROBE = """\
import json, runpy, sys
sys.argv = ["clustersim", *json.loads(sys.argv[1])]
try:
    runpy.run_module("clustersim", run_name="__main__", alter_sys=True)
except SystemExit as stop:
    assert not stop.code, stop.code
print(json.dumps(sorted(sys.modules)))
"""

IMPORT = """\
import json, sys
{code}
print(json.dumps(sorted(sys.modules)))
"""

FAST_TINY = """\
name = "tiny"
[simulation]
horizon = "30 d"
engine = "fast"
[nodes]
count = 8
"""


def _modules(code: str, *args: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code`` with ``args``."""
    env = {**os.environ, "PYTHONPATH": str(CHECKOUT)}
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=False,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def _heavy(modules: set[str], heavy: tuple[str, ...] = HEAVY) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in heavy))


@pytest.fixture
def fast_scenario(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(FAST_TINY)
    return path


def test_version_imports_nothing_heavy() -> None:
    modules = _modules(PROBE, json.dumps(["--version"]))
    assert _heavy(modules, (*HEAVY, "scipy", "numpy", "pydantic", "rich")) == []


def test_validate_of_a_fast_scenario_imports_neither_numba_nor_the_report_libraries(fast_scenario: Path) -> None:
    modules = _modules(PROBE, json.dumps(["validate", str(fast_scenario), "--quiet"]))
    assert "clustersim.engine.fast.engine" in modules  # the engine was chosen (and its refusals checked)
    assert _heavy(modules, (*HEAVY, "scipy", "rich")) == []


def test_the_run_path_loads_numba_only_when_a_fast_replication_runs(fast_scenario: Path) -> None:
    code = IMPORT.format(code=(
        "import clustersim.runner, clustersim.engine.fast.engine\n"
        "from clustersim.engine.select import engine_for\n"
        "from clustersim.scenario import load_scenario\n"
        f"engine_for(load_scenario({str(fast_scenario)!r}))"))
    assert _heavy(_modules(code)) == []


def test_the_compile_hint_is_the_last_compile_recorded_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from clustersim.engine.fast import engine

    record = tmp_path / "seconds.txt"
    monkeypatch.setattr(engine, "_compile_record", lambda: record)
    assert engine.expected_compile_seconds() == engine.TYPICAL_COMPILE_SECONDS  # nothing recorded yet
    record.write_text("41.6\n")
    assert (engine.expected_compile_seconds(), engine.compile_hint()) == (41.6, "~42 s")
    record.write_text("138.0\n")
    assert engine.compile_hint() == "~2.3 min"
    record.write_text("garbled")
    assert engine.expected_compile_seconds() == engine.TYPICAL_COMPILE_SECONDS

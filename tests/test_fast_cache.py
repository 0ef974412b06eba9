"""numba's cache can never serve a kernel compiled from other engine sources than the ones on disk.

numba keys a cached function on its own file only; the kernel freezes constants read from other
modules (law codes, roles, log codes), so a change there alone must still recompile it. The test
warms a private cache on a copy of the package, renumbers the law codes where they are defined
(consistently for every reader), and runs again: a fresh kernel gives the same numbers, a stale one
(reading the old codes) different or broken ones. It costs two kernel compiles.
"""
from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import CHECKOUT
from numba.core.caching import NullCache
from numba.core.registry import CPUDispatcher as Dispatcher

from clustersim.engine.fast import jit, kernel

RUN = """\
import json
from clustersim.engine.fast.engine import FastEngine
from clustersim.scenario import scenario_from_dict

raw = {
    "name": "cache", "simulation": {"horizon": "2000 h", "replications": 3},
    "nodes": {"count": 6, "failure_modes": [
        {"name": "exp", "recovery": "replace", "time_to_failure": {"dist": "exponential", "mean": "100 h"},
         "time_to_repair": {"dist": "exponential", "mean": "10 h"}},
        {"name": "wear", "recovery": "replace", "time_to_failure": {"dist": "weibull", "mean": "300 h", "shape": 3.0},
         "time_to_repair": {"dist": "weibull", "mean": "20 h", "shape": 0.7}}]},
    "spares": {"hot": 1},
}
outcomes = FastEngine(workers=1).run(scenario_from_dict(raw, source="cache"), range(3))
print(json.dumps([o.metrics for o in outcomes]))
"""

SWAP = "\nLAW_EXPONENTIAL, LAW_WEIBULL = LAW_WEIBULL, LAW_EXPONENTIAL  # renumbered by test_fast_cache\n"


def _law_codes_file(fast: Path) -> Path:
    """The engine/fast module that defines the law codes (the kernel reads them from there)."""
    for path in sorted(fast.glob("*.py")):
        if any(line.startswith("LAW_EXPONENTIAL") for line in path.read_text().splitlines()):
            return path
    raise AssertionError("no module of engine/fast defines LAW_EXPONENTIAL")


def _run(root: Path) -> str:
    """The small scenario's metrics as JSON (NaN and all), run from the package copy under ``root``
    with its private cache."""
    env = {**os.environ, "PYTHONPATH": str(root), "NUMBA_CACHE_DIR": str(root / "numba-cache")}
    done = subprocess.run([sys.executable, "-c", RUN], check=False, cwd=root, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    metrics = done.stdout.strip().splitlines()[-1]
    assert len(json.loads(metrics)) == 3
    return metrics


def test_a_constant_changed_outside_the_entry_points_file_recompiles_the_kernel(tmp_path: Path) -> None:
    shutil.copytree(CHECKOUT / "clustersim", tmp_path / "clustersim",
                    ignore=shutil.ignore_patterns("__pycache__"))
    first = _run(tmp_path)
    codes = _law_codes_file(tmp_path / "clustersim" / "engine" / "fast")
    assert codes.name != "kernel.py"
    codes.write_text(codes.read_text() + SWAP)
    assert _run(tmp_path) == first


def _dispatchers() -> list[tuple[str, Dispatcher]]:
    """(module.name, dispatcher) of every jitted function in engine/fast."""
    found = []
    for path in sorted(Path(kernel.__file__).parent.glob("*.py")):
        module = importlib.import_module(f"clustersim.engine.fast.{path.stem}")
        found += [(f"{path.stem}.{name}", value) for name, value in vars(module).items()
                  if isinstance(value, Dispatcher) and value.__module__ == module.__name__]
    return found


def test_every_cached_function_is_keyed_on_the_source_fingerprint() -> None:
    cached = [(name, d) for name, d in _dispatchers() if not isinstance(d._cache, NullCache)]
    assert {name for name, _ in cached} == {"kernel._new_state", "kernel._run"}
    for name, dispatcher in cached:
        cells = [cell.cell_contents for cell in dispatcher.py_func.__closure__ or ()]
        assert cells == [jit.FINGERPRINT], name
    assert jit.FINGERPRINT == jit.source_fingerprint()

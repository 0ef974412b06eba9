"""Whole-process start-up of the command line: ``--version``, ``validate`` and a cached fast run of a tiny scenario.

Each figure is a fresh ``python -m clustersim ...`` process, timed from the outside (wall clock and the
child's CPU seconds), the best of ``--rounds``. The tiny scenario (8 nodes, 30 days, one failure mode,
4 replications, ``engine = "fast"``) is written to a temporary folder; its results go to another.

Run from the repository root::

    python benchmarks/bench_startup.py [--rounds N] [--imports] [--clear-cache]

``--imports`` also prints where a cached fast run's imports spend their time (``python -X importtime``,
cumulative, top-level packages and clustersim modules). ``--clear-cache`` also measures a first compile
of the fast kernel: a run into an empty numba cache (a fresh ``NUMBA_CACHE_DIR``; the cache in use is left
as it is), and the hint the terminal gives for it.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

TINY = """\
name = "tiny"

[simulation]
horizon = "30 d"
replications = 4
seed = 1
engine = "fast"

[nodes]
count = 8

[[nodes.failure_modes]]
name = "gpu"
scope = "gpu"
time_to_failure = { dist = "exponential", mean = "2000 h" }
recovery = "replace"
time_to_repair = { dist = "lognormal", mean = "8 h", cv = 0.5 }
"""

# Libraries reported wherever they are first imported (by a clustersim module, or nested deeper).
LIBRARIES = frozenset({"numpy", "pydantic", "numba", "llvmlite", "scipy.special", "scipy.stats", "pandas", "pyarrow",
                       "rich", "matplotlib"})

HINT = "from clustersim.engine.fast.engine import compile_hint; print(compile_hint())"


def timed(args: Sequence[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one fresh process running ``python args``; it must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *args], env=env, cwd=REPO, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def best(args: Sequence[str], env: dict[str, str], rounds: int) -> tuple[float, float]:
    """The fastest of ``rounds`` runs (wall, CPU), by wall clock."""
    return min((timed(args, env) for _ in range(rounds)), key=lambda t: t[0])


def import_breakdown(args: Sequence[str], env: dict[str, str]) -> list[tuple[float, str]]:
    """(cumulative seconds, module) of the top-level packages and clustersim modules a run imports."""
    done = subprocess.run([sys.executable, "-X", "importtime", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, check=True)
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, field = line[len("import time:"):].split("|")
        name = field.strip()
        if not cumulative.strip().isdigit():
            continue
        top = len(field) - len(field.lstrip()) == 1  # nested imports are indented two spaces a level
        if top or name.startswith("clustersim") or name in LIBRARIES:
            rows.append((int(cumulative) / 1e6, ("" if top else "  ") + name))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="processes per figure; the best counts (default 5)")
    parser.add_argument("--imports", action="store_true", help="print the import breakdown of a cached fast run")
    parser.add_argument("--clear-cache", action="store_true",
                        help="also time a first compile of the fast kernel (into an empty numba cache)")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with tempfile.TemporaryDirectory() as work:
        scenario = Path(work) / "tiny.toml"
        scenario.write_text(TINY)
        out = Path(work) / "out"
        run = ["-m", "clustersim", str(scenario), "--out", str(out), "--overwrite", "--quiet"]
        timed(run, env)  # compiles the kernel into the cache in use if it has not been yet
        for label, command in (("--version", ["-m", "clustersim", "--version"]),
                               ("validate", ["-m", "clustersim", "validate", str(scenario), "--quiet"]),
                               ("cached fast run", run)):
            wall, cpu = best(command, env, args.rounds)
            print(f"{label:>16}: {wall:5.2f} s wall, {cpu:5.2f} s CPU (best of {args.rounds})")
        if args.imports:
            print("imports of a cached fast run (cumulative seconds):")
            for seconds, name in import_breakdown(run, env):
                if seconds >= 0.01:
                    print(f"  {seconds:6.3f}  {name}")
        if args.clear_cache:
            cache = {**env, "NUMBA_CACHE_DIR": str(Path(work) / "numba-cache")}
            wall, cpu = timed(run, cache)
            hint = subprocess.run([sys.executable, "-c", HINT], env=cache, capture_output=True, text=True,
                                  check=True).stdout.strip()
            print(f"first compile (whole run, empty cache): {wall:5.1f} s wall, {cpu:5.1f} s CPU; "
                  f"the terminal's hint next time: {hint}")


if __name__ == "__main__":
    main()

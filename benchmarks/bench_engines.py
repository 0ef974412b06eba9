"""Both engines on the same scenarios: model events per second, the fast/simpy ratio, start-up.

(1) bench_engine.py's scenario: 1024 nodes × 8 GPUs for one year, exponential and Weibull
failure modes, a rack failure domain, 8 repair crews, 16 hot + 16 cold spares and a 960-node
job checkpointing hourly. (2) scenarios/airesim_default.toml: AIReSim's default case, a
4,096-node job computing 256 days through a two-stage repair pipeline with lemons and warm
standbys.

Run from the repository root::

    python benchmarks/bench_engines.py [--simpy-replications N] [--fast-replications N] [--rounds N]
                                       [--airesim-simpy-replications N] [--no-compile]

It prints, for (1) and each engine, model events per second (events / wall-clock seconds of the
run, start-up excluded) and replications per second; for the fast engine once on one thread
(per core) and once on every thread numba may use; the fast/simpy ratios; and the fast engine's
start-up in fresh processes: the first run on a machine (compiling into an empty cache) and a
cached run (import, cache load, first replication). For (2), seconds per replication of each
engine on one thread and their ratio. Timings are the best of ``--rounds``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # measure this checkout, not whichever clustersim is installed

import numba  # noqa: E402

from bench_engine import benchmark_scenario  # noqa: E402
from clustersim.engine.fast.engine import FastEngine, ensure_compiled  # noqa: E402
from clustersim.engine.base import Engine  # noqa: E402
from clustersim.engine.simpy_engine import SimpyEngine  # noqa: E402
from clustersim.scenario import load_scenario  # noqa: E402
from clustersim.scenario.schema import Scenario  # noqa: E402
from clustersim.stats import estimate  # noqa: E402

STARTUP = """\
import time
started = time.perf_counter()
from clustersim.engine.fast.engine import ensure_compiled
ensure_compiled()
print(time.perf_counter() - started)
"""


def throughput(engine: Engine, scenario: Scenario, replications: int, rounds: int) -> tuple[float, float, float]:
    """Best of ``rounds``: (events per second, replications per second, mean availability)."""
    best = (0.0, 0.0, 0.0)
    for _ in range(rounds):
        started = time.perf_counter()
        outcomes = list(engine.run(scenario, range(replications)))
        wall = time.perf_counter() - started
        events = sum(o.events for o in outcomes)
        availability = estimate([o.metrics["nodes.availability"] for o in outcomes], "").mean
        if events / wall > best[0]:
            best = (events / wall, replications / wall, availability)
    return best


def startup_seconds(cache_dir: str | None) -> float:
    """Seconds a fresh process takes to import the fast engine and have its kernel ready.

    ``cache_dir``: numba's cache directory (None: its default, beside the kernel's source).
    """
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    out = subprocess.run([sys.executable, "-c", STARTUP], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simpy-replications", type=int, default=5, help="SimPy replications per round (default 5)")
    parser.add_argument("--fast-replications", type=int, default=200, help="fast replications per round (default 200)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per measurement; the best counts (default 3)")
    parser.add_argument("--airesim-simpy-replications", type=int, default=1,
                        help="SimPy replications of the AIReSim case per round (default 1)")
    parser.add_argument("--no-compile", action="store_true", help="skip the first-run (compiling) start-up")
    args = parser.parse_args()
    scenario = benchmark_scenario()
    threads = numba.get_num_threads()
    print(f"scenario: {scenario.nodes.count} nodes x {scenario.nodes.gpus_per_node} GPUs, "
          f"{scenario.simulation.horizon / 24:.0f} d; {os.cpu_count()} CPUs, numba threads {threads}")

    ensure_compiled()
    list(SimpyEngine().run(scenario, [0]))  # warm-up: imports, caches, first-call costs
    simpy = throughput(SimpyEngine(), scenario, args.simpy_replications, args.rounds)
    one = throughput(FastEngine(workers=1), scenario, args.fast_replications, args.rounds)
    every = throughput(FastEngine(workers=threads), scenario, args.fast_replications, args.rounds)
    for label, (events, reps, availability) in (("simpy", simpy), ("fast, 1 thread", one),
                                                 (f"fast, {threads} threads", every)):
        print(f"{label:>16}: {events:14,.0f} events/s {reps:10.1f} replications/s   "
              f"(nodes.availability {availability:.6f})")
    print(f"fast/simpy: {one[0] / simpy[0]:.0f}x on one thread (per core), {every[0] / simpy[0]:.0f}x on {threads}")

    airesim = load_scenario(REPO / "scenarios" / "airesim_default.toml")
    simpy_s = 1 / throughput(SimpyEngine(), airesim, args.airesim_simpy_replications, 1)[1]
    fast_s = 1 / throughput(FastEngine(workers=1), airesim, 20, args.rounds)[1]
    print(f"AIReSim default case ({airesim.training[0].nodes}-node job, "
          f"{airesim.training[0].work / 24:.0f} d of compute), one thread: simpy {simpy_s:.2f} s/replication, "
          f"fast {fast_s * 1000:.1f} ms/replication, fast/simpy {simpy_s / fast_s:.0f}x")

    with tempfile.TemporaryDirectory() as empty:
        cache = None if args.no_compile else empty
        if cache is not None:
            print(f"fast start-up, first run (compiles into an empty cache): {startup_seconds(cache):.1f} s")
        cached = min(startup_seconds(cache) for _ in range(args.rounds))
        print(f"fast start-up, cached (import + cache load + first replication): {cached:.2f} s")

if __name__ == "__main__":
    main()

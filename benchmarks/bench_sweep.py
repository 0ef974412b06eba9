"""Sweep throughput: 1,000 points x 20 replications of a 256-node one-year scenario on the fast engine.

Runs the same sweep on the local process pool and on a Dask LocalCluster (each into a fresh
directory), and reports for each: points/s, the simulating time the sweep contains (the kernel's own
seconds, summed over points), the wall time against it, and the overhead per point (worker-seconds
not spent simulating, start-up included, per point). The two tables must be identical bit for bit.

    python benchmarks/bench_sweep.py [--points-per-axis 10] [--workers N] [--executors local,dask]

The issue's goal: >= 50 points/s here, and a wall time within 2x of the simulating time per worker.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

SCENARIO = """\
name = "bench-sweep-256"
[simulation]
horizon = "365 d"
replications = 20
seed = 1
engine = "fast"
[nodes]
count = 256
gpus_per_node = 8
nodes_per_rack = 16
[[nodes.failure_modes]]
name = "gpu"
scope = "gpu"
time_to_failure = {dist = "exponential", mean = "50000 h"}
recovery = "replace"
time_to_repair = {dist = "lognormal", mean = "8 h", cv = 0.5}
[[nodes.failure_modes]]
name = "host"
scope = "node"
time_to_failure = {dist = "exponential", mean = "20000 h"}
recovery = "reboot"
time_to_repair = {dist = "exponential", mean = "30 min"}
[repair]
crews = 4
detection = "2 min"
[spares]
hot = 8
swap_time = "5 min"
[[training]]
name = "pretrain"
nodes = 240
checkpoint_interval = "1 h"
checkpoint_cost = "2 min"
restart_overhead = "10 min"
on_failure = "spare"

[sweep]
"spares.hot" = {start = 1, stop = N, num = N}
"repair.crews" = {start = 1, stop = N, num = N}
"training[0].checkpoint_interval" = {start = "15 min", stop = "240 min", num = N, scale = "log"}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points-per-axis", type=int, default=10, help="points per axis (three axes): 10 = 1,000")
    parser.add_argument("--workers", type=int, default=None, help="workers (default: every core)")
    parser.add_argument("--executors", default="local,dask", help="comma-separated: local, dask")
    args = parser.parse_args()

    from clustersim.engine.fast.engine import ensure_compiled
    from clustersim.executors import make_executor, prepare_worker, run_points
    from clustersim.sweep_grid import plan_sweep
    from clustersim.sweep_run import run_sweep

    ensure_compiled()  # the kernel in numba's cache, so workers only load it
    tables = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.toml"
        n = args.points_per_axis
        path.write_text(SCENARIO.replace("= N", f"= {n}"))
        started = time.perf_counter()
        plan = plan_sweep(path)
        plan_s = time.perf_counter() - started
        print(f"{len(plan.points):,} points x 20 replications, 256 nodes, one year, fast engine; "
              f"expanding and validating the points: {plan_s:.2f} s")
        # A worker's own overhead per point (scenario to rows: compiling the plan, metrics, estimates), measured
        # serially in this process on the first points, free of start-up and of the other processes' share.
        sample = [(p.index, p.fingerprint, p.scenario) for p in plan.points[:50]]
        prepare_worker()
        started = time.perf_counter()
        outcomes = run_points(sample)
        serial = time.perf_counter() - started
        simulating = sum(o.simulate_s for o in outcomes)
        print(f"in one process, {len(sample)} points: {(serial - simulating) / len(sample) * 1000:.1f} ms per point "
              f"besides {simulating / len(sample) * 1000:.1f} ms of simulating")
        for kind in args.executors.split(","):
            executor = make_executor(kind, args.workers)
            out = Path(tmp) / f"out-{kind}"
            started = time.perf_counter()
            result = run_sweep(plan, out, executor, plots=False)
            wall = time.perf_counter() - started
            workers = executor.workers
            points = len(plan.points)
            simulate = result.simulate_s_computed
            overhead_ms = (wall * workers - simulate) / points * 1000
            print(f"{kind:>5}: {workers} workers, {wall:6.2f} s wall, {points / wall:6.1f} points/s; "
                  f"simulating {simulate:6.2f} s ({simulate / workers:.2f} s per worker): wall / simulating per "
                  f"worker = {wall / (simulate / workers):.2f}, wall / simulating = {wall / simulate:.2f}; "
                  f"overhead {overhead_ms:.1f} ms per point (worker time not simulating, start-up included)")
            tables[kind] = (out / "sweep.csv").read_bytes()
    if len(set(tables.values())) > 1:
        print("the executors' tables differ", file=sys.stderr)
        return 1
    if len(tables) > 1:
        print("sweep.csv identical across executors: yes")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Serving at scale: a year at 100 requests/s by the hybrid technique on both engines, a day against requests.

The scenario is benchmarks/serving_year.toml: one year at 100 requests/s on 8 replicas (utilisation
0.78) with a server failure a month per node, health checks, retries and an SLO; 10 replications,
``serving = "hybrid"`` (requests simulated only in windows around capacity changes, stationary samples
in between: clustersim/workloads/inference/hybrid.py).

Run from the repository root::

    python benchmarks/bench_serving.py [--replications N] [--day-replications N] [--skip-fast]

(1) Year, hybrid: the scenario on the SimPy engine and on the fast engine (after one untimed warm-up
fast run of one replication and one day, which compiles the numba kernels: ~2 min on a fresh cache).
For each engine it prints the wall seconds of ``run_scenario`` for the replications, replications per
second, requests per replication (the mean of ``inference.chat.requests``), requests of simulated
traffic per wall second, the mean share of the horizon simulated request by request
(``inference.chat.request_level_share``), and the fast/simpy wall ratio.

(2) One-day agreement: the same scenario for one day (``--day-replications``, default 4), with
``serving = "requests"`` (every request simulated) and ``serving = "hybrid"`` on each engine (the fast
engine's requests are simulated by its compiled serving core), each run's wall time, and side by side:
requests against hybrid (SimPy), the Python model against the compiled core (requests, then hybrid) —
every ``inference.chat.*`` metric's mean and 95 % interval and whether the intervals overlap ("agree")
or not ("differ").
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # measure this checkout, not whichever clustersim is installed

from clustersim.cli_sweep import engine_session  # noqa: E402
from clustersim.runner import RunResult, run_scenario  # noqa: E402
from clustersim.scenario import load_scenario  # noqa: E402
from clustersim.stats import Estimate  # noqa: E402

SCENARIO = REPO / "benchmarks" / "serving_year.toml"
SERVICE = "chat"
PREFIX = f"inference.{SERVICE}."


def timed_run(overrides: list[str]) -> tuple[RunResult, float]:
    """Load serving_year.toml with ``overrides``, run it on every core as the command line does; (result, wall
    seconds of the run, the pool's start included)."""
    scenario = load_scenario(SCENARIO, overrides)
    started = time.perf_counter()
    with engine_session(scenario, None) as engine:
        result = run_scenario(scenario, engine=engine)
    return result, time.perf_counter() - started


def mean_of(result: RunResult, metric: str) -> float:
    """The metric's mean over the replications, NaN when the run did not measure it."""
    found = result.estimates.get(metric)
    return found.mean if found is not None else math.nan


def interval(est: Estimate) -> str:
    """'[low, high]', or 'n/a' when the interval is undefined (n < 2)."""
    if est.ci95_low is None or est.ci95_high is None:
        return "n/a"
    return f"[{est.ci95_low:.6g}, {est.ci95_high:.6g}]"


def overlap(a: Estimate, b: Estimate) -> str:
    """'agree' when the two 95 % intervals overlap, 'differ' when not, 'n/a' when either is undefined."""
    if a.ci95_low is None or a.ci95_high is None or b.ci95_low is None or b.ci95_high is None:
        return "n/a"
    return "agree" if a.ci95_low <= b.ci95_high and b.ci95_low <= a.ci95_high else "differ"


def year(replications: int | None, skip_fast: bool) -> None:
    """(1): the year by the hybrid technique on each engine."""
    common = [] if replications is None else [f"simulation.replications={replications}"]
    engines = ["simpy"] if skip_fast else ["simpy", "fast"]
    if not skip_fast:
        print("fast engine warm-up (untimed: 1 replication, 1 d; compiles the numba kernels on a fresh cache) ...",
              flush=True)
        started = time.perf_counter()
        timed_run(['simulation.engine="fast"', "simulation.replications=1", 'simulation.horizon="1 d"'])
        print(f"  warm-up took {time.perf_counter() - started:.1f} s", flush=True)

    walls: dict[str, float] = {}
    print(f"\n(1) year, hybrid serving: {SCENARIO.relative_to(REPO)}")
    print(f"{'engine':<7} {'reps':>5} {'wall s':>9} {'reps/s':>9} {'requests/rep':>15} {'requests/wall s':>16}"
          f" {'request-level share':>20}")
    for engine in engines:
        result, wall = timed_run([*common, f'simulation.engine="{engine}"'])
        reps = len(result.rows)
        requests = mean_of(result, PREFIX + "requests")
        share = mean_of(result, PREFIX + "request_level_share")
        walls[engine] = wall
        print(f"{engine:<7} {reps:>5} {wall:>9.2f} {reps / wall:>9.4f} {requests:>15,.0f}"
              f" {requests * reps / wall:>16,.0f} {share:>20.6f}", flush=True)
    if "fast" in walls:
        print(f"fast/simpy wall ratio: {walls['fast'] / walls['simpy']:.3f}"
              f" (speed-up {walls['simpy'] / walls['fast']:.2f}x)")


def day(replications: int, skip_fast: bool) -> None:
    """(2): one day, every request simulated against the hybrid technique (SimPy engine), and every request
    simulated by the Python model against the fast engine's compiled core."""
    common = ['simulation.horizon="1 d"', f"simulation.replications={replications}"]
    print(f"\n(2) one day, {replications} replications: serving = \"requests\" against \"hybrid\" (SimPy engine)"
          + ("" if skip_fast else "; the Python model against the compiled core (requests)"), flush=True)
    runs: dict[str, tuple[RunResult, float]] = {}
    for label, engine, serving in (("simpy requests", "simpy", "requests"), ("simpy hybrid", "simpy", "hybrid"),
                                   ("fast requests", "fast", "requests"), ("fast hybrid", "fast", "hybrid")):
        if skip_fast and engine == "fast":
            continue
        runs[label] = timed_run([*common, f'simulation.engine="{engine}"', f'simulation.serving="{serving}"'])
        result, wall = runs[label]
        events = sum(row.get(PREFIX + "requests", 0.0) for row in result.rows)
        print(f"{label:<15} wall {wall:8.2f} s  ({events / wall:,.0f} requests of traffic per wall s)", flush=True)
    compare(runs["simpy requests"][0], runs["simpy hybrid"][0], "requests", "hybrid")
    if not skip_fast:
        compare(runs["simpy requests"][0], runs["fast requests"][0], "python", "compiled")
        compare(runs["simpy hybrid"][0], runs["fast hybrid"][0], "py hybrid", "comp hybrid")


def compare(a_run: RunResult, b_run: RunResult, a_label: str, b_label: str) -> None:
    """Every inference metric of two runs side by side, with whether their 95 % intervals overlap."""
    names = sorted(n for n in a_run.estimates if n.startswith(PREFIX) and n in b_run.estimates)
    width = max((len(n) for n in names), default=6)
    print(f"\n{'metric':<{width}} {a_label + ' mean':>16} {a_label + ' 95 %':>28} {b_label + ' mean':>16}"
          f" {b_label + ' 95 %':>28}  verdict")
    counts: dict[str, int] = {}
    for name in names:
        a, b = a_run.estimates[name], b_run.estimates[name]
        verdict = overlap(a, b)
        counts[verdict] = counts.get(verdict, 0) + 1
        print(f"{name:<{width}} {a.mean:>16.6g} {interval(a):>28} {b.mean:>16.6g} {interval(b):>28}  {verdict}")
    only = sorted(n for n in set(a_run.estimates) ^ set(b_run.estimates) if n.startswith(PREFIX))
    print("\n" + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    if only:
        print("in one result only: " + ", ".join(only))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=None,
                        help="replications of the year run (default: the scenario's 10)")
    parser.add_argument("--day-replications", type=int, default=4,
                        help="replications of each one-day run (default 4)")
    parser.add_argument("--skip-fast", action="store_true", help="skip the fast engine")
    args = parser.parse_args()
    year(args.replications, args.skip_fast)
    day(args.day_replications, args.skip_fast)


if __name__ == "__main__":
    main()

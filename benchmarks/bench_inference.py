"""Throughput of the request-level inference model: simulated requests per second on the SimPy engine.

Two cases, each one replication after a warm-up replication (imports, caches, first-call costs):

- ``mmc``: a plain M/M/c pool with no failures, 8 replicas x concurrency 4 (c = 32), Poisson arrivals at
  56 requests/s and exponential service of mean 0.5 s (utilisation 56 x 0.5 / 32 = 0.875), no timeout,
  no retries: the cost of the routing, the queue and the measures alone;
- ``example``: scenarios/example_inference.toml, 8 LLM replicas x concurrency 88 near the daily peak
  (~64 requests/s), token-based service, health checks, retries with a budget, circuit breakers, a
  timeout, node failures and a planned fault that kills a replica an hour in.

Run from the repository root::

    python benchmarks/bench_inference.py [--replications N] [--hours H]

For each case it prints the requests simulated (``inference.<name>.requests``: those sent in
[warmup, horizon) and resolved by the horizon), the wall seconds of ``simulate_replication``
(measuring included), requests per second (the goal: at least 50,000), and the request-level loop's
events per second (``measures.requests_events``: arrivals, completions, timeouts, health checks,
backoffs, ...). With several replications the figures are summed over them.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # measure this checkout, not whichever clustersim is installed

from clustersim.engine.simpy_engine import simulate_replication  # noqa: E402
from clustersim.scenario import load_scenario, scenario_from_dict  # noqa: E402
from clustersim.scenario.schema import Scenario  # noqa: E402

EXAMPLE = REPO / "scenarios" / "example_inference.toml"
GOAL_REQUESTS_PER_S = 50_000


def mmc_scenario(hours: float) -> Scenario:
    """M/M/c: 8 replicas x concurrency 4, lambda = 56 /s, exponential service of mean 0.5 s; nothing fails."""
    raw: dict[str, Any] = {
        "name": "bench_mmc",
        "simulation": {"horizon": f"{hours} h", "warmup": "0 h", "replications": 1, "seed": 1},
        "nodes": {"count": 8, "gpus_per_node": 8, "nodes_per_rack": 8},
        "inference": [{
            "name": "pool", "replicas": 8, "concurrency": 4,
            "arrivals": {"process": "poisson", "rate": "56 /s"},
            "service_time": {"dist": "exponential", "mean": "0.5 s"},
            "slo": {"latency": "10 s"},
        }],
    }
    return scenario_from_dict(raw)


def example_scenario(hours: float | None) -> Scenario:
    """scenarios/example_inference.toml, at its own horizon unless ``hours`` is given."""
    overrides = ["simulation.replications=1"]
    if hours is not None:
        overrides.append(f'simulation.horizon="{hours} h"')
    return load_scenario(EXAMPLE, overrides)


def measure(scenario: Scenario, replications: int) -> tuple[float, float, int]:
    """(requests simulated, wall seconds, loop events) over ``replications`` replications."""
    name = scenario.inference[0].name
    requests, seconds, events = 0.0, 0.0, 0
    for replication in range(replications):
        measures, took = simulate_replication(scenario, replication)
        requests += measures.metrics()[f"inference.{name}.requests"]
        seconds += took
        events += measures.requests_events
    return requests, seconds, events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=1, help="replications per case (default 1)")
    parser.add_argument("--hours", type=float, default=None,
                        help="horizon in hours of both cases (default: 2 h for mmc, the example's own)")
    args = parser.parse_args()
    cases = [("mmc", mmc_scenario(args.hours if args.hours is not None else 2.0)),
             ("example", example_scenario(args.hours))]
    simulate_replication(mmc_scenario(0.1), 0)  # warm-up (0.1 h: one 5-min SLO window fits)

    print(f"{'case':<10} {'requests':>12} {'wall s':>9} {'requests/s':>12} {'loop events/s':>14}  goal")
    for label, scenario in cases:
        requests, seconds, events = measure(scenario, args.replications)
        rate = requests / seconds
        verdict = "ok" if rate >= GOAL_REQUESTS_PER_S else f"below {GOAL_REQUESTS_PER_S:,}/s"
        print(f"{label:<10} {requests:>12,.0f} {seconds:>9.2f} {rate:>12,.0f} {events / seconds:>14,.0f}  {verdict}")


if __name__ == "__main__":
    main()

"""Before a run: refuse what would stop time, and estimate what the rest would cost.

Two kinds of scenario are valid to the schema yet cannot be simulated: laws whose draws stop the
clock (every draw 0 h, or a period the clock cannot resolve at the horizon) and runs far beyond
what one machine can do (a horizon of a million years, a billion replications, ten million
nodes). ``degenerate_problems`` names the first, naming the key; ``estimate_work`` gives the
second as model events, memory and time from rates × horizon × components × replications, so
the command line can refuse it in one line (or run it anyway with ``--force``).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from clustersim.distributions import Distribution
from clustersim.layout import expected_requests, layout_of, metric_key_problems, serving_core, serving_technique
from clustersim.scenario.schema import Scenario

# Log rows per node failure (the failure, the node down and up, its repair states, the position
# emptied and refilled, the pool, crews and the job it stops): ~15 measured on the shipped scenarios.
ROWS_PER_FAILURE = 15
ROWS_PER_SEGMENT = 3        # a job computes, checkpoints, credits its work
ROWS_PER_INJECTION = 6
EVENTS_PER_SECOND = {"simpy": 2.0e5, "fast": 2.0e7}   # one core, measured (benchmarks/), rounded down
BYTES_PER_NODE = {"simpy": 6_000, "fast": 400}
BYTES_PER_PART = {"simpy": 120, "fast": 16}   # a non-exponential failure clock (one per GPU for scope "gpu")
MAX_SECONDS = 24 * 3600.0   # beyond a day of computing, a run is refused without --force
MEMORY_SHARE = 0.8          # of the machine's physical memory
_PROBE_DRAWS = 64


@dataclass(frozen=True)
class WorkEstimate:
    """What a run would cost, roughly (within a small factor): events, peak memory, seconds."""

    events_per_replication: float
    replications: int
    peak_bytes: float
    seconds: float

    def too_big(self, memory_bytes: float) -> list[str]:
        """Why this run is beyond the machine (empty if it is not)."""
        reasons = []
        if self.seconds > MAX_SECONDS:
            reasons.append(f"{_readable_seconds(self.seconds)} of computing")
        if self.peak_bytes > MEMORY_SHARE * memory_bytes:
            needed = f"~{self.peak_bytes / 2**30:,.1f} GiB" if math.isfinite(self.peak_bytes) else "unbounded"
            reasons.append(f"{needed} of memory (this machine has {memory_bytes / 2**30:,.1f} GiB)")
        return reasons


def run_problems(scenario: Scenario) -> list[str]:
    """What stops a valid scenario from running: a degenerate law or period, a key naming a metric it does not
    measure."""
    return degenerate_problems(scenario) + metric_key_problems(scenario)


def degenerate_problems(scenario: Scenario) -> list[str]:
    """``key: problem`` for every law or period that would stop simulated time."""
    problems = []
    for path, law in _failure_laws(scenario):
        if _draws_all_zero(law):
            problems.append(f"{path}: every draw of this law is 0 h (a failure would repeat at one instant); "
                            "give it a larger mean or shape")
    horizon = scenario.simulation.horizon
    resolution = horizon * 2.0**-52 * 4   # the spacing of float64 times near the horizon, with margin
    for i, chaos in enumerate(scenario.chaos):
        if chaos.every is not None and chaos.every < resolution:
            problems.append(f"chaos[{i}].every: {chaos.every!r} h is below the clock's resolution at the horizon "
                            f"({resolution:.3g} h); injections would repeat at one instant")
    return problems


def estimate_work(scenario: Scenario, workers: int = 1, runs: int = 1) -> WorkEstimate:
    """Events, peak memory and seconds of the run ``scenario`` asks for (its engine, ``workers`` cores),
    repeated ``runs`` times (the points of a sweep: one at a time, so memory does not add up)."""
    sim = scenario.simulation
    engine = sim.engine
    events = _events_per_replication(scenario)
    replications = sim.replications_limit or 1
    parts = len(layout_of(scenario).clocks.part_modes) * scenario.nodes.count
    model_bytes = BYTES_PER_NODE[engine] * scenario.nodes.count + BYTES_PER_PART[engine] * parts
    per_replication = events / EVENTS_PER_SECOND[engine] + _serving_seconds(scenario)
    seconds = runs * per_replication * replications / max(1, workers)
    # no term for the log: both engines measure a replication as it runs (--events spills it to disk)
    return WorkEstimate(events, replications, model_bytes * max(1, workers), seconds)


REQUESTS_PER_SECOND = 1e5   # the request-level serving model in Python (either engine)
COMPILED_REQUESTS_PER_SECOND = 3e6  # the fast engine's compiled serving core (benchmarks/bench_serving.py)
HYBRID_SAMPLES = 3          # stationary samples a hybrid replication draws, at the least (a rough floor)


def _serving_seconds(scenario: Scenario) -> float:
    """Seconds the services take per replication: every request (``requests``), or a floor for the hybrid's
    samples (its windows depend on the failures drawn)."""
    if not scenario.inference:
        return 0.0
    rate = COMPILED_REQUESTS_PER_SECOND if serving_core(scenario) == "compiled" else REQUESTS_PER_SECOND
    if serving_technique(scenario) == "requests":
        return expected_requests(scenario) / rate
    return HYBRID_SAMPLES * scenario.simulation.serving_sample_requests * len(scenario.inference) / rate


def machine_memory_bytes() -> float:
    """Physical memory of this machine (inf where the system does not say)."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return math.inf


def _events_per_replication(scenario: Scenario) -> float:
    """Rows of the state-change log one replication writes, from rates × horizon × components."""
    horizon = scenario.simulation.horizon
    nodes = scenario.nodes
    per_node_rate = layout_of(scenario).clocks.mean_rate_per_node
    multiplier = max([1.0] + [nodes.lemon_multiplier(i) for i in range(len(nodes.failure_modes))])
    rate = per_node_rate * (nodes.count + nodes.lemon_count * (multiplier - 1))
    events = ROWS_PER_FAILURE * rate * horizon + 2.0 * nodes.count
    for instance in layout_of(scenario).domains:
        domain = scenario.failure_domains[instance.declaration]
        events += horizon / domain.time_to_failure.mean_hours * (3 + ROWS_PER_FAILURE * len(instance.members))
    for chaos in scenario.chaos:
        gap = chaos.every if chaos.every is not None else \
            chaos.between.mean_hours if chaos.between is not None else None
        injections = 1.0 if gap is None else max(0.0, horizon - chaos.at) / gap + 1
        targets = nodes.nodes_per_rack if chaos.action in ("kill_rack", "rack_partition") else chaos.flaps or 1
        events += injections * ROWS_PER_INJECTION * targets
    for job in scenario.training:
        segment = (job.checkpoint_interval or horizon) + job.checkpoint_hours
        events += ROWS_PER_SEGMENT * horizon / segment
    return events


def _failure_laws(scenario: Scenario) -> list[tuple[str, Distribution]]:
    """(key path, law) of every time to failure a clock draws."""
    laws: list[tuple[str, Distribution]] = [(f"nodes.failure_modes[{i}].time_to_failure", m.time_to_failure)
                                            for i, m in enumerate(scenario.nodes.failure_modes)]
    laws += [(f"failure_domains[{i}].time_to_failure", d.time_to_failure)
             for i, d in enumerate(scenario.failure_domains)]
    laws += [(f"chaos[{i}].between", c.between) for i, c in enumerate(scenario.chaos) if c.between is not None]
    return laws


def _draws_all_zero(law: Distribution) -> bool:
    """Does a fixed-seed sample of the law hold nothing but 0 h (a shape so small every draw underflows)?"""
    draw = law.sampler(np.random.default_rng(0))
    return all(draw() == 0.0 for _ in range(_PROBE_DRAWS))


def _readable_seconds(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "unbounded time"
    for unit, size in (("years", 365 * 86400.0), ("days", 86400.0), ("hours", 3600.0)):
        if seconds >= size:
            return f"~{seconds / size:,.3g} {unit}"
    return f"~{seconds:,.0f} s"

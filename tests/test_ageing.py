"""Load-dependent ageing (failure_modes.ages, idle_rate_factor) on both engines.

Hand-worked deterministic cases (a paused clock keeps its age, whatever its law), the analytic
wall time of a job whose failures strike only while it computes (C·(1 + λR), against Daly's
C·e^{λR} when they strike always), and SimPy against the fast kernel.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from clustersim.engine.fast.compile import compile_plan
from clustersim.engine.fast.engine import run_kernel
from clustersim.engine.simpy_engine import run_replication
from clustersim.model.records import Kind, RepairState
from clustersim.scenario import scenario_from_dict
from conftest import assert_within_ci, base_scenario, simulate


def _det(hours: float) -> dict:
    return {"dist": "deterministic", "value": f"{hours} h"}


def _mode(ages: str, ttf_h: float, idle_rate_factor: float | None = None, **extra) -> dict:
    mode = {"name": "fault", "time_to_failure": _det(ttf_h), "recovery": "reboot", "time_to_repair": _det(1),
            "ages": ages, **extra}
    if idle_rate_factor is not None:
        mode["idle_rate_factor"] = idle_rate_factor
    return mode


def _rack_outages(mode: dict) -> dict:
    """One node in a one-node job; its rack fails every 10 h of uptime for 10 h, so the job computes
    over [0, 10), [20, 30), [40, 50), ... and waits for its node in between."""
    return base_scenario(
        simulation={"horizon": "100 h", "replications": 1},
        nodes={"count": 1, "nodes_per_rack": 1, "failure_modes": [mode]},
        failure_domains=[{"kind": "rack", "time_to_failure": _det(10), "time_to_repair": _det(10)}],
        training=[{"name": "job", "nodes": 1, "checkpoint_mode": "continuous", "on_failure": "wait",
                   "restart_overhead": "0 h"}])


def _own_failures(raw: dict) -> tuple[list[float], list[float]]:
    """Times of the node's own failures (cause 0) on SimPy and on the fast kernel."""
    scenario = scenario_from_dict(raw, source="test")
    simpy_log = run_replication(scenario, 0).log
    fast_log = run_kernel(compile_plan(scenario), scenario.simulation.seed, 0, trace=True).trace
    assert fast_log is not None
    return [[float(row[0]) for row in log if row[1] == Kind.FAILURE and row[5] == 0]
            for log in (simpy_log, fast_log)]


@pytest.mark.parametrize("mode, failures", [
    # always: the clock runs through the rack outages: 25 h, then 25 h after the 1 h reboot
    (_mode("always", 25), [25.0, 51.0, 77.0]),
    # computing, never idle: 10 h + 10 h + 5 h of computing = 25 h at 45 h; back at 46, then
    # 4 + 10 + 10 = 24 h of computing by the horizon
    (_mode("computing", 25), [45.0]),
    # computing, half rate otherwise: 10 + 10/2 + 10 = 25 at 30 h; down to 40 (its reboot ends at 31,
    # the rack's outage at 40: 9 h at 1/2), then 10 + 5 + 5.5 = 25 at 65.5 h
    (_mode("computing", 25, 0.5), [30.0, 65.5]),
    # working: it keeps its position through the outages (on_failure = "wait"), so as always
    (_mode("working", 25), [25.0, 51.0, 77.0]),
])
def test_a_paused_clock_keeps_its_age(mode, failures):
    simpy_failures, fast_failures = _own_failures(_rack_outages(mode))
    assert simpy_failures == failures
    assert fast_failures == failures


@pytest.mark.parametrize("ttf", [
    _det(10),
    {"dist": "weibull", "shape": 2.0, "mean": "10 h"},
])
def test_an_idle_node_at_half_rate_fails_at_twice_the_wall_time(ttf):
    """A node that is only ever a hot spare (the one position waits for its own node), its mode ageing
    while working and at 1/2 while idle, reaches each lifetime (the same draws, reboot time 0) at
    exactly twice the wall time. (The fast kernel draws from one stream for all nodes, so the
    working node's draws interleave differently: its Weibull case is held to SimPy only.)"""
    def run(ages: str, factor: float | None) -> list[list[float]]:
        mode = {"name": "fault", "time_to_failure": ttf, "recovery": "reboot", "time_to_repair": _det(0),
                "ages": ages}
        if factor is not None:
            mode["idle_rate_factor"] = factor
        raw = base_scenario(simulation={"horizon": "100 h", "replications": 1},
                            nodes={"count": 2, "nodes_per_rack": 2, "failure_modes": [mode]}, spares={"hot": 1},
                            training=[{"name": "job", "nodes": 1, "on_failure": "wait", "restart_overhead": "0 h",
                                       "checkpoint_mode": "continuous"}])
        scenario = scenario_from_dict(raw, source="test")
        logs = (run_replication(scenario, 0).log,
                run_kernel(compile_plan(scenario), scenario.simulation.seed, 0, trace=True).trace)
        return [[float(row[0]) for row in log if row[1] == Kind.FAILURE and row[2] == 1] for log in logs]

    always, half = run("always", None), run("working", 0.5)
    for engine in range(2 if ttf["dist"] == "deterministic" else 1):
        assert len(always[engine]) > 3
        assert half[engine] == pytest.approx([2 * t for t in always[engine] if 2 * t < 100], rel=1e-12)
    if ttf["dist"] == "deterministic":
        assert half[0] == [20.0, 40.0, 60.0, 80.0]
    assert run("working", None) == [[], []]  # factor 0: an idle node never fails


def _restart_scenario(ages: str, engine: str, replications: int, ttf: dict | None = None) -> dict:
    """64 nodes, each failing after exponential 64 h (λ = 1 per job-hour), 200 h of continuous-checkpoint
    work, restart R = 0.5 h, ample hot spares joining at once, failures seen at once."""
    mode = {"name": "fault", "time_to_failure": ttf or {"dist": "exponential", "mean": "64 h"},
            "recovery": "reboot", "time_to_repair": _det(1), "ages": ages}
    return base_scenario(
        simulation={"horizon": "2000 h", "replications": replications, "seed": 11, "engine": engine},
        nodes={"count": 96, "nodes_per_rack": 8, "failure_modes": [mode]},
        spares={"hot": 32, "swap_time": "0 h"},
        training=[{"name": "job", "nodes": 64, "work": "200 h", "checkpoint_mode": "continuous",
                   "restart_overhead": "30 min"}])


@pytest.mark.parametrize("engine", ["simpy", "fast"])
def test_computing_ageing_gives_c_times_one_plus_lambda_r(engine):
    """Nothing fails during a restart: N ~ Poisson(λC) failures, each costing R: E[T] = C(1 + λR)."""
    replications = 40 if engine == "simpy" else 400
    estimates = simulate(_restart_scenario("computing", engine, replications))
    assert_within_ci(estimates["training.job.completion_hours"], 200 * (1 + 1.0 * 0.5), "C(1+λR)")
    assert_within_ci(estimates["training.job.interruptions"], 200 * 1.0, "λC interruptions")


def test_always_ageing_gives_c_times_e_to_the_lambda_r():
    """A failure during a restart restarts it (Daly's model, continuous checkpoints): E[T] = C·e^{λR}."""
    estimates = simulate(_restart_scenario("always", "fast", 400))
    assert_within_ci(estimates["training.job.completion_hours"], 200 * math.exp(1.0 * 0.5), "C·e^{λR}")


def test_engines_agree_on_a_weibull_mode_with_an_idle_rate():
    """A non-exponential computing-aged mode, ageing at 0.3 while idle: SimPy and the fast kernel agree."""
    weibull = {"dist": "weibull", "shape": 1.5, "mean": "64 h"}
    raw = _restart_scenario("computing", "simpy", 40, weibull)
    raw["nodes"]["failure_modes"][0]["idle_rate_factor"] = 0.3
    simpy = simulate(raw)
    raw["simulation"] = {**raw["simulation"], "engine": "fast", "replications": 400}
    fast = simulate(raw)
    for metric in ("training.job.completion_hours", "training.job.interruptions", "nodes.failures"):
        a, b = simpy[metric], fast[metric]
        assert a.half_width is not None and b.half_width is not None
        gap, tolerance = abs(a.mean - b.mean), 1.5 * math.hypot(a.half_width, b.half_width)
        print(f"{metric}: simpy {a.mean:.5g} ± {a.half_width:.3g}, fast {b.mean:.5g} ± {b.half_width:.3g}")
        assert gap <= tolerance, metric
    assert np.isfinite(fast["training.job.completion_hours"].mean)


def test_any_retirement_retires_by_either_rule_on_both_engines():
    """Three nodes, deterministic: node faults every 10 h (reboot 1 h). Score 100, -30 per blamed failure,
    +10 per 24 h up: the score rule (<= 20) retires a node at its 3rd failure (t = 32: 100 - 90 = 10),
    the threshold rule (2 in 15 h) at its 2nd (t = 21); "any" retires at the earlier of the two."""
    def retired_at(retirement: dict) -> list[list[float]]:
        mode = {"name": "fault", "time_to_failure": _det(10), "recovery": "reboot", "time_to_repair": _det(1)}
        raw = base_scenario(simulation={"horizon": "100 h", "replications": 1},
                            nodes={"count": 3, "nodes_per_rack": 3, "failure_modes": [mode]},
                            repair={"retirement": retirement})
        scenario = scenario_from_dict(raw, source="test")
        logs = (run_replication(scenario, 0).log,
                run_kernel(compile_plan(scenario), scenario.simulation.seed, 0, trace=True).trace)
        return [sorted(float(row[0]) for row in log if row[1] == Kind.REPAIR and row[4] == RepairState.RETIRED)
                for log in logs]

    assert retired_at({"policy": "scored", "threshold": 20}) == [[33.0] * 3] * 2
    assert retired_at({"policy": "threshold", "max_failures": 2, "window": "15 h"}) == [[22.0] * 3] * 2
    assert retired_at({"policy": "any", "max_failures": 2, "window": "15 h", "threshold": 20}) == [[22.0] * 3] * 2
    assert retired_at({"policy": "any", "max_failures": 3, "window": "50 h", "threshold": 50}) == [[22.0] * 3] * 2


def test_start_overhead_is_paid_once_before_the_first_computation():
    """10 h of work, a 2 h start (AIReSim's host selection at the start), a node failing after 6 h of
    computing (reboot 1 h, the job waits for its own node), restart 0.5 h: it starts over [0, 2),
    computes [2, 8), waits [8, 9), restarts [9, 9.5) and computes the 4 h left: done at 13.5 h."""
    mode = {"name": "fault", "time_to_failure": _det(6), "recovery": "reboot", "time_to_repair": _det(1),
            "ages": "computing"}
    raw = base_scenario(simulation={"horizon": "100 h", "replications": 1},
                        nodes={"count": 1, "nodes_per_rack": 1, "failure_modes": [mode]},
                        training=[{"name": "job", "nodes": 1, "work": "10 h", "checkpoint_mode": "continuous",
                                   "on_failure": "wait", "restart_overhead": "30 min", "start_overhead": "2 h"}])
    for engine in ("simpy", "fast"):
        estimates = simulate({**raw, "simulation": {**raw["simulation"], "engine": engine}})
        assert estimates["training.job.completion_hours"].mean == pytest.approx(13.5)
        assert estimates["training.job.interruptions"].mean == 1

"""Same scenario + seed -> identical numbers; replications independent of how many run."""
from __future__ import annotations

import numpy as np

from clustersim.model.records import Kind, RepairState
from clustersim.engine.simpy_engine import run_replication
from clustersim.runner import run_scenario
from clustersim.scenario import scenario_from_dict
from conftest import base_scenario


def busy_scenario(**changes) -> dict:
    raw = base_scenario(
        simulation={"horizon": "2000 h", "replications": 3, "seed": 42},
        nodes={"count": 24, "nodes_per_rack": 6, "failure_modes": [
            {"name": "gpu", "scope": "gpu", "time_to_failure": {"dist": "weibull", "shape": 0.8, "mean": "3000 h"},
             "time_to_repair": {"dist": "lognormal", "mean": "8 h", "cv": 0.5}},
            {"name": "host", "time_to_failure": {"dist": "exponential", "mean": "500 h"}, "recovery": "reboot",
             "time_to_repair": {"dist": "uniform", "low": "10 min", "high": "30 min"}},
        ]},
        repair={"crews": 2, "detection": "2 min"},
        spares={"hot": 2, "cold": 2},
        failure_domains=[{"kind": "rack", "time_to_failure": {"dist": "exponential", "mean": "1500 h"},
                          "time_to_repair": {"dist": "exponential", "mean": "5 h"}}],
        chaos=[{"action": "kill_node", "at": "100 h", "every": "300 h", "duration": "4 h"}],
    )
    raw.update(changes)
    return raw


def test_identical_reruns_are_bit_for_bit_equal():
    scenario = scenario_from_dict(busy_scenario())
    first, second = run_replication(scenario, 1), run_replication(scenario, 1)
    assert first.events > 100
    assert np.array_equal(first.log, second.log)
    a, b = run_scenario(scenario), run_scenario(scenario)
    assert a.rows == b.rows


def test_replication_k_does_not_depend_on_the_replication_count():
    few = run_scenario(scenario_from_dict(busy_scenario(
        simulation={"horizon": "2000 h", "replications": 2, "seed": 42})))
    many = run_scenario(scenario_from_dict(busy_scenario(
        simulation={"horizon": "2000 h", "replications": 5, "seed": 42})))
    assert many.rows[:2] == few.rows


def test_a_different_seed_gives_different_numbers():
    scenario = scenario_from_dict(busy_scenario())
    other = scenario_from_dict(busy_scenario(simulation={"horizon": "2000 h", "replications": 3, "seed": 43}))
    assert not np.array_equal(run_replication(scenario, 0).log, run_replication(other, 0).log)
    assert not np.array_equal(run_replication(scenario, 0).log, run_replication(scenario, 1).log)


def _own_failures(log: np.ndarray, node: int) -> np.ndarray:
    rows = log[(log[:, 1] == Kind.REPAIR) & (log[:, 2] == node) & (log[:, 4] == RepairState.FAILED)]
    return rows[:, [0, 5]]


def test_adding_a_component_does_not_shift_other_streams():
    """A node's own failures come from its own stream: adding a power domain leaves them alone."""
    plain = busy_scenario(repair={"detection": "2 min"})
    plain["failure_domains"] = []
    with_power = dict(plain, failure_domains=[{"kind": "power", "power_racks": 2,
                                               "time_to_failure": {"dist": "exponential", "mean": "300 h"},
                                               "time_to_repair": {"dist": "exponential", "mean": "5 h"}}])
    a = run_replication(scenario_from_dict(plain), 0).log
    b = run_replication(scenario_from_dict(with_power), 0).log
    assert len(_own_failures(a, 3)) > 0
    for node in (0, 3, 17):  # unlimited crews: a node's own failure times are its stream's alone
        assert np.array_equal(_own_failures(a, node), _own_failures(b, node))


def test_streams_depend_only_on_seed_replication_and_name():
    from clustersim.rng import Streams

    batch = Streams(2**40 + 3, 5).generators(["node/0", "node/1", "chaos/x"])
    alone = Streams(2**40 + 3, 5).generator("node/1")
    assert batch[1].bit_generator.state == alone.bit_generator.state
    assert batch[0].random() != batch[1].random()
    assert Streams(2**40 + 3, 6).generator("node/1").random() != Streams(2**40 + 3, 5).generator("node/1").random()

"""The fabric: templates, topology files, who is cut off, what it costs nodes and jobs — against formulas.

Availability truths hold per node when switches and links fail independently (alternating renewal, so
A = MTTF / (MTTF + MTTR) for each part): two-tier A_leaf · (1 − (1 − A_link·A_spine)^S) (DESIGN.md);
a k-ary fat-tree's climbing paths make a series/parallel system, edge · (aggregation uplinks) · (core
uplinks); a rail-optimized node needs every rail.
"""
from __future__ import annotations

import json

import pytest

from analytic_cases import AnalyticCase, Truth, check
from fast_cases import random_deterministic_scenario
from clustersim.model.records import Kind
from clustersim.scenario import scenario_from_dict
from clustersim.layout import fabric_of
from clustersim.topology import Reach
from conftest import base_scenario, simulate
from test_bad_inputs import FILE, assert_reported, run_cli
from test_fast_engine import assert_same_as_simpy


def _law(mttf: float, mttr: float) -> dict:
    return {"time_to_failure": {"dist": "exponential", "mean": f"{mttf} h"},
            "time_to_repair": {"dist": "exponential", "mean": f"{mttr} h"}}


def _fabric_case(nodes: int, per_rack: int, network: dict, horizon_h: float = 60000) -> dict:
    return base_scenario(simulation={"horizon": f"{horizon_h} h", "warmup": "500 h", "replications": 10, "seed": 5},
                         nodes={"count": nodes, "gpus_per_node": 4, "nodes_per_rack": per_rack, "failure_modes": []},
                         network=network)


def two_tier_case() -> AnalyticCase:
    """Leaves, spines and leaf–spine links failing: A_leaf · (1 − (1 − A_link·A_spine)^S)."""
    switch, link, spines = (1000.0, 50.0), (500.0, 50.0), 2
    a_switch, a_link = switch[0] / sum(switch), link[0] / sum(link)
    raw = _fabric_case(32, 8, {"topology": "two_tier", "spines": spines, "switch_failure": _law(*switch),
                               "link_failure": _law(*link)})
    available = a_switch * (1 - (1 - a_link * a_switch) ** spines)
    window = 60000 - 500
    return AnalyticCase(raw, [
        Truth("nodes.availability", available, "two-tier formula"),
        Truth("network.nodes_cut_off_mean", 32 * (1 - available), "nodes cut off"),
        Truth("network.switch_failures", (4 + spines) * window / sum(switch), "switch failures"),
        Truth("network.link_failures", 4 * spines * window / sum(link), "leaf-spine link failures"),
        Truth("nodes.failures", 0.0, "a cut-off node has not failed", exact=True),
    ])


def fat_tree_case() -> AnalyticCase:
    """k = 4: edge up, and some (edge–aggregation link, aggregation, some (aggregation–core link, core))."""
    switch, link, half = (1000.0, 100.0), (500.0, 100.0), 2
    a_switch, a_link = switch[0] / sum(switch), link[0] / sum(link)
    raw = _fabric_case(16, 2, {"topology": "fat_tree", "k": 4, "switch_failure": _law(*switch),
                               "link_failure": _law(*link)})
    core = 1 - (1 - a_link * a_switch) ** half
    return AnalyticCase(raw, [Truth("nodes.availability", a_switch * (1 - (1 - a_link * a_switch * core) ** half),
                                    "fat-tree series/parallel formula")])


def rail_case() -> AnalyticCase:
    """A node needs its host link and rail switch on each of its 4 GPU rails (spines never fail)."""
    rail, host = (2000.0, 50.0), (3000.0, 40.0)
    raw = _fabric_case(16, 4, {"topology": "rail_optimized", "spines": 2, "layer_failure": {"rail": _law(*rail)},
                               "host_link_failure": _law(*host)})
    per_rail = rail[0] / sum(rail) * host[0] / sum(host)
    return AnalyticCase(raw, [Truth("nodes.availability", per_rail ** 4, "every rail needed")])


@pytest.mark.parametrize("engine", ["simpy", "fast"])
@pytest.mark.parametrize("case", [two_tier_case, fat_tree_case, rail_case], ids=lambda c: c.__name__)
def test_fabric_availability_matches_its_formula(case, engine: str) -> None:
    check(case(), engine)


def test_both_engines_give_the_same_log_on_deterministic_fabrics() -> None:
    """Switches, links and host links failing on a grid, with jobs and spares: row for row the same log."""
    for seed in range(60):
        assert_same_as_simpy(random_deterministic_scenario(seed, jobs=seed % 2 == 0, network=True))


def test_the_leaf_timeline_is_the_same_on_the_fast_engine() -> None:
    metrics = assert_same_as_simpy(_one_failure_timeline(spares=4))
    assert metrics["network.node_hours_lost"] == pytest.approx(12 * 10)
    assert metrics["training.job.interruptions.network"] == 1.0


def test_layer_overrides_and_host_links_are_numbered() -> None:
    raw = _fabric_case(32, 8, {"topology": "two_tier", "spines": 2})
    fabric = fabric_of(scenario_from_dict(raw))
    assert fabric.switch_names[:4] == ("leaf/0", "leaf/1", "leaf/2", "leaf/3")
    assert fabric.switch_names[4:] == ("spine/0", "spine/1")
    assert len(fabric.links) == 8 and fabric.link_count == 8 + 32
    assert fabric.link_name(8) == "node0~leaf/0" and fabric.host_link_node(8 + 31) == 31


def test_fat_tree_has_the_textbook_shape() -> None:
    raw = _fabric_case(128, 8, {"topology": "fat_tree", "k": 16})
    fabric = fabric_of(scenario_from_dict(raw))
    layers = fabric.switch_layers
    assert (layers.count("edge"), layers.count("aggregation"), layers.count("core")) == (128, 128, 64)
    assert len(fabric.links) == 2 * 16 ** 3 // 4  # k^3/4 edge-aggregation and as many aggregation-core links
    assert max(fabric.height) == 2 and fabric.height[0] == 2


def test_reach_climbs_rather_than_detours() -> None:
    """Edge 0 with its uplink to aggregation 0 down reaches the core through aggregation 1; with both
    uplinks down it is cut off even though a detour through edge 1 exists (not a route)."""
    raw = _fabric_case(16, 2, {"topology": "fat_tree", "k": 4})
    fabric = fabric_of(scenario_from_dict(raw))
    reach = Reach(fabric)
    up_links = [i for i, (a, b) in enumerate(fabric.links) if a == 0]
    assert reach.set_link(up_links[0], False) == []
    assert reach.set_link(up_links[1], False) == [0, 1]
    assert reach.set_link(up_links[0], True) == [0, 1]


def _one_failure_timeline(spares: int) -> dict:
    """Every leaf fails at 100.5 h for 10 h (deterministic); rack 0 holds a 4-node job checkpointing hourly."""
    law = {"time_to_failure": {"dist": "deterministic", "value": "100.5 h"},
           "time_to_repair": {"dist": "deterministic", "value": "10 h"}}
    return base_scenario(
        simulation={"horizon": "150 h", "replications": 1, "seed": 1},
        nodes={"count": 8 + spares, "gpus_per_node": 1, "nodes_per_rack": 4, "failure_modes": []},
        spares={"hot": spares, "swap_time": "0 h"},
        repair={"detection": "0 h"},
        network={"topology": "two_tier", "spines": 1, "layer_failure": {"leaf": law}},
        training=[{"name": "job", "nodes": 4, "checkpoint_interval": "1 h", "checkpoint_cost": "0 h",
                   "restart_overhead": "0 h"}],
    )


def test_a_leaf_failure_interrupts_the_job_by_the_network_cause() -> None:
    """Both leaves fail at 100.5 h for 10 h: the 8 nodes are cut off (80 node-hours), the job is interrupted
    once, by the network, loses the half hour since its checkpoint at 100 h, waits, and checkpoints
    hourly again from 110.5 h: 100 + 39 hours kept of 150."""
    est = simulate(_one_failure_timeline(spares=0))
    assert est["network.switch_failures"].mean == 2.0           # leaf 0 and leaf 1, once each
    assert est["network.nodes_cut_off_mean"].mean == pytest.approx(8 * 10 / 150)
    assert est["network.node_hours_lost"].mean == pytest.approx(8 * 10)
    assert est["training.job.interruptions"].mean == 1.0
    assert est["training.job.interruptions.network"].mean == 1.0
    assert est["training.job.lost_work_hours"].mean == pytest.approx(0.5)
    assert est["nodes.failures"].mean == 0.0
    assert est["training.job.ettr"].mean == pytest.approx(139 / 150)


def test_a_cut_off_node_is_replaced_by_a_spare_elsewhere() -> None:
    """With hot spares in rack 2 (its leaf fails at the same instant), the spares are cut off too: the job waits
    for the fabric just as without spares."""
    assert simulate(_one_failure_timeline(spares=4))["training.job.ettr"].mean == pytest.approx(139 / 150)


def test_the_same_seed_gives_the_same_numbers() -> None:
    raw = two_tier_case().raw
    raw = dict(raw, simulation={**raw["simulation"], "horizon": "5000 h", "replications": 3})
    first, second = simulate(raw), simulate(raw)
    assert {k: v.mean for k, v in first.items()} == {k: v.mean for k, v in second.items()}


def test_cut_rows_pair_with_switch_rows() -> None:
    from clustersim.engine.simpy_engine import run_replication

    records = run_replication(scenario_from_dict(_one_failure_timeline(spares=0)), 0)
    cuts = records.log[records.log[:, 1] == Kind.CUT]
    assert len(cuts) == 16  # 8 nodes cut at 100.5 h, joined at 110.5 h
    assert set(cuts[:, 0].tolist()) == {100.5, 110.5}


TOPOLOGY = """\
top_layer = "spine"
[[switch]]
name = "leafA"
layer = "leaf"
[[switch]]
name = "leafB"
layer = "leaf"
[[switch]]
name = "spine1"
layer = "spine"
[[link]]
between = ["leafA", "spine1"]
[[link]]
between = ["leafB", "spine1"]
[[group]]
first = 0
count = 4
switches = ["leafA"]
[[group]]
first = 4
count = 4
switches = ["leafB"]
"""

SCENARIO = """\
name = "fabric"
[simulation]
horizon = "20000 h"
replications = 4
seed = 2
[nodes]
count = 8
nodes_per_rack = 4
[network]
topology = "file"
file = "fabric.toml"
[network.layer_failure.leaf]
time_to_failure = {dist = "exponential", mean = "900 h"}
time_to_repair = {dist = "exponential", mean = "100 h"}
"""


def test_a_topology_file_runs_and_the_resolved_scenario_carries_it(tmp_path, capsys) -> None:
    (tmp_path / "fabric.toml").write_text(TOPOLOGY)
    (tmp_path / FILE).write_text(SCENARIO)
    code, _, err = run_cli(["run", str(tmp_path / FILE), "--out", str(tmp_path / "out"), "--quiet"], capsys)
    assert code == 0, err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    availability = summary["metrics"]["nodes.availability"]
    assert availability["ci95_low"] - 0.02 < 0.9 < availability["ci95_high"] + 0.02
    resolved = (tmp_path / "out" / "scenario.resolved.toml").read_text()
    assert "leafA" in resolved and "fabric.toml" not in resolved
    (tmp_path / "fabric.toml").unlink()
    code, _, err = run_cli(["validate", str(tmp_path / "out" / "scenario.resolved.toml")], capsys)
    assert code == 0, err


BAD_FILES = {
    "a link names a missing switch": (TOPOLOGY.replace('["leafB", "spine1"]', '["leafB", "spine9"]'),
                                      "network.links[1].between", "no switch is named 'spine9'"),
    "a node in no group": (TOPOLOGY.replace("first = 4\ncount = 4", "first = 4\ncount = 3"),
                           "network.groups", "node 7 is linked to no switch"),
    "a group names a missing switch": (TOPOLOGY.replace('switches = ["leafB"]', 'switches = ["leafC"]'),
                                       "network.groups[1].switches", "no switch is named 'leafC'"),
    "a switch with no way up": (TOPOLOGY.replace('[[link]]\nbetween = ["leafB", "spine1"]\n', ""),
                                "network", "'leafB' (node 4's) has no path to the top layer"),
    "an unknown key in the file": ("switchs = 1\n" + TOPOLOGY, "network.file", "unknown key 'switchs'"),
    "not TOML": ("[[switch]\n", "network.file", "fabric.toml"),
}


@pytest.mark.parametrize("topology, key, reason", BAD_FILES.values(), ids=list(BAD_FILES))
def test_a_bad_topology_file_is_one_clear_error(topology: str, key: str, reason: str, tmp_path, capsys) -> None:
    (tmp_path / "fabric.toml").write_text(topology)
    (tmp_path / FILE).write_text(SCENARIO)
    code, out, err = run_cli(["validate", str(tmp_path / FILE)], capsys)
    assert code == 2, err
    assert_reported(err, key, reason)


BAD_SECTIONS = {
    "fat_tree without k": ('{topology = "fat_tree"}', "network.k", "missing required key"),
    "odd k": ('{topology = "fat_tree", k = 5}', "network.k", "radix is even"),
    "racks larger than an edge switch": ('{topology = "fat_tree", k = 2}', "network.k", "1 node port,"),
    "spines on a fat-tree": ('{topology = "fat_tree", k = 4, spines = 2}', "network.spines", "does not apply"),
    "an unknown layer": ('{topology = "two_tier", spines = 2, layer_failure = {core = '
                         '{time_to_failure = {dist = "exponential", mean = "9 h"}, '
                         'time_to_repair = {dist = "exponential", mean = "1 h"}}}}',
                         "network.layer_failure.core", "has no layer 'core'"),
    "an unknown topology": ('{topology = "torus", spines = 2}', "network.topology", "two_tier"),
    "a typo'd key": ('{topology = "two_tier", spine = 2}', "network.spine", "did you mean 'spines'"),
}


@pytest.mark.parametrize("network, key, reason", BAD_SECTIONS.values(), ids=list(BAD_SECTIONS))
def test_a_bad_network_section_is_one_clear_error(network: str, key: str, reason: str, tmp_path, capsys) -> None:
    body = SCENARIO.split("[network]")[0].replace('name = "fabric"\n', "")
    (tmp_path / FILE).write_text(f'name = "fabric"\nnetwork = {network}\n{body}')
    code, out, err = run_cli(["validate", str(tmp_path / FILE)], capsys)
    assert code == 2, err
    assert_reported(err, key, reason)


def test_the_fast_engine_runs_a_topology_file(tmp_path, capsys) -> None:
    (tmp_path / "fabric.toml").write_text(TOPOLOGY)
    (tmp_path / FILE).write_text(SCENARIO)
    code, out, err = run_cli(["run", str(tmp_path / FILE), "--engine", "fast", "--out", str(tmp_path / "o"),
                              "--quiet"], capsys)
    assert code == 0, err


def test_a_cut_off_rack_makes_its_storage_servers_unreachable() -> None:
    """Both leaves fail at 100.5 h for 10 h: the two storage servers (one per rack) are cut off with their racks,
    so no object can be read for those 10 of 150 hours; no data is lost (an unreachable server keeps it)."""
    raw = _one_failure_timeline(spares=0)
    never = {"dist": "deterministic", "value": "100000 h"}
    raw["storage"] = {"servers": 2, "replication": 1, "objects": 4, "placement": "random",
                      "time_to_failure": never, "time_to_repair": {"dist": "deterministic", "value": "1 h"}}
    est = simulate(raw)
    assert est["storage.read_availability"].mean == pytest.approx(140 / 150)
    assert est["storage.data_loss_events"].mean == 0.0

"""The chaos catalogue's node and fabric faults (gpu_fault, nic_down, link_flap, rack_partition) and the target
selectors (rack, role, layer), on tiny deterministic clusters worked by hand: exact downtimes, exact counts of
failure events, exactly which nodes are cut off, and one-line refusals of bad selectors."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chaos_cases import fabric_scenario, replication_metrics
from clustersim.engine.simpy_engine import run_replication
from clustersim.errors import ScenarioError
from clustersim.model.records import Kind
from clustersim.scenario import scenario_from_dict

T, KIND, COMP, FROM, TO, CAUSE = range(6)
UP, DOWN = 0, 1


def _xid_scenario(chaos: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """8 nodes in racks of 4 whose own failures never come within 100 h; an "xid" crash mode repaired by a crew in
    exactly 5 h, a "slow" gray mode; every failure detected after exactly 1 h."""
    modes = [{"name": "slow", "effect": "slow", "speed": 0.5,
              "time_to_failure": {"dist": "deterministic", "value": "100000 h"},
              "time_to_repair": {"dist": "deterministic", "value": "2 h"}},
             {"name": "xid", "time_to_failure": {"dist": "deterministic", "value": "100000 h"},
              "time_to_repair": {"dist": "deterministic", "value": "5 h"}},
             {"name": "ecc", "time_to_failure": {"dist": "deterministic", "value": "100000 h"},
              "time_to_repair": {"dist": "deterministic", "value": "3 h"}}]
    return {"name": "xid", "simulation": {"horizon": "100 h", "replications": 1, "seed": 1},
            "nodes": {"count": 8, "nodes_per_rack": 4, "failure_modes": modes},
            "repair": {"detection": "1 h", "straggler_detection": "1 h"}, "chaos": chaos, **extra}


_fabric_scenario, _metrics = fabric_scenario, replication_metrics


def _log(raw: dict[str, Any]) -> np.ndarray:
    return run_replication(scenario_from_dict(raw), 0).log


def _rows(log: np.ndarray, kind: Kind, to: int | None = None) -> np.ndarray:
    rows = log[log[:, KIND] == kind]
    return rows if to is None else rows[rows[:, TO] == to]


# --- gpu_fault ----------------------------------------------------------------------------------

def test_a_gpu_fault_is_repaired_as_its_mode_and_counted_under_the_injection() -> None:
    """Node 2 fails by xid at 10 h: detected at 11 h, repaired 11-16 h -> down 6 h of 800 node-hours; one failure,
    counted under the injection (not under xid)."""
    m = _metrics(_xid_scenario([{"name": "gpu", "action": "gpu_fault", "node": 2, "at": "10 h", "mode": "xid"}]))
    assert m["nodes.failures.gpu"] == 1.0 and m["nodes.failures.xid"] == 0.0 and m["nodes.failures"] == 1.0
    assert m["nodes.outage_mean_hours"] == pytest.approx(6.0, abs=1e-12)
    assert m["nodes.availability"] == pytest.approx(1 - 6 / 800, abs=1e-12)


def test_a_gpu_fault_defaults_to_the_first_crash_mode_and_its_repair_rows_name_the_mode() -> None:
    """No mode: the first with effect crash is xid (slow is gray): 1 h + 5 h down. mode = "ecc": 1 h + 3 h. The
    node's NODE-down row carries the injection's cause, its REPAIR rows the mode's."""
    default = _xid_scenario([{"name": "gpu", "action": "gpu_fault", "node": 5, "at": "20 h"}])
    assert _metrics(default)["nodes.outage_mean_hours"] == pytest.approx(6.0, abs=1e-12)
    ecc = _xid_scenario([{"name": "gpu", "action": "gpu_fault", "node": 5, "at": "20 h", "mode": "ecc"}])
    assert _metrics(ecc)["nodes.outage_mean_hours"] == pytest.approx(4.0, abs=1e-12)
    log = _log(ecc)
    gpu = scenario_from_dict(ecc).cause_names.index("gpu")
    assert _rows(log, Kind.NODE, DOWN)[:, [T, COMP, CAUSE]].tolist() == [[20.0, 5.0, float(gpu)]]
    assert set(_rows(log, Kind.REPAIR)[:, CAUSE].tolist()) == {2.0}  # ecc is mode 2


def test_repeated_gpu_faults_each_go_through_the_repair() -> None:
    """Every 20 h from 10 h: faults at 10, 30, 50, 70, 90 h, each down 6 h (the last cut by the horizon at 4 h)."""
    m = _metrics(_xid_scenario([{"name": "gpu", "action": "gpu_fault", "node": 0, "at": "10 h", "every": "20 h"}]))
    assert m["nodes.failures.gpu"] == 5.0
    assert m["nodes.availability"] == pytest.approx(1 - (4 * 6 + 6) / 800, abs=1e-12)


def test_a_gpu_fault_on_a_node_already_down_is_skipped() -> None:
    """Node 2 killed 5-15 h; the gpu_fault at 10 h finds it down and does nothing: 10 h down in all, no failure
    under the fault's name."""
    m = _metrics(_xid_scenario([{"name": "kill", "action": "kill_node", "node": 2, "at": "5 h", "duration": "10 h"},
                                {"name": "gpu", "action": "gpu_fault", "node": 2, "at": "10 h"}]))
    assert m["nodes.failures.gpu"] == 0.0 and m["nodes.failures.kill"] == 1.0
    assert m["nodes.availability"] == pytest.approx(1 - 10 / 800, abs=1e-12)


def test_a_gpu_fault_interrupts_a_job_under_the_injection_s_cause() -> None:
    raw = _xid_scenario([{"name": "gpu", "action": "gpu_fault", "node": 1, "at": "10 h"}],
                        training=[{"name": "job", "nodes": 4, "checkpoint_interval": "1 h", "checkpoint_cost": "1 min",
                                   "restart_overhead": "10 min"}])
    m = _metrics(raw)
    assert m["training.job.interruptions"] == 1.0 and m["training.job.interruptions.gpu"] == 1.0


def test_a_gpu_fault_by_a_slow_mode_is_a_straggler_first() -> None:
    """mode = "slow": the node runs at half speed 10-11 h (straggler detection), is taken out 11-13 h."""
    raw = _xid_scenario([{"name": "gpu", "action": "gpu_fault", "node": 3, "at": "10 h", "mode": "slow"}])
    log = _log(raw)
    assert _rows(log, Kind.SPEED)[:, [T, COMP, TO]].tolist() == [[10.0, 3.0, 0.5], [11.0, 3.0, 1.0]]
    assert _rows(log, Kind.NODE)[:, [T, TO]].tolist() == [[11.0, DOWN], [13.0, UP]]
    assert _metrics(raw)["nodes.failures.gpu"] == 1.0


# --- nic_down, link_flap, rack_partition -------------------------------------------------------------

def test_a_nic_down_cuts_exactly_its_node_off_for_its_duration() -> None:
    """Node 5's host link down 10-14 h: node 5 alone is cut off, for 4 h; one link failure; not a node failure."""
    raw = _fabric_scenario([{"name": "nic", "action": "nic_down", "node": 5, "at": "10 h", "duration": "4 h"}])
    m = _metrics(raw)
    assert m["network.node_hours_lost"] == pytest.approx(4.0, abs=1e-12)
    assert m["network.link_failures"] == 1.0 and m["nodes.failures"] == 0.0
    assert _rows(_log(raw), Kind.CUT)[:, [T, COMP, TO]].tolist() == [[10.0, 5.0, 1.0], [14.0, 5.0, 0.0]]


def test_a_nic_down_on_a_rail_optimized_node_takes_every_port() -> None:
    """Rails: a node has one host link per GPU (4): all four go down, the node is cut off 4 h once."""
    raw = _fabric_scenario([{"name": "nic", "action": "nic_down", "node": 9, "at": "10 h", "duration": "4 h"}],
                           topology="rail_optimized")
    m = _metrics(raw)
    assert m["network.link_failures"] == 4.0 and m["network.node_hours_lost"] == pytest.approx(4.0, abs=1e-12)
    links = _rows(_log(raw), Kind.LINK, DOWN)
    nic = scenario_from_dict(raw).cause_names.index("nic")
    assert set(links[:, CAUSE].tolist()) == {float(nic)}


def test_a_link_flap_of_three_times_ten_minutes() -> None:
    """leaf/0's only uplink (one spine) flaps 3 times, 10 min down, 20 min up, from 10 h: 3 link failures, 30 min
    of link downtime, rack 0's 8 nodes cut off 3 x 10 min = 4 node-hours."""
    raw = _fabric_scenario([{"name": "flap", "action": "link_flap", "link": "leaf/0~spine/0", "at": "10 h",
                             "duration": "10 min", "flaps": 3, "flap_gap": "20 min"}], spines=1)
    m = _metrics(raw)
    assert m["network.link_failures"] == 3.0
    assert m["network.node_hours_lost"] == pytest.approx(4.0, abs=1e-9)
    links = _rows(_log(raw), Kind.LINK)
    down, up = links[links[:, TO] == DOWN][:, T], links[links[:, TO] == UP][:, T]
    assert down.tolist() == pytest.approx([10.0, 10.5, 11.0]) and float((up - down).sum()) == pytest.approx(0.5)


def test_a_flapping_episode_repeats_every_period() -> None:
    """Episodes at 10, 34, 58, 82 h, 3 flaps each: 12 link failures."""
    raw = _fabric_scenario([{"action": "link_flap", "link": "leaf/0~spine/0", "at": "10 h", "every": "24 h",
                             "duration": "10 min", "flaps": 3, "flap_gap": "20 min"}])
    assert _metrics(raw)["network.link_failures"] == 12.0


def test_a_rack_partition_cuts_off_exactly_the_rack_and_its_storage_server() -> None:
    """Rack 1 (nodes 8-15, leaf/1) partitioned 10-15 h: leaf/1's two uplinks down, exactly its 8 nodes cut off
    (40 node-hours), and storage server 1 (in rack 1) unreachable for those 5 h."""
    raw = _fabric_scenario([{"name": "part", "action": "rack_partition", "rack": 1, "at": "10 h", "duration": "5 h"}])
    m = _metrics(raw)
    assert m["network.link_failures"] == 2.0 and m["network.node_hours_lost"] == pytest.approx(40.0, abs=1e-12)
    assert m["nodes.failures"] == 0.0
    log = _log(raw)
    cut = _rows(log, Kind.CUT, 1)
    assert sorted(cut[:, COMP].tolist()) == list(range(8, 16)) and set(cut[:, T].tolist()) == {10.0}
    servers = _rows(log, Kind.SERVER)
    assert servers[servers[:, T] < 50][:, [T, COMP, TO]].tolist() == [[10.0, 1.0, DOWN], [15.0, 1.0, UP]]


def test_a_rack_partition_through_rails_shared_with_another_rack_takes_the_rack_s_ports() -> None:
    """Rails of 16 nodes (two racks share rails/0.*): rack 1's rails also serve rack 0, so the partition takes
    rack 1's 8 x 4 host links instead of uplinks: still exactly its 8 nodes cut off."""
    raw = _fabric_scenario([{"action": "rack_partition", "rack": 1, "at": "10 h", "duration": "5 h"}],
                           topology="rail_optimized", group_size=16)
    m = _metrics(raw)
    assert m["network.link_failures"] == 32.0 and m["network.node_hours_lost"] == pytest.approx(40.0, abs=1e-12)
    assert sorted(_rows(_log(raw), Kind.CUT, 1)[:, COMP].tolist()) == list(range(8, 16))


def test_a_rack_partition_with_rails_of_its_own_takes_their_uplinks() -> None:
    """Rails of 8 (one group per rack): rack 1's 4 rails lose their 2 uplinks each: 8 link failures."""
    raw = _fabric_scenario([{"action": "rack_partition", "rack": 1, "at": "10 h", "duration": "5 h"}],
                           topology="rail_optimized")
    m = _metrics(raw)
    assert m["network.link_failures"] == 8.0 and m["network.node_hours_lost"] == pytest.approx(40.0, abs=1e-12)


# --- selectors -------------------------------------------------------------------------------------

def _roles_scenario(chaos: list[dict[str, Any]]) -> dict[str, Any]:
    """16 nodes in racks of 4: a training job on positions 0-7, positions 8-11 idle, hot spares 12-15; kills on
    the hour last 10 min, less than the 45 min detection, so no position ever changes hands: the roles stay put."""
    return {"name": "roles", "simulation": {"horizon": "200 h", "replications": 1, "seed": 4},
            "nodes": {"count": 16, "nodes_per_rack": 4, "failure_modes": []},
            "repair": {"detection": "45 min"}, "spares": {"hot": 4},
            "training": [{"name": "job", "nodes": 8, "checkpoint_interval": "1 h", "checkpoint_cost": "1 min",
                          "restart_overhead": "10 min"}],
            "chaos": [{"name": name, "action": "kill_node", "at": "1 h", "every": "1 h", "duration": "10 min", **pick}
                      for name, pick in chaos]}


def test_role_and_rack_selectors_only_ever_hit_nodes_of_that_role_or_rack() -> None:
    picks = [("training", {"role": "training"}), ("spare", {"role": "spare"}), ("working", {"role": "working"}),
             ("rack2", {"rack": 2}), ("served", {"role": "inference"})]
    raw = _roles_scenario(picks)
    log = _log(raw)
    names = scenario_from_dict(raw).cause_names
    struck = _rows(log, Kind.FAILURE)
    hit = {name: set(struck[struck[:, CAUSE] == names.index(name)][:, COMP].astype(int).tolist()) for name, _ in picks}
    assert hit["training"] == set(range(8)) and hit["spare"] == set(range(12, 16))
    assert hit["working"] == set(range(12)) and hit["rack2"] == set(range(8, 12))
    assert hit["served"] == set()  # no inference service: skipped every time
    assert len(struck[struck[:, CAUSE] == names.index("training")]) == 199


def test_the_inference_role_draws_only_a_service_s_replicas() -> None:
    """An inference service of 2 replicas takes positions 8 and 9 (after the job's 0-7): role = "inference" hits
    exactly those two nodes."""
    raw = _roles_scenario([("served", {"role": "inference"})])
    raw["inference"] = [{"name": "chat", "replicas": 2, "concurrency": 2, "timeout": "10 s",
                         "arrivals": {"process": "poisson", "rate": "1 /min"},
                         "service_time": {"dist": "exponential", "mean": "0.5 s"}}]
    struck = _rows(_log(raw), Kind.FAILURE)
    assert set(struck[:, COMP].astype(int).tolist()) == {8, 9} and len(struck) == 199


def test_a_bad_injection_of_an_experiment_is_refused_under_inject(tmp_path: Path) -> None:
    import tomli_w

    from clustersim.experiment import load_experiment

    (tmp_path / "s.toml").write_text(tomli_w.dumps(_fabric_scenario([])))
    (tmp_path / "e.toml").write_text(tomli_w.dumps({
        "experiment": {"scenario": "s.toml"},
        "hypothesis": [{"metric": "nodes.availability", "comparator": ">=", "threshold": 0.9}],
        "inject": [{"action": "kill_link", "layer": "rail", "at": "1 h", "duration": "1 h"}]}))
    with pytest.raises(ScenarioError) as err:
        load_experiment(tmp_path / "e.toml")
    assert str(err.value) == "e.toml: inject[0].layer: the fabric has no layer 'rail' (its layers: leaf, spine)"


def test_a_layer_selector_draws_switches_and_links_of_that_layer() -> None:
    """kill_switch layer = "spine" hits spine/0 and spine/1 only (switches 4, 5); kill_link layer = "spine" the
    8 leaf~spine links only (links 0-7; host links touch leaves); link_flap layer = "leaf" leaf links of both kinds."""
    raw = _fabric_scenario([{"name": "s", "action": "kill_switch", "layer": "spine", "at": "1 h", "every": "1 h",
                             "duration": "1 min"},
                            {"name": "l", "action": "kill_link", "layer": "spine", "at": "1 h", "every": "1 h",
                             "duration": "1 min"},
                            {"name": "f", "action": "link_flap", "layer": "leaf", "at": "1 h", "every": "1 h",
                             "duration": "1 min", "flaps": 1, "flap_gap": "1 min"}])
    log = _log(raw)
    names = scenario_from_dict(raw).cause_names
    switches, links = _rows(log, Kind.SWITCH, DOWN), _rows(log, Kind.LINK, DOWN)
    assert set(switches[:, COMP].tolist()) == {4.0, 5.0}
    assert set(links[links[:, CAUSE] == names.index("l")][:, COMP].tolist()) == set(range(8))
    flapped = links[links[:, CAUSE] == names.index("f")][:, COMP]
    assert (flapped < 8).any() and (flapped >= 8).any()


@pytest.mark.parametrize(("raw", "line"), [
    (_xid_scenario([{"action": "kill_node", "rack": 2, "at": "1 h", "duration": "1 h"}]),
     "chaos[0].rack: rack 2 does not exist (2 racks, first is 0)"),
    (_fabric_scenario([{"action": "kill_switch", "layer": "core", "at": "1 h", "duration": "1 h"}]),
     "chaos[0].layer: the fabric has no layer 'core' (its layers: leaf, spine)"),
    (_fabric_scenario([{"action": "kill_switch", "role": "spare", "at": "1 h", "duration": "1 h"}]),
     "chaos[0].role: kill_switch takes no 'role' (it narrows the random target of kill_node, slow_node, "
     "leak_memory, gpu_fault, nic_down)"),
    (_fabric_scenario([{"action": "nic_down", "layer": "leaf", "at": "1 h", "duration": "1 h"}]),
     "chaos[0].layer: nic_down takes no 'layer' (it narrows the random target of kill_switch, kill_link, "
     "link_flap)"),
    (_xid_scenario([{"action": "kill_node", "node": 3, "rack": 0, "at": "1 h", "duration": "1 h"}]),
     "chaos[0].rack: kill_node names its node (node = 3); rack only narrows a random one"),
    (_fabric_scenario([{"action": "rack_partition", "node": 3, "at": "1 h", "duration": "1 h"}]),
     "chaos[0].node: rack_partition takes 'rack', not 'node'"),
    (_xid_scenario([{"action": "gpu_fault", "at": "1 h", "duration": "1 h"}]),
     "chaos[0].duration: gpu_fault takes no duration (the node's repair decides how long it is down)"),
    (_xid_scenario([{"action": "kill_node", "at": "1 h"}]),
     "chaos[0].duration: missing required key (how long each kill_node injection lasts)"),
    (_xid_scenario([{"action": "gpu_fault", "mode": "nvlink", "at": "1 h"}]),
     "chaos[0].mode: no failure mode 'nvlink' in nodes.failure_modes (its modes: 'slow', 'xid', 'ecc')"),
    (_xid_scenario([{"action": "kill_node", "mode": "xid", "at": "1 h", "duration": "1 h"}]),
     'chaos[0].mode: applies to action = "gpu_fault" only'),
    (_fabric_scenario([{"action": "gpu_fault", "at": "1 h"}]),
     'chaos[0].mode: gpu_fault fails by a failure mode, and no mode of nodes.failure_modes has effect = "crash" '
     '(name one with mode)'),
    (_fabric_scenario([{"action": "link_flap", "at": "1 h", "duration": "1 h", "flap_gap": "1 h"}]),
     'chaos[0].flaps: missing required key (action = "link_flap" needs the number of flaps)'),
    (_fabric_scenario([{"action": "link_flap", "link": "leaf/9~spine/0", "at": "1 h", "duration": "1 h",
                        "flaps": 2, "flap_gap": "1 h"}]),
     "chaos[0].link: the fabric has no link 'leaf/9~spine/0'; did you mean 'leaf/3~spine/0'?"),
    (_xid_scenario([{"action": "nic_down", "node": 1, "at": "1 h", "duration": "1 h"}]),
     "chaos[0].action: nic_down needs a [network]"),
])
def test_a_bad_catalogue_entry_is_refused_in_one_line(raw: dict[str, Any], line: str) -> None:
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(raw, source="s.toml")
    assert f"s.toml: {line}" in str(err.value).splitlines()


def test_the_node_and_fabric_example_meets_its_hand_check() -> None:
    """scenarios/chaos/node_and_fabric.toml (3 replications): every injection lands under its own name, exactly as
    its comments work out."""
    from clustersim.chaos_run import run_experiment
    from clustersim.experiment import load_experiment

    path = Path(__file__).resolve().parents[1] / "scenarios" / "chaos" / "node_and_fabric.toml"
    experiment = load_experiment(path, ("simulation.replications=3",))
    assert {c.action for c in experiment.treatment.chaos} == {"gpu_fault", "nic_down", "link_flap",
                                                              "rack_partition", "kill_link", "kill_node"}
    outcome = run_experiment(experiment)
    control, treatment = (r.rows for r in outcome.comparison.results)
    for row, base in zip(treatment, control):
        assert row["nodes.failures.xid_node3"] == 1.0 and row["training.job.interruptions.xid_node3"] == 1.0
        assert row["nodes.failures.xid_training"] == 6.0 and row["nodes.failures.spare_kill"] == 1.0
        assert row["training.job.interruptions.network"] == 1.0
        assert row["network.link_failures"] - base["network.link_failures"] == 7.0
        assert row["network.node_hours_lost"] - base["network.node_hours_lost"] == pytest.approx(35.0, abs=1e-9)

"""Replicated storage ([storage], model/storage.py) against the analytic truths of DESIGN.md, placement
rules, bad input and determinism (fixed seeds, CI-derived tolerances)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import simpy

import analytic_cases as cases
from clustersim.layout import layout_of
from clustersim.model.base import Context
from clustersim.model.records import Kind
from clustersim.model.storage import StorageCluster, place_replicas
from clustersim.rng import Streams
from clustersim.scenario import scenario_from_dict
from conftest import base_scenario, simulate
from test_bad_inputs import BASE, FILE, TRAINING, assert_reported, run_cli
from test_repair_cases import run

T, KIND, COMP, FROM, TO, CAUSE = range(6)


def exp(hours: float) -> dict:
    return {"dist": "exponential", "mean": f"{hours} h"}


def storage(**keys) -> dict:
    spec = {"servers": 3, "replication": 3, "objects": 1, "placement": "random", "failure_loses_data": False,
            "rereplication": False, "time_to_failure": exp(100.0), "time_to_repair": exp(25.0)}
    spec.update(keys)
    return spec


# --- analytic truths ---------------------------------------------------------------------------

def k_out_of_n() -> cases.AnalyticCase:
    """One object on 3 servers that keep their data: reads need 1 of 3 up, writes (quorum 2) 2 of 3."""
    mttf, mttr = 100.0, 25.0
    a = mttf / (mttf + mttr)
    raw = base_scenario(simulation={"horizon": "40000 h", "warmup": "500 h", "replications": 10, "seed": 3},
                        storage=storage(write_quorum=2, time_to_failure=exp(mttf), time_to_repair=exp(mttr)))
    at_least = [sum(math.comb(3, i) * a**i * (1 - a) ** (3 - i) for i in range(k, 4)) for k in range(4)]
    return cases.AnalyticCase(raw, [
        cases.Truth("storage.read_availability", at_least[1], "reads: 1 − (1 − A)^3"),
        cases.Truth("storage.write_availability", at_least[2], "writes: Σ_{i=2..3} C(3,i) A^i (1−A)^(3−i)"),
        cases.Truth("storage.objects_under_replicated_mean", 1 - at_least[3], "short of 3 live: 1 − A^3"),
        cases.Truth("storage.data_loss_events", 0.0, "data kept: nothing lost", exact=True),
    ])


LAMBDA = 0.01  # failures per server-hour


def two_replicas(copy_time: dict, objects: int, servers: int, horizon_h: float, replications: int) -> dict:
    """``objects`` objects of 2 replicas on ``servers`` servers failing at LAMBDA (returning empty after an hour),
    re-copied at once with no copy limit: each object's replica count is a birth–death chain until it is lost."""
    return base_scenario(
        simulation={"horizon": f"{horizon_h} h", "replications": replications, "seed": 5},
        storage=storage(servers=servers, replication=2, objects=objects, failure_loses_data=True, rereplication=True,
                        rereplication_delay="0 s", max_concurrent_copies=1000, copy_time=copy_time,
                        time_to_failure=exp(1 / LAMBDA), time_to_repair=exp(1.0)))


def mttdl_exponential_copies() -> cases.AnalyticCase:
    """Copy rate μ: MTTDL = (3λ + μ) / (2λ²) (a target failing mid-copy restarts a memoryless copy)."""
    mu = 0.1
    truth = (3 * LAMBDA + mu) / (2 * LAMBDA**2)
    raw = two_replicas({"dist": "exponential", "mean": f"{1 / mu} h"}, 100, 40, 20 * truth, 30)
    return cases.AnalyticCase(raw, [cases.Truth("storage.mttdl_hours", truth, "MTTDL = (3λ + μ) / (2λ²)")])


def mttdl_deterministic(lam: float, d: float) -> float:
    """MTTDL of 2 replicas with a copy of exactly ``d`` hours, restarted when its target fails.

    From 2 live replicas the first loss comes after 1/(2λ) (T2 = 1/(2λ) + T1). With 1, each copy attempt
    ends after min(Exp(2λ), d): complete (p = e^{−2λd}) back to 2, the survivor fails (loss), or the target
    fails and a new attempt starts (each (1 − p)/2): T1 = E[min] + (1 − p)/2 · T1 + p · T2.
    (Ignoring target failures — a copy that only the survivor can stop — gives
    [1/(2λ) + (1 − e^{−λd})/λ] / (1 − e^{−λd}) instead, ~9 % more at λd = 0.5.)
    """
    p = math.exp(-2 * lam * d)
    attempt = (1 - p) / (2 * lam)
    stay = (1 - p) / 2
    # T2 = 1/(2λ) + (attempt + p T2) / (1 − stay)
    return (1 / (2 * lam) + attempt / (1 - stay)) / (1 - p / (1 - stay))


def mttdl_deterministic_copies() -> cases.AnalyticCase:
    d = 50.0
    truth = mttdl_deterministic(LAMBDA, d)
    raw = two_replicas({"dist": "deterministic", "value": f"{d} h"}, 200, 60, 25 * truth, 60)
    return cases.AnalyticCase(raw, [cases.Truth("storage.mttdl_hours", truth, f"MTTDL, copies of exactly {d} h")])


def test_k_out_of_n_read_and_write_availability():
    cases.check(k_out_of_n(), "simpy")


def test_mttdl_of_two_replicas_with_exponential_copies():
    cases.check(mttdl_exponential_copies(), "simpy")


def test_mttdl_of_two_replicas_with_deterministic_copies():
    cases.check(mttdl_deterministic_copies(), "simpy")


def test_mttdl_deterministic_formula_limits():
    """d → 0: the copy always wins, MTTDL → ∞; d → ∞: it never does, MTTDL → 1/(2λ) + 1/λ (the second loss
    races only the first: the survivor's failure, with restarts from its target's at the same rate)."""
    assert mttdl_deterministic(0.01, 1e-6) > 1e7
    assert mttdl_deterministic(0.01, 1e4) == pytest.approx(1 / (2 * 0.01) + 1 / (2 * 0.01) * 2, rel=1e-6)


def test_rereplication_mean_and_every_copy_completed_is_logged():
    raw = two_replicas({"dist": "deterministic", "value": "5 h"}, 20, 20, 2000.0, 2)
    metrics, log = run(raw)
    copied = log[log[:, KIND] == Kind.COPIED]
    assert len(copied) > 0
    assert (copied[:, TO] >= 5.0 - 1e-9).all()  # a copy takes 5 h; restarted ones longer
    assert metrics["storage.rereplication_hours"] == pytest.approx(copied[:, TO].mean())
    # every completed copy raises its object's live count
    replicas = log[log[:, KIND] == Kind.REPLICAS]
    ups = replicas[replicas[:, TO] > replicas[:, FROM]]
    assert len(ups) == len(copied)


# --- placement and racks -----------------------------------------------------------------------

def rack_store(placement: str, loses_data: bool) -> tuple[StorageCluster, list[tuple], simpy.Environment]:
    """A store of 3000 objects × 3 replicas on 12 servers in 4 racks, alone on an environment (nothing runs)."""
    raw = base_scenario(nodes={"count": 16, "nodes_per_rack": 4, "failure_modes": []},
                        storage=storage(servers=12, objects=3000, placement=placement,
                                        failure_loses_data=loses_data, rereplication=False))
    scenario = scenario_from_dict(raw)
    env = simpy.Environment()
    rows: list[tuple] = []
    return StorageCluster(Context(env, rows.append), scenario, Streams(1, 0)), rows, env


def test_servers_are_spread_round_robin_over_the_racks():
    raw = base_scenario(nodes={"count": 16, "nodes_per_rack": 4, "failure_modes": []}, storage=storage(servers=6))
    assert layout_of(scenario_from_dict(raw)).server_racks == (0, 1, 2, 3, 0, 1)


def test_rack_aware_placement_puts_every_replica_in_its_own_rack():
    for placement, apart in (("rack_aware", True), ("random", False)):
        store, _, _ = rack_store(placement, True)
        racks = np.array([[store.server_racks[s] for s in sorted(h)] for h in store.holders])
        distinct = np.array([len(set(row)) == 3 for row in racks.tolist()])
        assert distinct.all() == apart
        assert all(len(h) == 3 for h in store.holders)


def test_placement_draws_distinct_servers_uniformly():
    spec = scenario_from_dict(base_scenario(storage=storage(servers=5, objects=20000))).storage
    assert spec is not None
    placed = place_replicas(spec, (0,) * 5, np.random.default_rng(0))
    assert all(len(set(row)) == 3 for row in placed.tolist())
    counts = np.bincount(placed.ravel(), minlength=5)
    expected = 20000 * 3 / 5  # binomial spread: sd ≈ sqrt(n p (1 − p)) ≈ 49
    assert np.abs(counts - expected).max() < 5 * math.sqrt(20000 * 3 * (1 / 5) * (4 / 5))


@pytest.mark.parametrize("placement, survives", [("rack_aware", True), ("random", False)])
def test_one_rack_of_servers_lost_loses_data_only_without_rack_awareness(placement: str, survives: bool):
    """Every server of rack 0 fails at once and returns empty: rack-aware objects keep 2 replicas each;
    random placement had some objects wholly in that rack (seeded: 3000 objects, P = 1/220 each)."""
    store, rows, _ = rack_store(placement, True)
    for server in (0, 4, 8):
        store.fail(server)
    losses = [row for row in rows if row[KIND] == Kind.DATA_LOSS]
    assert (len(losses) == 0) == survives
    assert min(store.live) == (2 if survives else 0)
    assert store.readable  # for jobs a lost object no longer counts; the storage metrics count it for good


@pytest.mark.parametrize("placement, readable", [("rack_aware", True), ("random", False)])
def test_one_rack_held_down_keeps_data_but_random_placement_cannot_read(placement: str, readable: bool):
    store, rows, _ = rack_store(placement, True)
    for server in (0, 4, 8):
        store.hold(server, 0)
    assert store.readable == readable
    for server in (0, 4, 8):
        store.release(server)
    assert store.readable and min(store.live) == 3
    assert not [row for row in rows if row[KIND] == Kind.DATA_LOSS]  # holds never destroy data
    servers = [row for row in rows if row[KIND] == Kind.SERVER]
    assert [(row[COMP], row[FROM], row[TO], row[CAUSE]) for row in servers[:3]] == [
        (s, 0, 1, 0) for s in (0, 4, 8)]


def test_a_rack_domain_holds_its_servers_down_and_keeps_their_data():
    """Each rack's domain holds its servers (rack 0: servers 0 and 4) down with the domain's cause; data is
    kept; rack-aware objects are unreadable exactly while two racks are down at once."""
    raw = base_scenario(
        simulation={"horizon": "2000 h", "replications": 1, "seed": 2},
        nodes={"count": 16, "nodes_per_rack": 4, "failure_modes": []},
        failure_domains=[{"kind": "rack", "time_to_failure": exp(200.0), "time_to_repair": exp(10.0)}],
        storage=storage(servers=8, replication=2, objects=200, placement="rack_aware", failure_loses_data=True,
                        time_to_failure={"dist": "deterministic", "value": "1000000 h"}))
    metrics, log = run(raw)
    domains = log[(log[:, KIND] == Kind.DOMAIN) & (log[:, TO] == 1)]
    servers = log[(log[:, KIND] == Kind.SERVER) & (log[:, TO] == 1)]
    assert len(domains) > 0
    assert len(servers) == 2 * len(domains)
    assert set(servers[:, CAUSE].tolist()) == {0.0}  # the domain's cause code
    assert metrics["storage.data_loss_events"] == 0
    changes = log[log[:, KIND] == Kind.DOMAIN]
    changes = changes[(changes[:, FROM] == 0) | (changes[:, TO] == 0)]
    down = np.cumsum(np.where(changes[:, TO] == 0, -1, 1))
    spans = np.diff(np.append(changes[:, T], 2000.0))
    assert (down >= 2).any()
    assert metrics["storage.read_availability"] == pytest.approx(1 - spans[down >= 2].sum() / 2000.0)


def test_rereplication_after_a_server_stays_down_and_the_surplus_replica_is_dropped():
    """failure_loses_data = false: a server down longer than rereplication_delay is out; its objects are copied
    elsewhere, and when it returns their replicas on it are surplus (live stays at replication)."""
    raw = base_scenario(nodes={"count": 16, "nodes_per_rack": 4, "failure_modes": []},
                        storage=storage(servers=12, objects=30, placement="rack_aware", rereplication=True,
                                        rereplication_delay="1 h", copy_time={"dist": "deterministic", "value": "2 h"},
                                        time_to_failure=exp(1e9)))
    scenario = scenario_from_dict(raw)
    env = simpy.Environment()
    rows: list[tuple] = []
    store = StorageCluster(Context(env, rows.append), scenario, Streams(1, 0))
    held = sorted(store.objects_on[0])
    env.timeout(0.5).callbacks.append(lambda _: store.hold(0, 0))
    env.timeout(10.0).callbacks.append(lambda _: store.release(0))
    env.run(until=20.0)
    copied = [row for row in rows if row[KIND] == Kind.COPIED]
    assert sorted(row[COMP] for row in copied) == held
    assert all(row[TO] == pytest.approx(3.0) for row in copied)  # out at 1.5 (down since 0.5), copied by 3.5
    assert min(store.live) == 3 and max(store.live) == 3
    assert not store.objects_on[0]  # every replica it brought back was surplus
    assert all(len(h) == 3 for h in store.holders)
    racks = [{store.server_racks[s] for s in h} for h in store.holders]
    assert all(len(r) == 3 for r in racks)


def test_a_server_back_before_its_copy_starts_cancels_it():
    raw = base_scenario(storage=storage(servers=4, objects=10, rereplication=True, rereplication_delay="1 h",
                                        time_to_failure=exp(1e9)))
    env = simpy.Environment()
    rows: list[tuple] = []
    store = StorageCluster(Context(env, rows.append), scenario_from_dict(raw), Streams(1, 0))
    env.timeout(0.5).callbacks.append(lambda _: store.hold(1, 0))
    env.timeout(1.0).callbacks.append(lambda _: store.release(1))   # before the delay: never out
    env.timeout(2.0).callbacks.append(lambda _: store.hold(1, 0))
    env.timeout(3.5).callbacks.append(lambda _: store.release(1))   # out at 3.0, back before any copy completes
    env.run(until=20.0)
    assert store.live == [3] * 10
    assert sum(len(h) for h in store.holders) == 30


# --- bad input, determinism, the fast engine ---------------------------------------------------

STORAGE = """
[storage]
servers = 4
replication = 2
placement = "random"
time_to_failure = {dist = "exponential", afr = 0.015}
time_to_repair = {dist = "exponential", mean = "24 h"}
"""

BAD = {
    "typo in a storage key": (BASE + STORAGE.replace("placement", "placment"), "storage.placment",
                              "did you mean 'placement'?"),
    "write quorum above replication": (BASE + STORAGE + "write_quorum = 3\n", "storage.write_quorum",
                                       "3 is more than replication = 2"),
    "rack_aware with too few racks": (BASE + STORAGE.replace('"random"', '"rack_aware"').replace(
        "replication = 2", "replication = 3"), "storage.replication", 'need as many racks with servers'),
    "store rule without [storage]": (BASE + TRAINING + 'checkpoint_on_store_down = "block"\n',
                                     "training[0].checkpoint_on_store_down", "applies with [storage] only"),
    "checkpoint size alone without [storage]": (
        BASE + TRAINING.replace('checkpoint_cost = "2 min"', 'checkpoint_size = "2 TB"'),
        "training[0].checkpoint_cost", "or checkpoint_size with [storage]"),
}


@pytest.mark.parametrize("name", sorted(BAD))
@pytest.mark.parametrize("command", ["validate", "run"])
def test_bad_storage_input_exits_2_naming_file_and_key(name: str, command: str, tmp_path, capsys):
    text, key, reason = BAD[name]
    path = tmp_path / FILE
    path.write_text(text)
    argv = [command, str(path)] + (["--out", str(tmp_path / "out"), "--quiet"] if command == "run" else [])
    code, out, err = run_cli(argv, capsys)
    assert code == 2, err
    assert_reported(err, key, reason)
    assert len(err.splitlines()) == 1, err


def test_a_storage_scenario_with_a_sized_checkpoint_is_valid(tmp_path, capsys):
    path = tmp_path / FILE
    path.write_text(BASE + STORAGE + TRAINING.replace('checkpoint_cost = "2 min"', 'checkpoint_size = "2 TB"'))
    code, out, err = run_cli(["validate", str(path)], capsys)
    assert (code, err) == (0, ""), err


def test_same_seed_same_metrics():
    raw = two_replicas({"dist": "lognormal", "mean": "3 h", "cv": 0.5}, 50, 10, 3000.0, 3)
    raw["storage"].update(max_concurrent_copies=2, rereplication_delay="10 min", placement="rack_aware")
    raw["nodes"] = {"count": 16, "nodes_per_rack": 4, "failure_modes": []}
    first, second = simulate(raw), simulate(raw)
    assert {k: v.mean for k, v in first.items()} == {k: v.mean for k, v in second.items()}
    assert first["storage.data_loss_events"].mean > 0
    other = simulate({**raw, "simulation": {**raw["simulation"], "seed": 6}})
    assert other["storage.mttdl_hours"].mean != first["storage.mttdl_hours"].mean


def test_metrics_do_not_depend_on_chunking():
    from clustersim.measures import measure_log

    raw = two_replicas({"dist": "exponential", "mean": "3 h"}, 50, 10, 3000.0, 1)
    raw["simulation"]["warmup"] = "200 h"
    scenario = scenario_from_dict(raw)
    _, log = run(raw)
    whole = measure_log(scenario, log, chunk_rows=len(log) + 1)
    assert measure_log(scenario, log, chunk_rows=7) == whole
    assert {k for k in whole if k.startswith("storage.")} >= {
        "storage.read_availability", "storage.write_availability", "storage.data_loss_events",
        "storage.rereplication_hours", "storage.objects_under_replicated_mean", "storage.mttdl_hours"}

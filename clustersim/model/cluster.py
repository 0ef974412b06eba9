"""The whole infrastructure model: builds nodes, slots, pool, crews, domains and chaos on one env.

Numbering (roles, racks, domain instances, positions, causes) comes from ``clustersim.layout``.
Workloads are not built here: a training job attaches itself to its working positions as their
listener (``model.spares.PositionListener``) after the cluster is built.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from clustersim.model.records import Kind, RepairState
from clustersim.model.base import Context, Failure
from clustersim.model.clocks import ClockPlan
from clustersim.layout import fabric_of, layout_of
from clustersim.model.domains import ChaosReach, chaos_life, domain_life
from clustersim.model.load import make_lemon
from clustersim.model.network import NetworkModel
from clustersim.model.nodes import Crews, Node, NodeHolds, node_life
from clustersim.model.policies import build_policies
from clustersim.model.repair import RepairShop
from clustersim.model.replay import replay_life, replay_strikes
from clustersim.model.spares import FILLED, Slot, SparePool, slot_life
from clustersim.model.storage import StorageCluster
from clustersim.rng import Streams
from clustersim.scenario.schema import Scenario
from clustersim.scenario.sections.chaos import SERVING_ACTIONS

LEMON, SPEED = Kind.LEMON.value, Kind.SPEED.value
R_OK = RepairState.OK.value


class Cluster:
    """Wires every component of a scenario into a SimPy environment; run it with ``env.run``."""

    def __init__(self, ctx: Context, scenario: Scenario, streams: Streams,
                 chaos_aborted: Callable[[], bool] = lambda: False):
        """``chaos_aborted``: has an [[abort]] condition stopped the chaos injections?"""
        self.ctx = ctx
        self.chaos_aborted = chaos_aborted
        self.scenario = scenario
        env = ctx.env
        self.layout = layout = layout_of(scenario)
        spares = scenario.spares
        roles = layout.node_roles
        rngs = streams.generators([f"node/{i}" for i in range(len(roles))])
        self.nodes = [
            Node(i, i // scenario.nodes.nodes_per_rack, role, rng, env.event() if role == "cold" else None)
            for i, (role, rng) in enumerate(zip(roles, rngs))
        ]
        self.racks = [self.nodes[rack.start : rack.stop] for rack in layout.racks]
        self._mark_lemons(streams)
        self.scorer, retirement, selection = build_policies(scenario, streams.generator("pool/selection"))
        if self.scorer is not None:
            for node in self.nodes:
                self.scorer.start(node)
        join_hours = {"warm": spares.standby_swap_time, "hot": spares.swap_time, "cold": spares.provisioning}
        hot, cold = [n for n in self.nodes if n.role == "hot"], [n for n in self.nodes if n.role == "cold"]
        self.pool = SparePool(ctx, hot, cold, spares.warm, join_hours, spares.swap_time, selection,
                              scenario.preemption_cause, spares.cold_provisioning == "serial")
        self.holds = NodeHolds(ctx, self._on_node_down, self._on_node_up)
        crew_pools = [Crews(ctx, scenario.repair.crews, 0)]
        crew_pools += [Crews(ctx, stage.crews, 1 + s) for s, stage in enumerate(scenario.repair.stages)]
        self.shop = RepairShop(ctx, scenario, self.holds, crew_pools, retirement, self.scorer, self._pick_innocent,
                               self.set_speed, self._on_node_retired)
        self.slots = [Slot(position, self.nodes[position.index]) for position in layout.positions]
        self.pool.slots = self.slots
        self.pool.ranked = layout.ranked
        self.storage = StorageCluster(ctx, scenario, streams) if scenario.storage is not None else None
        # Start order decides how events at the same instant tie (SimPy runs them in the order
        # they were scheduled): domains and chaos schedule their first failures before the nodes.
        # [replay] mode = "alone": only the log's incidents (and [[chaos]]) happen, no modelled failure.
        modelled = scenario.modelled_failures
        if modelled:
            self._start_domains(streams)
        self._start_chaos(streams)
        self._start_replay()
        if modelled:
            self._start_nodes()
        self._start_slots()
        self.network = self._start_network(streams, modelled)
        if self.storage is not None and modelled:
            self.storage.start()
        regeneration = scenario.nodes.lemon_regeneration
        if regeneration is not None:
            env.process(self._regenerate_lemons(regeneration.period, regeneration.fraction,
                                                streams.generator("lemons/regeneration")))

    def set_speed(self, node: Node, speed: float) -> None:
        """A node's speed changes (gray failures): log it and tell the job it runs in."""
        if speed == node.speed:
            return
        self.ctx.record((self.ctx.env.now, SPEED, node.index, node.speed, speed, -1))
        node.speed = speed
        slot = node.slot
        if slot is not None and slot.node is node:
            slot.node_speed_changed()

    def _mark_lemons(self, streams: Streams) -> None:
        """Draw this replication's lemons (stream "lemons") and log them at time 0."""
        count = self.scenario.nodes.lemon_count
        if count == 0:
            return
        chosen = streams.generator("lemons").choice(len(self.nodes), size=count, replace=False)
        for index in sorted(int(i) for i in chosen):
            self.nodes[index].lemon = True
            self.ctx.record((0.0, LEMON, index, 0, 1, -1))

    def _regenerate_lemons(self, period_hours: float, fraction: float, rng: np.random.Generator):
        """SimPy process: every period, max(1, floor(healthy × fraction)) of the healthy nodes (not lemon, not
        retired), drawn uniformly, turn lemon (AIReSim's bad-server regeneration), logged as LEMON 0 -> 1."""
        env = self.ctx.env
        while True:
            yield env.timeout(period_hours)
            healthy = [node for node in self.nodes if not node.lemon and node.role != "retired"]
            if not healthy:
                continue
            count = min(len(healthy), max(1, math.floor(len(healthy) * fraction)))
            for i in sorted(rng.choice(len(healthy), size=count, replace=False).tolist()):
                node = healthy[i]
                self.ctx.record((env.now, LEMON, node.index, 0, 1, -1))
                make_lemon(node, env.now)

    def _start_nodes(self) -> None:
        env, nodes_spec = self.ctx.env, self.scenario.nodes
        multipliers = [nodes_spec.lemon_multiplier(m) for m in range(len(nodes_spec.failure_modes))]
        plan = ClockPlan(nodes_spec.failure_modes, self.layout.clocks, multipliers)
        if not plan.modes:
            return
        for node in self.nodes:
            node.process = env.process(node_life(self.ctx, node, plan, self.shop))

    def _start_slots(self) -> None:
        """A position needs a process when something can refill it, or a job listens to it; without
        either it simply mirrors its node."""
        detection_hours = self.scenario.repair.detection
        for slot, position in zip(self.slots, self.layout.positions):
            if position.watched:
                slot.process = self.ctx.env.process(slot_life(self.ctx, slot, self.pool, detection_hours))

    def _start_domains(self, streams: Streams) -> None:
        instances = self.layout.domains
        rngs = streams.generators([f"domain/{instance.name}" for instance in instances])
        for index, (instance, rng) in enumerate(zip(instances, rngs)):
            domain = self.scenario.failure_domains[instance.declaration]
            members = [self.nodes[i] for i in instance.members]
            racks = {node.rack for node in members}
            servers = [s for s, rack in enumerate(self.layout.server_racks) if rack in racks]
            self.ctx.env.process(domain_life(self.ctx, index, domain, members, instance.cause, self.holds,
                                             self.scenario.repair.detection, rng, servers, self.storage))

    def _start_network(self, streams: Streams, failing: bool) -> NetworkModel | None:
        """The fabric's switches and links, when the scenario has a [network]; ``failing``: their own failure
        laws run (else only injections and replayed incidents take parts down)."""
        if self.scenario.network is None:
            return None
        network = NetworkModel(self.ctx, self.scenario, fabric_of(self.scenario), self.nodes, self.holds,
                               self.layout.server_racks, self.storage)
        if failing:
            network.start(self.scenario, streams)
        return network

    def _start_chaos(self, streams: Streams) -> None:
        scenario = self.scenario
        reach = self._reach()
        for chaos, name, cause in zip(scenario.chaos, scenario.chaos_names, self.layout.chaos_causes):
            if chaos.action in SERVING_ACTIONS:
                continue  # a service's fault: the serving model runs it (workloads.inference.injections)
            rng = streams.generator(f"chaos/{name}")
            self.ctx.env.process(chaos_life(self.ctx, chaos, cause, self.nodes, self.racks, self.holds, rng,
                                            self.set_speed, scenario.repair.straggler_detection or 0.0, reach,
                                            chaos.gaps(streams.generator(f"chaos/{name}/times")),
                                            self.chaos_aborted))

    def _reach(self) -> ChaosReach:
        """What injections and replayed incidents reach besides the nodes (the network is built after them)."""
        scenario = self.scenario
        servers = scenario.storage.servers if scenario.storage is not None else 0
        return ChaosReach(lambda: self.network, self.storage, servers, self.layout.positions,
                          tuple(scenario.nodes.failure_modes))

    def _start_replay(self) -> None:
        """The replayed log's incidents, when the scenario has a [replay]."""
        scenario = self.scenario
        if scenario.replay is None:
            return
        fabric = fabric_of(scenario) if scenario.network is not None else None
        strikes = replay_strikes(scenario, fabric, self.layout.server_racks)
        if strikes:
            self.ctx.env.process(replay_life(self.ctx, strikes, self.nodes, self.holds, self._reach()))

    def _on_node_down(self, node: Node, failure: Failure) -> None:
        if self.scorer is not None:
            self.scorer.went_down(node, self.ctx.env.now)
        slot = node.slot
        if slot is not None and slot.attached and slot.process is not None:
            slot.attached = False
            slot.process.interrupt(failure)
        elif node.role in ("warm", "hot", "cold"):
            self.pool.remove(node)

    def _on_node_up(self, node: Node) -> None:
        if self.scorer is not None:
            self.scorer.came_up(node, self.ctx.env.now)
        if node.role == "loose":
            node.role = "hot"
        if node.role in ("hot", "cold"):
            self.pool.add(node)
        elif node.slot is not None and node.slot.node_back is not None:
            node.slot.node_back.succeed()  # a position that waits for its own node's repair

    def _on_node_retired(self, node: Node) -> None:
        if node.slot is not None and node.slot.node_back is not None:
            node.slot.node_back.succeed()  # it will not come back: the position takes a spare

    def _pick_innocent(self, faulty: Node) -> Node | None:
        """A node wrongly blamed for ``faulty``'s failure: another up node in service in a working
        position of the same group (the faulty node's job, if it runs one; else any), drawn from the
        faulty node's stream; None when there is none."""
        job = self.layout.positions[faulty.slot.index].job if faulty.slot is not None else -1
        group = self.layout.job_positions[job] if job >= 0 else range(len(self.slots))
        candidates = [slot.node for slot in (self.slots[i] for i in group)
                      if slot.state == FILLED and slot.node is not faulty and slot.node.slot is slot
                      and slot.node.up and slot.node.repair_state == R_OK and not slot.node.blame_pending
                      and slot.node.clocks is not None]   # operating (a cold spare only once provisioned)
        if not candidates:
            return None
        return candidates[int(faulty.rng.integers(len(candidates)))]


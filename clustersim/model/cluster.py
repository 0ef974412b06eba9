"""The whole infrastructure model: builds nodes, slots, pool, crews, domains and chaos on one env."""
from __future__ import annotations

from clustersim.model.base import Context, Failure
from clustersim.model.clocks import ClockPlan
from clustersim.model.domains import chaos_life, domain_life, domain_members
from clustersim.model.nodes import Crews, Node, NodeHolds, node_life
from clustersim.model.spares import Slot, SparePool, slot_life
from clustersim.rng import Streams
from clustersim.scenario.schema import Scenario


class Cluster:
    """Wires every component of a scenario into a SimPy environment; run it with ``env.run``."""

    def __init__(self, ctx: Context, scenario: Scenario, streams: Streams):
        self.ctx = ctx
        self.scenario = scenario
        env = ctx.env
        nodes_spec, spares = scenario.nodes, scenario.spares
        working = scenario.working_nodes
        roles = ["work"] * working + ["hot"] * spares.hot + ["cold"] * spares.cold
        rngs = streams.generators([f"node/{i}" for i in range(len(roles))])
        self.nodes = [
            Node(i, i // nodes_spec.nodes_per_rack, role, rng, env.event() if role == "cold" else None)
            for i, (role, rng) in enumerate(zip(roles, rngs))
        ]
        self.racks = [self.nodes[r : r + nodes_spec.nodes_per_rack] for r in range(0, len(self.nodes), nodes_spec.nodes_per_rack)]
        self.pool = SparePool(ctx, [n for n in self.nodes if n.role == "hot"], [n for n in self.nodes if n.role == "cold"])
        self.holds = NodeHolds(ctx, self._on_node_down, self._on_node_up)
        self.crews = Crews(ctx, scenario.repair.crews)
        # Start order decides how events at the same instant tie (SimPy runs them in the order
        # they were scheduled): domains and chaos schedule their first failures before the nodes.
        self._start_domains(streams)
        self._start_chaos(streams)
        self._start_nodes()
        self._start_slots(working)

    def _start_nodes(self) -> None:
        env, detection = self.ctx.env, self.scenario.repair.detection
        plan = ClockPlan(self.scenario.nodes.failure_modes, self.scenario.nodes.gpus_per_node)
        if not plan.modes:
            return
        for node in self.nodes:
            env.process(node_life(self.ctx, node, plan, self.holds, self.crews, detection))

    def _start_slots(self, working: int) -> None:
        spares, env = self.scenario.spares, self.ctx.env
        self.slots = [Slot(i, self.nodes[i]) for i in range(working)]
        if spares.hot + spares.cold == 0:
            return  # nothing can refill a slot: slots would only mirror their nodes
        for slot in self.slots:
            slot.process = env.process(
                slot_life(self.ctx, slot, self.pool, self.scenario.repair.detection, spares.swap_time, spares.provisioning)
            )

    def _start_domains(self, streams: Streams) -> None:
        first_cause = len(self.scenario.nodes.failure_modes)
        instances = [
            (d, domain, members, f"domain/{domain.label}/{k}")
            for d, domain in enumerate(self.scenario.failure_domains)
            for k, members in enumerate(domain_members(domain, self.racks))
        ]
        rngs = streams.generators([name for *_, name in instances])
        for index, ((d, domain, members, _), rng) in enumerate(zip(instances, rngs)):
            self.ctx.env.process(
                domain_life(self.ctx, index, domain, members, first_cause + d, self.holds,
                            self.scenario.repair.detection, rng)
            )

    def _start_chaos(self, streams: Streams) -> None:
        scenario = self.scenario
        first_cause = len(scenario.nodes.failure_modes) + len(scenario.failure_domains)
        for i, (chaos, name) in enumerate(zip(scenario.chaos, scenario.chaos_names)):
            rng = streams.generator(f"chaos/{name}")
            self.ctx.env.process(chaos_life(self.ctx, chaos, first_cause + i, self.nodes, self.racks, self.holds, rng))

    def _on_node_down(self, node: Node, failure: Failure) -> None:
        slot = node.slot
        if slot is not None and slot.attached and slot.process is not None:
            slot.attached = False
            slot.process.interrupt(failure)
        elif node.role in ("hot", "cold"):
            self.pool.remove(node)

    def _on_node_up(self, node: Node) -> None:
        if node.role == "loose":
            node.role = "hot"
        if node.role in ("hot", "cold"):
            self.pool.add(node)


def domain_instance_names(scenario: Scenario) -> list[str]:
    """``rack/0``, ``power/1``... : one name per domain instance, numbered as the model numbers them."""
    racks = scenario.nodes.racks
    names = []
    for domain in scenario.failure_domains:
        count = {"rack": racks, "power": -(-racks // (domain.power_racks or 1)), "cluster": 1}[domain.kind]
        names += [f"{domain.label}/{k}" for k in range(count)]
    return names

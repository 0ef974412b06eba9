"""[network] -> the fabric as a networkx graph, and the integer numbering both engines index.

``build_fabric`` (once per scenario through ``layout.fabric_of``; the scenario's checks call it too)
builds the graph — switches (named ``<layer>/<i>``, or as a topology file names them), switch-to-switch
links, and for every node the switches it is linked to
(its leaf or edge switch; with rails, one rail switch per GPU index) — checks it (every node has
switches, every switch of a node reaches the top layer when nothing has failed), and numbers it:
switches, then links (switch-to-switch first, then each node's host links in node order).

Who is cut off follows from one rule, the contract's: a node is in service only if, for each of its
switches, its host link is up and that switch has a path over live switches and links to a live
switch of the top layer (spine, core, or a file's ``top_layer``). The path climbs: each hop goes to a
switch one hop nearer the top layer (its *height* in the intact graph), as Clos routing does
(valley-free: edge -> aggregation -> edge -> aggregation detours are not routes), which is what
makes a fat-tree a series/parallel system. ``Reach`` evaluates it incrementally: a change of a
switch or a switch-to-switch link re-runs one pass over the switches by height
(O(switches + links)); a host link's change touches only its node.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import TYPE_CHECKING

from clustersim.scenario.sections.network import Network

if TYPE_CHECKING:
    import networkx as nx


@dataclass(frozen=True)
class Fabric:
    """The numbered fabric of one scenario: what the engines index, and the graph it came from."""

    switch_names: tuple[str, ...]
    switch_layers: tuple[str, ...]
    top: tuple[bool, ...]                  # per switch: in the top layer
    links: tuple[tuple[int, int], ...]     # switch-to-switch links, as switch index pairs
    node_switches: tuple[tuple[int, ...], ...]  # per node: the switches it needs, one host link each
    host_link_first: tuple[int, ...]       # per node: the link index of its first host link
    rack_switches: tuple[tuple[int, ...], ...]  # per rack: its first node's switches (storage servers use any)
    height: tuple[int, ...]                # per switch: hops to the nearest top switch in the intact graph
    graph: nx.Graph

    @property
    def switches(self) -> int:
        return len(self.switch_names)

    @property
    def link_count(self) -> int:
        """Every link: switch-to-switch, then host links."""
        return len(self.links) + sum(len(s) for s in self.node_switches)

    def link_name(self, link: int) -> str:
        """A link's name in streams and logs: ``<a>~<b>`` or ``node<i>~<switch>``."""
        if link < len(self.links):
            a, b = self.links[link]
            return f"{self.switch_names[a]}~{self.switch_names[b]}"
        node = _node_of_host_link(self.host_link_first, link)
        switch = self.node_switches[node][link - self.host_link_first[node]]
        return f"node{node}~{self.switch_names[switch]}"

    def is_host_link(self, link: int) -> bool:
        return link >= len(self.links)

    def host_link_node(self, link: int) -> int:
        """The node of a host link."""
        return _node_of_host_link(self.host_link_first, link)

    def host_links(self, node: int) -> range:
        """The link indices of a node's host links (its NIC ports: one per switch it needs)."""
        first = self.host_link_first[node]
        return range(first, first + len(self.node_switches[node]))

    def links_touching(self, layer: str) -> list[int]:
        """Every link with an end at a switch of ``layer``: switch-to-switch links, then host links."""
        layers = self.switch_layers
        touching = [k for k, (a, b) in enumerate(self.links) if layer in (layers[a], layers[b])]
        return touching + [k for n, needed in enumerate(self.node_switches) for k, s in zip(self.host_links(n), needed)
                           if layers[s] == layer]

    def partition_links(self, nodes: range) -> list[int]:
        """The links whose loss cuts ``nodes`` (a rack) off from the rest of the fabric and nobody else: the
        uplinks (links one hop nearer the top layer) of every switch only these nodes use, and these nodes'
        host links to a switch that others use too (or to a top-layer switch, which has no uplink)."""
        members = set(nodes)
        users: dict[int, set[int]] = {}
        for n, needed in enumerate(self.node_switches):
            for s in needed:
                users.setdefault(s, set()).add(n)
        height, cut = self.height, []
        for s in sorted({s for n in nodes for s in self.node_switches[n]}):
            if users[s] <= members and not self.top[s]:
                cut += [k for k, (a, b) in enumerate(self.links)
                        if s in (a, b) and height[b if a == s else a] == height[s] - 1]
            else:
                cut += [k for n in nodes for k, t in zip(self.host_links(n), self.node_switches[n]) if t == s]
        return sorted(cut)


def _node_of_host_link(firsts: tuple[int, ...], link: int) -> int:
    return bisect.bisect_right(firsts, link) - 1


class FabricError(ValueError):
    """A topology that cannot be built: the message names the key and what is wrong."""


def build_fabric(network: Network, nodes: int, nodes_per_rack: int, gpus_per_node: int) -> Fabric:
    """Build, check and number the fabric of ``network`` for ``nodes`` nodes."""
    builders = {"two_tier": _two_tier, "fat_tree": _fat_tree, "rail_optimized": _rail_optimized, "file": _explicit}
    switches, links, node_switches = builders[network.topology](network, nodes, nodes_per_rack, gpus_per_node)
    return _numbered(network, switches, links, node_switches, nodes_per_rack)


Switches = list[tuple[str, str]]  # (name, layer)


def _two_tier(network: Network, nodes: int, per_rack: int, _gpus: int):
    """A leaf per rack, every leaf linked to every spine."""
    assert network.spines is not None
    racks = -(-nodes // per_rack)
    switches = [(f"leaf/{r}", "leaf") for r in range(racks)] + [(f"spine/{s}", "spine") for s in range(network.spines)]
    links = [(r, racks + s) for r in range(racks) for s in range(network.spines)]
    return switches, links, [(n // per_rack,) for n in range(nodes)]


def _fat_tree(network: Network, nodes: int, per_rack: int, _gpus: int):
    """k pods of k/2 edge and k/2 aggregation switches, (k/2)^2 core switches; rack r hangs off edge switch r."""
    assert network.k is not None
    half = network.k // 2
    pods, racks = network.k, -(-nodes // per_rack)
    if per_rack > half:
        raise FabricError(f"network.k: an edge switch of a k = {network.k} fat-tree has {half} node "
                          f"port{'s' * (half > 1)}, and nodes.nodes_per_rack = {per_rack} nodes hang off each")
    if racks > pods * half:
        raise FabricError(f"network.k: a k = {network.k} fat-tree has {pods * half} edge switches, and the "
                          f"{nodes} nodes fill {racks} racks of {per_rack}")
    edges = [(f"edge/{e}", "edge") for e in range(pods * half)]
    aggs = [(f"aggregation/{a}", "aggregation") for a in range(pods * half)]
    cores = [(f"core/{c}", "core") for c in range(half * half)]
    first_agg, first_core = len(edges), len(edges) + len(aggs)
    links = []
    for pod in range(pods):
        for e in range(half):
            links += [(pod * half + e, first_agg + pod * half + a) for a in range(half)]
        for a in range(half):  # aggregation switch a of every pod joins core group a
            links += [(first_agg + pod * half + a, first_core + a * half + c) for c in range(half)]
    return edges + aggs + cores, links, [(n // per_rack,) for n in range(nodes)]


def _rail_optimized(network: Network, nodes: int, per_rack: int, gpus: int):
    """Per group of nodes one rail switch per GPU index (GPU i of every node of the group on rail i);
    every rail switch linked to every spine."""
    assert network.spines is not None
    size = network.group_size or per_rack
    groups = -(-nodes // size)
    rails = [(f"rail/{g}.{i}", "rail") for g in range(groups) for i in range(gpus)]
    spines = [(f"spine/{s}", "spine") for s in range(network.spines)]
    links = [(r, len(rails) + s) for r in range(len(rails)) for s in range(network.spines)]
    node_switches = [tuple((n // size) * gpus + i for i in range(gpus)) for n in range(nodes)]
    return rails + spines, links, node_switches


def _explicit(network: Network, nodes: int, _per_rack: int, _gpus: int):
    """Switches, links and node groups as a topology file gives them (the schema checked the names)."""
    index = {s.name: i for i, s in enumerate(network.switches)}
    switches = [(s.name, s.layer) for s in network.switches]
    links = [(index[link.between[0]], index[link.between[1]]) for link in network.links]
    node_switches: list[tuple[int, ...] | None] = [None] * nodes
    for g, group in enumerate(network.groups):
        if group.first + group.count > nodes:
            raise FabricError(f"network.groups[{g}]: nodes {group.first}..{group.first + group.count - 1} go "
                              f"beyond nodes.count = {nodes}")
        for n in range(group.first, group.first + group.count):
            if node_switches[n] is not None:
                raise FabricError(f"network.groups[{g}]: node {n} is already in an earlier group")
            node_switches[n] = tuple(index[name] for name in group.switches)
    missing = [n for n, s in enumerate(node_switches) if s is None]
    if missing:
        raise FabricError(f"network.groups: node {missing[0]} is linked to no switch "
                          f"({len(missing)} node{'s' * (len(missing) > 1)} in no group)")
    return switches, links, [s for s in node_switches if s is not None]


def _numbered(network: Network, switches: Switches, links: list[tuple[int, int]],
              node_switches: list[tuple[int, ...]], per_rack: int) -> Fabric:
    """The graph, checked: every switch a node needs reaches the top layer while nothing has failed."""
    import networkx as nx

    top_layer = network.top_layer if network.topology == "file" else network.layers[-1]
    top = tuple(layer == top_layer for _, layer in switches)
    graph = nx.Graph()
    graph.add_nodes_from((i, {"name": name, "layer": layer}) for i, (name, layer) in enumerate(switches))
    graph.add_edges_from(links)
    height = nx.multi_source_dijkstra_path_length(graph, [i for i in range(len(switches)) if top[i]])
    for n, needed in enumerate(node_switches):
        stranded = [s for s in needed if s not in height]
        if stranded:
            raise FabricError(f"network: switch {switches[stranded[0]][0]!r} (node {n}'s) has no path to the top "
                              f"layer {top_layer!r} even with nothing failed")
    firsts, first = [], len(links)
    for needed in node_switches:
        firsts.append(first)
        first += len(needed)
    racks = range(0, len(node_switches), per_rack)
    return Fabric(
        switch_names=tuple(name for name, _ in switches), switch_layers=tuple(layer for _, layer in switches),
        top=top, links=tuple(links), node_switches=tuple(node_switches), host_link_first=tuple(firsts),
        rack_switches=tuple(node_switches[r] for r in racks),
        height=tuple(int(height.get(i, -1)) for i in range(len(switches))), graph=graph,
    )


class Reach:
    """Which nodes the fabric cuts off, kept up to date as switches and links fail and return."""

    def __init__(self, fabric: Fabric):
        self.fabric = fabric
        self.switch_up = [True] * fabric.switches
        self.link_up = [True] * fabric.link_count
        height = fabric.height
        self.uplinks: list[list[tuple[int, int]]] = [[] for _ in range(fabric.switches)]  # (switch, link)
        for link, (a, b) in enumerate(fabric.links):
            if height[b] == height[a] - 1 >= 0:
                self.uplinks[a].append((b, link))
            elif height[a] == height[b] - 1 >= 0:
                self.uplinks[b].append((a, link))
        # switches nearest the top first; a switch that cannot reach it even intact never does
        self.order = sorted((s for s in range(fabric.switches) if height[s] >= 0), key=lambda s: height[s])
        self.attached: list[list[int]] = [[] for _ in range(fabric.switches)]  # nodes needing each switch
        for node, needed in enumerate(fabric.node_switches):
            for s in needed:
                self.attached[s].append(node)
        self.reaches = self._search()
        self.cut = [False] * len(fabric.node_switches)

    def _search(self) -> list[bool]:
        """Per switch: up, and top or with a live link to a switch one hop nearer the top that reaches it."""
        up, link_up, uplinks, top = self.switch_up, self.link_up, self.uplinks, self.fabric.top
        reaches = [False] * len(up)
        for s in self.order:
            reaches[s] = up[s] and (top[s] or any(link_up[link] and reaches[other] for other, link in uplinks[s]))
        return reaches

    def set_switch(self, switch: int, up: bool) -> list[int]:
        """A switch failed or returned: the nodes whose cut-off state changed."""
        self.switch_up[switch] = up
        return self._recompute()

    def set_link(self, link: int, up: bool) -> list[int]:
        """A link failed or returned: the nodes whose cut-off state changed."""
        self.link_up[link] = up
        if self.fabric.is_host_link(link):
            return self._nodes_changed([self.fabric.host_link_node(link)])
        return self._recompute()

    def _recompute(self) -> list[int]:
        before, self.reaches = self.reaches, self._search()
        touched = sorted({n for s, (was, now) in enumerate(zip(before, self.reaches)) if was != now
                          for n in self.attached[s]})
        return self._nodes_changed(touched)

    def _nodes_changed(self, nodes: list[int]) -> list[int]:
        changed = []
        for node in nodes:
            cut = not self.connected(node)
            if cut != self.cut[node]:
                self.cut[node] = cut
                changed.append(node)
        return changed

    def connected(self, node: int) -> bool:
        """Every switch the node needs is reachable over its live host link."""
        first = self.fabric.host_link_first[node]
        return all(self.link_up[first + j] and self.reaches[s] for j, s in enumerate(self.fabric.node_switches[node]))

    def rack_reachable(self, rack: int) -> bool:
        """A storage server in ``rack`` reaches the fabric through any of the rack's switches."""
        return any(self.reaches[s] for s in self.fabric.rack_switches[rack])

"""``[network]``: the fabric that joins the nodes — its topology and how its switches and links fail.

A node is cut off (not up) when one of the switches it needs (its leaf; with rails, every rail) has
no path over live switches and links to a live switch of the top layer (spine or core). The graph
itself is built by ``clustersim.topology``; this section only states it.
"""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from clustersim.distributions import Distribution
from clustersim.input_files import SCENARIO_LIMIT_BYTES, InputFileError, Unreadable, file_was_read, read_input_text
from clustersim.scenario.sections.common import Count, Name, PositiveCount, Section, TimeToFailure

# The layers of each template, bottom (what nodes attach to) to top (what joins them).
TEMPLATE_LAYERS: dict[str, tuple[str, ...]] = {
    "two_tier": ("leaf", "spine"),
    "fat_tree": ("edge", "aggregation", "core"),
    "rail_optimized": ("rail", "spine"),
}


class FailureLaw(Section):
    """How one kind of fabric component fails and comes back: an alternating renewal process."""

    time_to_failure: TimeToFailure = Field(description="time from its return to its next failure")
    time_to_repair: Distribution = Field(description="an outage lasts this (no crew needed)")


class SwitchSpec(Section):
    """One switch of an explicit topology."""

    name: Name = Field(description="unique; links and groups name it")
    layer: Name = Field(description="its layer; layer_failure keys name layers")


class LinkSpec(Section):
    """One switch-to-switch link of an explicit topology."""

    between: list[Name] = Field(min_length=2, max_length=2, description="the two switches it joins")


class GroupSpec(Section):
    """Nodes first .. first + count - 1 of an explicit topology, each linked to every switch of ``switches``."""

    first: Count = Field(description="the group's first node index")
    count: PositiveCount = Field(description="nodes in the group")
    switches: list[Name] = Field(min_length=1, description="the switches each node of the group is linked to; "
                                                           "a node takes part in a job only with all of them")


class Network(Section):
    """The fabric: a named template or a topology file, and the failure laws of its switches and links."""

    topology: Literal["two_tier", "fat_tree", "rail_optimized", "file"] = Field(
        description="two_tier: a leaf per rack linked to every spine; fat_tree: k-ary edge/aggregation/core; "
                    "rail_optimized: per node group one rail switch per GPU index, rails linked to every spine; "
                    "file: switches, links and node groups from `file`")
    spines: PositiveCount | None = Field(default=None, description="spine switches (two_tier, rail_optimized)")
    k: int | None = Field(default=None, ge=2, le=128, description="fat_tree: switch radix, even; "
                          "k^3/4 nodes at most, k^2/4 core switches")
    group_size: PositiveCount | None = Field(
        default=None, description="rail_optimized: nodes per rail group (default nodes.nodes_per_rack)")
    file: Path | None = Field(default=None, description="topology = \"file\": a TOML file of [[switch]], "
                              "[[link]] and [[group]] tables (docs/scenario.md)")
    top_layer: Name | None = Field(default=None, description="topology = \"file\": the layer that joins the "
                                   "nodes; a node needs a path from each of its switches to a live switch of it")
    switches: list[SwitchSpec] = Field(default_factory=list, description="topology = \"file\": the switches "
                                       "(read from `file`, written inline in the resolved scenario)")
    links: list[LinkSpec] = Field(default_factory=list, description="topology = \"file\": switch-to-switch links")
    groups: list[GroupSpec] = Field(default_factory=list, description="topology = \"file\": which switches "
                                    "each node is linked to")
    switch_failure: FailureLaw | None = Field(default=None, description="every switch; omitted = never fails")
    layer_failure: dict[Name, FailureLaw] = Field(
        default_factory=dict, description="per layer name (leaf, spine, edge, aggregation, core, rail, or a "
                                          "file's layers): overrides switch_failure for that layer's switches")
    link_failure: FailureLaw | None = Field(
        default=None, description="every switch-to-switch link; omitted = never fails")
    host_link_failure: FailureLaw | None = Field(
        default=None, description="every node-to-switch link (NIC, cable, transceiver); omitted = never fails")

    @model_validator(mode="before")
    @classmethod
    def _read_file(cls, data: Any, info: ValidationInfo) -> Any:
        """Read a topology file (relative to the scenario) once; the resolved scenario carries it inline."""
        if not isinstance(data, dict) or not isinstance(data.get("file"), str):
            return data
        base_dir = (info.context or {}).get("base_dir", Path.cwd())
        try:
            text = read_input_text(Path(base_dir) / data["file"], SCENARIO_LIMIT_BYTES)
            table = tomllib.loads(text)
        except (InputFileError, tomllib.TOMLDecodeError) as err:
            return {**data, "file": Unreadable(f"{data['file']}: {err}")}
        unknown = sorted(set(table) - {"top_layer", "switch", "link", "group"})
        if unknown:
            return {**data, "file": Unreadable(f"{data['file']}: unknown key {unknown[0]!r} (a topology file "
                                                "holds top_layer, [[switch]], [[link]] and [[group]])")}
        inline = {"top_layer": table.get("top_layer"), "switches": table.get("switch", []),
                  "links": table.get("link", []), "groups": table.get("group", [])}
        return {**{k: v for k, v in data.items() if k != "file"}, **inline}

    _file_was_read = field_validator("file", mode="before")(file_was_read)

    def problems(self) -> list[str]:
        """Each template's own keys are required by it and refused by the others; an explicit topology is whole."""
        problems = []
        wants = {"two_tier": {"spines"}, "fat_tree": {"k"}, "rail_optimized": {"spines"}, "file": set()}
        optional = {"rail_optimized": {"group_size"}}
        for key in ("spines", "k", "group_size"):
            given = getattr(self, key) is not None
            if key in wants[self.topology] and not given:
                problems.append(f'{key}: missing required key (topology = "{self.topology}" needs it)')
            elif given and key not in wants[self.topology] | optional.get(self.topology, set()):
                problems.append(f'{key}: does not apply to topology = "{self.topology}"')
        if self.topology == "file":
            problems += self._explicit_problems()
        else:
            problems += [f'{key}: applies to topology = "file" only' for key in ("top_layer", "switches", "links",
                         "groups") if getattr(self, key)]
        if self.k is not None and self.k % 2:
            problems.append(f"k: a fat-tree's radix is even, got {self.k}")
        layers = TEMPLATE_LAYERS.get(self.topology)
        if layers is not None:
            problems += [f"layer_failure.{name}: topology = \"{self.topology}\" has no layer {name!r} "
                         f"(its layers: {', '.join(layers)})" for name in self.layer_failure if name not in layers]
        return problems

    def _explicit_problems(self) -> list[str]:
        """Every name a link or group uses is a switch; the top layer has switches."""
        if not self.switches:
            return ['switches: topology = "file" needs a topology file (file = "fabric.toml") or inline switches']
        problems = []
        names = [s.name for s in self.switches]
        problems += [f"switches[{i}].name: {names[i]!r} is named twice" for i in range(len(names))
                     if names[i] in names[:i]]
        known, layers = set(names), {s.layer for s in self.switches}
        if self.top_layer is None:
            problems.append("top_layer: missing (the layer that joins the nodes, e.g. \"spine\")")
        elif self.top_layer not in layers:
            problems.append(f"top_layer: no switch is in layer {self.top_layer!r} "
                            f"(layers: {', '.join(sorted(layers))})")
        for i, link in enumerate(self.links):
            problems += [f"links[{i}].between: no switch is named {end!r}" for end in link.between if end not in known]
        for i, group in enumerate(self.groups):
            problems += [f"groups[{i}].switches: no switch is named {name!r}" for name in group.switches
                         if name not in known]
        problems += [f"layer_failure.{name}: no switch is in layer {name!r} (layers: {', '.join(sorted(layers))})"
                     for name in self.layer_failure if name not in layers]
        return problems

    @property
    def layers(self) -> tuple[str, ...]:
        """The layer names of this fabric (a template's, bottom to top; a file's, as they first appear)."""
        if self.topology == "file":
            return tuple(dict.fromkeys(s.layer for s in self.switches))
        return TEMPLATE_LAYERS[self.topology]

    def law_of_layer(self, layer: str) -> FailureLaw | None:
        """The failure law of a switch in ``layer``: its layer's override, else switch_failure."""
        return self.layer_failure.get(layer, self.switch_failure)


"""The scenario schema: the single source of every parameter, default and check.

Keys follow the scenario contract (``python -m clustersim schema`` prints every key with its default).
Every model forbids unknown keys and is frozen; durations are stored in hours. Each section lives in
its own module under ``clustersim.scenario.sections`` (that package says how to add one); this module
assembles them into the top-level ``Scenario`` and re-exports them. Every cross-field check is a
problem function: a section's own in its ``problems()``, checks across sections in
``clustersim.scenario.cross_checks``, which are the ``problems()`` of the Scenario; so every message
names the key the user has to change.
"""
from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from clustersim.scenario.cross_checks import cross_section_problems
from clustersim.scenario.sections.abort import Abort
from clustersim.scenario.sections.chaos import SERVING_ACTIONS, Chaos
from clustersim.scenario.sections.common import Name, Probability, Section, Speed, TimeToFailure
from clustersim.scenario.sections.domains import FailureDomain
from clustersim.scenario.sections.inference import Inference
from clustersim.scenario.sections.network import FailureLaw, Network
from clustersim.scenario.sections.nodes import FailureMode, Nodes, NodeScore, reads_score
from clustersim.scenario.sections.repair import (
    Diagnosis,
    NeverRetire,
    Repair,
    RepairStage,
    Retirement,
    ScoredRetirement,
    ThresholdRetirement,
)
from clustersim.scenario.sections.simulation import (
    FIXED_REPLICATIONS,
    MAX_REPLICATIONS,
    MIN_REPLICATIONS,
    Simulation,
)
from clustersim.scenario.sections.replay import Incident, Replay
from clustersim.scenario.sections.spares import Spares
from clustersim.scenario.sections.storage import Storage
from clustersim.scenario.sections.training import Training

__all__ = [
    "FIXED_REPLICATIONS",
    "MAX_REPLICATIONS",
    "MIN_REPLICATIONS",
    "PLANNED_SECTIONS",
    "Chaos",
    "Diagnosis",
    "FailureDomain",
    "FailureLaw",
    "FailureMode",
    "Incident",
    "Inference",
    "Name",
    "Network",
    "NeverRetire",
    "NodeScore",
    "Nodes",
    "Probability",
    "Repair",
    "Replay",
    "RepairStage",
    "Retirement",
    "Scenario",
    "ScoredRetirement",
    "Section",
    "Simulation",
    "Spares",
    "Storage",
    "Speed",
    "ThresholdRetirement",
    "TimeToFailure",
    "Training",
    "cross_section_problems",
]

# Sections of the contract that later versions implement; until Scenario has their field, a file using
# them is refused, never ignored.
_LATER_SECTIONS: tuple[str, ...] = ()


class Scenario(Section):
    """A whole cluster experiment, as written in a scenario file."""

    name: Name = Field(description="the scenario's name: results go to results/<name>/<time>/ by default")
    simulation: Simulation = Field(default_factory=Simulation,
                                   description="[simulation]: horizon, warm-up, seed, engine and replications")
    nodes: Nodes = Field(description="[nodes]: the GPU servers, their racks, failure modes, lemons and score")
    repair: Repair = Field(default_factory=Repair, description="[repair]: crews, detection, diagnosis, repair "
                                                               "stages, recurrence and retirement")
    spares: Spares = Field(default_factory=Spares, description="[spares]: hot, warm and cold spares, how fast "
                                                               "each joins and which one is taken")
    failure_domains: list[FailureDomain] = Field(default_factory=list, description="[[failure_domains]]: "
                                                 "correlated outages of racks, power domains or the whole cluster")
    chaos: list[Chaos] = Field(default_factory=list, description="[[chaos]]: planned fault injections")
    abort: list[Abort] = Field(default_factory=list, description="[[abort]]: stop starting [[chaos]] injections "
                               "once a closed window's metric crosses a bound (needs simulation.series_window)")
    network: Network | None = Field(default=None, description="[network]: the fabric's topology and how its "
                                    "switches and links fail; omitted = a network that never fails")
    storage: Storage | None = Field(default=None, description="[storage]: replicated storage for checkpoints "
                                    "and weights; omitted = a store that is always there")
    training: list[Training] = Field(default_factory=list,
                                     description="[[training]]: training jobs, taking the working positions in order")
    inference: list[Inference] = Field(default_factory=list, description="[[inference]]: inference services "
                                       "behind a load balancer, their replicas on the working positions after "
                                       "the training jobs'")
    replay: Replay | None = Field(default=None, description="[replay]: a fleet's incident log (a CSV) replayed in "
                                  "the run, on top of the modelled failures or alone")
    sweep: dict[str, Any] | None = Field(default=None, description="[sweep]: the points `clustersim sweep` runs "
                                         "(dotted keys mapping to value lists or ranges, and [[sweep.zip]] groups); "
                                         "a plain run runs the scenario as written")

    @model_validator(mode="before")
    @classmethod
    def _score_when_used(cls, data: Any) -> Any:
        """Write out [nodes.score] defaults when a policy reads the score, so the resolved file shows them."""
        nodes = data.get("nodes") if isinstance(data, dict) else None
        if isinstance(nodes, dict) and "score" not in nodes and _reads_score(data):
            return {**data, "nodes": {**nodes, "score": {}}}
        return data

    def problems(self) -> list[str]:
        """The checks across sections, with full key paths."""
        return cross_section_problems({key: getattr(self, key) for key in type(self).model_fields})

    @property
    def chaos_names(self) -> list[str]:
        """Each chaos injection's cause name: its name, or chaos<index>."""
        return [c.name or f"chaos{i}" for i, c in enumerate(self.chaos)]

    @property
    def cause_names(self) -> list[str]:
        """Every failure cause, in a fixed order: modes, then domains, then chaos injections (those of the
        cluster: a serving injection fails no node, so it is no failure cause), then the replayed log's own modes
        (those that name no failure mode)."""
        modes = [m.name for m in self.nodes.failure_modes]
        replayed = self.replay.own_causes(modes) if self.replay is not None else []
        cluster_chaos = [name for chaos, name in zip(self.chaos, self.chaos_names)
                         if chaos.action not in SERVING_ACTIONS]
        return modes + [d.label for d in self.failure_domains] + cluster_chaos + replayed

    def serving_chaos(self, service: str | None = None) -> list[tuple[str, Chaos]]:
        """(name, entry) of every chaos injection the serving model runs (of ``service``, if given), in order."""
        return [(name, chaos) for chaos, name in zip(self.chaos, self.chaos_names)
                if chaos.action in SERVING_ACTIONS and (service is None or chaos.service == service)]

    @property
    def incident_causes(self) -> list[int]:
        """The cause code of each replayed incident: its failure mode's, or its own mode's (after chaos)."""
        if self.replay is None:
            return []
        code = {name: c for c, name in reversed(list(enumerate(self.cause_names)))}
        return [code[incident.mode] for incident in self.replay.incidents]

    @property
    def modelled_failures(self) -> bool:
        """Do the modelled failures happen (node failure modes, failure domains, the fabric's and the store's
        failure laws)? Not with ``[replay] mode = "alone"``."""
        return self.replay is None or self.replay.mode == "on_top"

    @property
    def working_nodes(self) -> int:
        """Nodes that start in service: every node not held back as a hot or cold spare."""
        return self.nodes.count - self.spares.hot - self.spares.cold

    @property
    def stage_names(self) -> list[str]:
        """The repair pipeline's stage names, in order."""
        return [stage.name for stage in self.repair.stages]

    @property
    def label_names(self) -> list[str]:
        """Names of every code the log's cause column holds: failure causes, repair stages, preemption."""
        return self.cause_names + [f"stage:{name}" for name in self.stage_names] + ["preemption", "network", "storage"]

    @property
    def preemption_cause(self) -> int:
        """The cause-column code of a job losing a node to a higher-priority job."""
        return len(self.cause_names) + len(self.repair.stages)

    @property
    def job_offsets(self) -> list[int]:
        """The first working position of each training job (jobs take positions in order)."""
        offsets, first = [], 0
        for job in self.training:
            offsets.append(first)
            first += job.nodes
        return offsets

    @property
    def service_offsets(self) -> list[int]:
        """The first working position of each inference service (after every training job's); a service's
        fallback pool follows its replicas."""
        offsets, first = [], sum(job.nodes for job in self.training)
        for service in self.inference:
            offsets.append(first)
            first += service.positions + service.fallback_positions
        return offsets

    @property
    def network_cause(self) -> int:
        """The cause-column code of a node cut off by the network, and of a job losing members to it."""
        return self.preemption_cause + 1

    @property
    def storage_cause(self) -> int:
        """The cause-column code of a job stopped by its checkpoint store."""
        return self.preemption_cause + 2

    def stage_cause(self, stage: int) -> int:
        """The cause-column code of repair stage ``stage`` (after every failure cause)."""
        return len(self.cause_names) + stage


PLANNED_SECTIONS = tuple(key for key in _LATER_SECTIONS if key not in Scenario.model_fields)


def _reads_score(raw: dict[str, Any]) -> bool:
    """Does a raw scenario use the node score (scored retirement or highest-score selection)?"""
    repair, spares = raw.get("repair"), raw.get("spares")
    retirement = repair.get("retirement") if isinstance(repair, dict) else None
    policy = retirement.get("policy") if isinstance(retirement, dict) else None
    return reads_score(policy, spares.get("selection") if isinstance(spares, dict) else None)

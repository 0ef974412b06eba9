"""``[repair]``: crews, detection, diagnosis, the repair pipeline's stages, recurrence and retirement."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from clustersim.distributions import Deterministic, Distribution
from clustersim.quantities import Duration, PositiveDuration
from clustersim.scenario.sections.common import Name, PositiveCount, Probability, Section, repeated


class Diagnosis(Section):
    """How well a detected failure is attributed before repair."""

    probability: Probability = Field(
        default=1.0, description="a detected failure is diagnosed; otherwise the node is rebooted with its fault"
    )
    wrong_node: Probability = Field(
        default=0.0, description="a diagnosed failure is blamed on an innocent working node instead"
    )
    reboot_time: Distribution = Field(
        default_factory=lambda: Deterministic(dist="deterministic", value="0 h"),
        description="how long an undiagnosed node's reboot takes",
    )


class RepairStage(Section):
    """One stage of the repair pipeline: a crew pool, a time, and what the stage concludes."""

    name: Name = Field(description="unique; metrics name the stage repair.stage.<name>.*")
    time: Distribution = Field(description="a crew's time on one repair in this stage")
    crews: PositiveCount | None = Field(
        default=None, description="concurrent repairs in this stage; omitted = unlimited"
    )
    escalate: Probability = Field(default=0.0, description="the node goes on to the next stage")
    false_success: Probability = Field(
        default=0.0, description="the stage reports success but leaves the fault in place"
    )


class NeverRetire(Section):
    """Every repaired node returns to service."""

    policy: Literal["never"] = Field(default="never", description="never: no node is ever retired")


class ThresholdRetirement(Section):
    """Retire a node blamed for max_failures failures within window."""

    policy: Literal["threshold"] = Field(description="threshold: retire after max_failures blamed failures in window")
    max_failures: PositiveCount = Field(description="blamed failures within window that retire the node")
    window: PositiveDuration = Field(description="the sliding window over which blamed failures are counted")


class ScoredRetirement(Section):
    """Retire a node whose reliability score ([nodes.score]) is at or below threshold."""

    policy: Literal["scored"] = Field(description="scored: retire by the node score of [nodes.score]")
    threshold: float = Field(default=0.0, description="retire a node whose score is at or below this")


class AnyRetirement(Section):
    """Retire a node that either rule retires: max_failures blamed failures within window, or a score at
    or below threshold (AIReSim's composite policy)."""

    policy: Literal["any"] = Field(description="any: retire when the threshold rule or the score rule says so")
    max_failures: PositiveCount = Field(description="blamed failures within window that retire the node")
    window: PositiveDuration = Field(description="the sliding window over which blamed failures are counted")
    threshold: float = Field(default=0.0, description="retire a node whose score ([nodes.score]) is at or below this")


Retirement = Annotated[NeverRetire | ThresholdRetirement | ScoredRetirement | AnyRetirement,
                       Field(discriminator="policy")]


class Repair(Section):
    """Who repairs, how fast failures are noticed, how well they are diagnosed and fixed."""

    crews: PositiveCount | None = Field(default=None, description="concurrent 'replace' repairs; omitted = unlimited")
    detection: Duration = Field(default=0.0, description="failure -> noticed (heartbeat interval x misses)")
    recurrence: Distribution | None = Field(
        default=None,
        description="operating time until a fault left in place (undiagnosed, blamed elsewhere, falsely "
                    "repaired) strikes again; required when that can happen",
    )
    straggler_detection: Duration | None = Field(
        default=None, description="a slow node -> noticed and taken out; required with slow failure modes or chaos"
    )
    fault_left_in_place: Literal["recurs", "uncured"] = Field(
        default="recurs",
        description="recurs: strikes again after recurrence; uncured: no further effect, except that a lemon "
                    "stays a lemon (AIReSim's model)",
    )
    diagnosis: Diagnosis = Field(
        default_factory=Diagnosis, description="imperfect diagnosis of failures recovered by replace or pipeline"
    )
    stages: list[RepairStage] = Field(default_factory=list, description="the pipeline of recovery = \"pipeline\"")
    retirement: Retirement = Field(
        default_factory=NeverRetire, description="when a node is taken out for good after its recovery (policy)"
    )

    def problems(self) -> list[str]:
        """Stage names unique, the last stage escalates nowhere, recurrence given exactly when faults recur."""
        return self._stage_problems() + self._recurrence_problems()

    def _stage_problems(self) -> list[str]:
        """Stage names are unique (metric names use them); the last stage has nowhere to escalate to."""
        stages = self.stages
        problems = [f"stages[{i}].name: {stages[i].name!r} is already the name of an earlier stage"
                    for i in repeated([stage.name for stage in stages])]
        if stages and stages[-1].escalate > 0:
            problems.append(f"stages[{len(stages) - 1}].escalate: the last stage has no stage to escalate to, "
                            f"got {stages[-1].escalate!r}")
        return problems

    def _recurrence_problems(self) -> list[str]:
        """A fault that stays in place and recurs needs its recurrence law; one that never recurs has none."""
        recurs = self.fault_left_in_place == "recurs"
        if recurs and self.leaves_faults and self.recurrence is None:
            return [("recurrence: required when a fault can stay in place (diagnosis.probability < 1, "
                    "diagnosis.wrong_node > 0 or a stage's false_success > 0): when does it strike again?")]
        if not recurs and self.recurrence is not None:
            return [('recurrence: unused with fault_left_in_place = "uncured" (faults left in place '
                    'do not strike again); remove it or use "recurs"')]
        return []

    @property
    def recurs(self) -> bool:
        """Do faults left in place strike again (after ``recurrence``)?"""
        return self.fault_left_in_place == "recurs" and self.leaves_faults

    @property
    def leaves_faults(self) -> bool:
        """Can a fault stay in place after its failure (so that it recurs)?"""
        diagnosis = self.diagnosis
        return diagnosis.probability < 1 or diagnosis.wrong_node > 0 or any(s.false_success > 0 for s in self.stages)

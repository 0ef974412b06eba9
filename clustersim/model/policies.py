"""Tiny policy classes, registered by the name a scenario uses: retirement and spare selection.

A retirement policy decides, when a node's recovery ends, whether it goes back into service or
leaves the cluster for good. A selection policy decides which spare of the preferred tier a
working position takes. Both read a node's history: the times failures were blamed on it and,
through NodeScorer, its reliability score.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

from clustersim.scenario.schema import NodeScore, Scenario
from clustersim.scenario.sections import repair as section

if TYPE_CHECKING:
    from clustersim.model.nodes import Node


class NodeScorer:
    """Scores nodes: ``initial − penalty × blamed failures + credit × full credit periods of uptime``.

    Uptime is credited per uninterrupted up interval (floor(interval / period) credits), the
    interval in progress included, so a node's score can be read at any instant.
    """

    def __init__(self, spec: NodeScore):
        self.spec = spec

    def start(self, node: Node) -> None:
        node.score_base = self.spec.initial

    def blamed(self, node: Node) -> None:
        node.score_base -= self.spec.failure_penalty

    def went_down(self, node: Node, now: float) -> None:
        node.score_base += self._credit(now - node.up_since)

    def came_up(self, node: Node, now: float) -> None:
        node.up_since = now

    def score(self, node: Node, now: float) -> float:
        return node.score_base + (self._credit(now - node.up_since) if node.up else 0.0)

    def _credit(self, uptime_hours: float) -> float:
        return self.spec.uptime_credit * math.floor(uptime_hours / self.spec.credit_period)


# --- retirement ---------------------------------------------------------------------------------

class RetirementPolicy(Protocol):
    def should_retire(self, node: Node, now: float) -> bool:
        """Does ``node``, whose recovery has just ended, leave the cluster?"""


class NeverRetire:
    """Every node goes back into service."""

    def should_retire(self, node: Node, now: float) -> bool:
        return False


class ThresholdRetirement:
    """Retire a node blamed for at least ``max_failures`` failures within the last ``window``."""

    def __init__(self, max_failures: int, window_hours: float):
        self.max_failures = max_failures
        self.window_hours = window_hours

    def should_retire(self, node: Node, now: float) -> bool:
        since = now - self.window_hours
        recent = sum(1 for t in node.blamed_times if t >= since)
        return recent >= self.max_failures


class ScoredRetirement:
    """Retire a node whose score is at or below ``threshold``."""

    def __init__(self, scorer: NodeScorer, threshold: float):
        self.scorer = scorer
        self.threshold = threshold

    def should_retire(self, node: Node, now: float) -> bool:
        return self.scorer.score(node, now) <= self.threshold


class AnyRetirement:
    """Retire a node that any of its policies would retire."""

    def __init__(self, policies: list[RetirementPolicy]):
        self.policies = policies

    def should_retire(self, node: Node, now: float) -> bool:
        return any(policy.should_retire(node, now) for policy in self.policies)


def _threshold(retirement: section.Retirement, scorer: NodeScorer | None) -> RetirementPolicy:
    """The policy of a ``threshold`` table: retire after max_failures blamed failures in window."""
    assert isinstance(retirement, section.ThresholdRetirement | section.AnyRetirement)
    return ThresholdRetirement(retirement.max_failures, retirement.window)


def _scored(retirement: section.Retirement, scorer: NodeScorer | None) -> RetirementPolicy:
    """The policy of a ``scored`` table: retire at or below its score threshold."""
    assert isinstance(retirement, section.ScoredRetirement | section.AnyRetirement)
    assert scorer is not None  # the schema writes out [nodes.score] when a policy reads it
    return ScoredRetirement(scorer, retirement.threshold)


RETIREMENT: dict[str, Callable[[section.Retirement, NodeScorer | None], RetirementPolicy]] = {
    "never": lambda retirement, scorer: NeverRetire(),
    "threshold": _threshold,
    "scored": _scored,
    "any": lambda retirement, scorer: AnyRetirement([_threshold(retirement, scorer), _scored(retirement, scorer)]),
}


# --- spare selection ------------------------------------------------------------------------------

class SelectionPolicy(Protocol):
    def pick(self, spares: Sequence[Node], now: float) -> int:
        """The index in ``spares`` (oldest first) of the spare to take."""


class FirstInFirstOut:
    """The spare that has waited longest."""

    def pick(self, spares: Sequence[Node], now: float) -> int:
        return 0


class RandomSpare:
    """Any spare, uniformly, from the pool's own random stream."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def pick(self, spares: Sequence[Node], now: float) -> int:
        return int(self.rng.integers(len(spares)))


class FewestFailures:
    """The spare blamed for the fewest failures; the longest-waiting among equals."""

    def pick(self, spares: Sequence[Node], now: float) -> int:
        counts = [len(node.blamed_times) for node in spares]
        return counts.index(min(counts))


class HighestScore:
    """The spare with the highest score; the longest-waiting among equals."""

    def __init__(self, scorer: NodeScorer):
        self.scorer = scorer

    def pick(self, spares: Sequence[Node], now: float) -> int:
        scores = [self.scorer.score(node, now) for node in spares]
        return scores.index(max(scores))


def _highest_score(rng: np.random.Generator, scorer: NodeScorer | None) -> SelectionPolicy:
    """Highest-score selection, reading the scenario's scorer."""
    assert scorer is not None  # the schema writes out [nodes.score] when a policy reads it
    return HighestScore(scorer)


SELECTION: dict[str, Callable[[np.random.Generator, NodeScorer | None], SelectionPolicy]] = {
    "fifo": lambda rng, scorer: FirstInFirstOut(),
    "random": lambda rng, scorer: RandomSpare(rng),
    "fewest_failures": lambda rng, scorer: FewestFailures(),
    "highest_score": _highest_score,
}


def build_policies(scenario: Scenario, selection_rng: np.random.Generator
                   ) -> tuple[NodeScorer | None, RetirementPolicy, SelectionPolicy]:
    """The scorer (when a policy reads scores), the retirement policy and the spare selection policy."""
    scorer = NodeScorer(scenario.nodes.score) if scenario.nodes.score is not None else None
    retirement = RETIREMENT[scenario.repair.retirement.policy](scenario.repair.retirement, scorer)
    selection = SELECTION[scenario.spares.selection](selection_rng, scorer)
    return scorer, retirement, selection

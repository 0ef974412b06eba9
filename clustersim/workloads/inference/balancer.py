"""Load-balancing policies: tiny classes in a registry by name, each picking one of the replicas that can take
an attempt now (routable, with a free slot; always a non-empty list in replica order).

A policy sees only what a real balancer sees: outstanding attempts per replica, their latency average and
its own weights; never whether a replica is really alive.
"""
from __future__ import annotations

import math
from typing import ClassVar, Protocol

from clustersim.scenario.sections.inference import LoadBalancer


class Routable(Protocol):
    """What a policy reads of a replica."""

    index: int         # its place in the pool
    outstanding: int   # attempts routed to it and not yet answered
    latency_ewma: float  # its latency average (hours)


class Draw(Protocol):
    def uniform(self) -> float: ...


class Policy:
    """Picks a replica for an attempt."""

    name: ClassVar[str]

    def pick(self, candidates: list, now: float) -> Routable:
        raise NotImplementedError

    def answered(self, replica: Routable, latency_hours: float, now: float) -> None:
        """An attempt ``replica`` served ended after ``latency_hours`` (policies that learn latency use it)."""


POLICIES: dict[str, type[Policy]] = {}


def registered(cls: type[Policy]) -> type[Policy]:
    POLICIES[cls.name] = cls
    return cls


class _Rotating(Policy):
    """A cursor that moves past each pick, so that ties go round the replicas instead of to the first."""

    def __init__(self) -> None:
        self.cursor = 0

    def _from_cursor(self, candidates: list) -> list:
        cursor = self.cursor
        for k, replica in enumerate(candidates):
            if replica.index >= cursor:
                return candidates[k:] + candidates[:k]
        return candidates

    def _took(self, replica: Routable) -> Routable:
        self.cursor = replica.index + 1
        return replica


@registered
class RoundRobin(_Rotating):
    """Each attempt to the next replica in turn."""

    name = "round_robin"

    def pick(self, candidates: list, now: float) -> Routable:
        return self._took(self._from_cursor(candidates)[0])


@registered
class LeastOutstanding(_Rotating):
    """The replica with the fewest outstanding attempts; ties in turn."""

    name = "least_outstanding"

    def pick(self, candidates: list, now: float) -> Routable:
        return self._took(min(self._from_cursor(candidates), key=_outstanding))


@registered
class Weighted(Policy):
    """Smooth weighted round-robin (nginx's): each pick adds every candidate's weight to its credit, takes the
    highest credit and charges it the candidates' total weight."""

    name = "weighted"

    def __init__(self, weights: list[float]) -> None:
        self.weights = weights
        self.credit = [0.0] * len(weights)

    def pick(self, candidates: list, now: float) -> Routable:
        credit, weights = self.credit, self.weights
        total, best = 0.0, candidates[0]
        for replica in candidates:
            w = weights[replica.index] if replica.index < len(weights) else 1.0
            credit[replica.index] += w
            total += w
            if credit[replica.index] > credit[best.index]:
                best = replica
        credit[best.index] -= total
        return best


@registered
class PowerOfTwo(Policy):
    """Two distinct candidates drawn at random, the one with fewer outstanding attempts (the first on a tie)."""

    name = "power_of_two"

    def __init__(self, draws: Draw) -> None:
        self.draws = draws

    def pick(self, candidates: list, now: float) -> Routable:
        n = len(candidates)
        if n == 1:
            return candidates[0]
        first = int(self.draws.uniform() * n)
        second = int(self.draws.uniform() * (n - 1))
        a, b = candidates[first], candidates[second + (second >= first)]
        return b if b.outstanding < a.outstanding else a


@registered
class LatencyAware(_Rotating):
    """Peak-EWMA (Finagle's): cost = latency average × (outstanding + 1); the average jumps to a higher latency
    at once and decays towards lower ones with time constant ``ewma_time``; the lowest cost, ties in turn."""

    name = "latency_aware"

    def __init__(self, ewma_hours: float) -> None:
        super().__init__()
        self.ewma_hours = ewma_hours
        self.updated: dict[int, float] = {}

    def pick(self, candidates: list, now: float) -> Routable:
        return self._took(min(self._from_cursor(candidates), key=_cost))

    def answered(self, replica: Routable, latency_hours: float, now: float) -> None:
        last = self.updated.get(replica.index)
        if last is None or latency_hours > replica.latency_ewma:
            replica.latency_ewma = latency_hours  # the first answer, or a peak: taken at once
        else:
            keep = math.exp(-(now - last) / self.ewma_hours)
            replica.latency_ewma = keep * replica.latency_ewma + (1.0 - keep) * latency_hours
        self.updated[replica.index] = now


def _outstanding(replica: Routable) -> int:
    return replica.outstanding


def _cost(replica: Routable) -> float:
    return replica.latency_ewma * (replica.outstanding + 1)


def build_policy(spec: LoadBalancer, draws: Draw, replicas: int) -> Policy:
    """The named policy, configured from its keys (the schema has checked the name)."""
    if spec.policy == "weighted":
        assert spec.weights is not None
        return Weighted(list(spec.weights) + [1.0] * max(0, replicas - len(spec.weights)))
    if spec.policy == "power_of_two":
        return PowerOfTwo(draws)
    if spec.policy == "latency_aware":
        return LatencyAware(spec.ewma_time)
    return POLICIES[spec.policy]()

"""The engine contract: the one shape every engine's output takes, a ReplicationOutcome per replication.

An engine runs a batch of replication indices and yields, for each, its metrics row (the same
names and meanings whichever engine ran), how many model events it processed and how long it
simulated. The SimPy engine can also keep its state-change log; statistics and outputs never
care which engine produced an outcome.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from clustersim.model.records import ReplicationRecords
from clustersim.errors import ClusterSimError
from clustersim.scenario.schema import Scenario


@dataclass(frozen=True)
class ReplicationOutcome:
    """One replication's result: metrics by name, events processed, seconds simulating."""

    replication: int
    metrics: dict[str, float]
    events: int
    simulate_s: float
    records: ReplicationRecords | None = None  # the state-change log, when kept (SimPy engine only)


class Engine(Protocol):
    """Runs replications of a scenario; replication k's numbers never depend on the batch."""

    name: str
    keeps_logs: bool  # can it keep the state-change log (``keep_logs=True``, the --events flag)?

    def run(self, scenario: Scenario, replications: Sequence[int],
            keep_logs: bool = False) -> Iterator[ReplicationOutcome]:
        ...


def require_event_log(engine: Engine) -> None:
    """Refuse the state-change log (--events) from an engine that cannot keep it."""
    if not engine.keeps_logs:
        raise ClusterSimError(f'--events: the {engine.name} engine keeps no event log; use engine = "simpy" for it')

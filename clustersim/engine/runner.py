"""Engine choice and the one shape every engine's output takes: a ReplicationOutcome per replication.

An engine runs a batch of replication indices and yields, for each, its metrics row (the same
names and meanings whichever engine ran), how many model events it processed and how long it
simulated. The SimPy engine can also keep its state-change log; statistics and outputs never
care which engine produced an outcome.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Protocol, Sequence

from clustersim.engine.records import ReplicationRecords
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

    def run(self, scenario: Scenario, replications: Sequence[int], keep_logs: bool = False) -> Iterator[ReplicationOutcome]:
        ...


class SimpyEngine:
    """The full model, one SimPy environment per replication; metrics from the record log."""

    name = "simpy"
    keeps_logs = True

    def run(self, scenario: Scenario, replications: Sequence[int], keep_logs: bool = False) -> Iterator[ReplicationOutcome]:
        from clustersim.engine.simpy_engine import run_replication
        from clustersim.stats import replication_metrics

        for k in replications:
            records = run_replication(scenario, k)
            yield ReplicationOutcome(k, replication_metrics(scenario, records), records.events,
                                     records.simulate_s, records if keep_logs else None)


def require_event_log(engine: Engine) -> None:
    """Refuse the state-change log (--events) from an engine that cannot keep it."""
    if not engine.keeps_logs:
        raise ClusterSimError(f'--events: the {engine.name} engine keeps no event log; use engine = "simpy" for it')


def engine_for(scenario: Scenario) -> Engine:
    """The engine the scenario asks for; refuses one this version does not have or cannot run it."""
    engine = scenario.simulation.engine
    if engine == "simpy":
        return SimpyEngine()
    if engine == "fast":
        from clustersim.engine.fast.support import refusal, unsupported_features

        missing = unsupported_features(scenario)
        if missing:
            raise ClusterSimError(refusal(missing))
        from clustersim.engine.fast.engine import FastEngine

        return FastEngine()
    raise ClusterSimError(f"simulation.engine: the {engine!r} engine is not available in this version; use \"simpy\"")

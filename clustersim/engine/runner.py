"""Choose the engine a scenario asks for and run its replications one by one."""
from __future__ import annotations

from typing import Callable, Iterator

from clustersim.engine.records import ReplicationRecords
from clustersim.errors import ClusterSimError
from clustersim.scenario.schema import Scenario


def replication_runner(scenario: Scenario) -> Callable[[Scenario, int], ReplicationRecords]:
    """The engine's run_replication; refuses an engine this version does not have."""
    engine = scenario.simulation.engine
    if engine == "simpy":
        from clustersim.engine.simpy_engine import run_replication

        return run_replication
    raise ClusterSimError(f"simulation.engine: the {engine!r} engine is not available in this version; use \"simpy\"")


def run_replications(scenario: Scenario, indices: range | None = None) -> Iterator[ReplicationRecords]:
    """Records of each replication in order; replication k never depends on how many run."""
    run = replication_runner(scenario)
    for k in indices if indices is not None else range(scenario.simulation.replications):
        yield run(scenario, k)

"""The engine contract: the one shape every engine's output takes, a ReplicationOutcome per replication.

An engine runs a batch of replication indices and yields, for each, its metrics row (the same
names and meanings whichever engine ran), how many model events it processed and how long it
simulated. The SimPy engine can also keep its state-change log (in the outcome) or hand it, as it
runs, to a ``LogSink`` (the --events file); statistics and outputs never care which engine produced
an outcome.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

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
    nodes: dict[str, np.ndarray] | None = None  # the node table (node_table.NODE_COLUMNS), when asked (--nodes)
    series: dict[str, list[float | None]] | None = None  # metrics per simulation.series_window, when set


class LogSink(Protocol):
    """Takes replications' state-change logs as they are simulated; only those a run keeps end up written."""

    def rows(self, replication: int, rows: np.ndarray) -> None:
        """The next rows (shape (n, 6), in time order) of replication ``replication``'s log."""
        ...

    def keep(self, replication: int) -> None:
        """The run keeps replication ``replication`` (whole: its rows are all given)."""
        ...


class Engine(Protocol):
    """Runs replications of a scenario; replication k's numbers never depend on the batch."""

    name: str
    keeps_logs: bool  # can it keep the state-change log (``keep_logs``: True, or a LogSink for --events)?

    def run(self, scenario: Scenario, replications: Sequence[int],
            keep_logs: bool | LogSink = False, node_table: bool = False) -> Iterator[ReplicationOutcome]:
        """Outcomes of ``replications``; ``node_table``: each carries the replication's node table."""
        ...


def require_event_log(engine: Engine) -> None:
    """Refuse the state-change log (--events) from an engine that cannot keep it."""
    if not engine.keeps_logs:
        raise ClusterSimError(f'--events: the {engine.name} engine keeps no event log; use engine = "simpy" for it')


"""The full engine: one SimPy environment per replication, the Cluster model and its jobs, the record log."""
from __future__ import annotations

import gc
from array import array
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import simpy

from clustersim.engine.base import ReplicationOutcome
from clustersim.model.records import COLUMNS, ReplicationRecords
from clustersim.model.base import Context
from clustersim.model.cluster import Cluster
from clustersim.rng import Streams
from clustersim.scenario.schema import Scenario
from clustersim.workloads.training import close_training, start_training


class SimpyEngine:
    """The full model, one SimPy environment per replication; metrics from the record log."""

    name = "simpy"
    keeps_logs = True

    def run(self, scenario: Scenario, replications: Sequence[int],
            keep_logs: bool = False) -> Iterator[ReplicationOutcome]:
        from clustersim.stats import replication_metrics  # scipy: imported only when a run starts

        for k in replications:
            records = run_replication(scenario, k)
            yield ReplicationOutcome(k, replication_metrics(scenario, records), records.events,
                                     records.simulate_s, records if keep_logs else None)


def run_replication(scenario: Scenario, replication: int) -> ReplicationRecords:
    """Simulate replication ``replication`` of ``scenario`` over [0, horizon)."""
    started = time.perf_counter()
    with _young_garbage_collected_at_end():
        values = array("d")  # the log's rows, one after another, flattened: 8 bytes a value, not a float object
        env = simpy.Environment()
        ctx = Context(env, values.extend)
        cluster = Cluster(ctx, scenario, Streams(scenario.simulation.seed, replication))
        jobs = start_training(ctx, scenario, cluster.slots)
        env.run(until=scenario.simulation.horizon)
        close_training(jobs)
        log = _log_array(values)
        del env, values, ctx, cluster, jobs
    simulate_s = time.perf_counter() - started
    return ReplicationRecords(replication=replication, log=log, simulate_s=simulate_s)


def _log_array(values: array) -> np.ndarray:
    """The flattened rows -> the (rows, 6) float64 log, sharing the array's memory (no copy)."""
    return np.frombuffer(values, dtype=np.float64).reshape(-1, len(COLUMNS))


@contextmanager
def _young_garbage_collected_at_end() -> Iterator[None]:
    """Pause automatic garbage collection for one replication, then collect what it left.

    A replication's model (processes, events, nodes) is one big reference cycle that lives
    until the run ends, so automatic collections during the run only re-scan it, and it is
    promoted to the oldest generation whose full collections (every second replication or so)
    cost ~40 ms on the benchmark — about a third of the run time. Paused, everything the
    replication allocated stays in the youngest generation and one young collection at the
    end frees it (its cost is counted in ``simulate_s``). The model creates no cyclic garbage
    per event (whatever a step leaves behind is freed by reference counting), so memory does
    not grow while collection is paused; a component that did would need its cycles broken.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.collect(0)
        if was_enabled:
            gc.enable()

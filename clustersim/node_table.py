"""One replication's per-node table (nodes.parquet), accumulated from its records as they stream in.

O(nodes) state fed by the same rows ``clustersim.measures.Measures`` takes, over the whole run
[0, horizon) (not the warm-up window: a node's history is its whole life). A failure is *blamed*
on a node when the repair shop acts on it as that node's fault: a recovery that starts a repair
(REPAIR WAITING entered from FAILED or OK: escalations come from REPAIRING) or a reboot (REPAIR
REBOOTING, less those of undiagnosed failures, which blame nobody); an innocent node wrongly
blamed counts too. The score, when the scenario keeps one, is ``policies.NodeScorer``'s at the
horizon, rebuilt from the up intervals (NODE rows) and the blames.
"""
from __future__ import annotations

import math

import numpy as np

from clustersim.layout import layout_of
from clustersim.measures import (
    COMP, DOWN, EVENT, FAILURE, FROM, LEMON, NODE, REPAIR, REPAIR_WAITING, REPAIRING, RETIRED, T, TO, UNDIAGNOSED,
    UP, _by_component, _rows_by_kind,
)
from clustersim.model.records import RepairState
from clustersim.scenario.schema import Scenario

REBOOTING = int(RepairState.REBOOTING)

# nodes.parquet's columns, in order (replication first, added when written)
NODE_COLUMNS = ("node", "rack", "role", "lemon_at_start", "lemon_ever", "lemon_at_end", "failures", "blamed",
                "score", "up_hours", "retired_at_hours")


class NodeTable:
    """Per node: role at start, lemon status, failures struck and blamed, score at the horizon, hours up and
    when it was retired; fed rows in time order by ``consume`` (chunks of any size), closed by ``finish``."""

    def __init__(self, scenario: Scenario) -> None:
        n = scenario.nodes.count
        self.scenario = scenario
        self.horizon = scenario.simulation.horizon
        self.failures = np.zeros(n, dtype=np.int64)
        self.blamed = np.zeros(n, dtype=np.int64)
        self.lemon_at_start = np.zeros(n, dtype=bool)
        self.lemon_ever = np.zeros(n, dtype=bool)
        self.lemon_now = np.zeros(n, dtype=bool)
        self.retired_at = np.full(n, math.nan)
        self.up = np.ones(n, dtype=bool)
        self.up_since = np.zeros(n)
        self.credits = np.zeros(n)       # full score credit periods of the finished up intervals
        self.up_hours = np.zeros(n)      # length of the finished up intervals
        self._finished = False

    def consume(self, rows: np.ndarray) -> None:
        """Take the next rows of the log (shape (n, 6), in time order)."""
        if not len(rows):
            return
        n = len(self.failures)
        of = _rows_by_kind(rows)
        self.failures += np.bincount(of[FAILURE][:, COMP].astype(np.int64), minlength=n)
        repair = of[REPAIR]
        to, was = repair[:, TO], repair[:, FROM]
        blamed = ((to == REPAIR_WAITING) & (was != REPAIRING)) | (to == REBOOTING)
        self.blamed += np.bincount(repair[blamed, COMP].astype(np.int64), minlength=n)
        events = of[EVENT]
        self.blamed -= np.bincount(events[events[:, TO] == UNDIAGNOSED, COMP].astype(np.int64), minlength=n)
        retired = repair[to == RETIRED]
        self.retired_at[retired[:, COMP].astype(np.int64)] = retired[:, T]
        lemons = of[LEMON]
        nodes = lemons[:, COMP].astype(np.int64)
        turned = lemons[:, TO] == 1
        self.lemon_ever[nodes[turned]] = True
        self.lemon_at_start[nodes[turned & (lemons[:, T] == 0.0)]] = True
        self.lemon_now[nodes] = turned  # fancy assignment: the last row of a node wins
        self._take_service(of[NODE])

    def _take_service(self, rows: np.ndarray) -> None:
        """Up intervals from NODE rows (a node's rows alternate DOWN, UP): hours up and score credits."""
        if not len(rows):
            return
        rows = rows[_by_component(rows[:, COMP])]
        comp, t, to = rows[:, COMP].astype(np.int64), rows[:, T], rows[:, TO]
        same = np.concatenate(([False], comp[1:] == comp[:-1]))
        began = np.where(same, np.concatenate(([0.0], t[:-1])), self.up_since[comp])
        downs = to == DOWN
        spans = t[downs] - began[downs]
        np.add.at(self.up_hours, comp[downs], spans)
        score = self.scenario.nodes.score
        if score is not None:
            np.add.at(self.credits, comp[downs], np.floor(spans / score.credit_period))
        last = np.concatenate((comp[1:] != comp[:-1], [True]))
        self.up[comp[last]] = to[last] == UP
        ups = last & (to == UP)
        self.up_since[comp[ups]] = t[ups]

    def finish(self) -> NodeTable:
        """The log is complete: close the up intervals still open at the horizon."""
        if not self._finished:
            self._finished = True
            open_span = np.where(self.up, self.horizon - self.up_since, 0.0)
            self.up_hours += open_span
            score = self.scenario.nodes.score
            if score is not None:
                self.credits += np.where(self.up, np.floor(open_span / score.credit_period), 0.0)
        return self

    def columns(self) -> dict[str, np.ndarray]:
        """The table, by column (``NODE_COLUMNS``; ``score`` NaN everywhere when the scenario keeps no score)."""
        self.finish()
        return node_columns(self.scenario, self.failures, self.blamed, self.lemon_at_start, self.lemon_ever,
                            self.lemon_now, self.up_hours, self.credits, self.retired_at)


def node_columns(scenario: Scenario, failures: np.ndarray, blamed: np.ndarray, lemon_at_start: np.ndarray,
                 lemon_ever: np.ndarray, lemon_at_end: np.ndarray, up_hours: np.ndarray, credits: np.ndarray,
                 retired_at: np.ndarray) -> dict[str, np.ndarray]:
    """nodes.parquet's columns from the per-node accumulators (either engine's), the score computed from them."""
    n = len(failures)
    score = scenario.nodes.score
    if score is None:
        scores = np.full(n, math.nan)
    else:
        scores = score.initial - score.failure_penalty * blamed + score.uptime_credit * credits
    per_rack = scenario.nodes.nodes_per_rack
    return {
        "node": np.arange(n, dtype=np.int32), "rack": np.arange(n, dtype=np.int32) // per_rack,
        "role": np.array(layout_of(scenario).node_roles, dtype=object),
        "lemon_at_start": np.array(lemon_at_start, dtype=bool), "lemon_ever": np.array(lemon_ever, dtype=bool),
        "lemon_at_end": np.array(lemon_at_end, dtype=bool), "failures": np.array(failures, dtype=np.int64),
        "blamed": np.array(blamed, dtype=np.int64), "score": scores, "up_hours": np.array(up_hours, dtype=float),
        "retired_at_hours": np.array(retired_at, dtype=float),
    }

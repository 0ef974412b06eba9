"""Metrics per window of time: one replication's metrics measured over each ``simulation.series_window``.

A window's cluster metrics are the same ``Measures`` as the whole run's, over [start, end) of that window
(so every metric has one formula); each window's measures take the rows up to the window's end, which is
all they need (a level or an open interval carries over from earlier rows). An inference service's windowed
metrics come from its requests (``workloads.inference.measure.RequestSeries``).
"""
from __future__ import annotations

import numpy as np

from clustersim.measures import T, Measures
from clustersim.scenario.schema import Scenario

Series = dict[str, list[float | None]]  # metric -> its value in each window (None: not measurable there)


class WindowSeries:
    """The cluster's metrics per window, fed the replication's rows as they stream (in time order)."""

    def __init__(self, scenario: Scenario) -> None:
        self.windows = scenario.simulation.series_windows()
        self._measures = [Measures(scenario, window) for window in self.windows]
        self._open = 0  # windows before this one have ended before the rows seen so far
        self._inference: dict[str, list[float | None]] = {}

    def consume(self, rows: np.ndarray) -> None:
        """Take the next rows: each window still open takes the ones before its end."""
        if not len(rows):
            return
        times = rows[:, T]
        for w in range(self._open, len(self.windows)):
            cut = int(np.searchsorted(times, self.windows[w][1], side="left"))
            if cut:
                self._measures[w].consume(rows[:cut])
        while self._open < len(self.windows) and self.windows[self._open][1] <= times[-1]:
            self._open += 1

    def window_metrics(self, w: int) -> dict[str, float]:
        """Window ``w``'s metrics (it must have ended: every row before its end was consumed)."""
        return self._measures[w].metrics()

    def take_inference(self, series: Series) -> None:
        """The services' request metrics per window, measured by their model as it ran."""
        self._inference = series

    def series(self) -> Series:
        """Every cluster metric, window by window, then the services' (the log is complete)."""
        rows = [measures.metrics() for measures in self._measures]
        names = dict.fromkeys(name for row in rows for name in row if not name.startswith("inference."))
        return {**{name: [row.get(name) for row in rows] for name in names}, **self._inference}

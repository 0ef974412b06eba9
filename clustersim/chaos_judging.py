"""Judging a chaos experiment's hypotheses: per replication (the share held, with a Wilson interval), in every
window, detection and recovery after each injection, and the hypothesis metrics aligned at the injections.

Both runs measure the hypothesis metrics per window (``simulation.series_window``). After an injection at
``t0`` a windowed hypothesis is *detected* broken at the end of the first window (from the one holding ``t0``)
in which it does not hold, and *recovered* at the end of the next window in which it holds again — as a
monitor evaluating each window when it closes sees it; an occurrence is judged until the next injection (of
any entry) begins, or the horizon, and one never recovered by then is censored. A window in which the metric
cannot be measured (no request sent, no job running) is not judged.
"""
from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from clustersim.experiment import Hypothesis
from clustersim.scenario.sections.abort import compares
from clustersim.stats import estimate, finite_or_none

Z95 = 1.959963984540054  # the standard normal's 97.5 % quantile
HELD, VIOLATED, PARTLY = "held", "violated", "partly held"

Windows = Sequence[tuple[float, float]]
ALIGNED_WINDOWS = 24  # windows after an injection the aligned timeline shows at most
Values = Sequence[float | None]


@dataclass(frozen=True)
class Judged:
    """A share: ``held`` of ``of`` (replications in which a hypothesis held, occurrences recovered in time)."""

    held: int
    of: int

    @property
    def fraction(self) -> float | None:
        return self.held / self.of if self.of else None

    @property
    def interval(self) -> tuple[float | None, float | None]:
        """Wilson's score interval at 95 % (exact at 0 and 1, where a Student-t interval of 0/1 values
        collapses)."""
        if not self.of:
            return None, None
        n, p = self.of, self.held / self.of
        centre = (p + Z95 * Z95 / (2 * n)) / (1 + Z95 * Z95 / n)
        half = Z95 * math.sqrt(p * (1 - p) / n + Z95 * Z95 / (4 * n * n)) / (1 + Z95 * Z95 / n)
        return max(0.0, centre - half), min(1.0, centre + half)

    @property
    def verdict(self) -> str:
        return HELD if self.held == self.of else VIOLATED if self.held == 0 else PARTLY


def holds(hypothesis: Hypothesis, value: float | None) -> bool:
    """Does ``value`` meet the hypothesis? (A replication that could not measure the metric does not.)"""
    return value is not None and math.isfinite(value) and compares(value, hypothesis.comparator,
                                                                   hypothesis.threshold)


@dataclass(frozen=True)
class Occurrence:
    """One injection of an ``[[inject]]`` entry, judged over [at, until)."""

    name: str
    at: float
    until: float


@dataclass(frozen=True)
class Recovery:
    """One hypothesis after one occurrence in one replication."""

    impacted: bool                 # did the hypothesis break after the injection?
    detect_hours: float | None     # from the injection to the end of the first broken window
    recover_hours: float | None    # from the injection to the end of the first window it held in again (None:
                                   # not impacted, or censored: not recovered before the occurrence's span ended)


def occurrences(times: Mapping[str, Sequence[float]], start: float, end: float) -> list[Occurrence]:
    """Every injection (``times``: each entry's, from ``Chaos.injection_times``) within [start, end), each judged
    until the next injection of any entry begins (so one fault's recovery is not another's), or the horizon."""
    found = sorted((at, name) for name, ats in times.items() for at in ats if start <= at < end)
    starts = sorted({at for at, _ in found})
    following = [*starts[1:], end]
    return [Occurrence(name, at, following[bisect.bisect_left(starts, at)]) for at, name in found]


def held_in_every_window(hypothesis: Hypothesis, values: Values) -> bool:
    """A windowed hypothesis holds in a replication when it holds in every window that measured the metric."""
    return all(holds(hypothesis, v) for v in values if v is not None and math.isfinite(v))


def recovery(hypothesis: Hypothesis, values: Values, windows: Windows, occurrence: Occurrence) -> Recovery:
    """Detection and recovery of ``hypothesis`` after ``occurrence``, from one replication's window values."""
    starts = [start for start, _ in windows]
    first = max(0, int(np.searchsorted(starts, occurrence.at, side="right")) - 1)
    span = [w for w in range(first, len(windows)) if windows[w][0] < occurrence.until]
    broken = next((w for w in span if _judged(values[w]) and not holds(hypothesis, values[w])), None)
    if broken is None:
        return Recovery(False, None, None)
    back = next((w for w in span if w > broken and _judged(values[w]) and holds(hypothesis, values[w])), None)
    return Recovery(True, windows[broken][1] - occurrence.at,
                    windows[back][1] - occurrence.at if back is not None else None)


def _judged(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


@dataclass(frozen=True)
class RecoveryFigures:
    """One hypothesis after one injection entry, over every replication and occurrence."""

    occurrences: int
    impacted: int
    recovered: int
    within_deadline: int
    detect_hours: list[float]
    recover_hours: list[float]

    def as_dict(self, deadline_hours: float) -> dict[str, object]:
        """chaos.json's ``recovery`` entry: counts, means with 95 % intervals, the deadline's share (Wilson)."""
        detect, recover = _mean_ci(self.detect_hours), _mean_ci(self.recover_hours)
        impacted, within = Judged(self.impacted, self.occurrences), Judged(self.within_deadline, self.impacted)
        return {"occurrences": self.occurrences, "impacted": self.impacted,
                "impacted_fraction": impacted.fraction, "recovered": self.recovered,
                "censored": self.impacted - self.recovered,
                "time_to_detect_hours": detect[0], "time_to_detect_ci95": detect[1:],
                "time_to_recover_hours": recover[0], "time_to_recover_ci95": recover[1:],
                "recovery_deadline_hours": deadline_hours,
                "recovered_within_deadline_fraction": within.fraction,
                "recovered_within_deadline_ci95": list(within.interval)}


def recovery_figures(hypothesis: Hypothesis, series: Sequence[Values], windows: Windows,
                     found: Sequence[Sequence[Occurrence]], deadline_hours: float) -> RecoveryFigures:
    """``hypothesis`` after the occurrences ``found`` (of one entry, per replication) in each replication's
    ``series``."""
    results = [recovery(hypothesis, values, windows, occurrence)
               for values, mine in zip(series, found) for occurrence in mine]
    impacted = [r for r in results if r.impacted]
    recovered = [r.recover_hours for r in impacted if r.recover_hours is not None]
    return RecoveryFigures(len(results), len(impacted), len(recovered),
                           sum(1 for hours in recovered if hours <= deadline_hours),
                           [r.detect_hours for r in impacted if r.detect_hours is not None], recovered)


def _mean_ci(values: list[float]) -> tuple[float | None, float | None, float | None]:
    if not values:
        return None, None, None
    e = estimate(values, "h")
    low, high = (e.ci95_low, e.ci95_high) if len(values) > 1 else (None, None)
    return e.mean, finite_or_none(low), finite_or_none(high)



@dataclass(frozen=True)
class AlignedBand:
    """A metric's mean and 95 % band across replications and occurrences, at offsets from the injection."""

    offsets_hours: list[float]     # each window's start, from the (first) injection
    mean: list[float | None]
    low: list[float | None]
    high: list[float | None]


def aligned(series: Sequence[Values], windows: Windows, found: Sequence[Sequence[Occurrence]],
            before: int = 2, after: int = ALIGNED_WINDOWS) -> AlignedBand:
    """The values of ``series`` lined up at each occurrence's window (``found``: per replication), from
    ``before`` windows ahead of it to at most ``after`` windows on: the superposed epochs of the injections. A
    window past an occurrence's span (the next injection began) is left out of that epoch. Offsets are from the
    first occurrence."""
    starts = [start for start, _ in windows]
    epochs = [(values, max(0, int(np.searchsorted(starts, o.at, side="right")) - 1), o)
              for values, mine in zip(series, found) for o in mine]
    if not epochs:
        return AlignedBand([], [], [], [])
    spans = [sum(1 for w in range(f, len(windows)) if windows[w][0] < o.until) for _, f, o in epochs]
    length = min(after, max(spans))
    reach = min([before, *(f for _, f, _ in epochs)])
    reference, first = epochs[0][2], epochs[0][1]
    width = windows[0][1] - windows[0][0]
    offsets: list[float] = []
    means: list[float | None] = []
    lows: list[float | None] = []
    highs: list[float | None] = []
    for step in range(-reach, length):
        column = [values[f + step] for (values, f, _), span in zip(epochs, spans) if step < span]
        finite = [v for v in column if v is not None and math.isfinite(v)]
        offsets.append(windows[first][0] + step * width - reference.at)
        if len(finite) > 1:
            e = estimate(finite, "")
            means.append(e.mean)
            lows.append(finite_or_none(e.ci95_low))
            highs.append(finite_or_none(e.ci95_high))
        else:
            means.append(finite[0] if finite else None)
            lows.append(None)
            highs.append(None)
    return AlignedBand(offsets, means, lows, highs)

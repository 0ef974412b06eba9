"""Running a chaos experiment: control and treatment with common random numbers, hypotheses, a verdict.

Replication k of the control and of the treatment draw from the same named streams (``Streams(seed, k)``):
the injections have streams of their own (``chaos/<name>``), so a metric of a part no injection reaches is
the same bit for bit in both, and a paired difference measures the injection alone. A hypothesis is judged
per replication; the share of replications in which it held gets a Wilson 95 % interval (exact at 0 and 1,
where a Student-t interval of 0/1 values collapses).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from clustersim.comparison import Comparison, compare_scenarios
from clustersim.engine.base import Engine
from clustersim.experiment import Experiment, Hypothesis
from clustersim.scenario.schema import Scenario

Z95 = 1.959963984540054  # the standard normal's 97.5 % quantile
HELD, VIOLATED, PARTLY = "held", "violated", "partly held"


@dataclass(frozen=True)
class Judged:
    """One hypothesis over one run's replications."""

    held: int
    of: int

    @property
    def fraction(self) -> float | None:
        return self.held / self.of if self.of else None

    @property
    def interval(self) -> tuple[float | None, float | None]:
        """Wilson's score interval at 95 % for the share held."""
        if not self.of:
            return None, None
        n, p = self.of, self.held / self.of
        centre = (p + Z95 * Z95 / (2 * n)) / (1 + Z95 * Z95 / n)
        half = Z95 * math.sqrt(p * (1 - p) / n + Z95 * Z95 / (4 * n * n)) / (1 + Z95 * Z95 / n)
        return max(0.0, centre - half), min(1.0, centre + half)

    @property
    def verdict(self) -> str:
        return HELD if self.held == self.of else VIOLATED if self.held == 0 else PARTLY


@dataclass
class ChaosOutcome:
    """The experiment, its comparison (control first) and each hypothesis judged in both runs."""

    experiment: Experiment
    comparison: Comparison
    treatment: list[Judged]
    control: list[Judged]


def holds(hypothesis: Hypothesis, value: float | None) -> bool:
    """Does ``value`` meet the hypothesis? (A replication that could not measure the metric does not.)"""
    if value is None or not math.isfinite(value):
        return False
    threshold = hypothesis.threshold
    return {">=": value >= threshold, ">": value > threshold, "<=": value <= threshold,
            "<": value < threshold}[hypothesis.comparator]


def judge(hypothesis: Hypothesis, rows: list[dict[str, float]]) -> Judged:
    return Judged(sum(holds(hypothesis, row.get(hypothesis.metric)) for row in rows), len(rows))


def run_experiment(experiment: Experiment, engine: Callable[[Scenario], Engine | None] = lambda s: None,
                   progress: Callable[[int], None] | None = None) -> ChaosOutcome:
    """Run control then treatment (one seed, one replication count) and judge every hypothesis in both."""
    comparison = compare_scenarios([experiment.control, experiment.treatment], ["control", "treatment"], engine,
                                   progress)
    comparison.names = ["control", "treatment"][: len(comparison.results)]
    control = comparison.results[0].rows
    treatment = comparison.results[1].rows if len(comparison.results) > 1 else []
    return ChaosOutcome(experiment, comparison, [judge(h, treatment) for h in experiment.hypotheses],
                        [judge(h, control) for h in experiment.hypotheses])


def chaos_dict(outcome: ChaosOutcome, files: dict[str, str]) -> dict[str, Any]:
    """chaos.json: the contract's ``hypotheses`` and ``paired``, with what the experiment was."""
    experiment, comparison = outcome.experiment, outcome.comparison
    control, treatment = comparison.results[0], comparison.results[1]
    injected = experiment.treatment.chaos[len(experiment.treatment.chaos) - experiment.injected:]
    names = experiment.treatment.chaos_names[len(experiment.treatment.chaos) - experiment.injected:]
    hypotheses = []
    for hypothesis, judged, base in zip(experiment.hypotheses, outcome.treatment, outcome.control):
        low, high = judged.interval
        base_low, base_high = base.interval
        hypotheses.append({"metric": hypothesis.metric, "comparator": hypothesis.comparator,
                           "threshold": hypothesis.threshold, "held_fraction": judged.fraction,
                           "held_ci95_low": low, "held_ci95_high": high, "verdict": judged.verdict,
                           "control_held_fraction": base.fraction, "control_held_ci95_low": base_low,
                           "control_held_ci95_high": base_high})
    paired = {}
    for difference in comparison.differences:
        e = difference.estimate
        paired[difference.metric] = {
            "control_mean": _finite(control.estimates[difference.metric].mean),
            "treatment_mean": _finite(treatment.estimates[difference.metric].mean),
            "diff_mean": _finite(e.mean), "diff_ci95_low": _finite(e.ci95_low), "diff_ci95_high": _finite(e.ci95_high),
            "significant": difference.significant}
    return {"experiment": experiment.name, "scenario": experiment.control.name, **files,
            "seed": experiment.control.simulation.seed, "replications": len(treatment.rows),
            "engine": experiment.control.simulation.engine,
            "injections": [{"name": name, "action": chaos.action, "at_hours": chaos.at, "every_hours": chaos.every,
                            "duration_hours": chaos.duration, "node": chaos.node, "rack": chaos.rack,
                            "service": chaos.service}
                           for name, chaos in zip(names, injected)],
            "hypotheses": hypotheses, "paired": paired}


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None

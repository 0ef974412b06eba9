"""Running a chaos experiment: control and treatment with common random numbers, hypotheses, a verdict.

Replication k of the control and of the treatment draw from the same named streams (``Streams(seed, k)``):
the injections have streams of their own (``chaos/<name>``), so a metric of a part no injection reaches is
the same bit for bit in both, and a paired difference measures the injection alone. A hypothesis is judged
per replication — on the whole run, or in every window when it has a ``window`` — and the share of
replications in which it held gets a Wilson 95 % interval; after each injection, detection and recovery are
read from the windows (``chaos_judging``).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from clustersim.chaos_judging import (
    HELD, PARTLY, VIOLATED, AlignedBand, Judged, RecoveryFigures, aligned, held_in_every_window, holds,
    occurrences, recovery_figures,
)
from clustersim.comparison import Comparison, compare_scenarios
from clustersim.engine.base import Engine
from clustersim.experiment import Experiment, Hypothesis
from clustersim.rng import Streams
from clustersim.runner import RunResult
from clustersim.scenario.schema import Scenario
from clustersim.stats import estimate, finite_or_none

__all__ = ["HELD", "PARTLY", "VIOLATED", "ChaosOutcome", "Judged", "chaos_dict", "holds", "judge", "run_experiment"]


@dataclass
class ChaosOutcome:
    """The experiment, its comparison (control first), each hypothesis judged in both runs, and per hypothesis
    and injection entry the recovery figures (treatment, control) and the aligned timeline bands."""

    experiment: Experiment
    comparison: Comparison
    treatment: list[Judged]
    control: list[Judged]
    recoveries: dict[tuple[int, str], tuple[RecoveryFigures, RecoveryFigures]] = field(default_factory=dict)
    bands: dict[tuple[int, str], tuple[AlignedBand, AlignedBand]] = field(default_factory=dict)


def judge(hypothesis: Hypothesis, rows: list[dict[str, float]],
          series: list[dict[str, list[float | None]]] | None = None) -> Judged:
    """In how many replications ``hypothesis`` held: on the row's value, or in every window of its series."""
    if hypothesis.window is not None and series is not None:
        return Judged(sum(held_in_every_window(hypothesis, s.get(hypothesis.metric, [])) for s in series),
                      len(series))
    return Judged(sum(holds(hypothesis, row.get(hypothesis.metric)) for row in rows), len(rows))


def run_experiment(experiment: Experiment, engine: Callable[[Scenario], Engine | None] = lambda s: None,
                   progress: Callable[[int], None] | None = None) -> ChaosOutcome:
    """Run control then treatment (one seed, one replication count) and judge every hypothesis in both."""
    comparison = compare_scenarios([experiment.control, experiment.treatment], ["control", "treatment"], engine,
                                   progress)
    comparison.names = ["control", "treatment"][: len(comparison.results)]
    control = comparison.results[0]
    treatment = comparison.results[1] if len(comparison.results) > 1 else None
    outcome = ChaosOutcome(
        experiment, comparison,
        [judge(h, treatment.rows, treatment.series) for h in experiment.hypotheses] if treatment else [],
        [judge(h, control.rows, control.series) for h in experiment.hypotheses])
    if treatment is not None and comparison.complete and experiment.window is not None:
        _after_injections(outcome, control, treatment)
    return outcome


def _after_injections(outcome: ChaosOutcome, control: RunResult, treatment: RunResult) -> None:
    """Per hypothesis and injection entry: detection and recovery, and the metric aligned at the injections."""
    experiment = outcome.experiment
    simulation = experiment.treatment.simulation
    windows = simulation.series_windows()
    found = [occurrences(injection_times(experiment, k, row.get("chaos.abort_hours")), simulation.warmup,
                         simulation.horizon) for k, row in enumerate(treatment.rows)]
    for i, hypothesis in enumerate(experiment.hypotheses):
        runs = [[s.get(hypothesis.metric) for s in run.series] for run in (treatment, control)]
        if any(values is None for values in runs[0] + runs[1]):
            continue  # not measured per window (a service's metric the hybrid technique served)
        by_run = [[values for values in run if values is not None] for run in runs]
        for name in entry_names(experiment):
            mine = [[o for o in replication if o.name == name] for replication in found]
            if not any(mine):
                continue
            bands = [aligned(values, windows, mine) for values in by_run]
            outcome.bands[(i, name)] = (bands[0], bands[1])
            if hypothesis.window is not None:  # a whole-run threshold says nothing of one window
                figures = [recovery_figures(hypothesis, values, windows, mine, experiment.recovery_deadline)
                           for values in by_run]
                outcome.recoveries[(i, name)] = (figures[0], figures[1])


REPLAY = "replay"  # the entry name of a replayed incident log's incidents (each one an injection)


def entry_names(experiment: Experiment) -> list[str]:
    """The experiment's injection entries: its [[inject]] names, then ``replay`` when it replays a log."""
    names = [name for name, _ in experiment.injections]
    return names + [REPLAY] if experiment.treatment.replay is not None and REPLAY not in names else names


def injection_times(experiment: Experiment, replication: int,
                    abort_hours: float | None = None) -> dict[str, list[float]]:
    """When each of the experiment's injections happened in ``replication`` (its times stream, as the model
    drew them: ``Chaos.injection_times``), none after an abort ``abort_hours`` from warmup; a replayed log's
    incidents at their times."""
    simulation = experiment.treatment.simulation
    streams = Streams(simulation.seed, replication)
    last = simulation.warmup + abort_hours if abort_hours is not None else simulation.horizon
    times = {name: [at for at in chaos.injection_times(streams.generator(f"chaos/{name}/times"), simulation.horizon)
                    if at <= last] for name, chaos in experiment.injections}
    replay = experiment.treatment.replay
    if REPLAY in entry_names(experiment) and replay is not None:
        times[REPLAY] = sorted(incident.time for incident in replay.incidents if incident.time < simulation.horizon)
    return times


def chaos_dict(outcome: ChaosOutcome, files: dict[str, str]) -> dict[str, Any]:
    """chaos.json: the contract's ``hypotheses`` and ``paired``, with what the experiment was, the recovery
    after each injection, and each injection's reach (blast radius, MTTR, error budget)."""
    experiment, comparison = outcome.experiment, outcome.comparison
    control, treatment = comparison.results[0], comparison.results[1]
    hypotheses = []
    for i, (hypothesis, judged, base) in enumerate(zip(experiment.hypotheses, outcome.treatment, outcome.control)):
        low, high = judged.interval
        base_low, base_high = base.interval
        recovery = {name: {"treatment": figures[0].as_dict(experiment.recovery_deadline),
                           "control": figures[1].as_dict(experiment.recovery_deadline)}
                    for (h, name), figures in outcome.recoveries.items() if h == i}
        hypotheses.append({"metric": hypothesis.metric, "comparator": hypothesis.comparator,
                           "threshold": hypothesis.threshold, "window_hours": hypothesis.window,
                           "held_fraction": judged.fraction,
                           "held_ci95_low": low, "held_ci95_high": high, "verdict": judged.verdict,
                           "control_held_fraction": base.fraction, "control_held_ci95_low": base_low,
                           "control_held_ci95_high": base_high, "recovery": recovery})
    paired = {}
    for difference in comparison.differences:
        e = difference.estimate
        paired[difference.metric] = {
            "control_mean": finite_or_none(control.estimates[difference.metric].mean),
            "treatment_mean": finite_or_none(treatment.estimates[difference.metric].mean),
            "diff_mean": finite_or_none(e.mean), "diff_ci95_low": finite_or_none(e.ci95_low),
            "diff_ci95_high": finite_or_none(e.ci95_high),
            "significant": difference.significant}
    return {"experiment": experiment.name, "scenario": experiment.control.name, **files,
            "seed": experiment.control.simulation.seed, "replications": len(treatment.rows),
            "engine": experiment.control.simulation.engine, "window_hours": experiment.window,
            "recovery_deadline_hours": experiment.recovery_deadline,
            "injections": [_injection_dict(name, chaos, treatment) for name, chaos in experiment.injections],
            "aborts": _aborts_dict(experiment.treatment, treatment),
            "replay": _replay_dict(experiment.treatment),
            "blast_radius": _blast_radius(experiment, control, treatment, paired),
            "hypotheses": hypotheses, "paired": paired}


def _injection_dict(name: str, chaos: Any, treatment: RunResult) -> dict[str, Any]:
    """What the entry was, and what it did on its own cause: nodes it failed, their MTTR, jobs it stopped."""
    estimates = treatment.estimates
    jobs = [f"training.{job.name}.interruptions.{name}" for job in treatment.scenario.training]
    interrupted = [sum(row.get(metric, 0.0) for metric in jobs) for row in treatment.rows]
    mttr = estimates.get(f"nodes.outage_mean_hours.{name}")
    failures = estimates.get(f"nodes.failures.{name}")
    return {"name": name, "action": chaos.action, "at_hours": chaos.at, "every_hours": chaos.every,
            "duration_hours": chaos.duration, "node": chaos.node, "rack": chaos.rack, "service": chaos.service,
            "node_failures_mean": finite_or_none(failures.mean) if failures is not None else None,
            "mttr_hours": finite_or_none(mttr.mean) if mttr is not None else None,
            "mttr_ci95": [finite_or_none(mttr.ci95_low), finite_or_none(mttr.ci95_high)] if mttr is not None else None,
            "job_interruptions_mean": finite_or_none(estimate(interrupted, "").mean) if jobs and interrupted else None}


def _replay_dict(scenario: Scenario) -> dict[str, Any] | None:
    """The incident log the treatment replays, if any: its file, mode and how many incidents it holds."""
    replay = scenario.replay
    if replay is None:
        return None
    return {"source": replay.source, "mode": replay.mode, "incidents": len(replay.incidents)}


def _aborts_dict(scenario: Scenario, treatment: RunResult) -> dict[str, Any]:
    """The abort conditions, the share of replications in which one stopped the injections, and when."""
    stopped = [row["chaos.aborted"] for row in treatment.rows if "chaos.aborted" in row]
    when = [row["chaos.abort_hours"] for row in treatment.rows if row.get("chaos.aborted")]
    return {"conditions": [c.model_dump() for c in scenario.abort],
            "aborted_fraction": sum(stopped) / len(stopped) if stopped else None,
            "abort_hours_mean": sum(when) / len(when) if when else None}


def _blast_radius(experiment: Experiment, control: RunResult, treatment: RunResult,
                  paired: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """How far the injections reached: per service the extra failed requests and the error budget they burned
    (paired, treatment − control), and the metrics that moved significantly, by part of the system."""
    services = {}
    for spec in experiment.treatment.inference:
        prefix = f"inference.{spec.name}"
        failed = [_failed(t, prefix) - _failed(c, prefix) for t, c in zip(treatment.rows, control.rows)]
        finite = [x for x in failed if math.isfinite(x)]
        extra = estimate(finite, "requests") if len(finite) > 1 else None
        burn = paired.get(f"{prefix}.error_budget_burn")
        services[spec.name] = {
            "extra_failed_requests_mean": finite_or_none(extra.mean) if extra else None,
            "extra_failed_requests_ci95": [finite_or_none(extra.ci95_low), finite_or_none(extra.ci95_high)]
            if extra else None,
            "error_budget_burned": burn["diff_mean"] if burn else None,
            "error_budget_burned_ci95": [burn["diff_ci95_low"], burn["diff_ci95_high"]] if burn else None,
            "error_budget_burn_treatment": burn["treatment_mean"] if burn else None}
    moved: dict[str, list[str]] = {}
    for metric, p in paired.items():
        if p["significant"]:
            moved.setdefault(metric.split(".")[0], []).append(metric)
    return {"services": services, "moved": moved,
            "untouched_parts": sorted({m.split(".")[0] for m in paired} - set(moved))}


def _failed(row: dict[str, float], prefix: str) -> float:
    """Requests of a service that were not good (sent × (1 − success ratio))."""
    requests, success = row.get(f"{prefix}.requests"), row.get(f"{prefix}.success_ratio")
    return requests * (1.0 - success) if requests is not None and success is not None else math.nan

"""The report of one run: what happened in words (from the numbers), the headline metrics with their intervals,
the figures (availability over time, failure causes, one replication's outages, where each job's wall time went,
serving latency and SLO windows, storage exposure), the key parameters and every metric."""
from __future__ import annotations

from collections.abc import Callable

from clustersim.job_phases import job_phases
from clustersim.layout import metric_info, serving_technique
from clustersim.report.document import Figure, Report, Section, Table, table
from clustersim.report.figures.availability import availability_png
from clustersim.report.figures.causes import causes_png
from clustersim.report.figures.outages import outage_timeline_png
from clustersim.report.figures.serving import latency_png, slo_windows_png
from clustersim.report.figures.storage import storage_png
from clustersim.report.figures.walltime import walltime_png
from clustersim.report.parameters import failure_modes_table, settings_table, workloads_table
from clustersim.report.review import headline_metrics, hours_text, value_text
from clustersim.report.sample import SampleReplication, report_windows
from clustersim.report.terminal import format_interval, format_mean
from clustersim.runner import RunResult
from clustersim.stats import Estimate

Series = dict[str, list[float | None]]


def metrics_table(estimates: dict[str, Estimate], names: list[str], caption: str = "") -> Table:
    """metric, mean, 95 % CI, unit, n and meaning of each of ``names``."""
    rows = []
    for name in names:
        e, info = estimates[name], metric_info(name)
        rows.append([name, format_mean(e), format_interval(e, info.low, info.high), e.unit, str(e.n), info.meaning])
    return table(["metric", "mean", "95 % CI", "unit", "n", "meaning"], rows, numeric={1, 2, 4}, caption=caption)


def findings(result: RunResult) -> list[str]:
    """What the run says, one sentence per part of the system, each number with its interval."""
    est, scenario = result.estimates, result.scenario
    lines = []

    def has(*names: str) -> bool:
        return all(n in est for n in names)

    if has("nodes.availability", "nodes.up_mean"):
        lines.append(f"Nodes were in service {value_text('nodes.availability', est['nodes.availability'])} of the "
                     f"time: {format_mean(est['nodes.up_mean'])} of {scenario.nodes.count:,} nodes up on average.")
    if has("nodes.failures"):
        causes = {n.removeprefix("nodes.failures."): e.mean for n, e in est.items() if n.startswith("nodes.failures.")}
        total = est["nodes.failures"].mean
        line = (f"{value_text('nodes.failures', est['nodes.failures'])} node failures per replication "
                f"({hours_text(scenario.simulation.horizon - scenario.simulation.warmup)} measured)")
        if causes and total > 0:
            top = max(causes, key=lambda c: causes[c])
            line += f"; the largest cause is {top} ({causes[top] / total:.0%} of them)"
        lines.append(line + ".")
    if has("nodes.outage_mean_hours"):
        lines.append(f"A node's outage lasted {value_text('nodes.outage_mean_hours', est['nodes.outage_mean_hours'])}"
                     " on average, from failure to its return to service.")
    for job in scenario.training:
        p = f"training.{job.name}"
        if has(f"{p}.ettr", f"{p}.interruptions", f"{p}.lost_work_hours"):
            lines.append(f"Job {job.name} ({job.nodes:,} nodes) turned {value_text(f'{p}.ettr', est[f'{p}.ettr'])} "
                         f"of its wall time into checkpointed compute (ETTR), through "
                         f"{value_text(f'{p}.interruptions', est[f'{p}.interruptions'])} interruptions that threw "
                         f"away {value_text(f'{p}.lost_work_hours', est[f'{p}.lost_work_hours'])} of computed work.")
    for service in scenario.inference:
        p = f"inference.{service.name}"
        if has(f"{p}.success_ratio"):
            line = (f"Service {service.name} answered "
                    f"{value_text(f'{p}.success_ratio', est[f'{p}.success_ratio'])} of its requests within the SLO")
            if has(f"{p}.latency_p99_s"):
                line += f"; its p99 latency was {value_text(f'{p}.latency_p99_s', est[f'{p}.latency_p99_s'])}"
            lines.append(line + ".")
    if has("storage.read_availability", "storage.data_loss_events"):
        losses = est["storage.data_loss_events"]
        lost = ("no object lost every replica in any replication" if losses.mean == 0 else
                f"{value_text('storage.data_loss_events', losses)} objects lost every replica per replication")
        lines.append(f"Every checkpoint object was readable "
                     f"{value_text('storage.read_availability', est['storage.read_availability'])} of the time; "
                     f"{lost}.")
    return lines


def _figure(name: str, caption: str, draw: Callable[[], bytes | None]) -> list[Figure]:
    png = draw()
    return [] if png is None else [Figure(name, caption, png)]


def run_figures(result: RunResult, sample: SampleReplication | None) -> list[Section]:
    """The figure sections a run has something to show in (a section without figures is left out)."""
    scenario, est = result.scenario, result.estimates
    measured = report_windows(scenario)  # the windows the series were measured in
    series: list[Series] = result.series or ([sample.series] if sample is not None else [])
    over = (f"{len(series)} replications" if len(series) > 1 else
            "one replication (re-simulated on the SimPy engine: the fast engine measures no windows)"
            if sample is not None and sample.resimulated_on_simpy and not result.series else "one replication")
    which = "" if sample is None else (f"replication {sample.replication}" + (
        " re-simulated on the SimPy engine (the fast engine keeps no log)" if sample.resimulated_on_simpy else ""))
    sections = [
        Section("Availability over time", figures=_figure(
            "availability_over_time", f"Availability per window: mean and 95 % band across {over}; dashed: the "
            "whole run's mean.", lambda: availability_png(measured, series))),
        Section("Failures and outages", figures=[
            *_figure("failure_causes", f"Failure causes as a Pareto chart: mean per replication with 95 % CI over "
                     f"{len(result.rows)} replications; line: the cumulative share.",
                     lambda: causes_png(est, len(result.rows))),
            *([] if sample is None else _figure(
                "outage_timeline", f"Outages of {which}: one row per node that went down, coloured by cause, with "
                "each training job's state on top.", lambda: outage_timeline_png(scenario, sample.log,
                                                                                 sample.replication)))]),
    ]
    if sample is not None and scenario.training:
        phases = job_phases(scenario, sample.log)
        figures = _figure("training_wall_time", f"Where each training job's wall time went in {which}.",
                          lambda: walltime_png(phases, sample.replication))
        sections.append(Section("Training: where the wall time went", tables=[_phases_table(phases)],
                                figures=figures))
    if scenario.inference:
        serving = Section("Serving", figures=[
            *_figure("serving_latency", f"Latency percentiles per service: mean with 95 % CI over "
                     f"{len(result.rows)} replications (log scale).", lambda: latency_png(est)),
            *_figure("serving_slo_windows", f"Share of requests answered within the SLO per window, mean and 95 % "
                     f"band across {over}; dashed: the SLO target.", lambda: slo_windows_png(measured, series))])
        if serving_technique(scenario) == "hybrid" and len(serving.figures) < 2:  # no SLO windows figure
            serving.paragraphs.append("No SLO windows: the services ran with the hybrid technique, which does not "
                                      "simulate every request and so measures no request metric per window "
                                      "(simulation.serving = \"requests\" does).")
        sections.append(serving)
    if scenario.storage is not None:
        sections.append(Section("Checkpoint storage", figures=_figure(
            "storage_exposure", f"Storage exposure: under-replicated objects and availability per window across "
            f"{over}; losses and re-replication over {len(result.rows)} replications.",
            lambda: storage_png(measured, est, series))))
    return [s for s in sections if s.figures or s.tables]


def _phases_table(phases: dict[str, dict[str, float]]) -> Table:
    rows = []
    for job, spent in phases.items():
        wall = sum(spent.values())
        rows += [[job, phase, hours_text(hours), f"{hours / wall:.1%}" if wall > 0 else "—"]
                 for phase, hours in spent.items() if hours > 0]
    return table(["job", "phase", "time", "share of wall time"], rows, numeric={2, 3})


def run_report(result: RunResult, sample: SampleReplication | None, source: str) -> Report:
    """The whole report of a run of ``source`` (the scenario file's name)."""
    scenario, sim = result.scenario, result.scenario.simulation
    subtitle = (f"{source}: {len(result.rows)} replications of {hours_text(sim.horizon)} "
                f"(warmup {hours_text(sim.warmup)}), seed {sim.seed}, {sim.engine} engine"
                + ("" if result.complete else "; interrupted: the replications finished before the stop"))
    settings = Section("Scenario", tables=[t for t in (settings_table(scenario), failure_modes_table(scenario),
                                                       workloads_table(scenario)) if t is not None])
    if not result.rows:
        stopped = Section("Summary", paragraphs=["The run was stopped before any replication finished: there is "
                                                 "nothing to report. Run it again to the end."])
        return Report(f"{scenario.name}: run report", subtitle, [stopped, settings])
    headline = headline_metrics(result.estimates)
    sections = [Section("Summary", paragraphs=findings(result)),
                Section("Headline metrics", tables=[metrics_table(
                    result.estimates, headline, "mean over replications with its Student-t 95 % interval")])]
    sections += run_figures(result, sample)
    sections.append(settings)
    sections.append(Section("Every metric", tables=[metrics_table(result.estimates, list(result.estimates))],
                            folded=True))
    return Report(f"{scenario.name}: run report", subtitle, sections)

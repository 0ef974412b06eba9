"""The reports of optimize-checkpoint (the goodput curve and the optima) and of search (the steps and the
threshold found), each from the numbers its command computed."""
from __future__ import annotations

from typing import Any

from clustersim.checkpointing import CheckpointAdvice
from clustersim.report.document import Figure, Report, Section, table
from clustersim.report.figures.search import search_png
from clustersim.report.parameters import settings_table, workloads_table
from clustersim.report.plots import goodput_vs_interval_png
from clustersim.report.review import value_text
from clustersim.report.terminal import format_interval, format_mean
from clustersim.units import readable_hours


def checkpoint_report(advice: CheckpointAdvice) -> Report:
    """The simulated optimum against Young's and Daly's, the current interval's goodput, every interval tried."""
    best = advice.optimum.best
    current = next((o for o in advice.outcomes if o.interval_hours == advice.current_interval_hours), None)
    job = f"training.{advice.job_name}.goodput"
    lines = [f"The highest mean goodput is at a checkpoint interval of {readable_hours(best.interval_hours)}: "
             f"{value_text(job, best.goodput)}; intervals from {readable_hours(advice.optimum.low_hours)} to "
             f"{readable_hours(advice.optimum.high_hours)} cannot be told apart from it (their 95 % intervals "
             "overlap).",
             f"Young's formula gives {readable_hours(advice.young_hours)}, Daly's {readable_hours(advice.daly_hours)} "
             f"(with the measured job MTBF {readable_hours(advice.mtbf.for_formulas_hours)} and restart "
             f"{readable_hours(advice.restart_hours)})."]
    if current is not None:
        inside = "inside" if advice.optimum.contains(current.interval_hours) else "outside"
        lines.append(f"The current interval, {readable_hours(current.interval_hours)}, gives "
                     f"{value_text(job, current.goodput)}: {inside} the optimum's range.")
    rows = [[readable_hours(o.interval_hours), format_mean(o.goodput), format_interval(o.goodput, 0, 1),
             format_mean(o.ettr), format_mean(o.interruptions), format_mean(o.lost_work_hours)]
            for o in advice.outcomes]
    intervals = table(["interval", "goodput", "95 % CI", "ETTR", "interruptions", "lost work (h)"], rows,
                      numeric={1, 2, 3, 4, 5})
    figure = Figure("goodput_vs_interval", "Goodput against the checkpoint interval with 95 % CIs; the optimum's "
                    "range shaded; Young's, Daly's and the current interval marked.",
                    goodput_vs_interval_png(advice))
    sections = [Section("Findings", paragraphs=lines), Section("Goodput against the interval", tables=[intervals],
                                                              figures=[figure]),
                Section("Scenario", tables=[t for t in (settings_table(advice.scenario),
                                                        workloads_table(advice.scenario)) if t is not None])]
    reps = advice.outcomes[0].goodput.n
    return Report(f"{advice.scenario.name}: checkpoint interval of job {advice.job_name}",
                  f"{len(advice.outcomes)} intervals, {reps} replications each, seed "
                  f"{advice.scenario.simulation.seed}", sections)


def search_report(info: dict[str, Any]) -> Report:
    """search.json's verdict, each step and the steps' figure."""
    target = info["target"]
    rows = [[str(i), str(s["value"]), str(s["replications"]), "—" if s["mean"] is None else f"{s['mean']:.6g}",
             "—" if s["lower"] is None else f"{s['lower']:.6g}", "—" if s["upper"] is None else f"{s['upper']:.6g}",
             s["decision"]] for i, s in enumerate(info["steps"], start=1)]
    steps = table(["step", info["key"], "replications", "mean", "lower bound", "upper bound", "decision"], rows,
                  numeric={0, 2, 3, 4, 5})
    png = search_png(info)
    figures = [] if png is None else [Figure("search_steps", "Each value tried: the target metric's mean with its "
                                             "one-sided bounds; dashed: the target.", png)]
    verdict = info["verdict"]
    return Report(f"{info['scenario']}: search for {target['metric']} {target['comparator']} {target['threshold']:g}",
                  f"varying {info['key']} at confidence {info['confidence']:g}, seed {info['seed']}, at most "
                  f"{info['max_replications']} replications per value",
                  [Section("Verdict", paragraphs=[verdict[0].upper() + verdict[1:] + "."]),
                   Section("Steps", tables=[steps], figures=figures)])

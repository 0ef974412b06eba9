"""Command line of the many-run commands: ``sweep``, ``compare`` and ``search`` (parsing and terminal output only).

``cli.py`` registers them with ``add_commands`` and dispatches to the ``cmd_*`` functions here.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clustersim.errors import ClusterSimError, ScenarioError

if TYPE_CHECKING:
    from clustersim.engine.base import Engine
    from clustersim.scenario.schema import Scenario

COMMANDS = ("sweep", "compare", "search", "chaos")
POOL_MIN_SECONDS = 2.0  # a SimPy run estimated shorter than this stays in-process (a pool's start-up is ~1 s)


def _workers(text: str) -> int:
    """``--workers N``: a positive number of processes."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def add_workers_arg(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--workers", type=_workers, metavar="N",
                        help=what if "default" in what else f"{what} (default: every core)")


def _add_paired_args(parser: argparse.ArgumentParser, of: str, out_help: str) -> None:
    """The flags of the commands that run scenarios in pairs with common random numbers (compare, chaos)."""
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help=f"override a key of {of} with a TOML value")
    parser.add_argument("--replications", type=int, metavar="N", help=f"replications of {of}")
    parser.add_argument("--seed", type=int, metavar="N", help=f"the base random seed of {of}")
    parser.add_argument("--engine", choices=["simpy", "fast"], help=f"simulation engine of {of}")
    parser.add_argument("--force", action="store_true",
                        help="run even when the work estimate says it is beyond this machine's time or memory")
    add_workers_arg(parser, "processes (SimPy) or threads (fast) for the replications")
    parser.add_argument("--out", metavar="DIR", help=out_help)
    parser.add_argument("--overwrite", action="store_true", help="replace the results already in --out DIR, whole")
    parser.add_argument("--no-report", action="store_true", help="write the results files only: no report.html, "
                        "report.md or plots/")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")


def add_commands(sub: Any, add_scenario_args: Callable[[argparse.ArgumentParser], None]) -> None:
    """The sweep, compare and search sub-commands, with the scenario flags every command shares."""
    sweep = sub.add_parser("sweep", help="run every point of the scenario's [sweep] table and/or --vary; resumable")
    add_scenario_args(sweep)
    sweep.add_argument("--vary", action="append", default=[], metavar="KEY=V1,V2,...",
                       help="vary a dotted key over comma-separated TOML values (adds an axis, or replaces the "
                            "[sweep] table's axis of that key)")
    sweep.add_argument("--out", metavar="DIR", help="the sweep's directory (default results/<name>/sweep-<id>/); "
                                                    "rerunning the same sweep into it resumes")
    sweep.add_argument("--overwrite", action="store_true", help="replace another sweep's directory, whole")
    add_workers_arg(sweep, "worker processes (local) or LocalCluster workers (dask)")
    sweep.add_argument("--executor", choices=["local", "dask"], default="local",
                       help="local: a process pool on this machine (default); dask: a Dask cluster")
    sweep.add_argument("--scheduler", metavar="ADDR",
                       help="with --executor dask: the scheduler, e.g. tcp://HOST:8786 (default: a LocalCluster)")
    sweep.add_argument("--no-report", action="store_true", help="write the tables only: no report.html, report.md "
                       "or plots/*.png")
    sweep.add_argument("--quiet", action="store_true", help="print nothing but errors")

    compare = sub.add_parser("compare", help="run scenarios with common random numbers; paired differences to the "
                                             "first")
    compare.add_argument("scenarios", type=Path, nargs="+", metavar="SCENARIO", help="scenario TOML files, "
                                                                                     "baseline first")
    _add_paired_args(compare, "every scenario", "write compare.csv into DIR (default "
                                                "results/<first name>/compare-<time>/)")

    chaos = sub.add_parser("chaos", help="a chaos experiment: control and treatment (the faults injected) with common "
                                         "random numbers; the hypotheses judged, paired differences")
    chaos.add_argument("experiment", type=Path, help="experiment TOML file")
    _add_paired_args(chaos, "the experiment's scenario (control and treatment)",
                     "write chaos.json into DIR (default results/<experiment>/chaos-<time>/)")

    search = sub.add_parser("search", help="bisect a monotone parameter for the threshold of a target")
    add_scenario_args(search)
    search.add_argument("--vary", required=True, metavar="KEY", help="the dotted key to search over")
    search.add_argument("--min", required=True, metavar="A", help="the low end (TOML value: 0, 0.5, '\"10 min\"')")
    search.add_argument("--max", required=True, metavar="B", help="the high end (same kind and unit as --min)")
    search.add_argument("--target", required=True, metavar='"METRIC >= X"',
                        help='the target, e.g. "training.pretrain.ettr >= 0.95" (>=, >, <=, <)')
    search.add_argument("--tolerance", metavar="D", help="bracket width to stop at (non-integer searches)")
    search.add_argument("--confidence", type=float, default=0.95, metavar="C",
                        help="confidence of each decision (one-sided Student-t bound), default 0.95")
    search.add_argument("--max-replications", type=int, metavar="N",
                        help="replications per value at most (default 8x the scenario's)")
    add_workers_arg(search, "processes (SimPy) or threads (fast) for the replications")
    search.add_argument("--out", metavar="DIR", help="write search.json into DIR (default "
                                                     "results/<name>/search-<time>/)")
    search.add_argument("--overwrite", action="store_true", help="replace the results already in --out DIR, whole")
    search.add_argument("--no-report", action="store_true", help="write search.json only: no report.html, "
                        "report.md or plots/")
    search.add_argument("--quiet", action="store_true", help="print nothing but errors")


def engine_on_workers(scenario: Scenario, workers: int | None) -> Engine:
    """The scenario's engine on ``workers`` cores (default all): the fast engine's threads, or a process pool for
    SimPy replications when the run is long enough to repay the pool's start-up (the numbers are the same)."""
    from clustersim.engine.select import engine_for
    from clustersim.executors import ParallelEngine, default_workers
    from clustersim.feasibility import estimate_work
    from clustersim.layout import serving_core

    engine = engine_for(scenario)
    cores = workers or default_workers()
    replications = scenario.simulation.replications_limit or 1
    if scenario.simulation.engine == "fast":
        from clustersim.engine.fast.engine import FastEngine, ensure_compiled

        if scenario.inference and serving_core(scenario) == "python" and cores > 1 and replications > 1:
            # the services' model is Python here: threads would take turns on one core (the GIL), processes do
            # not; compiled (or loaded) here, before the pool forks, so no worker compiles
            ensure_compiled()
            return ParallelEngine("fast", False, min(cores, replications))
        return FastEngine(workers=cores)
    if cores > 1 and replications > 1 and (workers is not None or estimate_work(scenario).seconds >= POOL_MIN_SECONDS):
        return ParallelEngine(engine.name, engine.keeps_logs, min(cores, replications))
    return engine


@contextmanager
def engine_session(scenario: Scenario, workers: int | None) -> Iterator[Engine]:
    """``engine_on_workers`` for one run; its pool (if any) stops when the block ends (at once on an error)."""
    engine = engine_on_workers(scenario, workers)
    try:
        yield engine
    except BaseException:
        close_engine(engine, failed=True)
        raise
    close_engine(engine)


def close_engine(engine: Any, failed: bool = False) -> None:
    """Stop an engine's process pool, if it has one."""
    close = getattr(engine, "close", None)
    if close is not None:
        close(failed)


def _interrupt_status(stops: Any, err: BaseException) -> int:
    return stops.first if stops.first is not None else int(getattr(err, "signum", signal.SIGINT))


# --- sweep ------------------------------------------------------------------------------------

def cmd_sweep(args: argparse.Namespace, overrides: tuple[str, ...], prepare: Callable[..., None],
              refuse_beyond: Callable[..., None]) -> int:
    from clustersim.sweep_grid import plan_sweep

    plan = plan_sweep(args.scenario, overrides, args.vary)  # every point validated before anything runs
    if args.scheduler is not None and args.executor != "dask":
        raise ClusterSimError("--scheduler: only with --executor dask")
    refuse_beyond(args, plan.points[0].scenario, runs=len(plan.points))
    if args.out is None:  # one directory per sweep, so that rerunning the same command resumes
        out = Path("results") / plan.name / f"sweep-{plan.fingerprint[:12]}"
    elif not args.out.strip():
        raise ClusterSimError("--out: an empty path; name the directory to write the sweep into")
    else:
        out = Path(args.out)
    from clustersim.executors import make_executor
    from clustersim.report.terminal import Terminal
    from clustersim.runner import Interrupted, StopSignals
    from clustersim.sweep_run import run_sweep

    executor = make_executor(args.executor, args.workers, args.scheduler)
    with StopSignals() as stops:
        terminal = Terminal(quiet=args.quiet)

        def warn(line: str) -> None:
            print(f"clustersim: {line}", file=sys.stderr)

        try:
            if any(p.scenario.simulation.engine == "fast" for p in plan.points):
                prepare(plan.points[0].scenario, terminal, stops)  # compiled once here; workers load the cache
            with terminal.progress(f"{plan.name} sweep", len(plan.points), unit="points", rate=True) as advance, \
                    stops.interruptible():
                result = run_sweep(plan, out, executor, overwrite=args.overwrite,
                                   progress=lambda done, total: advance(done, total), on_corrupt=warn,
                                   uncut=stops.deferred, plots=not args.no_report)
        except KeyboardInterrupt as err:
            if not args.quiet:
                print(f"clustersim: interrupted; finished points are kept in {out}/ (rerun the same command to "
                      "resume)", file=sys.stderr)
            raise Interrupted(_interrupt_status(stops, err)) from None
        if not args.quiet:
            rate = result.points_computed / result.wall_s if result.wall_s > 0 else 0.0
            terminal.console.print(
                f"{len(plan.points):,} points ({result.points_computed:,} computed, {result.points_reused:,} reused) "
                f"in {result.wall_s:.1f} s ({rate:,.1f} points/s); {result.simulate_s_computed:.1f} s of simulation "
                f"on {executor.workers} workers", highlight=False)
            terminal.console.print(f"results in {out}/")
    return stops.exit_status or 0


# --- compare ----------------------------------------------------------------------------------

def cmd_compare(args: argparse.Namespace, overrides: tuple[str, ...], prepare: Callable[..., None],
                refuse_beyond: Callable[..., None], out_dir: Callable[..., Path]) -> int:
    from clustersim.comparison import common_settings_problems
    from clustersim.feasibility import run_problems
    from clustersim.scenario import load_scenario

    if len(args.scenarios) < 2:
        raise ClusterSimError("compare: give at least two scenario files (the first is the baseline)")
    scenarios, sources, problems = [], [], []
    for path in args.scenarios:
        try:
            scenario = load_scenario(path, overrides)
        except ScenarioError as err:
            problems += str(err).splitlines()
            continue
        problems += [f"{path.name}: {p}" for p in run_problems(scenario)]
        scenarios.append(scenario)
        sources.append(path.name)
    if problems:
        raise ClusterSimError("\n".join(problems))
    problems = common_settings_problems(scenarios, sources)
    if problems:
        raise ClusterSimError("\n".join(problems))
    for scenario, path in zip(scenarios, args.scenarios):
        refuse_beyond(argparse.Namespace(force=args.force, scenario=path), scenario)
    out = out_dir(args.out, scenarios[0].name, "compare-")
    from clustersim.comparison import compare_scenarios, comparison_frame
    from clustersim.report.files import write_synced

    def write(comparison: Any, path: Path, terminal: Any) -> Callable[[], None]:
        write_synced(path / "compare.csv", comparison_frame(comparison).to_csv(index=False))
        info = {"scenarios": comparison.names, "files": [str(p) for p in args.scenarios], "baseline":
                comparison.names[0], "seed": scenarios[0].simulation.seed,
                "replications": [len(r.rows) for r in comparison.results],
                "engines": [s.simulation.engine for s in scenarios],
                "significant": [{"metric": d.metric, "scenario": d.scenario, "diff_mean": d.estimate.mean}
                                for d in comparison.differences if d.significant]}
        write_synced(path / "compare.json", json.dumps(info, indent=2, allow_nan=False) + "\n")
        if not args.no_report:
            from clustersim.report.document import write_report
            from clustersim.report.paired_report import compare_report

            write_report(path, compare_report(comparison, [p.name for p in args.scenarios]))
        return lambda: _show_comparison(terminal, comparison, out)

    return _run_paired(args, out, scenarios, prepare, "compare",
                       lambda engine, advance: compare_scenarios(scenarios, sources, engine, progress=advance),
                       lambda comparison: comparison.complete, write)


def _run_paired(args: argparse.Namespace, out: Path, scenarios: list[Scenario], prepare: Callable[..., None],
                what: str, compute: Callable[[Callable[[Scenario], Engine], Callable[[int], None]], Any],
                complete: Callable[[Any], bool], write: Callable[[Any, Path, Any], Callable[[], None]]) -> int:
    """What compare and chaos share: stop signals, the results directory (complete or absent), the fast engine
    loaded up front, ``compute(engine, advance)`` under a progress bar over every scenario's replications and its
    engines closed after; unless ``complete(outcome)`` nothing is written (exit 130 or 143), else
    ``write(outcome, directory, terminal)`` writes the files and returns what to show once they are in place."""
    from clustersim.report.files import ResultsDirectory
    from clustersim.report.terminal import Terminal
    from clustersim.runner import Interrupted, StopSignals

    engines: list[Any] = []

    def engine(scenario: Scenario) -> Engine:
        engines.append(engine_on_workers(scenario, args.workers))
        return engines[-1]

    total = sum(s.simulation.replications_limit or 1 for s in scenarios)
    with StopSignals() as stops, ResultsDirectory(out, overwrite=args.overwrite) as results:
        terminal = Terminal(quiet=args.quiet)
        try:
            fast = next((s for s in scenarios if s.simulation.engine == "fast"), None)
            if fast is not None:
                prepare(fast, terminal, stops)
            with terminal.progress(what, total) as advance:
                outcome = compute(engine, advance)
        finally:
            for used in engines:
                close_engine(used, failed=stops.first is not None)
        if not complete(outcome):  # nothing is written: the result needs every run whole
            raise Interrupted(_interrupt_status(stops, KeyboardInterrupt()))
        show = write(outcome, results.path, terminal)
        results.commit()
        if not args.quiet:
            show()
    return stops.exit_status or 0


def cmd_chaos(args: argparse.Namespace, overrides: tuple[str, ...], prepare: Callable[..., None],
              refuse_beyond: Callable[..., None], out_dir: Callable[..., Path]) -> int:
    """``chaos EXPERIMENT.toml``: control and treatment, chaos.json, chaos.csv and both resolved scenarios."""
    from clustersim.engine.select import engine_for
    from clustersim.experiment import load_experiment
    from clustersim.feasibility import run_problems

    experiment = load_experiment(args.experiment, overrides)
    engine_for(experiment.treatment)  # an engine that cannot run the injections refuses them at once
    problems = [f"{args.experiment.name}: {p}" for p in run_problems(experiment.control)]
    if problems:
        raise ClusterSimError("\n".join(problems))
    refuse_beyond(argparse.Namespace(force=args.force, scenario=args.experiment), experiment.treatment)
    out = out_dir(args.out, experiment.name, "chaos-")
    import pandas as pd

    from clustersim.chaos_run import chaos_dict, run_experiment
    from clustersim.comparison import comparison_frame
    from clustersim.report.chaos_plots import TIMELINE_COLUMNS, timeline_png, timeline_rows
    from clustersim.report.files import write_synced
    from clustersim.scenario import dump_scenario_toml

    def write(outcome: Any, path: Path, terminal: Any) -> Callable[[], None]:
        info = chaos_dict(outcome, {"file": str(args.experiment)})
        write_synced(path / "chaos.json", json.dumps(info, indent=2, allow_nan=False) + "\n")
        write_synced(path / "chaos.csv", comparison_frame(outcome.comparison).to_csv(index=False))
        write_synced(path / "chaos_timeline.csv", pd.DataFrame(
            timeline_rows(outcome), columns=list(TIMELINE_COLUMNS)).to_csv(index=False))
        figure = timeline_png(outcome)
        if figure is not None:
            write_synced(path / "chaos_timeline.png", figure)
        for name, scenario in (("control", experiment.control), ("treatment", experiment.treatment)):
            write_synced(path / f"{name}.resolved.toml", dump_scenario_toml(scenario))
        if not args.no_report:
            from clustersim.report.document import write_report
            from clustersim.report.paired_report import chaos_report

            write_report(path, chaos_report(info, outcome.comparison, figure))
        return lambda: _show_chaos(terminal, info, out)

    return _run_paired(args, out, [experiment.control, experiment.treatment], prepare, "chaos",
                       lambda engine, advance: run_experiment(experiment, engine, progress=advance),
                       lambda outcome: outcome.comparison.complete, write)


def _show_chaos(terminal: Any, info: dict[str, Any], out: Path) -> None:
    """Each hypothesis: the share of replications it held in, treatment and control; the significant changes."""
    from rich.table import Table

    from clustersim.units import readable_hours

    table = Table(title=f"chaos experiment {info['experiment']}: {info['replications']} replications each, "
                        "common random numbers", show_edge=False)
    for column in ("hypothesis", "held (treatment)", "95 % CI", "held (control)", "verdict"):
        table.add_column(column, overflow="fold")
    for h in info["hypotheses"]:
        every = f" in every {readable_hours(h['window_hours'])}" if h["window_hours"] is not None else ""
        table.add_row(f"{h['metric']} {h['comparator']} {h['threshold']:g}{every}", f"{h['held_fraction']:.0%}",
                      f"[{h['held_ci95_low']:.2f}, {h['held_ci95_high']:.2f}]", f"{h['control_held_fraction']:.0%}",
                      h["verdict"])
    terminal.console.print(table)
    _show_recovery(terminal, info)
    changed = sorted(name for name, p in info["paired"].items() if p["significant"])
    terminal.console.print(f"{len(changed)} of {len(info['paired'])} metrics changed significantly under the "
                           f"injection (paired 95 % interval excludes 0){': ' if changed else ''}"
                           f"{', '.join(changed[:8])}{' ...' if len(changed) > 8 else ''}", highlight=False)
    terminal.console.print(f"results in {out}/")


def _show_recovery(terminal: Any, info: dict[str, Any]) -> None:
    """Each windowed hypothesis after each injection: how often it broke, detection, recovery, the deadline."""
    from rich.table import Table

    from clustersim.units import readable_hours

    def hours(value: float | None) -> str:
        return readable_hours(value) if value is not None else "-"

    rows = [(h, name, r["treatment"]) for h in info["hypotheses"] for name, r in h["recovery"].items()]
    if not rows:
        return
    table = Table(title=f"after each injection (windows of {readable_hours(info['window_hours'])}; deadline "
                        f"{readable_hours(info['recovery_deadline_hours'])})", show_edge=False)
    for column in ("hypothesis", "injection", "broke", "control broke", "detected after", "recovered after",
                   "within deadline"):
        table.add_column(column, overflow="fold")
    for h, name, r in rows:
        within = r["recovered_within_deadline_fraction"]
        low, high = r["recovered_within_deadline_ci95"]
        base = h["recovery"][name]["control"]
        table.add_row(h["metric"], name, f"{r['impacted']} of {r['occurrences']}",
                      f"{base['impacted']} of {base['occurrences']}", hours(r["time_to_detect_hours"]),
                      hours(r["time_to_recover_hours"]) + (f" ({r['censored']} never)" if r["censored"] else ""),
                      f"{within:.0%} [{low:.2f}, {high:.2f}]" if within is not None else "-")
    terminal.console.print(table)


def _show_comparison(terminal: Any, comparison: Any, out: Path) -> None:
    """Every paired difference, the significant ones marked, and a one-line count."""
    from rich.table import Table

    from clustersim.report.terminal import format_interval, format_plus_minus

    table = Table(title=f"paired differences to {comparison.names[0]} (common random numbers, 95 % CI)",
                  show_edge=False)
    for column in ("metric", "scenario", "difference", "95 % CI", ""):
        table.add_column(column, overflow="fold")
    for d in comparison.differences:
        table.add_row(d.metric, d.scenario, format_plus_minus(d.estimate), format_interval(d.estimate),
                      "[bold]significant[/]" if d.significant else "")
    terminal.console.print(table)
    significant = [d for d in comparison.differences if d.significant]
    terminal.console.print(f"{len(significant)} of {len(comparison.differences)} differences are significant "
                           "(their 95 % interval excludes 0)", highlight=False)
    terminal.console.print(f"results in {out}/")


# --- search -----------------------------------------------------------------------------------

def _toml_value(text: str) -> Any:
    """A flag's value as TOML (``4``, ``0.5``, ``"10 min"``), or the bare text (``10 min``) when it is not TOML."""
    import tomllib

    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        pass
    return text.strip()  # a bare quantity such as 10 min reads as the string it is


def cmd_search(args: argparse.Namespace, overrides: tuple[str, ...], prepare: Callable[..., None],
               out_dir: Callable[..., Path]) -> int:
    import tomllib

    from clustersim.scenario import load_scenario
    from clustersim.scenario.load import apply_overrides
    from clustersim.threshold_search import ParameterSpace, parse_target, search_threshold
    from clustersim.stats import finite_or_none

    base = load_scenario(args.scenario, overrides)
    source = args.scenario.name
    target = parse_target(args.target)
    if not 0.5 < args.confidence < 1:
        raise ClusterSimError(f"--confidence: must be between 0.5 and 1, got {args.confidence}")
    tolerance = None if args.tolerance is None else _toml_value(args.tolerance)
    space = ParameterSpace(args.vary.strip(), _toml_value(args.min), _toml_value(args.max),
                           tolerance)
    raw = apply_overrides(tomllib.loads(args.scenario.read_text(encoding="utf-8")), overrides, source)
    raw.pop("sweep", None)
    first = base.simulation.replications_limit or 2
    max_replications = args.max_replications or 8 * first
    if max_replications < 2:
        raise ClusterSimError(f"--max-replications: at least 2, got {max_replications}")
    out = out_dir(args.out, base.name, "search-")
    from clustersim.report.files import ResultsDirectory, write_synced
    from clustersim.report.terminal import Terminal
    from clustersim.runner import Interrupted, StopSignals

    engines: list[Any] = []

    def engine(scenario: Scenario) -> Engine:
        engines.append(engine_on_workers(scenario, args.workers))
        return engines[-1]

    with StopSignals() as stops, ResultsDirectory(out, overwrite=args.overwrite) as results:
        terminal = Terminal(quiet=args.quiet)

        def shown(step: Any) -> None:
            if not args.quiet:
                bounds = "—" if step.lower is None else f"[{step.lower:.6g}, {step.upper:.6g}]"
                terminal.console.print(f"{args.vary} = {step.value}: {target.metric} {step.mean:.6g}, "
                                       f"one-sided bounds {bounds} after {step.replications} replications: "
                                       f"{step.decision}", highlight=False)

        try:
            if base.simulation.engine == "fast":
                prepare(base, terminal, stops)
            with stops.interruptible():
                outcome = search_threshold(raw, source, args.scenario.parent, space, target, args.confidence,
                                           max_replications, engine, on_step=shown)
        except KeyboardInterrupt as err:
            raise Interrupted(_interrupt_status(stops, err)) from None
        finally:
            for used in engines:
                close_engine(used, failed=stops.first is not None)
        info = {"scenario": base.name, "key": outcome.key, "target": {"metric": target.metric, "comparator":
                target.comparator, "threshold": target.threshold}, "confidence": outcome.confidence,
                "found": outcome.answer is not None, "answer": outcome.answer, "direction": outcome.direction or None,
                "verdict": outcome.verdict, "seed": base.simulation.seed, "max_replications": max_replications,
                "steps": [{"value": s.value, "replications": s.replications, "mean": finite_or_none(s.mean),
                           "lower": s.lower, "upper": s.upper, "decision": s.decision} for s in outcome.steps]}
        write_synced(results.path / "search.json", json.dumps(info, indent=2, allow_nan=False) + "\n")
        if not args.no_report:
            from clustersim.report.document import write_report
            from clustersim.report.other_reports import search_report

            write_report(results.path, search_report(info))
        results.commit()
        if not args.quiet:
            terminal.console.print(outcome.verdict[0].upper() + outcome.verdict[1:], highlight=False)
            terminal.console.print(f"results in {out}/")
    return stops.exit_status or 0

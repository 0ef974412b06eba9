"""Command line: argument parsing, exit codes and terminal output only.

``python -m clustersim SCENARIO [flags]`` runs a scenario; ``validate``, ``schema`` and
``optimize-checkpoint`` are sub-commands; ``--version`` prints ``clustersim <version>``. Any ClusterSimError
prints its one-line message(s) on stderr and exits 2.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from clustersim.errors import ClusterSimError, ScenarioError

if TYPE_CHECKING:
    from clustersim.report.terminal import Terminal
    from clustersim.runner import RunResult, StopSignals
    from clustersim.scenario.schema import Scenario

SUBCOMMANDS = ("run", "validate", "schema", "optimize-checkpoint", "sweep", "compare", "search", "chaos", "fit")


def _add_scenario_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", type=Path, help="scenario TOML file")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a scenario key with a TOML value, e.g. repair.crews=8")
    parser.add_argument("--replications", type=int, metavar="N",
                        help="replications to run (not with simulation.precision: set its min/max_replications)")
    parser.add_argument("--seed", type=int, metavar="N", help="base random seed")
    parser.add_argument("--engine", choices=["simpy", "fast"], help="simulation engine")
    parser.add_argument("--force", action="store_true",
                        help="run even when the work estimate says it is beyond this machine's time or memory")


def build_parser() -> argparse.ArgumentParser:
    from clustersim import __version__
    from clustersim.cli_sweep import add_commands, add_workers_arg

    parser = argparse.ArgumentParser(prog="clustersim", description="Simulate an AI cluster under failure.")
    parser.add_argument("--version", action="version", version=f"clustersim {__version__}",
                        help="print clustersim <version> and exit")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a scenario (the default command)")
    _add_scenario_args(run)
    run.add_argument("--out", metavar="DIR", help="write results into DIR (default results/<name>/<time>/)")
    run.add_argument("--overwrite", action="store_true", help="replace the results already in --out DIR, whole")
    run.add_argument("--events", action="store_true", help="also write the state-change log as events.parquet")
    run.add_argument("--nodes", action="store_true", help="also write the per-node table as nodes.parquet")
    run.add_argument("--no-report", action="store_true", help="write the results files only: no report.html, "
                     "report.md or plots/")
    run.add_argument("--quiet", action="store_true", help="print nothing but errors")
    add_workers_arg(run, "processes (SimPy) or threads (fast) for the replications")
    validate = sub.add_parser("validate", help="check a scenario file and print its resolved form")
    _add_scenario_args(validate)
    validate.add_argument("--quiet", action="store_true", help="print nothing but errors")
    sub.add_parser("schema", help="print the JSON Schema of scenario files")
    optimize = sub.add_parser("optimize-checkpoint",
                              help="sweep a training job's checkpoint interval; compare with Young's and Daly's optima")
    _add_scenario_args(optimize)
    optimize.add_argument("--job", required=True, metavar="NAME", help="the training job (sync or async checkpoints)")
    optimize.add_argument("--intervals", metavar="LIST",
                          help='comma-separated intervals, e.g. "10 min,30 min,1 h,2 h" '
                               "(default: log-spaced from a quarter to four times Daly's optimum)")
    optimize.add_argument("--out", metavar="DIR",
                          help="write results into DIR (default results/<name>/optimize-checkpoint-<job>-<time>/)")
    optimize.add_argument("--overwrite", action="store_true", help="replace the results already in --out DIR, whole")
    optimize.add_argument("--no-report", action="store_true", help="write the tables and the plot only: no "
                          "report.html or report.md")
    optimize.add_argument("--quiet", action="store_true", help="print nothing but errors")
    add_workers_arg(optimize, "processes for the grid's intervals (default: in this process)")
    add_commands(sub, _add_scenario_args)
    fit = sub.add_parser("fit", help="fit failure rates and repair-time laws to an incident log (CSV)")
    fit.add_argument("incidents", type=Path, help="incident log CSV: time, component, mode, repair_hours")
    fit.add_argument("--nodes", type=int, metavar="N", help="nodes in the fleet the log was observed on")
    fit.add_argument("--span", metavar="DURATION",
                     help='how long the log observed the fleet, e.g. "90 d" (default: up to the end of its last '
                          "repair)")
    fit.add_argument("--scenario", type=Path, metavar="FILE", help="take the node count from this scenario's "
                                                                   "nodes.count (not with --nodes)")
    fit.add_argument("--out", type=Path, metavar="FILE", help="write a [[nodes.failure_modes]] TOML snippet to "
                                                              "FILE and every fit as JSON beside it (FILE.json)")
    fit.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return parser


def _overrides(args: argparse.Namespace) -> tuple[str, ...]:
    """Every KEY=VALUE override a command applies, in order: each --set, then --replications, --seed, --engine."""
    overrides = list(args.overrides)
    for flag, key in (("replications", "simulation.replications"), ("seed", "simulation.seed")):
        if getattr(args, flag) is not None:
            overrides.append(f"{key}={getattr(args, flag)}")
    if args.engine is not None:
        overrides.append(f'simulation.engine="{args.engine}"')
    return tuple(overrides)


def _load(args: argparse.Namespace):
    """The scenario with its overrides; refuses one this version cannot run (as asked), naming the file."""
    from clustersim.engine.base import require_event_log
    from clustersim.engine.select import engine_for
    from clustersim.feasibility import run_problems
    from clustersim.scenario import load_scenario

    scenario = load_scenario(args.scenario, _overrides(args))
    problems = run_problems(scenario)
    if problems:
        raise ScenarioError(args.scenario.name, problems)
    try:
        engine = engine_for(scenario)
        if getattr(args, "events", False):
            require_event_log(engine)
    except ClusterSimError as err:
        raise ScenarioError(args.scenario.name, [str(err)]) from None
    return scenario


def _refuse_beyond_machine(args: argparse.Namespace, scenario, runs: int = 1) -> None:
    """One line with the work estimate when the run is beyond this machine's time or memory (unless --force)."""
    import os

    from clustersim.feasibility import estimate_work, machine_memory_bytes

    if args.force:
        return
    workers = (os.cpu_count() or 1) if scenario.simulation.engine == "fast" else 1
    work = estimate_work(scenario, workers, runs)
    reasons = work.too_big(machine_memory_bytes())
    if reasons:
        raise ScenarioError(args.scenario.name, [
            f"simulation: this run would need {' and '.join(reasons)} (~{work.events_per_replication:,.3g} model "
            f"events per replication × {work.replications:,} replications); lower simulation.horizon, "
            "simulation.replications or nodes.count, or pass --force to run it anyway"])


def _default_out(name: str, prefix: str = "") -> Path:
    """``results/<name>/<prefix><timestamp>/``, with ``-1``, ``-2``... when that directory exists."""
    stamp = prefix + datetime.now().strftime("%Y%m%dT%H%M%S")
    out = Path("results") / name / stamp
    suffix = 1
    while out.exists():
        out, suffix = Path("results") / name / f"{stamp}-{suffix}", suffix + 1
    return out


def _intervals_hours(text: str, source: str) -> list[float]:
    """``--intervals "10 min,1 h"`` -> hours; a bad item is a ScenarioError naming the flag."""
    from clustersim.errors import UnitError
    from clustersim.units import parse_duration_hours

    hours, problems = [], []
    for item in text.split(","):
        try:
            value = parse_duration_hours(item.strip())
        except UnitError as err:
            problems.append(f"--intervals: {err}")
            continue
        if value <= 0:
            problems.append(f"--intervals: a checkpoint interval must be a positive duration, got {item.strip()!r}")
        hours.append(value)
    if problems:
        raise ScenarioError(source, problems)
    return hours


def _out_dir(text: str | None, name: str, prefix: str = "") -> Path:
    """``--out DIR`` as a path (without it, the default of ``_default_out``); an empty one is refused, not read
    as the current folder."""
    if text is None:
        return _default_out(name, prefix)
    if not text.strip():
        raise ClusterSimError("--out: an empty path; name the directory to write the results into")
    return Path(text)


def _prepare_engine(scenario: Scenario, terminal: Terminal, stops: StopSignals) -> None:
    """Load the fast engine's compiled kernel before the progress bar, saying so: the first run on a
    machine (or after an upgrade) compiles it, for about as long as its last compile here. Ctrl-C stops it."""
    if scenario.simulation.engine != "fast":
        return
    from clustersim.engine.fast.engine import compile_hint, ensure_compiled
    from clustersim.layout import serving_core

    what = f"fast engine: loading its kernel (a first run compiles it: {compile_hint()})"
    with terminal.preparing(what), stops.interruptible():
        ensure_compiled()
    if serving_core(scenario) == "compiled":
        from clustersim.engine.fast.serving.session import SERVING_COMPILE_HINT, ensure_serving_compiled

        what = f"fast engine: loading its serving core (a first run compiles it: {SERVING_COMPILE_HINT})"
        with terminal.preparing(what), stops.interruptible():
            ensure_serving_compiled()


def cmd_run(args: argparse.Namespace) -> int:
    scenario = _load(args)  # read and checked before the heavy imports: a refusal comes at once
    out = _out_dir(args.out, scenario.name)
    _refuse_beyond_machine(args, scenario)
    from clustersim.report.files import ResultsDirectory
    from clustersim.report.results import EventsFile, Invocation, write_results
    from clustersim.report.sample import windowed
    from clustersim.report.terminal import Terminal
    from clustersim.cli_sweep import engine_session
    from clustersim.runner import StopSignals, run_scenario

    # SIGINT and SIGTERM stop the replications only; while the files are written they are remembered,
    # and the run then ends with the first one's status (130, 143). The directory appears whole or not at all.
    with StopSignals() as stops, ResultsDirectory(out, overwrite=args.overwrite) as results:  # refused before
        terminal = Terminal(quiet=args.quiet)  # simulating: reused, locked or unwritable
        _prepare_engine(scenario, terminal, stops)
        events = EventsFile(results.path, scenario) if args.events else None  # the log streams into it
        measured = scenario if args.no_report else windowed(scenario)  # the report's windows: measurement only
        with terminal.progress(scenario.name, scenario.simulation.replications_limit) as advance, \
                engine_session(measured, args.workers) as engine:
            result = run_scenario(measured, keep_logs=events or False, progress=advance, source=args.scenario.name,
                                  engine=engine, node_table=args.nodes)
        result = dataclasses.replace(result, scenario=scenario)
        invocation = Invocation(command_line=("python", "-m", "clustersim", *sys.argv[1:]),
                                overrides=_overrides(args))
        write_results(results.path, result, with_events=args.events, invocation=invocation, events=events,
                      with_nodes=args.nodes)
        if not args.no_report:
            write_run_report(results.path, result, args.scenario.name, terminal)
        results.commit()
        terminal.show_summary(result, out)
    return stops.exit_status or (0 if result.complete else 130)


def write_run_report(out: Path, result: RunResult, source: str, terminal: Terminal) -> None:
    """report.md, report.html and plots/ of a run, with replication 0 re-simulated for its whole log."""
    from clustersim.report.document import write_report
    from clustersim.report.run_report import run_report
    from clustersim.report.sample import sample_replication

    sample = None
    if result.rows:  # an interrupted run may have finished none
        with terminal.preparing("report: simulating replication 0 again for its log (the outage timeline)"):
            sample = sample_replication(result.scenario)
    write_report(out, run_report(result, sample, source))


def cmd_optimize_checkpoint(args: argparse.Namespace) -> int:
    scenario = _load(args)
    source = args.scenario.name
    intervals = None if args.intervals is None else _intervals_hours(args.intervals, source)
    out = _out_dir(args.out, scenario.name, f"optimize-checkpoint-{args.job}-")
    from clustersim.checkpointing import DEFAULT_GRID_POINTS

    _refuse_beyond_machine(args, scenario, runs=len(intervals) if intervals else DEFAULT_GRID_POINTS)
    from clustersim.checkpoint_sweep import checkpointed_job, optimize_checkpoint
    from clustersim.executors import LocalExecutor
    from clustersim.report.checkpoint import write_checkpoint_advice
    from clustersim.report.files import ResultsDirectory
    from clustersim.report.terminal import Terminal
    from clustersim.runner import Interrupted, StopSignals

    job = checkpointed_job(scenario, args.job, source)
    with StopSignals() as stops, ResultsDirectory(out, overwrite=args.overwrite) as results:
        terminal = Terminal(quiet=args.quiet)
        try:
            _prepare_engine(scenario, terminal, stops)
            with terminal.progress(f"{scenario.name} {args.job}", None, unit="intervals") as advance:
                advice = optimize_checkpoint(scenario, job, intervals, progress=advance, source=source,
                                             executor=LocalExecutor(args.workers) if args.workers else None)
        except KeyboardInterrupt as err:  # nothing is written: the staging directory goes
            raise Interrupted(stops.first if stops.first is not None
                              else int(getattr(err, "signum", signal.SIGINT))) from None
        write_checkpoint_advice(results.path, advice)
        if not args.no_report:
            from clustersim.report.document import write_report
            from clustersim.report.other_reports import checkpoint_report

            write_report(results.path, checkpoint_report(advice))
        results.commit()
        terminal.show_checkpoint_advice(advice, out)
    return stops.exit_status or 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from clustersim import cli_sweep

    return cli_sweep.cmd_sweep(args, _overrides(args), _prepare_engine, _refuse_beyond_machine)


def cmd_compare(args: argparse.Namespace) -> int:
    from clustersim import cli_sweep

    return cli_sweep.cmd_compare(args, _overrides(args), _prepare_engine, _refuse_beyond_machine, _out_dir)


def cmd_chaos(args: argparse.Namespace) -> int:
    from clustersim import cli_sweep

    return cli_sweep.cmd_chaos(args, _overrides(args), _prepare_engine, _refuse_beyond_machine, _out_dir)


def cmd_search(args: argparse.Namespace) -> int:
    from clustersim import cli_sweep

    return cli_sweep.cmd_search(args, _overrides(args), _prepare_engine, _out_dir)


def cmd_fit(args: argparse.Namespace) -> int:
    """``fit INCIDENTS.csv``: rates with exact intervals and repair laws by maximum likelihood, from a log."""
    from clustersim.fit import fit_incidents
    from clustersim.incidents import IncidentLogError, read_incidents

    if args.out is not None and args.out.suffix == ".json":
        raise ClusterSimError(f"--out {args.out}: name the TOML file (fit.toml); the JSON goes beside it")
    nodes = _fleet_nodes(args)
    try:
        incidents = read_incidents(args.incidents)
    except IncidentLogError as err:
        raise ClusterSimError(str(err)) from None
    span_hours = _span_hours(args.span, incidents)
    report = fit_incidents(incidents, nodes, span_hours, args.incidents.name)
    from clustersim.report.fit import show_fit, write_fit

    json_path = write_fit(args.out, report) if args.out is not None else None
    if not args.quiet:
        show_fit(report)
        if args.out is not None:
            print(f"wrote {args.out} and {json_path}")
    return 0


def _fleet_nodes(args: argparse.Namespace) -> int:
    """The fleet's node count: --nodes, or the scenario's nodes.count."""
    if args.nodes is not None and args.scenario is not None:
        raise ClusterSimError("fit: give --nodes or --scenario, not both")
    if args.scenario is not None:
        from clustersim.scenario import load_scenario

        return load_scenario(args.scenario).nodes.count
    if args.nodes is None:
        raise ClusterSimError("fit: --nodes N (or --scenario FILE) is required: the fleet the log was observed on")
    if args.nodes < 1:
        raise ClusterSimError(f"--nodes: must be at least 1, got {args.nodes}")
    return args.nodes


def _span_hours(text: str | None, incidents: list) -> float:
    """The observation span in hours: --span, or up to the end of the log's last repair; every incident in it."""
    last = max(incidents, key=lambda i: i.time_hours)
    if text is None:
        return max(i.time_hours + i.repair_hours for i in incidents)
    from clustersim.errors import UnitError
    from clustersim.units import parse_duration_hours

    try:
        hours = parse_duration_hours(text)
    except UnitError as err:
        raise ClusterSimError(f"--span: {err}") from None
    if not hours > 0:
        raise ClusterSimError(f"--span: must be a positive duration, got {text!r}")
    if last.time_hours > hours:
        raise ClusterSimError(f"--span: {text} ends before the incident of row {last.row} "
                              f"(at {last.time_hours:g} h)")
    return hours


def cmd_validate(args: argparse.Namespace) -> int:
    from clustersim.scenario import dump_scenario_toml

    scenario = _load(args)
    if not args.quiet:
        sys.stdout.write(dump_scenario_toml(scenario))
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from clustersim.scenario.json_schema import scenario_json_schema

    sys.stdout.write(json.dumps(scenario_json_schema(), indent=2, ensure_ascii=False) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in (*SUBCOMMANDS, "-h", "--help", "--version"):
        argv.insert(0, "run")  # flags may come before the scenario: clustersim --quiet s.toml
    args = build_parser().parse_args(argv)
    handler = {"run": cmd_run, "validate": cmd_validate, "schema": cmd_schema,
               "optimize-checkpoint": cmd_optimize_checkpoint, "sweep": cmd_sweep, "compare": cmd_compare,
               "chaos": cmd_chaos, "search": cmd_search, "fit": cmd_fit}[args.command]
    try:
        return handler(args)
    except ClusterSimError as err:
        print(str(err), file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:  # SIGINT, or SIGTERM raised the same way (with its number)
        print("clustersim: interrupted", file=sys.stderr)
        return 128 + getattr(err, "signum", signal.SIGINT)
    except (MemoryError, OverflowError, RecursionError) as err:  # a last resort: the checks above should come first
        where = getattr(args, "scenario", None)
        what = {MemoryError: "ran out of memory", OverflowError: "a number overflowed",
                RecursionError: "input nested too deeply"}[type(err)]
        print(f"{where.name if where else 'clustersim'}: {what}; make the scenario smaller", file=sys.stderr)
        return 2

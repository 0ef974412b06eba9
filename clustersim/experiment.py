"""A chaos experiment file: the scenario, the steady-state hypotheses, the faults to inject.

The *control* is the scenario as written; the *treatment* is the same scenario with the ``[[inject]]``
entries appended to its ``[[chaos]]`` (so every component keeps its named random streams, and the only
difference between the two runs is the injection). Both are built and checked here, up front, like any
scenario: a problem of an injection is reported under ``inject[i]``, one of a hypothesis under
``hypothesis[i]``, each as one line naming the file.
"""
from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError

from clustersim.errors import ScenarioError
from clustersim.input_files import SCENARIO_LIMIT_BYTES, InputFileError, read_input_text
from clustersim.layout import layout_of, metric_key_problems, serving_technique
from clustersim.scenario.load import apply_overrides, key_path, scenario_from_dict
from clustersim.scenario.schema import Chaos, Scenario
from clustersim.scenario.sections.simulation import MAX_SERIES_WINDOWS
from clustersim.quantities import PositiveDuration
from clustersim.scenario.sections.abort import Comparator
from clustersim.scenario.sections.common import MAX_COUNT, MAX_SEED, Name, Section
from clustersim.workloads.inference.measure import SERIES_KEYS

COMPARATORS = (">=", ">", "<=", "<")
DEFAULT_WINDOWS = 48  # the timeline's windows when neither the experiment nor a hypothesis gives a window


class Hypothesis(Section):
    """The steady state: ``metric comparator threshold`` must hold in a replication."""

    metric: str = Field(description="a metric the scenario measures, e.g. inference.chat.success_ratio")
    comparator: Comparator = Field(description="how the metric compares with threshold")
    threshold: Annotated[float, Field(allow_inf_nan=False)] = Field(description="the bound, in the metric's unit")
    window: PositiveDuration | None = Field(
        default=None, description="judge the metric in every window of this length (it must hold in each), not "
        "over the whole run; equals the experiment's window")


class ExperimentSection(Section):
    """``[experiment]``: what is run, how often."""

    name: Name | None = Field(default=None, description="the experiment's name; default: the file's stem")
    scenario: str | dict[str, Any] = Field(description="a scenario file (relative to this file), or the scenario "
                                                       "inline as a table")
    replications: Annotated[int, Field(gt=1, le=MAX_COUNT)] | None = Field(
        default=None, description="replications of control and treatment each; default: the scenario's")
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] | None = Field(default=None,
                                                                  description="default: the scenario's")
    window: PositiveDuration | None = Field(
        default=None, description="the timeline's window: the hypothesis metrics are measured per window of this "
        f"length; default: the hypotheses' window, else (horizon - warmup) / {DEFAULT_WINDOWS}")
    recovery_deadline: PositiveDuration = Field(
        default=1.0, description="recovery within this time after an injection counts as within the deadline")


class ExperimentFile(Section):
    """The whole file: ``[experiment]``, ``[[hypothesis]]`` (at least one), ``[[inject]]`` (at least one)."""

    experiment: ExperimentSection
    hypothesis: list[Hypothesis] = Field(min_length=1, description="the steady-state hypotheses")
    inject: list[dict[str, Any]] = Field(default_factory=list, description="faults, as [[chaos]] entries of the "
                                         "scenario (at least one, or a replay)")
    replay: dict[str, Any] | None = Field(default=None, description="an incident log replayed in the treatment, as "
                                          "the scenario's [replay] (its file relative to this file)")
    abort: list[dict[str, Any]] = Field(default_factory=list, description="conditions that stop the injections, "
                                        "as [[abort]] entries of the treatment")


class Experiment:
    """A loaded experiment: its name, hypotheses, control and treatment scenarios (checked)."""

    def __init__(self, name: str, source: str, hypotheses: list[Hypothesis], control: Scenario,
                 treatment: Scenario, injected: int, recovery_deadline: float = 1.0) -> None:
        self.name, self.source, self.hypotheses = name, source, hypotheses
        self.control, self.treatment = control, treatment
        self.injected = injected  # the treatment's last `injected` [[chaos]] entries are the experiment's
        self.recovery_deadline = recovery_deadline  # hours

    @property
    def window(self) -> float | None:
        """The series window (hours) both runs measure the hypothesis metrics in (None: whole runs only, on the
        fast engine)."""
        return self.control.simulation.series_window

    @property
    def injections(self) -> list[tuple[str, Chaos]]:
        """The experiment's own [[chaos]] entries of the treatment (name, entry)."""
        first = len(self.treatment.chaos) - self.injected
        return list(zip(self.treatment.chaos_names[first:], self.treatment.chaos[first:]))


def load_experiment(path: str | Path, overrides: tuple[str, ...] = ()) -> Experiment:
    """Read, check and build an experiment; ``overrides`` apply to its scenario (--set, --replications, --seed).
    Raises ScenarioError listing every problem, each naming the file and the key."""
    path = Path(path)
    source = path.name
    try:
        raw = tomllib.loads(read_input_text(path, SCENARIO_LIMIT_BYTES))
    except InputFileError as err:
        raise ScenarioError(str(path), ["no such experiment file" if str(err) == "No such file"
                                        else f"cannot read: {err}"]) from None
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(source, [f"not valid TOML: {err}"]) from None
    try:
        spec = ExperimentFile.model_validate(raw)
    except ValidationError as err:
        raise ScenarioError(source, [_problem(e) for e in err.errors()]) from None
    section = spec.experiment
    if not spec.inject and spec.replay is None:
        raise ScenarioError(source, ["inject: needs at least one entry (or a [replay] of an incident log)"])
    scenario_raw, scenario_dir, scenario_source = _scenario_raw(section.scenario, path)
    settings = [f"simulation.{key}={value}" for key, value in (("replications", section.replications),
                                                              ("seed", section.seed)) if value is not None]
    scenario_raw = apply_overrides(scenario_raw, [*settings, *overrides], scenario_source)
    control = scenario_from_dict(scenario_raw, source=scenario_source, base_dir=scenario_dir)
    window, problems = _window(spec, control)
    if problems:
        raise ScenarioError(source, problems)
    if _measures_windows(spec, control):
        simulation = {**scenario_raw.get("simulation", {}), "series_window": f"{window!r} h"}
        scenario_raw = {**scenario_raw, "simulation": simulation}
        control = scenario_from_dict(scenario_raw, source=scenario_source, base_dir=scenario_dir)
    planned = list(scenario_raw.get("chaos", []))
    if spec.abort and (planned or scenario_raw.get("abort")):
        raise ScenarioError(source, ["abort: the scenario has [[chaos]] or [[abort]] of its own, which an "
                                     "abort would stop in the treatment only; move them into the experiment"])
    aborts = [*scenario_raw.get("abort", []), *spec.abort]
    treatment_raw = {**scenario_raw, "chaos": planned + list(spec.inject), "abort": aborts}
    if spec.replay is not None:
        if "replay" in scenario_raw:
            raise ScenarioError(source, ["replay: the scenario replays a log of its own; give one or the other"])
        treatment_raw["replay"] = _replay_from(spec.replay, path)
    try:
        treatment = scenario_from_dict(treatment_raw, source=source, base_dir=scenario_dir)
    except ScenarioError as err:
        raise ScenarioError(source, [_as_inject(p, len(planned)) for p in err.problems]) from None
    problems = _hypothesis_problems(spec.hypothesis, treatment) + metric_key_problems(treatment)
    if control.simulation.precision is not None:
        problems.append("experiment.scenario: simulation.precision: an experiment needs a fixed number of "
                        "replications (give experiment.replications)")
    if problems:
        raise ScenarioError(source, problems)
    return Experiment(section.name or path.stem, source, list(spec.hypothesis), control, treatment, len(spec.inject),
                      section.recovery_deadline)


def _measures_windows(spec: ExperimentFile, scenario: Scenario) -> bool:
    """Do the runs measure the series? Always on the SimPy engine; on the fast engine (which measures whole runs
    only) when something asks for windows — and then the fast engine refuses it, naming the series."""
    asked = spec.experiment.window is not None or bool(spec.abort) or any(h.window for h in spec.hypothesis)
    return scenario.simulation.engine != "fast" or asked


def _window(spec: ExperimentFile, scenario: Scenario) -> tuple[float, list[str]]:
    """The experiment's series window (hours), and the problems of the hypotheses' windows."""
    given = [(i, h.window) for i, h in enumerate(spec.hypothesis) if h.window is not None]
    simulation = scenario.simulation
    window = spec.experiment.window or (given[0][1] if given else
                                        (simulation.horizon - simulation.warmup) / DEFAULT_WINDOWS)
    problems = [f"hypothesis[{i}].window: {w!r} h differs from the experiment's window ({window!r} h): one "
                "series of windows serves every hypothesis" for i, w in given if w != window]
    if (simulation.horizon - simulation.warmup) / window > MAX_SERIES_WINDOWS:
        problems.append(f"experiment.window: {window!r} h makes more than {MAX_SERIES_WINDOWS} windows of the "
                        f"scenario's [warmup, horizon)")
    return window, problems


def _replay_from(replay: dict[str, Any], path: Path) -> dict[str, Any]:
    """The experiment's [replay] for the treatment, its file resolved relative to the experiment file."""
    file = replay.get("file")
    return {**replay, "file": str((path.parent / file).resolve())} if isinstance(file, str) else dict(replay)


def _scenario_raw(scenario: str | dict[str, Any], path: Path) -> tuple[dict[str, Any], Path, str]:
    """The scenario's raw table, the folder its own relative paths start from, and the name to report it by."""
    if isinstance(scenario, dict):
        return dict(scenario), path.parent, f"{path.name}: experiment.scenario"
    scenario_path = (path.parent / scenario).resolve()
    try:
        return tomllib.loads(read_input_text(scenario_path, SCENARIO_LIMIT_BYTES)), scenario_path.parent, \
            scenario_path.name
    except InputFileError as err:
        problem = "no such scenario file" if str(err) == "No such file" else f"cannot read it: {err}"
        raise ScenarioError(path.name, [f"experiment.scenario: {scenario!r}: {problem}"]) from None
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(scenario_path.name, [f"not valid TOML: {err}"]) from None


def _problem(error: Any) -> str:
    where = key_path(error["loc"])
    message = {"extra_forbidden": "unknown key", "missing": "missing required key",
               "too_short": "needs at least one entry"}.get(error["type"], error["msg"])
    return f"{where}: {message}" if where else message


def _as_inject(problem: str, planned: int) -> str:
    """A problem of the treatment's chaos entry i >= planned is the experiment's inject[i - planned]."""
    if problem.startswith("chaos["):
        index_text, _, rest = problem[len("chaos["):].partition("]")
        if index_text.isdigit() and int(index_text) >= planned:
            return f"inject[{int(index_text) - planned}]{rest}"
    return problem


def _hypothesis_problems(hypotheses: list[Hypothesis], scenario: Scenario) -> list[str]:
    names = [spec.name for spec in layout_of(scenario).metrics]
    problems = []
    for i, hypothesis in enumerate(hypotheses):
        if hypothesis.metric not in names:
            close = difflib.get_close_matches(hypothesis.metric, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"hypothesis[{i}].metric: {hypothesis.metric!r} is not a metric this scenario "
                            f"measures{hint}")
        elif hypothesis.window is not None and not windowed(hypothesis.metric, scenario):
            problems.append(f"hypothesis[{i}].window: {hypothesis.metric!r} is not measured per window "
                            f"({_unwindowed_reason(hypothesis.metric, scenario)})")
    return problems


def windowed(metric: str, scenario: Scenario) -> bool:
    """Is ``metric`` measured per series window? (Every cluster metric is; a service's request metrics are
    when every request is simulated.)"""
    if not metric.startswith("inference."):
        return True
    return metric.rsplit(".", 1)[-1] in SERIES_KEYS and serving_technique(scenario) == "requests"


def _unwindowed_reason(metric: str, scenario: Scenario) -> str:
    if metric.rsplit(".", 1)[-1] not in SERIES_KEYS:
        return f"a service's windowed metrics are {', '.join(SERIES_KEYS)}"
    return 'the hybrid serving technique does not simulate every request; set simulation.serving = "requests"'


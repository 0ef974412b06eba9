"""One replication's node outages on a timeline, coloured by what began each, under a strip of each training
job's state: which failures stopped the job, and how long the nodes stayed down."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from clustersim.model.records import JobState, Kind, NodeState
from clustersim.report.canvas import legend_right, new_figure, png_bytes, with_unit
from clustersim.report.figures.bands import time_axis
from clustersim.scenario.schema import Scenario

T, KIND, COMP, FROM, TO, CAUSE = range(6)
MOST_ROWS = 40
NETWORK_LABEL = "network"  # scenario.label_names' name of the network's cause code
UNKNOWN_LABEL = "unknown"

Outage = tuple[int, float, float, str]  # node, start_hours, end_hours, cause_label

# the job strip: each state's colour (DONE is left blank)
JOB_STATE_COLOURS = {int(JobState.COMPUTING): ("computing", "tab:green"),
                     int(JobState.CHECKPOINTING): ("checkpointing", "tab:blue"),
                     int(JobState.RESTARTING): ("restarting", "tab:orange"),
                     int(JobState.WAITING): ("waiting", "tab:red")}
# (none of the job strip's colours, so a cause never reads as a job state)
CAUSE_COLOURS = ("tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "gold", "teal", "navy", "salmon",
                 "darkkhaki", "slateblue", "sienna")
NETWORK_COLOUR = "dimgray"


def cause_label(scenario: Scenario, cause: int) -> str:
    """The readable name of a cause-column code (as report.results.events_frame names them)."""
    names = scenario.label_names
    return names[cause] if 0 <= cause < len(names) else UNKNOWN_LABEL


def outage_intervals(scenario: Scenario, log: np.ndarray) -> list[Outage]:
    """Every node outage of one replication's log, from its NODE row going DOWN (whose cause began it: a
    failure's mode, a domain, a chaos injection, or the network cutting it off) to the one going UP again (the
    horizon if none), in order of start."""
    nodes = log[log[:, KIND] == int(Kind.NODE)]
    since: dict[int, tuple[float, int]] = {}
    outages: list[Outage] = []
    for t, node, to, cause in zip(nodes[:, T].tolist(), nodes[:, COMP].astype(np.int64).tolist(),
                                  nodes[:, TO].tolist(), nodes[:, CAUSE].astype(np.int64).tolist()):
        if to == int(NodeState.DOWN):
            since[node] = (t, cause)
        elif node in since:
            began, began_cause = since.pop(node)
            outages.append((node, began, t, cause_label(scenario, began_cause)))
    horizon = scenario.simulation.horizon
    outages += [(node, began, horizon, cause_label(scenario, cause)) for node, (began, cause) in since.items()]
    return sorted(outages, key=lambda outage: (outage[1], outage[0]))


def shown_nodes(outages: Sequence[Outage], most: int = MOST_ROWS) -> list[int]:
    """The nodes given a row: the ``most`` with the most down time (ties: lower index), in index order."""
    down: dict[int, float] = {}
    for node, start, end, _ in outages:
        down[node] = down.get(node, 0.0) + end - start
    ranked = sorted(down, key=lambda node: (-down[node], node))[:most]
    return sorted(ranked)


def job_state_spans(scenario: Scenario, log: np.ndarray, job: int) -> list[tuple[float, float, int]]:
    """A job's states over [0, horizon) as (start_hours, end_hours, JobState), from its JOB rows (DONE left out)."""
    rows = log[(log[:, KIND] == int(Kind.JOB)) & (log[:, COMP] == job)]
    times = np.concatenate(([0.0], rows[:, T], [scenario.simulation.horizon]))
    states = np.concatenate(([float(JobState.WAITING)], rows[:, TO]))
    return [(float(a), float(b), int(s)) for a, b, s in zip(times[:-1], times[1:], states)
            if b > a and int(s) != int(JobState.DONE)]


def cause_colours(scenario: Scenario, labels: Sequence[str]) -> dict[str, str]:
    """A colour per cause label among ``labels``, fixed by its code (the same in every figure of a scenario), the
    network's its own; in code order (the legend's)."""
    names = scenario.label_names
    code = {name: c for c, name in reversed(list(enumerate(names)))}
    ordered = sorted(set(labels), key=lambda label: code.get(label, len(names)))
    return {label: NETWORK_COLOUR if label == NETWORK_LABEL
            else CAUSE_COLOURS[code.get(label, len(names)) % len(CAUSE_COLOURS)] for label in ordered}


def outage_timeline_png(scenario: Scenario, log: np.ndarray, replication: int = 0) -> bytes | None:
    """The outage timeline of one replication (None when no node went down)."""
    outages = outage_intervals(scenario, log)
    if not outages:
        return None
    nodes = shown_nodes(outages)
    row_of = {node: r for r, node in enumerate(nodes)}
    scale, unit = time_axis(scenario.simulation.horizon)
    jobs = len(scenario.training)
    figure = new_figure(height=max(3.2, 1.6 + 0.13 * len(nodes) + 0.3 * jobs))
    if jobs:
        heights = [max(0.6, 0.4 * jobs), max(2.0, 0.13 * len(nodes))]
        strip, axes = figure.subplots(2, 1, sharex=True, height_ratios=heights)
        _draw_jobs(strip, scenario, log, scale)
    else:
        axes = figure.subplots()
    colours = cause_colours(scenario, [label for *_, label in outages])
    for label, colour in colours.items():
        mine = [(row_of[node], start, end) for node, start, end, cause in outages if cause == label and node in row_of]
        if mine:
            rows, starts, ends = (np.array(column) for column in zip(*mine))
            axes.barh(rows, (ends - starts) / scale, left=starts / scale, height=0.7, color=colour,
                      label=label, edgecolor=colour, linewidth=0.6)  # (an edge keeps short outages visible)
    axes.set_yticks(range(len(nodes)), [f"node {node}" for node in nodes],
                    fontsize="x-small" if len(nodes) > 15 else "small")
    axes.set_ylim(len(nodes) - 0.5, -0.5)
    axes.set_xlim(0, scenario.simulation.horizon / scale)
    axes.set_xlabel(with_unit("time since the start", unit))
    axes.set_ylabel("node")
    axes.grid(True, axis="x", alpha=0.3)
    legend_right(axes, title="began by")
    affected = len({node for node, *_ in outages})
    figure.suptitle(f"{scenario.name}: node outages in replication {replication}\n({len(outages)} outages; "
                    f"{len(nodes)} of the {affected} nodes that had one shown, of {scenario.nodes.count} nodes)",
                    fontsize="medium")
    return png_bytes(figure)


def _draw_jobs(strip: Any, scenario: Scenario, log: np.ndarray, scale: float) -> None:
    """A row per training job: its state over time."""
    labelled: set[int] = set()
    for j in range(len(scenario.training)):
        for state, (label, colour) in JOB_STATE_COLOURS.items():
            spans = [(a / scale, (b - a) / scale) for a, b, s in job_state_spans(scenario, log, j) if s == state]
            if spans:
                strip.broken_barh(spans, (j - 0.35, 0.7), color=colour, linewidth=0,
                                  label=label if state not in labelled else None)
                labelled.add(state)
    strip.set_yticks(range(len(scenario.training)), [f"job {job.name}" for job in scenario.training], fontsize="small")
    strip.set_ylim(len(scenario.training) - 0.5, -0.5)
    strip.set_ylabel("job state", fontsize="small")
    legend_right(strip)

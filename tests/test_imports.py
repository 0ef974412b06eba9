"""The package's imports form a strict tree along the data flow: no cycle, nothing reaches back.

Every import is counted — at module level, inside functions (lazy) and under TYPE_CHECKING — since
each is a dependency a reader has to hold in mind, and a lazy one is still a runtime cycle.
"""
from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parents[1] / "clustersim"

# The data flow, earliest first: a module may import from its own stage or an earlier one only.
# (measures and node_table turn one replication's records into metrics and a node table as they stream, stats
# adds the intervals over replications: the SimPy engine uses them, so they sit below the engines.)
STAGES: list[tuple[str, ...]] = [
    ("clustersim", "clustersim.errors", "clustersim.units", "clustersim.quantities", "clustersim.distributions",
     "clustersim.rng", "clustersim.input_files", "clustersim.incidents"),
    ("clustersim.scenario", "clustersim.topology"),
    ("clustersim.layout",),
    ("clustersim.feasibility",),
    ("clustersim.model",),
    ("clustersim.workloads",),
    ("clustersim.measures", "clustersim.node_table", "clustersim.stats", "clustersim.job_phases"),
    ("clustersim.series",),
    ("clustersim.engine",),
    ("clustersim.adaptive",),
    ("clustersim.runner",),
    ("clustersim.executors",),
    ("clustersim.checkpointing",),
    ("clustersim.checkpoint_sweep",),
    ("clustersim.sweep_grid", "clustersim.comparison", "clustersim.threshold_search", "clustersim.experiment"),
    ("clustersim.chaos_judging",),
    ("clustersim.chaos_run", "clustersim.fit"),
    ("clustersim.report",),
    ("clustersim.sweep_run",),
    ("clustersim.cli", "clustersim.cli_sweep", "clustersim.api", "clustersim.__main__"),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imported(path: Path, known: set[str]) -> set[str]:
    """The clustersim modules ``path`` imports anywhere in its body."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "clustersim"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "clustersim":
            for alias in node.names:  # `from clustersim.x import y`: y may itself be a module
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in known else node.module)
    return found


def import_graph() -> nx.DiGraph:
    known = modules()
    graph = nx.DiGraph()
    for name, path in known.items():
        graph.add_node(name)
        for target in imported(path, set(known)):
            if target != name:
                graph.add_edge(name, target)
    return graph


def stage_of(module: str) -> int:
    """The index of the stage whose longest prefix names ``module``."""
    best, best_len = -1, -1
    for index, prefixes in enumerate(STAGES):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    assert best >= 0, f"{module} belongs to no stage of STAGES"
    return best


def test_every_module_has_a_stage():
    for module in modules():
        stage_of(module)


def test_no_import_cycle():
    cycles = [sorted(c) for c in nx.strongly_connected_components(import_graph()) if len(c) > 1]
    assert not cycles, f"import cycles: {cycles}"


def test_no_import_from_a_later_stage():
    backwards = [f"{a} -> {b}" for a, b in import_graph().edges if stage_of(b) > stage_of(a)]
    assert not backwards, "imports against the data flow: " + "; ".join(sorted(backwards))


def test_the_simpy_model_knows_nothing_of_workloads_or_engines():
    graph = import_graph()
    for module in graph:
        if module.startswith("clustersim.model"):
            bad = [t for t in graph.successors(module) if t.startswith(("clustersim.workloads", "clustersim.engine"))]
            assert not bad, f"{module} imports {bad}"


def test_layout_and_fast_plan_do_not_reach_the_simpy_model():
    graph = import_graph()
    for module in ("clustersim.layout", "clustersim.engine.fast.compile"):
        reach = nx.descendants(graph, module)
        assert not any(m.startswith("clustersim.model") for m in reach), (
            f"{module} reaches the SimPy model: {sorted(reach)}")


def test_reports_read_the_record_schema_not_the_model():
    direct = set(import_graph().successors("clustersim.report.results"))
    assert not {m for m in direct if m.startswith("clustersim.model") and m != "clustersim.model.records"}

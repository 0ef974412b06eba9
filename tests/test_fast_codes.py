"""The fast engine's own copies of schema and record codes agree with their sources.

The kernel must not import the record schema or the scenario schema (numba would freeze values
from modules its cache does not watch), so engine/fast keeps its own codes and choice lists; these
tests tie each to the definition it mirrors.
"""
from __future__ import annotations

import ast
import types
from enum import IntEnum
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import pytest

from clustersim import distributions
from clustersim.model import records
from clustersim.engine.fast import codes, compile, kernel, support, tables
from clustersim.scenario.schema import Scenario

# Each record enum and the prefix of its constants in codes.py.
RECORD_ENUMS = [(records.Kind, "K_"), (records.NodeState, ""), (records.RepairState, "R_"),
                (records.SlotState, ""), (records.JobState, "J_"), (records.EventCode, "E_")]


@pytest.mark.parametrize(("enum", "prefix"), RECORD_ENUMS, ids=lambda v: getattr(v, "__name__", v))
def test_the_kernels_log_codes_are_the_record_schemas(enum: type[IntEnum], prefix: str) -> None:
    for member in enum:
        name = prefix + member.name
        assert getattr(codes, name) == member.value, name


def test_the_trace_columns_are_the_record_schemas() -> None:
    assert codes.TRACE_COLUMNS == records.COLUMNS
    assert codes.NO_CAUSE == records.NO_CAUSE


def test_no_engine_module_imports_the_record_schema() -> None:
    for path in Path(kernel.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        assert not {name for name in imported if name and name.endswith("records")}, path.name


@pytest.mark.parametrize("table", sorted(tables.LAYOUTS))
def test_each_column_constant_is_its_layouts_index(table: str) -> None:
    prefix, layout = tables.LAYOUTS[table]
    for name, index in layout.items():
        constant = getattr(tables, f"{prefix}_{name.upper()}")
        assert constant == index, f"{prefix}_{name.upper()}"
        assert type(constant) is type(tables.N_HOLDS)  # numpy int64: numba types it as int64, not a literal


def _literals(annotation: Any) -> set[str]:
    """The string choices of a Literal annotation."""
    return set(get_args(annotation))


def _section(model: Any, field: str) -> Any:
    """The model class a field of ``model`` holds (the item class of a list)."""
    annotation = model.model_fields[field].annotation
    return get_args(annotation)[0] if get_origin(annotation) is list else annotation


def test_supported_laws_are_distribution_laws_of_the_schema() -> None:
    schema_laws = {law for cls in get_args(get_args(distributions.Distribution)[0])
                   for law in _literals(cls.model_fields["dist"].annotation)}
    assert support.SUPPORTED_LAWS <= schema_laws
    assert support.SUPPORTED_LAWS == {law for cls in compile.LAW_CONVERTERS
                                      for law in _literals(cls.model_fields["dist"].annotation)}


def test_retirement_codes_are_the_schemas_policies() -> None:
    retirement = _section(Scenario, "repair").model_fields["retirement"].annotation
    assert get_origin(retirement) in (Union, types.UnionType)
    policies = {policy for cls in get_args(retirement) for policy in _literals(cls.model_fields["policy"].annotation)}
    assert set(compile.RETIREMENT_CODES) == policies


def test_selection_codes_are_the_schemas_selections() -> None:
    spares = _section(Scenario, "spares")
    assert set(compile.SELECTION_CODES) == _literals(spares.model_fields["selection"].annotation)


def test_checkpoint_codes_are_the_schemas_checkpoint_modes() -> None:
    training = _section(Scenario, "training")
    assert set(compile.CKPT_CODES) == _literals(training.model_fields["checkpoint_mode"].annotation)


def test_chaos_codes_are_the_actions_the_fast_engine_runs() -> None:
    from clustersim.engine.fast.support import FAST_CHAOS_ACTIONS
    from clustersim.scenario.sections.chaos import Chaos

    assert tuple(compile.CHAOS_CODES) == FAST_CHAOS_ACTIONS
    assert set(FAST_CHAOS_ACTIONS) <= _literals(Chaos.model_fields["action"].annotation)


@pytest.mark.parametrize("choices", ["RETIREMENT_CODES", "SELECTION_CODES", "CKPT_CODES", "CHAOS_CODES"])
def test_choice_codes_are_distinct(choices: str) -> None:
    values = list(getattr(compile, choices).values())
    assert len(set(values)) == len(values)


def test_role_codes_are_the_layouts_initial_roles() -> None:
    from clustersim.layout import ROLES

    assert set(compile.ROLE_CODES) == set(ROLES)

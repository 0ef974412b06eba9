"""Reading a scenario: TOML file -> raw dict -> --set overrides -> validated Scenario.

Every problem becomes one line ``file: key.path: what is wrong`` inside one ScenarioError,
so a user sees all of them at once and never a traceback.
"""
from __future__ import annotations

import datetime
import difflib
import re
import tomllib
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import BaseModel, TypeAdapter, ValidationError

from clustersim.distributions import Distribution
from clustersim.errors import ScenarioError
from clustersim.input_files import SCENARIO_LIMIT_BYTES, InputFileError, read_input_text
from clustersim.scenario.schema import PLANNED_SECTIONS, Retirement, Scenario, cross_section_problems
from clustersim.scenario.sections.common import FIELDS_ONLY, SECTION_PROBLEMS, union_tags

_INDEXED = re.compile(r"^([A-Za-z_][A-Za-z0-9_-]*)\[(\d+)\]$")
BOUND_ERRORS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")
SUGGESTION_CUTOFF = 0.75  # difflib similarity: 'crew' -> 'crews', but never 'nodes_per_rack' -> 'power_racks'
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # a tab is white space to TOML; anything else is refused


def _tagged(what: str, union: Any) -> tuple[str, tuple[str, str]]:
    """A tagged union's discriminator key -> what its tables are, and its tags as the choices to list."""
    key, tags = union_tags(union)
    return key, (what, ", ".join(tags))


# Discriminator keys of the schema's tagged unions: what a tagged table is, and its choices.
_TAGGED = dict([_tagged("distribution", Distribution), _tagged("policy", Retirement)])


def load_scenario(path: str | Path, overrides: Sequence[str] | None = None) -> Scenario:
    """Load, override and validate a scenario file; raises ScenarioError listing every problem."""
    path = Path(path)
    source = path.name
    try:
        text = read_input_text(path, SCENARIO_LIMIT_BYTES)
    except InputFileError as err:
        problem = "no such scenario file" if str(err) == "No such file" else f"cannot read: {err}"
        raise ScenarioError(str(path), [problem]) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(source, [f"not valid TOML: {err}"]) from None
    except RecursionError:
        raise ScenarioError(source, ["not valid TOML: arrays or tables nested too deeply"]) from None
    try:
        raw = apply_overrides(raw, overrides or [], source)
        return scenario_from_dict(raw, source=source, base_dir=path.parent)
    except RecursionError:
        raise ScenarioError(source, ["arrays or tables nested too deeply to be a scenario"]) from None


def scenario_from_dict(raw: dict[str, Any], source: str = "<scenario>", base_dir: Path | None = None) -> Scenario:
    """Validate a raw scenario mapping; raises ScenarioError listing every problem."""
    planned = [f"{key}: not available in this version of clustersim yet" for key in PLANNED_SECTIONS if key in raw]
    raw = {k: v for k, v in raw.items() if k not in PLANNED_SECTIONS}
    context = {"base_dir": base_dir or Path.cwd()}
    try:
        scenario = Scenario.model_validate(raw, context=context)
    except ValidationError as err:
        problems = planned + validation_problems(err, raw)
        sections = _valid_sections(raw, {**context, FIELDS_ONLY: True})
        problems += [p for p in cross_section_problems(sections) if p not in problems]
        raise ScenarioError(source, problems) from None
    if planned:
        raise ScenarioError(source, planned)
    return scenario


def _valid_sections(raw: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """Each top-level section whose fields are valid on their own, so cross-section checks can still run."""
    sections: dict[str, Any] = {}
    for key, field in Scenario.model_fields.items():
        if key not in raw and field.is_required():
            continue
        value = raw[key] if key in raw else field.get_default(call_default_factory=True)
        assert field.annotation is not None  # every Scenario field is annotated
        try:
            sections[key] = TypeAdapter(field.annotation).validate_python(value, context=context)
        except ValidationError:
            continue
    return sections


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str], source: str) -> dict[str, Any]:
    """Apply ``KEY=VALUE`` overrides (dotted key, TOML value) to a copy of the raw scenario."""
    raw = _deep_copy(raw)
    problems = []
    for override in overrides:
        key, sep, text = override.partition("=")
        key = ".".join(part.strip() for part in key.split("."))  # TOML allows spaces around a key's dots
        if not sep or not key:
            problems.append(f"--set {override!r}: expected KEY=VALUE, like repair.crews=8")
            continue
        if _CONTROL.search(override):
            problems.append(f"--set {key}: the value holds a control character (a line break?); give one line")
            continue
        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            problems.append(f"--set {key}: {text!r} is not a TOML value (quote strings: {key}='\"{text}\"')")
            continue
        problem = _set_path(raw, key, value)
        if problem:
            problems.append(f"--set {key}: {problem}")
    if problems:
        raise ScenarioError(source, problems)
    return raw


def set_values(raw: dict[str, Any], values: Sequence[tuple[str, Any]], source: str,
               flag: str = "--set") -> dict[str, Any]:
    """A copy of the raw scenario with each ``(dotted key, parsed TOML value)`` put in place, as ``--set`` does
    (a sweep point's values); problems are named ``<flag> <key>: ...``."""
    raw = _deep_copy(raw)
    problems = []
    for key, value in values:
        problem = _set_path(raw, key, _deep_copy(value))
        if problem:
            problems.append(f"{flag} {key}: {problem}")
    if problems:
        raise ScenarioError(source, problems)
    return raw


def _set_path(raw: dict[str, Any], key: str, value: Any) -> str | None:
    """Put ``value`` at a dotted path (``a.b[0].c`` or ``a.b.0.c``); returns a problem or None."""
    steps: list[str | int] = []
    for part in key.split("."):
        match = _INDEXED.match(part)
        if match:
            steps += [match.group(1), int(match.group(2))]
        elif part.isdigit():
            steps.append(int(part))
        elif not part or "[" in part or "]" in part:
            return f"{part!r} is not a key; write a.b.c, with list items as name[0]"
        else:
            steps.append(part)
    node: Any = raw
    for i, step in enumerate(steps[:-1]):
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return f"{key_path(steps[: i + 1])} does not exist in the scenario"
            node = node[step]
        else:
            if not isinstance(node, dict):
                return f"{key_path(steps[:i])} is not a table"
            node = node.setdefault(step, {})
    last = steps[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last >= len(node):
            return f"{key_path(steps)} does not exist in the scenario"
        node[last] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        return f"{key_path(steps[:-1])} is not a table"
    return None


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def key_path(steps: list[str | int] | tuple) -> str:
    """A validation location as the user writes the key: ``inject[0].rack``."""
    text = ""
    for step in steps:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


def validation_problems(err: ValidationError, raw: dict[str, Any]) -> list[str]:
    """pydantic errors -> ``key.path: message`` lines, with "did you mean" for unknown keys."""
    problems = []
    for error in err.errors(include_url=False):
        path = _input_path(error["loc"], raw)
        message = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if error["type"] == "extra_forbidden":
            message = f"unknown key{_suggestion(path, raw)}"
        elif error["type"] == "missing":
            message = "missing required key"
        elif error["type"] in ("model_type", "model_attributes_type", "dict_type"):
            message = f"must be a table, got {_toml_text(error['input'])}"
        elif error["type"] == "list_type":
            message = f"must be an array, got {_toml_text(error['input'])}"
        elif error["type"] == "string_pattern_mismatch" and path and path[-1] == "name":
            message = f"must start with a letter and hold only letters, digits, '_' and '-', got {error['input']!r}"
        elif error["type"].endswith(("_type", "_parsing")) or error["type"] in BOUND_ERRORS + ("literal_error",):
            message = f"{message}, got {_toml_text(error['input'])}"
        elif error["type"] == "union_tag_invalid":
            tag, expected = error["ctx"]["tag"], error["ctx"]["expected_tags"]
            what = _TAGGED.get(error["ctx"]["discriminator"].strip("'"), ("value", ""))[0]
            message = f"unknown {what} {tag!r}, use one of {expected}"
        elif error["type"] == "union_tag_not_found":
            key = error["ctx"]["discriminator"].strip("'")
            what, choices = _TAGGED.get(key, ("value", ""))
            message = f"a {what} needs {key!r} ({choices}){_misspelt_tag(key, error['input'])}"
        separator = "." if error["type"] == SECTION_PROBLEMS else ": "  # problem lines start with their key
        for line in message.splitlines():
            problems.append(f"{key_path(path)}{separator}{line}" if path else line)
    return problems


def _misspelt_tag(key: str, table: Any) -> str:
    """``; 'dst' is not a key, did you mean 'dist'?`` when the table holds a near miss of the tag key."""
    if not isinstance(table, dict):
        return ""
    near = difflib.get_close_matches(key, [str(k) for k in table], n=1, cutoff=SUGGESTION_CUTOFF)
    return f"; {near[0]!r} is not a key, did you mean {key!r}?" if near else ""


def _toml_text(value: Any) -> str:
    """A short rendering of a value as the user wrote it in TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime.date, datetime.time)):  # datetime is a date too
        return value.isoformat()
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return repr(value)


def _input_path(loc: tuple, raw: Any) -> list[str | int]:
    """The error location as the user wrote it: drop union tags pydantic inserts into ``loc``."""
    path: list[str | int] = []
    node = raw
    tag_skipped_in = None
    for step in loc:
        if isinstance(node, dict) and node is not tag_skipped_in and any(node.get(key) == step for key in _TAGGED):
            tag_skipped_in = node  # the tag pydantic inserts after a discriminated union (a key may share its name)
            continue
        if isinstance(node, dict) and step in node:
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and step < len(node):
            node = node[step]
        else:
            node = None
        path.append(step)
    return path


def _suggestion(path: list[str | int], raw: dict[str, Any]) -> str:
    """``, did you mean 'crews'?`` for an unknown key, from the fields valid at that place."""
    fields = _fields_at(Scenario, path[:-1], raw)
    close = difflib.get_close_matches(str(path[-1]), fields, n=1, cutoff=SUGGESTION_CUTOFF)
    if close:
        return f", did you mean {close[0]!r}?"
    home = _section_with_key(str(path[-1]))
    if home is not None:
        return f" here; it belongs in [{home}]"
    return f" (valid: {', '.join(fields)})" if fields else ""


def _section_with_key(key: str) -> str | None:
    """The top-level section whose own keys include ``key`` (for a key written in the wrong table)."""
    for name, field in Scenario.model_fields.items():
        annotation = _model_in(field.annotation, None)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and key in annotation.model_fields:
            return name
    return None


def _fields_at(model: type[BaseModel], path: list[str | int], raw: Any) -> list[str]:
    """The field names of the schema model that sits at ``path`` of the raw input."""
    annotation: Any = model
    node = raw
    for step in path:
        annotation = _model_in(annotation, node)
        if isinstance(step, int):
            args = typing.get_args(annotation)
            annotation = args[0] if args else None
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel) and step in annotation.model_fields:
            annotation = annotation.model_fields[step].annotation
        else:
            return []
        if isinstance(node, dict):
            node = node.get(step)
        elif isinstance(node, list) and isinstance(step, int) and step < len(node):
            node = node[step]
        else:
            node = None
    annotation = _model_in(annotation, node)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def _model_in(annotation: Any, node: Any) -> Any:
    """Unwrap Optional/Annotated/Union down to the model class that ``node`` is validated as."""
    for _ in range(6):
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            tagged = [
                m for m in members
                if isinstance(m, type) and issubclass(m, BaseModel) and isinstance(node, dict)
                and any(key in m.model_fields and node.get(key) in typing.get_args(m.model_fields[key].annotation)
                        for key in _TAGGED)
            ]
            annotation = tagged[0] if tagged else members[0]
        else:
            break
    return annotation


def dump_scenario_toml(scenario: Scenario) -> str:
    """The fully resolved scenario (every default written out) as TOML that loads back equal."""
    data = scenario.model_dump(mode="json", exclude_none=True)
    return tomli_w.dumps(data)

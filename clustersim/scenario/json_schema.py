"""The JSON Schema of scenario files, for editors: every key described, defaults as a file writes them.

pydantic generates it from the schema (each key's ``Field(description=...)``); this adds the
dialect and an ``$id``, and writes duration defaults, stored in hours, as duration strings
(``8760.0`` -> ``"365 d"``) so every default validates against its own key's schema.
"""
from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from clustersim import __version__
from clustersim.quantities import Duration
from clustersim.scenario.schema import Scenario
from clustersim.units import HOURS_PER_UNIT, parse_duration_hours

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "urn:clustersim:scenario-schema"


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of scenario files."""
    schema = Scenario.model_json_schema(mode="validation")
    pattern = TypeAdapter(Duration).json_schema()["pattern"]
    for model in [schema, *schema.get("$defs", {}).values()]:
        _durations_with_units(model, pattern)
    return {"$schema": JSON_SCHEMA_DIALECT, "$id": f"{SCHEMA_ID}:{__version__}", **schema}


def duration_text(hours: float) -> str:
    """A duration in the largest of d, h, min, s that writes it as a short exact number: 8760 -> "365 d"."""
    for unit in ("d", "h", "min", "s"):
        number = round(hours / HOURS_PER_UNIT[unit], 6)
        text = f"{number:g} {unit}"
        if number >= 1 and parse_duration_hours(text) == hours:
            return text
    return f"{hours:g} h" if hours else "0 h"


def _durations_with_units(model: dict[str, Any], pattern: str) -> None:
    """Write one model's duration defaults (hours) as duration strings."""
    for prop in model.get("properties", {}).values():
        default = prop.get("default")
        is_duration = any(branch.get("pattern") == pattern for branch in prop.get("anyOf", [prop]))
        if isinstance(default, float) and is_duration:
            prop["default"] = duration_text(default)

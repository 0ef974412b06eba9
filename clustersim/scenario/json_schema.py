"""The JSON Schema of scenario files, for editors: every key described, defaults as a file writes them.

pydantic generates it from the schema (each key's ``Field(description=...)``); this adds the
dialect and an ``$id``, and writes duration defaults, stored in hours, as duration strings
(``8760.0`` -> ``"365 d"``), and size and bandwidth defaults with their unit (``"10.0 GB"``), so every
default validates against its own key's schema.
"""
from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from clustersim import __version__
from clustersim.quantities import Duration, PositiveBandwidth, PositiveSize
from clustersim.scenario.schema import Scenario
from clustersim.units import HOURS_PER_UNIT, format_bandwidth_gbps, format_size_gb, parse_duration_hours

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "urn:clustersim:scenario-schema"


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of scenario files."""
    schema = Scenario.model_json_schema(mode="validation")
    pattern = TypeAdapter(Duration).json_schema()["pattern"]
    texts = {TypeAdapter(PositiveSize).json_schema()["pattern"]: format_size_gb,
             TypeAdapter(PositiveBandwidth).json_schema()["pattern"]: format_bandwidth_gbps}
    for model in [schema, *schema.get("$defs", {}).values()]:
        _durations_with_units(model, pattern)
        _quantities_with_units(model, texts)
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


def _quantities_with_units(model: dict[str, Any], texts: dict[str, Any]) -> None:
    """Write one model's size (GB) and bandwidth (GB/s) defaults as text with their unit."""
    for prop in model.get("properties", {}).values():
        default = prop.get("default")
        text = next((texts[branch.get("pattern")] for branch in prop.get("anyOf", [prop])
                     if branch.get("pattern") in texts), None)
        if isinstance(default, float) and text is not None:
            prop["default"] = text(default)

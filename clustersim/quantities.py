"""Pydantic field types for quantities with units: parsed from scenario text, dumped back as text.

Each type validates the text once (unit, sign) and stores a float in the base unit of
``clustersim.units``; dumping writes the canonical text, so a resolved scenario loads back equal.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from clustersim import units


def _quantity(
    parse: Callable[[object], float],
    fmt: Callable[[float], str],
    what: str,
    pattern: str,
    positive: bool,
):
    """An Annotated float that parses ``"<number> <unit>"`` and rejects negative (or zero) values."""

    def validate(value: object) -> float:
        number = parse(value)
        if number < 0 or (positive and number == 0):
            sign = "positive" if positive else "non-negative"
            raise ValueError(f'must be a {sign} {what}, got "{value}"')
        return number

    schema = {"type": "string", "pattern": pattern, "description": f"a {what} with a unit"}
    return Annotated[float, BeforeValidator(validate), PlainSerializer(fmt, return_type=str), WithJsonSchema(schema)]


_NUM = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*"
_DURATION_RE = _NUM + r"(ms|s|min|h|d|w|y)\s*$"

Duration = _quantity(units.parse_duration_hours, units.format_hours, "duration", _DURATION_RE, positive=False)
PositiveDuration = _quantity(units.parse_duration_hours, units.format_hours, "duration", _DURATION_RE, positive=True)
PositiveRate = _quantity(units.parse_rate_per_s, units.format_rate_per_s, "rate", _NUM + r"/(s|min|h)\s*$", True)
PositiveSize = _quantity(units.parse_size_gb, units.format_size_gb, "size", _NUM + r"(MB|GB|TB)\s*$", True)
PositiveBandwidth = _quantity(
    units.parse_bandwidth_gbps, units.format_bandwidth_gbps, "bandwidth", _NUM + r"(MB|GB|TB)/s\s*$", True
)

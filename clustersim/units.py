"""Quantities with units, as written in scenario files, to the model's base units.

Base units: time in hours, rates per second, sizes in GB, bandwidths in GB/s.
A bare number is rejected: a scenario must say which unit it means.
"""
from __future__ import annotations

import math
import re

from clustersim.errors import UnitError

HOURS_PER_UNIT: dict[str, float] = {
    "ms": 1.0 / 3_600_000.0,
    "s": 1.0 / 3600.0,
    "min": 1.0 / 60.0,
    "h": 1.0,
    "d": 24.0,
    "w": 24.0 * 7.0,
    "y": 24.0 * 365.0,
}
PER_SECOND_PER_UNIT: dict[str, float] = {"/s": 1.0, "/min": 1.0 / 60.0, "/h": 1.0 / 3600.0}
GB_PER_UNIT: dict[str, float] = {"MB": 1e-3, "GB": 1.0, "TB": 1e3}
GBPS_PER_UNIT: dict[str, float] = {"MB/s": 1e-3, "GB/s": 1.0, "TB/s": 1e3}

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_QUANTITY = re.compile(rf"^\s*({_NUMBER})\s*(\S+)\s*$")
_NUMBER_ONLY = re.compile(rf"^\s*{_NUMBER}\s*$")


def _parse(text: object, units: dict[str, float], what: str, example: str) -> float:
    """Parse ``"<number> <unit>"`` into the base unit of ``units``."""
    if isinstance(text, bool) or not isinstance(text, str):
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            raise UnitError(f"a bare number is ambiguous, write {what} with a unit like \"{example}\" (got {text!r})")
        raise UnitError(f"must be {what} string like \"{example}\", got {text!r}")
    if _NUMBER_ONLY.match(text):  # else "40" would read as 4 with unit "0"
        raise UnitError(f"{text!r} has no unit, write {what} like \"{example}\"")
    match = _QUANTITY.match(text)
    if match is None:
        raise UnitError(f"must be {what} like \"{example}\", got {text!r}")
    number, unit = float(match.group(1)), match.group(2)
    if unit not in units:
        raise UnitError(f"unknown unit {unit!r} in {text!r}, use one of {', '.join(units)}")
    value = number * units[unit]
    if not math.isfinite(value):
        raise UnitError(f"must be a finite number, got {text!r}")
    return value


def parse_duration_hours(text: object) -> float:
    """``"4 h"`` -> 4.0; ``"30 min"`` -> 0.5."""
    return _parse(text, HOURS_PER_UNIT, "a duration", "4 h")


def parse_rate_per_s(text: object) -> float:
    """``"40 /s"`` -> 40.0; ``"60 /min"`` -> 1.0."""
    return _parse(text, PER_SECOND_PER_UNIT, "a rate", "40 /s")


def parse_size_gb(text: object) -> float:
    """``"2 TB"`` -> 2000.0."""
    return _parse(text, GB_PER_UNIT, "a size", "2 TB")


def parse_bandwidth_gbps(text: object) -> float:
    """``"500 MB/s"`` -> 0.5."""
    return _parse(text, GBPS_PER_UNIT, "a bandwidth", "2 GB/s")


def format_hours(hours: float) -> str:
    """The canonical text of a duration; round-trips exactly through parse_duration_hours."""
    return f"{hours!r} h"


def readable_hours(hours: float) -> str:
    """A duration for people: ``"57 min"`` below an hour, ``"1.38 h"`` below ten days, else ``"12.5 d"``."""
    if not math.isfinite(hours):
        return "∞"
    if hours < 1.0:
        return f"{hours * 60:.3g} min"
    if hours < 240.0:
        return f"{hours:.3g} h"
    return f"{hours / 24:.3g} d"


def format_rate_per_s(rate: float) -> str:
    return f"{rate!r} /s"


def format_size_gb(size: float) -> str:
    return f"{size!r} GB"


def format_bandwidth_gbps(bandwidth: float) -> str:
    return f"{bandwidth!r} GB/s"

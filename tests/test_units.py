"""Quantities with units: parsing to base units, refusing ambiguity, canonical text that round-trips."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from clustersim.errors import UnitError
from clustersim.quantities import Duration, PositiveBandwidth, PositiveDuration, PositiveRate, PositiveSize
from clustersim.units import (
    HOURS_PER_UNIT,
    format_bandwidth_gbps,
    format_hours,
    format_rate_per_s,
    format_size_gb,
    parse_bandwidth_gbps,
    parse_duration_hours,
    parse_rate_per_s,
    parse_size_gb,
)


@pytest.mark.parametrize("text, hours", [
    ("90 s", 90 / 3600),
    ("3600 s", 1.0),
    ("30 min", 0.5),
    ("4 h", 4.0),
    ("2 d", 48.0),
    ("1 w", 168.0),
    ("1 y", 365 * 24.0),
    ("0.5 y", 365 * 12.0),
    ("0 h", 0.0),
    ("1.5e3 h", 1500.0),
    (".5 h", 0.5),
    ("4h", 4.0),
    ("  4   h  ", 4.0),
    ("-2 h", -2.0),
])
def test_durations_in_every_unit(text, hours):
    assert parse_duration_hours(text) == pytest.approx(hours, rel=1e-15)


def test_a_year_is_365_days():
    assert parse_duration_hours("1 y") == parse_duration_hours("365 d") == 8760.0
    assert set(HOURS_PER_UNIT) == {"ms", "s", "min", "h", "d", "w", "y"}


def test_milliseconds_for_serving_latencies():
    assert parse_duration_hours("200 ms") == pytest.approx(0.2 / 3600.0, rel=1e-15)


@pytest.mark.parametrize("text, per_s", [("40 /s", 40.0), ("60 /min", 1.0), ("3600 /h", 1.0), ("0.5/s", 0.5)])
def test_rates(text, per_s):
    assert parse_rate_per_s(text) == pytest.approx(per_s)


@pytest.mark.parametrize("text, gb", [("500 MB", 0.5), ("2 GB", 2.0), ("2 TB", 2000.0)])
def test_sizes(text, gb):
    assert parse_size_gb(text) == pytest.approx(gb)


@pytest.mark.parametrize("text, gbps", [("500 MB/s", 0.5), ("2 GB/s", 2.0), ("1 TB/s", 1000.0)])
def test_bandwidths(text, gbps):
    assert parse_bandwidth_gbps(text) == pytest.approx(gbps)


@pytest.mark.parametrize("value, fragment", [
    (4, "bare number is ambiguous"),
    (4.5, "bare number is ambiguous"),
    (True, "must be a duration string"),
    (None, "must be a duration string"),
    (["4 h"], "must be a duration string"),
    ("4", "'4' has no unit"),
    ("2000", "'2000' has no unit"),
    ("1e5", "has no unit"),
    ("h", "must be a duration"),
    ("four h", "must be a duration"),
    ("4 hours", "unknown unit 'hours'"),
    ("4 H", "unknown unit 'H'"),
    ("4 us", "unknown unit 'us'"),
    ("4 h 30 min", "must be a duration"),
    ("inf h", "must be a duration"),
    ("nan h", "must be a duration"),
    ("1e400 h", "finite"),
    ("1e306 y", "finite"),
])
def test_bad_durations(value, fragment):
    with pytest.raises(UnitError, match=fragment):
        parse_duration_hours(value)


@pytest.mark.parametrize("parse, text, fragment", [
    (parse_rate_per_s, "40", "'40' has no unit"),
    (parse_rate_per_s, "40 s", "unknown unit 's'"),
    (parse_rate_per_s, 40, "bare number"),
    (parse_rate_per_s, "40 /d", "unknown unit '/d'"),
    (parse_size_gb, "2 tb", "unknown unit 'tb'"),
    (parse_size_gb, "2 GiB", "unknown unit 'GiB'"),
    (parse_bandwidth_gbps, "2 GB", "unknown unit 'GB'"),
    (parse_bandwidth_gbps, "2 Gb/s", "unknown unit 'Gb/s'"),
])
def test_bad_other_quantities(parse, text, fragment):
    with pytest.raises(UnitError, match=fragment):
        parse(text)


@pytest.mark.parametrize("annotation, text, fragment", [
    (Duration, "-1 s", "non-negative duration"),
    (PositiveDuration, "0 h", "positive duration"),
    (PositiveDuration, "-3 d", "positive duration"),
    (PositiveRate, "0 /s", "positive rate"),
    (PositiveSize, "-1 GB", "positive size"),
    (PositiveBandwidth, "0 MB/s", "positive bandwidth"),
])
def test_field_types_refuse_bad_signs(annotation, text, fragment):
    with pytest.raises(ValidationError, match=fragment):
        TypeAdapter(annotation).validate_python(text)


@pytest.mark.parametrize("annotation, text, dumped", [
    (Duration, "30 min", "0.5 h"),
    (PositiveDuration, "1 y", "8760.0 h"),
    (PositiveRate, "60 /min", "1.0 /s"),
    (PositiveSize, "2 TB", "2000.0 GB"),
    (PositiveBandwidth, "500 MB/s", "0.5 GB/s"),
])
def test_field_types_dump_canonical_text(annotation, text, dumped):
    adapter = TypeAdapter(annotation)
    assert adapter.dump_python(adapter.validate_python(text)) == dumped
    assert adapter.validate_python(dumped) == adapter.validate_python(text)


finite_nonnegative = st.floats(min_value=0.0, allow_nan=False, allow_infinity=False)
numbers = st.one_of(
    st.integers(min_value=0, max_value=10**9).map(str),
    st.floats(min_value=0.0, max_value=1e12, allow_nan=False).map(repr),
    st.decimals(min_value=0, max_value=10**6, allow_nan=False, allow_infinity=False, places=4).map(str),
)


@settings(max_examples=300, deadline=None)
@given(finite_nonnegative)
def test_any_nonnegative_float_survives_format_then_parse(x):
    assert parse_duration_hours(format_hours(x)) == x
    assert parse_rate_per_s(format_rate_per_s(x)) == x
    assert parse_size_gb(format_size_gb(x)) == x
    assert parse_bandwidth_gbps(format_bandwidth_gbps(x)) == x


@settings(max_examples=300, deadline=None)
@given(numbers, st.sampled_from(sorted(HOURS_PER_UNIT)), st.sampled_from(["", " ", "  "]))
def test_format_of_a_parsed_duration_round_trips_exactly(number, unit, space):
    hours = parse_duration_hours(f"{number}{space}{unit}")
    assert math.isfinite(hours) and hours >= 0
    text = format_hours(hours)
    assert text.endswith(" h")
    assert parse_duration_hours(text) == hours
    assert format_hours(parse_duration_hours(text)) == text
    assert hours == pytest.approx(float(number) * HOURS_PER_UNIT[unit], rel=1e-15)


@settings(max_examples=200, deadline=None)
@given(finite_nonnegative)
def test_duration_field_round_trips_through_its_dump(x):
    adapter = TypeAdapter(Duration)
    assert adapter.validate_python(adapter.dump_python(adapter.validate_python(format_hours(x)))) == x


@settings(max_examples=200, deadline=None)
@given(st.floats(max_value=-1e-300, allow_nan=False, allow_infinity=False))
def test_negative_durations_are_refused_by_the_field(x):
    with pytest.raises(ValidationError, match="non-negative"):
        TypeAdapter(Duration).validate_python(format_hours(x))

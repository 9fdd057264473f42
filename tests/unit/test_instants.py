"""Instants from outside are read as aware UTC, inside the range Patch Pilot computes in."""

from __future__ import annotations

import datetime as dt

import pytest

from patchpilot.domain.instants import EARLIEST, LATEST, parse_instant, utc_instant
from patchpilot.errors import InvalidInputError
from tests.factories import utc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2026-12-05T03:00Z", utc(2026, 12, 5, 3), id="zulu"),
        pytest.param("2026-12-05T03:00z", utc(2026, 12, 5, 3), id="lower-z"),
        pytest.param("2026-12-05T04:00:00+01:00", utc(2026, 12, 5, 3), id="offset"),
        pytest.param("2026-12-05T03:00", utc(2026, 12, 5, 3), id="no-zone-is-utc"),
        pytest.param("2026-12-05", utc(2026, 12, 5), id="date-is-midnight-utc"),
        pytest.param(" 2026-12-05T03:00Z ", utc(2026, 12, 5, 3), id="spaces"),
    ],
)
def test_instants_are_read_as_aware_utc(text: str, expected: dt.datetime) -> None:
    moment = parse_instant(text, path="at")
    assert moment == expected
    assert moment.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("9999-12-31T23:00:00-02:00", id="utc-form-after-year-9999"),
        pytest.param("0001-01-01T00:00:00+05:00", id="utc-form-before-year-1"),
        pytest.param("9999-12-31T23:59:59.999999-14:00", id="latest-offset"),
        pytest.param("9999-12-31T23:00Z", id="too-close-to-the-end-to-plan-ahead"),
        pytest.param("9999-12-31", id="a-date-too-late"),
        pytest.param("1969-12-31T23:59:59Z", id="before-1970"),
        pytest.param("0001-01-01", id="year-one"),
    ],
)
def test_instants_outside_the_supported_range_are_input_errors_naming_the_field(
    text: str,
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_instant(text, path="until")
    assert caught.value.path == "until"
    assert "between 1970-01-01T00:00:00Z and 9000-01-01T00:00:00Z" in str(caught.value)


def test_the_range_ends_are_inside_it() -> None:
    assert parse_instant("1970-01-01T00:00Z") == EARLIEST
    assert parse_instant("8999-12-31T23:59:59.999999Z") == LATEST - dt.timedelta(microseconds=1)
    with pytest.raises(InvalidInputError):
        parse_instant("9000-01-01T00:00Z")


def test_an_aware_moment_is_checked_and_converted_the_same_way() -> None:
    plus_five = dt.timezone(dt.timedelta(hours=5))
    assert utc_instant(dt.datetime(2026, 1, 1, 5, tzinfo=plus_five), path="x") == utc(2026, 1, 1)
    with pytest.raises(InvalidInputError, match="between"):
        utc_instant(dt.datetime(1, 1, 1, tzinfo=plus_five), path="x")
    with pytest.raises(InvalidInputError, match="zone"):
        utc_instant(dt.datetime(2026, 1, 1), path="x")


def test_a_huge_non_instant_is_refused_with_a_short_message() -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_instant("x" * 5000, path="at")
    assert "not a time" in str(caught.value)
    assert len(str(caught.value)) < 200

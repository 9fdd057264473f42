"""NCRONTAB as Azure Functions reads it: six fields, day-of-month AND day-of-week."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from patchpilot.domain.cadence import patch_tuesday
from patchpilot.errors import InvalidInputError
from patchpilot.localhost.ncrontab import parse
from tests.factories import utc


def test_patch_tuesday_expression_fires_only_on_the_second_tuesday() -> None:
    schedule = parse("0 0 18 8-14 * Tue")
    moment = utc(2026, 1, 1)
    fired = []
    for _ in range(12):
        found = schedule.next_after(moment)
        assert found is not None
        fired.append(found)
        moment = found
    assert [f.date() for f in fired] == [patch_tuesday(2026, month) for month in range(1, 13)]
    assert all((f.hour, f.minute, f.second) == (18, 0, 0) for f in fired)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        pytest.param(
            "0 */15 * * * *", utc(2026, 1, 1, 0, 7), utc(2026, 1, 1, 0, 15), id="every-15-minutes"
        ),
        pytest.param(
            "0 */15 * * * *", utc(2026, 1, 1, 0, 15), utc(2026, 1, 1, 0, 30), id="strictly-after"
        ),
        pytest.param("0 5 2 * * *", utc(2026, 1, 1, 3), utc(2026, 1, 2, 2, 5), id="next-day"),
        pytest.param("0 0 0 1 Jan *", utc(2026, 6, 1), utc(2027, 1, 1), id="month-name"),
        pytest.param("0 0 9 * * 1-5", utc(2026, 11, 27, 10), utc(2026, 11, 30, 9), id="weekdays"),
        pytest.param("0 0 0 29 2 *", utc(2026, 3, 1), utc(2028, 2, 29), id="leap-day"),
    ],
)
def test_next_firing(expression: str, after: dt.datetime, expected: dt.datetime) -> None:
    assert parse(expression).next_after(after) == expected


def test_app_setting_references_are_resolved() -> None:
    schedule = parse("%SWEEP_SCHEDULE%", {"SWEEP_SCHEDULE": "0 */5 * * * *"})
    assert schedule.next_after(utc(2026, 1, 1, 0, 1)) == utc(2026, 1, 1, 0, 5)


def test_a_schedule_that_never_fires_ends() -> None:
    assert parse("0 0 0 30 2 *").next_after(utc(2026, 1, 1)) is None


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        pytest.param("0 0 * * *", "needs 6", id="five-fields"),
        pytest.param("0 60 * * * *", "outside 0-59", id="minute-range"),
        pytest.param("0 0 0 0 * *", "outside 1-31", id="day-zero"),
        pytest.param("0 */0 * * * *", "at least 1", id="zero-step"),
        pytest.param("0 0 0 * * Funday", "not a number", id="bad-name"),
        pytest.param("%MISSING%", "MISSING is not set", id="missing-setting"),
    ],
)
def test_bad_expressions_are_refused(expression: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse(expression)


def _walked(expression: str, after: dt.datetime) -> dt.datetime | None:
    """The first firing after `after`, found by trying every allowed time of each day in turn."""
    schedule = parse(expression)
    after = after.replace(microsecond=0)
    for offset in range(3):
        day = after.date() + dt.timedelta(days=offset)
        for hour, minute, second in itertools.product(
            sorted(schedule.hours), sorted(schedule.minutes), sorted(schedule.seconds)
        ):
            moment = dt.datetime.combine(day, dt.time(hour, minute, second), dt.UTC)
            if moment > after and schedule.matches(moment):
                return moment
    return None


@pytest.mark.parametrize(
    "expression",
    ["0 */5 * * * *", "0 17 * * * *", "30 0,59 1-3,22 * * *", "*/20 7 23 * * *", "5,6 * * * * *"],
)
def test_next_firing_agrees_with_walking_the_seconds(expression: str) -> None:
    # Instants at every edge the bisection turns on: a firing itself, a second before
    # and after one, the last second of an hour and of the day.
    instants = [
        utc(2026, 3, 1, 1, 0) + dt.timedelta(seconds=offset)
        for offset in (
            -1,
            0,
            1,
            29,
            30,
            31,
            59 * 60 + 59,
            3600,
            2 * 3600 + 30,
            22 * 3600 + 59 * 60 + 59,
        )
    ]
    instants += [
        dt.datetime(2026, 3, 1, 23, 59, 59, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 1, 23, 7, 40, 500_000, tzinfo=dt.UTC),
    ]
    schedule = parse(expression)
    for after in instants:
        assert schedule.next_after(after) == _walked(expression, after), after

"""AKS maintenance configurations: every schedule kind, the AKS docs' own
examples, not-allowed dates, startDate, the payload shapes, every validation
error, and properties checked against a day-by-day oracle."""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone
from itertools import islice, pairwise, takewhile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from patchpilot.domain.maintenance_config import (
    parse_maintenance_configuration,
    parse_maintenance_window,
    parse_utc_offset,
    to_arm,
)
from patchpilot.domain.schedule import (
    DAYS,
    DEFAULT_DURATION_HOURS,
    UNUSABLE_KEY,
    WEEK_INDEXES,
    AbsoluteMonthly,
    Daily,
    DateSpan,
    MaintenanceWindow,
    Recurrence,
    RelativeMonthly,
    Schedule,
    TimeInWeek,
    TimeInWeekSchedule,
    Weekly,
)
from patchpilot.domain.windows import HORIZON, Window, subtract
from patchpilot.errors import InvalidInputError

FIXTURES = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "fixtures"
    / "azure-rest-api-specs"
    / "containerservice"
)

# The bodies of the ARM examples MaintenanceConfigurationsCreate_Update*.json,
# copied so the tests run where the shared folder is absent (a test below
# checks the copies against the files when they are there).
ARM_TIME_IN_WEEK: dict[str, Any] = {
    "id": "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg1/providers/"
    "Microsoft.ContainerService/managedClusters/clustername1/maintenanceConfigurations/default",
    "type": "Microsoft.ContainerService/managedClusters/maintenanceConfigurations",
    "name": "default",
    "systemData": {
        "createdBy": "user1",
        "createdByType": "User",
        "createdAt": "2020-01-01T17:18:19.1234567Z",
        "lastModifiedBy": "user2",
        "lastModifiedByType": "User",
        "lastModifiedAt": "2020-01-02T17:18:19.1234567Z",
    },
    "properties": {
        "timeInWeek": [{"day": "Monday", "hourSlots": [1, 2]}],
        "notAllowedTime": [{"start": "2020-11-26T03:00:00Z", "end": "2020-11-30T12:00:00Z"}],
    },
}
_NOT_ALLOWED_2023 = [
    {"end": "2023-02-25", "start": "2023-02-18"},
    {"end": "2024-01-05", "start": "2023-12-23"},
]
ARM_REQUEST_RELATIVE_MONTHLY: dict[str, Any] = {
    "properties": {
        "maintenanceWindow": {
            "durationHours": 10,
            "notAllowedDates": _NOT_ALLOWED_2023,
            "schedule": {
                "relativeMonthly": {
                    "dayOfWeek": "Monday",
                    "intervalMonths": 3,
                    "weekIndex": "First",
                }
            },
            "startDate": "2023-01-01",
            "startTime": "08:30",
            "utcOffset": "+05:30",
        }
    }
}
ARM_RESPONSE_WEEKLY: dict[str, Any] = {
    "name": "aksManagedAutoUpgradeSchedule",
    "id": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg1/providers/"
    "Microsoft.ContainerService/managedClusters/clustername1/maintenanceConfigurations/"
    "aksManagedAutoUpgradeSchedule",
    "properties": {
        "maintenanceWindow": {
            "durationHours": 10,
            "notAllowedDates": _NOT_ALLOWED_2023,
            "schedule": {"weekly": {"dayOfWeek": "Monday", "intervalWeeks": 3}},
            "startDate": "2023-01-01",
            "startTime": "08:30",
            "utcOffset": "+05:30",
        }
    },
}
# `az aks maintenanceconfiguration show` output, from the planned-maintenance article.
AZ_SHOW_ABSOLUTE_MONTHLY: dict[str, Any] = {
    "id": "/subscriptions/<subscription>/resourceGroups/myResourceGroup/providers/"
    "Microsoft.ContainerService/managedClusters/myAKSCluster/maintenanceConfigurations/"
    "aksManagedAutoUpgradeSchedule",
    "maintenanceWindow": {
        "durationHours": 4,
        "notAllowedDates": [{"end": "2024-01-05", "start": "2023-12-23"}],
        "schedule": {
            "absoluteMonthly": {"dayOfMonth": 1, "intervalMonths": 3},
            "daily": None,
            "relativeMonthly": None,
            "weekly": None,
        },
        "startDate": "2023-01-20",
        "startTime": "09:00",
        "utcOffset": "-08:00",
    },
    "name": "aksManagedAutoUpgradeSchedule",
    "notAllowedTime": None,
    "resourceGroup": "myResourceGroup",
    "systemData": None,
    "timeInWeek": None,
    "type": None,
}
AZ_SHOW_DEFAULT: dict[str, Any] = {
    "id": "/subscriptions/<subscriptionID>/resourcegroups/MyResourceGroup/providers/"
    "Microsoft.ContainerService/managedClusters/myAKSCluster/maintenanceConfigurations/default",
    "name": "default",
    "notAllowedTime": None,
    "resourceGroup": "MyResourceGroup",
    "systemData": None,
    "timeInWeek": [{"day": "Monday", "hourSlots": [1]}],
    "type": None,
}


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def mw(schedule: dict[str, Any], start_time: str = "01:00", **fields: Any) -> MaintenanceWindow:
    """A maintenanceWindow parsed from JSON-style fields (durationHours=..., utcOffset=...)."""
    return parse_maintenance_window({"schedule": schedule, "startTime": start_time, **fields})


def starts(schedule: Schedule, after: datetime, count: int) -> list[datetime]:
    return [window.start for window in schedule.windows(after, count)]


def pairs(schedule: Schedule, after: datetime, count: int) -> list[tuple[datetime, datetime]]:
    return [(window.start, window.end) for window in schedule.windows(after, count)]


def error_of(call: Callable[[], object]) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as caught:
        call()
    return caught.value


# --------------------------------------------------------------------------- Window, subtract


def test_a_window_contains_its_start_but_not_its_end() -> None:
    window = Window(utc(2026, 1, 5, 1), utc(2026, 1, 5, 5))
    assert window.contains(utc(2026, 1, 5, 1))
    assert window.contains(utc(2026, 1, 5, 4, 59))
    assert not window.contains(utc(2026, 1, 5, 5))
    assert window.duration == timedelta(hours=4)


def test_a_window_is_kept_in_utc_whatever_zone_it_was_given_in() -> None:
    plus_two = timezone(timedelta(hours=2))
    window = Window(
        datetime(2026, 1, 5, 3, tzinfo=plus_two), datetime(2026, 1, 5, 7, tzinfo=plus_two)
    )
    assert window.start.tzinfo is UTC
    assert window == Window(utc(2026, 1, 5, 1), utc(2026, 1, 5, 5))


def test_a_window_refuses_naive_datetimes_instead_of_guessing_a_zone() -> None:
    with pytest.raises(InvalidInputError, match="timezone-aware"):
        Window(datetime(2026, 1, 5, 1), utc(2026, 1, 5, 5))
    with pytest.raises(InvalidInputError, match="timezone-aware"):
        Window(utc(2026, 1, 5, 1), utc(2026, 1, 5, 5)).contains(datetime(2026, 1, 5, 2))


def test_a_window_must_end_after_it_starts() -> None:
    with pytest.raises(InvalidInputError, match="must end after it starts"):
        Window(utc(2026, 1, 5, 5), utc(2026, 1, 5, 5))


def _hours(*spans: tuple[int, int]) -> list[Window]:
    """Windows on 2026-01-05 given as (start hour, end hour)."""
    return [Window(utc(2026, 1, 5, start), utc(2026, 1, 5, end)) for start, end in spans]


@pytest.mark.parametrize(
    ("blocked", "left"),
    [
        pytest.param([], [(4, 12)], id="nothing-blocked"),
        pytest.param([(0, 2), (14, 16)], [(4, 12)], id="blocks-elsewhere"),
        pytest.param([(2, 6)], [(6, 12)], id="trims-the-start"),
        pytest.param([(10, 14)], [(4, 10)], id="trims-the-end"),
        pytest.param([(6, 8)], [(4, 6), (8, 12)], id="splits-in-two"),
        pytest.param([(3, 13)], [], id="swallows-whole"),
        pytest.param([(4, 12)], [], id="exactly-covered"),
        pytest.param([(2, 4), (12, 14)], [(4, 12)], id="touching-blocks-leave-it-whole"),
        pytest.param(
            [(9, 11), (5, 7), (6, 8)], [(4, 5), (8, 9), (11, 12)], id="unsorted-overlapping"
        ),
        pytest.param([(4, 8), (8, 12)], [], id="two-touching-blocks-swallow-it"),
    ],
)
def test_subtract_leaves_the_pieces_no_block_covers(
    blocked: list[tuple[int, int]], left: list[tuple[int, int]]
) -> None:
    (window,) = _hours((4, 12))
    assert subtract(window, _hours(*blocked)) == _hours(*left)


# --------------------------------------------------------------------------- utcOffset


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        pytest.param("+00:00", timedelta(0), id="utc"),
        pytest.param("+05:30", timedelta(hours=5, minutes=30), id="india"),
        pytest.param("-08:00", timedelta(hours=-8), id="pacific"),
        pytest.param("-03:30", -timedelta(hours=3, minutes=30), id="newfoundland"),
        pytest.param("+14:00", timedelta(hours=14), id="line-islands"),
        pytest.param("-12:00", timedelta(hours=-12), id="baker-island"),
    ],
)
def test_utc_offsets_are_read_as_aks_writes_them(text: str, offset: timedelta) -> None:
    assert parse_utc_offset(text) == offset


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("+5:30", 'look like "+05:30"', id="one-digit-hour"),
        pytest.param("05:30", 'look like "+05:30"', id="no-sign"),
        pytest.param("+0530", 'look like "+05:30"', id="no-colon"),
        pytest.param("UTC", 'look like "+05:30"', id="a-name"),
        pytest.param("", 'look like "+05:30"', id="empty"),
        pytest.param(530, 'look like "+05:30"', id="a-number"),
        pytest.param("+05:60", "minutes must be below 60", id="sixty-minutes"),
        pytest.param("+15:00", "between -14:00 and +14:00", id="beyond-any-zone"),
    ],
)
def test_bad_utc_offsets_are_refused_with_the_field_path(text: Any, message: str) -> None:
    error = error_of(lambda: parse_utc_offset(text, source="c.json", path="x.utcOffset"))
    assert message in error.detail
    assert (error.source, error.path) == ("c.json", "x.utcOffset")


# --------------------------------------------------------------------------- daily


def test_a_daily_schedule_opens_every_day_at_its_start_time() -> None:
    schedule = mw({"daily": {"intervalDays": 1}}, "02:00", durationHours=4)
    assert pairs(schedule, utc(2026, 3, 1), 2) == [
        (utc(2026, 3, 1, 2), utc(2026, 3, 1, 6)),
        (utc(2026, 3, 2, 2), utc(2026, 3, 2, 6)),
    ]


def test_the_cli_help_daily_example_opens_every_two_days_from_its_start_date() -> None:
    # az aks maintenanceconfiguration add ... --schedule-type Daily --interval-days 2
    # --duration 12 --utc-offset=-08:00 --start-date 2023-01-16 --start-time 00:00
    schedule = mw(
        {"daily": {"intervalDays": 2}},
        "00:00",
        durationHours=12,
        utcOffset="-08:00",
        startDate="2023-01-16",
    )
    assert pairs(schedule, utc(2023, 1, 1), 3) == [
        (utc(2023, 1, 16, 8), utc(2023, 1, 16, 20)),
        (utc(2023, 1, 18, 8), utc(2023, 1, 18, 20)),
        (utc(2023, 1, 20, 8), utc(2023, 1, 20, 20)),
    ]


def test_interval_days_keep_counting_from_the_start_date_long_after_it() -> None:
    schedule = mw({"daily": {"intervalDays": 7}}, startDate="2026-01-01", durationHours=4)
    # 2026-01-01 + 7k: ... 2026-03-05, 2026-03-12
    assert starts(schedule, utc(2026, 3, 1), 2) == [utc(2026, 3, 5, 1), utc(2026, 3, 12, 1)]


def test_twenty_four_hour_daily_windows_touch_but_stay_separate_windows() -> None:
    schedule = mw({"daily": {"intervalDays": 1}}, "20:00", durationHours=24)
    first, second = schedule.windows(utc(2026, 3, 1, 21), 2)
    assert first == Window(utc(2026, 3, 1, 20), utc(2026, 3, 2, 20))
    assert second.start == first.end
    assert schedule.window_at(utc(2026, 3, 2, 20)) == second


# --------------------------------------------------------------------------- weekly


def test_the_docs_every_monday_one_to_five_utc_example() -> None:
    # az aks maintenanceconfiguration add --name default --schedule-type Weekly
    # --day-of-week Monday --interval-weeks 1 --duration 4 --utc-offset +00:00 --start-time 01:00
    schedule = mw(
        {"weekly": {"dayOfWeek": "Monday", "intervalWeeks": 1}},
        "01:00",
        durationHours=4,
        utcOffset="+00:00",
    )
    assert pairs(schedule, utc(2026, 1, 1), 2) == [
        (utc(2026, 1, 5, 1), utc(2026, 1, 5, 5)),
        (utc(2026, 1, 12, 1), utc(2026, 1, 12, 5)),
    ]
    assert schedule.contains(utc(2026, 1, 5, 3))
    assert not schedule.contains(utc(2026, 1, 5, 5))
    assert not schedule.contains(utc(2026, 1, 6, 3))


def test_the_docs_every_third_friday_example_without_a_start_date_is_refused() -> None:
    # --day-of-week Friday --interval-weeks 3 --duration 8 --utc-offset +05:30 --start-time 00:00,
    # no --start-date: AKS stores the day it was written, which this file does not say.
    error = error_of(
        lambda: mw(
            {"weekly": {"dayOfWeek": "Friday", "intervalWeeks": 3}},
            "00:00",
            durationHours=8,
            utcOffset="+05:30",
        )
    )
    assert error.path == "maintenanceWindow.startDate"
    assert "intervalWeeks 3 without startDate" in error.detail
    assert "set startDate" in error.detail


def test_the_cli_help_weekly_example_counts_three_weeks_from_its_start_date() -> None:
    # --day-of-week Friday --interval-weeks 3 --duration 8 --utc-offset +05:30
    # --start-date 2023-01-16 --start-time 09:30
    schedule = mw(
        {"weekly": {"dayOfWeek": "Friday", "intervalWeeks": 3}},
        "09:30",
        durationHours=8,
        utcOffset="+05:30",
        startDate="2023-01-16",
    )
    assert starts(schedule, utc(2023, 1, 1), 3) == [
        utc(2023, 1, 20, 4),
        utc(2023, 2, 10, 4),
        utc(2023, 3, 3, 4),
    ]


@pytest.mark.parametrize(
    ("start_date", "first"),
    [
        # Azure/AKS#5720: every 2 weeks on Sunday from Tuesday 2026-04-14 opens 04-26.
        pytest.param("2026-04-14", date(2026, 4, 26), id="aks-5720-sunday-before-start-is-skipped"),
        pytest.param("2026-04-18", date(2026, 4, 26), id="saturday-start-same-week"),
        pytest.param("2026-04-19", date(2026, 4, 19), id="start-on-the-sunday-itself"),
        pytest.param("2026-04-20", date(2026, 5, 3), id="monday-start-next-week"),
    ],
)
def test_interval_weeks_count_from_the_sunday_week_that_holds_the_start_date(
    start_date: str, first: date
) -> None:
    schedule = mw(
        {"weekly": {"dayOfWeek": "Sunday", "intervalWeeks": 2}},
        startDate=start_date,
        durationHours=4,
    )
    opened = [window.start.date() for window in schedule.windows(utc(2026, 4, 1), 2)]
    assert opened == [first, first + timedelta(weeks=2)]


def test_a_weekly_day_is_the_local_day_even_when_utc_is_the_day_before() -> None:
    schedule = mw(
        {"weekly": {"dayOfWeek": "Monday", "intervalWeeks": 1}},
        "02:00",
        durationHours=4,
        utcOffset="+05:30",
    )
    (window,) = schedule.windows(utc(2026, 1, 1), 1)
    assert window == Window(utc(2026, 1, 4, 20, 30), utc(2026, 1, 5, 0, 30))  # Sunday in UTC


def test_weekly_day_names_are_read_without_regard_to_case() -> None:
    lower = mw({"weekly": {"dayOfWeek": "saturday", "intervalWeeks": 1}}, durationHours=6)
    assert lower == mw({"weekly": {"dayOfWeek": "Saturday", "intervalWeeks": 1}}, durationHours=6)
    assert lower.schedule == Weekly(interval_weeks=1, day_of_week="Saturday")


# --------------------------------------------------------------------------- absoluteMonthly


def test_the_docs_quarterly_first_of_month_example_with_its_start_date_and_freeze() -> None:
    schedule = parse_maintenance_configuration(AZ_SHOW_ABSOLUTE_MONTHLY)
    # 2023-01-01 is before startDate 2023-01-20; 2024-01-01 falls in the freeze.
    assert pairs(schedule, utc(2023, 1, 1), 4) == [
        (utc(2023, 4, 1, 17), utc(2023, 4, 1, 21)),
        (utc(2023, 7, 1, 17), utc(2023, 7, 1, 21)),
        (utc(2023, 10, 1, 17), utc(2023, 10, 1, 21)),
        (utc(2024, 4, 1, 17), utc(2024, 4, 1, 21)),
    ]


def test_the_cli_help_monthly_example_skips_the_15th_before_its_start_date() -> None:
    # --schedule-type AbsoluteMonthly --day-of-month 15 --interval-months 1 --duration 6
    # --utc-offset +05:30 --start-date 2023-01-16 --start-time 09:30
    schedule = mw(
        {"absoluteMonthly": {"dayOfMonth": 15, "intervalMonths": 1}},
        "09:30",
        durationHours=6,
        utcOffset="+05:30",
        startDate="2023-01-16",
    )
    assert pairs(schedule, utc(2023, 1, 1), 2) == [
        (utc(2023, 2, 15, 4), utc(2023, 2, 15, 10)),
        (utc(2023, 3, 15, 4), utc(2023, 3, 15, 10)),
    ]


@pytest.mark.parametrize(
    ("day_of_month", "after", "first"),
    [
        pytest.param(31, date(2027, 4, 1), date(2027, 5, 31), id="31-skips-april"),
        pytest.param(31, date(2027, 2, 1), date(2027, 3, 31), id="31-skips-february"),
        pytest.param(31, date(2028, 2, 1), date(2028, 3, 31), id="31-skips-leap-february"),
        pytest.param(31, date(2027, 6, 1), date(2027, 7, 31), id="31-skips-june"),
        pytest.param(31, date(2027, 9, 1), date(2027, 10, 31), id="31-skips-september"),
        pytest.param(31, date(2027, 11, 1), date(2027, 12, 31), id="31-skips-november"),
        pytest.param(31, date(2027, 12, 31), date(2027, 12, 31), id="31-on-new-years-eve"),
        pytest.param(30, date(2028, 2, 1), date(2028, 3, 30), id="30-never-in-february"),
        pytest.param(29, date(2027, 2, 1), date(2027, 3, 29), id="29-skips-common-february"),
        pytest.param(29, date(2028, 2, 1), date(2028, 2, 29), id="29-opens-on-leap-day-2028"),
        pytest.param(28, date(2027, 2, 1), date(2027, 2, 28), id="28-always-exists"),
    ],
)
def test_absolute_monthly_skips_months_without_the_day(
    day_of_month: int, after: date, first: date
) -> None:
    schedule = mw(
        {"absoluteMonthly": {"dayOfMonth": day_of_month, "intervalMonths": 1}}, durationHours=4
    )
    (window,) = schedule.windows(datetime.combine(after, time(), UTC), 1)
    assert window.start == datetime.combine(first, time(1), UTC)


def test_absolute_monthly_31st_every_two_months_only_opens_in_long_months_of_its_phase() -> None:
    schedule = mw(
        {"absoluteMonthly": {"dayOfMonth": 31, "intervalMonths": 2}},
        startDate="2027-01-01",
        durationHours=4,
    )
    opened = [window.start.date() for window in schedule.windows(utc(2027, 1, 1), 6)]
    # Phase Jan, Mar, May, Jul, Sep (30 days: skipped), Nov (30: skipped), Jan...
    assert opened == [
        date(2027, 1, 31),
        date(2027, 3, 31),
        date(2027, 5, 31),
        date(2027, 7, 31),
        date(2028, 1, 31),
        date(2028, 3, 31),
    ]


@pytest.mark.parametrize(
    ("day_of_month", "start_time", "offset", "after", "start"),
    [
        pytest.param(
            1,
            "02:00",
            "+05:30",
            utc(2028, 2, 15),
            utc(2028, 2, 29, 20, 30),
            id="1st-of-march-is-leap-day-utc",
        ),
        pytest.param(
            31,
            "22:00",
            "-05:00",
            utc(2028, 1, 20),
            utc(2028, 2, 1, 3),
            id="31st-of-january-is-february-utc",
        ),
        pytest.param(
            28,
            "23:30",
            "+00:00",
            utc(2028, 2, 15),
            utc(2028, 2, 28, 23, 30),
            id="runs-into-leap-day",
        ),
    ],
)
def test_absolute_monthly_days_are_local_days_across_month_ends(
    day_of_month: int, start_time: str, offset: str, after: datetime, start: datetime
) -> None:
    schedule = mw(
        {"absoluteMonthly": {"dayOfMonth": day_of_month, "intervalMonths": 1}},
        start_time,
        durationHours=4,
        utcOffset=offset,
    )
    assert schedule.windows(after, 1)[0].start == start


# --------------------------------------------------------------------------- relativeMonthly


def test_the_docs_every_two_months_on_the_last_monday_example() -> None:
    schedule = mw(
        {"relativeMonthly": {"intervalMonths": 2, "dayOfWeek": "Monday", "weekIndex": "Last"}},
        startDate="2026-01-01",
        durationHours=4,
    )
    opened = [window.start.date() for window in schedule.windows(utc(2026, 1, 1), 3)]
    assert opened == [date(2026, 1, 26), date(2026, 3, 30), date(2026, 5, 25)]


def test_the_cli_help_last_tuesday_every_three_months_example() -> None:
    # --schedule-type RelativeMonthly --day-of-week Tuesday --week-index Last --interval-months 3
    # --duration 6 --start-date 2023-01-16 --start-time 09:30 (default UTC)
    schedule = mw(
        {"relativeMonthly": {"intervalMonths": 3, "dayOfWeek": "Tuesday", "weekIndex": "Last"}},
        "09:30",
        durationHours=6,
        startDate="2023-01-16",
    )
    assert pairs(schedule, utc(2023, 1, 1), 3) == [
        (utc(2023, 1, 31, 9, 30), utc(2023, 1, 31, 15, 30)),
        (utc(2023, 4, 25, 9, 30), utc(2023, 4, 25, 15, 30)),
        (utc(2023, 7, 25, 9, 30), utc(2023, 7, 25, 15, 30)),
    ]


def test_the_rest_reference_every_three_months_on_last_friday_example() -> None:
    schedule = mw(
        {"relativeMonthly": {"intervalMonths": 3, "dayOfWeek": "Friday", "weekIndex": "Last"}},
        startDate="2026-01-01",
        durationHours=4,
    )
    opened = [window.start.date() for window in schedule.windows(utc(2026, 1, 1), 4)]
    assert opened == [date(2026, 1, 30), date(2026, 4, 24), date(2026, 7, 31), date(2026, 10, 30)]


@pytest.mark.parametrize(
    ("week_index", "month", "day"),
    [
        pytest.param("First", 1, 6, id="first-tuesday-january"),
        pytest.param("Second", 1, 13, id="patch-tuesday-january"),
        pytest.param("Second", 2, 10, id="patch-tuesday-february"),
        pytest.param("Third", 3, 17, id="third-tuesday-march"),
        pytest.param("Fourth", 3, 24, id="fourth-tuesday-march-of-five"),
        pytest.param("Last", 3, 31, id="last-tuesday-march-is-the-fifth"),
        pytest.param("Fourth", 2, 24, id="fourth-tuesday-february-of-four"),
        pytest.param("Last", 2, 24, id="last-tuesday-february-is-the-fourth"),
    ],
)
def test_week_index_is_the_nth_occurrence_of_the_day_in_the_month(
    week_index: str, month: int, day: int
) -> None:
    schedule = mw(
        {"relativeMonthly": {"intervalMonths": 1, "dayOfWeek": "Tuesday", "weekIndex": week_index}},
        durationHours=4,
    )
    assert schedule.windows(utc(2026, month, 1), 1)[0].start == utc(2026, month, day, 1)


def test_the_first_monday_can_be_the_first_of_the_month() -> None:
    schedule = mw(
        {"relativeMonthly": {"intervalMonths": 1, "dayOfWeek": "Monday", "weekIndex": "First"}},
        durationHours=4,
    )
    assert schedule.windows(utc(2024, 1, 1), 1)[0].start == utc(2024, 1, 1, 1)


# --------------------------------------------------------------------------- offsets over midnight


@pytest.mark.parametrize(
    ("offset", "start_time", "start"),
    [
        pytest.param("+05:30", "02:00", utc(2026, 6, 9, 20, 30), id="plus-0530-is-the-day-before"),
        pytest.param("-08:00", "20:00", utc(2026, 6, 11, 4), id="minus-0800-is-the-day-after"),
        pytest.param(
            "+02:00", "02:00", utc(2026, 6, 10, 0), id="rest-example-0200-is-utc-midnight"
        ),
        pytest.param("+14:00", "00:00", utc(2026, 6, 9, 10), id="plus-1400"),
        pytest.param("-12:00", "23:59", utc(2026, 6, 11, 11, 59), id="minus-1200"),
    ],
)
def test_start_time_is_read_in_the_utc_offset(
    offset: str, start_time: str, start: datetime
) -> None:
    schedule = mw(
        {"weekly": {"dayOfWeek": "Wednesday", "intervalWeeks": 1}},
        start_time,
        durationHours=4,
        utcOffset=offset,
    )
    # 2026-06-10 is the first Wednesday whose window starts after Friday 2026-06-05.
    assert schedule.windows(utc(2026, 6, 5), 1)[0].start == start


def test_the_utc_offset_defaults_to_utc() -> None:
    schedule = mw({"daily": {"intervalDays": 1}}, "03:00", durationHours=4)
    assert schedule.utc_offset == timedelta(0)
    assert schedule.windows(utc(2026, 6, 1), 1)[0].start == utc(2026, 6, 1, 3)


def test_duration_hours_defaults_to_the_rest_specs_24() -> None:
    schedule = mw({"daily": {"intervalDays": 1}}, "03:00")
    assert schedule.duration_hours == DEFAULT_DURATION_HOURS == 24


# --------------------------------------------------------------------------- notAllowedDates


def test_the_rest_reference_not_allowed_dates_example_blocks_whole_local_days() -> None:
    # REST: 'utcOffset: +02:00', '2022-12-23' to '2023-01-03' blocks
    # '2022-12-22 22:00' to '2023-01-03 22:00' in UTC time.
    schedule = mw(
        {"daily": {"intervalDays": 1}},
        utcOffset="+02:00",
        notAllowedDates=[{"start": "2022-12-23", "end": "2023-01-03"}],
    )
    assert schedule.blocked == (Window(utc(2022, 12, 22, 22), utc(2023, 1, 3, 22)),)


def test_not_allowed_dates_swallow_whole_windows_and_trim_the_ones_they_overlap() -> None:
    schedule = mw(
        {"daily": {"intervalDays": 1}},
        "20:00",
        durationHours=8,
        utcOffset="+02:00",
        notAllowedDates=[{"start": "2022-12-23", "end": "2023-01-03"}],
    )
    assert pairs(schedule, utc(2022, 12, 21, 3), 4) == [
        (utc(2022, 12, 21, 18), utc(2022, 12, 22, 2)),
        (utc(2022, 12, 22, 18), utc(2022, 12, 22, 22)),  # trimmed where the span starts
        (utc(2023, 1, 3, 22), utc(2023, 1, 4, 2)),  # 2023-01-03 20:00 local, trimmed to its end
        (utc(2023, 1, 4, 18), utc(2023, 1, 5, 2)),
    ]


def test_the_docs_default_json_freeze_holds_no_tuesday_so_every_tuesday_stays() -> None:
    schedule = mw(
        {"weekly": {"intervalWeeks": 1, "dayOfWeek": "Tuesday"}},
        durationHours=4,
        utcOffset="+00:00",
        notAllowedDates=[{"start": "2021-05-26", "end": "2021-05-30"}],
    )
    assert starts(schedule, utc(2021, 5, 20), 2) == [utc(2021, 5, 25, 1), utc(2021, 6, 1, 1)]


def test_a_window_containing_after_but_frozen_there_yields_its_allowed_remainder() -> None:
    schedule = mw(
        {"daily": {"intervalDays": 1}},
        "20:00",
        durationHours=8,
        notAllowedDates=[{"start": "2026-03-01", "end": "2026-03-01"}],
    )
    # The 2026-02-28 window runs 20:00 to 04:00; 03-01 00:00 to 03-02 00:00 is frozen.
    assert schedule.window_at(utc(2026, 3, 1, 2)) is None
    assert schedule.windows(utc(2026, 3, 1, 2), 1) == [Window(utc(2026, 3, 2), utc(2026, 3, 2, 4))]
    assert schedule.window_at(utc(2026, 2, 28, 23)) == Window(utc(2026, 2, 28, 20), utc(2026, 3, 1))


def test_a_freeze_of_years_is_jumped_over_not_walked_day_by_day() -> None:
    schedule = mw(
        {"daily": {"intervalDays": 1}},
        durationHours=4,
        notAllowedDates=[{"start": "2026-01-01", "end": "2034-12-31"}],
    )
    assert schedule.windows(utc(2026, 1, 1), 1) == [Window(utc(2035, 1, 1, 1), utc(2035, 1, 1, 5))]


# --------------------------------------------------------------------------- startDate


def test_a_window_is_inactive_until_its_start_date() -> None:
    schedule = mw(
        {"weekly": {"dayOfWeek": "Monday", "intervalWeeks": 1}},
        durationHours=4,
        startDate="2026-09-14",
    )
    assert not schedule.contains(utc(2026, 9, 7, 2))  # a Monday before startDate
    assert schedule.window_at(utc(2026, 9, 7, 2)) is None
    assert starts(schedule, utc(2026, 1, 1), 2) == [utc(2026, 9, 14, 1), utc(2026, 9, 21, 1)]


def test_a_window_on_the_start_date_itself_is_active() -> None:
    schedule = mw({"daily": {"intervalDays": 3}}, "00:00", durationHours=4, startDate="2026-09-14")
    assert schedule.contains(utc(2026, 9, 14, 0))


def test_a_window_from_the_day_before_the_start_date_stays_inactive_after_midnight() -> None:
    schedule = mw({"daily": {"intervalDays": 1}}, "22:00", durationHours=6, startDate="2026-09-14")
    assert not schedule.contains(utc(2026, 9, 14, 1))
    assert schedule.windows(utc(2026, 9, 14, 1), 1)[0].start == utc(2026, 9, 14, 22)


def test_the_start_date_is_a_local_date() -> None:
    schedule = mw(
        {"daily": {"intervalDays": 1}}, "02:00", utcOffset="+05:30", startDate="2026-09-14"
    )
    # 2026-09-14 02:00 +05:30 is 2026-09-13 20:30 UTC: already active.
    assert schedule.windows(utc(2026, 9, 1), 1)[0].start == utc(2026, 9, 13, 20, 30)


# --------------------------------------------------------------------------- the iteration contract


def test_a_window_containing_after_is_yielded_whole() -> None:
    schedule = mw({"weekly": {"dayOfWeek": "Monday", "intervalWeeks": 1}}, durationHours=4)
    assert schedule.windows(utc(2026, 1, 5, 3), 1) == [
        Window(utc(2026, 1, 5, 1), utc(2026, 1, 5, 5))
    ]


def test_after_at_a_windows_end_gives_the_next_window_and_at_its_start_that_window() -> None:
    schedule = mw({"weekly": {"dayOfWeek": "Monday", "intervalWeeks": 1}}, durationHours=4)
    assert starts(schedule, utc(2026, 1, 5, 5), 1) == [utc(2026, 1, 12, 1)]
    assert starts(schedule, utc(2026, 1, 5, 1), 1) == [utc(2026, 1, 5, 1)]


def test_after_may_be_given_in_any_zone() -> None:
    schedule = mw({"weekly": {"dayOfWeek": "Monday", "intervalWeeks": 1}}, durationHours=4)
    local = datetime(2026, 1, 5, 4, tzinfo=timezone(timedelta(hours=2)))  # 02:00 UTC
    assert schedule.window_at(local) == Window(utc(2026, 1, 5, 1), utc(2026, 1, 5, 5))


def test_a_naive_after_is_refused_never_read_as_local_time() -> None:
    schedule = mw({"daily": {"intervalDays": 1}})
    with pytest.raises(InvalidInputError, match="timezone-aware"):
        schedule.windows(datetime(2026, 1, 5), 1)


def test_a_schedule_that_never_opens_ends_instead_of_looping() -> None:
    schedule = parse_maintenance_configuration(
        {
            "properties": {
                "maintenanceWindow": {
                    "schedule": {"daily": {"intervalDays": 1}},
                    "startTime": "01:00",
                },
                "notAllowedTime": [
                    {"start": "2000-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z"}
                ],
            }
        }
    )
    assert list(schedule.iter_windows(utc(2026, 1, 1))) == []
    assert not schedule.contains(utc(2026, 1, 1, 2))


def test_iteration_stops_at_the_ten_year_horizon() -> None:
    schedule = mw({"weekly": {"dayOfWeek": "Monday", "intervalWeeks": 1}}, durationHours=4)
    after = utc(2026, 1, 1)
    windows = list(schedule.iter_windows(after))
    assert windows[-1].start <= after + HORIZON < windows[-1].start + timedelta(weeks=1)
    assert len(windows) == 522


def test_windows_takes_the_first_count_and_refuses_a_negative_count() -> None:
    schedule = mw({"daily": {"intervalDays": 1}})
    assert schedule.windows(utc(2026, 1, 1), 0) == []
    assert len(schedule.windows(utc(2026, 1, 1), 5)) == 5
    with pytest.raises(ValueError, match="negative"):
        schedule.windows(utc(2026, 1, 1), -1)


def test_schedules_are_hashable_values_a_caller_can_cache_on() -> None:
    calls: list[int] = []

    @functools.cache
    def first(schedule: Schedule, after: datetime) -> Window:
        calls.append(1)
        return schedule.windows(after, 1)[0]

    config = {
        "properties": {"maintenanceWindow": ARM_RESPONSE_WEEKLY["properties"]["maintenanceWindow"]}
    }
    one = parse_maintenance_configuration(copy.deepcopy(config))
    two = parse_maintenance_configuration(copy.deepcopy(config))
    assert one == two
    assert hash(one) == hash(two)
    assert first(one, utc(2024, 1, 1)) == first(two, utc(2024, 1, 1))
    assert len(calls) == 1
    hash(parse_maintenance_configuration(ARM_TIME_IN_WEEK))


def test_constructors_turn_lists_into_tuples_so_values_stay_hashable() -> None:
    schedule = MaintenanceWindow(
        schedule=Daily(1),
        start_time=time(1),
        not_allowed_dates=[DateSpan(date(2026, 1, 1), date(2026, 1, 2))],  # type: ignore[arg-type]
    )
    assert isinstance(schedule.not_allowed_dates, tuple)
    hash(schedule)


def test_both_forms_satisfy_the_schedule_protocol() -> None:
    assert isinstance(parse_maintenance_configuration(ARM_RESPONSE_WEEKLY), Schedule)
    assert isinstance(parse_maintenance_configuration(ARM_TIME_IN_WEEK), Schedule)


# --------------------------------------------------------------------------- timeInWeek


def test_the_arm_example_time_in_week_opens_monday_one_to_three_utc_outside_its_freeze() -> None:
    schedule = parse_maintenance_configuration(ARM_TIME_IN_WEEK)
    assert isinstance(schedule, TimeInWeekSchedule)
    # Monday 2020-11-30 01:00-03:00 lies inside notAllowedTime 2020-11-26T03:00Z..2020-11-30T12:00Z.
    assert pairs(schedule, utc(2020, 11, 20), 2) == [
        (utc(2020, 11, 23, 1), utc(2020, 11, 23, 3)),
        (utc(2020, 12, 7, 1), utc(2020, 12, 7, 3)),
    ]


def test_the_cli_help_time_in_week_example_gives_three_windows_a_week() -> None:
    schedule = parse_maintenance_configuration(
        {
            "timeInWeek": [
                {"day": "Tuesday", "hourSlots": [1, 2]},
                {"day": "Wednesday", "hourSlots": [1, 6]},
            ]
        }
    )
    # 2026-01-06 is a Tuesday.
    assert pairs(schedule, utc(2026, 1, 5), 3) == [
        (utc(2026, 1, 6, 1), utc(2026, 1, 6, 3)),
        (utc(2026, 1, 7, 1), utc(2026, 1, 7, 2)),
        (utc(2026, 1, 7, 6), utc(2026, 1, 7, 7)),
    ]


@pytest.mark.parametrize(
    ("entries", "window"),
    [
        pytest.param(
            [{"day": "Monday", "hourSlots": [22, 23]}, {"day": "Tuesday", "hourSlots": [0, 1]}],
            (utc(2026, 1, 5, 22), utc(2026, 1, 6, 2)),
            id="across-midnight",
        ),
        pytest.param(
            [{"day": "Saturday", "hourSlots": [23]}, {"day": "Sunday", "hourSlots": [0]}],
            (utc(2026, 1, 3, 23), utc(2026, 1, 4, 1)),
            id="across-the-end-of-the-week",
        ),
        pytest.param(
            [{"day": "Monday", "hourSlots": [2]}, {"day": "Monday", "hourSlots": [1]}],
            (utc(2026, 1, 5, 1), utc(2026, 1, 5, 3)),
            id="same-day-entries-are-a-union",
        ),
        pytest.param(
            [{"day": "Monday", "hourSlots": [1, 1, 2]}],
            (utc(2026, 1, 5, 1), utc(2026, 1, 5, 3)),
            id="a-repeated-slot-counts-once",
        ),
    ],
)
def test_adjacent_hour_slots_merge_into_one_window(
    entries: list[dict[str, Any]], window: tuple[datetime, datetime]
) -> None:
    schedule = parse_maintenance_configuration({"timeInWeek": entries})
    assert pairs(schedule, utc(2026, 1, 1), 1) == [window]


def test_the_docs_hour_slots_spelling_is_accepted_too() -> None:
    spelled = parse_maintenance_configuration(
        {"timeInWeek": [{"day": "Tuesday", "hour_slots": [1, 2]}]}
    )
    assert spelled == parse_maintenance_configuration(
        {"timeInWeek": [{"day": "Tuesday", "hourSlots": [1, 2]}]}
    )


def test_a_time_in_week_open_all_week_gives_week_long_windows() -> None:
    schedule = parse_maintenance_configuration(
        {"timeInWeek": [{"day": day, "hourSlots": list(range(24))} for day in DAYS]}
    )
    first, second = schedule.windows(utc(2026, 1, 7), 2)
    assert first == Window(utc(2026, 1, 4), utc(2026, 1, 11))
    assert second.start == first.end
    assert schedule.contains(utc(2026, 1, 10, 23, 59))


def test_not_allowed_time_trims_a_time_in_week_window() -> None:
    schedule = parse_maintenance_configuration(
        {
            "timeInWeek": [{"day": "Monday", "hourSlots": [1, 2, 3, 4]}],
            "notAllowedTime": [
                {"start": "2026-01-05T02:30:00+00:00", "end": "2026-01-05T04:00:00Z"}
            ],
        }
    )
    assert pairs(schedule, utc(2026, 1, 5), 3) == [
        (utc(2026, 1, 5, 1), utc(2026, 1, 5, 2, 30)),
        (utc(2026, 1, 5, 4), utc(2026, 1, 5, 5)),
        (utc(2026, 1, 12, 1), utc(2026, 1, 12, 5)),
    ]


# --------------------------------------------------------------------------- payload shapes


def test_the_arm_request_example_relative_monthly_opens_first_mondays_quarterly() -> None:
    schedule = parse_maintenance_configuration(ARM_REQUEST_RELATIVE_MONTHLY, source="create.json")
    # 08:30 +05:30 is 03:00 UTC; 2024-01-01, a first Monday, is frozen (2023-12-23..2024-01-05).
    assert starts(schedule, utc(2022, 12, 1), 6) == [
        utc(2023, 1, 2, 3),
        utc(2023, 4, 3, 3),
        utc(2023, 7, 3, 3),
        utc(2023, 10, 2, 3),
        utc(2024, 4, 1, 3),
        utc(2024, 7, 1, 3),
    ]


def test_the_arm_response_example_weekly_opens_every_third_monday_outside_its_freezes() -> None:
    schedule = parse_maintenance_configuration(ARM_RESPONSE_WEEKLY)
    assert pairs(schedule, utc(2022, 12, 1), 3) == [
        (utc(2023, 1, 2, 3), utc(2023, 1, 2, 13)),
        (utc(2023, 1, 23, 3), utc(2023, 1, 23, 13)),
        (utc(2023, 2, 13, 3), utc(2023, 2, 13, 13)),
    ]
    # 2023-12-25 is in phase but frozen.
    assert starts(schedule, utc(2023, 12, 1), 2) == [utc(2023, 12, 4, 3), utc(2024, 1, 15, 3)]


def test_the_three_shapes_of_one_configuration_parse_to_the_same_value() -> None:
    body = ARM_RESPONSE_WEEKLY["properties"]["maintenanceWindow"]
    arm = parse_maintenance_configuration(ARM_RESPONSE_WEEKLY)
    flattened = parse_maintenance_configuration({"name": "x", "id": "y", "maintenanceWindow": body})
    bare = parse_maintenance_configuration(body)
    assert arm == flattened == bare == parse_maintenance_window(body)


def test_the_flattened_az_output_of_a_default_configuration_is_a_time_in_week_schedule() -> None:
    schedule = parse_maintenance_configuration(AZ_SHOW_DEFAULT)
    assert schedule == TimeInWeekSchedule((TimeInWeek("Monday", (1,)),))


def test_the_maintenance_window_wins_when_both_forms_are_present() -> None:
    config = {**AZ_SHOW_DEFAULT, "maintenanceWindow": AZ_SHOW_ABSOLUTE_MONTHLY["maintenanceWindow"]}
    assert isinstance(parse_maintenance_configuration(config), MaintenanceWindow)


def test_not_allowed_time_beside_a_maintenance_window_is_honoured() -> None:
    config = {
        "properties": {
            "maintenanceWindow": {
                "schedule": {"daily": {"intervalDays": 1}},
                "startTime": "01:00",
                "durationHours": 4,
            },
            "notAllowedTime": [{"start": "2026-01-02T00:00:00Z", "end": "2026-01-03T00:00:00Z"}],
        }
    }
    assert starts(parse_maintenance_configuration(config), utc(2026, 1, 1, 2), 2) == [
        utc(2026, 1, 1, 1),
        utc(2026, 1, 3, 1),
    ]


@pytest.mark.skipif(not FIXTURES.exists(), reason="the shared fixtures are not here")
def test_the_shared_fixture_files_parse_as_the_copies_in_this_file() -> None:
    old = json.loads(
        (FIXTURES / "2025-09-01" / "MaintenanceConfigurationsCreate_Update.json").read_text()
    )
    new = json.loads(
        (
            FIXTURES
            / "2026-05-01"
            / "MaintenanceConfigurationsCreate_Update_MaintenanceWindow.json"
        ).read_text()
    )
    for status in ("200", "201"):
        assert parse_maintenance_configuration(old["responses"][status]["body"]) == (
            parse_maintenance_configuration(ARM_TIME_IN_WEEK)
        )
        assert parse_maintenance_configuration(new["responses"][status]["body"]) == (
            parse_maintenance_configuration(ARM_RESPONSE_WEEKLY)
        )
    assert parse_maintenance_configuration(old["parameters"]["parameters"]) == (
        parse_maintenance_configuration(ARM_TIME_IN_WEEK)
    )
    assert parse_maintenance_configuration(new["parameters"]["parameters"]) == (
        parse_maintenance_configuration(ARM_REQUEST_RELATIVE_MONTHLY)
    )


# --------------------------------------------------------------------------- the anchor

NODE_OS = "aksManagedNodeOSUpgradeSchedule"
FORTNIGHTLY = {"weekly": {"intervalWeeks": 2, "dayOfWeek": "Sunday"}}
RECORDINGS = FIXTURES.parents[1] / "arm-recordings"

UNANCHORED = [
    pytest.param({"daily": {"intervalDays": 2}}, "intervalDays 2", id="every-two-days"),
    pytest.param(FORTNIGHTLY, "intervalWeeks 2", id="every-two-weeks"),
    pytest.param(
        {"absoluteMonthly": {"intervalMonths": 3, "dayOfMonth": 1}},
        "intervalMonths 3",
        id="quarterly-on-the-1st",
    ),
    pytest.param(
        {"relativeMonthly": {"intervalMonths": 6, "dayOfWeek": "Friday", "weekIndex": "Last"}},
        "intervalMonths 6",
        id="half-yearly-last-friday",
    ),
]
ANCHOR_FREE = [
    pytest.param({"daily": {"intervalDays": 1}}, id="daily"),
    pytest.param({"weekly": {"intervalWeeks": 1, "dayOfWeek": "Sunday"}}, id="weekly"),
    pytest.param({"absoluteMonthly": {"intervalMonths": 1, "dayOfMonth": 15}}, id="monthly"),
    pytest.param(
        {"relativeMonthly": {"intervalMonths": 1, "dayOfWeek": "Friday", "weekIndex": "Second"}},
        id="second-friday",
    ),
]


def arm(schedule: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A configuration as ARM returns it, named as the node OS schedule."""
    window = {"schedule": schedule, "durationHours": 4, "startTime": "01:00", **fields}
    return {"name": NODE_OS, "properties": {"maintenanceWindow": window}}


@pytest.mark.parametrize(("schedule", "interval"), UNANCHORED)
def test_an_interval_above_one_without_a_start_date_is_refused_at_start_date(
    schedule: dict[str, Any], interval: str
) -> None:
    error = error_of(lambda: parse_maintenance_configuration(arm(schedule), source="c.json"))
    assert (error.source, error.path) == ("c.json", "properties.maintenanceWindow.startDate")
    assert f"{interval} without startDate has no anchor" in error.detail
    assert "set startDate" in error.detail


@pytest.mark.parametrize(("schedule", "interval"), UNANCHORED)
def test_an_observed_interval_above_one_without_a_start_date_opens_nothing_and_says_why(
    schedule: dict[str, Any], interval: str
) -> None:
    observed = parse_maintenance_configuration(arm(schedule), source="arm", observed=True)
    assert isinstance(observed, MaintenanceWindow)
    assert observed.unusable == (
        f"{NODE_OS}: {interval} without startDate has no anchor, so when AKS opens it is "
        f"unknown; set startDate (az aks maintenanceconfiguration update --name {NODE_OS} ... "
        "--start-date YYYY-MM-DD)"
    )
    for after in (utc(2026, 1, 1), utc(2026, 1, 8, 1, 30), utc(2026, 4, 1)):
        assert observed.windows(after, 3) == []
        assert observed.window_at(after) is None
        assert not observed.contains(after)


@pytest.mark.parametrize(
    ("config", "label"),
    [
        pytest.param(arm(FORTNIGHTLY), NODE_OS, id="arm"),
        pytest.param(
            {"name": "aksManagedAutoUpgradeSchedule", "id": "x", **arm(FORTNIGHTLY)["properties"]},
            "aksManagedAutoUpgradeSchedule",
            id="az-show",
        ),
        pytest.param(arm(FORTNIGHTLY)["properties"]["maintenanceWindow"], "maintenanceWindow",
                     id="bare-window"),
    ],
)  # fmt: skip
def test_the_observed_reason_names_the_configuration_when_the_json_does(
    config: dict[str, Any], label: str
) -> None:
    observed = parse_maintenance_configuration(config, observed=True)
    assert observed.unusable is not None
    assert observed.unusable.startswith(f"{label}: intervalWeeks 2 without startDate")


@pytest.mark.parametrize(("schedule", "interval"), UNANCHORED)
def test_with_a_start_date_an_observed_interval_above_one_is_an_ordinary_window(
    schedule: dict[str, Any], interval: str
) -> None:
    observed = parse_maintenance_configuration(arm(schedule, startDate="2026-01-04"), observed=True)
    assert observed.unusable is None
    assert observed == parse_maintenance_configuration(arm(schedule, startDate="2026-01-04"))
    assert observed.windows(utc(2026, 1, 1), 1)


@pytest.mark.parametrize("schedule", ANCHOR_FREE)
def test_an_interval_of_one_needs_no_start_date_and_never_depends_on_after(
    schedule: dict[str, Any],
) -> None:
    window = parse_maintenance_configuration(arm(schedule))
    assert window.unusable is None
    later = utc(2026, 1, 20, 12)
    early = window.windows(utc(2026, 1, 1), 40)
    assert window.windows(later, 10) == [w for w in early if w.end > later][:10]


def test_two_calls_a_week_apart_agree_on_a_fortnightly_window_with_a_start_date() -> None:
    # The defect: anchored on `after`, asking each Saturday made every Sunday the one.
    window = parse_maintenance_configuration(arm(FORTNIGHTLY, startDate="2026-01-04"))
    asked_each_saturday = [window.windows(utc(2026, 1, day), 1)[0].start for day in (3, 10, 17)]
    assert asked_each_saturday == [utc(2026, 1, 4, 1), utc(2026, 1, 18, 1), utc(2026, 1, 18, 1)]


def test_the_constructor_refuses_an_unanchored_interval_unless_it_is_marked_unusable() -> None:
    error = error_of(lambda: MaintenanceWindow(Weekly(2, "Sunday"), time(1)))
    assert error.path == "startDate"
    assert "intervalWeeks 2 without startDate" in error.detail
    blocked = MaintenanceWindow(Weekly(2, "Sunday"), time(1), unusable="set startDate")
    assert blocked.windows(utc(2026, 1, 1), 1) == []
    assert blocked.unusable == "set startDate"
    assert MaintenanceWindow(Weekly(1, "Sunday"), time(1)).unusable is None


def test_the_older_time_in_week_form_is_never_unusable() -> None:
    assert parse_maintenance_configuration(ARM_TIME_IN_WEEK, observed=True).unusable is None


def test_an_unusable_window_keeps_its_reason_through_to_arm_and_a_strict_read() -> None:
    observed = parse_maintenance_configuration(arm(FORTNIGHTLY), observed=True)
    stored = json.loads(json.dumps(to_arm(observed)))
    assert stored[UNUSABLE_KEY] == observed.unusable
    assert "startDate" not in stored["maintenanceWindow"]
    assert parse_maintenance_configuration(stored, source="snapshot") == observed


@pytest.mark.parametrize("reason", [pytest.param(5, id="number"), pytest.param(" ", id="blank")])
def test_a_stored_unusable_reason_must_be_text(reason: object) -> None:
    stored = {"maintenanceWindow": arm(FORTNIGHTLY)["properties"]["maintenanceWindow"]}
    stored[UNUSABLE_KEY] = reason
    error = error_of(lambda: parse_maintenance_configuration(stored, source="s"))
    assert (error.path, error.source) == (UNUSABLE_KEY, "s")
    assert "must be a reason" in error.detail


@pytest.mark.skipif(not RECORDINGS.exists(), reason="the shared fixtures are not here")
def test_aks_fills_in_the_start_date_of_a_window_written_without_one() -> None:
    # The evidence in the module notes: real ARM, `az aks maintenanceconfiguration update`.
    recording = yaml.safe_load(
        (RECORDINGS / "azure-cli__test_aks_maintenancewindow.yaml").read_text()
    )
    (put,) = [i for i in recording["interactions"] if i["request"]["method"] == "PUT"]
    sent = json.loads(put["request"]["body"])["properties"]["maintenanceWindow"]
    answered = json.loads(put["response"]["body"]["string"])
    assert "startDate" not in sent
    read = parse_maintenance_configuration(answered, observed=True)
    assert isinstance(read, MaintenanceWindow)
    assert (read.start_date, read.unusable) == (date(2023, 7, 25), None)


# --------------------------------------------------------------------------- validation errors


def _valid() -> dict[str, Any]:
    return {
        "schedule": {"weekly": {"dayOfWeek": "Saturday", "intervalWeeks": 1}},
        "durationHours": 6,
        "utcOffset": "+01:00",
        "startTime": "02:00",
        "startDate": "2026-01-01",
        "notAllowedDates": [{"start": "2026-12-20", "end": "2027-01-04"}],
    }


REMOVE = object()
# A valid body of each schedule kind, so a row can break one field of it.
_KINDS: dict[str, dict[str, Any]] = {
    "daily": {"intervalDays": 1},
    "weekly": {"dayOfWeek": "Saturday", "intervalWeeks": 1},
    "absoluteMonthly": {"intervalMonths": 1, "dayOfMonth": 1},
    "relativeMonthly": {"intervalMonths": 1, "dayOfWeek": "Friday", "weekIndex": "Last"},
}


def _with(field: str, value: Any) -> dict[str, Any]:
    """A valid window with the field at a path like ``a.b[0].c`` set to `value` (or removed).

    A path through ``schedule.<kind>`` first switches the schedule to that kind.
    """
    data = _valid()
    keys: list[Any] = [
        int(key) if key.isdigit() else key for key in re.findall(r"[^.\[\]]+", field)
    ]
    if keys[0] == "schedule" and len(keys) > 2 and keys[1] in _KINDS:
        data["schedule"] = {keys[1]: dict(_KINDS[keys[1]])}
    target: Any = data
    for key in keys[:-1]:
        target = target[key]
    if value is REMOVE:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return data


def _bad(field: str, value: Any, message: str, name: str, at: str | None = None) -> Any:
    """A row: break `field`; the error names `at` (default: the field itself)."""
    return pytest.param(_with(field, value), at or field, message, id=name)


_DAILY, _WEEKLY = "schedule.daily", "schedule.weekly"
_ABSOLUTE, _RELATIVE = "schedule.absoluteMonthly", "schedule.relativeMonthly"
_DAILY_AND_WEEKLY = {"weekly": _KINDS["weekly"], "daily": _KINDS["daily"]}
_SPAN = "notAllowedDates[0]"


# fmt: off
WINDOW_ERRORS = [
    _bad("durationHours", 2, "durationHours must be between 4 and 24, got 2", "duration-2"),
    _bad("durationHours", 25, "durationHours must be between 4 and 24, got 25", "duration-25"),
    _bad("durationHours", "6", "durationHours must be a whole number, got '6'", "duration-str"),
    _bad("durationHours", True, "must be a whole number, got True", "duration-bool"),
    _bad("durationHours", 4.5, "must be a whole number, got 4.5", "duration-fraction"),
    _bad(f"{_DAILY}.intervalDays", 0, "intervalDays must be between 1 and 7, got 0", "days-0"),
    _bad(f"{_DAILY}.intervalDays", 8, "between 1 and 7, got 8", "days-8"),
    _bad(f"{_DAILY}.intervalDays", REMOVE, "intervalDays is required", "days-missing"),
    _bad(f"{_WEEKLY}.intervalWeeks", 5, "intervalWeeks must be between 1 and 4, got 5", "wk-5"),
    _bad(f"{_WEEKLY}.intervalWeeks", 0, "between 1 and 4, got 0", "weeks-0"),
    _bad(f"{_WEEKLY}.intervalWeeks", REMOVE, "intervalWeeks is required", "weeks-missing"),
    _bad(f"{_WEEKLY}.dayOfWeek", "Funday", "dayOfWeek must be one of Sunday, Monday", "fun"),
    _bad(f"{_WEEKLY}.dayOfWeek", 1, "dayOfWeek must be one of Sunday", "day-a-number"),
    _bad(f"{_WEEKLY}.every", 2, "unknown field 'every'; expected one of", "weekly-unknown"),
    _bad(f"{_ABSOLUTE}.intervalMonths", 7, "must be between 1 and 6, got 7", "abs-months-7"),
    _bad(f"{_ABSOLUTE}.dayOfMonth", 0, "dayOfMonth must be between 1 and 31, got 0", "dom-0"),
    _bad(f"{_ABSOLUTE}.dayOfMonth", 32, "dayOfMonth must be between 1 and 31, got 32", "dom-32"),
    _bad(f"{_ABSOLUTE}.dayOfMonth", REMOVE, "dayOfMonth is required", "dom-missing"),
    _bad(f"{_RELATIVE}.intervalMonths", 0, "must be between 1 and 6, got 0", "rel-months-0"),
    _bad(f"{_RELATIVE}.weekIndex", "Fifth",
         "weekIndex must be one of First, Second, Third, Fourth, Last, got 'Fifth'", "fifth"),
    _bad(f"{_RELATIVE}.weekIndex", REMOVE, "weekIndex is required", "week-index-missing"),
    _bad(f"{_RELATIVE}.dayOfWeek", "Fri", "dayOfWeek must be one of", "day-abbreviated"),
    _bad("schedule", _DAILY_AND_WEEKLY, "exactly one of daily, weekly, absoluteMonthly, "
         "relativeMonthly must be set, got weekly, daily", "two-kinds"),
    _bad("schedule", {"weekly": None, "daily": None}, "must be set, got none", "no-kind"),
    _bad("schedule.yearly", {}, "unknown field 'yearly'", "unknown-kind"),
    _bad("schedule", "weekly", "must be an object, got a string", "schedule-a-string"),
    _bad("schedule", REMOVE, "schedule is required", "schedule-missing"),
    _bad("startTime", REMOVE, 'startTime is required (e.g. "02:00")', "start-time-missing"),
    _bad("startTime", "24:00",
         """startTime must be "HH:mm" from "00:00" to "23:59", got '24:00'""", "time-24"),
    _bad("startTime", "7:00", 'must be "HH:mm"', "start-time-one-digit"),
    _bad("startTime", "07:60", 'must be "HH:mm"', "start-time-60-minutes"),
    _bad("startTime", "07:00:00", 'must be "HH:mm"', "start-time-seconds"),
    _bad("startTime", 700, 'must be "HH:mm"', "start-time-a-number"),
    _bad("utcOffset", "+5:30", 'utcOffset must look like "+05:30"', "offset-malformed"),
    _bad("utcOffset", "+14:30", "between -14:00 and +14:00", "offset-too-far"),
    _bad("startDate", "2023-02-30",
         """startDate must be a date "YYYY-MM-DD", got '2023-02-30'""", "date-impossible"),
    _bad("startDate", "2023/01/01", "YYYY-MM-DD", "start-date-slashes"),
    _bad("startDate", "2023-01-01T00:00:00Z", "YYYY-MM-DD", "start-date-a-datetime"),
    _bad(f"{_SPAN}.end", "2026-12-01",
         "end (2026-12-01) must not be before start (2026-12-20)", "span-backwards"),
    _bad(f"{_SPAN}.end", REMOVE, "end is required", "span-end-missing"),
    _bad(f"{_SPAN}.end", "26-12-21", 'end must be a date "YYYY-MM-DD"', "span-bad-date"),
    _bad(f"{_SPAN}.reason", "x", "unknown field 'reason'", "span-unknown-key"),
    _bad("notAllowedDates", {}, "notAllowedDates must be a list, got an object", "not-list"),
    _bad("notAllowedDates", ["2026-12-20"], "must be an object, got a string", "span-str",
         at=_SPAN),
    _bad("timeInWeek", [], "unknown field 'timeInWeek'", "unknown-key-in-window"),
]
# fmt: on


@pytest.mark.parametrize(("data", "path", "message"), WINDOW_ERRORS)
def test_every_invalid_maintenance_window_names_its_field(
    data: Any, path: str, message: str
) -> None:
    config = {"properties": {"maintenanceWindow": data}}
    error = error_of(lambda: parse_maintenance_configuration(config, source="cfg.json"))
    assert message in error.detail
    assert error.path == f"properties.maintenanceWindow.{path}"
    assert error.source == "cfg.json"
    assert str(error).startswith(f"cfg.json: properties.maintenanceWindow.{path}: ")


def test_yaml_dates_and_timestamps_are_taken_as_they_come() -> None:
    as_text = mw(
        {"daily": {"intervalDays": 1}},
        startDate="2026-01-01",
        notAllowedDates=[{"start": "2026-01-02", "end": "2026-01-03"}],
    )
    as_yaml = mw(
        {"daily": {"intervalDays": 1}},
        startDate=date(2026, 1, 1),
        notAllowedDates=[{"start": date(2026, 1, 2), "end": date(2026, 1, 3)}],
    )
    assert as_yaml == as_text
    spans = {"start": utc(2026, 1, 5, 1), "end": utc(2026, 1, 5, 2)}
    frozen = parse_maintenance_configuration(
        {**_entry(day="Monday", hourSlots=[1]), "notAllowedTime": [spans]}
    )
    assert starts(frozen, utc(2026, 1, 1), 1) == [utc(2026, 1, 12, 1)]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("startTime", 750, id="unquoted-12-30"),
        pytest.param("utcOffset", 600, id="unquoted-plus-10-00"),
    ],
)
def test_a_clock_yaml_read_as_a_number_gets_an_error_that_says_to_quote_it(
    field: str, value: int
) -> None:
    error = error_of(lambda: parse_maintenance_window(_with(field, value), path="default_window"))
    assert error.path == f"default_window.{field}"
    assert f"got {value}; in YAML, quote times and offsets" in error.detail


def test_the_valid_base_of_the_error_table_parses() -> None:
    assert parse_maintenance_window(_valid()).duration_hours == 6


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        pytest.param("default_window", "default_window.durationHours", id="policy-prefix"),
        pytest.param("maintenanceWindow", "maintenanceWindow.durationHours", id="default-prefix"),
        pytest.param("", "durationHours", id="no-prefix"),
    ],
)
def test_the_callers_path_prefixes_every_error(prefix: str, expected: str) -> None:
    error = error_of(
        lambda: parse_maintenance_window(
            _with("durationHours", 3), source="policy.yaml", path=prefix
        )
    )
    assert (error.source, error.path) == ("policy.yaml", expected)


def test_the_path_defaults_to_maintenance_window() -> None:
    error = error_of(lambda: parse_maintenance_window(_with("durationHours", 3)))
    assert error.path == "maintenanceWindow.durationHours"


def test_a_bare_maintenance_window_reports_paths_as_they_sit_in_the_file() -> None:
    error = error_of(
        lambda: parse_maintenance_configuration(_with("durationHours", 3), source="w.json")
    )
    assert (error.source, error.path) == ("w.json", "durationHours")


def test_the_flattened_az_form_reports_paths_under_maintenance_window() -> None:
    broken = copy.deepcopy(AZ_SHOW_ABSOLUTE_MONTHLY)
    broken["maintenanceWindow"]["schedule"]["absoluteMonthly"]["dayOfMonth"] = 40
    error = error_of(lambda: parse_maintenance_configuration(broken))
    assert error.path == "maintenanceWindow.schedule.absoluteMonthly.dayOfMonth"


def test_a_maintenance_window_that_is_not_an_object_is_refused() -> None:
    error = error_of(lambda: parse_maintenance_window([], source="c.json"))  # type: ignore[arg-type]
    assert (error.path, error.detail) == ("maintenanceWindow", "must be an object, got a list")


def _entry(**fields: Any) -> dict[str, Any]:
    return {"timeInWeek": [fields]}


def _freeze(start: str, end: str = "2026-01-02T00:00:00Z") -> dict[str, Any]:
    return {**_entry(day="Monday", hourSlots=[1]), "notAllowedTime": [{"start": start, "end": end}]}


_ENTRY, _FROZEN = "timeInWeek[0]", "notAllowedTime[0]"


# fmt: off
TIME_IN_WEEK_ERRORS = [
    pytest.param(_entry(day="Mon", hourSlots=[1]), f"{_ENTRY}.day", "day must be one of",
                 id="mon"),
    pytest.param(_entry(hourSlots=[1]), f"{_ENTRY}.day", "day is required", id="day-missing"),
    pytest.param(_entry(day="Monday", hourSlots=[1, 24]), f"{_ENTRY}.hourSlots[1]",
                 "hourSlots[1] must be between 0 and 23, got 24", id="slot-24"),
    pytest.param(_entry(day="Monday", hourSlots=[-1]), f"{_ENTRY}.hourSlots[0]",
                 "between 0 and 23, got -1", id="slot-negative"),
    pytest.param(_entry(day="Monday", hourSlots=["1"]), f"{_ENTRY}.hourSlots[0]",
                 "must be a whole number, got '1'", id="slot-a-string"),
    pytest.param(_entry(day="Monday", hourSlots=1), f"{_ENTRY}.hourSlots",
                 "hourSlots must be a list of hours 0-23, got int", id="slots-not-a-list"),
    pytest.param(_entry(day="Monday"), f"{_ENTRY}.hourSlots", "hourSlots is required",
                 id="slots-missing"),
    pytest.param(_entry(day="Monday", hourSlots=[1], hour_slots=[2]), f"{_ENTRY}.hour_slots",
                 "give hourSlots or hour_slots, not both", id="both-spellings"),
    pytest.param(_entry(day="Monday", hourSlots=[1], minutes=5), f"{_ENTRY}.minutes",
                 "unknown field 'minutes'", id="unknown-key"),
    pytest.param({"timeInWeek": []}, "timeInWeek", "at least one day", id="empty"),
    pytest.param({"notAllowedTime": _freeze("2026-01-01T00:00:00Z")["notAllowedTime"]},
                 "timeInWeek", "at least one day", id="freeze-without-slots"),
    pytest.param({"timeInWeek": "Monday"}, "timeInWeek",
                 "timeInWeek must be a list, got a string", id="not-a-list"),
    pytest.param(_freeze("2026-01-01T00:00:00"), f"{_FROZEN}.start",
                 "ISO 8601 date-time with a zone", id="freeze-naive"),
    pytest.param(_freeze("soon"), f"{_FROZEN}.start", "got 'soon'", id="freeze-not-a-time"),
    pytest.param(_freeze("2026-01-03T00:00:00Z"), f"{_FROZEN}.end",
                 "must not be before start", id="freeze-backwards"),
]
# fmt: on


@pytest.mark.parametrize(("config", "path", "message"), TIME_IN_WEEK_ERRORS)
def test_every_invalid_time_in_week_configuration_names_its_field(
    config: dict[str, Any], path: str, message: str
) -> None:
    error = error_of(
        lambda: parse_maintenance_configuration({"properties": config}, source="d.json")
    )
    assert message in error.detail
    assert (error.source, error.path) == ("d.json", f"properties.{path}")


@pytest.mark.parametrize(
    ("config", "path", "message"),
    [
        pytest.param([], None, "must be a JSON object, got a list", id="not-an-object"),
        pytest.param(
            {"name": "default"},
            None,
            "found no maintenanceWindow, timeInWeek or schedule",
            id="nothing-known",
        ),
        pytest.param(
            {"properties": {}}, "properties", "found no maintenanceWindow", id="empty-properties"
        ),
        pytest.param(
            {"properties": {"maintenanceWindowId": "/subscriptions/x/mw"}},
            "properties.maintenanceWindowId",
            "shared MaintenanceWindow resource",
            id="shared-window-reference",
        ),
    ],
)
def test_a_configuration_of_no_known_shape_is_refused(
    config: Any, path: str | None, message: str
) -> None:
    error = error_of(lambda: parse_maintenance_configuration(config, source="m.json"))
    assert message in error.detail
    assert (error.source, error.path) == ("m.json", path)


# fmt: off
CONSTRUCTOR_ERRORS = [
    pytest.param(lambda: MaintenanceWindow(Daily(1), time(1), duration_hours=3),
                 "durationHours", "between 4 and 24, got 3", id="duration"),
    pytest.param(lambda: MaintenanceWindow(Daily(1), time(1), utc_offset=timedelta(hours=15)),
                 "utcOffset", "between -14:00 and +14:00, got +15:00", id="offset-too-far"),
    pytest.param(lambda: MaintenanceWindow(Daily(1), time(1), utc_offset=timedelta(seconds=30)),
                 "utcOffset", "whole minutes", id="offset-seconds"),
    pytest.param(lambda: MaintenanceWindow(Daily(1), time(1, tzinfo=UTC)),
                 "startTime", "local time of day", id="aware-start-time"),
    pytest.param(lambda: Daily(8), "intervalDays", "between 1 and 7, got 8", id="daily"),
    pytest.param(lambda: Weekly(1, "monday"), "dayOfWeek", "one of Sunday", id="weekly"),
    pytest.param(lambda: AbsoluteMonthly(7, 1), "intervalMonths", "got 7", id="absolute"),
    pytest.param(lambda: RelativeMonthly(1, "Friday", "Fifth"), "weekIndex", "one of First",
                 id="relative"),
    pytest.param(lambda: DateSpan(date(2026, 1, 2), date(2026, 1, 1)), "end",
                 "must not be before start", id="date-span"),
    pytest.param(lambda: TimeInWeek("Monday", (25,)), "hourSlots[0]", "got 25", id="slots"),
    pytest.param(lambda: MaintenanceWindow(Daily(3), time(1)), "startDate",
                 "intervalDays 3 without startDate has no anchor", id="no-anchor"),
    pytest.param(lambda: MaintenanceWindow(Daily(1), time(1), unusable=""), UNUSABLE_KEY,
                 "must be a reason", id="empty-reason"),
]
# fmt: on


@pytest.mark.parametrize(("build", "path", "message"), CONSTRUCTOR_ERRORS)
def test_constructors_validate_too(build: Callable[[], object], path: str, message: str) -> None:
    error = error_of(build)
    assert message in error.detail
    assert error.path == path


# --------------------------------------------------------------------------- properties


def _local_week_start(day: date) -> date:
    return day - timedelta(days=day.isoweekday() % 7)


def _month_count(day: date) -> int:
    return day.year * 12 + day.month


def _occurs_on(recurrence: Recurrence, day: date, anchor: date) -> bool:
    """An independent reading of the AKS rules, one local day at a time."""
    match recurrence:
        case Daily(interval_days=n):
            return (day - anchor).days % n == 0
        case Weekly(interval_weeks=n, day_of_week=name):
            weeks = (_local_week_start(day) - _local_week_start(anchor)).days // 7
            return DAYS[day.isoweekday() % 7] == name and weeks % n == 0
        case AbsoluteMonthly(interval_months=n, day_of_month=dom):
            return day.day == dom and (_month_count(day) - _month_count(anchor)) % n == 0
        case RelativeMonthly(interval_months=n, day_of_week=name, week_index=index):
            if DAYS[day.isoweekday() % 7] != name or (_month_count(day) - _month_count(anchor)) % n:
                return False
            if index == "Last":
                return (day + timedelta(days=7)).month != day.month
            return (day.day - 1) // 7 == WEEK_INDEXES.index(index)
    raise AssertionError(recurrence)


def _oracle(schedule: MaintenanceWindow, after: datetime, days: int) -> list[Window]:
    """Windows by scanning every local day (slow, obvious), freezes removed by hand."""
    zone = timezone(schedule.utc_offset)
    first_day = after.astimezone(zone).date()
    anchor = schedule.start_date or first_day
    found: list[Window] = []
    for offset in range(-2, days):
        day = first_day + timedelta(days=offset)
        if schedule.start_date and day < schedule.start_date:
            continue
        if _occurs_on(schedule.schedule, day, anchor):
            start = datetime.combine(day, schedule.start_time, zone)
            found.append(Window(start, start + timedelta(hours=schedule.duration_hours)))
    freezes = [
        Window(
            datetime.combine(span.start, time(), zone),
            datetime.combine(span.end + timedelta(days=1), time(), zone),
        )
        for span in schedule.not_allowed_dates
    ]
    pieces = [piece for window in found for piece in _minus(window, freezes)]
    return [piece for piece in pieces if piece.end > after]


def _minus(window: Window, freezes: list[Window]) -> list[Window]:
    """Subtract one freeze at a time (no merging, no bisecting)."""
    pieces = [window]
    for freeze in freezes:
        next_pieces: list[Window] = []
        for piece in pieces:
            if freeze.end <= piece.start or freeze.start >= piece.end:
                next_pieces.append(piece)
                continue
            if piece.start < freeze.start:
                next_pieces.append(Window(piece.start, freeze.start))
            if freeze.end < piece.end:
                next_pieces.append(Window(freeze.end, piece.end))
        pieces = next_pieces
    return pieces


DAY_NAMES = st.sampled_from(DAYS)
RECURRENCES: st.SearchStrategy[Recurrence] = st.one_of(
    st.builds(Daily, st.integers(1, 7)),
    st.builds(Weekly, st.integers(1, 4), DAY_NAMES),
    st.builds(AbsoluteMonthly, st.integers(1, 6), st.integers(1, 31)),
    st.builds(RelativeMonthly, st.integers(1, 6), DAY_NAMES, st.sampled_from(WEEK_INDEXES)),
)
DAYS_2026 = st.dates(date(2025, 6, 1), date(2027, 6, 1))


@st.composite
def date_spans(draw: st.DrawFn) -> DateSpan:
    start = draw(DAYS_2026)
    return DateSpan(start, start + timedelta(days=draw(st.integers(0, 45))))


def _interval(recurrence: Recurrence) -> int:
    match recurrence:
        case Daily(interval_days=n) | Weekly(interval_weeks=n):
            return n
        case AbsoluteMonthly(interval_months=n) | RelativeMonthly(interval_months=n):
            return n
    raise AssertionError(recurrence)


@st.composite
def maintenance_windows(draw: st.DrawFn, *, anchored: bool = False) -> MaintenanceWindow:
    """Every window AKS can hold: an interval > 1 always comes with its startDate."""
    recurrence = draw(RECURRENCES)
    needs_date = anchored or _interval(recurrence) > 1
    return MaintenanceWindow(
        schedule=recurrence,
        start_time=draw(st.builds(time, st.integers(0, 23), st.integers(0, 59))),
        duration_hours=draw(st.integers(4, 24)),
        utc_offset=timedelta(minutes=draw(st.integers(-14 * 60, 14 * 60))),
        start_date=draw(DAYS_2026 if needs_date else st.none() | DAYS_2026),
        not_allowed_dates=tuple(draw(st.lists(date_spans(), max_size=3))),
    )


MAINTENANCE_WINDOWS = maintenance_windows()
INSTANTS = st.datetimes(datetime(2025, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC))


@settings(max_examples=150, deadline=None)
@given(schedule=MAINTENANCE_WINDOWS, after=INSTANTS)
def test_windows_match_a_day_by_day_reading_of_the_aks_rules(
    schedule: MaintenanceWindow, after: datetime
) -> None:
    scan_days = 6 * 366
    limit = after + timedelta(days=scan_days - 2)
    expected = [window for window in _oracle(schedule, after, scan_days) if window.start < limit][
        :8
    ]
    actual = list(
        takewhile(lambda window: window.start < limit, islice(schedule.iter_windows(after), 8))
    )
    assert actual == expected


@settings(max_examples=150, deadline=None)
@given(schedule=MAINTENANCE_WINDOWS, after=INSTANTS)
def test_windows_are_ordered_disjoint_bounded_and_outside_every_freeze(
    schedule: MaintenanceWindow, after: datetime
) -> None:
    windows = schedule.windows(after, 12)
    assert windows == sorted(windows)
    assert all(one.end <= two.start for one, two in pairwise(windows))
    assert all(timedelta(0) < window.duration <= timedelta(hours=24) for window in windows)
    assert all(window.end > after for window in windows)
    assert all(window.start > after for window in windows[1:])
    for window in windows:
        for span in schedule.not_allowed_dates:
            frozen = span.blocked(schedule.utc_offset)
            assert window.end <= frozen.start or window.start >= frozen.end
    if not schedule.not_allowed_dates:
        assert all(
            window.duration == timedelta(hours=schedule.duration_hours) for window in windows
        )
        assert all(4 <= window.duration / timedelta(hours=1) <= 24 for window in windows)


@settings(max_examples=150, deadline=None)
@given(schedule=MAINTENANCE_WINDOWS, after=INSTANTS, step=st.integers(0, 60 * 24 * 120))
def test_contains_agrees_with_window_at_and_with_windows(
    schedule: MaintenanceWindow, after: datetime, step: int
) -> None:
    t = after + timedelta(minutes=step)
    found = schedule.window_at(t)
    assert schedule.contains(t) == (found is not None)
    assert found is None or found.contains(t)
    first = schedule.windows(t, 1)
    assert (found is not None) == bool(first and first[0].contains(t))
    # The phase never depends on the instant asked about: an earlier listing agrees.
    listed = [window for window in schedule.iter_windows(after) if window.start <= t]
    assert schedule.contains(t) == any(window.contains(t) for window in listed)


@settings(max_examples=150, deadline=None)
@given(
    schedule=maintenance_windows(anchored=True),
    after=INSTANTS,
    later_by=st.integers(0, 60 * 24 * 400),
)
def test_windows_found_from_two_instants_agree_where_they_overlap(
    schedule: MaintenanceWindow, after: datetime, later_by: int
) -> None:
    later = after + timedelta(minutes=later_by)
    limit = later + timedelta(days=120)
    early = list(takewhile(lambda window: window.start < limit, schedule.iter_windows(after)))
    late = list(takewhile(lambda window: window.start < limit, schedule.iter_windows(later)))
    assert late == [window for window in early if window.end > later]


HOUR_SETS = st.sets(st.integers(0, 7 * 24 - 1), max_size=40)


@st.composite
def time_in_week_schedules(draw: st.DrawFn) -> TimeInWeekSchedule:
    hours = draw(HOUR_SETS)
    entries = tuple(
        TimeInWeek(day, tuple(sorted(hour % 24 for hour in hours if hour // 24 == index)))
        for index, day in enumerate(DAYS)
    )
    freezes = draw(st.lists(st.tuples(st.integers(0, 24 * 60), st.integers(1, 24 * 5)), max_size=3))
    base = utc(2026, 1, 1)
    spans = tuple(
        Window(base + timedelta(hours=start), base + timedelta(hours=start + length))
        for start, length in freezes
    )
    return TimeInWeekSchedule(entries, spans)


@settings(max_examples=100, deadline=None)
@given(schedule=time_in_week_schedules(), hour=st.integers(0, 24 * 70))
def test_time_in_week_windows_match_an_hour_by_hour_scan(
    schedule: TimeInWeekSchedule, hour: int
) -> None:
    after = utc(2026, 1, 1) + timedelta(hours=hour)
    open_hours = {
        (DAYS.index(entry.day), slot)
        for entry in schedule.time_in_week
        for slot in entry.hour_slots
    }
    scan_start, scan_hours = after - timedelta(days=8), 24 * 30

    def is_open(moment: datetime) -> bool:
        allowed = (moment.isoweekday() % 7, moment.hour) in open_hours
        return allowed and not any(span.contains(moment) for span in schedule.not_allowed_time)

    for window in takewhile(
        lambda window: window.end <= scan_start + timedelta(hours=scan_hours - 24 * 8),
        schedule.iter_windows(after),
    ):
        assert window.end > after
        assert is_open(window.start)
        assert is_open(window.end - timedelta(minutes=1))
        # Windows are maximal: closed just before they open and when they close.
        assert not is_open(window.start - timedelta(minutes=1))
        assert not is_open(window.end)
    for step in range(scan_hours):
        moment = scan_start + timedelta(hours=step, minutes=30)
        if moment >= after:
            assert schedule.contains(moment) == is_open(moment)


@settings(max_examples=200, deadline=None)
@given(
    window=st.tuples(st.integers(0, 100), st.integers(1, 50)),
    blocks=st.lists(st.tuples(st.integers(0, 150), st.integers(1, 30)), max_size=6),
)
def test_subtract_keeps_exactly_the_unblocked_part(
    window: tuple[int, int], blocks: list[tuple[int, int]]
) -> None:
    def span(start: int, length: int) -> Window:
        base = utc(2026, 1, 1)
        return Window(base + timedelta(hours=start), base + timedelta(hours=start + length))

    whole, blocked = span(*window), [span(*block) for block in blocks]
    pieces = subtract(whole, blocked)
    assert all(one.end < two.start for one, two in pairwise(pieces))
    for hour in range(window[0], window[0] + window[1]):
        moment = span(hour, 1).start
        in_piece = any(piece.contains(moment) for piece in pieces)
        assert in_piece != any(block.contains(moment) for block in blocked)


def test_a_not_allowed_time_with_no_utc_form_is_refused_naming_the_field() -> None:
    # 9999-12-31T23:00-02:00 is past what a UTC datetime holds: an input error, not a crash.
    config = {
        "properties": {
            "maintenanceWindow": {
                "schedule": {"daily": {"intervalDays": 1}},
                "durationHours": 4,
                "startTime": "02:00",
            },
            "notAllowedTime": [
                {"start": "9999-12-31T23:00:00-02:00", "end": "9999-12-31T23:30:00-02:00"}
            ],
        }
    }

    with pytest.raises(InvalidInputError, match=r"notAllowedTime\[0\]\.start"):
        parse_maintenance_configuration(config)

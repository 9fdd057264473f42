"""The Windows Update cadence: Patch Tuesdays and when a Windows pool is due.

AKS Windows nodes get no Windows Update; the only way to patch them is a node
image upgrade to an image AKS built after Microsoft's monthly release on Patch
Tuesday, the second Tuesday of the month (DESIGN.md; Microsoft Learn, "Upgrade
AKS node images": Windows node images are updated monthly). This module holds
the calendar side of that: which day is Patch Tuesday, which Patch Tuesday an
image built on a given day includes, and the first instant a pool is due.
Called by the planner (Windows pools), the ``patch-tuesday`` CLI command and
the Windows timer; it never reads the clock.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from patchpilot.errors import InvalidInputError

# Microsoft moved to a monthly release on the second Tuesday in October 2003;
# there is no Patch Tuesday to name before it. The upper bound is the calendar's.
FIRST_PATCH_TUESDAY_MONTH: Final = (2003, 10)
LAST_YEAR: Final = 9999

# Patch Tuesdays are 28 or 35 days apart. An offset of 28 days or more would put
# a month's due date on or after the next Patch Tuesday, so two months' cycles
# would overlap and a pool could be made due for an image already superseded.
MAX_OFFSET_DAYS: Final = 27


def patch_tuesday(year: int, month: int) -> date:
    """The second Tuesday of a month: the first Tuesday falls on day 1 to 7."""
    _check_month(year, month)
    first_weekday = date(year, month, 1).weekday()
    first_tuesday = 1 + (calendar.TUESDAY - first_weekday) % 7
    return date(year, month, first_tuesday + 7)


def patch_tuesdays(year: int) -> list[date]:
    """Every Patch Tuesday of a year, in order (October to December in 2003)."""
    _check_int("year", year)
    first_month = FIRST_PATCH_TUESDAY_MONTH[1] if year == FIRST_PATCH_TUESDAY_MONTH[0] else 1
    return [patch_tuesday(year, month) for month in range(first_month, 13)]


def latest_patch_tuesday(on_or_before: date) -> date:
    """The Patch Tuesday on or before a date (the date itself if it is one)."""
    day = _check_date("on_or_before", on_or_before)
    this_month = patch_tuesday(day.year, day.month)
    if this_month <= day:
        return this_month
    year, month = _previous_month(day.year, day.month)
    return patch_tuesday(year, month)


def next_patch_tuesday(after: date) -> date:
    """The first Patch Tuesday strictly after a date, for timers and forecasts."""
    day = _check_date("after", after)
    this_month = patch_tuesday(day.year, day.month)
    if this_month > day:
        return this_month
    year, month = _next_month(day.year, day.month)
    return patch_tuesday(year, month)


def covered_patch_tuesday(build_date: date) -> date:
    """The Patch Tuesday whose Windows updates an image built on ``build_date`` includes.

    The latest Patch Tuesday on or before the build date, so an image built on
    Patch Tuesday itself counts for that month. The build date is the image's
    ``yyMMdd`` suffix, a day without a time, and the OS revision in the same
    name shows what it carries: AKSWindows-2019 17763.4737.230808 was built on
    Patch Tuesday 2023-08-08 and already has revision 4737, the one AKS rebuilt
    the next day as 17763.4737.230809 (AKS vhd-notes). That is also the pairing
    shared/data/patch_tuesdays.csv uses ("built on or after that Patch Tuesday").
    """
    return latest_patch_tuesday(build_date)


def windows_due_from(pt: date, offset_days: int) -> datetime:
    """The first instant a Windows pool is due for ``pt``'s image: 00:00 UTC on pt + offset.

    Whole UTC days keep the rule the same in every region; the planner then
    waits for the first allowed maintenance window at or after this instant.
    """
    day = _check_date("pt", pt)
    if patch_tuesday(day.year, day.month) != day:
        raise InvalidInputError(
            f"{day.isoformat()} is not a Patch Tuesday (the second Tuesday of the month); "
            f"the one on or before it is {latest_patch_tuesday(day).isoformat()}"
        )
    _check_offset(offset_days)
    try:
        due = day + timedelta(days=offset_days)
    except OverflowError as exc:
        raise InvalidInputError(
            f"{day.isoformat()} plus {offset_days} days is past year {LAST_YEAR}"
        ) from exc
    return datetime.combine(due, time(0, 0), tzinfo=UTC)


def release_instant(pt: date) -> datetime:
    """When Microsoft publishes Patch Tuesday's updates: 10:00 Pacific time, as UTC.

    Pacific time is UTC-8 or UTC-7 depending on daylight saving, so the UTC
    hour moves (18:00Z in winter, 17:00Z in summer). Flex Consumption runs
    timers in UTC only, so the timer fires at 18:00Z on the Patch Tuesday
    (`0 0 18 8-14 * Tue`), which is never before the release.
    """
    _check_date("pt", pt)
    local = datetime.combine(pt, time(10, 0), ZoneInfo("America/Los_Angeles"))
    return local.astimezone(UTC)


def _check_int(name: str, value: int) -> None:
    """Refuse booleans and non-integers with the field's name."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{name} must be a whole number, got {value!r}")


def _check_month(year: int, month: int) -> None:
    """Refuse a month outside 1..12 or outside the Patch Tuesday era."""
    _check_int("year", year)
    _check_int("month", month)
    if not 1 <= month <= 12:
        raise InvalidInputError(f"month must be between 1 and 12, got {month}")
    if (year, month) < FIRST_PATCH_TUESDAY_MONTH or year > LAST_YEAR:
        first_year, first_month = FIRST_PATCH_TUESDAY_MONTH
        raise InvalidInputError(
            f"no Patch Tuesday in {year:04d}-{month:02d}: Microsoft's monthly cycle began "
            f"in {first_year}-{first_month:02d}, and years run up to {LAST_YEAR}"
        )


def _check_date(name: str, value: date) -> date:
    """Refuse datetimes: which day an instant falls on depends on a timezone."""
    if isinstance(value, datetime) or not isinstance(value, date):
        raise InvalidInputError(
            f"{name} must be a date, got {value!r}; for an instant, convert it to a UTC date first"
        )
    return value


def _check_offset(offset_days: int) -> None:
    """Refuse offsets that run into the next month's Patch Tuesday."""
    _check_int("offset_days", offset_days)
    if not 0 <= offset_days <= MAX_OFFSET_DAYS:
        raise InvalidInputError(
            f"offset_days must be between 0 and {MAX_OFFSET_DAYS}, got {offset_days}: "
            "Patch Tuesdays can be 28 days apart, so a larger offset runs into the "
            "next month's Patch Tuesday"
        )


def _previous_month(year: int, month: int) -> tuple[int, int]:
    """The month before (year, month)."""
    return (year, month - 1) if month > 1 else (year - 1, 12)


def _next_month(year: int, month: int) -> tuple[int, int]:
    """The month after (year, month)."""
    return (year, month + 1) if month < 12 else (year + 1, 1)

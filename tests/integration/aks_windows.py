"""A second, deliberately naive reading of AKS's `maintenanceWindow`, to check records against.

Patch Pilot computes windows in :mod:`patchpilot.domain.schedule` by walking
forward from an instant. This module asks the opposite question with none of
that code: does a window of this configuration contain this instant? It
tries each local day that could have opened a window still running then.
Same documented semantics (AKS's planned maintenance docs and REST
reference; Azure/AKS#5720 for the phase of `intervalWeeks`, weeks starting
on Sunday), written again from them, so a shared misreading of the JSON
would have to be made twice.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, Final

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_WEEK_INDEX = ("First", "Second", "Third", "Fourth")


def contains(window: Mapping[str, Any], moment: dt.datetime) -> bool:
    """Whether `moment` (aware) falls inside a window of this `maintenanceWindow` object."""
    offset = _offset(window.get("utcOffset", "+00:00"))
    local = moment.astimezone(dt.UTC).replace(tzinfo=None) + offset
    hours = int(window["durationHours"])
    start_time = dt.time.fromisoformat(window["startTime"])
    anchor = dt.date.fromisoformat(window["startDate"]) if "startDate" in window else None
    for back in range(hours // 24 + 2):
        day = local.date() - dt.timedelta(days=back)
        opened = dt.datetime.combine(day, start_time)
        if opened <= local < opened + dt.timedelta(hours=hours) and _opens(
            window["schedule"], day, anchor
        ):
            return not _not_allowed(window, local)
    return False


def _opens(schedule: Mapping[str, Any], day: dt.date, anchor: dt.date | None) -> bool:
    if anchor is not None and day < anchor:
        return False
    ((kind, rule),) = schedule.items()
    return bool(_RULES[kind](rule, day, anchor or day))


def _daily(rule: Mapping[str, Any], day: dt.date, anchor: dt.date) -> bool:
    return (day - anchor).days % int(rule["intervalDays"]) == 0


def _weekly(rule: Mapping[str, Any], day: dt.date, anchor: dt.date) -> bool:
    weeks = (_sunday_before(day) - _sunday_before(anchor)).days // 7
    return _DAYS[day.weekday()] == rule["dayOfWeek"] and weeks % int(rule["intervalWeeks"]) == 0


def _relative_monthly(rule: Mapping[str, Any], day: dt.date, anchor: dt.date) -> bool:
    if _DAYS[day.weekday()] != rule["dayOfWeek"] or not _months_due(rule, day, anchor):
        return False
    if rule["weekIndex"] == "Last":
        return day.day + 7 > calendar.monthrange(day.year, day.month)[1]
    return (day.day - 1) // 7 == _WEEK_INDEX.index(rule["weekIndex"])


def _absolute_monthly(rule: Mapping[str, Any], day: dt.date, anchor: dt.date) -> bool:
    return day.day == int(rule["dayOfMonth"]) and _months_due(rule, day, anchor)


_RULES: Final[Mapping[str, Callable[[Mapping[str, Any], dt.date, dt.date], bool]]] = {
    "daily": _daily,
    "weekly": _weekly,
    "relativeMonthly": _relative_monthly,
    "absoluteMonthly": _absolute_monthly,
}


def _months_due(rule: Mapping[str, Any], day: dt.date, anchor: dt.date) -> bool:
    months = (day.year - anchor.year) * 12 + day.month - anchor.month
    return months % int(rule["intervalMonths"]) == 0


def _sunday_before(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=(day.weekday() + 1) % 7)


def _not_allowed(window: Mapping[str, Any], local: dt.datetime) -> bool:
    """`notAllowedDates`: whole local days, end date included."""
    return any(
        dt.date.fromisoformat(span["start"]) <= local.date() <= dt.date.fromisoformat(span["end"])
        for span in window.get("notAllowedDates", ())
    )


def _offset(text: str) -> dt.timedelta:
    sign = -1 if text.startswith("-") else 1
    hours, minutes = text.lstrip("+-").split(":")
    return sign * dt.timedelta(hours=int(hours), minutes=int(minutes))


def frozen(freezes: list[Mapping[str, Any]], moment: dt.datetime) -> bool:
    """Whether `moment` falls in a policy freeze: whole UTC days, end date included."""
    day = moment.astimezone(dt.UTC).date()
    return any(
        dt.date.fromisoformat(f["start"]) <= day <= dt.date.fromisoformat(f["end"]) for f in freezes
    )

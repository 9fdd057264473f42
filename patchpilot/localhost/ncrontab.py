"""NCRONTAB schedules as the Azure Functions timer trigger reads them.

Six fields: `{second} {minute} {hour} {day} {month} {day-of-week}`, each `*`,
a number, a range `a-b`, a list `a,b`, a step `*/n` or `a-b/n`; months and days
of the week may be named (`Jan`, `Tue`); day of week 0 is Sunday. Unlike
classic cron, Azure Functions fires only when day-of-month AND day-of-week
both match, which is what makes `0 0 18 8-14 * Tue` mean "Patch Tuesday at
18:00 UTC". `%NAME%` app-setting references are resolved first.

The local host uses :meth:`CronSchedule.next_after` to fire timers on its virtual
clock; nothing here reads the clock.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from patchpilot.errors import InvalidInputError

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_FIELDS = (
    ("second", 0, 59, None),
    ("minute", 0, 59, None),
    ("hour", 0, 23, None),
    ("day", 1, 31, None),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 0, 6, _DAYS),
)
_SETTING = re.compile(r"%([A-Za-z0-9_:.-]+)%")
# A schedule that matches nothing (Feb 30) must not loop forever.
_HORIZON_DAYS = 366 * 8


@dataclass(frozen=True)
class CronSchedule:
    """A parsed NCRONTAB expression: the allowed values of each field."""

    expression: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]

    def matches(self, moment: dt.datetime) -> bool:
        """True when the timer fires at this (UTC) second."""
        moment = moment.astimezone(dt.UTC)
        return (
            self._day_matches(moment.date())
            and moment.hour in self.hours
            and moment.minute in self.minutes
            and moment.second in self.seconds
        )

    def next_after(self, after: dt.datetime) -> dt.datetime | None:
        """The first firing strictly after `after` (UTC), or None within eight years."""
        after = after.astimezone(dt.UTC).replace(microsecond=0)
        day = after.date()
        for _ in range(_HORIZON_DAYS):
            if self._day_matches(day):
                found = self._first_time_on(day, after)
                if found is not None:
                    return found
            day += dt.timedelta(days=1)
        return None

    def _day_matches(self, day: dt.date) -> bool:
        weekday = (day.weekday() + 1) % 7  # Python: Monday 0; NCRONTAB: Sunday 0
        return day.month in self.months and day.day in self.days and weekday in self.weekdays

    def _first_time_on(self, day: dt.date, after: dt.datetime) -> dt.datetime | None:
        """The first allowed time of `day` strictly after `after`, by bisection.

        The local host asks this at every stop for every timer (a five-minute
        timer is 105,000 stops a year): walking hour x minute x second
        cost more than the stop itself.
        """
        hours, minutes, seconds = self._sorted
        if day > after.date():
            return _at(day, hours[0], minutes[0], seconds[0])
        for hour in hours[bisect.bisect_left(hours, after.hour) :]:
            if hour > after.hour:
                return _at(day, hour, minutes[0], seconds[0])
            for minute in minutes[bisect.bisect_left(minutes, after.minute) :]:
                if minute > after.minute:
                    return _at(day, hour, minute, seconds[0])
                later = bisect.bisect_right(seconds, after.second)
                if later < len(seconds):
                    return _at(day, hour, minute, seconds[later])
        return None

    @cached_property
    def _sorted(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """Hours, minutes and seconds in order, sorted once per schedule."""
        return tuple(sorted(self.hours)), tuple(sorted(self.minutes)), tuple(sorted(self.seconds))


def _at(day: dt.date, hour: int, minute: int, second: int) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=dt.UTC)


def resolve_settings(expression: str, settings: Mapping[str, str]) -> str:
    """Replace `%NAME%` with the app setting's value, as the Functions host does."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in settings:
            raise InvalidInputError(f"app setting {name} is not set", path="schedule")
        return settings[name]

    return _SETTING.sub(value, expression)


def parse(expression: str, settings: Mapping[str, str] | None = None) -> CronSchedule:
    """Parse a six-field NCRONTAB expression, resolving app-setting references."""
    text = resolve_settings(expression, settings or {})
    parts = text.split()
    if len(parts) != len(_FIELDS):
        raise InvalidInputError(
            f"{text!r} has {len(parts)} fields; Azure Functions NCRONTAB needs 6 "
            "(second minute hour day month day-of-week)",
            path="schedule",
        )
    values = [_field(part, *spec) for part, spec in zip(parts, _FIELDS, strict=True)]
    return CronSchedule(text, *values)


def _field(text: str, name: str, low: int, high: int, names: list[str] | None) -> frozenset[int]:
    allowed: set[int] = set()
    for item in text.split(","):
        allowed.update(_item(item, name, low, high, names))
    return frozenset(allowed)


def _item(item: str, name: str, low: int, high: int, names: list[str] | None) -> range:
    base, _, step_text = item.partition("/")
    step = _number(step_text, name, names=None) if step_text else 1
    if step < 1:
        raise InvalidInputError(f"{name}: step must be at least 1 in {item!r}", path="schedule")
    if base == "*":
        start, end = low, high
    elif "-" in base:
        first, _, last = base.partition("-")
        start, end = _number(first, name, names), _number(last, name, names)
    else:
        start = _number(base, name, names)
        end = high if step_text else start
    if not low <= start <= end <= high:
        raise InvalidInputError(f"{name}: {item!r} is outside {low}-{high}", path="schedule")
    return range(start, end + 1, step)


def _number(text: str, name: str, names: list[str] | None) -> int:
    if names and text.lower()[:3] in names and not text.isdigit():
        return names.index(text.lower()[:3]) + (1 if names is _MONTHS else 0)
    if not text.isdigit():
        raise InvalidInputError(f"{name}: {text!r} is not a number", path="schedule")
    return int(text)

"""AKS maintenance configurations as values: when may an upgrade start?

This module turns a cluster's AKS ``maintenanceConfiguration`` (or the policy's
``default_window``, which has the same shape) into frozen, hashable values that
answer two questions for any instant: is it inside an allowed window, and when
do the next windows open. The planner calls :meth:`Schedule.iter_windows` for
every pool (memoised per schedule and instant), the fleet and policy readers
call the parsers, and ``patchpilot windows`` prints what they return. It is
pure: no I/O and no clock; every instant is a parameter, timezone-aware, and
everything inside is UTC.

Two forms exist, both modelled here:

- :class:`MaintenanceWindow`, the ``maintenanceWindow`` object used by
  ``aksManagedAutoUpgradeSchedule``, ``aksManagedNodeOSUpgradeSchedule`` and
  (from API 2023-05-01) ``default``.
- :class:`TimeInWeekSchedule`, the older ``default`` form: ``timeInWeek`` hour
  slots in UTC and ``notAllowedTime`` spans.

AKS semantics, and where each comes from
----------------------------------------

[REST] ``MaintenanceWindow`` and friends in the ContainerService REST spec
(azure-rest-api-specs, ``aks/stable/2025-10-01/managedClusters.json``; the same
text is in the Bicep/ARM template reference for
``Microsoft.ContainerService/managedClusters/maintenanceConfigurations``).
[DOC] "Use planned maintenance to schedule and control upgrades for your Azure
Kubernetes Service cluster" (learn.microsoft.com/azure/aks/planned-maintenance,
MicrosoftDocs/azure-aks-docs ``articles/aks/planned-maintenance.md``).
[CLI] ``az aks maintenanceconfiguration add --help`` (azure-cli ``acs/_help.py``).

- ``durationHours``: 4 to 24 [REST min/max]. It is in the REST ``required``
  list, but the spec also gives ``"default": 24``, so an omitted value is 24.
- ``utcOffset``: pattern ``^(-|\\+)[0-9]{2}:[0-9]{2}$``, "If not specified, the
  default is '+00:00'" [REST]. We also refuse minutes >= 60 and offsets beyond
  +/-14:00, which no zone has.
- ``startTime``: ``^\\d{2}:\\d{2}$``, "Accepted values are from '00:00' to
  '23:59'. 'utcOffset' applies to this field. For example: '02:00' with
  'utcOffset: +02:00' means UTC time '00:00'" [REST]. So with +05:30 a 02:00
  start is 20:30Z the previous day, and with -08:00 a 20:00 start is 04:00Z
  the next day. The day of week / day of month is the *local* day too.
- ``startDate``: "The date the maintenance window activates. If the current
  date is before this date, the maintenance window is inactive" [REST]; its
  default is "The current date at creation time" [DOC, table of properties].
  Occurrences whose local date is before ``startDate`` are dropped.
- ``notAllowedDates``: "'utcOffset' applies to this field. For example, with
  'utcOffset: +02:00' and 'dateSpan' being '2022-12-23' to '2023-01-03',
  maintenance will be blocked from '2022-12-22 22:00' to '2023-01-03 22:00' in
  UTC time" [REST]: local midnight of ``start`` to local midnight after ``end``.
  A window partly covered keeps its allowed pieces (AKS only *starts* work
  inside a window, [DOC] FAQ), one wholly covered disappears.
- Ranges [REST]: ``intervalDays`` 1-7, ``intervalWeeks`` 1-4,
  ``intervalMonths`` 1-6, ``dayOfMonth`` 1-31; ``weekIndex`` First, Second,
  Third, Fourth, Last; "All of the fields shown for each schedule type are
  required" [DOC].
- ``weekIndex`` is the n-th *occurrence* of ``dayOfWeek`` in the month, not the
  n-th calendar week (hashicorp/terraform-provider-azurerm#23979, where AKS's
  behaviour surprised users); ``Last`` is the last occurrence, so in a month
  with four Fridays "Fourth" and "Last" are the same day.
- ``intervalWeeks`` anchoring is not in the docs; Azure/AKS#5720 reports what
  AKS does: the cadence is fixed from the calendar week that holds
  ``startDate``, and if ``dayOfWeek`` falls before ``startDate`` in that week
  that occurrence is skipped (every 2 weeks on Sunday from Tuesday 2026-04-14
  first opens 2026-04-26, not 2026-04-19). That only holds with weeks starting
  on Sunday, so weeks here start on Sunday.
- ``intervalDays`` and ``intervalMonths`` anchoring are not documented; we
  apply the same rule: the day (month) holding ``startDate`` is period 0, and
  occurrences repeat every ``interval`` periods from it.
- With no ``startDate`` an interval > 1 has no phase we can know, so it is
  never guessed. What AKS does, from three sources: the docs' property table
  gives ``startDate`` the default "The current date at creation time" [DOC];
  the recorded ARM traffic (azure-cli ``test_aks_maintenancewindow``, real ARM,
  2023-07-25, in ``/work/shared/fixtures/arm-recordings``) shows a PUT whose
  ``maintenanceWindow`` has no ``startDate`` answered, and read back by a GET,
  with ``"startDate": "2023-07-25"``, the day of the PUT, where the list just
  before held ``"startDate": "2123-01-01"`` for the same configuration. So AKS
  fills ``startDate`` in and a GET returns it, and a later PUT without one
  moves it to that PUT's day: neither the creation time (``systemData``) nor
  anything else in the resource is the anchor. The SDK reference
  (``@azure/arm-containerservice`` ``MaintenanceWindowResourceProperties``)
  only says "If not specified, the maintenance window will be active right
  away", nothing about the phase. Hence: a policy ``default_window`` or a fleet-file
  configuration with an interval > 1 and no ``startDate`` is refused (path
  ``...startDate``), and one observed through ARM (``observed=True``) becomes
  a :class:`MaintenanceWindow` whose ``unusable`` names the reason and which
  opens no window, so the planner blocks that kind until someone sets
  ``startDate``. Interval 1 needs no anchor (every phase is the same).
  Anchoring on the ``after`` instant, as this module once did, made "every 2
  weeks" open every week for a caller asking each week.
- ``dayOfMonth`` 29-31 in a month without that day is not documented. We skip
  that month (no window) rather than move it to the month's last day: being
  wrong that way only delays an upgrade, never starts one outside a window
  AKS would honour. ``dayOfMonth: 31`` thus opens in 7 months of 12, and 29
  opens in February only in leap years (2028-02-29).
- ``timeInWeek``: "Each integer hour represents a time range beginning at 0m
  after the hour ending at the next hour (non-inclusive). 0 corresponds to
  00:00 UTC ... Specifying [0, 1] means the 00:00 - 02:00 UTC time range"; "If
  two array entries specify the same day of the week, the applied
  configuration is the union of times in both entries" [REST]. Adjacent slots
  merge into one window, across midnight and across the end of the week. The
  AKS docs' own config-file examples spell the field ``hour_slots``, so that
  spelling is accepted too. ``notAllowedTime`` spans are UTC date-times.
- Reactive maintenance may ignore all of this [DOC]; that is AKS's business,
  not the planner's.

The same parsers read the policy's ``default_window`` and the fleet file's
configurations from YAML, so dates and timestamps YAML has already turned into
``date``/``datetime`` are taken as they are, and a time or offset YAML read as
a base-60 number (unquoted ``12:30`` is 750) gets an error that says to quote it.
"""

from __future__ import annotations

import bisect
import calendar
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, timezone
from itertools import islice
from typing import Any, Final, NoReturn, Protocol, TypeAlias, TypeVar, runtime_checkable

from patchpilot.domain.fields import describe
from patchpilot.domain.instants import utc_instant
from patchpilot.errors import InvalidInputError

__all__ = [
    "DAYS",
    "DEFAULT_DURATION_HOURS",
    "HORIZON",
    "UNUSABLE_KEY",
    "WEEK_INDEXES",
    "AbsoluteMonthly",
    "Daily",
    "DateSpan",
    "MaintenanceWindow",
    "Recurrence",
    "RelativeMonthly",
    "Schedule",
    "TimeInWeek",
    "TimeInWeekSchedule",
    "Weekly",
    "Window",
    "parse_maintenance_configuration",
    "parse_maintenance_window",
    "parse_utc_offset",
    "subtract",
]

# How far iter_windows looks ahead: a schedule that never opens must still end.
HORIZON: Final = timedelta(days=3653)
# The REST spec's default for an omitted durationHours.
DEFAULT_DURATION_HOURS: Final = 24
# AKS day names; index 0 is Sunday because AKS weeks start on Sunday (see above).
DAYS: Final = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
WEEK_INDEXES: Final = ("First", "Second", "Third", "Fourth", "Last")

_HOURS_IN_WEEK: Final = 7 * 24
_WEEK: Final = timedelta(weeks=1)
_MAX_OFFSET: Final = timedelta(hours=14)
_OFFSET_RE: Final = re.compile(r"([+-])([0-9]{2}):([0-9]{2})")
_TIME_RE: Final = re.compile(r"([0-9]{2}):([0-9]{2})")
_DATE_RE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_NO_OFFSET: Final = timedelta(0)
# Interval 1 repeats every period, so any anchor gives the same dates; a fixed
# one (a Sunday) keeps the answer independent of the instant asked about.
_ANY_ANCHOR: Final = date(2000, 1, 2)
# Not an ARM field: stored snapshots (fleet documents) carry an observed
# configuration's `unusable` reason under it, so it reads back unusable.
UNUSABLE_KEY: Final = "patchpilotUnusable"
_T = TypeVar("_T")


# --------------------------------------------------------------------------- windows


@dataclass(frozen=True, order=True)
class Window:
    """An allowed interval [start, end), UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        start, end = _utc(self.start, "window start"), _utc(self.end, "window end")
        if end <= start:
            raise InvalidInputError(
                f"a window must end after it starts, got {start.isoformat()} to {end.isoformat()}"
            )
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    @property
    def duration(self) -> timedelta:
        """How long the window stays open."""
        return self.end - self.start

    def contains(self, t: datetime) -> bool:
        """Whether `t` is inside: the start is, the end is not."""
        return self.start <= _utc(t, "t") < self.end


def subtract(window: Window, blocked: Sequence[Window]) -> list[Window]:
    """The pieces of `window` not covered by any blocked interval, in order.

    The planner uses it for fleet-wide freezes; `blocked` may be unsorted and
    overlapping.
    """
    return _cut(window, _merge(blocked))


def _merge(spans: Iterable[Window]) -> tuple[Window, ...]:
    """Sort and join overlapping or touching spans, so lookups can bisect."""
    merged: list[Window] = []
    for span in sorted(spans):
        if merged and span.start <= merged[-1].end:
            if span.end > merged[-1].end:
                merged[-1] = Window(merged[-1].start, span.end)
        else:
            merged.append(span)
    return tuple(merged)


def _cut(window: Window, blocked: tuple[Window, ...]) -> list[Window]:
    """`subtract` for spans already merged: bisect to the first that matters."""
    pieces: list[Window] = []
    cursor = window.start
    first = bisect.bisect_right(blocked, window.start, key=_end_of)
    for index in range(first, len(blocked)):
        block = blocked[index]
        if block.start >= window.end:
            break
        if block.start > cursor:
            pieces.append(Window(cursor, block.start))
        cursor = max(cursor, block.end)
    if cursor < window.end:
        pieces.append(Window(cursor, window.end))
    return pieces


def _end_of(window: Window) -> datetime:
    return window.end


def _covering_end(window: Window, blocked: tuple[Window, ...]) -> datetime:
    """The end of the merged blocked span that swallows `window` whole.

    Jumping there, rather than to the next occurrence, keeps a long freeze
    over a daily schedule from costing one step per swallowed day.
    """
    index = bisect.bisect_right(blocked, window.start, key=_start_of) - 1
    return max(blocked[index].end, window.end)


def _start_of(window: Window) -> datetime:
    return window.start


def _allowed(
    next_occurrence: Callable[[datetime], Window | None],
    blocked: tuple[Window, ...],
    after: datetime,
) -> Iterator[Window]:
    """Occurrences ending after `after`, minus the blocked spans, up to HORIZON.

    `next_occurrence(t)` returns the first occurrence that ends after `t`;
    occurrences never overlap, so each step costs one computation, not a scan.
    """
    limit = _plus(after, HORIZON)
    cursor = after
    while True:
        occurrence = _guarded(next_occurrence, cursor)
        if occurrence is None or occurrence.start > limit:
            return
        pieces = _cut(occurrence, blocked)
        yield from (piece for piece in pieces if piece.end > after)
        cursor = occurrence.end if pieces else _covering_end(occurrence, blocked)


def _guarded(
    next_occurrence: Callable[[datetime], Window | None], cursor: datetime
) -> Window | None:
    """The next occurrence, or None once the calendar runs out (year 9999)."""
    try:
        return next_occurrence(cursor)
    except InvalidInputError:
        raise
    except (OverflowError, ValueError):
        # Date arithmetic past year 9999: there is nothing later to offer.
        return None


def _plus(moment: datetime, delta: timedelta) -> datetime:
    try:
        return moment + delta
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)


# --------------------------------------------------------------------------- the protocol


@runtime_checkable
class Schedule(Protocol):
    """When upgrades may start; implemented by MaintenanceWindow and TimeInWeekSchedule."""

    def iter_windows(self, after: datetime) -> Iterator[Window]:
        """Allowed windows in order, those ending after `after` first.

        A window containing `after` is yielded whole (its start may be before
        `after`). Not-allowed dates are already subtracted (a window partly
        covered is trimmed to its allowed pieces; one wholly covered
        disappears). Finite: stops after HORIZON (~10 years), so a schedule
        that never opens cannot loop forever.
        """
        ...

    def windows(self, after: datetime, count: int) -> list[Window]:
        """The first `count` windows of :meth:`iter_windows`."""
        ...

    def window_at(self, t: datetime) -> Window | None:
        """The allowed window containing `t`, or None."""
        ...

    def contains(self, t: datetime) -> bool:
        """Whether an upgrade may start at `t`."""
        ...

    @property
    def unusable(self) -> str | None:
        """Why AKS's configuration cannot be read safely, so no window opens; else None.

        Set only for a configuration observed through ARM (see the module
        notes); a person can act on the text ("set startDate").
        """
        ...

    def __hash__(self) -> int:
        """Schedules are values: callers memoise on (schedule, instant)."""
        ...


class _WindowQueries(ABC):
    """The Schedule queries every form answers the same way from iter_windows."""

    @abstractmethod
    def iter_windows(self, after: datetime) -> Iterator[Window]:
        """See :meth:`Schedule.iter_windows`."""

    def windows(self, after: datetime, count: int) -> list[Window]:
        """The first `count` windows of :meth:`iter_windows`."""
        if count < 0:
            raise ValueError(f"count must not be negative, got {count}")
        return list(islice(self.iter_windows(after), count))

    def window_at(self, t: datetime) -> Window | None:
        """The allowed window containing `t`: the first window from `t`, if it has begun."""
        first = next(self.iter_windows(t), None)
        return first if first is not None and first.contains(t) else None

    def contains(self, t: datetime) -> bool:
        """Whether an upgrade may start at `t`."""
        return self.window_at(t) is not None


# --------------------------------------------------------------------------- recurrences


@dataclass(frozen=True)
class Daily:
    """``schedule.daily``: every `interval_days` days."""

    interval_days: int

    def __post_init__(self) -> None:
        _check_int(self.interval_days, 1, 7, "intervalDays")

    def next_date(self, earliest: date, anchor: date) -> date:
        """The first occurrence on or after `earliest`, counting from `anchor`."""
        return _next_in_step(earliest, anchor, self.interval_days)


@dataclass(frozen=True)
class Weekly:
    """``schedule.weekly``: on `day_of_week` every `interval_weeks` weeks."""

    interval_weeks: int
    day_of_week: str

    def __post_init__(self) -> None:
        _check_int(self.interval_weeks, 1, 4, "intervalWeeks")
        _check_choice(self.day_of_week, DAYS, "dayOfWeek")

    def next_date(self, earliest: date, anchor: date) -> date:
        """The first occurrence on or after `earliest`, weeks counted from `anchor`'s week."""
        first = _week_start(anchor) + timedelta(days=DAYS.index(self.day_of_week))
        return _next_in_step(earliest, first, 7 * self.interval_weeks)


@dataclass(frozen=True)
class AbsoluteMonthly:
    """``schedule.absoluteMonthly``: day `day_of_month` every `interval_months` months."""

    interval_months: int
    day_of_month: int

    def __post_init__(self) -> None:
        _check_int(self.interval_months, 1, 6, "intervalMonths")
        _check_int(self.day_of_month, 1, 31, "dayOfMonth")

    def next_date(self, earliest: date, anchor: date) -> date:
        """The first occurrence on or after `earliest`; months lacking the day are skipped."""
        month = _first_month(earliest, anchor, self.interval_months)
        # Bounded: every phase of a step of at most 6 months meets a 31-day month within a year.
        for _ in range(24):
            year, number = _year_month(month)
            if self.day_of_month <= calendar.monthrange(year, number)[1]:
                day = date(year, number, self.day_of_month)
                if day >= earliest:
                    return day
            month += self.interval_months
        raise AssertionError("unreachable: no month had the day")  # pragma: no cover


@dataclass(frozen=True)
class RelativeMonthly:
    """``schedule.relativeMonthly``: the `week_index` `day_of_week` every `interval_months`."""

    interval_months: int
    day_of_week: str
    week_index: str

    def __post_init__(self) -> None:
        _check_int(self.interval_months, 1, 6, "intervalMonths")
        _check_choice(self.day_of_week, DAYS, "dayOfWeek")
        _check_choice(self.week_index, WEEK_INDEXES, "weekIndex")

    def next_date(self, earliest: date, anchor: date) -> date:
        """The first occurrence on or after `earliest`, months counted from `anchor`'s month."""
        month = _first_month(earliest, anchor, self.interval_months)
        day = self._in_month(month)
        # Only the month of `earliest` itself can hold a date before it.
        return day if day >= earliest else self._in_month(month + self.interval_months)

    def _in_month(self, month: int) -> date:
        year, number = _year_month(month)
        first = 1 + (DAYS.index(self.day_of_week) - _sunday_index(date(year, number, 1))) % 7
        if self.week_index == "Last":
            last = calendar.monthrange(year, number)[1]
            return date(year, number, first + 7 * ((last - first) // 7))
        return date(year, number, first + 7 * WEEK_INDEXES.index(self.week_index))


Recurrence: TypeAlias = Daily | Weekly | AbsoluteMonthly | RelativeMonthly


def _interval_of(recurrence: Recurrence) -> tuple[str, int]:
    """The recurrence's interval field, as AKS names it, and its value."""
    if isinstance(recurrence, Daily):
        return "intervalDays", recurrence.interval_days
    if isinstance(recurrence, Weekly):
        return "intervalWeeks", recurrence.interval_weeks
    return "intervalMonths", recurrence.interval_months


# Why an interval > 1 without startDate is never guessed (module notes, "With no
# startDate"): AKS's docs give startDate the default "The current date at
# creation time", and recorded ARM traffic shows a PUT without startDate coming
# back with "startDate": "2023-07-25" (the PUT's day) where the configuration
# held "2123-01-01" before. AKS always stores an anchor; when one is missing
# here, only the writer knows which day it was.
def _needs_anchor(recurrence: Recurrence, start_date: date | None) -> bool:
    """An interval > 1 without startDate: its phase is unknown (module notes)."""
    return start_date is None and _interval_of(recurrence)[1] > 1


def _no_anchor(recurrence: Recurrence) -> str:
    """What is wrong, in the words of the configuration's own fields."""
    name, interval = _interval_of(recurrence)
    return f"{name} {interval} without startDate has no anchor"


def _next_in_step(earliest: date, first: date, step_days: int) -> date:
    """The first of first + k*step (any integer k) on or after `earliest`: no scanning."""
    behind = (earliest - first).days
    return first + timedelta(days=-(-behind // step_days) * step_days)


def _week_start(day: date) -> date:
    """The Sunday that starts `day`'s week."""
    return day - timedelta(days=_sunday_index(day))


def _sunday_index(day: date) -> int:
    return (day.weekday() + 1) % 7


def _month_number(day: date) -> int:
    return day.year * 12 + day.month - 1


def _year_month(month: int) -> tuple[int, int]:
    year, index = divmod(month, 12)
    return year, index + 1


def _first_month(earliest: date, anchor: date, step: int) -> int:
    """The first month in the anchor's phase that is not before `earliest`'s month."""
    behind = _month_number(earliest) - _month_number(anchor)
    return _month_number(anchor) - (-behind // step) * step


# --------------------------------------------------------------------------- maintenanceWindow


@dataclass(frozen=True)
class DateSpan:
    """A ``notAllowedDates`` entry: whole local days, `end` included."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise InvalidInputError(
                f"end ({self.end}) must not be before start ({self.start})", path="end"
            )

    def blocked(self, utc_offset: timedelta) -> Window:
        """The UTC interval it blocks: local midnight of start to local midnight after end."""
        zone = timezone(utc_offset)
        start = datetime.combine(self.start, time(), zone)
        return Window(start, datetime.combine(self.end, time(), zone) + timedelta(days=1))


@dataclass(frozen=True)
class MaintenanceWindow(_WindowQueries):
    """The ``maintenanceWindow`` form, validated; hashable so callers can cache on it.

    `not_allowed_time` carries ``notAllowedTime`` spans found beside the window
    in the same configuration: AKS documents them for the older form only, but
    a freeze someone wrote down is honoured rather than ignored.

    `unusable`, when set, says why the configuration AKS holds cannot be
    read safely; such a window opens nothing. Only the observed path sets it
    (:func:`parse_maintenance_configuration` with ``observed=True``): an
    interval > 1 without `start_date` is refused otherwise, because its phase
    is unknown.
    """

    schedule: Recurrence
    start_time: time
    duration_hours: int = DEFAULT_DURATION_HOURS
    utc_offset: timedelta = _NO_OFFSET
    start_date: date | None = None
    not_allowed_dates: tuple[DateSpan, ...] = ()
    not_allowed_time: tuple[Window, ...] = ()
    unusable: str | None = None
    _blocked: tuple[Window, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_int(self.duration_hours, 4, 24, "durationHours")
        _check_offset(self.utc_offset)
        if not isinstance(self.start_time, time) or self.start_time.tzinfo is not None:
            raise InvalidInputError(
                f"startTime must be a local time of day, got {self.start_time!r}", path="startTime"
            )
        _check_anchor(self.schedule, self.start_date, self.unusable)
        object.__setattr__(self, "not_allowed_dates", tuple(self.not_allowed_dates))
        object.__setattr__(self, "not_allowed_time", tuple(self.not_allowed_time))
        spans = [span.blocked(self.utc_offset) for span in self.not_allowed_dates]
        object.__setattr__(self, "_blocked", _merge([*spans, *self.not_allowed_time]))

    @property
    def zone(self) -> timezone:
        """The fixed offset in which startTime, startDate and the dates are read."""
        return timezone(self.utc_offset)

    @property
    def duration(self) -> timedelta:
        """How long each occurrence lasts."""
        return timedelta(hours=self.duration_hours)

    @property
    def blocked(self) -> tuple[Window, ...]:
        """Every not-allowed span in UTC, merged and sorted."""
        return self._blocked

    def iter_windows(self, after: datetime) -> Iterator[Window]:
        """See :meth:`Schedule.iter_windows`.

        Intervals count from ``startDate``; without one the interval is 1,
        which any anchor serves, so the answer never depends on `after`. An
        unusable window yields nothing.
        """
        after = _utc(after, "after")
        if self.unusable is not None:
            return iter(())
        anchor = self.start_date or _ANY_ANCHOR
        return _allowed(lambda t: self._occurrence_ending_after(t, anchor), self._blocked, after)

    def _occurrence_ending_after(self, t: datetime, anchor: date) -> Window:
        """The first occurrence (before not-allowed dates) that ends after `t`."""
        # It ends after t exactly when it starts after t - duration.
        after_start = t.astimezone(self.zone) - self.duration
        earliest = after_start.date()
        if datetime.combine(earliest, self.start_time, self.zone) <= after_start:
            earliest += timedelta(days=1)
        if self.start_date is not None:
            earliest = max(earliest, self.start_date)
        start = datetime.combine(
            self.schedule.next_date(earliest, anchor), self.start_time, self.zone
        )
        return Window(start, start + self.duration)


# --------------------------------------------------------------------------- timeInWeek


@dataclass(frozen=True)
class TimeInWeek:
    """A ``timeInWeek`` entry: hour slots (UTC) on one day of the week."""

    day: str
    hour_slots: tuple[int, ...]

    def __post_init__(self) -> None:
        _check_choice(self.day, DAYS, "day")
        object.__setattr__(self, "hour_slots", tuple(self.hour_slots))
        for index, slot in enumerate(self.hour_slots):
            _check_int(slot, 0, 23, f"hourSlots[{index}]")


@dataclass(frozen=True)
class TimeInWeekSchedule(_WindowQueries):
    """The older ``default`` form: weekly UTC hour slots minus ``notAllowedTime``."""

    time_in_week: tuple[TimeInWeek, ...]
    not_allowed_time: tuple[Window, ...] = ()
    _runs: tuple[tuple[timedelta, timedelta], ...] = field(init=False, repr=False, compare=False)
    _blocked: tuple[Window, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "time_in_week", tuple(self.time_in_week))
        object.__setattr__(self, "not_allowed_time", tuple(self.not_allowed_time))
        hours = {
            DAYS.index(entry.day) * 24 + slot
            for entry in self.time_in_week
            for slot in entry.hour_slots
        }
        runs = tuple(
            (timedelta(hours=start), timedelta(hours=start + length))
            for start, length in _runs_on_week(hours)
        )
        object.__setattr__(self, "_runs", runs)
        object.__setattr__(self, "_blocked", _merge(self.not_allowed_time))

    @property
    def blocked(self) -> tuple[Window, ...]:
        """Every not-allowed span in UTC, merged and sorted."""
        return self._blocked

    @property
    def unusable(self) -> str | None:
        """Never: hour slots in a week need no anchor."""
        return None

    def iter_windows(self, after: datetime) -> Iterator[Window]:
        """See :meth:`Schedule.iter_windows`."""
        return _allowed(self._occurrence_ending_after, self._blocked, _utc(after, "after"))

    def _occurrence_ending_after(self, t: datetime) -> Window | None:
        """The first merged run of slots that ends after `t` (runs may wrap into next week).

        Runs are sorted by start and weeks ascend, so the first run found that
        ends after `t` is also the earliest to start.
        """
        week = datetime.combine(_week_start(t.date()), time(), UTC)
        for base in (week - _WEEK, week, week + _WEEK):
            for start, end in self._runs:
                if base + end > t:
                    return Window(base + start, base + end)
        return None


def _runs_on_week(hours: set[int]) -> tuple[tuple[int, int], ...]:
    """Join set hours of the week into (start hour, length) runs, wrapping at the week's end.

    An always-open week is one run of 168 hours from Sunday 00:00 UTC, so the
    windows stay finite.
    """
    if len(hours) == _HOURS_IN_WEEK:
        return ((0, _HOURS_IN_WEEK),)
    runs: list[tuple[int, int]] = []
    gap = next((hour for hour in range(_HOURS_IN_WEEK) if hour not in hours), 0)
    start, length = -1, 0
    for step in range(1, _HOURS_IN_WEEK + 1):
        hour = (gap + step) % _HOURS_IN_WEEK
        if hour in hours:
            start, length = (hour, 1) if length == 0 else (start, length + 1)
        elif length:
            runs.append((start, length))
            length = 0
    return tuple(sorted(runs))


# --------------------------------------------------------------------------- validation


def _utc(moment: datetime, name: str) -> datetime:
    """`moment` in UTC; naive datetimes are refused, never read as local time."""
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise InvalidInputError(
            f"{name} must be a timezone-aware datetime, got {describe(moment)}", path=name
        )
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise InvalidInputError(f"{name} has no UTC form: {describe(moment)}", path=name) from None


def _check_int(value: object, low: int, high: int, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInputError(f"{name} must be a whole number, got {value!r}", path=name)
    if not low <= value <= high:
        raise InvalidInputError(f"{name} must be between {low} and {high}, got {value}", path=name)


def _check_choice(value: object, choices: tuple[str, ...], name: str) -> None:
    if value not in choices:
        raise InvalidInputError(
            f"{name} must be one of {', '.join(choices)}, got {value!r}", path=name
        )


def _check_anchor(recurrence: Recurrence, start_date: date | None, unusable: object) -> None:
    """Refuse a phase we would have to guess, unless the window says it is unusable."""
    if unusable is not None:
        if not isinstance(unusable, str) or not unusable.strip():
            raise InvalidInputError(
                f"unusable must be a reason (text), got {_kind(unusable)}", path=UNUSABLE_KEY
            )
        return
    if _needs_anchor(recurrence, start_date):
        raise InvalidInputError(
            f"{_no_anchor(recurrence)}: AKS counts the interval from startDate, which "
            'defaults to the day the configuration was last written; set startDate ("YYYY-MM-DD")',
            path="startDate",
        )


def _check_offset(offset: object) -> None:
    if not isinstance(offset, timedelta) or offset % timedelta(minutes=1):
        raise InvalidInputError(
            f"utcOffset must be whole minutes, got {offset!r}", path="utcOffset"
        )
    if abs(offset) > _MAX_OFFSET:
        raise InvalidInputError(
            f"utcOffset must be between -14:00 and +14:00, got {_format_offset(offset)}",
            path="utcOffset",
        )


def _format_offset(offset: timedelta) -> str:
    minutes = int(abs(offset).total_seconds()) // 60
    return f"{'-' if offset < timedelta(0) else '+'}{minutes // 60:02d}:{minutes % 60:02d}"


# --------------------------------------------------------------------------- parsing


def parse_utc_offset(text: str, *, source: str | None = None, path: str = "utcOffset") -> timedelta:
    """Read a ``utcOffset`` such as "+05:30" or "-08:00" (AKS: ``^(-|\\+)[0-9]{2}:[0-9]{2}$``)."""
    match = _OFFSET_RE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        message = f'utcOffset must look like "+05:30" or "-08:00", got {text!r}'
        _fail(message + _yaml_clock_hint(text), path, source)
    sign, hours, minutes = match.groups()
    if int(minutes) >= 60:
        _fail(f"utcOffset minutes must be below 60, got {text!r}", path, source)
    offset = timedelta(hours=int(hours), minutes=int(minutes)) * (-1 if sign == "-" else 1)
    if abs(offset) > _MAX_OFFSET:
        _fail(f"utcOffset must be between -14:00 and +14:00, got {text!r}", path, source)
    return offset


def parse_maintenance_window(
    obj: Mapping[str, Any],
    *,
    source: str | None = None,
    path: str = "maintenanceWindow",
    observed: bool = False,
) -> MaintenanceWindow:
    """Validate a ``maintenanceWindow`` object (as ARM returns it) into a MaintenanceWindow.

    Unknown keys anywhere inside are errors, so a typo is never a silently
    different schedule; null values (``az`` prints the unused schedule kinds as
    null) count as absent. An interval > 1 without ``startDate`` is refused
    (path ``<path>.startDate``) unless `observed`: then the window comes back
    with `unusable` set and opens nothing (see the module notes).
    """
    return _parse_window(obj, source, path, "maintenanceWindow" if observed else None)


def _parse_window(
    obj: object, source: str | None, path: str, observed_as: str | None
) -> MaintenanceWindow:
    """`parse_maintenance_window`; `observed_as` names the configuration when observed."""
    with _located(path, source):
        fields = _fields(obj, _WINDOW_KEYS)
        offset = parse_utc_offset(fields.get("utcOffset", "+00:00"))
        schedule = _parse_schedule(_required(fields, "schedule", 'e.g. {"weekly": {...}}'))
        start_date = _optional_date(fields, "startDate")
        return MaintenanceWindow(
            schedule=schedule,
            start_time=_parse_time(_required(fields, "startTime", 'e.g. "02:00"')),
            duration_hours=fields.get("durationHours", DEFAULT_DURATION_HOURS),
            utc_offset=offset,
            start_date=start_date,
            not_allowed_dates=_parse_list(
                fields.get("notAllowedDates", []), "notAllowedDates", _parse_span
            ),
            unusable=_unusable_reason(schedule, start_date, observed_as),
        )


def _unusable_reason(
    recurrence: Recurrence, start_date: date | None, observed_as: str | None
) -> str | None:
    """For an observed window without an anchor, the reason and what to do about it."""
    if observed_as is None or not _needs_anchor(recurrence, start_date):
        return None
    return (
        f"{observed_as}: {_no_anchor(recurrence)}, so when AKS opens it is unknown; set "
        f"startDate (az aks maintenanceconfiguration update --name {observed_as} ... "
        "--start-date YYYY-MM-DD)"
    )


def parse_maintenance_configuration(
    obj: Mapping[str, Any], *, source: str | None = None, observed: bool = False
) -> Schedule:
    """Read one AKS maintenance configuration in any of the shapes people have.

    Accepts (a) the JSON ARM returns (``{"name": ..., "properties":
    {"maintenanceWindow": {...}}}`` or properties with timeInWeek /
    notAllowedTime), (b) the flattened JSON ``az aks maintenanceconfiguration
    show`` prints (maintenanceWindow / timeInWeek at the top level, plus name,
    id, resourceGroup, systemData, type), (c) a bare maintenanceWindow object.
    Unknown keys inside maintenanceWindow are errors; the envelope's other keys
    are ARM's business and ignored. When both forms are present the newer
    maintenanceWindow wins (AKS migrates the old form into it).

    `observed` is for a configuration read from ARM: an interval > 1 without
    ``startDate`` then gives a MaintenanceWindow whose `unusable` says why,
    naming the configuration, instead of an error. A ``patchpilotUnusable``
    reason beside ``maintenanceWindow`` (how :func:`to_arm` stores such a
    window) reads back the same way.
    """
    if not isinstance(obj, Mapping):
        _fail(f"a maintenance configuration must be a JSON object, got {_kind(obj)}", "", source)
    wrapped = isinstance(obj.get("properties"), Mapping)
    properties: Mapping[str, Any] = obj["properties"] if wrapped else obj
    prefix = "properties" if wrapped else ""
    if properties.get("maintenanceWindow") is not None:
        name = obj.get("name")
        label = name if isinstance(name, str) and name else "maintenanceWindow"
        return _window_with_times(properties, prefix, source, label if observed else None)
    if properties.get("maintenanceWindowId") is not None:
        _fail(
            "maintenanceWindowId points to a shared MaintenanceWindow resource; "
            "read that resource and pass its properties instead",
            _join(prefix, "maintenanceWindowId"),
            source,
        )
    if properties.get("timeInWeek") is not None or properties.get("notAllowedTime") is not None:
        return _parse_time_in_week(properties, prefix, source)
    if not wrapped and "schedule" in obj:
        return parse_maintenance_window(obj, source=source, path="", observed=observed)
    _fail(
        "found no maintenanceWindow, timeInWeek or schedule: pass the JSON ARM returns, "
        "the output of `az aks maintenanceconfiguration show`, or a maintenanceWindow object",
        prefix,
        source,
    )


_WINDOW_KEYS: Final = (
    "schedule",
    "durationHours",
    "utcOffset",
    "startDate",
    "startTime",
    "notAllowedDates",
)


def _window_with_times(
    properties: Mapping[str, Any], prefix: str, source: str | None, observed_as: str | None
) -> MaintenanceWindow:
    stored = properties.get(UNUSABLE_KEY)
    if stored is not None and (not isinstance(stored, str) or not stored.strip()):
        _fail(
            f"{UNUSABLE_KEY} must be a reason (text), got {_kind(stored)}",
            _join(prefix, UNUSABLE_KEY),
            source,
        )
    window = _parse_window(
        properties["maintenanceWindow"],
        source,
        _join(prefix, "maintenanceWindow"),
        observed_as or ("maintenanceWindow" if stored else None),
    )
    with _located(prefix, source):
        blocked = _time_spans(properties)
    return replace(window, not_allowed_time=blocked, unusable=stored or window.unusable)


def _parse_time_in_week(
    properties: Mapping[str, Any], prefix: str, source: str | None
) -> TimeInWeekSchedule:
    with _located(prefix, source):
        entries = properties.get("timeInWeek")
        if not entries:
            _fail("timeInWeek must list at least one day with hourSlots", "timeInWeek")
        return TimeInWeekSchedule(
            time_in_week=_parse_list(entries, "timeInWeek", _parse_time_in_week_entry),
            not_allowed_time=_time_spans(properties),
        )


def _time_spans(properties: Mapping[str, Any]) -> tuple[Window, ...]:
    """The ``notAllowedTime`` spans beside either form; empty ones block nothing."""
    value = properties.get("notAllowedTime")
    spans = () if value is None else _parse_list(value, "notAllowedTime", _parse_time_span)
    return tuple(span for span in spans if span is not None)


def _parse_time_in_week_entry(obj: object) -> TimeInWeek:
    fields = _fields(obj, ("day", "hourSlots", "hour_slots"))
    if "hourSlots" in fields and "hour_slots" in fields:
        _fail("give hourSlots or hour_slots, not both", "hour_slots")
    name = "hourSlots" if "hour_slots" not in fields else "hour_slots"
    slots = _required(fields, name, "e.g. [1, 2] for 01:00-03:00 UTC")
    if not isinstance(slots, list | tuple):
        _fail(f"{name} must be a list of hours 0-23, got {_kind(slots)}", name)
    return TimeInWeek(
        day=_parse_day(_required(fields, "day", 'e.g. "Monday"'), "day"), hour_slots=tuple(slots)
    )


_SCHEDULE_KINDS: Final = ("daily", "weekly", "absoluteMonthly", "relativeMonthly")


def _parse_schedule(obj: object) -> Recurrence:
    with _located("schedule", None):
        fields = _fields(obj, _SCHEDULE_KINDS)
        if len(fields) != 1:
            given = ", ".join(fields) or "none"
            _fail(f"exactly one of {', '.join(_SCHEDULE_KINDS)} must be set, got {given}", "")
        ((kind, body),) = fields.items()
        with _located(kind, None):
            return _SCHEDULE_PARSERS[kind](body)


def _parse_daily(obj: object) -> Daily:
    fields = _fields(obj, ("intervalDays",))
    return Daily(interval_days=_required(fields, "intervalDays", "1 to 7"))


def _parse_weekly(obj: object) -> Weekly:
    fields = _fields(obj, ("intervalWeeks", "dayOfWeek"))
    return Weekly(
        interval_weeks=_required(fields, "intervalWeeks", "1 to 4"),
        day_of_week=_parse_day(_required(fields, "dayOfWeek", 'e.g. "Saturday"'), "dayOfWeek"),
    )


def _parse_absolute_monthly(obj: object) -> AbsoluteMonthly:
    fields = _fields(obj, ("intervalMonths", "dayOfMonth"))
    return AbsoluteMonthly(
        interval_months=_required(fields, "intervalMonths", "1 to 6"),
        day_of_month=_required(fields, "dayOfMonth", "1 to 31"),
    )


def _parse_relative_monthly(obj: object) -> RelativeMonthly:
    fields = _fields(obj, ("intervalMonths", "dayOfWeek", "weekIndex"))
    index = _required(fields, "weekIndex", "First, Second, Third, Fourth or Last")
    return RelativeMonthly(
        interval_months=_required(fields, "intervalMonths", "1 to 6"),
        day_of_week=_parse_day(_required(fields, "dayOfWeek", 'e.g. "Friday"'), "dayOfWeek"),
        week_index=_canonical(index, WEEK_INDEXES, "weekIndex"),
    )


_SCHEDULE_PARSERS: Final[dict[str, Callable[[object], Recurrence]]] = {
    "daily": _parse_daily,
    "weekly": _parse_weekly,
    "absoluteMonthly": _parse_absolute_monthly,
    "relativeMonthly": _parse_relative_monthly,
}


def _parse_span(obj: object) -> DateSpan:
    fields = _fields(obj, ("start", "end"))
    return DateSpan(
        start=_parse_date(_required(fields, "start", '"YYYY-MM-DD"'), "start"),
        end=_parse_date(_required(fields, "end", '"YYYY-MM-DD"'), "end"),
    )


def _parse_time_span(obj: object) -> Window | None:
    """A ``notAllowedTime`` entry; an empty span (start == end) blocks nothing."""
    fields = _fields(obj, ("start", "end"))
    start = _parse_instant(_required(fields, "start", "an ISO 8601 date-time"), "start")
    end = _parse_instant(_required(fields, "end", "an ISO 8601 date-time"), "end")
    if end < start:
        _fail(f"end ({end.isoformat()}) must not be before start ({start.isoformat()})", "end")
    return Window(start, end) if end > start else None


def _parse_time(text: object) -> time:
    match = _TIME_RE.fullmatch(text) if isinstance(text, str) else None
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        message = f'startTime must be "HH:mm" from "00:00" to "23:59", got {text!r}'
        _fail(message + _yaml_clock_hint(text), "startTime")
    return time(int(match[1]), int(match[2]))


def _optional_date(fields: Mapping[str, Any], name: str) -> date | None:
    return _parse_date(fields[name], name) if name in fields else None


def _yaml_clock_hint(value: object) -> str:
    """YAML 1.1 reads unquoted 12:30 or +10:00 as base-60 numbers (750, 600): say so."""
    if isinstance(value, int) and not isinstance(value, bool):
        return '; in YAML, quote times and offsets ("12:30", "+10:00") or they are read as numbers'
    return ""


def _parse_date(text: object, name: str) -> date:
    # YAML (policy and fleet files) reads an unquoted 2026-12-20 as a date already.
    if isinstance(text, date) and not isinstance(text, datetime):
        return text
    if isinstance(text, str) and _DATE_RE.fullmatch(text):
        # A well-formed but impossible date (2023-02-30) falls through to the message.
        with suppress(ValueError):
            return date.fromisoformat(text)
    _fail(f'{name} must be a date "YYYY-MM-DD", got {text!r}', name)


def _parse_instant(text: object, name: str) -> datetime:
    try:
        # YAML reads an unquoted timestamp as a datetime already.
        moment = datetime.fromisoformat(text) if isinstance(text, str) else text
    except ValueError:
        moment = None
    if not isinstance(moment, datetime):
        moment = None
    if moment is None or moment.utcoffset() is None:
        _fail(
            f'{name} must be an ISO 8601 date-time with a zone, e.g. "2020-11-26T03:00:00Z", '
            f"got {describe(text)}",
            name,
        )
    # 9999-12-31T23:00-02:00 has no UTC form: refused with its field, not an OverflowError.
    return utc_instant(moment, path=name)


def _parse_day(value: object, name: str) -> str:
    return _canonical(value, DAYS, name)


def _canonical(value: object, choices: tuple[str, ...], name: str) -> str:
    """The AKS spelling of an enum value, matched without regard to case."""
    lowered = {choice.lower(): choice for choice in choices}
    if isinstance(value, str) and value.lower() in lowered:
        return lowered[value.lower()]
    _fail(f"{name} must be one of {', '.join(choices)}, got {value!r}", name)


def _parse_list(value: object, name: str, parse: Callable[[object], _T]) -> tuple[_T, ...]:
    if not isinstance(value, list | tuple):
        _fail(f"{name} must be a list, got {_kind(value)}", name)
    items: list[_T] = []
    for index, item in enumerate(value):
        with _located(f"{name}[{index}]", None):
            items.append(parse(item))
    return tuple(items)


def _fields(obj: object, allowed: Sequence[str]) -> dict[str, Any]:
    """The non-null entries of a JSON object whose keys must all be in `allowed`."""
    if not isinstance(obj, Mapping):
        _fail(f"must be an object, got {_kind(obj)}", "")
    for key in obj:
        if key not in allowed:
            _fail(f"unknown field {key!r}; expected one of {', '.join(allowed)}", str(key))
    return {key: value for key, value in obj.items() if value is not None}


def _required(fields: Mapping[str, Any], name: str, hint: str) -> Any:
    if name not in fields:
        _fail(f"{name} is required ({hint})", name)
    return fields[name]


@contextmanager
def _located(prefix: str, source: str | None) -> Iterator[None]:
    """Prefix the path of an InvalidInputError raised inside, so it names the full field."""
    try:
        yield
    except InvalidInputError as error:
        raise InvalidInputError(
            error.detail,
            source=source or error.source,
            path=_join(prefix, error.path or "") or None,
        ) from None


def _join(prefix: str, name: str) -> str:
    if not prefix or not name:
        return prefix or name
    return f"{prefix}{name}" if name.startswith("[") else f"{prefix}.{name}"


def _fail(message: str, path: str, source: str | None = None) -> NoReturn:
    raise InvalidInputError(message, source=source, path=path or None)


def _kind(value: object) -> str:
    """A JSON-ish name for what was found instead, for error messages."""
    names = {"dict": "an object", "list": "a list", "str": "a string", "NoneType": "null"}
    return names.get(type(value).__name__, type(value).__name__)


def to_arm(schedule: Schedule) -> dict[str, Any]:
    """The configuration's ARM `properties`; :func:`parse_maintenance_configuration` reads them.

    Snapshots of observed clusters are stored as fleet documents, so every
    schedule must survive the trip unchanged.
    """
    if isinstance(schedule, MaintenanceWindow):
        properties: dict[str, Any] = {"maintenanceWindow": _window_to_arm(schedule)}
        if schedule.unusable is not None:
            properties[UNUSABLE_KEY] = schedule.unusable
        if schedule.not_allowed_time:
            spans = [_span_to_arm(span) for span in schedule.not_allowed_time]
            properties["notAllowedTime"] = spans
        return properties
    if isinstance(schedule, TimeInWeekSchedule):
        return {
            "timeInWeek": [
                {"day": entry.day, "hourSlots": list(entry.hour_slots)}
                for entry in schedule.time_in_week
            ],
            "notAllowedTime": [_span_to_arm(span) for span in schedule.not_allowed_time],
        }
    raise TypeError(f"not a known schedule: {type(schedule).__name__}")


def _window_to_arm(window: MaintenanceWindow) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schedule": _recurrence_to_arm(window.schedule),
        "durationHours": window.duration_hours,
        "utcOffset": _format_offset(window.utc_offset),
        "startTime": window.start_time.strftime("%H:%M"),
    }
    if window.start_date is not None:
        body["startDate"] = window.start_date.isoformat()
    if window.not_allowed_dates:
        body["notAllowedDates"] = [
            {"start": span.start.isoformat(), "end": span.end.isoformat()}
            for span in window.not_allowed_dates
        ]
    return body


def _recurrence_to_arm(recurrence: Recurrence) -> dict[str, Any]:
    if isinstance(recurrence, Daily):
        return {"daily": {"intervalDays": recurrence.interval_days}}
    if isinstance(recurrence, Weekly):
        return {
            "weekly": {
                "intervalWeeks": recurrence.interval_weeks,
                "dayOfWeek": recurrence.day_of_week,
            }
        }
    if isinstance(recurrence, AbsoluteMonthly):
        return {
            "absoluteMonthly": {
                "intervalMonths": recurrence.interval_months,
                "dayOfMonth": recurrence.day_of_month,
            }
        }
    return {
        "relativeMonthly": {
            "intervalMonths": recurrence.interval_months,
            "weekIndex": recurrence.week_index,
            "dayOfWeek": recurrence.day_of_week,
        }
    }


def _span_to_arm(span: Window) -> dict[str, str]:
    return {
        "start": span.start.isoformat().replace("+00:00", "Z"),
        "end": span.end.isoformat().replace("+00:00", "Z"),
    }

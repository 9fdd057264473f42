"""AKS maintenance schedules as values: when may an upgrade start?

Why a module of its own: a cluster's AKS maintenance configuration (or the
policy's ``default_window``, which has the same shape) is a recurrence with
AKS's own rules for days, offsets and anchors, and those rules are what this
module holds, as frozen, hashable values validated in their constructors. They
answer two questions for any instant: is it inside an allowed window, and when
do the next windows open. The interval work is in
:mod:`patchpilot.domain.windows`; reading and writing AKS's JSON is in
:mod:`patchpilot.domain.maintenance_config`. The planner calls
:meth:`Schedule.iter_windows` for every pool (memoised per schedule and
instant), and ``patchpilot windows`` prints what it returns. It is pure: no I/O
and no clock; every instant is a parameter, timezone-aware, and everything
inside is UTC.

Two forms exist, both modelled here:

- :class:`MaintenanceWindow`, the ``maintenanceWindow`` object used by
  ``aksManagedAutoUpgradeSchedule``, ``aksManagedNodeOSUpgradeSchedule`` and
  (from API 2023-05-01) ``default``.
- :class:`TimeInWeekSchedule`, the older ``default`` form: ``timeInWeek`` hour
  slots in UTC and ``notAllowedTime`` spans.

Each AKS rule is written above the class that applies it, citing its source:

[REST] ``MaintenanceWindow`` and friends in the ContainerService REST spec
(azure-rest-api-specs, ``aks/stable/2025-10-01/managedClusters.json``; the same
text is in the Bicep/ARM template reference for
``Microsoft.ContainerService/managedClusters/maintenanceConfigurations``).
[DOC] "Use planned maintenance to schedule and control upgrades for your Azure
Kubernetes Service cluster" (learn.microsoft.com/azure/aks/planned-maintenance,
MicrosoftDocs/azure-aks-docs ``articles/aks/planned-maintenance.md``).
[CLI] ``az aks maintenanceconfiguration add --help`` (azure-cli ``acs/_help.py``).

Reactive maintenance may ignore all of this [DOC]; that is AKS's business, not
the planner's.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Final, Protocol, TypeAlias, runtime_checkable

from patchpilot.domain.fields import json_kind
from patchpilot.domain.windows import Window, WindowQueries, allowed_windows, as_utc, merge
from patchpilot.errors import InvalidInputError

__all__ = [
    "DAYS",
    "DEFAULT_DURATION_HOURS",
    "MAX_UTC_OFFSET",
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
    "format_utc_offset",
    "unusable_reason",
]

# The REST spec's default for an omitted durationHours.
DEFAULT_DURATION_HOURS: Final = 24
# AKS day names; index 0 is Sunday because AKS weeks start on Sunday (see Weekly).
DAYS: Final = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
WEEK_INDEXES: Final = ("First", "Second", "Third", "Fourth", "Last")
# No zone is further from UTC (see MaintenanceWindow).
MAX_UTC_OFFSET: Final = timedelta(hours=14)
# Not an ARM field: stored snapshots (fleet documents) carry an observed
# configuration's `unusable` reason under it, so it reads back unusable.
UNUSABLE_KEY: Final = "patchpilotUnusable"

_HOURS_IN_WEEK: Final = 7 * 24
_WEEK: Final = timedelta(weeks=1)
_NO_OFFSET: Final = timedelta(0)
# Interval 1 repeats every period, so any anchor gives the same dates; a fixed
# one (a Sunday) keeps the answer independent of the instant asked about.
_ANY_ANCHOR: Final = date(2000, 1, 2)


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

        Set only for a configuration observed through ARM (see
        :class:`MaintenanceWindow`); a person can act on the text ("set startDate").
        """
        ...

    def __hash__(self) -> int:
        """Schedules are values: callers memoise on (schedule, instant)."""
        ...


# --------------------------------------------------------------------------- recurrences

# Ranges [REST]: intervalDays 1-7, intervalWeeks 1-4, intervalMonths 1-6,
# dayOfMonth 1-31; weekIndex First, Second, Third, Fourth, Last; "All of the
# fields shown for each schedule type are required" [DOC].
#
# intervalDays anchoring is not documented; we apply the rule AKS follows for
# intervalWeeks (see Weekly): the day holding startDate is period 0, and
# occurrences repeat every interval_days days from it.


@dataclass(frozen=True)
class Daily:
    """``schedule.daily``: every `interval_days` days."""

    interval_days: int

    def __post_init__(self) -> None:
        _check_int(self.interval_days, 1, 7, "intervalDays")

    def next_date(self, earliest: date, anchor: date) -> date:
        """The first occurrence on or after `earliest`, counting from `anchor`."""
        return _next_in_step(earliest, anchor, self.interval_days)


# intervalWeeks anchoring is not in the docs; Azure/AKS#5720 reports what AKS
# does: the cadence is fixed from the calendar week that holds startDate, and
# if dayOfWeek falls before startDate in that week that occurrence is skipped
# (every 2 weeks on Sunday from Tuesday 2026-04-14 first opens 2026-04-26, not
# 2026-04-19). That only holds with weeks starting on Sunday, so weeks here
# start on Sunday.


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


# intervalMonths anchoring is not documented; as for intervalWeeks (Weekly),
# the month holding startDate is period 0.
#
# dayOfMonth 29-31 in a month without that day is not documented. We skip that
# month (no window) rather than move it to the month's last day: being wrong
# that way only delays an upgrade, never starts one outside a window AKS would
# honour. dayOfMonth: 31 thus opens in 7 months of 12, and 29 opens in
# February only in leap years (2028-02-29).


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


# weekIndex is the n-th *occurrence* of dayOfWeek in the month, not the n-th
# calendar week (hashicorp/terraform-provider-azurerm#23979, where AKS's
# behaviour surprised users); Last is the last occurrence, so in a month with
# four Fridays "Fourth" and "Last" are the same day. Months are anchored as
# for AbsoluteMonthly.


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


# Why an interval > 1 without startDate is never guessed (see MaintenanceWindow):
# AKS's docs give startDate the default "The current date at creation time", and
# recorded ARM traffic shows a PUT without startDate coming back with
# "startDate": "2023-07-25" (the PUT's day) where the configuration held
# "2123-01-01" before. AKS always stores an anchor; when one is missing here,
# only the writer knows which day it was.
def _needs_anchor(recurrence: Recurrence, start_date: date | None) -> bool:
    """An interval > 1 without startDate: its phase is unknown."""
    return start_date is None and _interval_of(recurrence)[1] > 1


def _no_anchor(recurrence: Recurrence) -> str:
    """What is wrong, in the words of the configuration's own fields."""
    name, interval = _interval_of(recurrence)
    return f"{name} {interval} without startDate has no anchor"


def unusable_reason(
    recurrence: Recurrence, start_date: date | None, observed_as: str | None
) -> str | None:
    """For an observed window without an anchor, the reason and what to do about it.

    `observed_as` names the configuration read from ARM; None (a file) gives None,
    since the constructor refuses such a window instead.
    """
    if observed_as is None or not _needs_anchor(recurrence, start_date):
        return None
    return (
        f"{observed_as}: {_no_anchor(recurrence)}, so when AKS opens it is unknown; set "
        f"startDate (az aks maintenanceconfiguration update --name {observed_as} ... "
        "--start-date YYYY-MM-DD)"
    )


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

# notAllowedDates: "'utcOffset' applies to this field. For example, with
# 'utcOffset: +02:00' and 'dateSpan' being '2022-12-23' to '2023-01-03',
# maintenance will be blocked from '2022-12-22 22:00' to '2023-01-03 22:00' in
# UTC time" [REST]: local midnight of start to local midnight after end. A
# window partly covered keeps its allowed pieces (AKS only *starts* work inside
# a window, [DOC] FAQ), one wholly covered disappears.


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


# durationHours: 4 to 24 [REST min/max]. It is in the REST `required` list, but
# the spec also gives "default": 24, so an omitted value is 24.
#
# utcOffset: pattern ^(-|\+)[0-9]{2}:[0-9]{2}$, "If not specified, the default
# is '+00:00'" [REST]. We also refuse minutes >= 60 and offsets beyond
# +/-14:00, which no zone has.
#
# startTime: ^\d{2}:\d{2}$, "Accepted values are from '00:00' to '23:59'.
# 'utcOffset' applies to this field. For example: '02:00' with 'utcOffset:
# +02:00' means UTC time '00:00'" [REST]. So with +05:30 a 02:00 start is
# 20:30Z the previous day, and with -08:00 a 20:00 start is 04:00Z the next
# day. The day of week / day of month is the *local* day too.
#
# startDate: "The date the maintenance window activates. If the current date is
# before this date, the maintenance window is inactive" [REST]; its default is
# "The current date at creation time" [DOC, table of properties]. Occurrences
# whose local date is before startDate are dropped.
#
# With no startDate an interval > 1 has no phase we can know, so it is never
# guessed. What AKS does, from three sources: the docs' property table gives
# startDate the default "The current date at creation time" [DOC]; the
# recorded ARM traffic (azure-cli `test_aks_maintenancewindow`, real ARM,
# 2023-07-25, in /work/shared/fixtures/arm-recordings) shows a PUT whose
# maintenanceWindow has no startDate answered, and read back by a GET, with
# "startDate": "2023-07-25", the day of the PUT, where the list just before
# held "startDate": "2123-01-01" for the same configuration. So AKS fills
# startDate in and a GET returns it, and a later PUT without one moves it to
# that PUT's day: neither the creation time (systemData) nor anything else in
# the resource is the anchor. The SDK reference (@azure/arm-containerservice
# MaintenanceWindowResourceProperties) only says "If not specified, the
# maintenance window will be active right away", nothing about the phase.
# Hence: a policy default_window or a fleet-file configuration with an interval
# > 1 and no startDate is refused (path ...startDate), and one observed through
# ARM (observed=True) becomes a MaintenanceWindow whose `unusable` names the
# reason and which opens no window, so the planner blocks that kind until
# someone sets startDate. Interval 1 needs no anchor (every phase is the same).
# Anchoring on the `after` instant, as this module once did, made "every 2
# weeks" open every week for a caller asking each week.


@dataclass(frozen=True)
class MaintenanceWindow(WindowQueries):
    """The ``maintenanceWindow`` form, validated; hashable so callers can cache on it.

    `not_allowed_time` carries ``notAllowedTime`` spans found beside the window
    in the same configuration: AKS documents them for the older form only, but
    a freeze someone wrote down is honoured rather than ignored.

    `unusable`, when set, says why the configuration AKS holds cannot be
    read safely; such a window opens nothing. Only the observed path sets it
    (``parse_maintenance_configuration`` with ``observed=True``): an
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
        object.__setattr__(self, "_blocked", merge([*spans, *self.not_allowed_time]))

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
        after = as_utc(after, "after")
        if self.unusable is not None:
            return iter(())
        anchor = self.start_date or _ANY_ANCHOR
        return allowed_windows(
            lambda t: self._occurrence_ending_after(t, anchor), self._blocked, after
        )

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

# timeInWeek: "Each integer hour represents a time range beginning at 0m after
# the hour ending at the next hour (non-inclusive). 0 corresponds to 00:00 UTC
# ... Specifying [0, 1] means the 00:00 - 02:00 UTC time range"; "If two array
# entries specify the same day of the week, the applied configuration is the
# union of times in both entries" [REST]. Adjacent slots merge into one window,
# across midnight and across the end of the week (TimeInWeekSchedule).


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


# notAllowedTime spans are UTC date-times [REST].


@dataclass(frozen=True)
class TimeInWeekSchedule(WindowQueries):
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
        object.__setattr__(self, "_blocked", merge(self.not_allowed_time))

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
        return allowed_windows(self._occurrence_ending_after, self._blocked, as_utc(after, "after"))

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
                f"unusable must be a reason (text), got {json_kind(unusable)}", path=UNUSABLE_KEY
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
    if abs(offset) > MAX_UTC_OFFSET:
        raise InvalidInputError(
            f"utcOffset must be between -14:00 and +14:00, got {format_utc_offset(offset)}",
            path="utcOffset",
        )


def format_utc_offset(offset: timedelta) -> str:
    """``utcOffset`` as AKS writes it: "+05:30", "-08:00"."""
    minutes = int(abs(offset).total_seconds()) // 60
    return f"{'-' if offset < timedelta(0) else '+'}{minutes // 60:02d}:{minutes % 60:02d}"

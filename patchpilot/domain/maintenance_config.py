"""AKS's ``maintenanceConfiguration`` JSON, read into schedules and written back.

Why a module of its own: the JSON comes in the shapes people have (what ARM
returns, what ``az aks maintenanceconfiguration show`` prints, a bare
``maintenanceWindow``, the policy's ``default_window``, a fleet file's
configurations, a stored snapshot) and every one of them must be refused at
the exact field that is wrong, while the values it produces
(:mod:`patchpilot.domain.schedule`) know nothing of JSON. The observer of ARM,
the fleet and policy readers, the snapshot store and the manual-run API call
:func:`parse_maintenance_configuration` or :func:`parse_maintenance_window`;
the fleet documents call :func:`to_arm` to store what was observed.

It reads on the domain's :class:`~patchpilot.domain.fields.Fields`, like every
other reader, so errors carry the file and the full field path
(``properties.maintenanceWindow.schedule.weekly.dayOfWeek``) the same way, and
a value's own validation (``durationHours must be between 4 and 24``) is
located through :meth:`Fields.build`. The message text is this module's own
and unchanged ("intervalDays is required (1 to 7)", "unknown field 'every';
expected one of ..."): users and tests read it, and the generic Fields wording
("is required") says less.

The same parsers read the policy's ``default_window`` and the fleet file's
configurations from YAML, so dates and timestamps YAML has already turned into
``date``/``datetime`` are taken as they are, and a time or offset YAML read as
a base-60 number (unquoted ``12:30`` is 750) gets an error that says to quote it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import Any, Final, TypeVar

from patchpilot.domain.fields import Fields, describe, json_kind
from patchpilot.domain.instants import utc_instant
from patchpilot.domain.schedule import (
    DAYS,
    DEFAULT_DURATION_HOURS,
    MAX_UTC_OFFSET,
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
    format_utc_offset,
    unusable_reason,
)
from patchpilot.domain.windows import Window
from patchpilot.errors import InvalidInputError

__all__ = [
    "parse_maintenance_configuration",
    "parse_maintenance_window",
    "parse_utc_offset",
    "to_arm",
]

_OFFSET_RE: Final = re.compile(r"([+-])([0-9]{2}):([0-9]{2})")
_TIME_RE: Final = re.compile(r"([0-9]{2}):([0-9]{2})")
_DATE_RE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_WINDOW_KEYS: Final = (
    "schedule",
    "durationHours",
    "utcOffset",
    "startDate",
    "startTime",
    "notAllowedDates",
)
_SPAN_KEYS: Final = ("start", "end")
_T = TypeVar("_T")


# --------------------------------------------------------------------------- reading


def parse_utc_offset(text: str, *, source: str | None = None, path: str = "utcOffset") -> timedelta:
    """Read a ``utcOffset`` such as "+05:30" or "-08:00" (AKS: ``^(-|\\+)[0-9]{2}:[0-9]{2}$``)."""
    where = {"source": source, "path": path or None}
    match = _OFFSET_RE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        message = f'utcOffset must look like "+05:30" or "-08:00", got {text!r}'
        raise InvalidInputError(message + _yaml_clock_hint(text), **where)
    sign, hours, minutes = match.groups()
    if int(minutes) >= 60:
        raise InvalidInputError(f"utcOffset minutes must be below 60, got {text!r}", **where)
    offset = timedelta(hours=int(hours), minutes=int(minutes)) * (-1 if sign == "-" else 1)
    if abs(offset) > MAX_UTC_OFFSET:
        raise InvalidInputError(
            f"utcOffset must be between -14:00 and +14:00, got {text!r}", **where
        )
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
    with `unusable` set and opens nothing (see MaintenanceWindow's notes).
    """
    return _parse_window(obj, source, path, "maintenanceWindow" if observed else None)


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
        raise InvalidInputError(
            f"a maintenance configuration must be a JSON object, got {json_kind(obj)}",
            source=source,
        )
    properties = _properties(obj, source)
    if properties.has("maintenanceWindow"):
        name = obj.get("name")
        label = name if isinstance(name, str) and name else "maintenanceWindow"
        return _window_with_times(properties, label if observed else None)
    if properties.has("maintenanceWindowId"):
        raise properties.error(
            "maintenanceWindowId",
            "maintenanceWindowId points to a shared MaintenanceWindow resource; "
            "read that resource and pass its properties instead",
        )
    if properties.has("timeInWeek") or properties.has("notAllowedTime"):
        return _parse_time_in_week(properties)
    # Unwrapped (no ARM `properties`) and no known form: a bare maintenanceWindow.
    if properties.data is obj and "schedule" in obj:
        return parse_maintenance_window(obj, source=source, path="", observed=observed)
    raise properties.error(
        None,
        "found no maintenanceWindow, timeInWeek or schedule: pass the JSON ARM returns, "
        "the output of `az aks maintenanceconfiguration show`, or a maintenanceWindow object",
    )


def _properties(obj: Mapping[str, Any], source: str | None) -> Fields:
    """ARM's ``properties`` when the configuration is wrapped in them, else the object itself."""
    wrapped = obj.get("properties")
    if isinstance(wrapped, Mapping):
        return Fields(wrapped, source, "properties")
    return Fields(obj, source)


def _window_with_times(properties: Fields, observed_as: str | None) -> MaintenanceWindow:
    stored = properties.data.get(UNUSABLE_KEY)
    if stored is not None and (not isinstance(stored, str) or not stored.strip()):
        raise properties.error(
            UNUSABLE_KEY, f"{UNUSABLE_KEY} must be a reason (text), got {json_kind(stored)}"
        )
    window = _parse_window(
        properties.data["maintenanceWindow"],
        properties.source,
        properties.at("maintenanceWindow"),
        observed_as or ("maintenanceWindow" if stored else None),
    )
    blocked = _time_spans(properties)
    return replace(window, not_allowed_time=blocked, unusable=stored or window.unusable)


def _parse_window(
    obj: object, source: str | None, path: str, observed_as: str | None
) -> MaintenanceWindow:
    """`parse_maintenance_window`; `observed_as` names the configuration when observed."""
    window = _object(obj, _WINDOW_KEYS, source, path)
    offset = parse_utc_offset(
        window.raw("utcOffset", "+00:00"), source=source, path=window.at("utcOffset")
    )
    schedule = _parse_schedule(window)
    start_date = _date(window, "startDate") if window.has("startDate") else None
    return window.build(
        MaintenanceWindow,
        schedule=schedule,
        start_time=_parse_time(window),
        duration_hours=window.raw("durationHours", DEFAULT_DURATION_HOURS),
        utc_offset=offset,
        start_date=start_date,
        not_allowed_dates=_listed(window, "notAllowedDates", _SPAN_KEYS, _parse_span),
        unusable=unusable_reason(schedule, start_date, observed_as),
    )


def _parse_time_in_week(properties: Fields) -> TimeInWeekSchedule:
    if not properties.data.get("timeInWeek"):
        raise properties.error("timeInWeek", "timeInWeek must list at least one day with hourSlots")
    return TimeInWeekSchedule(
        time_in_week=_listed(
            properties, "timeInWeek", ("day", "hourSlots", "hour_slots"), _parse_time_in_week_entry
        ),
        not_allowed_time=_time_spans(properties),
    )


def _time_spans(properties: Fields) -> tuple[Window, ...]:
    """The ``notAllowedTime`` spans beside either form; empty ones block nothing."""
    spans = _listed(properties, "notAllowedTime", _SPAN_KEYS, _parse_time_span)
    return tuple(span for span in spans if span is not None)


# The AKS docs' own config-file examples spell hourSlots ``hour_slots``, so that
# spelling is accepted too (the REST spec and ARM say hourSlots).
def _parse_time_in_week_entry(entry: Fields) -> TimeInWeek:
    if entry.has("hourSlots") and entry.has("hour_slots"):
        raise entry.error("hour_slots", "give hourSlots or hour_slots, not both")
    name = "hourSlots" if not entry.has("hour_slots") else "hour_slots"
    slots = _required(entry, name, "e.g. [1, 2] for 01:00-03:00 UTC")
    if not isinstance(slots, list | tuple):
        raise entry.error(name, f"{name} must be a list of hours 0-23, got {json_kind(slots)}")
    return entry.build(
        TimeInWeek,
        day=_day(entry, "day", 'e.g. "Monday"'),
        hour_slots=tuple(slots),
    )


_SCHEDULE_KINDS: Final = ("daily", "weekly", "absoluteMonthly", "relativeMonthly")


def _parse_schedule(window: Fields) -> Recurrence:
    body = _required(window, "schedule", 'e.g. {"weekly": {...}}')
    schedule = _object(body, _SCHEDULE_KINDS, window.source, window.at("schedule"))
    if len(schedule.data) != 1:
        given = ", ".join(schedule.data) or "none"
        raise schedule.error(
            None, f"exactly one of {', '.join(_SCHEDULE_KINDS)} must be set, got {given}"
        )
    ((kind, value),) = schedule.data.items()
    allowed, parse = _SCHEDULE_PARSERS[kind]
    return parse(_object(value, allowed, schedule.source, schedule.at(kind)))


def _parse_daily(body: Fields) -> Daily:
    return body.build(Daily, interval_days=_required(body, "intervalDays", "1 to 7"))


def _parse_weekly(body: Fields) -> Weekly:
    return body.build(
        Weekly,
        interval_weeks=_required(body, "intervalWeeks", "1 to 4"),
        day_of_week=_day(body, "dayOfWeek", 'e.g. "Saturday"'),
    )


def _parse_absolute_monthly(body: Fields) -> AbsoluteMonthly:
    return body.build(
        AbsoluteMonthly,
        interval_months=_required(body, "intervalMonths", "1 to 6"),
        day_of_month=_required(body, "dayOfMonth", "1 to 31"),
    )


def _parse_relative_monthly(body: Fields) -> RelativeMonthly:
    index = _required(body, "weekIndex", "First, Second, Third, Fourth or Last")
    return body.build(
        RelativeMonthly,
        interval_months=_required(body, "intervalMonths", "1 to 6"),
        day_of_week=_day(body, "dayOfWeek", 'e.g. "Friday"'),
        week_index=_canonical(body, "weekIndex", index, WEEK_INDEXES),
    )


# Each kind's fields, and the parser that reads them.
_SCHEDULE_PARSERS: Final[dict[str, tuple[tuple[str, ...], Callable[[Fields], Recurrence]]]] = {
    "daily": (("intervalDays",), _parse_daily),
    "weekly": (("intervalWeeks", "dayOfWeek"), _parse_weekly),
    "absoluteMonthly": (("intervalMonths", "dayOfMonth"), _parse_absolute_monthly),
    "relativeMonthly": (("intervalMonths", "dayOfWeek", "weekIndex"), _parse_relative_monthly),
}


def _parse_span(span: Fields) -> DateSpan:
    return span.build(
        DateSpan,
        start=_date(span, "start", '"YYYY-MM-DD"'),
        end=_date(span, "end", '"YYYY-MM-DD"'),
    )


def _parse_time_span(span: Fields) -> Window | None:
    """A ``notAllowedTime`` entry; an empty span (start == end) blocks nothing."""
    start = _instant(span, "start")
    end = _instant(span, "end")
    if end < start:
        raise span.error(
            "end", f"end ({end.isoformat()}) must not be before start ({start.isoformat()})"
        )
    return Window(start, end) if end > start else None


def _parse_time(window: Fields) -> time:
    text = _required(window, "startTime", 'e.g. "02:00"')
    match = _TIME_RE.fullmatch(text) if isinstance(text, str) else None
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        message = f'startTime must be "HH:mm" from "00:00" to "23:59", got {text!r}'
        raise window.error("startTime", message + _yaml_clock_hint(text))
    return time(int(match[1]), int(match[2]))


def _yaml_clock_hint(value: object) -> str:
    """YAML 1.1 reads unquoted 12:30 or +10:00 as base-60 numbers (750, 600): say so."""
    if isinstance(value, int) and not isinstance(value, bool):
        return '; in YAML, quote times and offsets ("12:30", "+10:00") or they are read as numbers'
    return ""


def _date(fields: Fields, name: str, hint: str | None = None) -> date:
    """A date field; `hint` makes it required (else the caller has checked it is there)."""
    text = fields.data[name] if hint is None else _required(fields, name, hint)
    # YAML (policy and fleet files) reads an unquoted 2026-12-20 as a date already.
    if isinstance(text, date) and not isinstance(text, datetime):
        return text
    if isinstance(text, str) and _DATE_RE.fullmatch(text):
        # A well-formed but impossible date (2023-02-30) falls through to the message.
        with suppress(ValueError):
            return date.fromisoformat(text)
    raise fields.error(name, f'{name} must be a date "YYYY-MM-DD", got {text!r}')


def _instant(fields: Fields, name: str) -> datetime:
    text = _required(fields, name, "an ISO 8601 date-time")
    try:
        # YAML reads an unquoted timestamp as a datetime already.
        moment = datetime.fromisoformat(text) if isinstance(text, str) else text
    except ValueError:
        moment = None
    if not isinstance(moment, datetime):
        moment = None
    if moment is None or moment.utcoffset() is None:
        raise fields.error(
            name,
            f'{name} must be an ISO 8601 date-time with a zone, e.g. "2020-11-26T03:00:00Z", '
            f"got {describe(text)}",
        )
    # 9999-12-31T23:00-02:00 has no UTC form: refused with its field, not an OverflowError.
    return utc_instant(moment, source=fields.source, path=fields.at(name))


def _day(fields: Fields, name: str, hint: str) -> str:
    return _canonical(fields, name, _required(fields, name, hint), DAYS)


def _canonical(fields: Fields, name: str, value: object, choices: tuple[str, ...]) -> str:
    """The AKS spelling of an enum value, matched without regard to case."""
    lowered = {choice.lower(): choice for choice in choices}
    if isinstance(value, str) and value.lower() in lowered:
        return lowered[value.lower()]
    raise fields.error(name, f"{name} must be one of {', '.join(choices)}, got {value!r}")


def _listed(
    fields: Fields, name: str, allowed: Sequence[str], parse: Callable[[Fields], _T]
) -> tuple[_T, ...]:
    """Each object of a list field, parsed; an absent (or null) list is empty."""
    return tuple(parse(entry) for entry in _entries(fields, name, allowed))


def _entries(fields: Fields, name: str, allowed: Sequence[str]) -> Iterator[Fields]:
    value = fields.data.get(name)
    if value is None:
        return
    if not isinstance(value, list | tuple):
        raise fields.error(name, f"{name} must be a list, got {json_kind(value)}")
    for index, item in enumerate(value):
        yield _object(item, allowed, fields.source, f"{fields.at(name)}[{index}]")


def _object(value: object, allowed: Sequence[str], source: str | None, path: str) -> Fields:
    """A JSON object whose keys must all be in `allowed`, its null entries dropped."""
    if not isinstance(value, Mapping):
        raise InvalidInputError(
            f"must be an object, got {json_kind(value)}", source=source, path=path or None
        )
    here = Fields({key: item for key, item in value.items() if item is not None}, source, path)
    for key in value:
        if key not in allowed:
            # Located like a value's own error, so a key such as "[0]" sits where it did.
            unknown = f"unknown field {key!r}; expected one of {', '.join(allowed)}"
            raise here.located(InvalidInputError(unknown, path=str(key)))
    return here


def _required(fields: Fields, name: str, hint: str) -> Any:
    if not fields.has(name):
        raise fields.error(name, f"{name} is required ({hint})")
    return fields.data[name]


# --------------------------------------------------------------------------- writing


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
        "utcOffset": format_utc_offset(window.utc_offset),
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

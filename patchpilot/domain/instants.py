"""Instants from outside, parsed to aware UTC inside the range Patch Pilot computes in.

Every instant that arrives as text (CLI options, query strings, HTTP bodies,
Event Grid `eventTime`, a queue message's `requested_at`, an alert's
timestamps) goes through :func:`parse_instant`; one already parsed elsewhere
(a YAML timestamp) goes through :func:`utc_instant`. Both refuse, with an
:class:`~patchpilot.errors.InvalidInputError` naming the field, any instant
outside [:data:`EARLIEST`, :data:`LATEST`).

Why a range and not just "representable": `datetime` stops at year 9999, so
`9999-12-31T23:00-02:00` overflows when converted to UTC, and an instant that
converts but sits near the end overflows later, when the planner looks a year
or a schedule ten years ahead of it. 1970 to 9000 holds every window, pause
and event anyone means, with a thousand years of room for that arithmetic.

Accepted: ISO 8601 with `Z` or an offset (`2026-12-05T03:00Z`,
`2026-12-05T03:00:00+01:00`), a date alone (midnight UTC), and a time without
zone, which is read as UTC, never as the machine's local time.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from patchpilot.errors import InvalidInputError

EARLIEST: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST: Final = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)
_EXCERPT: Final = 40


def parse_instant(text: str, *, path: str | None = None, source: str | None = None) -> dt.datetime:
    """Parse an instant; one that is not a time, or is out of range, is an input error at `path`."""
    cleaned = text.strip()
    moment = _read(cleaned)
    if moment is None:
        raise InvalidInputError(
            f"{_excerpt(cleaned)} is not a time; use ISO 8601 such as 2026-12-05T03:00Z",
            source=source,
            path=path,
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return utc_instant(moment, path=path, source=source)


def utc_instant(
    moment: dt.datetime, *, path: str | None = None, source: str | None = None
) -> dt.datetime:
    """An aware instant in UTC, refused when it has no zone or lies outside the range.

    The range is checked before converting: comparing aware datetimes never
    overflows, `astimezone` can.
    """
    if moment.utcoffset() is None:
        raise InvalidInputError("must have a time zone (Z or an offset)", source=source, path=path)
    if not EARLIEST <= moment < LATEST:
        raise InvalidInputError(
            f"must be between {_iso(EARLIEST)} and {_iso(LATEST)}, "
            f"got {_excerpt(moment.isoformat())}",
            source=source,
            path=path,
        )
    return moment.astimezone(dt.UTC)


def _read(text: str) -> dt.datetime | None:
    """The instant the text spells (a date alone is midnight UTC), or None."""
    try:
        if len(text) == 10:
            return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), dt.UTC)
        return dt.datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _excerpt(text: str) -> str:
    """A short quoted excerpt: an error message never carries a hostile caller's whole input."""
    return repr(text if len(text) <= _EXCERPT else text[:_EXCERPT] + "...")

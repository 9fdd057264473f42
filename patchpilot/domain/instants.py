"""Instants given by people (CLI options, query strings), parsed to aware UTC.

Accepted: ISO 8601 with `Z` or an offset (`2026-12-05T03:00Z`,
`2026-12-05T03:00:00+01:00`), a date alone (midnight UTC), and a time without
zone, which is read as UTC, never as the machine's local time.
"""

from __future__ import annotations

import datetime as dt

from patchpilot.errors import InvalidInputError


def parse_instant(text: str, *, path: str | None = None) -> dt.datetime:
    """Parse an instant; a value that is not one is an input error naming `path`."""
    cleaned = text.strip()
    try:
        if len(cleaned) == 10:
            day = dt.date.fromisoformat(cleaned)
            return dt.datetime.combine(day, dt.time(), dt.UTC)
        moment = dt.datetime.fromisoformat(cleaned.replace("z", "Z"))
    except ValueError as exc:
        raise InvalidInputError(
            f"{text!r} is not a time; use ISO 8601 such as 2026-12-05T03:00Z", path=path
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)

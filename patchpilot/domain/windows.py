"""Allowed windows as intervals: the algebra and the search every schedule shares.

Why a module of its own: a :class:`Window` is a plain UTC interval, and what is
done with windows (merging spans, cutting blackouts out of them, walking
occurrences forward to the next opening, asking which window holds an instant)
knows nothing about AKS's JSON or its recurrences. The schedule values in
:mod:`patchpilot.domain.schedule` produce occurrences and hand them to
:func:`allowed_windows`; the planner subtracts fleet-wide freezes with
:func:`subtract`; the demo and the aks-maintenance reader build Windows. It is
pure: no I/O and no clock; every instant is a parameter, timezone-aware, and
everything inside is UTC.
"""

from __future__ import annotations

import bisect
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Final

from patchpilot.domain.fields import describe
from patchpilot.errors import InvalidInputError

__all__ = [
    "HORIZON",
    "Window",
    "WindowQueries",
    "allowed_windows",
    "as_utc",
    "merge",
    "subtract",
]

# How far allowed_windows looks ahead: a schedule that never opens must still end.
HORIZON: Final = timedelta(days=3653)


@dataclass(frozen=True, order=True)
class Window:
    """An allowed interval [start, end), UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        start, end = as_utc(self.start, "window start"), as_utc(self.end, "window end")
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
        return self.start <= as_utc(t, "t") < self.end


def as_utc(moment: datetime, name: str) -> datetime:
    """`moment` in UTC; naive datetimes are refused, never read as local time."""
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise InvalidInputError(
            f"{name} must be a timezone-aware datetime, got {describe(moment)}", path=name
        )
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise InvalidInputError(f"{name} has no UTC form: {describe(moment)}", path=name) from None


# --------------------------------------------------------------------------- algebra


def subtract(window: Window, blocked: Sequence[Window]) -> list[Window]:
    """The pieces of `window` not covered by any blocked interval, in order.

    The planner uses it for fleet-wide freezes; `blocked` may be unsorted and
    overlapping.
    """
    return _cut(window, merge(blocked))


def merge(spans: Iterable[Window]) -> tuple[Window, ...]:
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


# --------------------------------------------------------------------------- search


def allowed_windows(
    next_occurrence: Callable[[datetime], Window | None],
    blocked: tuple[Window, ...],
    after: datetime,
) -> Iterator[Window]:
    """Occurrences ending after `after`, minus the blocked spans, up to HORIZON.

    `next_occurrence(t)` returns the first occurrence that ends after `t`;
    occurrences never overlap, so each step costs one computation, not a scan.
    `blocked` must come from :func:`merge`.
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


class WindowQueries(ABC):
    """The Schedule queries every form answers the same way from iter_windows.

    The forms in :mod:`patchpilot.domain.schedule` implement only
    ``iter_windows``; the rest of the ``Schedule`` protocol comes from here.
    """

    @abstractmethod
    def iter_windows(self, after: datetime) -> Iterator[Window]:
        """See ``Schedule.iter_windows``."""

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

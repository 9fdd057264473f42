"""Where the simulator reads the time: the real clock, or one a test moves by hand.

The simulated AKS evaluates every upgrade lazily from ``clock.now()``, so a
:class:`VirtualClock` lets a test jump hours ahead without waiting, and a
:class:`ShiftedClock` lets a demo replay a past date at real (or faster) speed.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Protocol

from patchpilot.errors import InvalidInputError


class Clock(Protocol):
    """Anything that can say what time it is, as an aware UTC datetime."""

    def now(self) -> dt.datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class RealClock:
    """The machine's clock, in UTC."""

    def now(self) -> dt.datetime:
        """The current instant."""
        return dt.datetime.now(dt.UTC)


class VirtualClock:
    """A clock that only moves when told to, and never backwards.

    Thread-safe: the simulator's request threads read it while a test moves it.
    """

    def __init__(self, start: dt.datetime) -> None:
        self._now = _aware(start, "start")
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        """The instant the clock was last set to."""
        with self._lock:
            return self._now

    def advance(self, delta: dt.timedelta) -> None:
        """Move forward by ``delta`` (zero is allowed; negative is refused)."""
        if delta < dt.timedelta(0):
            raise InvalidInputError(f"a virtual clock never goes backwards; got advance({delta})")
        with self._lock:
            self._now += delta

    def advance_to(self, moment: dt.datetime) -> dt.datetime:
        """Move to ``moment`` unless the clock is already past it; returns the instant now.

        For a caller that planned its next stop while others (a retry's sleep,
        a slow answer on another thread) may have moved the clock on.
        """
        moment = _aware(moment, "moment")
        with self._lock:
            self._now = max(self._now, moment)
            return self._now

    def set(self, moment: dt.datetime) -> None:
        """Jump to ``moment``, which must not be before the current instant."""
        moment = _aware(moment, "moment")
        with self._lock:
            if moment < self._now:
                raise InvalidInputError(
                    f"a virtual clock never goes backwards: it is {self._now.isoformat()}, "
                    f"asked for {moment.isoformat()}"
                )
            self._now = moment


class ShiftedClock:
    """Real time passing from a chosen start, optionally faster (a replay of a past date)."""

    def __init__(self, start: dt.datetime, *, speed: float = 1.0) -> None:
        if not speed > 0:
            raise InvalidInputError(f"speed must be above 0, got {speed}")
        self._start = _aware(start, "start")
        self._speed = speed
        self._origin = time.monotonic()

    def now(self) -> dt.datetime:
        """The start plus the real time elapsed since construction, times the speed."""
        elapsed = (time.monotonic() - self._origin) * self._speed
        return self._start + dt.timedelta(seconds=elapsed)


def _aware(moment: dt.datetime, name: str) -> dt.datetime:
    """A naive datetime is a bug at the call site, not local time: refuse it."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInputError(f"{name} must be timezone-aware (UTC), got {moment.isoformat()}")
    return moment.astimezone(dt.UTC)

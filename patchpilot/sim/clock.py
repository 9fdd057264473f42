"""Where the simulator reads the time: the real clock, or one a test moves by hand.

The simulated AKS evaluates every upgrade lazily from ``clock.now()``, so a
:class:`VirtualClock` lets a test jump hours ahead without waiting, and a
:class:`ShiftedClock` lets a demo replay a past date at real (or faster) speed.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final, Protocol

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


# A sleeper waits this long in real time for the others before it moves the clock anyway:
# a guard against a thread that blocks on something a sleeper holds, not a pacing.
_STUCK_SECONDS: Final = 2.0


class VirtualClock:
    """A clock that only moves when told to, and never backwards.

    Thread-safe: the simulator's request threads read it while a test moves it.
    Threads also sleep on it (:meth:`sleep`), in order, as real sleeps end.
    """

    def __init__(self, start: dt.datetime) -> None:
        self._now = _aware(start, "start")
        self._lock = threading.Lock()
        self._sleeps = threading.Condition()
        self._awake = 0  # invocations inside `running()` that are not asleep
        self._sleepers: list[tuple[dt.datetime, int]] = []
        self._order = itertools.count()
        self._mine = threading.local()
        self.stuck = 0  # sleeps that moved the clock on the real-time guard

    @contextmanager
    def running(self) -> Iterator[None]:
        """Mark the calling thread's invocation as running: sleepers wait for it to sleep or end."""
        with self._sleeps:
            self._awake += 1
            self._mine.counted = True
        try:
            yield
        finally:
            with self._sleeps:
                self._awake -= 1
                self._mine.counted = False
                self._sleeps.notify_all()

    def sleep(self, seconds: float) -> None:
        """Sleep `seconds` of virtual time, waking in order with the other threads' sleeps.

        The clock moves to a sleeper's wake-up only once every running
        invocation sleeps and that wake-up is the earliest, as real sleeps end:
        a thread that woke first sends its request before the clock moves past
        the next thread's wake-up. (Moving the clock at once let a thread woken
        at its slot send seconds of virtual time late, while other threads'
        sleeps moved the clock on.) Outside `running()`, a sleep still waits
        for running invocations to sleep or end.
        """
        with self._sleeps:
            counted = getattr(self._mine, "counted", False)
            entry = (self.now() + dt.timedelta(seconds=seconds), next(self._order))
            heapq.heappush(self._sleepers, entry)
            self._awake -= counted
            self._sleeps.notify_all()
            while self.now() < entry[0]:
                if self._awake == 0 and self._sleepers[0] == entry:
                    self.advance_to(entry[0])
                    break
                if not self._sleeps.wait(timeout=_STUCK_SECONDS):
                    self.stuck += 1
                    self.advance_to(entry[0])
                    break
            self._sleepers.remove(entry)
            heapq.heapify(self._sleepers)
            self._awake += counted
            self._sleeps.notify_all()

    def now(self) -> dt.datetime:
        """The instant the clock was last set to.

        No lock: the instant is one immutable object, replaced whole by the
        writers (which do hold the lock, so no move is lost); a reader sees
        the old or the new one. Read thousands of times per simulated day.
        """
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

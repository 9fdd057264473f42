"""A progress bar over simulated days, on stderr, that also reads well without a terminal.

On a terminal the bar redraws in place (a carriage return); piped into a file
or a CI log it prints a fresh line every tenth of the run instead, so the log
shows progress without hundreds of lines. Plain ASCII either way. The demo
runner calls it after each simulated day.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Final, TextIO

BAR_WIDTH: Final = 30
LOG_STEPS: Final = 10


class ProgressBar:
    """Shows how far a run from `start` to `end` has come, and the real time spent."""

    def __init__(
        self,
        start: dt.datetime,
        end: dt.datetime,
        stream: TextIO,
        *,
        redraw: bool | None = None,
    ) -> None:
        self._start, self._end, self._stream = start, end, stream
        self._redraw = stream.isatty() if redraw is None else redraw
        self._began = time.perf_counter()
        self._logged = -1
        self._drawn = False

    def __call__(self, now: dt.datetime) -> None:
        """Report that the simulated clock reached `now`."""
        share = min(max((now - self._start) / (self._end - self._start), 0.0), 1.0)
        if self._redraw:
            self._stream.write(f"\r{self.line(now, share)}")
            self._drawn = True
        else:
            step = int(share * LOG_STEPS)
            if step == self._logged:
                return
            self._logged = step
            self._stream.write(f"{self.line(now, share)}\n")
        self._stream.flush()

    def line(self, now: dt.datetime, share: float) -> str:
        """`[#######.......]  12/45 days  2025-12-13  3.1 s`."""
        filled = round(share * BAR_WIDTH)
        days = (self._end - self._start) / dt.timedelta(days=1)
        done = (now - self._start) / dt.timedelta(days=1)
        spent = time.perf_counter() - self._began
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        return f"[{bar}] {done:3.0f}/{days:.0f} days  {now:%Y-%m-%d}  {spent:5.1f} s"

    def close(self) -> None:
        """End the redrawn line so what follows starts on its own."""
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()

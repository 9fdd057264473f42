"""What the store asks of its backend, counted: requests, rows read, rows written, per invocation.

The state-scale benchmark (:mod:`bench.state_scale`) needs figures that
survive a rewrite of the store's table layout, so nothing here knows a
table, a partition or a store method. :class:`CountingRows` wraps every
public callable of one `Rows` object (the backend primitives `RowStore` is
written over, `patchpilot/adapters/store/rows.py`), whatever they are called
now or later: each call is one request to the backend (one statement in
SQLite, one HTTP request or batch transaction to Table Storage), except the
local :data:`LOCAL` ones. A call reads when its return annotation names
`Row` (without one: when its name says so); its rows read are the `Row`
objects it returns (a row, a list, an iterator as it is consumed). Any other
call writes one row, or one per item of the longest list it is given (a
batch). :class:`InvocationLog` attributes those counts (and the time, and
optionally the peak memory) to each function the local host invokes, and
:func:`stored_kinds` counts what a SQLite store holds.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import json
import re
import sqlite3
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from patchpilot.adapters.store.rows import Row
from patchpilot.localhost.host import LocalHost, Registered

# Answered by the object itself, without a request to the backend.
LOCAL: Final = frozenset({"close", "clock_offset"})
# Without a return annotation, a call named so reads, even when it finds nothing.
READ_PREFIXES: Final = ("get", "scan", "page", "query", "list", "read", "count", "find")


@dataclass
class Tally:
    """Requests by primitive, rows read and rows written, since the tally started."""

    calls: Counter[str] = field(default_factory=Counter)
    read: int = 0
    written: int = 0

    @property
    def requests(self) -> int:
        """Every request to the backend."""
        return sum(self.calls.values())

    def copy(self) -> Tally:
        """A frozen copy, to subtract from later."""
        return Tally(Counter(self.calls), self.read, self.written)

    def since(self, earlier: Tally) -> Tally:
        """What was counted after `earlier` was copied."""
        calls = Counter(self.calls)
        calls.subtract(earlier.calls)
        return Tally(+calls, self.read - earlier.read, self.written - earlier.written)

    def describe(self) -> str:
        """`read 748, written 12, 31 requests (get 20, scan 4, ...)`."""
        parts = ", ".join(f"{name} {n}" for name, n in sorted(self.calls.items()))
        return f"read {self.read:,}, written {self.written:,}, {self.requests:,} requests ({parts})"


class CountingRows:
    """Counts the calls of one `Rows` object by wrapping its public methods on the instance."""

    def __init__(self, rows: object) -> None:
        self.rows = rows
        self.tally = Tally()
        self._lock = threading.Lock()
        self._saved: dict[str, Any] = {}

    def install(self) -> CountingRows:
        """Wrap every public callable of the object (new primitives included); returns self."""
        for name in dir(self.rows):
            if name.startswith("_") or name in LOCAL or name in self._saved:
                continue
            method = getattr(self.rows, name)
            if callable(method):
                self._saved[name] = method
                setattr(self.rows, name, self._wrapped(name, method))
        return self

    def uninstall(self) -> None:
        """Put the object's own methods back."""
        for name in self._saved:
            delattr(self.rows, name)
        self._saved.clear()

    def _wrapped(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        reads = _reads(name, method)

        def counted(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            if isinstance(result, Iterator):
                return self._counting(name, result)
            found = _rows_in(result)
            with self._lock:
                self.tally.calls[name] += 1
                self.tally.read += found
                if not found and not reads:
                    self.tally.written += _batch_size(args, kwargs)
            return result

        return counted

    def _counting(self, name: str, rows: Iterator[Any]) -> Iterator[Any]:
        """A lazily read result: one request, its rows counted as the caller takes them."""
        with self._lock:
            self.tally.calls[name] += 1
        for item in rows:
            with self._lock:
                self.tally.read += _rows_in(item)
            yield item


def _reads(name: str, method: Callable[..., Any]) -> bool:
    """Whether a primitive reads: its return annotation names `Row` (else: its name says so).

    So a read that finds nothing (a missing row, an empty page) is not
    mistaken for a write, and a batch write returning etags is not a read.
    """
    try:
        returns = inspect.signature(method).return_annotation
    except (TypeError, ValueError):
        returns = inspect.Signature.empty
    if returns is inspect.Signature.empty:
        return name.startswith(READ_PREFIXES)
    return re.search(r"\bRow\b", str(returns)) is not None


def _rows_in(result: object) -> int:
    """How many stored rows a primitive handed back."""
    if isinstance(result, Row):
        return 1
    if isinstance(result, Mapping):
        return sum(isinstance(item, Row) for item in result.values())
    if isinstance(result, list | tuple):
        return sum(isinstance(item, Row) for item in result)
    return 0


def _batch_size(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    """One row, or as many as the longest list passed (a batch of operations)."""
    lists = [len(v) for v in (*args, *kwargs.values()) if isinstance(v, list | tuple)]
    return max(lists, default=1) or 1


@dataclass(frozen=True)
class Invocation:
    """One function the host ran: when, how long, its peak memory, its store traffic."""

    name: str
    at: dt.datetime
    seconds: float
    peak_bytes: int | None
    tally: Tally
    failed: bool
    received: object = None  # the trigger's input (a queue message, a timer, a request)


class InvocationLog:
    """Measures every invocation of a :class:`LocalHost`, whatever functions the app registers.

    Installed by replacing each registered function's callable, so a new
    trigger (a sweep shard's queue function, a cleanup timer) is measured
    without naming it. With `trace_memory`, each invocation's peak is
    tracemalloc's peak above what was allocated when it began; the process
    is shared with the simulator, so the peak includes the simulator's own
    work answering that invocation's requests (an upper bound), and tracing
    slows everything down: time and memory are best measured apart.
    """

    def __init__(self, host: LocalHost, counting: CountingRows) -> None:
        self.host = host
        self.counting = counting
        self.trace_memory = False
        self.invocations: list[Invocation] = []

    def install(self) -> InvocationLog:
        """Wrap every registered function of the host; returns self."""
        self.host.functions = {
            name: dataclasses.replace(function, call=self._measured(function))
            for name, function in self.host.functions.items()
        }
        return self

    def _measured(self, function: Registered) -> Callable[..., Any]:
        call = function.call

        def measured(value: Any) -> Any:
            before, at, failed = self.counting.tally.copy(), self.host.clock.now(), True
            base = tracemalloc.get_traced_memory()[0] if self.trace_memory else 0
            if self.trace_memory:
                tracemalloc.reset_peak()
            began = time.perf_counter()
            try:
                result = call(value)
                failed = False
                return result
            finally:
                seconds = time.perf_counter() - began
                peak = tracemalloc.get_traced_memory()[1] - base if self.trace_memory else None
                spent = self.counting.tally.since(before)
                self.invocations.append(
                    Invocation(function.name, at, seconds, peak, spent, failed, value)
                )

        return measured


@dataclass(frozen=True)
class Kind:
    """What one stored kind holds: its rows and its longest string value, in characters."""

    rows: int
    longest: int


def stored_kinds(path: Path, grouped: frozenset[str]) -> dict[str, Kind]:
    """Rows per table of a SQLite store file, and per partition prefix for `grouped` tables.

    A partition's prefix is what comes before its first `~` (the snapshot
    kind: `cluster`, `region`, ...). Read through a read-only connection of
    its own, so nothing is counted. Relies on `SqliteRows`' columns only
    (partition, props), not on the store's table layout.
    """
    found: dict[str, list[int]] = {}
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in sorted(tables):
            query = f"SELECT partition, props FROM {table}"  # names from the file
            for partition, props in db.execute(query):
                kind = f"{table}/{partition.split('~')[0]}" if table in grouped else table
                cell = found.setdefault(kind, [0, 0])
                cell[0] += 1
                cell[1] = max(cell[1], _longest_string(props))
    return {kind: Kind(rows, longest) for kind, (rows, longest) in found.items()}


def _longest_string(props: str) -> int:
    """The longest string property of a row, as Table Storage would hold it."""
    values = json.loads(props).values()
    return max((len(v) for v in values if isinstance(v, str)), default=0)

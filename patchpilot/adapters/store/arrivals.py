"""Each pool's newest arrivals in one row, so ring gate tallies never read a cluster's past.

A cluster's ring gate tallies (:func:`patchpilot.domain.gates.contributions`)
follow from when the cluster and each of its pools reached their recent
targets. Reading those from the cluster's progress partition costs a row per
arrival: over a year of weekly images, from a few rows to the retention cap
(16 arrivals per pool and kind), so a reconcile's reads grew with history.
Here each (pool, kind) of a cluster keeps its newest :data:`KEPT` arrivals
in one summary row of the same partition, written where progress is
recorded; a tally reads one row per pool, however old the cluster.

Row key ``~arrivals~<pool>~<kind>``: an arrival row's key is
``<pool>~<kind>~<target>`` and no kind is ``arrivals``, so the two never meet,
and retention, which recognises arrival rows by their own properties, leaves
summaries alone; forgetting a cluster deletes its partition, summaries too.

A summary is a cache of the arrival rows, never the only copy: one missing
(a cluster recorded before summaries existed, or a crash between the two
writes, which the next record of that target repairs) is rebuilt from the
arrival rows with one prefix query, then kept.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Final

from patchpilot.adapters.store import codec, keys
from patchpilot.adapters.store.errors import RowChangedError, RowExistsError, StoreContentionError
from patchpilot.adapters.store.records import OperationKey
from patchpilot.adapters.store.rows import Row, Rows
from patchpilot.domain.history import Kind, Reached

# As many as retention keeps per cluster, pool and kind (RetentionPolicy.progress).
KEPT: Final = 16
_MARK: Final = "arrivals"
_ATTEMPTS: Final = 20
Subject = tuple[str | None, Kind]


def is_summary(row: Row) -> bool:
    """Whether a progress row is a summary, not an arrival (readers of arrivals skip it)."""
    return row.key.startswith(keys.join("", _MARK) + keys.SEPARATOR)


def summary_key(pool: str | None, kind: Kind) -> str:
    """The row key of one (pool, kind)'s summary (pool None: the cluster's own)."""
    return keys.join("", _MARK, pool or "", kind)


class Arrivals:
    """Keeps and reads the per-pool arrival summaries, over any row backend."""

    def __init__(self, rows: Rows, table: str) -> None:
        self._rows = rows
        self._table = table

    def add(self, reached: Reached) -> None:
        """Put one arrival in its summary (the earliest time of a target wins)."""
        partition = codec.cluster_partition(reached.cluster)
        key = summary_key(reached.pool, reached.kind)
        for _ in range(_ATTEMPTS):
            row = self._rows.get(self._table, partition, key)
            known = (
                self._rebuilt(reached.cluster, reached.pool, reached.kind)
                if row is None
                else (_decode(reached.cluster, reached.pool, reached.kind, row))
            )
            merged = _merged(known, reached)
            if row is not None and merged == known:
                return
            props = {_MARK: _encode(merged)}
            try:
                if row is None:
                    self._rows.insert(self._table, partition, key, props)
                else:
                    self._rows.replace(self._table, partition, key, props, row.etag)
                return
            except (RowChangedError, RowExistsError):
                continue
        raise StoreContentionError(f"the arrivals of {reached.cluster} kept changing; try again")

    def read(self, cluster: str, subjects: Iterable[Subject]) -> tuple[Reached, ...]:
        """The kept arrivals of these (pool, kind)s of one cluster: a point read each."""
        partition = codec.cluster_partition(cluster)
        found: list[Reached] = []
        for pool, kind in sorted(set(subjects), key=lambda s: (s[0] or "", s[1])):
            row = self._rows.get(self._table, partition, summary_key(pool, kind))
            if row is not None:
                found.extend(_decode(cluster, pool, kind, row))
                continue
            rebuilt = self._rebuilt(cluster, pool, kind)
            # Written meanwhile by `add` (from the same rows and newer ones): keep that one.
            with contextlib.suppress(RowExistsError):
                props = {_MARK: _encode(rebuilt)}
                self._rows.insert(self._table, partition, summary_key(pool, kind), props)
            found.extend(rebuilt)
        return tuple(sorted(found, key=lambda r: (r.at, r.pool or "", r.target)))

    def _rebuilt(self, cluster: str, pool: str | None, kind: Kind) -> tuple[Reached, ...]:
        """A summary from the arrival rows themselves: one query of their key prefix."""
        partition = codec.cluster_partition(cluster)
        prefix = keys.join(pool or "", kind) + keys.SEPARATOR
        arrivals: list[Reached] = []
        for row in self._rows.scan(self._table, partition, key_prefix=prefix):
            reached = codec.reached_from(row)
            if codec.reached_keys(_key_of(reached)) == (row.partition, row.key):
                arrivals.append(reached)
        return _newest(arrivals)


def _key_of(reached: Reached) -> OperationKey:
    return OperationKey(reached.cluster, reached.pool, reached.kind, reached.target)


def _merged(known: Sequence[Reached], reached: Reached) -> tuple[Reached, ...]:
    """`known` with `reached` in it: an earlier report of a target wins, then the newest KEPT."""
    earlier = [r for r in known if r.target == reached.target]
    if earlier and earlier[0].at <= reached.at:
        return tuple(known)
    return _newest([*(r for r in known if r.target != reached.target), reached])


def _newest(arrivals: Iterable[Reached]) -> tuple[Reached, ...]:
    """The newest KEPT by arrival, oldest first (as retention keeps the arrival rows)."""
    ordered = sorted(arrivals, key=lambda r: (r.at, r.target))
    return tuple(ordered[-KEPT:])


def _encode(arrivals: Sequence[Reached]) -> str:
    return json.dumps([[r.target, r.at.isoformat()] for r in arrivals], separators=(",", ":"))


def _decode(cluster: str, pool: str | None, kind: Kind, row: Row) -> tuple[Reached, ...]:
    entries = json.loads(str(row.props[_MARK]))
    return tuple(
        Reached(cluster, pool, kind, str(target), dt.datetime.fromisoformat(str(at)))
        for target, at in entries
    )

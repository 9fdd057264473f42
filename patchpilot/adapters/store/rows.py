"""The five primitives a backend provides; everything else is written once on top of them.

Like Powertools' idempotency persistence layers, the rules (who may claim,
when a lease is free, what "seen" means) live in one place,
:mod:`patchpilot.adapters.store.rowstore`, and a backend only moves rows:
insert-if-absent, read with a version, replace or delete only if the version
still matches, and list a partition. Azure Table Storage does these natively
(ETags and ``If-Match``); SQLite does them with a primary key and a version
column. Each primitive is one atomic request or statement, so two workers
racing on one row always see exactly one winner.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

Value = str | int | bool | dt.datetime | None
Props = Mapping[str, Value]


class RowExistsError(Exception):
    """`insert` found a row with that key already (the other writer won)."""


class RowChangedError(Exception):
    """`replace` or `delete` found the row at another version, or gone."""


@dataclass(frozen=True)
class Row:
    """A stored row: its keys, its properties and the version it was read at."""

    partition: str
    key: str
    props: Props
    etag: str


class Rows(Protocol):
    """Rows in named tables, addressed by (partition, key), with optimistic concurrency."""

    def insert(self, table: str, partition: str, key: str, props: Props) -> str:
        """Add a row that must not exist yet; its etag, or :class:`RowExistsError`."""
        ...

    def get(self, table: str, partition: str, key: str) -> Row | None:
        """The row, or None."""
        ...

    def replace(self, table: str, partition: str, key: str, props: Props, etag: str) -> str:
        """Overwrite a row still at `etag`; the new etag, or :class:`RowChangedError`."""
        ...

    def delete(self, table: str, partition: str, key: str, etag: str) -> bool:
        """Remove a row still at `etag`; False when it was gone or had changed."""
        ...

    def scan(self, table: str, partition: str | None = None) -> list[Row]:
        """Every row of one partition, or of the whole table."""
        ...

    def clock_offset(self) -> dt.timedelta | None:
        """The storage service's clock minus this process's, last seen; None without one."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...

"""The primitives a backend provides; everything else is written once on top of them.

Like Powertools' idempotency persistence layers, the rules (who may claim,
when a lease is free, what "seen" means) live in one place,
:mod:`patchpilot.adapters.store.rowstore`, and a backend only moves rows:
insert-if-absent, read with a version, replace or delete only if the version
still matches, list a partition (or a key range), read a table a page at a
time, and commit several conditional writes to one partition all or none (an
entity group transaction). Azure Table Storage does these natively (ETags,
``If-Match``, range filters on PartitionKey and RowKey, ``$batch``); SQLite
does them with a primary key, a version column and a transaction. Each
primitive is one atomic request or statement, so two workers racing on one
row always see exactly one winner.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

Value = str | int | bool | dt.datetime | None
Props = Mapping[str, Value]


@dataclass(frozen=True)
class Row:
    """A stored row: its keys, its properties and the version it was read at."""

    partition: str
    key: str
    props: Props
    etag: str


@dataclass(frozen=True)
class Write:
    """One change of a :meth:`Rows.commit`: insert (no etag), replace at etag, delete (no props)."""

    key: str
    props: Props | None
    etag: str | None = None


# Table Storage takes at most 100 operations in one entity group transaction.
MAX_BATCH = 100


def after_prefix(prefix: str) -> str:
    """A bound above every key that starts with `prefix`, for a range filter.

    Keys are ASCII (:mod:`.keys` escapes everything else) and DEL sorts above
    every printable character, so ``[prefix, prefix + DEL)`` is exactly the prefix.
    """
    return prefix + "\x7f"


class Rows(Protocol):
    """Rows in named tables, addressed by (partition, key), with optimistic concurrency."""

    def insert(self, table: str, partition: str, key: str, props: Props) -> str:
        """Add a row that must not exist yet; its etag, or :class:`~.errors.RowExistsError`."""
        ...

    def get(self, table: str, partition: str, key: str) -> Row | None:
        """The row, or None."""
        ...

    def replace(self, table: str, partition: str, key: str, props: Props, etag: str) -> str:
        """Overwrite a row still at `etag`; the new etag, or :class:`~.errors.RowChangedError`."""
        ...

    def delete(self, table: str, partition: str, key: str, etag: str) -> bool:
        """Remove a row still at `etag`; False when it was gone or had changed."""
        ...

    def scan(
        self,
        table: str,
        partition: str | None = None,
        *,
        key_prefix: str | None = None,
        partition_prefix: str | None = None,
        where: tuple[str, tuple[str, ...]] | None = None,
    ) -> list[Row]:
        """Every row of one partition, or of the whole table; narrowed by a prefix or a value.

        `key_prefix` (with `partition`) and `partition_prefix` (without it) are
        range filters the service answers from its index; `where` (a string
        property and the values it may have) is filtered by the service too,
        so rows that do not match are never sent, whatever the partition holds.
        """
        ...

    def page(
        self,
        table: str,
        *,
        partition: str | None = None,
        after: tuple[str, str] | None = None,
        limit: int = 1000,
    ) -> list[Row]:
        """At most `limit` rows in (partition, key) order, strictly after `after`."""
        ...

    def commit(self, table: str, partition: str, writes: Sequence[Write]) -> list[str | None]:
        """Apply every write to one partition atomically, or none of them.

        Returns each write's new etag (None for a delete). Raises
        :class:`~.errors.RowExistsError` when an insert finds its row,
        :class:`~.errors.RowChangedError` when a replace or delete finds its
        row at another version or gone.
        """
        ...

    def clock_offset(self) -> dt.timedelta | None:
        """The storage service's clock minus this process's, last seen; None without one."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...

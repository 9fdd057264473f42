"""SQLite rows: the embedded store for local runs, the demo and tests.

Each logical table is a SQLite table keyed by (partition, key), its
properties a JSON document, and a `version` column that plays the ETag: a
fresh random value on every write, so a conditional UPDATE or DELETE
(``WHERE version = ?``) fails once anyone else wrote, even if the row was
deleted and inserted again meanwhile. Every primitive is one statement in
autocommit mode, hence atomic; WAL mode and a busy timeout let several
connections and processes share one file. Durable across a killed process
(SQLite's default `synchronous=FULL` in WAL mode).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from patchpilot.adapters.store.errors import RowChangedError, RowExistsError, StoreUnavailableError
from patchpilot.adapters.store.rows import Props, Row, Value, Write, after_prefix

# Table names reach SQL text, so only plain identifiers are accepted.
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,62}")
_TIME_TAG = "$utc"
# Long enough for 20 writers queueing on one file, short enough to fail closed.
BUSY_TIMEOUT_SECONDS = 30.0


def _encode(props: Props) -> str:
    def tag(value: object) -> object:
        if isinstance(value, dt.datetime):
            return {_TIME_TAG: value.astimezone(dt.UTC).isoformat()}
        raise TypeError(f"cannot store {type(value).__name__}")

    return json.dumps(dict(props), default=tag, ensure_ascii=False, sort_keys=True)


def _decode(text: str) -> dict[str, Value]:
    def untag(obj: dict[str, Any]) -> object:
        if obj.keys() == {_TIME_TAG}:
            return dt.datetime.fromisoformat(obj[_TIME_TAG])
        return obj

    decoded: dict[str, Value] = json.loads(text, object_hook=untag)
    return decoded


def _version() -> str:
    return uuid.uuid4().hex


class SqliteRows:
    """Rows in one SQLite file (or `:memory:`, private to this object)."""

    def __init__(self, path: Path | str) -> None:
        self._lock = threading.Lock()
        self._tables: set[str] = set()
        try:
            self._db = sqlite3.connect(
                str(path),
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,
                check_same_thread=False,
            )
            if str(path) != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.Error as exc:
            raise StoreUnavailableError(f"cannot open the SQLite store {path}: {exc}") from exc

    @contextmanager
    def _use(self, table: str) -> Iterator[sqlite3.Connection]:
        """The connection, for one statement at a time, with the table created on first use."""
        with self._lock:
            try:
                if table not in self._tables:
                    self._create(table)
                yield self._db
            except sqlite3.IntegrityError:
                raise
            except sqlite3.Error as exc:
                raise StoreUnavailableError(f"the SQLite store failed on {table}: {exc}") from exc

    def _create(self, table: str) -> None:
        if not _IDENTIFIER.fullmatch(table):
            raise ValueError(f"{table!r} is not a plain table name")
        self._db.execute(
            f"CREATE TABLE IF NOT EXISTS {table} ("
            "partition TEXT NOT NULL, key TEXT NOT NULL, props TEXT NOT NULL, "
            "version TEXT NOT NULL, PRIMARY KEY (partition, key)) WITHOUT ROWID"
        )
        self._tables.add(table)

    def insert(self, table: str, partition: str, key: str, props: Props) -> str:
        """INSERT; the primary key turns a second insert into :class:`RowExistsError`."""
        version = _version()
        try:
            with self._use(table) as db:
                db.execute(
                    f"INSERT INTO {table} (partition, key, props, version) "  # noqa: S608  # validated name
                    "VALUES (?, ?, ?, ?)",
                    (partition, key, _encode(props), version),
                )
        except sqlite3.IntegrityError as exc:
            raise RowExistsError(f"{table}: {partition}/{key}") from exc
        return version

    def get(self, table: str, partition: str, key: str) -> Row | None:
        """SELECT one row."""
        with self._use(table) as db:
            found = db.execute(
                f"SELECT props, version FROM {table} WHERE partition = ? AND key = ?",  # noqa: S608  # validated name
                (partition, key),
            ).fetchone()
        return None if found is None else Row(partition, key, _decode(found[0]), found[1])

    def replace(self, table: str, partition: str, key: str, props: Props, etag: str) -> str:
        """UPDATE ... WHERE version = etag; no row updated means someone else wrote first."""
        version = _version()
        with self._use(table) as db:
            updated = db.execute(
                f"UPDATE {table} SET props = ?, version = ? "  # noqa: S608  # validated name
                "WHERE partition = ? AND key = ? AND version = ?",
                (_encode(props), version, partition, key, etag),
            ).rowcount
        if updated != 1:
            raise RowChangedError(f"{table}: {partition}/{key} is no longer at {etag}")
        return version

    def delete(self, table: str, partition: str, key: str, etag: str) -> bool:
        """DELETE ... WHERE version = etag."""
        with self._use(table) as db:
            deleted = db.execute(
                f"DELETE FROM {table} WHERE partition = ? AND key = ? AND version = ?",  # noqa: S608  # validated name
                (partition, key, etag),
            ).rowcount
        return deleted == 1

    def scan(
        self,
        table: str,
        partition: str | None = None,
        *,
        key_prefix: str | None = None,
        partition_prefix: str | None = None,
        where: tuple[str, tuple[str, ...]] | None = None,
    ) -> list[Row]:
        """Every row of a partition or table, narrowed by a key range or a value when asked."""
        clauses: list[str] = []
        args: list[str] = []
        if partition is not None:
            clauses.append("partition = ?")
            args.append(partition)
        elif partition_prefix is not None:
            clauses.append("partition >= ? AND partition < ?")
            args += [partition_prefix, after_prefix(partition_prefix)]
        if key_prefix is not None:
            clauses.append("key >= ? AND key < ?")
            args += [key_prefix, after_prefix(key_prefix)]
        if where is not None:
            name, values = where
            if not _IDENTIFIER.fullmatch(name):
                raise ValueError(f"{name!r} is not a plain property name")
            marks = ", ".join("?" for _ in values)
            clauses.append(f"json_extract(props, '$.{name}') IN ({marks})")
            args += list(values)
        return self._select(table, clauses, args, "")

    def page(
        self,
        table: str,
        *,
        partition: str | None = None,
        after: tuple[str, str] | None = None,
        limit: int = 1000,
    ) -> list[Row]:
        """At most `limit` rows in (partition, key) order after `after`."""
        where: list[str] = []
        args: list[str] = []
        if partition is not None:
            where.append("partition = ?")
            args.append(partition)
        if after is not None:
            where.append("(partition > ? OR (partition = ? AND key > ?))")
            args += [after[0], after[0], after[1]]
        return self._select(table, where, args, f" LIMIT {int(limit)}")

    def _select(self, table: str, where: list[str], args: list[str], tail: str) -> list[Row]:
        query = f"SELECT partition, key, props, version FROM {table}"  # noqa: S608  # validated name
        if where:
            query += " WHERE " + " AND ".join(where)
        with self._use(table) as db:
            found = db.execute(query + " ORDER BY partition, key" + tail, args).fetchall()
        return [Row(part, key, _decode(props), version) for part, key, props, version in found]

    def commit(self, table: str, partition: str, writes: Sequence[Write]) -> list[str | None]:
        """Every write in one transaction; the first failed condition rolls all back."""
        with self._use(table) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                etags = [self._apply(db, table, partition, write) for write in writes]
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        return etags

    def _apply(
        self, db: sqlite3.Connection, table: str, partition: str, write: Write
    ) -> str | None:
        """One write of a commit, inside its transaction."""
        if write.props is None and write.etag is None:
            raise ValueError(f"a delete of {write.key} needs the etag it was read at")
        version: str | None = _version()
        if write.etag is None and write.props is not None:
            try:
                db.execute(
                    f"INSERT INTO {table} (partition, key, props, version) "  # noqa: S608  # validated name
                    "VALUES (?, ?, ?, ?)",
                    (partition, write.key, _encode(write.props), version),
                )
            except sqlite3.IntegrityError as exc:
                raise RowExistsError(f"{table}: {partition}/{write.key}") from exc
            return version
        if write.props is None:
            changed = db.execute(
                f"DELETE FROM {table} WHERE partition = ? AND key = ? AND version = ?",  # noqa: S608  # validated name
                (partition, write.key, write.etag),
            ).rowcount
            version = None
        else:
            changed = db.execute(
                f"UPDATE {table} SET props = ?, version = ? "  # noqa: S608  # validated name
                "WHERE partition = ? AND key = ? AND version = ?",
                (_encode(write.props), version, partition, write.key, write.etag),
            ).rowcount
        if changed != 1:
            raise RowChangedError(f"{table}: {partition}/{write.key} is no longer at {write.etag}")
        return version

    def clock_offset(self) -> dt.timedelta | None:
        """None: a file on this machine has no clock of its own to compare with."""
        return None

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

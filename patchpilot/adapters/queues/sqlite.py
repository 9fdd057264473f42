"""A SQLite-backed queue for local runs, following the caller's clock.

Azure Storage queue semantics, kept: a received message is hidden for the
lock period and its dequeue count rises; a message not deleted in time comes
back. Time is always passed in, so the local host's virtual clock drives it.
Several processes may share one file (WAL mode, short transactions).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from patchpilot.adapters.queues.interface import NO_DELAY, Delivery

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    queue TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    inserted_at REAL NOT NULL,
    visible_at REAL NOT NULL,
    dequeue_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (queue, id)
);
CREATE INDEX IF NOT EXISTS visible ON messages (queue, visible_at);
"""


class SqliteQueue:
    """One named queue in a SQLite file (`:memory:` is refused: processes share the file)."""

    def __init__(self, path: Path, name: str) -> None:
        self.name = name
        self._path = path
        self._local = threading.local()
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

    def send(self, text: str, *, now: dt.datetime, delay: dt.timedelta = NO_DELAY) -> None:
        """Enqueue `text`, visible from `now + delay`."""
        stamp = now.timestamp()
        with self._connect() as db:
            db.execute(
                "INSERT INTO messages (queue, id, body, inserted_at, visible_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (self.name, uuid.uuid4().hex, text, stamp, stamp + delay.total_seconds()),
            )

    def receive(self, *, now: dt.datetime, limit: int, lock: dt.timedelta) -> list[Delivery]:
        """Take up to `limit` visible messages, oldest first, hiding each for `lock`."""
        stamp = now.timestamp()
        with self._transaction() as db:
            rows = db.execute(
                "SELECT id, body, inserted_at, dequeue_count FROM messages "
                "WHERE queue = ? AND visible_at <= ? ORDER BY visible_at, inserted_at LIMIT ?",
                (self.name, stamp, limit),
            ).fetchall()
            deliveries = []
            for message_id, body, inserted, count in rows:
                receipt = uuid.uuid4().hex
                db.execute(
                    "UPDATE messages SET visible_at = ?, dequeue_count = ?, receipt = ? "
                    "WHERE queue = ? AND id = ?",
                    (stamp + lock.total_seconds(), count + 1, receipt, self.name, message_id),
                )
                inserted_at = dt.datetime.fromtimestamp(inserted, dt.UTC)
                deliveries.append(Delivery(message_id, body, count + 1, inserted_at, receipt))
        return deliveries

    def delete(self, delivery: Delivery) -> None:
        """Delete a received message; a stale receipt (it was received again) deletes nothing."""
        with self._connect() as db:
            db.execute(
                "DELETE FROM messages WHERE queue = ? AND id = ? AND receipt = ?",
                (self.name, delivery.id, delivery.receipt),
            )

    def count(self, *, now: dt.datetime | None = None) -> int:
        """Messages held, or only those visible at `now`."""
        query = "SELECT COUNT(*) FROM messages WHERE queue = ?"
        params: tuple[object, ...] = (self.name,)
        if now is not None:
            query += " AND visible_at <= ?"
            params = (self.name, now.timestamp())
        with self._connect() as db:
            (total,) = db.execute(query, params).fetchone()
        return int(total)

    def next_visible(self, after: dt.datetime) -> dt.datetime | None:
        """When the first message hidden at `after` becomes visible; None when none is hidden.

        The local host jumps its virtual clock straight to that instant instead
        of polling the queue every simulated minute.
        """
        with self._connect() as db:
            (first,) = db.execute(
                "SELECT MIN(visible_at) FROM messages WHERE queue = ? AND visible_at > ?",
                (self.name, after.timestamp()),
            ).fetchone()
        if first is None:
            return None
        moment = dt.datetime.fromtimestamp(first, dt.UTC)
        # Rounded to microseconds, the instant may fall just short of the stored one,
        # where the message is not visible yet: round up instead.
        return moment if moment.timestamp() >= first else moment + dt.timedelta(microseconds=1)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection, in autocommit mode.

        One per thread, opened on first use and kept: the local host asks the
        queue when its next message shows at every stop, and opening a file
        (and setting WAL) each time cost more than the query. Threads never
        share a connection; processes share the file, not connections.
        """
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self._path, timeout=30, isolation_level=None)
            self._local.db = db
        yield db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction taken up front, so two receivers never take one message."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

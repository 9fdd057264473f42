"""The reconcile queue's contract, on SQLite and on Azurite's Queue service.

Both backends must hide a received message for its lock period, raise its
dequeue count, bring it back when it is not deleted, and honour a send delay.
SQLite follows the caller's clock; Azure Storage keeps its own, so the
Azurite cases use short real delays and poll with a deadline.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from patchpilot.adapters.queues import Delivery, MessageQueue
from patchpilot.adapters.queues.sqlite import SqliteQueue
from patchpilot.adapters.queues.storage import StorageQueue
from tests.integration.azurite import running

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
LOCK = dt.timedelta(seconds=2)


class Backend:
    """A queue plus a way to let time pass on its clock."""

    def __init__(
        self,
        queue: MessageQueue,
        wait: Callable[[dt.timedelta], None],
        now: Callable[[], dt.datetime],
    ) -> None:
        self.queue = queue
        self.wait = wait
        self.now = now

    def receive_within(self, deadline: float = 10.0) -> list[Delivery]:
        """Poll until something is visible (Azure's clock moves on its own)."""
        end = time.monotonic() + deadline
        while True:
            found = self.queue.receive(now=self.now(), limit=8, lock=LOCK)
            if found or time.monotonic() > end:
                return found
            time.sleep(0.05)


@pytest.fixture(scope="module")
def azurite_queues() -> Iterator[str]:
    with running(services=("queue",)) as emulator:
        yield emulator.connection_string


@pytest.fixture(params=["sqlite", "storage"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        clock = [T0]

        def advance(delta: dt.timedelta) -> None:
            clock[0] += delta

        return Backend(SqliteQueue(tmp_path / "q.db", "reconcile"), advance, lambda: clock[0])
    connection: str = request.getfixturevalue("azurite_queues")
    queue = StorageQueue(f"q{uuid.uuid4().hex[:12]}", connection_string=connection)

    def azure_keeps_its_own_time(delta: dt.timedelta) -> None:
        """Nothing to do: receive_within polls until Azure's clock has moved on."""

    return Backend(queue, azure_keeps_its_own_time, lambda: dt.datetime.now(dt.UTC))


def test_a_sent_message_is_received_once_with_its_text(backend: Backend) -> None:
    backend.queue.send('{"cluster": "x"}', now=backend.now())
    (delivery,) = backend.receive_within()
    assert (delivery.text, delivery.dequeue_count) == ('{"cluster": "x"}', 1)
    assert backend.queue.receive(now=backend.now(), limit=8, lock=LOCK) == []


def test_an_undeleted_message_comes_back_with_a_higher_dequeue_count(backend: Backend) -> None:
    backend.queue.send("m", now=backend.now())
    (first,) = backend.receive_within()
    backend.wait(LOCK + dt.timedelta(milliseconds=500))
    (again,) = backend.receive_within()
    assert again.id == first.id
    assert again.dequeue_count == 2


def test_a_deleted_message_is_gone(backend: Backend) -> None:
    backend.queue.send("m", now=backend.now())
    (delivery,) = backend.receive_within()
    backend.queue.delete(delivery)
    assert backend.queue.count() == 0
    backend.wait(LOCK + dt.timedelta(milliseconds=500))
    assert backend.queue.receive(now=backend.now(), limit=8, lock=LOCK) == []


def test_a_delayed_message_stays_hidden_until_its_delay_passes(backend: Backend) -> None:
    sent_at = backend.now()
    backend.queue.send("later", now=sent_at, delay=dt.timedelta(seconds=2))
    assert backend.queue.receive(now=backend.now(), limit=8, lock=LOCK) == []
    backend.wait(dt.timedelta(seconds=2, milliseconds=300))
    (delivery,) = backend.receive_within()
    assert delivery.text == "later"
    assert backend.now() - sent_at >= dt.timedelta(seconds=2)


def test_sqlite_queue_hands_each_message_to_one_receiver(tmp_path: Path) -> None:
    queue = SqliteQueue(tmp_path / "q.db", "reconcile")
    for n in range(30):
        queue.send(str(n), now=T0)
    other = SqliteQueue(tmp_path / "q.db", "reconcile")
    seen = [d.text for q in (queue, other) * 10 for d in q.receive(now=T0, limit=4, lock=LOCK)]
    assert sorted(seen, key=int) == [str(n) for n in range(30)]

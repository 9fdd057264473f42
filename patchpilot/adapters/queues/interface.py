"""What the service and the local host need of a queue.

The Function App only sends (the Functions host receives for the queue
trigger); the local host also receives and deletes, with the same visibility
and dequeue-count semantics as Azure Storage queues.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

NO_DELAY = dt.timedelta(0)


@dataclass(frozen=True)
class Delivery:
    """A received message, invisible to others until `visible_at` or deletion."""

    id: str
    text: str
    dequeue_count: int
    inserted_at: dt.datetime
    receipt: str


class MessageQueue(Protocol):
    """A queue of text messages with delayed visibility."""

    name: str

    def send(self, text: str, *, now: dt.datetime, delay: dt.timedelta = NO_DELAY) -> None:
        """Enqueue a message that becomes visible `delay` after `now`."""
        ...

    def receive(self, *, now: dt.datetime, limit: int, lock: dt.timedelta) -> list[Delivery]:
        """Up to `limit` visible messages, each hidden for `lock` and its dequeue count raised."""
        ...

    def delete(self, delivery: Delivery) -> None:
        """Remove a message that was handled (or moved to the poison queue)."""
        ...

    def count(self, *, now: dt.datetime | None = None) -> int:
        """How many messages the queue holds (visible at `now` when given)."""
        ...

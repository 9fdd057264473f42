"""The Azure Storage queue backend, used by the Function App in Azure and by tests on Azurite.

Messages are Base64-encoded text, which is what the Functions queue trigger
expects by default. The client is built on first use (cold start) from a
connection string (Azurite, local settings) or an account URL with a managed
identity credential (`AzureWebJobsStorage__queueServiceUri` in Azure).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import TYPE_CHECKING, Any

from patchpilot.adapters.queues.interface import NO_DELAY, Delivery

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.storage.queue import QueueClient


class StorageQueue:
    """One Azure Storage queue; `now` is accepted for the port but Azure keeps its own time."""

    def __init__(
        self,
        name: str,
        *,
        connection_string: str | None = None,
        account_url: str | None = None,
        credential: TokenCredential | None = None,
    ) -> None:
        if (connection_string is None) == (account_url is None):
            raise ValueError("give exactly one of connection_string and account_url")
        self.name = name
        self._connection_string = connection_string
        self._account_url = account_url
        self._credential = credential
        self._client: QueueClient | None = None

    def send(self, text: str, *, now: dt.datetime, delay: dt.timedelta = NO_DELAY) -> None:
        """Enqueue `text`; Azure counts the delay from its own clock."""
        seconds = max(0, int(delay.total_seconds()))
        self._queue().send_message(text, visibility_timeout=seconds or None)

    def receive(self, *, now: dt.datetime, limit: int, lock: dt.timedelta) -> list[Delivery]:
        """Up to `limit` visible messages (Azure allows 32 per call)."""
        if limit < 1:
            return []
        pages = (
            self._queue()
            .receive_messages(
                max_messages=min(limit, 32), visibility_timeout=int(lock.total_seconds())
            )
            .by_page()
        )
        return [_delivery(message) for message in next(pages, [])]

    def delete(self, delivery: Delivery) -> None:
        """Delete a handled message by its pop receipt."""
        self._queue().delete_message(delivery.id, delivery.receipt)

    def count(self, *, now: dt.datetime | None = None) -> int:
        """Azure's approximate message count."""
        properties = self._queue().get_queue_properties()
        return int(properties.approximate_message_count or 0)

    def _queue(self) -> QueueClient:
        if self._client is None:
            self._client = self._build()
        return self._client

    def _build(self) -> QueueClient:
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.queue import (
            BinaryBase64DecodePolicy,
            QueueClient,
            TextBase64EncodePolicy,
        )

        policies: dict[str, Any] = {
            "message_encode_policy": TextBase64EncodePolicy(),
            "message_decode_policy": BinaryBase64DecodePolicy(),
        }
        if self._connection_string is not None:
            client = QueueClient.from_connection_string(
                self._connection_string, self.name, **policies
            )
        else:
            assert self._account_url is not None
            client = QueueClient(
                self._account_url, self.name, credential=self._credential, **policies
            )
        # Created by an earlier instance or the deployment: nothing to do.
        with contextlib.suppress(ResourceExistsError):
            client.create_queue()
        return client


def _delivery(message: Any) -> Delivery:
    content = message.content
    text = content.decode("utf-8") if isinstance(content, bytes) else str(content)
    return Delivery(
        id=message.id,
        text=text,
        dequeue_count=int(message.dequeue_count or 1),
        inserted_at=message.inserted_on,
        receipt=message.pop_receipt,
    )

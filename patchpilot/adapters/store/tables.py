"""Azure Table Storage rows: the Function App's store, through ``azure-data-tables``.

Imported only by :func:`patchpilot.adapters.store.open_table_store`, so a cold
start that never touches the store never loads the SDK. The primitives map
one to one onto Table Storage: ``create_entity`` (409 means the row exists),
``get_entity``, ``update_entity`` in replace mode and ``delete_entity``, both
with ``If-Match: <etag>`` (412 means someone else wrote first). Tables are
created on first use. Any other failure becomes
:class:`~patchpilot.adapters.store.errors.StoreUnavailableError`: the caller
waits, it never acts without the store.

Retries: the SDK's own retry policy owns transient storage errors here (a
few quick tries); tenacity owns ARM calls only, so the two never multiply.
A retried write whose first attempt landed comes back as 409 or 412; the row
store recognises its own token and treats it as success.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, Final

from azure.core import MatchConditions
from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    AzureError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.core.pipeline import PipelineResponse
from azure.data.tables import TableClient, TableEntity, TableServiceClient, UpdateMode

from patchpilot.adapters.store.errors import StoreUnavailableError
from patchpilot.adapters.store.rows import Props, Row, RowChangedError, RowExistsError, Value

# A reconcile has minutes, not hours: a store call gives up quickly and the
# queue's redelivery (the outer layer) tries the whole step again later.
_CLIENT_OPTIONS: Final[dict[str, Any]] = {
    "retry_total": 3,
    "retry_backoff_factor": 0.4,
    "connection_timeout": 10,
    "read_timeout": 20,
}
_RESERVED: Final = frozenset({"PartitionKey", "RowKey", "Timestamp"})


def _entity(partition: str, key: str, props: Props) -> dict[str, Any]:
    """An entity dict; None values are left out (Table Storage stores no nulls)."""
    entity: dict[str, Any] = {"PartitionKey": partition, "RowKey": key}
    entity.update((name, value) for name, value in props.items() if value is not None)
    return entity


def _row(entity: TableEntity) -> Row:
    props: dict[str, Value] = {
        name: value for name, value in entity.items() if name not in _RESERVED
    }
    for name, value in props.items():
        # The SDK's datetime subclass keeps extra state; hand on a plain aware datetime.
        if isinstance(value, dt.datetime):
            props[name] = dt.datetime.fromisoformat(value.isoformat())
    return Row(entity["PartitionKey"], entity["RowKey"], props, str(entity.metadata["etag"]))


class TableRows:
    """Rows in Azure Table Storage (or Azurite), one table client per table."""

    def __init__(self, service: TableServiceClient) -> None:
        self._service = service
        self._clients: dict[str, TableClient] = {}
        self._lock = threading.Lock()
        self._offset: dt.timedelta | None = None

    @classmethod
    def from_connection_string(cls, connection_string: str) -> TableRows:
        """Rows for a storage account given by connection string (Azurite, shared keys)."""
        with _translated("opening the Table Storage account"):
            service = TableServiceClient.from_connection_string(
                connection_string, **_CLIENT_OPTIONS
            )
        return cls(service)

    @classmethod
    def from_account_url(cls, account_url: str, credential: TokenCredential) -> TableRows:
        """Rows for an identity-based account URL (the Function App's managed identity)."""
        with _translated("opening the Table Storage account"):
            service = TableServiceClient(account_url, credential=credential, **_CLIENT_OPTIONS)
        return cls(service)

    def _table(self, table: str) -> TableClient:
        """The table's client; the table is created the first time this object uses it."""
        with self._lock:
            client = self._clients.get(table)
            if client is None:
                with _translated(f"creating table {table}"):
                    client = self._service.create_table_if_not_exists(table)
                self._clients[table] = client
            return client

    def insert(self, table: str, partition: str, key: str, props: Props) -> str:
        """create_entity; 409 means another writer's row is there."""
        client = self._table(table)
        try:
            with _translated(f"inserting into {table}", ResourceExistsError):
                reply = client.create_entity(_entity(partition, key, props))
        except ResourceExistsError as exc:
            raise RowExistsError(f"{table}: {partition}/{key}") from exc
        self._saw_service_time(reply.get("date"))
        return str(reply["etag"])

    def get(self, table: str, partition: str, key: str) -> Row | None:
        """get_entity; 404 is None."""
        client = self._table(table)
        try:
            with _translated(f"reading {table}", ResourceNotFoundError):
                return _row(client.get_entity(partition, key))
        except ResourceNotFoundError:
            return None

    def replace(self, table: str, partition: str, key: str, props: Props, etag: str) -> str:
        """update_entity(REPLACE, If-Match etag); 412 or 404 means it changed."""
        client = self._table(table)
        try:
            with _translated(f"updating {table}", ResourceModifiedError, ResourceNotFoundError):
                reply = client.update_entity(
                    _entity(partition, key, props),
                    mode=UpdateMode.REPLACE,
                    etag=etag,
                    match_condition=MatchConditions.IfNotModified,
                )
        except (ResourceModifiedError, ResourceNotFoundError) as exc:
            raise RowChangedError(f"{table}: {partition}/{key} is no longer at {etag}") from exc
        self._saw_service_time(reply.get("date"))
        return str(reply["etag"])

    def clock_offset(self) -> dt.timedelta | None:
        """The service's clock minus this process's, at the last write (None before one).

        The one clock read of the store, and not for a decision of its own: a
        lease or claim expiry written by this instance is read by others, so
        the caller refuses to start while this clock is far from Azure's.
        """
        return self._offset

    def _saw_service_time(self, date: object) -> None:
        """Keep how far the reply's `Date` (whole seconds, truncated) is from our clock."""
        if isinstance(date, str):
            with suppress(TypeError, ValueError):
                date = email.utils.parsedate_to_datetime(date)
        if isinstance(date, dt.datetime) and date.tzinfo is not None:
            local = dt.datetime.now(dt.UTC)
            self._offset = date - local.replace(microsecond=0)

    def delete(self, table: str, partition: str, key: str, etag: str) -> bool:
        """delete_entity(If-Match etag); the SDK hides a 404, so the status is read from a hook."""
        client = self._table(table)
        statuses: list[int] = []
        try:
            with _translated(f"deleting from {table}", ResourceModifiedError):
                client.delete_entity(
                    partition,
                    key,
                    etag=etag,
                    match_condition=MatchConditions.IfNotModified,
                    raw_response_hook=_record_status(statuses),
                )
        except ResourceModifiedError:
            return False
        return bool(statuses) and statuses[-1] != 404

    def scan(self, table: str, partition: str | None = None) -> list[Row]:
        """A partition query, or the whole table."""
        client = self._table(table)
        with _translated(f"listing {table}"):
            if partition is None:
                return [_row(entity) for entity in client.list_entities()]
            found = client.query_entities("PartitionKey eq @pk", parameters={"pk": partition})
            return [_row(entity) for entity in found]

    def close(self) -> None:
        """Close the table clients and the service client."""
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
            self._service.close()


def _record_status(statuses: list[int]) -> Callable[[PipelineResponse[Any, Any]], None]:
    def hook(response: PipelineResponse[Any, Any]) -> None:
        statuses.append(response.http_response.status_code)

    return hook


@contextmanager
def _translated(doing: str, *expected: type[AzureError]) -> Iterator[None]:
    """Azure errors the caller does not expect become a temporary store error (fail closed)."""
    try:
        yield
    except expected:
        # The caller turns these into a row conflict or "absent".
        raise
    except AzureError as exc:
        raise StoreUnavailableError(f"Table Storage failed {doing}: {exc}") from exc

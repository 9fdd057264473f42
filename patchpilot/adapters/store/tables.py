"""Azure Table Storage rows: the Function App's store, through ``azure-data-tables``.

Imported only by :func:`patchpilot.adapters.store.open_table_store`, so a cold
start that never touches the store never loads the SDK. The primitives map
one to one onto Table Storage: ``create_entity`` (409 means the row exists),
``get_entity``, ``update_entity`` in replace mode and ``delete_entity``, both
with ``If-Match: <etag>`` (412 means someone else wrote first), range queries
on PartitionKey and RowKey, and ``submit_transaction`` (one entity group
transaction: all its writes land or none). Tables are
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
from collections.abc import Callable, Iterator, Sequence
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
from azure.data.tables import (
    TableClient,
    TableEntity,
    TableServiceClient,
    TableTransactionError,
    UpdateMode,
)

from patchpilot.adapters.store.errors import RowChangedError, RowExistsError, StoreUnavailableError
from patchpilot.adapters.store.rows import Props, Row, Value, Write, after_prefix

# A reconcile has minutes, not hours: a store call gives up quickly and the
# queue's redelivery (the outer layer) tries the whole step again later.
_CLIENT_OPTIONS: Final[dict[str, Any]] = {
    "retry_total": 3,
    "retry_backoff_factor": 0.4,
    "connection_timeout": 10,
    "read_timeout": 20,
}
_RESERVED: Final = frozenset({"PartitionKey", "RowKey", "Timestamp"})
_IF_MATCH: Final = MatchConditions.IfNotModified


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

    def scan(
        self,
        table: str,
        partition: str | None = None,
        *,
        key_prefix: str | None = None,
        partition_prefix: str | None = None,
        where: tuple[str, tuple[str, ...]] | None = None,
    ) -> list[Row]:
        """A partition query (with a RowKey range), a PartitionKey range, or the whole table.

        `where` becomes an OData filter on the property, so Table Storage
        sends only the matching rows.
        """
        clauses: list[str] = []
        parameters: dict[str, str] = {}
        if partition is not None:
            clauses.append("PartitionKey eq @pk")
            parameters["pk"] = partition
        elif partition_prefix is not None:
            clauses.append("PartitionKey ge @plo and PartitionKey lt @phi")
            parameters |= {"plo": partition_prefix, "phi": after_prefix(partition_prefix)}
        if key_prefix is not None:
            clauses.append("RowKey ge @rlo and RowKey lt @rhi")
            parameters |= {"rlo": key_prefix, "rhi": after_prefix(key_prefix)}
        if where is not None:
            name, values = where
            if not name.isidentifier():
                raise ValueError(f"{name!r} is not a plain property name")
            # Spaces around each parameter: the SDK substitutes them between spaces.
            terms = [f"{name} eq @w{n}" for n in range(len(values))]
            clauses.append("( " + " or ".join(terms) + " )")
            parameters |= {f"w{n}": value for n, value in enumerate(values)}
        return self._query(table, clauses, parameters, None)

    def page(
        self,
        table: str,
        *,
        partition: str | None = None,
        after: tuple[str, str] | None = None,
        limit: int = 1000,
    ) -> list[Row]:
        """At most `limit` rows in key order after `after` (Table Storage returns key order)."""
        clauses: list[str] = []
        parameters: dict[str, str] = {}
        if partition is not None:
            clauses.append("PartitionKey eq @pk")
            parameters["pk"] = partition
        if after is not None:
            # The SDK substitutes parameters between spaces: no parenthesis may touch one.
            clauses.append("( PartitionKey gt @ap or ( PartitionKey eq @ap and RowKey gt @ak ) )")
            parameters |= {"ap": after[0], "ak": after[1]}
        return self._query(table, clauses, parameters, limit)

    def _query(
        self, table: str, clauses: list[str], parameters: dict[str, str], limit: int | None
    ) -> list[Row]:
        client = self._table(table)
        with _translated(f"listing {table}"):
            if not clauses:
                found = client.list_entities(results_per_page=limit)
            else:
                found = client.query_entities(
                    " and ".join(clauses), parameters=parameters, results_per_page=limit
                )
            if limit is None:
                return [_row(entity) for entity in found]
            rows: list[Row] = []
            for entity in found:
                rows.append(_row(entity))
                if len(rows) >= limit:
                    break
            return rows

    def commit(self, table: str, partition: str, writes: Sequence[Write]) -> list[str | None]:
        """One entity group transaction; a failed condition rejects every write of it."""
        client = self._table(table)
        operations = [_operation(partition, write) for write in writes]
        try:
            with _translated(f"committing to {table}", TableTransactionError):
                replies = client.submit_transaction(operations)
        except TableTransactionError as exc:
            raise _transaction_conflict(table, partition, writes, exc) from exc
        return [
            None if write.props is None else str(reply["etag"])
            for write, reply in zip(writes, replies, strict=True)
        ]

    def close(self) -> None:
        """Close the table clients and the service client."""
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
            self._service.close()


def _operation(partition: str, write: Write) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A transaction operation: create, replace at etag, or delete at etag."""
    if write.props is None:
        if write.etag is None:
            raise ValueError(f"a delete of {write.key} needs the etag it was read at")
        entity = {"PartitionKey": partition, "RowKey": write.key}
        return ("delete", entity, {"etag": write.etag, "match_condition": _IF_MATCH})
    entity = _entity(partition, write.key, write.props)
    if write.etag is None:
        return ("create", entity, {})
    options = {"mode": UpdateMode.REPLACE, "etag": write.etag, "match_condition": _IF_MATCH}
    return ("update", entity, options)


def _transaction_conflict(
    table: str, partition: str, writes: Sequence[Write], exc: TableTransactionError
) -> Exception:
    """The row error a rejected transaction means: 409 an insert met a row, else it changed."""
    status = exc.status_code
    if status not in (404, 409, 412):
        return StoreUnavailableError(f"Table Storage refused a transaction on {table}: {exc}")
    index = min(max(exc.index, 0), len(writes) - 1)
    where = f"{table}: {partition}/{writes[index].key}"
    if status == 409 and writes[index].etag is None:
        return RowExistsError(where)
    return RowChangedError(f"{where} changed before the transaction")


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

"""The state store: the operations ledger, leases, pauses, seen events, ring progress, watches.

One protocol (:class:`Store`), two backends: Azure Table Storage for the
Function App (:func:`open_table_store`, by connection string or by account
URL with a managed identity) and SQLite, the embedded default for local runs
(:func:`open_sqlite_store`). Both are the same rules (:mod:`.rowstore`) over
different row primitives, and one contract test suite runs against both.

Importing this package loads neither SQLite nor the Azure SDK: the factories
import their backend when called, so a cold start pays only for what it uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from patchpilot.adapters.store.errors import (
    ClaimLostError,
    RecordNotFoundError,
    StoreContentionError,
    StoreUnavailableError,
)
from patchpilot.adapters.store.history import load_history, load_own_history, unresolved_failures
from patchpilot.adapters.store.interface import Store
from patchpilot.adapters.store.names import TableNames
from patchpilot.adapters.store.records import (
    AlreadyClaimed,
    Claim,
    ImageWatch,
    Lease,
    Operation,
    OperationError,
    OperationKey,
    OperationState,
    Outcome,
    PauseRecord,
)
from patchpilot.adapters.store.rowstore import RowStore

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

__all__ = [
    "AlreadyClaimed",
    "Claim",
    "ClaimLostError",
    "ImageWatch",
    "Lease",
    "Operation",
    "OperationError",
    "OperationKey",
    "OperationState",
    "Outcome",
    "PauseRecord",
    "RecordNotFoundError",
    "RowStore",
    "Store",
    "StoreContentionError",
    "StoreUnavailableError",
    "TableNames",
    "load_history",
    "load_own_history",
    "open_sqlite_store",
    "open_table_store",
    "unresolved_failures",
]


def open_sqlite_store(path: Path | str, names: TableNames | None = None) -> RowStore:
    """The embedded store in one SQLite file, shared safely by threads and processes."""
    from patchpilot.adapters.store.sqlite import SqliteRows  # lazy: see the module doc

    return RowStore(SqliteRows(path), names)


def open_table_store(
    *,
    connection_string: str | None = None,
    account_url: str | None = None,
    credential: TokenCredential | None = None,
    names: TableNames | None = None,
) -> RowStore:
    """The Table Storage store: a connection string, or an account URL and a credential."""
    by_string = connection_string is not None and account_url is None
    by_identity = account_url is not None and connection_string is None and credential is not None
    if not (by_string or by_identity):
        raise ValueError("give either a connection string, or an account URL and a credential")
    from patchpilot.adapters.store.tables import TableRows  # lazy: see the module doc

    if connection_string is not None:
        return RowStore(TableRows.from_connection_string(connection_string), names)
    assert account_url is not None
    assert credential is not None
    return RowStore(TableRows.from_account_url(account_url, credential), names)

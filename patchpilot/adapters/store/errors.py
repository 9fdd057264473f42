"""Errors the store raises, so callers branch on classes and never on Azure or SQLite types.

Both backends translate their own exceptions (``azure.core.exceptions`` and
``sqlite3``) into these with ``raise ... from exc``. Below them, a backend's
primitives (:mod:`.rows`) report a lost race with :class:`RowExistsError` and
:class:`RowChangedError`, which the store's own modules answer (read again,
retry); they are not Patch Pilot errors.
"""

from __future__ import annotations

from patchpilot.errors import PatchPilotError, TemporaryError

# A store outage usually lasts seconds; a reconcile that finds the store down
# waits this long before its message comes back (fail closed: no store, no act).
STORE_RETRY_AFTER_SECONDS = 30.0


class StoreUnavailableError(TemporaryError):
    """The store could not be read or written: wait and retry, never act without it."""

    def __init__(self, message: str, *, retry_after: float = STORE_RETRY_AFTER_SECONDS) -> None:
        super().__init__(message, retry_after=retry_after)


class ClaimLostError(PatchPilotError):
    """The ledger record changed since this worker claimed it: another worker took it over."""


class RecordNotFoundError(PatchPilotError, LookupError):
    """An update named a record the store lacks (an operation never claimed, a watch not opened)."""


class StoreContentionError(StoreUnavailableError):
    """A record kept changing under a read-modify-write; retry the whole step later."""


class RowExistsError(Exception):
    """`insert` found a row with that key already (the other writer won)."""


class RowChangedError(Exception):
    """`replace` or `delete` found the row at another version, or gone."""

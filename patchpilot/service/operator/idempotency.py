"""Answers kept by `Idempotency-Key`, so a retried request gets the first answer again.

A client that lost the answer to `POST /api/upgrades` or `POST /api/pauses`
sends the same request with the same key; the use case finds the answer it
gave (:func:`recall`) instead of acting twice. Only accepted requests are
kept (:func:`remember`): a refusal may stop applying later (a window opens),
so retrying a refused request asks again. The ledger stays the guard against
two concurrent first attempts (at most one claim wins); this record only
makes the retry's answer the same. Records live in the store's snapshots
(kind :data:`KIND`) for :data:`KEEP`.

A record belongs to the caller that made it (the operator's name): another
caller sending the same key is refused (422) and never sees the first
caller's answer, since keys are chosen by clients and may collide or leak.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import Any, Final

from patchpilot.adapters.store import Store
from patchpilot.service.operator.errors import MalformedError, ReusedKeyError

KIND: Final = "idempotency"
KEEP: Final = dt.timedelta(hours=24)
_KEY = re.compile(r"[\x21-\x7e]{1,200}")


def check_key(key: str | None) -> str | None:
    """The key as sent, or None; a key that is not 1-200 visible ASCII characters is a 400."""
    if key is None:
        return None
    if not _KEY.fullmatch(key):
        raise MalformedError(
            "Idempotency-Key must be 1 to 200 visible ASCII characters (a UUID is a good key)"
        )
    return key


def fingerprint(request: Any) -> str:
    """A digest of the request as understood, so a key reused for another request is caught."""
    text = json.dumps(request, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def recall(
    store: Store, route: str, key: str, digest: str, now: dt.datetime, *, caller: str
) -> dict[str, Any] | None:
    """The answer kept for this caller's key on this route, or None (none, or aged out)."""
    body = store.get_snapshot(KIND, f"{route}:{key}")
    if body is None:
        return None
    kept = json.loads(body)
    if dt.datetime.fromisoformat(kept["at"]) + KEEP <= now:
        return None
    # Records kept before callers were recorded have none: they answer as before.
    if kept.get("caller", caller) != caller:
        raise ReusedKeyError(
            f"Idempotency-Key {key!r} was already used by another caller on {route}; "
            "use a new key (a UUID)"
        )
    if kept["fingerprint"] != digest:
        raise ReusedKeyError(
            f"Idempotency-Key {key!r} was already used for a different request on {route}; "
            "use a new key for a new request"
        )
    answer: dict[str, Any] = kept["answer"]
    return answer


def remember(
    store: Store,
    route: str,
    key: str,
    digest: str,
    *,
    answer: dict[str, Any],
    now: dt.datetime,
    caller: str,
) -> None:
    """Keep the answer given to the caller's first request with this key."""
    record = {"fingerprint": digest, "answer": answer, "at": now.isoformat(), "caller": caller}
    store.put_snapshot(KIND, f"{route}:{key}", json.dumps(record), now)

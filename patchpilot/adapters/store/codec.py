"""How records become rows and back: property names, keys and limits, shared by both backends.

Keys are built from the records' fields with :mod:`patchpilot.adapters.store.keys`
and chosen for the access patterns (see :mod:`patchpilot.adapters.store.rowstore`);
records are always rebuilt from properties, never from keys, so a hashed key
part loses nothing. Long free text (AKS error messages, poison bodies) is
clipped to stay far below Table Storage's 64 KiB per property.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from patchpilot.adapters.store import keys
from patchpilot.adapters.store.records import (
    ImageWatch,
    Lease,
    Operation,
    OperationError,
    OperationKey,
    PauseRecord,
    as_kind,
    as_scope,
    as_state,
    maybe_utc,
    utc,
)
from patchpilot.adapters.store.rows import Props, Row, Value
from patchpilot.domain.history import Reached
from patchpilot.domain.resource_ids import ascii_key

# Fixed partition and row keys of the tables whose rows share one partition.
PAUSES_PARTITION: Final = "pause"
POISON_PARTITION: Final = "poison"
LEASE_ROW: Final = "lease"
EVENT_ROW: Final = "seen"
MAX_TEXT: Final = 8000


def clip(text: str | None, limit: int = MAX_TEXT) -> str | None:
    """Free text cut to `limit` characters, marked when cut."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def _str(props: Props, name: str) -> str:
    value = props.get(name)
    return value if isinstance(value, str) else ""


def _opt_str(props: Props, name: str) -> str | None:
    value = props.get(name)
    return value if isinstance(value, str) and value != "" else None


def _time(props: Props, name: str) -> dt.datetime:
    value = props.get(name)
    if not isinstance(value, dt.datetime):
        raise ValueError(f"stored row lacks the time {name!r}")
    return utc(value, name)


def _opt_time(props: Props, name: str) -> dt.datetime | None:
    value = props.get(name)
    return maybe_utc(value, name) if isinstance(value, dt.datetime) else None


def _int(props: Props, name: str) -> int:
    value = props.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def pause_partition(scope: str, target: str | None) -> str:
    """Fleet and ring pauses share one partition; a cluster's lives with its subscription's.

    A reconcile reads the shared partition and its own subscription's, so
    failure pauses piling up elsewhere in a large fleet never cost it a row.
    """
    if scope != "cluster" or not target:
        return PAUSES_PARTITION
    return f"{PAUSES_PARTITION}~{keys.escape(subscription_of(target))}"


def subscription_of(cluster: str) -> str:
    """The subscription ID in a cluster's resource ID (lower case), or "" if none."""
    parts = ascii_key(cluster).split("/")
    return parts[2] if len(parts) > 2 and parts[1] == "subscriptions" else ""


def cluster_partition(cluster: str) -> str:
    """The partition of a cluster's ledger, progress and lease rows."""
    return keys.escape(cluster)


def operation_keys(key: OperationKey) -> tuple[str, str]:
    """Ledger: a partition per cluster (its history is one query); a row per pool, kind, target."""
    return cluster_partition(key.cluster), keys.join(key.pool or "", key.kind, key.target)


def operation_props(op: Operation) -> dict[str, Value]:
    """The stored properties of a ledger record."""
    key = op.key
    return {
        "cluster": key.cluster,
        "pool": key.pool or "",
        "kind": key.kind,
        "target": key.target,
        "state": op.state,
        "claimed_at": op.claimed_at,
        "expires_at": op.expires_at,
        "updated_at": op.updated_at,
        "attempts": op.attempts,
        "holder": op.holder,
        "token": op.token,
        "started_at": op.started_at,
        "finished_at": op.finished_at,
        "operation_id": op.operation_id,
        "error_code": op.error.code if op.error else None,
        "error_message": clip(op.error.message) if op.error else None,
        "actor": op.actor,
        "reason": clip(op.reason),
    }


def operation_from(row: Row) -> Operation:
    """A ledger record from its row."""
    props = row.props
    code = _opt_str(props, "error_code")
    key = OperationKey(
        _str(props, "cluster"),
        _opt_str(props, "pool"),
        as_kind(_str(props, "kind")),
        _str(props, "target"),
    )
    return Operation(
        key=key,
        state=as_state(_str(props, "state")),
        claimed_at=_time(props, "claimed_at"),
        expires_at=_time(props, "expires_at"),
        updated_at=_time(props, "updated_at"),
        attempts=_int(props, "attempts"),
        holder=_str(props, "holder"),
        token=_str(props, "token"),
        etag=row.etag,
        started_at=_opt_time(props, "started_at"),
        finished_at=_opt_time(props, "finished_at"),
        operation_id=_opt_str(props, "operation_id"),
        error=OperationError(code, _str(props, "error_message")) if code else None,
        actor=_opt_str(props, "actor"),
        reason=_opt_str(props, "reason"),
    )


def lease_keys(cluster: str) -> tuple[str, str]:
    """Leases: one partition per cluster, so lease traffic spreads over the account."""
    return cluster_partition(cluster), LEASE_ROW


def lease_props(lease: Lease) -> dict[str, Value]:
    """The stored properties of a lease."""
    return {
        "cluster": lease.cluster,
        "holder": lease.holder,
        "acquired_at": lease.acquired_at,
        "expires_at": lease.expires_at,
        "token": lease.token,
    }


def lease_from(row: Row) -> Lease:
    """A lease from its row."""
    props = row.props
    return Lease(
        cluster=_str(props, "cluster"),
        holder=_str(props, "holder"),
        acquired_at=_time(props, "acquired_at"),
        expires_at=_time(props, "expires_at"),
        token=_str(props, "token"),
        etag=row.etag,
    )


def pause_props(pause: PauseRecord) -> dict[str, Value]:
    """Pauses: one small partition, listed whole on every plan."""
    return {
        "pause_id": pause.id,
        "scope": pause.scope,
        "target": pause.target,
        "reason": clip(pause.reason),
        "by": pause.by,
        "created_at": pause.created_at,
        "until": pause.until,
    }


def pause_from(row: Row) -> PauseRecord:
    """A pause from its row."""
    props = row.props
    return PauseRecord(
        id=_str(props, "pause_id"),
        scope=as_scope(_str(props, "scope")),
        reason=_str(props, "reason"),
        by=_str(props, "by"),
        created_at=_time(props, "created_at"),
        target=_opt_str(props, "target"),
        until=_opt_time(props, "until"),
    )


def event_keys(event_id: str) -> tuple[str, str]:
    """Seen events: only point reads and writes, so each id is its own partition."""
    return keys.escape(event_id), EVENT_ROW


def event_expires(row: Row) -> dt.datetime:
    """When a seen event id may be accepted again."""
    return _time(row.props, "expires_at")


def token_of(row: Row) -> str:
    """The writer's random token: tells our own retried write from someone else's."""
    return _str(row.props, "token")


def reached_keys(key: OperationKey) -> tuple[str, str]:
    """Ring progress: one partition per cluster, a row per pool, kind and target."""
    return operation_keys(key)


def reached_props(reached: Reached) -> dict[str, Value]:
    """The stored properties of a ring progress record."""
    return {
        "cluster": reached.cluster,
        "pool": reached.pool or "",
        "kind": reached.kind,
        "target": reached.target,
        "at": reached.at,
    }


def reached_from(row: Row) -> Reached:
    """A ring progress record from its row."""
    props = row.props
    return Reached(
        cluster=_str(props, "cluster"),
        pool=_opt_str(props, "pool"),
        kind=as_kind(_str(props, "kind")),
        target=_str(props, "target"),
        at=_time(props, "at"),
    )


def watch_keys(month: str, region: str, family: str) -> tuple[str, str]:
    """Watches: one partition per month (the timer and sweep read one month)."""
    return month, keys.join(region, family)


def watch_props(watch: ImageWatch) -> dict[str, Value]:
    """The stored properties of a watch."""
    return {
        "month": watch.month,
        "region": watch.region,
        "family": watch.family,
        "opened_at": watch.opened_at,
        "image": watch.image,
        "seen_at": watch.seen_at,
    }


def watch_from(row: Row) -> ImageWatch:
    """A watch from its row."""
    props = row.props
    return ImageWatch(
        month=_str(props, "month"),
        region=_str(props, "region"),
        family=_str(props, "family"),
        opened_at=_time(props, "opened_at"),
        image=_opt_str(props, "image"),
        seen_at=_opt_time(props, "seen_at"),
    )


def poison_keys(message_id: str) -> tuple[str, str]:
    """Poison messages: one partition, counted whole (there should be few)."""
    return POISON_PARTITION, keys.escape(message_id)

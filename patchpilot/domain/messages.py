"""The reconcile queue's messages: a cluster to look at, or a subscription to sweep.

Triggers (Event Grid, timers, HTTP) enqueue one message per cluster; the
reconcile worker decodes it. Messages are hints: a lost or duplicated one
costs latency, never correctness, because the worker re-reads the cluster.
The W3C `traceparent` links the reconcile span to the trigger that caused it.
The sweep timer fans out one :class:`SweepShard` per subscription on the same
queue, so no invocation holds the whole fleet and shards scale out like
reconciles do.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from patchpilot.domain.fields import Fields
from patchpilot.domain.instants import parse_instant
from patchpilot.domain.plan import iso
from patchpilot.domain.resource_ids import ClusterId, parse_cluster_id
from patchpilot.errors import InvalidInputError

# Azure Storage queue messages are at most 64 KiB; ours are far smaller.
MAX_MESSAGE_BYTES = 8192
_TRACEPARENT = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


@dataclass(frozen=True)
class ReconcileRequest:
    """Ask the worker to reconcile one cluster."""

    cluster: ClusterId
    reason: str
    requested_at: dt.datetime
    traceparent: str | None = None
    attempt: int = 0

    def encode(self) -> str:
        """The JSON text put on the queue."""
        body: dict[str, Any] = {
            "cluster": str(self.cluster),
            "reason": self.reason,
            "requested_at": iso(self.requested_at),
            "traceparent": self.traceparent,
            "attempt": self.attempt,
        }
        return json.dumps(body, separators=(",", ":"))

    def again(self, reason: str) -> ReconcileRequest:
        """The same request, put back for a later try (busy cluster, held lease)."""
        return ReconcileRequest(
            self.cluster, reason, self.requested_at, self.traceparent, self.attempt + 1
        )


def decode(text: str | bytes) -> ReconcileRequest:
    """Parse and validate a queue message; anything else is an input error."""
    fields = Fields.of(_json(text), path="message").only(
        "cluster", "reason", "requested_at", "traceparent", "attempt"
    )
    return ReconcileRequest(
        cluster=parse_cluster_id(fields.raw("cluster"), path="message.cluster"),
        reason=fields.text("reason")[:200],
        requested_at=parse_instant(fields.text("requested_at"), path="message.requested_at"),
        traceparent=_traceparent(fields),
        attempt=fields.integer("attempt", 0, low=0, high=10_000),
    )


def _json(text: str | bytes) -> object:
    """A message's JSON, bounded in size; anything else is an input error."""
    if len(text) > MAX_MESSAGE_BYTES:
        raise InvalidInputError(f"message is larger than {MAX_MESSAGE_BYTES} bytes")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        # RecursionError: nesting deeper than the decoder's stack; no message of ours nests.
        raise InvalidInputError("message is not JSON") from exc


def _traceparent(fields: Fields) -> str | None:
    traceparent = fields.raw("traceparent", None)
    if traceparent is not None and (
        not isinstance(traceparent, str) or not _TRACEPARENT.fullmatch(traceparent)
    ):
        raise fields.error("traceparent", "is not a W3C traceparent")
    return traceparent


@dataclass(frozen=True)
class SweepShard:
    """Ask a worker to sweep one subscription: observe, store, plan, enqueue its clusters."""

    subscription: str
    requested_at: dt.datetime
    traceparent: str | None = None

    def encode(self) -> str:
        """The JSON text put on the queue."""
        body: dict[str, Any] = {
            "sweep": self.subscription,
            "requested_at": iso(self.requested_at),
            "traceparent": self.traceparent,
        }
        return json.dumps(body, separators=(",", ":"))


_SUBSCRIPTION = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def decode_sweep(text: str | bytes) -> SweepShard | None:
    """The sweep shard a message asks for; None when it is not one (a reconcile request)."""
    data = _json(text)
    if not isinstance(data, dict) or "sweep" not in data:
        return None
    fields = Fields.of(data, path="message").only("sweep", "requested_at", "traceparent")
    subscription = fields.text("sweep").lower()
    if not _SUBSCRIPTION.fullmatch(subscription):
        raise fields.error("sweep", "is not a subscription ID")
    return SweepShard(
        subscription,
        parse_instant(fields.text("requested_at"), path="message.requested_at"),
        _traceparent(fields),
    )

"""Queue-trigger entry points: decode a reconcile message, run it, and handle poison.

What is permanent is dropped with a log line (a malformed message, a cluster
outside the scopes); what is temporary (ARM throttling past the deadline, the
store unavailable) goes back on the queue with its delay, so it never counts
towards the poison threshold. Anything else raises: the Functions host
retries it and, after `maxDequeueCount`, moves it to the poison queue, where
:func:`handle_poison` records it for the status page.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging

from patchpilot.domain.messages import SweepShard, decode, decode_sweep
from patchpilot.errors import InvalidInputError, ScopeError, TemporaryError
from patchpilot.service.deps import Services
from patchpilot.service.outcomes import ReconcileOutcome, SweepOutcome
from patchpilot.service.reconcile.run import reconcile
from patchpilot.service.sweep import sweep_subscription

_log = logging.getLogger(__name__)


def handle_reconcile_message(
    services: Services, body: str | bytes, now: dt.datetime
) -> ReconcileOutcome | SweepOutcome | None:
    """Run one queued reconcile or sweep shard; None when the message was dropped."""
    try:
        shard = decode_sweep(body)
        if shard is not None:
            return _sweep_shard(services, shard, now)
        request = decode(body)
    except InvalidInputError as exc:
        _log.error("dropped malformed reconcile message: %s", exc)
        services.store.record_poison(_message_id(body), _text(body), now)
        services.telemetry.instruments.poison("reconcile")
        return None
    try:
        return reconcile(services, request, now)
    except ScopeError as exc:
        _log.error("refused reconcile of %s: %s", request.cluster, exc)
        return None
    except TemporaryError as exc:
        # Policy: temporary trouble waits its turn on the queue, not in the poison queue.
        delay = dt.timedelta(seconds=max(exc.retry_after, 1.0))
        services.queue.send(request.again(f"temporary: {exc}").encode(), now=now, delay=delay)
        _log.warning("reconcile of %s postponed by %s: %s", request.cluster, delay, exc)
        return ReconcileOutcome(
            request.cluster, waiting=str(exc), requeued_after_seconds=delay.total_seconds()
        )


def _sweep_shard(services: Services, shard: SweepShard, now: dt.datetime) -> SweepOutcome:
    """One subscription's sweep; temporary trouble puts the shard back like a reconcile."""
    attributes = {"patchpilot.subscription": shard.subscription}
    with services.telemetry.linked_span("sweep_shard", shard.traceparent, attributes=attributes):
        try:
            outcome = sweep_subscription(services, shard.subscription, now)
        except TemporaryError as exc:
            delay = dt.timedelta(seconds=max(exc.retry_after, 1.0))
            services.queue.send(shard.encode(), now=now, delay=delay)
            _log.warning("sweep of %s postponed by %s: %s", shard.subscription, delay, exc)
            return SweepOutcome(0, unobserved=(f"subscription {shard.subscription}: {exc}",))
    _log.info(
        "swept subscription %s: observed %d clusters, enqueued %d, could not read %d",
        shard.subscription,
        outcome.observed,
        len(outcome.enqueued),
        len(outcome.unobserved),
    )
    return outcome


def handle_poison(services: Services, message_id: str, body: str | bytes, now: dt.datetime) -> bool:
    """Record a message the host gave up on; True the first time it is seen."""
    first = services.store.record_poison(message_id, _text(body), now)
    if first:
        services.telemetry.instruments.poison("reconcile")
        _log.error("reconcile message %s was poisoned: %s", message_id, _text(body)[:500])
    return first


def _text(body: str | bytes) -> str:
    return body.decode("utf-8", "replace") if isinstance(body, bytes) else body


def _message_id(body: str | bytes) -> str:
    return hashlib.sha256(_text(body).encode()).hexdigest()[:32]

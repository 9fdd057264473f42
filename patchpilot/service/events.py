"""Handle one AKS Event Grid event: validate, deduplicate, record rollouts, enqueue.

Events are hints (DESIGN.md): the reconcile worker re-reads the cluster, so
this path never calls ARM and returns fast. What it records:
- NodePoolRollingSucceeded: nothing is trusted yet; the reconcile settles the
  operation from AKS's own state and advances the ring.
- NodePoolRollingFailed: the cluster is paused at once (nothing more starts
  there until an operator resumes), a metric and a log record go out, and the
  reconcile reads the cause from the pool's state and marks the operation.
Malformed events, foreign scopes and unknown types are acknowledged with a
reason and change nothing.
"""

from __future__ import annotations

import datetime as dt
import logging

from patchpilot.adapters.publisher import Notice
from patchpilot.domain.errors import UnhandledEventError
from patchpilot.domain.events import ROLLING_FAILED, AksEvent, parse_aks_event
from patchpilot.domain.messages import ReconcileRequest
from patchpilot.domain.resource_ids import in_scopes
from patchpilot.errors import InvalidInputError
from patchpilot.service.deps import Services
from patchpilot.service.outcomes import EventOutcome
from patchpilot.service.reconcile.failures import pause_for_failure
from patchpilot.telemetry import current_traceparent

_log = logging.getLogger(__name__)


def handle_event(services: Services, payload: object, now: dt.datetime) -> EventOutcome:
    """Validate one event and turn it into a reconcile request for its cluster."""
    try:
        event = parse_aks_event(payload)
    except UnhandledEventError as exc:
        _log.info("ignored event: %s", exc)
        return EventOutcome("ignored", str(exc))
    except InvalidInputError as exc:
        _log.warning("refused malformed event: %s", exc)
        return EventOutcome("refused", str(exc))
    if not in_scopes(event.cluster, services.policy.scopes):
        _log.warning(
            "refused event %s for %s: outside the policy's scopes", event.id, event.cluster
        )
        return EventOutcome("refused", "cluster is outside the policy's scopes", event.cluster)
    if not services.store.seen_event(event.id, now, services.tuning.event_ttl):
        _log.info("dropped duplicate event %s", event.id)
        return _outcome(event, "duplicate", f"event {event.id} was already handled")
    if event.type == ROLLING_FAILED:
        _pause_for_failure(services, event, now)
    request = ReconcileRequest(
        event.cluster, f"event:{event.short_type}", now, current_traceparent()
    )
    services.queue.send(request.encode(), now=now)
    return _outcome(event, "enqueued", f"reconcile requested by {event.short_type}")


def _pause_for_failure(services: Services, event: AksEvent, now: dt.datetime) -> None:
    """Stop the cluster at once; the reconcile marks the operation with AKS's cause.

    The failure metric goes out then, with the operation's kind and OS.
    """
    reason = (
        f"AKS reported NodePoolRollingFailed for pool {event.node_pool} at "
        f"{event.time.isoformat()}; the operation's error says why"
    )
    pause, made = pause_for_failure(services, event.cluster, reason, now, by="aks-event")
    if not made:
        return
    services.publisher.publish(
        Notice(
            "ClusterPaused",
            str(event.cluster),
            {
                "cluster": str(event.cluster),
                "pool": event.node_pool,
                "reason": reason,
                "pause_id": pause.id,
            },
            now,
        )
    )


def _outcome(event: AksEvent, verdict: str, reason: str) -> EventOutcome:
    return EventOutcome(verdict, reason, event.cluster, event.short_type)  # type: ignore[arg-type]

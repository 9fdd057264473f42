"""Event Grid trigger for AKS events (both schemas): validate and enqueue a reconcile."""

import json
import logging
from typing import Any

import azure.functions as func

from patchpilot.runtime import current_runtime

bp = func.Blueprint()
_log = logging.getLogger(__name__)


@bp.function_name("on_aks_event")
@bp.event_grid_trigger(arg_name="event")
def on_aks_event(event: func.EventGridEvent, context: func.Context) -> None:
    """One AKS event: acknowledged whatever it holds; what happened is logged."""
    from patchpilot.service.events import handle_event  # heavy: loaded on first use

    runtime = current_runtime()
    with runtime.services.telemetry.invocation(
        "on_aks_event", "pubsub", host=context.trace_context
    ):
        outcome = handle_event(runtime.services, event_payload(event), runtime.now())
    _log.info("event %s: %s (%s)", event.id, outcome.verdict, outcome.reason)


def event_payload(event: Any) -> dict[str, Any]:
    """The event as it arrived on the wire, in its own schema (Event Grid or CloudEvents)."""
    data = event.get_json()
    if isinstance(event, func.CloudEvent):
        return {
            "specversion": event.specversion,
            "id": event.id,
            "source": event.source,
            "type": event.type,
            "time": event.time.isoformat() if event.time else None,
            "subject": event.subject,
            "data": data,
        }
    return {
        "id": event.id,
        "topic": event.topic,
        "subject": event.subject,
        "eventType": event.event_type,
        "eventTime": event.event_time.isoformat() if event.event_time else None,
        "dataVersion": event.data_version,
        "data": json.loads(json.dumps(data)) if data is not None else None,
    }

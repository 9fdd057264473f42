"""AKS's announced maintenance: the Event Grid trigger for AKS Communication Manager (both schemas).

The subscription's system topic of type
``Microsoft.ResourceNotifications.ContainerServiceEventResources`` delivers
``ScheduledEventEmitted`` events (7 days and 24 hours ahead, then started,
completed, cancelled, failed) to ``on_aks_maintenance_event``; the sweep reads
the same announcements from Resource Graph, so a lost event is caught up.
Decodes, calls one service function and logs.
"""

import logging

import azure.functions as func

from functions.aks_events import event_payload
from patchpilot.runtime import current_runtime

bp = func.Blueprint()
_log = logging.getLogger(__name__)


@bp.function_name("on_aks_maintenance_event")
@bp.event_grid_trigger(arg_name="event")
def on_aks_maintenance_event(event: func.EventGridEvent, context: func.Context) -> None:
    """One announcement: acknowledged whatever it holds; what happened is logged."""
    from patchpilot.service.aks_maintenance import handle_maintenance_event  # heavy: first use

    runtime = current_runtime()
    services = runtime.services
    with services.telemetry.invocation(
        "on_aks_maintenance_event", "pubsub", host=context.trace_context
    ):
        outcome = handle_maintenance_event(services, event_payload(event), runtime.now())
    _log.info("maintenance event %s: %s (%s)", event.id, outcome.verdict, outcome.reason)

"""Fleet Manager approval gates: their Event Grid trigger (both schemas) and the follow-up timer.

The fleet's system topic (``Microsoft.ResourceNotifications.AKSResources``,
infra/modules/fleet-gate-events.bicep) delivers gate events to
``on_fleet_gate_event``; ``follow_fleet_gates`` judges every open gate again
every five minutes, so a blocked gate is approved once its block lifts, and
a lost event is caught up (its schedule is the app setting
``PATCHPILOT_FLEET_GATES_SCHEDULE``, ``0 */5 * * * *`` by default, as the
other timers' are). Both decode, call one service function and log.
"""

import logging

import azure.functions as func

from functions.aks_events import event_payload
from patchpilot.runtime import current_runtime

bp = func.Blueprint()
_log = logging.getLogger(__name__)


@bp.function_name("on_fleet_gate_event")
@bp.event_grid_trigger(arg_name="event")
def on_fleet_gate_event(event: func.EventGridEvent, context: func.Context) -> None:
    """One gate event: acknowledged whatever it holds; the verdict is logged."""
    from patchpilot.service.fleet_gates import handle_gate_event  # heavy: first use

    runtime = current_runtime()
    services = runtime.services
    with services.telemetry.invocation("on_fleet_gate_event", "pubsub", host=context.trace_context):
        outcome = handle_gate_event(services, event_payload(event), runtime.now())
    _log.info("gate event %s: %s (%s)", event.id, outcome.verdict, outcome.reason)


@bp.function_name("follow_fleet_gates")
@bp.timer_trigger(
    arg_name="timer", schedule="%PATCHPILOT_FLEET_GATES_SCHEDULE%", run_on_startup=False
)
def follow_fleet_gates(timer: func.TimerRequest, context: func.Context) -> None:
    """Every five minutes (the setting): judge the open gates again, approve those now clear."""
    from patchpilot.service.fleet_gates import follow_gates

    runtime = current_runtime()
    services = runtime.services
    with services.telemetry.invocation("follow_fleet_gates", "timer", host=context.trace_context):
        outcomes = follow_gates(services, runtime.now())
    _log.info(
        "fleet gates: %d judged, %d approved, %d blocked",
        len(outcomes),
        sum(o.verdict == "approved" for o in outcomes),
        sum(o.verdict == "blocked" for o in outcomes),
    )

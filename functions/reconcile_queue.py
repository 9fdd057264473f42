"""Queue triggers: reconcile one cluster per message; record poison messages."""

import logging

import azure.functions as func

from patchpilot.runtime import POISON_QUEUE, RECONCILE_QUEUE, current_runtime

bp = func.Blueprint()
_log = logging.getLogger(__name__)


@bp.function_name("reconcile")
@bp.queue_trigger(arg_name="message", queue_name=RECONCILE_QUEUE, connection="AzureWebJobsStorage")
def reconcile(message: func.QueueMessage, context: func.Context) -> None:
    """One cluster (lease, observe, plan, start what is due, release), or one sweep shard."""
    from patchpilot.service.messages import handle_reconcile_message  # heavy: first use
    from patchpilot.service.outcomes import ReconcileOutcome

    runtime = current_runtime()
    with runtime.services.telemetry.invocation(
        "reconcile", "pubsub", invocation_id=message.id, host=context.trace_context
    ):
        outcome = handle_reconcile_message(runtime.services, message.get_body(), runtime.now())
    if isinstance(outcome, ReconcileOutcome):  # a sweep shard logs its own line
        _log.info(
            "reconciled %s: started %s, waiting: %s",
            outcome.cluster,
            outcome.started,
            outcome.waiting,
        )


@bp.function_name("reconcile_poison")
@bp.queue_trigger(arg_name="message", queue_name=POISON_QUEUE, connection="AzureWebJobsStorage")
def reconcile_poison(message: func.QueueMessage, context: func.Context) -> None:
    """A message the host gave up on: keep it for the status page and count it."""
    from patchpilot.service.messages import handle_poison

    runtime = current_runtime()
    with runtime.services.telemetry.invocation(
        "reconcile_poison", "pubsub", host=context.trace_context
    ):
        handle_poison(runtime.services, message.id or "", message.get_body(), runtime.now())

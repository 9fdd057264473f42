"""Timer triggers: the periodic sweep and the Windows Update (Patch Tuesday) cycle.

Schedules come from app settings (resolved by the Functions host); Flex
Consumption runs timers in UTC, which the defaults assume.
"""

import logging

import azure.functions as func

from patchpilot.runtime import current_runtime

bp = func.Blueprint()
_log = logging.getLogger(__name__)


@bp.function_name("sweep")
@bp.timer_trigger(arg_name="timer", schedule="%PATCHPILOT_SWEEP_SCHEDULE%", run_on_startup=False)
def sweep(timer: func.TimerRequest, context: func.Context) -> None:
    """Sweep the fleet: one subscription here, several fanned out as one message each."""
    from patchpilot.service.sweep import on_timer  # heavy: loaded on first use

    runtime = current_runtime()
    with runtime.services.telemetry.invocation("sweep", "timer", host=context.trace_context):
        outcome = on_timer(runtime.services, runtime.now())
    _log.info(
        "sweep observed %d clusters, enqueued %d, could not read %d, fanned out to %d shards",
        outcome.observed,
        len(outcome.enqueued),
        len(outcome.unobserved),
        len(outcome.shards),
    )


@bp.function_name("windows_patch_cycle")
@bp.timer_trigger(arg_name="timer", schedule="%PATCHPILOT_WINDOWS_SCHEDULE%", run_on_startup=False)
def windows_patch_cycle(timer: func.TimerRequest, context: func.Context) -> None:
    """Patch Tuesday: watch for this month's AKS Windows images."""
    from patchpilot.service.windows_cycle import windows_patch_cycle as open_watches

    runtime = current_runtime()
    with runtime.services.telemetry.invocation(
        "windows_patch_cycle", "timer", host=context.trace_context
    ):
        watched = open_watches(runtime.services, runtime.now())
    _log.info("Patch Tuesday: watching %d region/image families", len(watched))


@bp.function_name("retention")
@bp.timer_trigger(
    arg_name="timer", schedule="%PATCHPILOT_RETENTION_SCHEDULE%", run_on_startup=False
)
def retention(timer: func.TimerRequest, context: func.Context) -> None:
    """Hourly, one bounded cleanup pass: Table Storage has no TTL (at most 5,000 rows a run)."""
    from patchpilot.service.retention import run_retention

    runtime = current_runtime()
    with runtime.services.telemetry.invocation("retention", "timer", host=context.trace_context):
        outcome = run_retention(runtime.services, runtime.now())
    _log.info("retention: %s", outcome.to_json())

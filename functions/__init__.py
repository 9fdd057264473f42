"""Azure Functions blueprints, one module per concern.

`function_app.py` registers every blueprint listed in :data:`BLUEPRINTS`. Each
trigger decodes its input, calls one service function and logs the outcome;
the service modules (and the Azure SDKs under them) load on first invocation,
not at import, to keep cold starts short.
"""

import azure.functions as func

from functions import (
    aks_events,
    aks_maintenance_events,
    fleet_events,
    http_api,
    reconcile_queue,
    shadow_api,
    timers,
)

BLUEPRINTS: tuple[func.Blueprint, ...] = (
    aks_events.bp,
    timers.bp,
    reconcile_queue.bp,
    http_api.bp,
    shadow_api.bp,
    fleet_events.bp,
    aks_maintenance_events.bp,
)

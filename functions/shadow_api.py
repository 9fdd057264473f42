"""HTTP trigger: the shadow report (`GET /api/shadow-report`, the read role).

What Patch Pilot would have started in shadow mode beside what really
happened on the clusters (:mod:`patchpilot.service.shadow`), as
`patchpilot shadow-report --json` prints it; from the store only, no ARM
call. Same host auth level as the other people's routes (`functions.http_api`):
anonymous to the host with App Service authentication on (the code checks the
app role), a function key with it off. Heavy modules load on the first request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import azure.functions as func

from patchpilot.settings import platform_auth_enabled

if TYPE_CHECKING:
    from patchpilot.api.exchange import Call, Reply

bp = func.Blueprint()
# Fails closed: if the platform's flag is missing, the route still needs a key.
_PEOPLE = func.AuthLevel.ANONYMOUS if platform_auth_enabled() else func.AuthLevel.FUNCTION


@bp.function_name("api_shadow_report")
@bp.route(route="shadow-report", methods=["GET"], auth_level=_PEOPLE)
def api_shadow_report(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """Each pool release: when Patch Pilot would have started, when it was really patched."""
    from patchpilot.api.exchange import Reply, answer
    from patchpilot.runtime import current_runtime
    from patchpilot.service.shadow import shadow_report

    def handle(call: Call) -> Reply:
        return Reply(200, shadow_report(call.services, call.now).to_json())

    try:
        telemetry = current_runtime().services.telemetry
    except Exception:  # the app cannot start: `answer` turns the same failure into JSON
        return answer(req, handle, function="api_shadow_report")
    # A sync function passes the host's trace context on itself (see functions.http_api).
    with telemetry.invocation("api_shadow_report", "http", host=context.trace_context):
        return answer(req, handle, function="api_shadow_report")

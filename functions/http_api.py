"""HTTP triggers: the operator's API (status, plan, manual upgrades, pauses, alerts, OpenAPI).

Who may call what is `patchpilot.api.roles` (route -> role, docs/api.md).
At the Functions host: with App Service authentication on (the platform's
`WEBSITE_AUTH_ENABLED`, read once when the worker indexes the functions),
people's routes are `anonymous` to the host, since Easy Auth has already
refused a request without a valid Entra token and the code checks the app
roles; with it off they need a function key, as before. The alert webhook
always keeps its own function key (`authLevel` function; Azure Monitor puts
it in the webhook URL), so that key opens nothing else. Each trigger hands
its request to `patchpilot.api.exchange.answer` with one use case; reading
the caller and the body, and turning errors into statuses, happen there.
The heavy modules load on the first request, not at import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import azure.functions as func

from patchpilot.settings import platform_auth_enabled

if TYPE_CHECKING:
    from patchpilot.api.exchange import Call, Reply

bp = func.Blueprint()
_KEY = func.AuthLevel.FUNCTION
# Fails closed: if the platform's flag is missing, people's routes still need a key.
_PEOPLE = func.AuthLevel.ANONYMOUS if platform_auth_enabled() else func.AuthLevel.FUNCTION


def _answer(
    name: str, req: func.HttpRequest, context: func.Context, handle: Callable[[Call], Reply]
) -> func.HttpResponse:
    """Answer inside the invocation's span, a child of the host's (context.trace_context).

    Python 3.13+ workers attach the host's trace context only for async
    functions; a sync one passes it on itself or its spans start new traces.
    """
    from patchpilot.api.exchange import answer
    from patchpilot.runtime import current_runtime

    try:
        telemetry = current_runtime().services.telemetry
    except Exception:  # the app cannot start: `answer` turns the same failure into JSON
        return answer(req, handle, function=name)
    with telemetry.invocation(name, "http", host=context.trace_context):
        return answer(req, handle, function=name)


@bp.function_name("api_status")
@bp.route(route="status", methods=["GET"], auth_level=_PEOPLE)
def api_status(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """Every cluster in scope (filters: ring, cluster) with what an operator looks for."""
    from patchpilot.api.exchange import Reply
    from patchpilot.service.operator.status import fleet_status

    def handle(call: Call) -> Reply:
        ring, cluster = call.query("ring"), call.query("cluster")
        return Reply(200, fleet_status(call.services, call.now, ring=ring, cluster=cluster))

    return _answer("api_status", req, context, handle)


@bp.function_name("api_plan")
@bp.route(route="plan", methods=["GET"], auth_level=_PEOPLE)
def api_plan(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """The dry-run plan at `at` (default now), as `patchpilot plan --json` prints it."""
    from patchpilot.api.exchange import Reply
    from patchpilot.domain.instants import parse_instant
    from patchpilot.service.operator.status import stored_plan

    def handle(call: Call) -> Reply:
        at_text = call.query("at")
        at = parse_instant(at_text, path="at") if at_text else call.now
        return Reply(200, stored_plan(call.services, at).to_json())

    return _answer("api_plan", req, context, handle)


@bp.function_name("api_upgrade")
@bp.route(route="upgrades", methods=["POST"], auth_level=_PEOPLE)
def api_upgrade(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """A manual upgrade: started (202), scheduled (202), done already (200) or refused (409).

    Needs the operate role; `force: true` needs the force role as well.
    """
    from patchpilot.api.bodies import upgrade_request
    from patchpilot.api.exchange import Reply
    from patchpilot.service.operator.idempotency import check_key
    from patchpilot.service.operator.manual import request_upgrade

    def handle(call: Call) -> Reply:
        key = check_key(call.header("Idempotency-Key"))
        request = upgrade_request(call.json())
        operator = call.stronger("force") if request.force else call.operator
        result = request_upgrade(call.services, request, operator, call.now, idempotency_key=key)
        status = 200 if result.outcome == "already_done" else 202
        headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
        return Reply(status, result.to_json(), headers)

    return _answer("api_upgrade", req, context, handle)


@bp.function_name("api_list_pauses")
@bp.route(route="pauses", methods=["GET"], auth_level=_PEOPLE)
def api_list_pauses(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """The pauses in force."""
    from patchpilot.api.exchange import Reply
    from patchpilot.service.operator.pauses import list_pauses, pause_json

    def handle(call: Call) -> Reply:
        pauses = list_pauses(call.services, call.now)
        return Reply(200, {"pauses": [pause_json(p) for p in pauses]})

    return _answer("api_list_pauses", req, context, handle)


@bp.function_name("api_add_pause")
@bp.route(route="pauses", methods=["POST"], auth_level=_PEOPLE)
def api_add_pause(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """Pause the fleet, a ring or a cluster; who asked is recorded as the pause's `by`."""
    from patchpilot.api.bodies import pause_request
    from patchpilot.api.exchange import Reply
    from patchpilot.service.operator.idempotency import check_key
    from patchpilot.service.operator.pauses import add_pause, pause_json

    def handle(call: Call) -> Reply:
        key = check_key(call.header("Idempotency-Key"))
        request = pause_request(call.json(), call.now)
        pause = add_pause(call.services, request, call.operator, call.now, idempotency_key=key)
        return Reply(201, pause_json(pause))

    return _answer("api_add_pause", req, context, handle)


@bp.function_name("api_delete_pause")
@bp.route(route="pauses/{id}", methods=["DELETE"], auth_level=_PEOPLE)
def api_delete_pause(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """Resume: delete one pause by id; `?reason=` says why, for the trace and the log."""
    from patchpilot.api.bodies import resume_reason
    from patchpilot.api.exchange import Reply
    from patchpilot.service.operator.pauses import pause_json, remove_pause

    def handle(call: Call) -> Reply:
        reason = resume_reason(call.query("reason"))
        pause = remove_pause(call.services, call.route("id"), call.operator, call.now, reason)
        return Reply(200, {"deleted": pause_json(pause)})

    return _answer("api_delete_pause", req, context, handle)


@bp.function_name("api_alert")
@bp.route(route="alerts", methods=["POST"], auth_level=_KEY)
def api_alert(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """Azure Monitor's webhook: a fired alert pauses its scope, its resolution resumes it.

    Its own key (or the alert app role) opens this function only; an alert can
    add pauses and lift only the pauses its own instance added.
    """
    from patchpilot.api.exchange import Reply
    from patchpilot.service.alerts import handle_alert

    def handle(call: Call) -> Reply:
        outcome = handle_alert(call.services, call.json(), call.now, caller=call.operator)
        return Reply(200, outcome.to_json())

    return _answer("api_alert", req, context, handle)


@bp.function_name("api_openapi")
@bp.route(route="openapi.json", methods=["GET"], auth_level=_PEOPLE)
def api_openapi(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """The OpenAPI 3.1 document describing every route."""
    from patchpilot.api.exchange import Reply
    from patchpilot.api.openapi import document

    def handle(call: Call) -> Reply:
        return Reply(200, document())

    return _answer("api_openapi", req, context, handle)

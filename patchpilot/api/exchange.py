"""One HTTP exchange: read the request once, run one use case, answer JSON, map errors to statuses.

Every HTTP trigger calls :func:`answer` with its request, its function's
name and a handler that calls one use case. The runtime and the instant
`now` are read once here; the caller is read as the platform vouches for it
and must hold the route's role (:mod:`patchpilot.api.roles`: 401 without a
credential, 403 naming the role) before anything else is read; the body
is parsed only when the handler asks (:meth:`Call.json`), with a size limit.

Errors are answered as ``{"error": {"code", "message"}}`` with the status
their class means (:func:`error_reply`): bad input is never a 500, and no
answer ever carries a stack trace. An unexpected exception is logged with
its traceback and answered 500 with a generic message.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import azure.functions as func

from patchpilot.api.errors import ForbiddenError, UnauthenticatedError
from patchpilot.api.roles import (
    ROUTE_ROLES,
    Role,
    caller,
    current_platform,
    require,
)
from patchpilot.errors import InvalidInputError, PermanentError, ScopeError, TemporaryError
from patchpilot.runtime import current_runtime
from patchpilot.service.deps import Services
from patchpilot.service.operator.errors import (
    BlockedError,
    MalformedError,
    NotFoundError,
    TooLargeError,
)
from patchpilot.service.operator.requester import Operator

# Azure Monitor caps a common-schema alert at 256 KB; nothing else the API reads comes close.
MAX_BODY_BYTES: Final = 256 * 1024
MAX_QUERY_CHARS: Final = 2048
_MAX_MESSAGE: Final = 2000
_HEADERS: Final = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
_log = logging.getLogger(__name__)
# The first class an error is an instance of decides its status: subclasses come first.
_STATUSES: Final[tuple[tuple[type[BaseException], int], ...]] = (
    (UnauthenticatedError, 401),
    (ForbiddenError, 403),
    (TooLargeError, 413),
    (MalformedError, 400),
    (ScopeError, 404),
    (NotFoundError, 404),
    (BlockedError, 409),
    (InvalidInputError, 422),
    (TemporaryError, 503),
)
_CODES: Final = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "ClusterNotInScope",
    409: "Blocked",
    413: "PayloadTooLarge",
    422: "InvalidValue",
    503: "Unavailable",
    500: "InternalError",
}


@dataclass(frozen=True)
class Reply:
    """A status, a JSON body and extra headers."""

    status: int
    body: Mapping[str, Any] | list[Any]
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Call:
    """One request as the use cases see it: services, `now`, who asked, and readers."""

    request: func.HttpRequest
    services: Services
    now: dt.datetime
    operator: Operator

    def json(self) -> Any:
        """The body as JSON; 413 when too large, 400 when empty or not JSON."""
        body = self.request.get_body() or b""
        if len(body) > MAX_BODY_BYTES:
            raise TooLargeError(f"the body is larger than {MAX_BODY_BYTES} bytes")
        if not body.strip():
            raise MalformedError("the body is empty: send a JSON object")
        try:
            return json.loads(body, parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as exc:
            raise MalformedError(f"the body is not JSON: {_first_line(exc)}") from None

    def query(self, name: str) -> str | None:
        """A query parameter, or None when absent; over-long values are malformed."""
        value = self.request.params.get(name)
        if value is None:
            return None
        text = str(value)
        if len(text) > MAX_QUERY_CHARS:
            raise MalformedError(f"query parameter {name} is longer than {MAX_QUERY_CHARS}")
        return text

    def route(self, name: str) -> str:
        """A route parameter (the Functions host only routes requests that have it)."""
        return str(self.request.route_params.get(name, ""))

    def header(self, name: str) -> str | None:
        """A request header, by case-insensitive name."""
        value = self.request.headers.get(name)
        return str(value) if value is not None else None

    def stronger(self, role: Role) -> Operator:
        """The operator acting with a role beyond the route's (403 without it)."""
        return require(self.operator, role)


def answer(
    request: func.HttpRequest, handle: Callable[[Call], Reply], *, function: str
) -> func.HttpResponse:
    """Check the caller's role for `function`, run `handle`; whatever happens, answer JSON."""
    try:
        who = caller(function, request.headers, current_platform())
        operator = require(who, ROUTE_ROLES[function])
        runtime = current_runtime()
        call = Call(request, runtime.services, runtime.now(), operator)
        reply = handle(call)
    except Exception as exc:  # translated at the edge: every error becomes a JSON answer
        reply = error_reply(exc)
    return func.HttpResponse(
        json.dumps(reply.body),
        status_code=reply.status,
        headers={**_HEADERS, **reply.headers},
        mimetype="application/json",
        charset="utf-8",
    )


def error_reply(exc: BaseException) -> Reply:
    """The status and JSON error an exception means (see the module docstring)."""
    status, code, headers = _classify(exc)
    message = str(exc) if status != 500 else "the request failed inside Patch Pilot; see its logs"
    if status == 500:
        _log.error("request failed", exc_info=exc)
    elif status in (401, 403):
        # Refusals of a credential are part of the audit trail, as the changes are.
        _log.warning("refused with %d: %s", status, message)
    body = {"error": {"code": code, "message": message[:_MAX_MESSAGE]}}
    return Reply(status, body, headers)


def _classify(exc: BaseException) -> tuple[int, str, dict[str, str]]:
    """(status, code, headers) by the exception's class (see :data:`_STATUSES`)."""
    if isinstance(exc, PermanentError):
        # AKS refused (the cluster is gone, or one of its own upgrade rules): not our 500.
        return (404, "ClusterNotFound", {}) if exc.status == 404 else (409, "AksRefused", {})
    status = next((s for kind, s in _STATUSES if isinstance(exc, kind)), 500)
    code = getattr(exc, "code", None) if status != 500 else None
    retry = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(max(1, round(retry)))} if isinstance(retry, float | int) else {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="patchpilot"'
    return status, code if isinstance(code, str) else _CODES[status], headers


def _refuse_constant(name: str) -> Any:
    """JSON has no NaN or Infinity; Python's reader would accept them."""
    raise ValueError(f"{name} is not JSON")


def _first_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]

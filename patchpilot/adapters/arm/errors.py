"""Azure SDK exceptions, read and translated into Patch Pilot's error taxonomy at the edge.

:func:`translate` turns what the retry layer gave up on into
:class:`~patchpilot.errors.TemporaryError` (throttling, 5xx, lost connections,
a 409 on a read: try again after a delay) or
:class:`~patchpilot.errors.PermanentError` (any other 4xx: ARM's code and
message, final). :func:`arm_error` reads ARM's error body
(``{"error": {"code", "message", "subcode"?, ...}}``) and :func:`retry_after_seconds`
its ``Retry-After``. Callers raise the translation ``from`` the SDK exception.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
)

from patchpilot.errors import PatchPilotError, PermanentError, TemporaryError

# When ARM gives no Retry-After: how soon a caller should try a transient failure again.
DEFAULT_RETRY_AFTER_SECONDS: Final = 30.0
CONFLICT: Final = 409
_RETRY_AFTER_MS_HEADERS: Final = ("retry-after-ms", "x-ms-retry-after-ms")
_MAX_MESSAGE: Final = 2000


@dataclass(frozen=True)
class ArmErrorBody:
    """ARM's error: code, message, the optional subcode, and the rest of the body."""

    code: str
    message: str
    subcode: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def arm_error(exc: AzureError) -> ArmErrorBody:
    """The error ARM sent with a failed response (or what the exception says)."""
    body = _error_object(exc)
    status = getattr(exc, "status_code", None)
    code = str(body.get("code") or (f"HTTP{status}" if status else type(exc).__name__))
    message = str(body.get("message") or getattr(exc, "message", None) or exc)
    subcode = body.get("subcode")
    extra = {k: v for k, v in body.items() if k not in ("code", "message", "subcode")}
    return ArmErrorBody(code, message[:_MAX_MESSAGE], str(subcode) if subcode else None, extra)


def retry_after_seconds(exc: BaseException | None) -> float | None:
    """ARM's hint of when to try again, in seconds (None when it gave none).

    ARM sends ``Retry-After`` in whole seconds; some services add a
    millisecond header. An HTTP-date form is not used by ARM and is ignored.
    """
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    for name in _RETRY_AFTER_MS_HEADERS:
        value = _number(headers.get(name))
        if value is not None:
            return value / 1000
    return _number(headers.get("retry-after"))


# AKS's 409 while another operation runs ("Operation is not allowed because there's an in
# progress ... operation"): the one conflict that means "wait", not "fix something".
_BUSY_CODES: Final = frozenset({"operationnotallowed", "anotheroperationinprogress"})


def is_busy_conflict(exc: BaseException) -> bool:
    """Whether a 409 says another operation is in progress (other 409s are real refusals)."""
    if not is_conflict(exc) or not isinstance(exc, AzureError):
        return False
    body = arm_error(exc)
    return body.code.lower() in _BUSY_CODES or "in progress" in body.message.lower()


def is_conflict(exc: BaseException) -> bool:
    """Whether ARM answered 409: another operation holds the resource."""
    return isinstance(exc, HttpResponseError) and exc.status_code == CONFLICT


def translate(exc: AzureError, *, what: str, transient: bool) -> PatchPilotError:
    """Patch Pilot's error for an SDK error the retry layer gave up on."""
    status = getattr(exc, "status_code", None)
    body = arm_error(exc)
    if transient or status == CONFLICT:
        delay = retry_after_seconds(exc) or DEFAULT_RETRY_AFTER_SECONDS
        return TemporaryError(
            f"{what}: {body.code}: {body.message} (try again in {delay:g}s)", retry_after=delay
        )
    if isinstance(exc, ClientAuthenticationError) and status is None:
        return PermanentError(
            f"{what}: no token for ARM ({body.message})",
            code="CredentialUnavailable",
            status=None,
        )
    return PermanentError(
        f"{what}: {body.message}", code=body.code, status=status, subcode=body.subcode
    )


def _error_object(exc: AzureError) -> Mapping[str, Any]:
    """The inner ``error`` object of an ARM error body, when there is one."""
    response = getattr(exc, "response", None)
    try:
        document = response.json() if response is not None else None
    except (ValueError, TypeError, AttributeError):
        document = None
    if isinstance(document, Mapping):
        inner = document.get("error", document)
        if isinstance(inner, Mapping):
            return inner
    odata = getattr(exc, "error", None)
    if odata is not None and getattr(odata, "code", None):
        return {"code": odata.code, "message": odata.message}
    return {}


def _number(value: object) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(str(value).strip())
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None

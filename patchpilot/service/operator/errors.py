"""Why an operator's request was refused: the classes the HTTP API turns into statuses.

The operator use cases (manual upgrades, pauses, alerts, status) raise these,
or the shared :class:`~patchpilot.errors.InvalidInputError` for a value that
can never be valid; `patchpilot.api.exchange` maps each class to one status
and a JSON error, so no use case knows about HTTP and no caller parses text.
"""

from __future__ import annotations

from patchpilot.errors import InvalidInputError, PatchPilotError


class MalformedError(InvalidInputError):
    """The request is not what the route reads (not JSON, wrong shape or types): a 400."""

    code = "BadRequest"


class TooLargeError(MalformedError):
    """The body is larger than the API accepts: a 413, nothing read further."""

    code = "PayloadTooLarge"


class UnknownAlertError(MalformedError):
    """An alert that maps to no cluster in scope and no ring of the policy: a 400."""

    code = "UnknownAlert"


class NotFoundError(PatchPilotError, LookupError):
    """The request names a cluster, pool or pause that Patch Pilot does not know: a 404."""

    def __init__(self, message: str, *, code: str = "NotFound") -> None:
        self.code = code
        super().__init__(message)


class BlockedError(PatchPilotError):
    """A rule refuses the request now (a window, a pause, a version rule): a 409 with the rule."""

    def __init__(self, message: str, *, code: str = "Blocked") -> None:
        self.code = code
        super().__init__(message)


class BusyError(BlockedError):
    """Something else is acting on the cluster; try again after `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(message, code="Busy")


class ReusedKeyError(InvalidInputError):
    """An `Idempotency-Key` sent again with a different request: a 422, nothing done."""

    code = "IdempotencyKeyReused"

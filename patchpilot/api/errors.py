"""Why the HTTP API refused a caller before any use case ran: a 401 or a 403.

:mod:`.roles` raises these when it decides who the caller is and what the
route needs; :func:`patchpilot.api.exchange.answer` maps each class to its
status and a JSON error. Only the API raises them, before any use case
runs, so they stand apart from :class:`~patchpilot.errors.PatchPilotError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from patchpilot.api.roles import Role


class UnauthenticatedError(Exception):
    """No credential, or one the platform did not vouch for: a 401, nothing done."""

    code = "Unauthorized"


class ForbiddenError(Exception):
    """A valid caller without the role the route needs: a 403 naming the role, nothing done."""

    code = "Forbidden"

    def __init__(self, message: str, role: Role | None = None) -> None:
        super().__init__(message)
        self.role = role

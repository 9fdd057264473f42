"""The error taxonomy of Patch Pilot, shared by every layer.

Callers branch on these classes, never on message text: permanent input errors
are reported and dropped, temporary ones are retried after their delay.
"""

from __future__ import annotations


class PatchPilotError(Exception):
    """Base class of every error Patch Pilot raises on purpose."""


class InvalidInputError(PatchPilotError, ValueError):
    """Input that can never be valid (a bad policy, schedule, version, event or body)."""

    def __init__(self, message: str, *, source: str | None = None, path: str | None = None) -> None:
        self.source = source
        self.path = path
        self.detail = message
        super().__init__(_locate(message, source, path))


def _locate(message: str, source: str | None, path: str | None) -> str:
    """Prefix a message with where the bad value sits, so a user can find it."""
    where = ": ".join(part for part in (source, path) if part)
    return f"{where}: {message}" if where else message


class ApiRefusedError(InvalidInputError):
    """The API refused the request (4xx/5xx): its status, code and message, for the user."""


class ScopeError(InvalidInputError):
    """A resource outside the policy's scopes: never observed or touched, whoever asks."""


class PermanentError(PatchPilotError):
    """ARM refused for good (a 4xx other than 409 and 429): retrying cannot help; fix the cause."""

    def __init__(
        self, message: str, *, code: str, status: int | None, subcode: str | None = None
    ) -> None:
        self.code = code
        self.subcode = subcode
        self.message = message
        self.status = status
        super().__init__(f"{code}: {message}" if message else code)


class TemporaryError(PatchPilotError):
    """Worth trying again after `retry_after` seconds (throttling, ARM 5xx, a lost connection)."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class NotNowError(TemporaryError):
    """A start refused by its own guard just before the call: the window closes too soon,
    it has not opened on every clock yet, or the cluster's lease was lost."""

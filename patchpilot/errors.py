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

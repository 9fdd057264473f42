"""Errors of the domain's own, beside the shared taxonomy in :mod:`patchpilot.errors`.

:class:`UnhandledEventError` is raised by the event readers
(:mod:`.events`, :mod:`.aks_maintenance`, :mod:`.fleet_gates`) for a
well-formed event of a type they do not read; the event use cases catch it
before :class:`~patchpilot.errors.InvalidInputError` and acknowledge the event.
"""

from __future__ import annotations

from patchpilot.errors import InvalidInputError


class UnhandledEventError(InvalidInputError):
    """A well-formed event of a type Patch Pilot does not handle: acknowledged and ignored."""

"""Errors of the adapters that are modules, not packages (``arm`` and ``store`` keep their own).

:class:`DiscoveryIncompleteError` is raised by :mod:`.discovery` when a
Resource Graph listing passes its page limit; callers see a
:class:`~patchpilot.errors.PatchPilotError` and act on nothing partial.
"""

from __future__ import annotations

from patchpilot.errors import PatchPilotError


class DiscoveryIncompleteError(PatchPilotError):
    """The listing did not finish: sweeping part of it would forget the rest."""

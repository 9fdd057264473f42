"""Errors the use cases themselves raise: wiring a process got wrong, said loudly.

Both are :class:`~patchpilot.errors.PermanentError` (retrying cannot help):
:mod:`.fleet_gates` raises :class:`NoFleetClientError` when a gate reaches a
process built without a Fleet Manager client, :mod:`.shadow` raises
:class:`ShadowWriteError` when a start reaches its gateway in shadow mode.
What an operator's request is refused for is in :mod:`.operator.errors`.
"""

from __future__ import annotations

from patchpilot.errors import PermanentError


class NoFleetClientError(PermanentError):
    """A gate to judge reached a process built without a Fleet Manager client (a wiring bug)."""


class ShadowWriteError(PermanentError):
    """A start reached the gateway in shadow mode: refused, nothing sent (a bug, said loudly)."""

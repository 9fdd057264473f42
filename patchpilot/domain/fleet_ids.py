"""Fleet Manager resource IDs: fleets, their gates and their update runs, parsed strictly.

The policy's ``fleet_gates.fleets`` names fleets by resource ID, and every
gate event names a gate and an update run, so each comes through here before
anything is compared or looked up: a crafted ID with path tricks is refused.
IDs compare as ARM compares them, ignoring ASCII case only (as
:mod:`patchpilot.domain.resource_ids` explains), so a :class:`FleetId` keeps
every part in ASCII lower case. Name rules: ``gate.tsp`` and ``fleet.tsp`` in
azure-rest-api-specs (``specification/containerservice/resource-manager/
Microsoft.ContainerService/fleet``): fleet, update run, stage and group
names are lowercase letters, digits and ``-``; a gate's name is a GUID.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from patchpilot.domain.resource_ids import ascii_key
from patchpilot.errors import InvalidInputError

_MAX_ID: Final = 1024
_SUBSCRIPTION = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_GROUP = r"[-\w.()]{0,89}[-\w()]"
_NAME = r"[a-z0-9][-a-z0-9]{0,62}"
# Gate names are GUIDs; the public event samples use look-alikes with other letters,
# so letters, digits and '-' pass, never a path separator.
_GATE = r"[a-z0-9][-a-z0-9]{0,63}"
_FLEET = (
    rf"/subscriptions/(?P<sub>{_SUBSCRIPTION})/resourcegroups/(?P<rg>{_GROUP})"
    rf"/providers/microsoft\.containerservice/fleets/(?P<fleet>{_NAME})"
)
_FLEET_ID: Final = re.compile(_FLEET, re.ASCII)
_GATE_ID: Final = re.compile(rf"{_FLEET}/gates/(?P<gate>{_GATE})", re.ASCII)
_RUN_ID: Final = re.compile(rf"{_FLEET}/updateruns/(?P<run>{_NAME})", re.ASCII)


@dataclass(frozen=True)
class FleetId:
    """A Fleet Manager resource ID, every part in ASCII lower case (one spelling per fleet)."""

    subscription: str
    resource_group: str
    name: str

    def __str__(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourcegroups/{self.resource_group}"
            f"/providers/microsoft.containerservice/fleets/{self.name}"
        )


def parse_fleet_id(text: object, *, path: str = "fleet", source: str | None = None) -> FleetId:
    """A fleet's resource ID (``.../providers/Microsoft.ContainerService/fleets/<name>``)."""
    found = _match(_FLEET_ID, text, "a Fleet Manager resource ID", path, source)
    return _fleet(found)


def gate_id_parts(text: object, *, path: str = "gate") -> tuple[FleetId, str]:
    """A gate's resource ID: its fleet and its name."""
    found = _match(_GATE_ID, text, "a Fleet Manager gate resource ID", path, None)
    return _fleet(found), found["gate"]


def run_id_parts(text: object, *, path: str = "updateRun") -> tuple[FleetId, str]:
    """An update run's resource ID: its fleet and its name."""
    found = _match(_RUN_ID, text, "a Fleet Manager update run resource ID", path, None)
    return _fleet(found), found["run"]


def _fleet(found: re.Match[str]) -> FleetId:
    return FleetId(found["sub"], found["rg"], found["fleet"])


def _match(
    pattern: re.Pattern[str], text: object, what: str, path: str, source: str | None
) -> re.Match[str]:
    if not isinstance(text, str) or not text.isascii() or len(text) > _MAX_ID:
        raise InvalidInputError(f"expected {what} (ASCII)", source=source, path=path)
    found = pattern.fullmatch(ascii_key(text.rstrip("/")))
    if found is None:
        shown = text if len(text) <= 200 else text[:200] + "..."
        raise InvalidInputError(f"{shown!r} is not {what}", source=source, path=path)
    return found

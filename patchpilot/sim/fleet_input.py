"""The fleet document the simulator serves, validated by the domain's own parser.

:func:`parse_fleet` validates the document and gives typed clusters, pools
and the catalog. A few things the simulator needs are only in the raw
mapping: the maintenance configurations as ARM returns them (the domain keeps
them parsed), and optional raw ARM ``properties`` overlays (``arm_properties``
on a cluster or a pool) for fields the fleet format has no name for yet, such
as ``apiServerAccessProfile`` or ``vmSize``, or values the API adds on GA
versions that the fleet format refuses (a pool's ``mode: Machines``); and an
optional ``arm_shape`` on a cluster, the API generation whose body it is served
in (:data:`ARM_SHAPES`). The overlays and the shape are taken out before the
domain parser sees the document, which refuses unknown fields.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from patchpilot.domain.fleet import FleetState, parse_fleet
from patchpilot.errors import InvalidInputError

OVERLAY_KEY = "arm_properties"
SHAPE_KEY = "arm_shape"
# The body generations the simulator serves, as recorded (shared/fixtures/arm-recordings):
# "current" (2023 on: currentKubernetesVersion, currentOrchestratorVersion, osSKU,
# autoUpgradeProfile.nodeOSUpgradeChannel); "2021-10-01" (no current* fields, no
# nodeOSUpgradeChannel; azure-cli__test_aks_upgrade_node_image_only_nodepool.yaml);
# "2020-11-01" (also no osSKU; aks-preview__test_aks_nodepool_get_upgrades.yaml).
ARM_SHAPES = ("current", "2021-10-01", "2020-11-01")


@dataclass(frozen=True)
class ClusterExtras:
    """What the simulator keeps of one cluster's raw mapping."""

    maintenance: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    properties: Mapping[str, Any] = field(default_factory=dict)
    pool_properties: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    shape: str = "current"


@dataclass(frozen=True)
class FleetInput:
    """The validated fleet plus, per cluster (same order), its raw extras."""

    state: FleetState
    extras: tuple[ClusterExtras, ...]


def load_fleet_input(fleet: Mapping[str, Any] | Path) -> FleetInput:
    """Read (when given a path) and validate a fleet document."""
    if isinstance(fleet, Path):
        from patchpilot.files import read_document  # YAML only when reading files

        document, source = read_document(fleet), str(fleet)
    else:
        document, source = fleet, None
    if not isinstance(document, Mapping):
        raise InvalidInputError(
            "a fleet document is a mapping with catalog and clusters", source=source
        )
    cleaned = copy.deepcopy(dict(document))
    clusters = cleaned.get("clusters")
    extras = tuple(_take_extras(c, source) for c in clusters) if isinstance(clusters, list) else ()
    state = parse_fleet(cleaned, source=source)
    return FleetInput(state, extras)


def _take_extras(cluster: object, source: str | None) -> ClusterExtras:
    """Pop the overlays out of one cluster mapping and copy what the simulator serves raw."""
    if not isinstance(cluster, dict):
        return ClusterExtras()
    properties = _overlay(cluster.pop(OVERLAY_KEY, None), source, "cluster")
    shape = cluster.pop(SHAPE_KEY, "current")
    if shape not in ARM_SHAPES:
        raise InvalidInputError(
            f"{SHAPE_KEY} must be one of {', '.join(ARM_SHAPES)}, got {shape!r}", source=source
        )
    pool_properties: dict[str, Mapping[str, Any]] = {}
    for pool in cluster.get("pools") or ():
        if isinstance(pool, dict):
            overlay = _overlay(pool.pop(OVERLAY_KEY, None), source, "pool")
            pool_properties[str(pool.get("name", "")).lower()] = overlay
    maintenance = cluster.get("maintenance_configurations") or {}
    raw_maintenance = (
        {str(name): _properties(value) for name, value in maintenance.items()}
        if isinstance(maintenance, Mapping)
        else {}
    )
    return ClusterExtras(raw_maintenance, properties, pool_properties, str(shape))


def _overlay(value: object, source: str | None, owner: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInputError(
            f"{OVERLAY_KEY} of a {owner} must be a mapping of ARM properties", source=source
        )
    return copy.deepcopy(dict(value))


def _properties(value: object) -> Mapping[str, Any]:
    """A maintenance configuration's ARM ``properties`` (the fleet may hold either form)."""
    if isinstance(value, Mapping) and isinstance(value.get("properties"), Mapping):
        value = value["properties"]
    if not isinstance(value, Mapping):
        return {}
    return {str(k): _json_safe(v) for k, v in value.items()}


def _json_safe(value: Any) -> Any:
    """YAML reads 2025-12-20 as a date; ARM's JSON carries it as text."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value

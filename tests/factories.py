"""Builders of policy and fleet documents for tests, in the contract's own shape.

Tests build plain mappings (what a YAML file holds) and parse them with the
real parsers, so every test also exercises validation.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from patchpilot.domain.fleet import FleetState, parse_fleet
from patchpilot.domain.policy import Policy, parse_policy
from patchpilot.domain.resource_ids import ClusterId, parse_cluster_id

SUB = "00000000-0000-0000-0000-000000000000"
UBUNTU = "AKSUbuntu-2204gen2containerd"
WINDOWS = "AKSWindows-2022-containerd"

# A Saturday 02:00-08:00 at +01:00 window, i.e. 01:00Z to 07:00Z.
SATURDAY_WINDOW: dict[str, Any] = {
    "schedule": {"weekly": {"intervalWeeks": 1, "dayOfWeek": "Saturday"}},
    "durationHours": 6,
    "utcOffset": "+01:00",
    "startTime": "02:00",
}


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    """An aware UTC datetime."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


def cluster_id(name: str, group: str = "rg") -> str:
    """A managed cluster resource ID in the test subscription."""
    return (
        f"/subscriptions/{SUB}/resourceGroups/{group}"
        f"/providers/Microsoft.ContainerService/managedClusters/{name}"
    )


def cluster_ref(name: str, group: str = "rg") -> ClusterId:
    """The same cluster as :func:`cluster_id`, as the value the app carries inside."""
    return parse_cluster_id(cluster_id(name, group))


def policy_doc(**overrides: Any) -> dict[str, Any]:
    """The DESIGN.md example policy, with top-level overrides."""
    doc: dict[str, Any] = {
        "scopes": [f"/subscriptions/{SUB}"],
        "default_window": copy.deepcopy(SATURDAY_WINDOW),
        "freezes": [{"start": "2025-12-20", "end": "2026-01-04", "reason": "year-end freeze"}],
        "rings": [
            {"name": "dev", "match": {"tags": {"env": "dev"}}, "soak_days": 0},
            {"name": "staging", "match": {"tags": {"env": "staging"}}, "soak_days": 2},
            {"name": "prod", "match": {"tags": {"env": "prod"}}, "soak_days": 5},
        ],
        "kubernetes": {"channel": "patch", "allow_preview": False},
        "node_images": {
            "selection": "soaked",
            "linux": {"enabled": True},
            "windows": {"enabled": True, "patch_tuesday_offset_days": 7},
        },
    }
    doc.update(overrides)
    return doc


def policy(**overrides: Any) -> Policy:
    """A parsed policy."""
    return parse_policy(policy_doc(**overrides), source="test-policy.yaml")


def pool(
    name: str = "system",
    os: str = "Linux",
    version: str = "1.32.6",
    image: str | None = None,
    mode: str | None = None,
) -> dict[str, Any]:
    """A node pool entry."""
    default_image = f"{UBUNTU}-202511.03.0" if os == "Linux" else f"{WINDOWS}-20348.4294.251015"
    return {
        "name": name,
        "os": os,
        "mode": mode or ("System" if name == "system" else "User"),
        "version": version,
        "node_image": image or default_image,
        "count": 3,
    }


def cluster(
    name: str,
    env: str,
    *,
    version: str = "1.32.6",
    pools: list[dict[str, Any]] | None = None,
    location: str = "westeurope",
    **extra: Any,
) -> dict[str, Any]:
    """A cluster entry in ring `env`."""
    doc: dict[str, Any] = {
        "id": cluster_id(name),
        "location": location,
        "tags": {"env": env},
        "kubernetes_version": version,
        "pools": pools if pools is not None else [pool(version=version)],
    }
    doc.update(extra)
    return doc


def catalog(
    kubernetes: list[Any] | None = None,
    ubuntu: list[Any] | None = None,
    windows: list[Any] | None = None,
) -> dict[str, Any]:
    """One region's catalog; defaults mirror DESIGN.md's example."""
    return {
        "kubernetes": kubernetes
        if kubernetes is not None
        else [{"version": "1.32.6"}, {"version": "1.33.2"}, {"version": "1.34.0", "preview": True}],
        "node_images": {
            UBUNTU: ubuntu if ubuntu is not None else ["202511.03.0"],
            WINDOWS: windows if windows is not None else ["20348.4294.251015"],
        },
    }


def fleet(
    clusters: list[dict[str, Any]], region: dict[str, Any] | None = None, **extra: Any
) -> FleetState:
    """A parsed fleet with every cluster in westeurope unless told otherwise."""
    doc: dict[str, Any] = {
        "catalog": {"westeurope": region or catalog(), "northeurope": region or catalog()},
        "clusters": clusters,
    }
    doc.update(extra)
    return parse_fleet(doc, source="test-fleet.yaml")

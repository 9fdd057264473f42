"""What AKS offers in a region at an instant: Kubernetes versions, upgrade paths, node images.

Built on the fleet's :class:`~patchpilot.domain.fleet.RegionCatalog` (entries
with a ``released`` date appear that day). Serves ``ListKubernetesVersions``,
the upgrade lists of both upgrade profiles, ``latestNodeImageVersion`` and the
data of ``NewKubernetesVersionAvailable`` events.

AKS rules followed here: upgrades go to a later patch of the same minor or to
any patch of the next minor (the ``patchVersions`` example of
``KubernetesVersions_List``); a minor is preview when AKS offers it only as
preview; a version given as ``MAJOR.MINOR`` means that minor's latest GA patch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from patchpilot.domain.fleet import RegionCatalog
from patchpilot.domain.node_images import NodeImageVersion
from patchpilot.domain.resource_ids import region_key
from patchpilot.domain.versions import KubernetesVersion, OfferedVersion

Minor = tuple[int, int]


class Catalog:
    """The fleet's per-region catalog, read at a given instant."""

    def __init__(self, regions: Mapping[str, RegionCatalog]) -> None:
        self._regions = dict(regions)

    def region(self, location: str) -> RegionCatalog:
        """One region's catalog (empty when the fleet does not list the region)."""
        return self._regions.get(region_key(location), RegionCatalog())

    def regions(self) -> tuple[str, ...]:
        """The regions the fleet lists."""
        return tuple(self._regions)

    def offered(self, location: str, now: dt.datetime) -> tuple[OfferedVersion, ...]:
        """Kubernetes versions offered at ``now``, oldest first, one entry per version."""
        best: dict[KubernetesVersion, OfferedVersion] = {}
        for entry in self.region(location).kubernetes_at(now):
            known = best.get(entry.version)
            # A version listed both as GA and preview is GA.
            if known is None or (known.preview and not entry.preview):
                best[entry.version] = entry
        return tuple(best[v] for v in sorted(best))

    def latest_image(self, location: str, family: str, now: dt.datetime) -> NodeImageVersion | None:
        """The newest image of a family offered at ``now`` (None: the region offers none)."""
        images = self.region(location).images_at(family, now)
        return images[-1] if images else None

    def release_instants(self, location: str) -> tuple[dt.datetime, ...]:
        """When Kubernetes versions appear in the region (midnight UTC of each release date)."""
        days = {e.released for e in self.region(location).kubernetes if e.released is not None}
        return tuple(dt.datetime.combine(d, dt.time(), dt.UTC) for d in sorted(days))

    def resolve(self, location: str, text: str, now: dt.datetime) -> KubernetesVersion | None:
        """A requested version: exact, or ``MAJOR.MINOR`` for that minor's latest GA patch."""
        parts = text.strip().lstrip("v").split(".")
        if len(parts) == 2 and all(p.isdigit() for p in parts):
            minor = (int(parts[0]), int(parts[1]))
            patches = [
                o.version
                for o in self.offered(location, now)
                if o.version.minor_version == minor and not o.preview
            ]
            return max(patches, default=None)
        return KubernetesVersion.parse(text)

    def kubernetes_versions(self, location: str, now: dt.datetime) -> dict[str, Any]:
        """The body of ``ListKubernetesVersions`` (fixture KubernetesVersions_List)."""
        offered = self.offered(location, now)
        minors = sorted({o.version.minor_version for o in offered})
        default = _default_minor(offered)
        values = []
        for minor in minors:
            of_minor = [o for o in offered if o.version.minor_version == minor]
            entry: dict[str, Any] = {
                "capabilities": {"supportPlan": ["KubernetesOfficial"]},
                "patchVersions": {
                    str(o.version): {
                        "upgrades": [str(u.version) for u in upgrades_from(o.version, offered)]
                    }
                    for o in of_minor
                },
                "version": f"{minor[0]}.{minor[1]}",
            }
            if minor == default:
                entry["isDefault"] = True
            if all(o.preview for o in of_minor):
                entry["isPreview"] = True
            values.append(entry)
        return {"values": values}

    def agent_pool_versions(self, location: str, now: dt.datetime) -> list[dict[str, Any]]:
        """``AgentPools_GetAvailableAgentPoolVersions`` entries: every offered version."""
        offered = self.offered(location, now)
        default = _default_minor(offered)
        latest_default = max(
            (o.version for o in offered if o.version.minor_version == default and not o.preview),
            default=None,
        )
        entries: list[dict[str, Any]] = []
        for o in offered:
            entry: dict[str, Any] = {"kubernetesVersion": str(o.version)}
            if o.version == latest_default:
                entry["default"] = True
            if o.preview:
                entry["isPreview"] = True
            entries.append(entry)
        return entries

    def new_version_data(self, location: str, now: dt.datetime) -> dict[str, str]:
        """The data of a ``NewKubernetesVersionAvailable`` event for the region at ``now``."""
        offered = self.offered(location, now)
        ga = sorted(o.version for o in offered if not o.preview)
        previews = sorted(o.version for o in offered if o.preview)
        data: dict[str, str] = {}
        if ga:
            minors = sorted({v.minor_version for v in ga})
            data["latestSupportedKubernetesVersion"] = str(ga[-1])
            stable_minor = minors[-2] if len(minors) > 1 else minors[-1]
            data["latestStableKubernetesVersion"] = str(_latest_of(stable_minor, ga))
            data["lowestMinorKubernetesVersion"] = str(_latest_of(minors[0], ga))
        if previews:
            data["latestPreviewKubernetesVersion"] = str(previews[-1])
        return data


def upgrades_from(
    current: KubernetesVersion,
    offered: Iterable[OfferedVersion],
    *,
    ceiling: KubernetesVersion | None = None,
) -> list[OfferedVersion]:
    """Offered versions a cluster or pool at ``current`` may move to, oldest first.

    A later patch of the same minor or any patch of the next minor, never past
    ``ceiling`` (a pool never passes its control plane).
    """
    found = [
        o
        for o in offered
        if o.version > current
        and o.version.major == current.major
        and o.version.minor <= current.minor + 1
        and (ceiling is None or o.version <= ceiling)
    ]
    return sorted(found, key=lambda o: o.version)


def upgrade_items(upgrades: Iterable[OfferedVersion]) -> list[dict[str, Any]]:
    """Upgrade entries as both upgrade profiles spell them."""
    items: list[dict[str, Any]] = []
    for offered in upgrades:
        item: dict[str, Any] = {"kubernetesVersion": str(offered.version)}
        if offered.preview:
            item["isPreview"] = True
        items.append(item)
    return items


def _latest_of(minor: Minor, versions: list[KubernetesVersion]) -> KubernetesVersion:
    return max(v for v in versions if v.minor_version == minor)


def _default_minor(offered: tuple[OfferedVersion, ...]) -> Minor | None:
    """AKS's default is the GA minor below the newest GA one (the newest when alone)."""
    minors = sorted({o.version.minor_version for o in offered if not o.preview})
    if not minors:
        return None
    return minors[-2] if len(minors) > 1 else minors[-1]

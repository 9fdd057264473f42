"""What AKS offers per region, read once per sweep and shared by every cluster observed in it.

The latest node image is the same for every pool of one region and image
family, and the Kubernetes versions the same for every cluster of a region,
so a :class:`SweepCache` remembers both for the length of one sweep: observing
1,000 clusters in three regions costs three ``ListKubernetesVersions`` calls
and one ``AgentPools_GetUpgradeProfile`` per (region, image family), not one
per pool. Create one per sweep (or per ``plan --live``) and pass it to every
observation of that sweep; it is never a module global, so a new sweep sees
what AKS offers now. :meth:`SweepCache.catalog` is the catalog the planner
reads (release dates are unknown live, hence ``None``).

Reconciles run one cluster at a time, many a minute in one Function
instance; a :class:`CatalogMemory` (one per process, on the services) hands
them one shared :class:`SweepCache` until it is ``ttl`` old, so they do not
each re-read their region's versions and images. A reconcile that sees an
image a few minutes late only starts a few minutes later; the sweep always
starts a fresh cache.

Thread-safe; two threads that miss the same key at once may both load it,
which costs one extra call and no harm.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

from patchpilot.domain.fleet import CatalogImage, CatalogVersion, RegionCatalog
from patchpilot.domain.node_images import NodeImageVersion
from patchpilot.domain.resource_ids import region_key
from patchpilot.domain.versions import OfferedVersion


class SweepCache:
    """Per-sweep memory of each region's Kubernetes versions and latest node images."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._versions: dict[str, tuple[OfferedVersion, ...]] = {}
        self._images: dict[tuple[str, str], NodeImageVersion | None] = {}

    def kubernetes_versions(
        self, location: str, load: Callable[[], tuple[OfferedVersion, ...]]
    ) -> tuple[OfferedVersion, ...]:
        """The region's offered versions, loaded on the first ask of this sweep."""
        key = region_key(location)
        with self._lock:
            if key in self._versions:
                return self._versions[key]
        versions = load()
        with self._lock:
            return self._versions.setdefault(key, versions)

    def latest_image(
        self, location: str, family: str, load: Callable[[], NodeImageVersion | None]
    ) -> NodeImageVersion | None:
        """The region's latest image of a family, loaded on the first ask of this sweep."""
        key = (region_key(location), family)
        with self._lock:
            if key in self._images:
                return self._images[key]
        image = load()
        with self._lock:
            return self._images.setdefault(key, image)

    def region(self, location: str) -> RegionCatalog:
        """What this sweep learnt of one region, as the planner's catalog."""
        key = region_key(location)
        with self._lock:
            versions = self._versions.get(key, ())
            images = [
                image for (region, _), image in self._images.items() if region == key and image
            ]
        return RegionCatalog(
            kubernetes=tuple(CatalogVersion(offered) for offered in versions),
            node_images=tuple(CatalogImage(image) for image in images),
        )

    def catalog(self) -> dict[str, RegionCatalog]:
        """Every region this sweep touched."""
        with self._lock:
            regions = {*self._versions, *(region for region, _ in self._images)}
        return {region: self.region(region) for region in sorted(regions)}


class CatalogMemory:
    """One :class:`SweepCache` shared by the reconciles of a process for ``ttl``."""

    def __init__(self, ttl: dt.timedelta = dt.timedelta(minutes=15)) -> None:
        self._ttl = ttl
        self._lock = threading.Lock()
        self._cache: tuple[dt.datetime, SweepCache] | None = None

    def cache(self, now: dt.datetime) -> SweepCache:
        """The shared cache, or a new one when it is ``ttl`` old (or `now` went back in time)."""
        with self._lock:
            if self._cache is None or not (self._cache[0] <= now < self._cache[0] + self._ttl):
                self._cache = (now, SweepCache())
            return self._cache[1]

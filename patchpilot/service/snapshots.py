"""The last observed picture of the fleet, kept in the store between invocations.

A reconcile observes one cluster but plans against the whole fleet (ring
gates need the clusters of the ring before). The sweep stores every observed
cluster as a fleet-file document; the reconcile replaces its own cluster with
a fresh observation. The catalog is kept the same way, and each version or
image gets the day Patch Pilot first saw it offered as its release date, which
the first ring's soak counts from (ARM does not say when AKS released it).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from patchpilot.adapters.store import Store
from patchpilot.domain.fleet import (
    ClusterState,
    FleetState,
    RegionCatalog,
    cluster_document,
    parse_fleet,
    region_document,
)
from patchpilot.domain.policy import Policy
from patchpilot.domain.schedule import Schedule, parse_maintenance_configuration
from patchpilot.errors import InvalidInputError

CLUSTERS = "cluster"
REGIONS = "region"


def save_clusters(store: Store, clusters: Iterable[ClusterState], now: dt.datetime) -> None:
    """Keep the latest observation of each cluster, and record what it newly reached.

    Ring soak counts from when a cluster or pool reached a version or image. A
    change seen since the last picture is recorded now (at most one sweep late,
    which only lengthens a soak); a cluster seen for the first time counts from
    now too, since nothing says how long it has run what it runs.
    """
    stored = dict(store.list_snapshots(CLUSTERS))
    for cluster in clusters:
        body = json.dumps(cluster_document(cluster))
        if stored.get(cluster.key) == body:
            continue
        previous = stored.get(cluster.key)
        _record_progress(store, _parsed(previous) if previous else None, cluster, now)
        store.put_snapshot(CLUSTERS, cluster.key, body, now)


def _record_progress(
    store: Store, previous: ClusterState | None, current: ClusterState, now: dt.datetime
) -> None:
    before = {pool.name: pool for pool in previous.pools} if previous else {}
    for pool in current.pools:
        old = before.get(pool.name)
        if old is None or old.node_image != pool.node_image:
            store.record_reached(current.key, pool.name, "node_image", str(pool.node_image), now)
        if old is None or old.version != pool.version:
            store.record_reached(current.key, pool.name, "kubernetes", str(pool.version), now)
    version = current.kubernetes_version
    if all(pool.version == version for pool in current.pools):
        store.record_reached(current.key, None, "kubernetes", str(version), now)


def stored_maintenance(store: Store) -> dict[str, dict[str, Schedule]]:
    """Each stored cluster's maintenance configurations, by cluster key.

    Resource Graph does not list maintenance configurations, so the sweep
    reads a cluster from its Resource Graph row with the configurations last
    observed in full (by a reconcile, or by the sweep for a new cluster). A
    snapshot that no longer parses is left out: that cluster is observed in full.
    """
    found: dict[str, dict[str, Schedule]] = {}
    for key, body in store.list_snapshots(CLUSTERS):
        try:
            configurations = json.loads(body).get("maintenance_configurations") or {}
            found[key] = {
                str(name): parse_maintenance_configuration(value, source=f"snapshot of {key}")
                for name, value in configurations.items()
            }
        except (ValueError, AttributeError, InvalidInputError):
            continue
    return found


def load_cluster(store: Store, key: str) -> ClusterState | None:
    """One cluster's stored picture (None when it has none), read alone."""
    body = store.get_snapshot(CLUSTERS, key)
    return None if body is None else _parsed(body)


def _parsed(body: str) -> ClusterState:
    document = {"clusters": [json.loads(body)]}
    return parse_fleet(document, source="fleet snapshot").clusters[0]


def merge_catalog(
    store: Store, observed: Mapping[str, RegionCatalog], now: dt.datetime
) -> dict[str, Any]:
    """Add what was just observed to the stored catalog; new entries are released today."""
    known = stored_regions(store)
    for region, catalog in observed.items():
        document = known.setdefault(region, {"kubernetes": [], "node_images": {}})
        changed = _add_versions(document, region_document(catalog), now.date())
        if changed:
            store.put_snapshot(REGIONS, region, json.dumps(document), now)
    return known


def load_fleet_snapshot(
    store: Store,
    fresh: Iterable[ClusterState] = (),
    regions: Mapping[str, Any] | None = None,
    *,
    pinning: bool = False,
    keep: Callable[[Mapping[str, Any]], bool] | None = None,
) -> FleetState:
    """The stored fleet with `fresh` observations in place of their stored pictures.

    `keep` picks stored cluster documents before they are parsed (parsing
    is what costs at thousands of clusters); `fresh` ones are always kept.
    """
    clusters = {key: json.loads(body) for key, body in store.list_snapshots(CLUSTERS)}
    if keep is not None:
        clusters = {key: doc for key, doc in clusters.items() if keep(doc)}
    for cluster in fresh:
        clusters[cluster.key] = cluster_document(cluster)
    catalog = regions if regions is not None else stored_regions(store)
    document = {
        "catalog": catalog,
        "clusters": [clusters[key] for key in sorted(clusters)],
        "node_image_pinning": pinning,
    }
    return parse_fleet(document, source="fleet snapshot")


def load_ring_gates(
    store: Store, state: ClusterState, regions: Mapping[str, Any], policy: Policy
) -> FleetState:
    """`state` and the stored clusters of the rings before its own: all that can gate it."""
    ahead = {ring.name for ring in policy.rings_before(policy.ring_of(state.tags))}

    def gating(document: Mapping[str, Any]) -> bool:
        tags = document.get("tags")
        ring = policy.ring_of(tags) if isinstance(tags, Mapping) else None
        return ring is not None and ring.name in ahead

    return load_fleet_snapshot(store, [state], regions, keep=gating)


def stored_regions(store: Store) -> dict[str, Any]:
    """The stored catalog, by region key, as :func:`merge_catalog` keeps it."""
    return {key: json.loads(body) for key, body in store.list_snapshots(REGIONS)}


def _add_versions(document: dict[str, Any], observed: dict[str, Any], today: dt.date) -> bool:
    """Merge an observed region into the stored one, keeping first-seen days as release days.

    Kubernetes versions are replaced by what AKS offers now (it retires old
    ones); node images accumulate, since only the newest of a family matters.
    """
    first_seen = {e["version"]: e.get("released") for e in document["kubernetes"]}
    versions = [
        entry | {"released": first_seen.get(entry["version"]) or today.isoformat()}
        for entry in observed["kubernetes"]
    ]
    changed: bool = versions != document["kubernetes"]
    document["kubernetes"] = versions
    for family, entries in observed["node_images"].items():
        present = document["node_images"].setdefault(family, [])
        seen = {entry["version"] for entry in present}
        for entry in entries:
            if entry["version"] not in seen:
                present.append(entry | {"released": today.isoformat()})
                changed = True
    return changed

"""The last observed picture of the fleet, kept in the store between invocations.

Each observed cluster is kept as a fleet-file document, one partition per
subscription (kind ``cluster~<subscription>``): a reconcile point-reads its
own, a sweep shard reads its subscription's in one query, and no hot read
spans the fleet. What earlier rings reached comes from the ring gate sums
(:mod:`.gates`), not from the other clusters' pictures. The catalog is kept
the same way, and each version or image gets the day Patch Pilot first saw
it offered as its release date, which the first ring's soak counts from (ARM
does not say when AKS released it).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Iterable, Mapping
from typing import Any

from patchpilot.adapters.store import Store
from patchpilot.adapters.store.codec import subscription_of
from patchpilot.adapters.store.rowstore import MAX_SNAPSHOT_CHARS
from patchpilot.domain.fleet import (
    ClusterState,
    FleetState,
    RegionCatalog,
    cluster_document,
    parse_fleet,
    region_document,
    with_catalog,
)
from patchpilot.domain.maintenance_config import parse_maintenance_configuration
from patchpilot.domain.node_images import parse_node_image_version
from patchpilot.domain.policy import Policy
from patchpilot.domain.schedule import Schedule
from patchpilot.errors import InvalidInputError

CLUSTERS = "cluster"
REGIONS = "region"
# Images kept per family in a region's catalog: AKS ships Linux images about
# weekly, so a year of them and more would outgrow a stored value (32,000
# characters) within two years with six families; this keeps months.
IMAGES_KEPT = 24


def cluster_kind(cluster: str) -> str:
    """The snapshot kind (one partition) that holds a cluster's picture: its subscription's."""
    return f"{CLUSTERS}~{subscription_of(cluster)}"


def save_clusters(
    store: Store,
    clusters: Iterable[ClusterState],
    now: dt.datetime,
    *,
    stored: Mapping[str, str] | None = None,
    policy: Policy | None = None,
) -> tuple[ClusterState, ...]:
    """Keep the latest observation of each cluster, record what it newly reached; the changed.

    Ring soak counts from when a cluster or pool reached a version or image. A
    change seen since the last picture is recorded now (at most one sweep late,
    which only lengthens a soak); a cluster seen for the first time counts from
    now too, since nothing says how long it has run what it runs. `stored`
    holds the pictures already read (a sweep shard's one query); otherwise
    each cluster's is point-read. With `policy`, only the tags its rings match
    on are kept: Azure allows 50 tags of 768 characters, more than one stored
    value holds, and rings are all a picture's tags are read for.
    """
    keys = None if policy is None else ring_tags(policy)
    changed = []
    for cluster in clusters:
        document = cluster_document(cluster)
        if keys is not None:
            document["tags"] = {k: v for k, v in document["tags"].items() if k in keys}
        body = json.dumps(document)
        kind = cluster_kind(cluster.key)
        previous = (
            stored.get(cluster.key) if stored is not None else store.get_snapshot(kind, cluster.key)
        )
        if previous == body:
            continue
        _record_progress(store, _parsed(previous) if previous else None, cluster, now)
        store.put_snapshot(kind, cluster.key, body, now)
        changed.append(cluster)
    return tuple(changed)


def ring_tags(policy: Policy) -> frozenset[str]:
    """The tag names the policy's rings match on."""
    return frozenset(key for ring in policy.rings for key, _ in ring.tags)


def stored_clusters(store: Store, subscription: str | None = None) -> dict[str, str]:
    """Stored pictures (key -> body) of one subscription (one query), or of every one."""
    if subscription is not None:
        return dict(store.list_snapshots(f"{CLUSTERS}~{subscription.lower()}"))
    return dict(store.list_snapshots_under(CLUSTERS + "~"))


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


def stored_maintenance(bodies: Mapping[str, str]) -> dict[str, dict[str, Schedule]]:
    """Each stored cluster's maintenance configurations, by cluster key.

    Resource Graph does not list maintenance configurations, so the sweep
    reads a cluster from its Resource Graph row with the configurations last
    observed in full (by a reconcile, or by the sweep for a new cluster). A
    snapshot that no longer parses is left out: that cluster is observed in full.
    """
    found: dict[str, dict[str, Schedule]] = {}
    for key, body in bodies.items():
        try:
            configurations = json.loads(body).get("maintenance_configurations") or {}
            text = json.dumps(configurations, sort_keys=True)
            found[key] = dict(_schedules(text, f"snapshot of {key}"))
        except (ValueError, AttributeError, InvalidInputError):
            continue
    return found


@functools.lru_cache(maxsize=1024)
def _schedules(text: str, source: str) -> tuple[tuple[str, Schedule], ...]:
    """Configurations parsed once per process while they stay the same (every sweep reads them).

    Keyed by the configurations' own text (a few hundred characters), not
    the whole picture, so the cache stays small; schedules are frozen values.
    """
    configurations = json.loads(text)
    return tuple(
        (str(name), parse_maintenance_configuration(value, source=source))
        for name, value in configurations.items()
    )


def load_cluster(store: Store, key: str) -> ClusterState | None:
    """One cluster's stored picture (None when it has none), read alone."""
    body = store.get_snapshot(cluster_kind(key), key)
    return None if body is None else _parsed(body)


def parsed_cluster(body: str) -> ClusterState | None:
    """A stored picture read back; None when it no longer parses (it is then observed anew)."""
    try:
        return _parsed(body)
    except (ValueError, InvalidInputError):
        return None


def _parsed(body: str) -> ClusterState:
    document = {"clusters": [json.loads(body)]}
    return parse_fleet(document, source="fleet snapshot").clusters[0]


def merge_catalog(
    store: Store, observed: Mapping[str, RegionCatalog], now: dt.datetime
) -> dict[str, Any]:
    """Add what was just observed to the stored catalog; the observed regions' documents.

    New entries are released today. Only the observed regions are read (one
    point read each): a plan needs the catalog of its clusters' regions only.
    """
    known = stored_regions(store, observed)
    for region, catalog in observed.items():
        document = known.setdefault(region, {"kubernetes": [], "node_images": {}})
        changed = _add_versions(document, region_document(catalog), now.date())
        if changed:
            store.put_snapshot(REGIONS, region, _fitted(document), now)
    return known


def load_fleet_snapshot(store: Store) -> FleetState:
    """The stored fleet: every stored cluster picture and the stored catalog, parsed once.

    Only stored documents are parsed: a caller holding observed clusters
    joins them to the catalog with :func:`fleet_of` instead of writing them
    out to parse them back.
    """
    clusters = stored_clusters(store)
    document = {
        "catalog": stored_regions(store),
        "clusters": [json.loads(clusters[key]) for key in sorted(clusters)],
        "node_image_pinning": False,
    }
    return parse_fleet(document, source="fleet snapshot")


def fleet_of(
    clusters: Iterable[ClusterState], regions: Mapping[str, Any], *, pinning: bool = False
) -> FleetState:
    """A fleet of just these clusters and the stored catalog: no store read."""
    return with_catalog(clusters, regions, pinning=pinning, source="fleet snapshot")


def stored_regions(store: Store, regions: Iterable[str] | None = None) -> dict[str, Any]:
    """The stored catalog, by region key, as :func:`merge_catalog` keeps it.

    Of the given regions (a point read each), or of every region (one query).
    """
    if regions is None:
        return {key: json.loads(body) for key, body in store.list_snapshots(REGIONS)}
    found = {}
    for region in regions:
        body = store.get_snapshot(REGIONS, region)
        if body is not None:
            found[region] = json.loads(body)
    return found


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
        oldest = min((_image_order(family, e) for e in present), default=(-1,))
        for entry in entries:
            full = len(present) >= IMAGES_KEPT
            if entry["version"] in seen or (full and _image_order(family, entry) <= oldest):
                continue  # known, or older than every kept image: never a target again
            present.append(entry | {"released": today.isoformat()})
            changed = True
        if len(present) > IMAGES_KEPT:
            document["node_images"][family] = _newest_images(family, present)
    return changed


def _fitted(document: dict[str, Any]) -> str:
    """The region document as stored: older images dropped until it fits one value.

    A region whose fleet runs many image families could pass the store's
    32,000 characters even at :data:`IMAGES_KEPT` a family; the oldest image of
    the longest family goes first, and each family keeps its newest two.
    """
    text = json.dumps(document)
    images = document["node_images"]
    while len(text) > MAX_SNAPSHOT_CHARS:
        family = max(images, key=lambda name: len(images[name]))
        if len(images[family]) <= 2:
            break  # nothing more to give: put_snapshot says so
        images[family] = _newest_images(family, images[family], len(images[family]) - 1)
        text = json.dumps(document)
    return text


def _newest_images(
    family: str, entries: list[dict[str, Any]], keep: int = IMAGES_KEPT
) -> list[dict[str, Any]]:
    """The newest `keep` images of a family, in the order they were first seen.

    Only the newest image of a family is ever a target; older entries only
    date pools still on them, and a pool on an image no longer listed counts
    as having run it since long ago (a gate then waits on nothing it lacks).
    """

    newest = sorted(entries, key=lambda e: _image_order(family, e), reverse=True)[:keep]
    kept = {id(entry) for entry in newest}
    return [entry for entry in entries if id(entry) in kept]


def _image_order(family: str, entry: Mapping[str, Any]) -> tuple[int, ...]:
    """Release order of a catalog entry; an unreadable one sorts oldest."""
    try:
        return parse_node_image_version(family, str(entry["version"])).sort_key
    except ValueError:
        return (-1,)

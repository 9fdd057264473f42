"""What the fleet looks like: clusters, node pools and what AKS offers per region.

The planner reads a :class:`FleetState`. It is built either from a fleet file
(:func:`parse_fleet`, for offline planning, the demo and the simulator) or
from live ARM observations (the adapters). Either way it is plain data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

from patchpilot.domain.aks_maintenance import AksMaintenance, announced_entry
from patchpilot.domain.fields import Fields
from patchpilot.domain.maintenance_config import parse_maintenance_configuration, to_arm
from patchpilot.domain.node_images import (
    NodeImageVersion,
    OsType,
    default_os_sku,
    parse_node_image,
    parse_node_image_version,
)
from patchpilot.domain.resource_ids import ClusterId, parse_cluster_id, region_key
from patchpilot.domain.schedule import Schedule
from patchpilot.domain.versions import KubernetesVersion, OfferedVersion
from patchpilot.errors import InvalidInputError

# The two AKS maintenance configurations that gate each kind of upgrade.
KUBERNETES_SCHEDULE = "aksManagedAutoUpgradeSchedule"
NODE_OS_SCHEDULE = "aksManagedNodeOSUpgradeSchedule"
MAINTENANCE_NAMES = ("default", KUBERNETES_SCHEDULE, NODE_OS_SCHEDULE)

# autoUpgradeProfile values as AKS spells them.
AUTO_UPGRADE_CHANNELS = ("none", "patch", "stable", "rapid", "node-image")
NODE_OS_CHANNELS = ("None", "Unmanaged", "SecurityPatch", "NodeImage")
PoolMode = Literal["System", "User", "Gateway"]


@dataclass(frozen=True)
class CatalogVersion:
    """A Kubernetes version AKS offers in a region, and since when."""

    offered: OfferedVersion
    released: dt.date | None = None


@dataclass(frozen=True)
class CatalogImage:
    """A node image version AKS offers in a region, and since when."""

    image: NodeImageVersion
    released: dt.date | None = None


@dataclass(frozen=True)
class RegionCatalog:
    """What AKS offers in one region; entries with a release date appear on that day."""

    kubernetes: tuple[CatalogVersion, ...] = ()
    node_images: tuple[CatalogImage, ...] = ()

    def kubernetes_at(self, now: dt.datetime) -> tuple[OfferedVersion, ...]:
        """The Kubernetes versions offered at `now`."""
        return tuple(e.offered for e in self.kubernetes if _released_by(e.released, now))

    def images_at(self, family: str, now: dt.datetime) -> tuple[NodeImageVersion, ...]:
        """The images of one family offered at `now`, oldest first."""
        images = (
            e.image
            for e in self.node_images
            if e.image.family == family and _released_by(e.released, now)
        )
        return tuple(sorted(images, key=lambda image: image.sort_key))

    def kubernetes_released(self, version: KubernetesVersion) -> dt.datetime | None:
        """When AKS first offered a version here (None: before anything we know of)."""
        dates = [e.released for e in self.kubernetes if e.offered.version == version]
        return _first_instant(dates)

    def image_released(self, image: NodeImageVersion) -> dt.datetime | None:
        """When AKS first offered an image here (None: before anything we know of)."""
        dates = [e.released for e in self.node_images if e.image == image]
        return _first_instant(dates)


@dataclass(frozen=True)
class PoolState:
    """One agent pool as observed."""

    name: str
    os_type: OsType
    mode: PoolMode
    version: KubernetesVersion
    node_image: NodeImageVersion
    count: int = 1
    os_sku: str | None = None
    # What AKS shows of the pool itself: a pool operation shows here, not on the cluster.
    provisioning_state: str = "Succeeded"


@dataclass(frozen=True)
class UnmanagedPool:
    """A pool Patch Pilot cannot read (a mode or OS it has never seen): left alone, said why.

    Its provisioning state still counts: an operation on it keeps the cluster busy.
    """

    name: str
    reason: str
    provisioning_state: str = "Succeeded"


# AKS's provisioning states in which nothing runs any more.
SETTLED_STATES: Final = frozenset({"Succeeded", "Failed", "Canceled"})


@dataclass(frozen=True)
class ClusterState:
    """One managed cluster as observed."""

    id: ClusterId
    location: str
    kubernetes_version: KubernetesVersion
    pools: tuple[PoolState, ...]
    tags: Mapping[str, str] = field(default_factory=dict)
    auto_upgrade_channel: str = "none"
    node_os_upgrade_channel: str = "None"
    maintenance: Mapping[str, Schedule] = field(default_factory=dict)
    provisioning_state: str = "Succeeded"
    unmanaged: tuple[UnmanagedPool, ...] = ()
    # The maintenance AKS announced on this cluster (AKS Communication Manager), as stored:
    # the reconcile reads it for its cluster; ARM's own read of the cluster does not carry it.
    aks_maintenance: tuple[AksMaintenance, ...] = ()

    @property
    def key(self) -> str:
        """The case-insensitive cluster identity used in history records."""
        return self.id.key

    def pool(self, name: str | None) -> PoolState | None:
        """The managed pool named ``name`` (names are unique in a cluster), or None.

        None for a name the cluster has no managed pool of, and for None (the control plane).
        """
        return next((pool for pool in self.pools if pool.name == name), None)

    def running(self) -> str | None:
        """What AKS shows running on the cluster or on any of its pools, or None.

        AKS shows a pool operation (a node image upgrade, a pool's version)
        on the pool while the cluster stays `Succeeded` (recorded azure-cli
        traffic), so every pool counts, those Patch Pilot leaves alone too.
        """
        if self.provisioning_state not in SETTLED_STATES:
            return f"cluster is {self.provisioning_state}"
        pools: tuple[PoolState | UnmanagedPool, ...] = (*self.pools, *self.unmanaged)
        for pool in pools:
            if pool.provisioning_state not in SETTLED_STATES:
                return f"pool {pool.name} is {pool.provisioning_state}"
        return None

    def reached(self, pool: str | None, kind: str, target: str) -> ClusterState:
        """This cluster once an upgrade AKS reported as succeeded has landed.

        Lets a reconcile that polled the operation's end plan without reading
        the cluster again; the next observation or sweep replaces the guess.
        """
        if pool is None:
            return replace(self, kubernetes_version=KubernetesVersion.parse(target))
        pools = tuple(p if p.name != pool else _pool_reached(p, kind, target) for p in self.pools)
        return replace(self, pools=pools)


def _pool_reached(pool: PoolState, kind: str, target: str) -> PoolState:
    if kind == "kubernetes":
        return replace(pool, version=KubernetesVersion.parse(target))
    return replace(pool, node_image=parse_node_image(target))


@dataclass(frozen=True)
class FleetState:
    """Every observed cluster plus the per-region catalog.

    `node_image_pinning` says whether AKS lets a specific node image version be
    requested (then a later ring gets exactly what an earlier ring soaked) or
    only "latest" (then a later ring waits until latest equals that image).
    """

    clusters: tuple[ClusterState, ...]
    catalog: Mapping[str, RegionCatalog]
    node_image_pinning: bool = False

    def region(self, location: str) -> RegionCatalog:
        """The catalog of a region (empty when unknown: nothing is offered)."""
        return self.catalog.get(region_key(location), RegionCatalog())


def parse_fleet(data: object, *, source: str | None = None) -> FleetState:
    """Validate a fleet document (see DESIGN.md, "Fleet file") and build the state."""
    fields = Fields.of(data, source=source).only("catalog", "clusters", "node_image_pinning")
    regions = _regions(fields.child("catalog", {}))
    clusters = tuple(
        _cluster(Fields.of(item, source=source, path=path))
        for path, item in fields.items("clusters", required=True)
    )
    _refuse_duplicates(fields, clusters)
    return FleetState(clusters, regions, fields.flag("node_image_pinning", False))


def with_catalog(
    clusters: Iterable[ClusterState], catalog: object, *, pinning: bool = False, source: str
) -> FleetState:
    """A fleet of clusters already parsed and a catalog document (the fleet file's `catalog`).

    The sweep and the reconcile hold parsed clusters; writing them out to
    parse them again only to join them with the catalog cost most of a plan.
    """
    ordered = tuple(sorted(clusters, key=lambda cluster: cluster.key))
    fields = Fields.of({"catalog": catalog, "clusters": []}, source=source)
    _refuse_duplicates(fields, ordered)
    return FleetState(ordered, _regions(fields.child("catalog", {})), pinning)


def _regions(catalog: Fields) -> dict[str, RegionCatalog]:
    return {
        region_key(str(name)): _region(
            Fields.of(value, source=catalog.source, path=catalog.at(str(name)))
        )
        for name, value in catalog.data.items()
    }


def _region(fields: Fields) -> RegionCatalog:
    fields.only("kubernetes", "node_images")
    versions = tuple(
        _catalog_version(fields, path, item) for path, item in fields.items("kubernetes")
    )
    images_by_family = fields.child("node_images", {})
    images: list[CatalogImage] = []
    for family, entries in images_by_family.data.items():
        family_fields = Fields.of(
            {"entries": entries}, source=fields.source, path=images_by_family.path
        )
        for entries_path, item in family_fields.items("entries"):
            path = entries_path.replace(".entries", f".{family}")
            images.append(_catalog_image(fields, str(family), path, item))
    return RegionCatalog(versions, tuple(images))


def _catalog_version(fields: Fields, path: str, item: Any) -> CatalogVersion:
    entry = _entry(fields, path, item)
    entry.only("version", "preview", "released")
    version = KubernetesVersion.parse(
        str(entry.raw("version")), source=fields.source, path=entry.at("version")
    )
    return CatalogVersion(OfferedVersion(version, entry.flag("preview", False)), _released(entry))


def _catalog_image(fields: Fields, family: str, path: str, item: Any) -> CatalogImage:
    entry = _entry(fields, path, item).only("version", "released")
    image = parse_node_image_version(
        family, str(entry.raw("version")), source=fields.source, path=entry.at("version")
    )
    return CatalogImage(image, _released(entry))


def _entry(fields: Fields, path: str, item: Any) -> Fields:
    """A catalog entry: a bare version, or a mapping with `version` and options."""
    if isinstance(item, str | int | float):
        item = {"version": str(item)}
    return Fields.of(item, source=fields.source, path=path)


def _released(entry: Fields) -> dt.date | None:
    return entry.day("released") if entry.has("released") else None


_CLUSTER_FIELDS = (
    "id", "location", "tags", "kubernetes_version", "auto_upgrade_channel",
    "node_os_upgrade_channel", "maintenance_configurations", "pools", "provisioning_state",
    "unmanaged_pools", "arm_properties", "aks_maintenance",
)  # fmt: skip


def _cluster(fields: Fields) -> ClusterState:
    # `arm_properties` (cluster and pool) are raw ARM overlays for the simulator;
    # the planner does not read them, but a fleet file may carry them.
    fields.only(*_CLUSTER_FIELDS)
    cluster_id = parse_cluster_id(fields.raw("id"), source=fields.source, path=fields.at("id"))
    pools = tuple(
        _pool(Fields.of(item, source=fields.source, path=path))
        for path, item in fields.items("pools", required=True)
    )
    if not pools:
        raise fields.error("pools", "a cluster has at least one (system) node pool")
    return ClusterState(
        id=cluster_id,
        location=fields.text("location"),
        kubernetes_version=_version(fields, "kubernetes_version"),
        pools=pools,
        tags=fields.string_map("tags"),
        auto_upgrade_channel=fields.text(
            "auto_upgrade_channel", "none", choices=AUTO_UPGRADE_CHANNELS
        ),
        node_os_upgrade_channel=fields.text(
            "node_os_upgrade_channel", "None", choices=NODE_OS_CHANNELS
        ),
        maintenance=_maintenance(fields.child("maintenance_configurations", {})),
        provisioning_state=fields.text("provisioning_state", "Succeeded"),
        unmanaged=tuple(
            _unmanaged(Fields.of(item, source=fields.source, path=path))
            for path, item in fields.items("unmanaged_pools")
        ),
        aks_maintenance=tuple(
            announced_entry(item, cluster_id, source=fields.source, path=path)
            for path, item in fields.items("aks_maintenance")
        ),
    )


def _unmanaged(fields: Fields) -> UnmanagedPool:
    fields.only("name", "reason", "provisioning_state")
    return UnmanagedPool(
        fields.text("name"),
        fields.text("reason"),
        fields.text("provisioning_state", "Succeeded"),
    )


def _pool(fields: Fields) -> PoolState:
    fields.only(
        "name", "os", "os_sku", "mode", "version", "node_image", "count", "provisioning_state",
        "arm_properties",
    )  # fmt: skip
    os_type = fields.text("os", choices=("Linux", "Windows"))
    image_text = fields.text("node_image")
    image = _image(fields, image_text)
    if image.os_type != os_type:
        raise fields.error(
            "node_image", f"{image_text} is a {image.os_type} image on an {os_type} pool"
        )
    return PoolState(
        name=fields.text("name"),
        os_type=image.os_type,
        mode=fields.text("mode", "User", choices=("System", "User", "Gateway")),  # type: ignore[arg-type]
        version=_version(fields, "version"),
        node_image=image,
        count=fields.integer("count", 1, low=0, high=5000),
        os_sku=fields.raw("os_sku", None) or default_os_sku(image),
        provisioning_state=fields.text("provisioning_state", "Succeeded"),
    )


def _image(fields: Fields, text: str) -> NodeImageVersion:
    return parse_node_image(text, source=fields.source, path=fields.at("node_image"))


def _version(fields: Fields, key: str) -> KubernetesVersion:
    return KubernetesVersion.parse(str(fields.raw(key)), source=fields.source, path=fields.at(key))


def _maintenance(fields: Fields) -> dict[str, Schedule]:
    fields.only(*MAINTENANCE_NAMES)
    return {str(name): _configuration(fields, str(name)) for name in fields.data}


def _configuration(fields: Fields, name: str) -> Schedule:
    """Parse one configuration, locating any error under this cluster's field path."""
    try:
        return parse_maintenance_configuration(fields.data[name], source=fields.source)
    except InvalidInputError as exc:
        inner = f"{fields.at(name)}.{exc.path}" if exc.path else fields.at(name)
        raise InvalidInputError(exc.detail, source=fields.source, path=inner) from None


def _refuse_duplicates(fields: Fields, clusters: tuple[ClusterState, ...]) -> None:
    seen: set[str] = set()
    for index, cluster in enumerate(clusters):
        if cluster.key in seen:
            raise fields.error("clusters", f"cluster {cluster.id} is listed twice (entry {index})")
        seen.add(cluster.key)
        names = [pool.name for pool in cluster.pools]
        if len(set(names)) != len(names):
            raise fields.error("clusters", f"cluster {cluster.id} has two pools with one name")


def _released_by(released: dt.date | None, now: dt.datetime) -> bool:
    return released is None or released <= now.astimezone(dt.UTC).date()


def _first_instant(dates: list[dt.date | None]) -> dt.datetime | None:
    if not dates or any(d is None for d in dates):
        return None
    first = min(d for d in dates if d is not None)
    return dt.datetime.combine(first, dt.time(), dt.UTC)


def fleet_document(state: FleetState) -> dict[str, Any]:
    """The fleet as a fleet-file document: :func:`parse_fleet` reads it back unchanged.

    The service stores each observed cluster this way between sweeps, so a
    reconcile plans one cluster against the last picture of the others.
    """
    return {
        "catalog": {name: region_document(region) for name, region in state.catalog.items()},
        "clusters": [cluster_document(cluster) for cluster in state.clusters],
        "node_image_pinning": state.node_image_pinning,
    }


def region_document(region: RegionCatalog) -> dict[str, Any]:
    """One region's catalog in the fleet file's shape."""
    images: dict[str, list[dict[str, Any]]] = {}
    for entry in region.node_images:
        images.setdefault(entry.image.family, []).append(
            _released_entry(entry.image.version, entry.released)
        )
    versions = [
        _released_entry(str(e.offered.version), e.released) | {"preview": e.offered.preview}
        for e in region.kubernetes
    ]
    return {"kubernetes": versions, "node_images": images}


def cluster_document(cluster: ClusterState) -> dict[str, Any]:
    """One cluster in the fleet file's shape."""
    return {
        "id": str(cluster.id),
        "location": cluster.location,
        "tags": dict(cluster.tags),
        "kubernetes_version": str(cluster.kubernetes_version),
        "auto_upgrade_channel": cluster.auto_upgrade_channel,
        "node_os_upgrade_channel": cluster.node_os_upgrade_channel,
        "provisioning_state": cluster.provisioning_state,
        "maintenance_configurations": {
            name: to_arm(schedule) for name, schedule in cluster.maintenance.items()
        },
        "pools": [_pool_document(pool) for pool in cluster.pools],
        "unmanaged_pools": [
            {"name": p.name, "reason": p.reason, "provisioning_state": p.provisioning_state}
            for p in cluster.unmanaged
        ],
    }


def _pool_document(pool: PoolState) -> dict[str, Any]:
    return {
        "name": pool.name,
        "os": pool.os_type,
        "os_sku": pool.os_sku,
        "mode": pool.mode,
        "version": str(pool.version),
        "node_image": str(pool.node_image),
        "count": pool.count,
        "provisioning_state": pool.provisioning_state,
    }


def _released_entry(version: str, released: dt.date | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"version": version}
    if released is not None:
        entry["released"] = released.isoformat()
    return entry

"""ARM's JSON for one managed cluster, read into the planner's state and the posture snapshot.

Pure functions over the JSON ARM returns (the SDK models' ``as_dict()``, in
ARM's camelCase, as in the azure-rest-api-specs examples), so live
observation produces exactly the :class:`~patchpilot.domain.fleet.ClusterState`
that :func:`~patchpilot.domain.fleet.parse_fleet` builds from a fleet file
describing the same cluster. Called by the gateway, which does the requests.

What is read, and from where:

- versions: ``currentKubernetesVersion`` (what runs; ``kubernetesVersion`` is
  the goal and may be ``MAJOR.MINOR``) and each pool's
  ``currentOrchestratorVersion``; node images from ``nodeImageVersion`` (the
  dash or the legacy colon form);
- ``provisioningState`` and ``powerState`` of the cluster and of each pool,
  each pool's ``upgradeSettings`` and ``status.provisioningError``;
- ``autoUpgradeProfile.upgradeChannel`` / ``nodeOSUpgradeChannel`` (absent
  means the fleet file's defaults, ``none`` and ``None``);
- security: ``apiServerAccessProfile``, ``disableLocalAccounts``,
  ``securityProfile.azureKeyVaultKms``, pools' ``vmSize``, ``nodeLabels``, ``tags``;
- ``ListKubernetesVersions`` (preview is per minor, ``isPreview``) and each
  pool's upgrade profile ``latestNodeImageVersion``.

A Resource Graph row of a managed cluster carries the same ``id``,
``location``, ``tags`` and ``properties`` as the GET, so
:func:`state_from_graph_row` reads it with the same functions: the sweep gets
the same state from one paged query as from three requests per cluster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from patchpilot.domain.fleet import (
    AUTO_UPGRADE_CHANNELS,
    MAINTENANCE_NAMES,
    NODE_OS_CHANNELS,
    ClusterState,
    PoolMode,
    PoolState,
    RegionCatalog,
    UnmanagedPool,
)
from patchpilot.domain.maintenance_config import parse_maintenance_configuration
from patchpilot.domain.node_images import NodeImageVersion, parse_node_image
from patchpilot.domain.posture import ClusterPosture, PoolPosture
from patchpilot.domain.resource_ids import ClusterId, parse_cluster_id
from patchpilot.domain.schedule import Schedule
from patchpilot.domain.versions import KubernetesVersion, OfferedVersion
from patchpilot.errors import InvalidInputError

POOL_MODES: Final = ("System", "User", "Gateway")
Json = Mapping[str, Any]


@dataclass(frozen=True)
class PoolDetails:
    """What ARM says of a pool beyond the planner's :class:`PoolState`."""

    name: str
    provisioning_state: str
    power_state: str | None = None
    upgrade_settings: Json = field(default_factory=dict)
    error: Json | None = None


@dataclass(frozen=True)
class ClusterObservation:
    """One cluster as observed: the planner's state, its region's catalog, posture and extras."""

    state: ClusterState
    catalog: RegionCatalog
    posture: ClusterPosture
    power_state: str | None = None
    pools: tuple[PoolDetails, ...] = ()
    error: Json | None = None

    def details_of(self, pool: str | None) -> PoolDetails | None:
        """What ARM showed of the pool named ``pool`` beyond the planner's view, or None."""
        return next((details for details in self.pools if details.name == pool), None)


def properties(resource: Json) -> Json:
    """A resource's ``properties`` (empty when ARM sent none)."""
    value = resource.get("properties")
    return value if isinstance(value, Mapping) else {}


def cluster_state(
    cluster: ClusterId, resource: Json, maintenance: Mapping[str, Schedule]
) -> ClusterState:
    """The planner's view of a managed cluster resource."""
    props = properties(resource)
    source = str(cluster)
    channels = _mapping(props.get("autoUpgradeProfile"))
    read = [_read_pool(p, source) for p in _list(props.get("agentPoolProfiles"))]
    return ClusterState(
        id=cluster,
        location=_text(resource.get("location"), "location", source),
        kubernetes_version=_version(props, "currentKubernetesVersion", "kubernetesVersion", source),
        pools=tuple(p for p in read if isinstance(p, PoolState)),
        unmanaged=tuple(p for p in read if isinstance(p, UnmanagedPool)),
        tags={str(k): str(v) for k, v in _mapping(resource.get("tags")).items()},
        auto_upgrade_channel=_canonical(
            channels.get("upgradeChannel"), AUTO_UPGRADE_CHANNELS, "none", source
        ),
        node_os_upgrade_channel=_canonical(
            channels.get("nodeOSUpgradeChannel"), NODE_OS_CHANNELS, "None", source
        ),
        maintenance=dict(maintenance),
        provisioning_state=_provisioning(props),
    )


def state_from_graph_row(row: Json, maintenance: Mapping[str, Schedule]) -> ClusterState:
    """The planner's view of a Resource Graph ``resources`` row for a managed cluster.

    Resource Graph has no maintenance configurations (they are a separate
    child resource), so the caller passes the ones it last observed.
    """
    cluster = parse_cluster_id(row.get("id"), source="Resource Graph")
    if not properties(row):
        raise InvalidInputError(
            "the Resource Graph row has no properties (project them)", source=str(cluster)
        )
    return cluster_state(cluster, row, maintenance)


def _read_pool(profile: Json, source: str) -> PoolState | UnmanagedPool:
    """A pool the planner can manage, or one it leaves alone with the reason.

    ARM adds values on GA API versions (`mode: Machines` pools carry no node
    image): one such pool must not make its whole cluster unobservable. The
    rest of the cluster is planned; the unknown pool is a finding.
    """
    try:
        return pool_state(profile, source)
    except InvalidInputError as exc:
        props = properties(profile) or profile
        name = str(profile.get("name") or "?")
        return UnmanagedPool(
            name=name,
            reason=f"pool {name} is not managed by Patch Pilot: {exc}",
            provisioning_state=_provisioning(props),
        )


def pool_state(profile: Json, source: str) -> PoolState:
    """The planner's view of one agent pool profile (or agent pool ``properties``)."""
    props = properties(profile) or profile
    name = _text(profile.get("name"), "agentPoolProfiles.name", source)
    where = f"agentPoolProfiles[{name}]"
    image = parse_node_image(
        _text(props.get("nodeImageVersion"), f"{where}.nodeImageVersion", source),
        source=source,
        path=f"{where}.nodeImageVersion",
    )
    os_type = _canonical(
        props.get("osType"), ("Linux", "Windows"), image.os_type, source, f"{where}.osType"
    )
    if os_type != image.os_type:
        raise InvalidInputError(
            f"{image} is a {image.os_type} image on an {os_type} pool", source=source, path=where
        )
    mode: PoolMode = _canonical(props.get("mode"), POOL_MODES, "User", source, f"{where}.mode")  # type: ignore[assignment]
    return PoolState(
        name=name,
        os_type=image.os_type,
        mode=mode,
        version=_version(props, "currentOrchestratorVersion", "orchestratorVersion", source),
        node_image=image,
        count=int(props.get("count") or 0),
        os_sku=str(props["osSKU"]) if props.get("osSKU") else None,
        provisioning_state=_provisioning(props),
    )


def pool_details(profile: Json) -> PoolDetails:
    """Provisioning, power, upgrade settings and the recorded error of a pool."""
    props = properties(profile) or profile
    status = _mapping(props.get("status"))
    error = status.get("provisioningError")
    return PoolDetails(
        name=str(profile.get("name")),
        provisioning_state=_provisioning(props),
        power_state=_power(props),
        upgrade_settings=dict(_mapping(props.get("upgradeSettings"))),
        error=error if isinstance(error, Mapping) else None,
    )


def pools_details(resource: Json) -> tuple[PoolDetails, ...]:
    """The details of every pool profile of a managed cluster resource."""
    return tuple(pool_details(p) for p in _list(properties(resource).get("agentPoolProfiles")))


def power_state(resource: Json) -> str | None:
    """``powerState.code`` of a cluster or a pool (Running, Stopped)."""
    return _power(properties(resource) or resource)


def cluster_error(resource: Json) -> Json | None:
    """The managed cluster's ``status.provisioningError``, if AKS recorded one."""
    error = _mapping(properties(resource).get("status")).get("provisioningError")
    return error if isinstance(error, Mapping) else None


def posture(cluster: ClusterId, resource: Json, state: ClusterState) -> ClusterPosture:
    """The security snapshot of a managed cluster resource."""
    props = properties(resource)
    access = _mapping(props.get("apiServerAccessProfile"))
    kms = _mapping(_mapping(props.get("securityProfile")).get("azureKeyVaultKms"))
    profiles = {str(p.get("name")): p for p in _list(props.get("agentPoolProfiles"))}
    return ClusterPosture(
        cluster=cluster,
        kubernetes_version=state.kubernetes_version,
        pools=tuple(_pool_posture(profiles.get(pool.name, {}), pool) for pool in state.pools),
        node_os_upgrade_channel=state.node_os_upgrade_channel,
        private_cluster=bool(access.get("enablePrivateCluster")),
        authorized_ip_ranges=tuple(str(r) for r in _list_any(access.get("authorizedIPRanges"))),
        local_accounts_enabled=not props.get("disableLocalAccounts"),
        kms_enabled=bool(kms.get("enabled")),
    )


def maintenance_schedules(configurations: Iterable[Json], source: str) -> dict[str, Schedule]:
    """The maintenance configurations Patch Pilot honours, parsed from ARM's JSON.

    Configurations with other names are AKS's business (none today) and skipped.
    """
    wanted = {name.lower(): name for name in MAINTENANCE_NAMES}
    schedules: dict[str, Schedule] = {}
    for configuration in configurations:
        name = wanted.get(str(configuration.get("name", "")).lower())
        if name is not None:
            # An unanchored interval blocks its kind with a reason instead of failing the cluster.
            schedules[name] = parse_maintenance_configuration(
                configuration, source=f"{source}/maintenanceConfigurations/{name}", observed=True
            )
    return schedules


def offered_versions(document: Json, source: str) -> tuple[OfferedVersion, ...]:
    """Every patch of ``ListKubernetesVersions``; a minor's ``isPreview`` marks its patches."""
    offered: dict[KubernetesVersion, OfferedVersion] = {}
    for minor in _list(document.get("values")):
        preview = bool(minor.get("isPreview"))
        for text in _mapping(minor.get("patchVersions")):
            version = KubernetesVersion.parse(str(text), source=source, path="patchVersions")
            known = offered.get(version)
            if known is None or (known.preview and not preview):
                offered[version] = OfferedVersion(version, preview)
    return tuple(offered[v] for v in sorted(offered))


def latest_image(document: Json, source: str) -> NodeImageVersion | None:
    """``latestNodeImageVersion`` of an agent pool upgrade profile."""
    text = properties(document).get("latestNodeImageVersion")
    if not text:
        return None
    return parse_node_image(str(text), source=source, path="latestNodeImageVersion")


def _pool_posture(profile: Json, pool: PoolState) -> PoolPosture:
    props = properties(profile) or profile
    return PoolPosture(
        name=pool.name,
        os_type=pool.os_type,
        os_sku=pool.os_sku,
        vm_size=str(props["vmSize"]) if props.get("vmSize") else None,
        node_image_family=pool.node_image.family,
        node_labels={str(k): str(v) for k, v in _mapping(props.get("nodeLabels")).items()},
        tags={str(k): str(v) for k, v in _mapping(props.get("tags")).items()},
    )


def _power(props: Json) -> str | None:
    code = _mapping(props.get("powerState")).get("code")
    return str(code) if code else None


def _version(props: Json, current: str, goal: str, source: str) -> KubernetesVersion:
    """What runs (``current...``); the goal only when ARM omits it (then it is exact)."""
    text = props.get(current) or props.get(goal)
    return KubernetesVersion.parse(
        _text(text, current, source), source=source, path=current if props.get(current) else goal
    )


def _provisioning(props: Json) -> str:
    """ARM's provisioningState of a cluster or pool; absent means nothing runs."""
    return str(props.get("provisioningState") or "Succeeded")


def _canonical(
    value: object, choices: Iterable[str], default: str, source: str, path: str | None = None
) -> str:
    if value is None or value == "":
        return default
    for choice in choices:
        if choice.lower() == str(value).lower():
            return choice
    raise InvalidInputError(
        f"AKS reported {str(value)[:100]!r}, which Patch Pilot does not know "
        f"(known: {', '.join(choices)})",
        source=source,
        path=path,
    )


def _text(value: object, name: str, source: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"ARM returned no {name}", source=source, path=name)
    return value


def _mapping(value: object) -> Json:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Json]:
    return [item for item in _list_any(value) if isinstance(item, Mapping)]


def _list_any(value: object) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []

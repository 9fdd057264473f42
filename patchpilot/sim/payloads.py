"""ARM's JSON for simulated resources, shaped like the azure-rest-api-specs examples (2026-08-01).

Renders managed clusters, agent pools (as a resource and as a profile inside
the cluster), both upgrade profiles, maintenance configurations and async
operation status bodies. Fields the fleet file has no name for get the values
a cluster created with ``az aks create`` defaults has (a public API server
without authorized IP ranges, local accounts on, no KMS), unless the fleet's
``arm_properties`` overlay says otherwise.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

from patchpilot.sim.catalog import Catalog, upgrade_items, upgrades_from
from patchpilot.sim.operations import SimOperation
from patchpilot.sim.state import SimCluster, SimPool

CLUSTER_TYPE = "Microsoft.ContainerService/ManagedClusters"
POOL_TYPE = "Microsoft.ContainerService/managedClusters/agentPools"
TENANT_ID = "72f988bf-0000-0000-0000-00000000aaaa"


def arm_time(moment: dt.datetime) -> str:
    """ARM's timestamp: UTC, seven fractional digits, ``Z``."""
    utc = moment.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond:06d}0Z"


def pool_properties(pool: SimPool, shape: str = "current") -> dict[str, Any]:
    """The ``properties`` of an agent pool (the same fields appear in the cluster's profiles).

    ``shape``: the API generation (:data:`~patchpilot.sim.fleet_input.ARM_SHAPES`);
    older ones lack ``currentOrchestratorVersion``, the oldest ``osSKU`` too.
    """
    properties: dict[str, Any] = {
        "count": pool.count,
        "vmSize": "Standard_D4ds_v5",
        "osDiskSizeGB": 128,
        "osDiskType": "Managed",
        "kubeletDiskType": "OS",
        "maxPods": 110 if pool.os_type == "Linux" else 30,
        "type": "VirtualMachineScaleSets",
        "enableAutoScaling": False,
        "scaleDownMode": "Delete",
        "provisioningState": pool.provisioning_state,
        "powerState": {"code": "Running"},
        "orchestratorVersion": str(pool.orchestrator_version),
        "currentOrchestratorVersion": str(pool.current_orchestrator_version),
        "enableNodePublicIP": False,
        "mode": pool.mode,
        "enableEncryptionAtHost": False,
        "enableUltraSSD": False,
        "osType": pool.os_type,
        "osSKU": pool.os_sku,
        "nodeImageVersion": str(pool.node_image),
        "upgradeSettings": {"maxSurge": "10%"},
        "enableFIPS": False,
        "securityProfile": {"enableVTPM": False, "enableSecureBoot": False},
    }
    if pool.error is not None:
        properties["status"] = {"provisioningError": pool.error}
    if shape != "current":
        del properties["currentOrchestratorVersion"]
    if shape == "2020-11-01":
        del properties["osSKU"]
    return _merged(properties, pool.overlay)


def agent_pool(cluster: SimCluster, pool: SimPool) -> dict[str, Any]:
    """An agent pool resource (``AgentPools_Get``)."""
    return {
        "id": f"{cluster.id}/agentPools/{pool.name}",
        "name": pool.name,
        "type": POOL_TYPE,
        "properties": pool_properties(pool, cluster.shape),
    }


def managed_cluster(cluster: SimCluster) -> dict[str, Any]:
    """A managed cluster resource (``ManagedClusters_Get``)."""
    name = cluster.id.name
    seed = hashlib.sha256(cluster.key.encode()).hexdigest()
    dns_prefix = f"{name}-dns"
    fqdn = f"{dns_prefix}-{seed[:8]}.hcp.{cluster.location}.azmk8s.io"
    profiles = [{"name": p.name, **pool_properties(p, cluster.shape)} for p in cluster.pools]
    properties: dict[str, Any] = {
        "provisioningState": cluster.provisioning_state,
        "powerState": {"code": "Running"},
        "maxAgentPools": 100,
        "kubernetesVersion": str(cluster.kubernetes_version),
        "currentKubernetesVersion": str(cluster.current_kubernetes_version),
        "dnsPrefix": dns_prefix,
        "fqdn": fqdn,
        "azurePortalFQDN": f"{dns_prefix}-{seed[8:16]}.portal.hcp.{cluster.location}.azmk8s.io",
        "agentPoolProfiles": profiles,
        "servicePrincipalProfile": {"clientId": "msi"},
        "nodeResourceGroup": f"MC_{cluster.id.resource_group}_{name}_{cluster.location}",
        "enableRBAC": True,
        "supportPlan": "KubernetesOfficial",
        "networkProfile": {
            "networkPlugin": "azure",
            "networkPluginMode": "overlay",
            "networkPolicy": "none",
            "loadBalancerSku": "standard",
            "podCidr": "10.244.0.0/16",
            "serviceCidr": "10.0.0.0/16",
            "dnsServiceIP": "10.0.0.10",
            "outboundType": "loadBalancer",
        },
        "apiServerAccessProfile": {"enablePrivateCluster": False},
        "disableLocalAccounts": False,
        "securityProfile": {},
        "oidcIssuerProfile": {"enabled": False},
        "storageProfile": {"diskCSIDriver": {"enabled": True}, "fileCSIDriver": {"enabled": True}},
    }
    if cluster.error is not None:
        properties["status"] = {"provisioningError": cluster.error}
    if cluster.shape != "current":
        del properties["currentKubernetesVersion"]
    channels = _channels(cluster)
    if channels:
        properties["autoUpgradeProfile"] = channels
    return {
        "id": str(cluster.id),
        "location": cluster.location,
        "name": name,
        "type": CLUSTER_TYPE,
        "tags": dict(cluster.tags),
        "sku": {"name": "Base", "tier": "Free"},
        "identity": {
            "type": "SystemAssigned",
            "principalId": _guid(seed[16:48]),
            "tenantId": TENANT_ID,
        },
        "properties": _merged(properties, cluster.overlay),
    }


def _channels(cluster: SimCluster) -> dict[str, str]:
    """``autoUpgradeProfile`` as AKS shows it: a channel that is off is absent, not ``none``.

    Recorded: no cluster body in ``shared/fixtures/arm-recordings`` carries
    ``upgradeChannel`` (all were created with the channel off). The node OS
    channel exists from the current generation on, and is always shown there.
    """
    shown: dict[str, str] = {}
    if cluster.auto_upgrade_channel.lower() != "none":
        shown["upgradeChannel"] = cluster.auto_upgrade_channel
    if cluster.shape == "current":
        shown["nodeOSUpgradeChannel"] = cluster.node_os_upgrade_channel
    return shown


def cluster_upgrade_profile(
    cluster: SimCluster, catalog: Catalog, now: dt.datetime
) -> dict[str, Any]:
    """``ManagedClusters_GetUpgradeProfile`` (fixture ManagedClustersGetUpgradeProfile)."""
    offered = catalog.offered(cluster.location, now)
    control_plane = cluster.current_kubernetes_version
    return {
        "id": f"{cluster.id}/upgradeprofiles/default",
        "name": "default",
        "type": "Microsoft.ContainerService/managedClusters/upgradeprofiles",
        "properties": {
            "controlPlaneProfile": {
                "kubernetesVersion": str(control_plane),
                "name": "master",
                "osType": "Linux",
                "upgrades": upgrade_items(upgrades_from(control_plane, offered)),
            },
            "agentPoolProfiles": [
                {
                    "name": pool.name,
                    "kubernetesVersion": str(pool.current_orchestrator_version),
                    "osType": pool.os_type,
                    "upgrades": upgrade_items(
                        upgrades_from(
                            pool.current_orchestrator_version, offered, ceiling=control_plane
                        )
                    ),
                }
                for pool in cluster.pools
            ],
        },
    }


def pool_upgrade_profile(
    cluster: SimCluster, pool: SimPool, catalog: Catalog, now: dt.datetime
) -> dict[str, Any]:
    """``AgentPools_GetUpgradeProfile`` (fixture AgentPoolsGetUpgradeProfile).

    ``latestNodeImageVersion`` is the newest image of the pool's family offered
    in the region at ``now`` (the pool's own image when the region lists none).
    ``upgrades`` is left out when there is none, as recorded
    (``aks-preview__test_aks_nodepool_get_upgrades.yaml``).
    """
    offered = catalog.offered(cluster.location, now)
    latest = catalog.latest_image(cluster.location, pool.node_image.family, now) or pool.node_image
    if pool.node_image.newer_than(latest):
        latest = pool.node_image
    properties: dict[str, Any] = {
        "kubernetesVersion": str(pool.current_orchestrator_version),
        "osType": pool.os_type,
        "latestNodeImageVersion": str(latest),
    }
    upgrades = upgrade_items(
        upgrades_from(
            pool.current_orchestrator_version, offered, ceiling=cluster.current_kubernetes_version
        )
    )
    if upgrades:
        properties["upgrades"] = upgrades
    if pool.recently_used:
        properties["recentlyUsedVersions"] = [
            {
                "orchestratorVersion": str(used.orchestrator_version),
                "nodeImageVersion": str(used.node_image),
                "timestamp": arm_time(used.timestamp),
            }
            for used in pool.recently_used
        ]
    return {
        "id": f"{cluster.id}/agentPools/{pool.name}/upgradeProfiles/default",
        "name": "default",
        "type": "Microsoft.ContainerService/managedClusters/agentPools/upgradeProfiles",
        "properties": properties,
    }


def maintenance_configuration(
    cluster: SimCluster, name: str, properties: Mapping[str, Any]
) -> dict[str, Any]:
    """A maintenance configuration as AKS returns it: ``id``, ``name``, ``properties``.

    Recorded (``azure-cli__test_aks_maintenancewindow.yaml``): no ``type`` and
    no ``systemData``, which the REST examples show.
    """
    return {
        "id": f"{cluster.id}/maintenanceConfigurations/{name}",
        "name": name,
        "properties": copy.deepcopy(dict(properties)),
    }


def operation_status(operation: SimOperation, now: dt.datetime) -> dict[str, Any]:
    """An ``Azure-AsyncOperation`` status body, as AKS answers it.

    Recorded (``azure-cli__test_aks_abort.yaml``, ``aks-preview__test_aks_upgrade_nodepool.yaml``):
    ``name``, ``status``, ``startTime`` and, once ended, ``endTime``; no ``id``
    and no ``percentComplete``; ``name`` is the operation ID of the URL with
    its first three groups byte-swapped (the GUID's little-endian bytes, as
    .NET's ``Guid.ToByteArray`` writes them). ``error`` when the operation
    failed or was canceled, or when the fault plan adds one to a running or
    succeeded operation (:attr:`FaultPlan.status_errors`).
    """
    body: dict[str, Any] = {
        "name": swapped_guid(operation.id),
        "status": operation.status,
        "startTime": arm_time(operation.started),
    }
    if operation.ended is not None:
        body["endTime"] = arm_time(operation.ended)
    if operation.error is not None:
        body["error"] = dict(operation.error)
    return body


def swapped_guid(operation_id: str) -> str:
    """The operation ID as the status body's ``name`` shows it (first three groups byte-swapped)."""
    try:
        return str(uuid.UUID(bytes=uuid.UUID(operation_id).bytes_le))
    except ValueError:
        return operation_id


def _merged(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``overlay`` merged in, mappings merged key by key."""
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merged(dict(merged[key]), value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _guid(hex32: str) -> str:
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:32]}"

"""The ARM paths the simulator serves, matched without case as ARM matches them.

Each route names its ARM operation (the ``operationId`` of the REST spec, used
in request counters), its method, the api-versions it accepts and its
handler. Paths are the ones ``azure-mgmt-containerservice`` 41.8 and
``azure-mgmt-resourcegraph`` 8.0 build (their ``operations/_operations.py``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from patchpilot.sim import fleet_gates, handlers
from patchpilot.sim.handlers import Handler

# The managedClusters api-versions the simulator answers; the SDK sends the last.
CONTAINER_SERVICE_VERSIONS: Final = (
    "2025-09-01",
    "2026-02-01",
    "2026-03-01",
    "2026-05-01",
    "2026-08-01",
)
# Resource Graph's; azure-mgmt-resourcegraph 8.0 sends 2021-03-01.
RESOURCE_GRAPH_VERSIONS: Final = (
    "2019-04-01",
    "2020-04-01-preview",
    "2021-03-01",
    "2022-10-01",
    "2024-04-01",
)

_NAME = r"[^/]+"
_SUB = rf"/subscriptions/(?P<subscription>{_NAME})"
_PROVIDER = "/providers/Microsoft\\.ContainerService"
_RG = rf"{_SUB}/resourceGroups/(?P<group>{_NAME})"
_MC = rf"{_RG}{_PROVIDER}/managedClusters/(?P<cluster>{_NAME})"
_AP = rf"{_MC}/agentPools/(?P<pool>{_NAME})"
_LOCATION = rf"{_SUB}{_PROVIDER}/locations/(?P<location>{_NAME})"
# Fleet Manager (azure-mgmt-containerservicefleet 4.0.0's paths; see patchpilot.sim.fleet_gates).
_FLEET = rf"{_RG}{_PROVIDER}/fleets/(?P<fleet>{_NAME})"


@dataclass(frozen=True)
class Route:
    """One served operation."""

    method: str
    pattern: re.Pattern[str]
    operation: str
    handler: Handler
    versions: tuple[str, ...] | None  # None: any api-version (operation status URLs)
    type_name: str = "managedClusters"


def _route(
    method: str,
    path: str,
    operation: str,
    handler: Handler,
    *,
    versions: tuple[str, ...] | None = CONTAINER_SERVICE_VERSIONS,
    type_name: str = "managedClusters",
) -> Route:
    return Route(
        method, re.compile(f"^{path}/?$", re.IGNORECASE), operation, handler, versions, type_name
    )


def _fleet_route(method: str, path: str, operation: str, handler: Handler) -> Route:
    return _route(
        method, path, operation, handler, versions=fleet_gates.FLEET_VERSIONS, type_name="fleets"
    )


ROUTES: Final[tuple[Route, ...]] = (
    _route(
        "GET", f"{_SUB}{_PROVIDER}/managedClusters", "ManagedClusters_List", handlers.list_clusters
    ),
    _route(
        "GET",
        f"{_RG}{_PROVIDER}/managedClusters",
        "ManagedClusters_ListByResourceGroup",
        handlers.list_clusters_by_group,
    ),
    _route("GET", _MC, "ManagedClusters_Get", handlers.get_cluster),
    _route("PUT", _MC, "ManagedClusters_CreateOrUpdate", handlers.put_cluster),
    _route(
        "GET",
        f"{_MC}/upgradeProfiles/default",
        "ManagedClusters_GetUpgradeProfile",
        handlers.cluster_upgrade_profile,
    ),
    _route("POST", f"{_MC}/abort", "ManagedClusters_AbortLatestOperation", handlers.abort_cluster),
    _route("GET", f"{_MC}/agentPools", "AgentPools_List", handlers.list_pools),
    _route(
        "GET",
        f"{_MC}/availableAgentPoolVersions",
        "AgentPools_GetAvailableAgentPoolVersions",
        handlers.available_pool_versions,
    ),
    _route("GET", _AP, "AgentPools_Get", handlers.get_pool),
    _route("PUT", _AP, "AgentPools_CreateOrUpdate", handlers.put_pool),
    _route(
        "GET",
        f"{_AP}/upgradeProfiles/default",
        "AgentPools_GetUpgradeProfile",
        handlers.pool_upgrade_profile,
    ),
    _route(
        "POST",
        f"{_AP}/upgradeNodeImageVersion",
        "AgentPools_UpgradeNodeImageVersion",
        handlers.upgrade_node_image,
    ),
    _route("POST", f"{_AP}/abort", "AgentPools_AbortLatestOperation", handlers.abort_pool),
    _route(
        "GET",
        f"{_MC}/maintenanceConfigurations",
        "MaintenanceConfigurations_ListByManagedCluster",
        handlers.list_maintenance,
    ),
    _route(
        "GET",
        f"{_MC}/maintenanceConfigurations/(?P<config>{_NAME})",
        "MaintenanceConfigurations_Get",
        handlers.get_maintenance,
    ),
    _route(
        "GET",
        f"{_LOCATION}/kubernetesVersions",
        "ManagedClusters_ListKubernetesVersions",
        handlers.kubernetes_versions,
    ),
    _route(
        "GET",
        f"{_LOCATION}/operations/(?P<operation>{_NAME})",
        "AsyncOperation_Get",
        handlers.operation_status,
        versions=None,
    ),
    _route(
        "GET",
        f"{_LOCATION}/operationresults/(?P<operation>{_NAME})",
        "OperationResults_Get",
        handlers.operation_result,
        versions=None,
    ),
    _fleet_route("GET", f"{_FLEET}/gates", "Gates_ListByFleet", fleet_gates.list_gates),
    _fleet_route("GET", f"{_FLEET}/gates/(?P<gate>{_NAME})", "Gates_Get", fleet_gates.get_gate),
    _fleet_route(
        "PATCH", f"{_FLEET}/gates/(?P<gate>{_NAME})", "Gates_Update", fleet_gates.update_gate
    ),
    _fleet_route(
        "GET", f"{_FLEET}/updateRuns/(?P<run>{_NAME})", "UpdateRuns_Get", fleet_gates.get_update_run
    ),
    _route(
        "POST",
        "/providers/Microsoft\\.ResourceGraph/resources",
        "Resources",
        handlers.graph_resources,
        versions=RESOURCE_GRAPH_VERSIONS,
        type_name="resources",
    ),
)


@dataclass(frozen=True)
class Match:
    """The route a request matched and its path parameters (``route`` None: unknown path)."""

    route: Route | None
    params: Mapping[str, str]
    method_allowed: bool


def match(method: str, path: str) -> Match:
    """Find the route for a request; a known path with another method is told apart."""
    known_path = False
    for route in ROUTES:
        found = route.pattern.match(path)
        if found is None:
            continue
        if route.method == method:
            return Match(route, found.groupdict(), True)
        known_path = True
    return Match(None, {}, not known_path)

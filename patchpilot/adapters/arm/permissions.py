"""The Azure RBAC actions behind every ARM operation the adapter sends: one table.

Each :class:`Permission` names one ARM operation the adapter calls (the REST
spec's ``operationId``: the name the gateway reports to telemetry and the
simulator counts requests by) and the actions ARM authorises it with. The
table is the single source of Patch Pilot's custom roles: the Bicep
(``infra/modules/role-definitions.bicep``) loads ``infra/modules/role-actions.json``,
which is this module's output::

    python -m patchpilot.adapters.arm.permissions > infra/modules/role-actions.json

and a test checks that the committed file equals it, and that the table holds
exactly the operations the gateway and discovery call.

Three scopes, three roles. ``cluster`` actions are checked on resources inside a
resource group (clusters, their pools and configurations): the operator role
holding them is assigned at the scopes the policy names, and nowhere else.
``subscription`` actions are checked on subscription-level paths (a region's
Kubernetes versions, the status of a started operation) or on Resource Graph:
the read-only region role holding them is assigned on each subscription those
scopes touch, because a resource group assignment does not reach them.
``fleet`` actions are checked on a Fleet Manager fleet's gates and update runs
(:mod:`patchpilot.adapters.fleet_gates`): the gate approver role holding them
is assigned on each fleet the policy's ``fleet_gates.fleets`` names (the Bicep
``fleetIds``), on the fleet resource itself. Approving is the one write:
``Gates_Update`` (PATCH of the gate's state) is ``fleets/gates/write``.

Called by the infra tests and by the command above; imports nothing heavy.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

Scope = Literal["cluster", "subscription", "fleet"]
SCOPES: Final[tuple[Scope, ...]] = ("cluster", "subscription", "fleet")
_AKS: Final = "Microsoft.ContainerService"
_FLEET: Final = f"{_AKS}/fleets"


@dataclass(frozen=True)
class Permission:
    """One ARM operation, the actions it needs, where they are granted and why it is sent."""

    operation: str
    actions: tuple[str, ...]
    scope: Scope
    why: str


PERMISSIONS: Final[tuple[Permission, ...]] = (
    Permission(
        "ManagedClusters_Get",
        (f"{_AKS}/managedClusters/read",),
        "cluster",
        "observe a cluster; read it before a control-plane upgrade; explain a failure",
    ),
    Permission(
        "MaintenanceConfigurations_ListByManagedCluster",
        (f"{_AKS}/managedClusters/maintenanceConfigurations/read",),
        "cluster",
        "the cluster's own maintenance windows",
    ),
    Permission(
        "AgentPools_Get",
        (f"{_AKS}/managedClusters/agentPools/read",),
        "cluster",
        "read a pool before its Kubernetes upgrade; explain a pool's failure",
    ),
    Permission(
        "AgentPools_GetUpgradeProfile",
        (f"{_AKS}/managedClusters/agentPools/upgradeProfiles/read",),
        "cluster",
        "the latest node image of a region and image family",
    ),
    Permission(
        "ManagedClusters_CreateOrUpdate",
        (f"{_AKS}/managedClusters/write",),
        "cluster",
        "start a control-plane-only Kubernetes upgrade",
    ),
    Permission(
        "AgentPools_CreateOrUpdate",
        (f"{_AKS}/managedClusters/agentPools/write",),
        "cluster",
        "start a pool's Kubernetes upgrade",
    ),
    Permission(
        "AgentPools_UpgradeNodeImageVersion",
        (f"{_AKS}/managedClusters/agentPools/upgradeNodeImageVersion/action",),
        "cluster",
        "start a pool's node image upgrade",
    ),
    Permission(
        "ManagedClusters_AbortLatestOperation",
        (f"{_AKS}/managedClusters/abort/action",),
        "cluster",
        "abort the operation running on a cluster",
    ),
    Permission(
        "AgentPools_AbortLatestOperation",
        (f"{_AKS}/managedClusters/agentPools/abort/action",),
        "cluster",
        "abort the operation running on a pool",
    ),
    Permission(
        "ManagedClusters_ListKubernetesVersions",
        (f"{_AKS}/locations/kubernetesversions/read",),
        "subscription",
        "the Kubernetes versions AKS offers in a region",
    ),
    Permission(
        "AsyncOperation_Get",
        (f"{_AKS}/locations/operations/read", f"{_AKS}/locations/operationresults/read"),
        "subscription",
        "follow a started operation (its Azure-AsyncOperation URL, else its Location URL)",
    ),
    Permission(
        "Resources",
        ("Microsoft.ResourceGraph/resources/read",),
        "subscription",
        "discover the managed clusters under the scopes (Azure Resource Graph)",
    ),
    Permission(
        "Gates_Get",
        (f"{_FLEET}/gates/read",),
        "fleet",
        "read a Fleet Manager gate (its state and ETag) before judging it",
    ),
    Permission(
        "Gates_ListByFleet",
        (f"{_FLEET}/gates/read",),
        "fleet",
        "list a fleet's pending gates (the hourly catch-up of lost events)",
    ),
    Permission(
        "UpdateRuns_Get",
        (f"{_FLEET}/updateRuns/read",),
        "fleet",
        "read the update run a gate stands in (which clusters it holds back)",
    ),
    Permission(
        "Gates_Update",
        (f"{_FLEET}/gates/write",),
        "fleet",
        "approve a gate (set its state to Completed, If-Match on its ETag)",
    ),
)


def operations() -> frozenset[str]:
    """Every ARM operation the table covers."""
    return frozenset(p.operation for p in PERMISSIONS)


def actions_for(names: Iterable[str]) -> frozenset[str]:
    """The actions the named operations need; KeyError names an operation the table lacks."""
    by_operation = {p.operation: p for p in PERMISSIONS}
    found: set[str] = set()
    for name in names:
        if name not in by_operation:
            raise KeyError(f"{name} is not in the permissions table")
        found.update(by_operation[name].actions)
    return frozenset(found)


def role_actions() -> dict[Scope, list[str]]:
    """Each role's action list: sorted, each action once."""
    return {
        scope: sorted({a for p in PERMISSIONS if p.scope == scope for a in p.actions})
        for scope in SCOPES
    }


def render_role_actions() -> str:
    """The JSON document ``infra/modules/role-actions.json`` holds, byte for byte."""
    return json.dumps(role_actions(), indent=2) + "\n"


def main() -> None:
    """Write the role actions to standard output."""
    sys.stdout.write(render_role_actions())


if __name__ == "__main__":
    main()

"""Starting an upgrade, for the reconcile and manual upgrades alike.

The one place an upgrade's kind becomes a gateway call, and the one shape of
what an `UpgradeStarted` notice says about the action it started.
"""

from __future__ import annotations

from patchpilot.adapters.arm.actions import Busy, Started
from patchpilot.domain.history import Kind
from patchpilot.domain.plan import Action, iso
from patchpilot.domain.resource_ids import ClusterId
from patchpilot.domain.versions import KubernetesVersion
from patchpilot.service.deps import Gateway


def start_upgrade(
    gateway: Gateway, cluster: ClusterId, pool: str | None, kind: Kind, target: str
) -> Started | Busy:
    """Start the control plane, pool version or node image upgrade the ledger claimed."""
    if kind == "node_image":
        if pool is None:
            raise ValueError("a node image upgrade names its pool")
        return gateway.upgrade_node_image(cluster, pool)
    version = KubernetesVersion.parse(target)
    if pool is None:
        return gateway.upgrade_control_plane(cluster, version)
    return gateway.upgrade_pool_version(cluster, pool, version)


def started_data(action: Action) -> dict[str, object]:
    """The `UpgradeStarted` notice's data for a planned action."""
    return {
        "cluster": action.cluster,
        "pool": action.pool,
        "kind": action.kind,
        "from": action.current,
        "to": action.target,
        "window_end": iso(action.window_end),
        "reason": action.reason,
    }

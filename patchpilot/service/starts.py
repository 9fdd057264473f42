"""The one place an upgrade's kind becomes a gateway call (reconcile and manual upgrades)."""

from __future__ import annotations

from patchpilot.adapters.arm.actions import Busy, Started
from patchpilot.domain.history import Kind
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

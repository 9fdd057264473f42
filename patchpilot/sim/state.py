"""The mutable state of simulated clusters and agent pools.

Plain mutable records, changed only by :class:`~patchpilot.sim.aks.SimulatedAks`
under its lock. Goal and running versions are kept apart as ARM does:
``orchestratorVersion``/``kubernetesVersion`` say what was asked for,
``currentOrchestratorVersion``/``currentKubernetesVersion`` what runs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from patchpilot.domain.fleet import ClusterState, PoolState
from patchpilot.domain.node_images import NodeImageVersion, default_os_sku
from patchpilot.domain.resource_ids import ClusterId
from patchpilot.domain.versions import KubernetesVersion
from patchpilot.sim.fleet_input import ClusterExtras


@dataclass(frozen=True)
class UsedVersion:
    """A version pair a pool ran before an upgrade, offered back for rollback."""

    orchestrator_version: KubernetesVersion
    node_image: NodeImageVersion
    timestamp: dt.datetime


@dataclass
class SimPool:
    """One agent pool."""

    name: str
    os_type: str
    os_sku: str
    mode: str
    count: int
    orchestrator_version: KubernetesVersion
    current_orchestrator_version: KubernetesVersion
    node_image: NodeImageVersion
    provisioning_state: str = "Succeeded"
    error: dict[str, Any] | None = None
    recently_used: list[UsedVersion] = field(default_factory=list)
    overlay: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_fleet(cls, pool: PoolState, overlay: Mapping[str, Any]) -> SimPool:
        """A pool as the fleet file describes it, idle and healthy."""
        return cls(
            name=pool.name,
            os_type=pool.os_type,
            os_sku=pool.os_sku or default_os_sku(pool.node_image),
            mode=pool.mode,
            count=pool.count,
            orchestrator_version=pool.version,
            current_orchestrator_version=pool.version,
            node_image=pool.node_image,
            overlay=overlay,
        )


@dataclass
class SimCluster:
    """One managed cluster and its pools (in fleet order, looked up without case)."""

    id: ClusterId
    location: str
    tags: dict[str, str]
    kubernetes_version: KubernetesVersion
    current_kubernetes_version: KubernetesVersion
    auto_upgrade_channel: str
    node_os_upgrade_channel: str
    pools: list[SimPool]
    maintenance: Mapping[str, Mapping[str, Any]]
    provisioning_state: str = "Succeeded"
    error: dict[str, Any] | None = None
    overlay: Mapping[str, Any] = field(default_factory=dict)
    shape: str = "current"

    @classmethod
    def from_fleet(cls, cluster: ClusterState, extras: ClusterExtras) -> SimCluster:
        """A cluster as the fleet file describes it."""
        return cls(
            id=cluster.id,
            location=cluster.location,
            tags=dict(cluster.tags),
            kubernetes_version=cluster.kubernetes_version,
            current_kubernetes_version=cluster.kubernetes_version,
            auto_upgrade_channel=cluster.auto_upgrade_channel,
            node_os_upgrade_channel=cluster.node_os_upgrade_channel,
            pools=[
                SimPool.from_fleet(p, extras.pool_properties.get(p.name.lower(), {}))
                for p in cluster.pools
            ],
            maintenance=extras.maintenance,
            provisioning_state=cluster.provisioning_state,
            overlay=extras.properties,
            shape=extras.shape,
        )

    @property
    def key(self) -> str:
        """ARM's case-insensitive identity of the cluster."""
        return self.id.key

    def pool(self, name: str) -> SimPool | None:
        """The pool of that name, compared without case as ARM does."""
        return next((p for p in self.pools if p.name.lower() == name.lower()), None)

    def node_name(self, pool: SimPool, index: int) -> str:
        """A VMSS node name as AKS gives them (aks-<pool>-<8 digits>-vmss<6 base-36>)."""
        digest = hashlib.sha256(f"{self.key}/{pool.name.lower()}".encode()).hexdigest()
        digits = str(int(digest[:12], 16))[-8:].rjust(8, "0")
        return f"aks-{pool.name.lower()}-{digits}-vmss{_base36(index).rjust(6, '0')}"


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
        if number == 0:
            return text

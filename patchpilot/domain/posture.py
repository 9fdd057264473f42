"""Security posture of an observed cluster: findings for the status report, each with a fix.

The ARM adapter fills a :class:`ClusterPosture` from the managed cluster it
read; :func:`posture_findings` turns it into :class:`PostureFinding` values
(severity, a one-line message and a one-line fix). Pure: no I/O and no clock;
what AKS supports is passed in as data (the region's offered versions).

The rules, and the AKS facts behind them:

- ``api_server_public``: the API server has a public endpoint
  (``apiServerAccessProfile.enablePrivateCluster`` false) and no
  ``authorizedIPRanges`` (or only ``0.0.0.0/0``), so anyone can reach it.
- ``local_accounts_enabled``: ``disableLocalAccounts`` is false, so the static
  cluster-admin kubeconfig bypasses Microsoft Entra ID and Azure RBAC.
- ``secrets_not_kms_encrypted``: ``securityProfile.azureKeyVaultKms`` is not
  enabled, so Kubernetes Secrets in etcd are not encrypted with your own Key
  Vault key.
- ``kubernetes_past_support`` / ``kubernetes_near_end_of_support``: the
  support window is the GA minors AKS offers in the region. A minor no longer
  offered is past support; the oldest offered minor is next to leave it.
  Previews never count as supported.
- ``windows_server_2019``: AKS retired Windows Server 2019 on 1 March 2026: no
  new images, no security patches (AKS release notes, 2026-05-29).
- ``linux_reboots_not_performed``: with the node OS channel ``None`` or
  ``Unmanaged`` on a Linux pool, patches that need a reboot wait for one that
  nothing performs (no Kured, no AKS image channel). When Patch Pilot itself
  upgrades Linux node images, the nodes are replaced on its cadence: the
  finding stays, at low severity.
- ``isolation_vm_size``: a pool is meant for isolation when its node labels
  or its Azure tags carry ``isolation: "true"`` (this is Patch Pilot's
  convention; AKS has no such field). It must then run on an isolated VM size
  (a size dedicated to one customer's workloads on its host, Microsoft Learn
  "Virtual machine isolation in Azure"); :data:`ISOLATED_VM_SIZES` is the
  default list, passed as data so it can follow Azure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from patchpilot.domain.node_images import OsType
from patchpilot.domain.plan import Finding
from patchpilot.domain.resource_ids import ClusterId
from patchpilot.domain.versions import KubernetesVersion, OfferedVersion

Severity = Literal["high", "medium", "low"]
Minor = tuple[int, int]

ISOLATION_KEY: Final = "isolation"
# Microsoft Learn, "Virtual machine isolation in Azure" (sizes dedicated to one customer).
ISOLATED_VM_SIZES: Final = frozenset(
    size.lower()
    for size in (
        "Standard_E80ids_v4",
        "Standard_E80is_v4",
        "Standard_E104i_v5",
        "Standard_E104is_v5",
        "Standard_E104id_v5",
        "Standard_E104ids_v5",
        "Standard_M192is_v2",
        "Standard_M192ims_v2",
        "Standard_M192ids_v2",
        "Standard_M192idms_v2",
        "Standard_F72s_v2",
        "Standard_M128ms",
    )
)
_OPEN_RANGES: Final = frozenset({"0.0.0.0/0", "::/0"})
_UNPATCHED_CHANNELS: Final = frozenset({"none", "unmanaged"})


@dataclass(frozen=True)
class PoolPosture:
    """What posture rules read of one agent pool."""

    name: str
    os_type: OsType
    os_sku: str | None = None
    vm_size: str | None = None
    node_image_family: str | None = None
    node_labels: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def meant_for_isolation(self) -> bool:
        """Whether the pool's labels or tags ask for isolation (``isolation: "true"``)."""
        return any(
            key.lower() == ISOLATION_KEY and value.strip().lower() == "true"
            for source in (self.node_labels, self.tags)
            for key, value in source.items()
        )


@dataclass(frozen=True)
class ClusterPosture:
    """What posture rules read of one managed cluster, as observed through ARM."""

    cluster: ClusterId
    kubernetes_version: KubernetesVersion
    pools: tuple[PoolPosture, ...] = ()
    node_os_upgrade_channel: str = "None"
    private_cluster: bool = False
    authorized_ip_ranges: tuple[str, ...] = ()
    local_accounts_enabled: bool = True
    kms_enabled: bool = False


@dataclass(frozen=True)
class PostureFinding:
    """A security finding on a cluster (pool None) or a pool, with a severity and a fix."""

    cluster: ClusterId
    pool: str | None
    code: str
    severity: Severity
    message: str
    fix: str

    def to_finding(self) -> Finding:
        """The plan's finding shape (the fix joins the message)."""
        return Finding(
            self.cluster, self.pool, self.code, f"{self.message} [{self.severity}]; fix: {self.fix}"
        )

    def to_json(self) -> dict[str, Any]:
        """JSON form for the status report."""
        return {
            "cluster": str(self.cluster),
            "pool": self.pool,
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class _Context:
    """What the rules need besides the cluster."""

    supported: tuple[Minor, ...]
    linux_images_patched: bool
    isolated_sizes: frozenset[str]


def posture_findings(
    posture: ClusterPosture,
    offered: Iterable[OfferedVersion],
    *,
    linux_images_patched: bool = False,
    isolated_sizes: frozenset[str] = ISOLATED_VM_SIZES,
) -> tuple[PostureFinding, ...]:
    """Every finding for one cluster: cluster-wide rules first, then each pool's, in pool order.

    ``offered`` is what AKS offers in the cluster's region (its GA minors are
    the support window); ``linux_images_patched`` says whether Patch Pilot's
    policy upgrades Linux node images.
    """
    context = _Context(
        supported=tuple(sorted({o.version.minor_version for o in offered if not o.preview})),
        linux_images_patched=linux_images_patched,
        isolated_sizes=frozenset(size.lower() for size in isolated_sizes),
    )
    found: list[PostureFinding] = []
    for cluster_rule in _CLUSTER_RULES:
        found.extend(cluster_rule(posture, context))
    for pool in posture.pools:
        for pool_rule in _POOL_RULES:
            found.extend(pool_rule(posture, pool, context))
    return tuple(found)


def _api_server_public(posture: ClusterPosture, context: _Context) -> list[PostureFinding]:
    ranges = {r.strip() for r in posture.authorized_ip_ranges if r.strip()}
    if posture.private_cluster or (ranges and not ranges & _OPEN_RANGES):
        return []
    return [
        PostureFinding(
            posture.cluster,
            None,
            "api_server_public",
            "high",
            "the API server is public and accepts connections from any IP address",
            "set authorized IP ranges (az aks update --api-server-authorized-ip-ranges) "
            "or make the cluster private",
        )
    ]


def _local_accounts(posture: ClusterPosture, context: _Context) -> list[PostureFinding]:
    if not posture.local_accounts_enabled:
        return []
    return [
        PostureFinding(
            posture.cluster,
            None,
            "local_accounts_enabled",
            "medium",
            "local accounts are enabled: the cluster-admin kubeconfig bypasses Entra ID and RBAC",
            "use Microsoft Entra ID integration and az aks update --disable-local-accounts",
        )
    ]


def _kms(posture: ClusterPosture, context: _Context) -> list[PostureFinding]:
    if posture.kms_enabled:
        return []
    return [
        PostureFinding(
            posture.cluster,
            None,
            "secrets_not_kms_encrypted",
            "medium",
            "Kubernetes Secrets are not encrypted with a Key Vault key (KMS)",
            "az aks update --enable-azure-keyvault-kms --azure-keyvault-kms-key-id <key>",
        )
    ]


def _support(posture: ClusterPosture, context: _Context) -> list[PostureFinding]:
    supported = context.supported
    minor = posture.kubernetes_version.minor_version
    if not supported or minor > supported[-1]:
        return []
    name = f"{minor[0]}.{minor[1]}"
    oldest = f"{supported[0][0]}.{supported[0][1]}"
    if minor not in supported:
        return [
            PostureFinding(
                posture.cluster,
                None,
                "kubernetes_past_support",
                "high",
                f"Kubernetes {posture.kubernetes_version} is past AKS support "
                f"(the oldest minor offered in the region is {oldest})",
                f"upgrade one minor at a time to {oldest} or later",
            )
        ]
    if minor != supported[0] or len(supported) == 1:
        return []
    return [
        PostureFinding(
            posture.cluster,
            None,
            "kubernetes_near_end_of_support",
            "medium",
            f"Kubernetes {name} is the oldest minor AKS still offers: it leaves support next",
            f"plan the upgrade to {supported[1][0]}.{supported[1][1]}",
        )
    ]


def _windows_2019(
    posture: ClusterPosture, pool: PoolPosture, context: _Context
) -> list[PostureFinding]:
    sku = (pool.os_sku or "").lower()
    family = (pool.node_image_family or "").lower()
    if pool.os_type != "Windows" or ("2019" not in sku and "2019" not in family):
        return []
    return [
        PostureFinding(
            posture.cluster,
            pool.name,
            "windows_server_2019",
            "high",
            "Windows Server 2019 was retired by AKS on 2026-03-01: no new images, no patches",
            "add a Windows2022 pool (--os-sku Windows2022), move the workloads, delete this pool",
        )
    ]


def _linux_reboots(
    posture: ClusterPosture, pool: PoolPosture, context: _Context
) -> list[PostureFinding]:
    channel = posture.node_os_upgrade_channel
    if pool.os_type != "Linux" or channel.lower() not in _UNPATCHED_CHANNELS:
        return []
    if context.linux_images_patched:
        severity: Severity = "low"
        tail = "; only Patch Pilot's node image upgrades replace the nodes"
    else:
        severity, tail = "medium", ""
    return [
        PostureFinding(
            posture.cluster,
            pool.name,
            "linux_reboots_not_performed",
            severity,
            f"node OS channel is {channel}: security patches that need a reboot wait for one "
            f"nothing performs{tail}",
            "set the node OS upgrade channel to NodeImage or SecurityPatch, or run Kured",
        )
    ]


def _isolation(
    posture: ClusterPosture, pool: PoolPosture, context: _Context
) -> list[PostureFinding]:
    if not pool.meant_for_isolation or (pool.vm_size or "").lower() in context.isolated_sizes:
        return []
    return [
        PostureFinding(
            posture.cluster,
            pool.name,
            "isolation_vm_size",
            "medium",
            f"the pool is labelled isolation=true but runs on {pool.vm_size or 'an unknown size'}, "
            "which shares hosts with other customers",
            "move the workloads to a pool on an isolated VM size (such as Standard_E104i_v5)",
        )
    ]


_CLUSTER_RULES: Final[tuple[Callable[[ClusterPosture, _Context], list[PostureFinding]], ...]] = (
    _api_server_public,
    _local_accounts,
    _kms,
    _support,
)
_POOL_RULES: Final[
    tuple[Callable[[ClusterPosture, PoolPosture, _Context], list[PostureFinding]], ...]
] = (_windows_2019, _linux_reboots, _isolation)

"""What starting an AKS operation returns, and the request bodies the upgrades send.

An action starts a long-running operation and returns at once with a
:class:`Started` (its ``Azure-AsyncOperation`` URL, or none when AKS had
nothing to do) or a :class:`Busy` (AKS answered 409: another operation holds
the cluster; requeue after ``retry_after``). Completion is learnt later, from
NodePoolRolling* events, the next observation or :class:`OperationStatus`.

How each upgrade is asked for, as the Azure CLI does it
(Azure/azure-cli ``src/azure-cli/azure/cli/command_modules/acs/custom.py``):

- Control plane only (``az aks upgrade --control-plane-only``): GET the
  managed cluster, set ``properties.kubernetesVersion``, leave every
  ``agentPoolProfiles[].orchestratorVersion`` as it is, drop
  ``servicePrincipalProfile`` (its secret is never returned and validation
  would refuse it), PUT the cluster back. Without the flag the CLI also sets
  every pool's ``orchestratorVersion``; Patch Pilot never does, so pools move
  one at a time, after the control plane. Two guards beyond the CLI: a pool
  whose ``orchestratorVersion`` is a bare ``MAJOR.MINOR`` (which AKS reads as
  "that minor's latest patch") is pinned to the patch it runs, so the PUT
  cannot move it; and ``nodeImageVersion`` is left out of every PUT, because
  setting it is how AKS is asked for a node image rollback.
- One pool's Kubernetes version (``az aks nodepool upgrade -k``): GET the
  agent pool, set ``properties.orchestratorVersion``, PUT it back. AKS then
  also moves the pool to the latest node image.
- One pool's node image (``az aks nodepool upgrade --node-image-only``): POST
  ``.../agentPools/{pool}/upgradeNodeImageVersion``, which takes no version.
- Abort (``az aks operation-abort`` / ``az aks nodepool operation-abort``):
  POST ``.../abort`` on the cluster or the pool.

Node image versions: AKS upgrades a pool's node image only to the latest; a
specific version cannot be asked for, so :data:`NODE_IMAGE_PINNING` is False
and a later ring waits until the latest equals what an earlier ring soaked
(DESIGN.md, invariant 7). The evidence:

- ``AgentPools_UpgradeNodeImageVersion`` has no body and "Upgrades the node
  image version of an agent pool to the latest" (SDK 41.8 docstring, REST
  reference); ``az aks nodepool upgrade --node-image-only`` takes no version.
- ``nodeImageVersion`` on an agent pool PUT: "Setting this value triggers an
  agentPool rollback. Only values from ``recentlyUsedVersions`` are allowed"
  (SDK 41.8 ``AgentPool.node_image_version``): a way back, never forward.
- "It's not possible to downgrade a node image version" (Microsoft Learn,
  "Upgrade Azure Kubernetes Service (AKS) node images").
- The one forward path to a chosen image is a node pool snapshot
  (``Microsoft.ContainerService/snapshots``, sent as the ``AKSSnapshotId``
  header of the upgrade), which needs a snapshot resource taken from a pool
  that already runs the image, in the same region; Patch Pilot does not
  create resources, so it does not use it. Azure Kubernetes Fleet Manager's
  ``nodeImageSelection: Consistent`` solves the same problem inside Fleet
  Manager only.
"""

from __future__ import annotations

import copy
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from patchpilot.adapters.arm.failures import FailureCause, classify
from patchpilot.domain.resource_ids import ClusterId, parse_cluster_id
from patchpilot.domain.versions import KubernetesVersion
from patchpilot.errors import InvalidInputError

ActionKind = Literal["control_plane", "pool_kubernetes", "node_image", "abort"]
_ACTIONS: Final = ("control_plane", "pool_kubernetes", "node_image", "abort")
TERMINAL = ("Succeeded", "Failed", "Canceled")
# Whether a specific node image version can be requested (see the module docstring).
NODE_IMAGE_PINNING: Final = False


@dataclass(frozen=True)
class Started:
    """AKS accepted the request; ``status_url`` is where its operation reports (None: no-op)."""

    cluster: ClusterId
    pool: str | None
    action: ActionKind
    target: str | None
    status_url: str | None

    @property
    def started(self) -> bool:
        """Whether AKS started an operation (False: it was already at the target)."""
        return self.status_url is not None

    @property
    def operation_id(self) -> str | None:
        """ARM's operation ID: the last segment of the status URL."""
        if self.status_url is None:
            return None
        return urllib.parse.urlsplit(self.status_url).path.rstrip("/").rsplit("/", 1)[-1]

    def to_json(self) -> dict[str, Any]:
        """For the ledger; :func:`started_from_json` reads it back."""
        return {
            "cluster": str(self.cluster),
            "pool": self.pool,
            "action": self.action,
            "target": self.target,
            "status_url": self.status_url,
        }


def started_from_json(data: Mapping[str, Any]) -> Started:
    """A stored :class:`Started`; the gateway re-checks its scope and URL before any use."""
    action = data.get("action")
    if action not in _ACTIONS:
        raise InvalidInputError(f"unknown action {action!r}; expected one of {', '.join(_ACTIONS)}")
    return Started(
        cluster=parse_cluster_id(data.get("cluster"), path="cluster"),
        pool=_optional_text(data, "pool"),
        action=action,
        target=_optional_text(data, "target"),
        status_url=_optional_text(data, "status_url"),
    )


@dataclass(frozen=True)
class Busy:
    """AKS refused with 409: another operation holds the cluster; try again after the delay.

    Proof that this call started nothing only when every earlier attempt of it
    was answered (a 429 is answered before AKS sees the request). After an
    unanswered attempt the gateway returns :class:`Unconfirmed` instead.
    """

    cluster: ClusterId
    pool: str | None
    action: ActionKind
    retry_after: float
    code: str
    message: str


@dataclass(frozen=True)
class Unconfirmed:
    """An attempt went unanswered and the call ended without an answer that settles it.

    ARM may have accepted that attempt (the reply was lost, or a 5xx came
    after AKS acted): the operation may be running. Keep the claim and let
    AKS's own state say, never start the same upgrade again on a guess.
    """

    cluster: ClusterId
    pool: str | None
    action: ActionKind
    why: str


@dataclass(frozen=True)
class Refused:
    """AKS refused the start for a reason waiting does not cure (a 409 other than busy)."""

    cluster: ClusterId
    pool: str | None
    action: ActionKind
    code: str
    message: str


StartResult = Started | Busy | Unconfirmed | Refused


@dataclass(frozen=True)
class OperationStatus:
    """What an ``Azure-AsyncOperation`` URL says now, and when AKS asks to be polled again.

    ``retry_after`` is the status answer's ``Retry-After`` in seconds (None
    when AKS gave none, as once the operation ended): the earliest a
    follow-up should poll again, so a ring's polls keep AKS's own spacing.
    """

    status: str
    error: Mapping[str, Any] | None = None
    percent_complete: float | None = None
    retry_after: float | None = None

    @property
    def done(self) -> bool:
        """Whether the operation has ended, well or not."""
        return self.status in TERMINAL

    @property
    def cause(self) -> FailureCause | None:
        """Why it failed (None while running or after success)."""
        return classify(self.error) if self.error else None


def control_plane_body(
    cluster: Mapping[str, Any], version: KubernetesVersion, *, running: Mapping[str, Any]
) -> dict[str, Any]:
    """The managed cluster PUT of ``az aks upgrade --control-plane-only``.

    ``cluster`` is the GET without read-only fields (the body to send back),
    ``running`` the whole GET (for each pool's ``currentOrchestratorVersion``).
    """
    body = copy.deepcopy(dict(cluster))
    properties = dict(body.get("properties") or {})
    properties["kubernetesVersion"] = str(version)
    properties.pop("servicePrincipalProfile", None)
    current = {
        str(p.get("name")): p.get("currentOrchestratorVersion")
        for p in (running.get("properties") or {}).get("agentPoolProfiles") or ()
    }
    properties["agentPoolProfiles"] = [
        _unchanged_pool(profile, current.get(str(profile.get("name"))))
        for profile in properties.get("agentPoolProfiles") or ()
    ]
    body["properties"] = properties
    return body


def pool_version_body(pool: Mapping[str, Any], version: KubernetesVersion) -> dict[str, Any]:
    """The agent pool PUT of ``az aks nodepool upgrade --kubernetes-version``."""
    body = copy.deepcopy(dict(pool))
    properties = dict(body.get("properties") or {})
    properties["orchestratorVersion"] = str(version)
    properties.pop("nodeImageVersion", None)
    body["properties"] = properties
    return body


def _optional_text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidInputError(f"expected text or null, got {type(value).__name__}", path=key)
    return value


def _unchanged_pool(profile: Mapping[str, Any], running: object) -> dict[str, Any]:
    """A pool profile that asks AKS for nothing new: exact version, no image rollback."""
    pinned = dict(profile)
    pinned.pop("nodeImageVersion", None)
    goal = str(pinned.get("orchestratorVersion") or "")
    if goal.count(".") == 1 and isinstance(running, str) and running:
        pinned["orchestratorVersion"] = running
    return pinned


def operation_url_allowed(url: str, *, endpoint: str, cluster: ClusterId) -> bool:
    """Whether an operation URL may be followed with this process's ARM token.

    Only AKS operation paths on the ARM endpoint itself, and, when the path
    names a subscription (AKS's do; the REST examples abbreviate it), only the
    cluster's own: a stored or forged URL never sends the token elsewhere.
    """
    parts = urllib.parse.urlsplit(url)
    origin = urllib.parse.urlsplit(endpoint)
    if parts.scheme != "https" or parts.netloc.lower() != origin.netloc.lower():
        return False
    path = parts.path.lower()
    provider = "/providers/microsoft.containerservice/locations/"
    own = f"/subscriptions/{cluster.subscription}{provider}"
    return ".." not in path.split("/") and (path.startswith(own) or path.startswith(provider))


def operation_status(
    document: Mapping[str, Any], *, retry_after: float | None = None
) -> OperationStatus:
    """Read ARM's async operation body (``status``, ``error``, ``percentComplete``).

    ``retry_after``: the answer's ``Retry-After`` header, in seconds, kept on the status.
    """
    error = document.get("error")
    percent = document.get("percentComplete")
    return OperationStatus(
        status=str(document.get("status") or "InProgress"),
        error=error if isinstance(error, Mapping) else None,
        percent_complete=float(percent) if isinstance(percent, int | float) else None,
        retry_after=retry_after,
    )

"""Why an AKS operation failed, in a sentence a person can act on.

``NodePoolRollingFailed`` carries only the pool's name, so the gateway reads
the error AKS recorded (the agent pool's ``status.provisioningError``, else
the managed cluster's, else the async operation's ``error``) and
:func:`classify` sorts it into a :class:`FailureCause`. Pure functions over
ARM's error object (``{"code", "message", "subcode"?, "details"?}``); called
by the gateway, and by the service for a refused request (a
:class:`~patchpilot.errors.PermanentError`).

The texts AKS uses, and where they were seen:

- Drain blocked by a Pod Disruption Budget: code ``UpgradeFailed`` (older:
  ``PodDrainFailure``), message "Drain node <node> failed when evicting pod
  <pod> failed with Too Many Requests error. This is often caused by a
  restrictive Pod Disruption Budget (PDB) policy ... PDB debug info:
  <namespace>/<pod> blocked by pdb <name> with 0 unready pods"
  (MicrosoftDocs/SupportArticles-docs error-code-poddrainfailure.md;
  canonical/bundle-kubeflow#1339), or the older "Drain of <node> did not
  complete: Too many req pod <pod> on node <node>: <namespace>/<pod> blocked
  by pdb <name> with unready pods []" (Azure/azure-workload-identity#824).
  Both name the budget after "blocked by pdb".
- Quota and capacity: ``QuotaExceeded``, ``InsufficientVCPUQuota``,
  ``ErrCode_InsufficientVCPUQuota``, ``OperationNotAllowed`` naming a quota;
  ``AllocationFailed``, ``ZonalAllocationFailed``, ``SkuNotAvailable``,
  ``OverconstrainedAllocationRequest`` (AKS blog, "Navigating capacity
  challenges", 2025-12-06; "Capacity and cost planning for AKS upgrades").
- Subnet full: ``InsufficientSubnetSize`` (Microsoft Learn troubleshooting
  article of that name: surge nodes need free IPs), ``SubnetIsFull``.
- Deprecated API usage: code ``ValidationError``, subcode
  ``UpgradeBlockedOnDeprecatedAPIUsage`` (Microsoft Learn, "Stop AKS cluster
  upgrades automatically on API breaking changes").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from patchpilot.errors import PermanentError

FailureKind = Literal["pdb", "quota", "subnet", "deprecated_api", "other"]

DEPRECATED_API: Final = "UpgradeBlockedOnDeprecatedAPIUsage"
_QUOTA_CODES: Final = frozenset(
    code.lower()
    for code in (
        "QuotaExceeded",
        "InsufficientVCPUQuota",
        "ErrCode_InsufficientVCPUQuota",
        "SubscriptionQuotaExceeded",
        "AllocationFailed",
        "ZonalAllocationFailed",
        "SkuNotAvailable",
        "OverconstrainedAllocationRequest",
        "OverconstrainedZonalAllocationRequest",
    )
)
_SUBNET_CODES: Final = frozenset({"insufficientsubnetsize", "subnetisfull"})
_PDB = re.compile(
    r"(?:(?P<namespace>[a-z0-9][-a-z0-9]*)/\S+\s+)?blocked by pdb\s+(?P<pdb>[a-z0-9][-.a-z0-9]*)",
    re.IGNORECASE,
)
_PDB_HINTS: Final = ("disruption budget", "blocked by pdb", "poddrainfailure")
_QUOTA_HINTS: Final = ("quota", "allocation failed")
_SUBNET_HINTS: Final = ("subnet", "enough available ip", "ip addresses available")
_MAX_MESSAGE: Final = 500


@dataclass(frozen=True)
class FailureCause:
    """What made an operation fail, the error AKS recorded, and what to do about it."""

    kind: FailureKind
    code: str
    message: str
    pdb: str | None = None
    namespace: str | None = None
    advice: str = ""

    @property
    def reason(self) -> str:
        """One line for a plan, a pause reason or a span attribute."""
        return f"{self.summary}; {self.advice}"

    @property
    def summary(self) -> str:
        """What went wrong, without the advice."""
        if self.kind == "pdb":
            where = f"{self.namespace}/" if self.namespace else ""
            return f"drain blocked by Pod Disruption Budget {where}{self.pdb or '(unnamed)'}"
        if self.kind == "quota":
            return f"out of quota or capacity ({self.code})"
        if self.kind == "subnet":
            return f"the subnet has no free IP addresses for surge nodes ({self.code})"
        if self.kind == "deprecated_api":
            return "blocked: the cluster still calls Kubernetes APIs the target version removes"
        return f"AKS reported {self.code}: {self.message}"


def classify(error: Mapping[str, Any]) -> FailureCause:
    """Sort an ARM error object into a cause (nested ``details`` are searched too)."""
    code = str(error.get("code") or "Unknown")
    codes = [c.lower() for c in _codes(error)]
    message = _first_line(_messages(error))
    text = " ".join(_messages(error)).lower()
    if DEPRECATED_API.lower() in codes or DEPRECATED_API.lower() in text:
        return FailureCause("deprecated_api", code, message, advice=_ADVICE["deprecated_api"])
    if any(hint in text for hint in _PDB_HINTS):
        return _pdb_cause(code, message, text=" ".join(_messages(error)))
    if _SUBNET_CODES & set(codes) or (any(hint in text for hint in _SUBNET_HINTS) and "ip" in text):
        return FailureCause("subnet", code, message, advice=_ADVICE["subnet"])
    if _QUOTA_CODES & set(codes) or any(hint in text for hint in _QUOTA_HINTS):
        return FailureCause("quota", code, message, advice=_ADVICE["quota"])
    return FailureCause("other", code, message, advice=_ADVICE["other"])


def classify_refusal(error: PermanentError) -> FailureCause:
    """The cause of a request ARM refused outright (such as a deprecated-API block)."""
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.subcode:
        body["subcode"] = error.subcode
    return classify(body)


def _pdb_cause(code: str, message: str, *, text: str) -> FailureCause:
    match = _PDB.search(text)
    pdb = match["pdb"].rstrip(".,;") if match else None
    namespace = match["namespace"] if match else None
    where = f" -n {namespace}" if namespace else " -A"
    advice = (
        f"let the budget allow one disruption (kubectl get pdb{where} {pdb or ''}".rstrip()
        + "), then retry the upgrade"
    )
    return FailureCause("pdb", code, message, pdb=pdb, namespace=namespace, advice=advice)


def _codes(error: Mapping[str, Any]) -> list[str]:
    found = [str(error[key]) for key in ("code", "subcode") if error.get(key)]
    for detail in _details(error):
        found.extend(_codes(detail))
    return found


def _messages(error: Mapping[str, Any]) -> list[str]:
    found = [str(error["message"])] if error.get("message") else []
    for detail in _details(error):
        found.extend(_messages(detail))
    return found


def _details(error: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    details = error.get("details")
    if not isinstance(details, list):
        return []
    return [detail for detail in details if isinstance(detail, Mapping)]


def _first_line(messages: list[str]) -> str:
    text = messages[0].strip().splitlines()[0] if messages and messages[0].strip() else ""
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + "..."


_ADVICE: Final[dict[FailureKind, str]] = {
    "quota": "raise the regional vCPU quota or lower maxSurge, then retry",
    "subnet": "free or add IP addresses in the node subnet (or lower maxSurge), then retry",
    "deprecated_api": "migrate off the deprecated APIs (see the message), then retry",
    "other": "read the error in the Azure portal's activity log, fix it, then retry",
}

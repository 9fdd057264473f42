"""ARM's error answers, with the codes and wording real ARM and AKS use.

Every refusal in the simulator is an :class:`ArmError`; the server turns it
into ARM's body ``{"error": {"code", "message", ...}}``. The wording is taken
from what ARM and AKS return (sources in each builder's docstring), because
the adapter classifies errors by code, and people read the messages.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

PDB_DOC = "https://aka.ms/aks/debugdrainfailures"


class ArmError(Exception):
    """An ARM error answer: HTTP status, error code and message, optional extras."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def detail(self) -> dict[str, Any]:
        """The inner error object (also used as an operation's or a pool's error)."""
        return {"code": self.code, "message": self.message, **self.extra}

    def body(self) -> dict[str, Any]:
        """ARM's error response body."""
        return {"error": self.detail()}


def missing_api_version() -> ArmError:
    """ARM's answer to a request without ``?api-version=``."""
    return ArmError(
        400,
        "MissingApiVersionParameter",
        "The api-version query parameter (?api-version=) is required for all requests.",
    )


def unsupported_api_version(
    version: str, location: str, type_name: str, supported: tuple[str, ...]
) -> ArmError:
    """ARM's answer to an api-version the resource type does not have.

    Wording as ARM returns it for managedClusters (Azure/azure-cli#28368).
    """
    return ArmError(
        400,
        "NoRegisteredProviderFound",
        f"No registered resource provider found for location '{location}' and API version "
        f"'{version}' for type '{type_name}'. The supported api-versions are "
        f"'{', '.join(supported)}'.",
    )


def unauthenticated(reason: str) -> ArmError:
    """ARM's 401 when the bearer token is missing or malformed."""
    return ArmError(
        401,
        "AuthenticationFailed",
        f"Authentication failed. {reason}",
        headers={
            "WWW-Authenticate": "Bearer "
            'authorization_uri="https://login.microsoftonline.com/common", '
            'error="invalid_token", error_description="The authentication failed because of '
            "missing 'Authorization' header.\""
        },
    )


def subscription_not_found(subscription: str) -> ArmError:
    """ARM's 404 for a subscription it does not know."""
    return ArmError(
        404, "SubscriptionNotFound", f"The subscription '{subscription}' could not be found."
    )


def group_not_found(group: str) -> ArmError:
    """ARM's 404 for a resource group that does not exist."""
    return ArmError(404, "ResourceGroupNotFound", f"Resource group '{group}' could not be found.")


def resource_not_found(type_name: str, name: str, group: str, *, gateway: bool = False) -> ArmError:
    """ARM's 404 for a missing resource (managed cluster, agent pool, configuration).

    ``gateway``: ARM itself answers (a top-level resource it does not know), with
    ``x-ms-failure-cause: gateway`` as recorded (``azure-cli__test_aks_abort.yaml``).
    """
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{type_name}/{name}' under resource group '{group}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
        headers={"x-ms-failure-cause": "gateway"} if gateway else None,
    )


def invalid_resource_type(path: str, version: str) -> ArmError:
    """ARM's answer to a path under Microsoft.ContainerService the simulator does not serve."""
    return ArmError(
        400,
        "InvalidResourceType",
        f"The resource type could not be found in the namespace 'Microsoft.ContainerService' "
        f"for api version '{version}' (the AKS simulator does not serve {path}).",
    )


def method_not_allowed(method: str, path: str) -> ArmError:
    """A known path asked with a method the simulator does not implement."""
    return ArmError(
        405,
        "MethodNotAllowed",
        f"The HTTP method '{method}' is not supported by the AKS simulator for '{path}'.",
    )


def invalid_content(reason: str) -> ArmError:
    """ARM's answer to a body that is not the JSON it expects."""
    return ArmError(
        400,
        "InvalidRequestContent",
        f"The request content was invalid and could not be deserialized: {reason}",
    )


def bad_request(message: str, code: str = "BadRequest", **extra: Any) -> ArmError:
    """AKS's generic 400 (validation failures that carry their own message)."""
    return ArmError(400, code, message, extra=extra)


def throttled(subscription: str, operation: str, retry_after: int) -> ArmError:
    """ARM's 429, with ``Retry-After``.

    Wording as ARM returns it (MicrosoftDocs/azure-docs#105248,
    webdevops/azure-metrics-exporter#36).
    """
    return ArmError(
        429,
        "SubscriptionRequestsThrottled",
        f"Number of requests for subscription '{subscription}' and operation '{operation}' "
        f"exceeded the backend storage limit. Please try again after '{retry_after}' seconds.",
        headers={"Retry-After": str(retry_after)},
    )


def aks_throttled(
    subscription: str, handler: str, retry_after: int, headers: Mapping[str, str]
) -> ArmError:
    """The AKS resource provider's own 429, with ``Retry-After`` and the remaining count.

    Wording as AKS returns it (Microsoft Learn, "Troubleshoot the Throttled
    error code (429)": "The PutManagedClusterHandler.PUT request limit has been
    exceeded for SubID='...', please retry again in X seconds").
    """
    return ArmError(
        429,
        "Throttled",
        f"The {handler} request limit has been exceeded for SubID='{subscription}', please "
        f"retry again in {retry_after} seconds. For more information, please visit "
        "aka.ms/aks/throttling",
        headers={**headers, "Retry-After": str(retry_after)},
    )


def internal_error(tracking_id: str, at: dt.datetime) -> ArmError:
    """ARM's 500 with a tracking ID, as a transient failure looks to a client."""
    return ArmError(
        500,
        "InternalServerError",
        "Encountered internal server error. Diagnostic information: timestamp "
        f"'{at.strftime('%Y%m%dT%H%M%SZ')}', tracking id '{tracking_id}'.",
    )


def operation_not_allowed(
    operation: str, operation_id: str, scope: str, started: dt.datetime, *, pool: bool
) -> ArmError:
    """AKS's 409 for a second operation while one is in progress, in ARM's CloudError form.

    The body is ``{"error": {"code": "OperationNotAllowed", "message": ...}}``
    (CloudError, the ``Other Status Codes`` answer of every AKS operation in the
    REST reference). No recording holds a 409, so the wording is taken from
    public AKS answers. In 2024 AKS said "Operation is not allowed: Another
    operation (Updating) is in progress, please wait for it to finish before
    starting a new operation. See https://aka.ms/aks-pending-operation for more
    details" (Azure/terraform-azurerm-avm-ptn-aks-production#25, 2024-03).
    Wording of today's AKS (Azure/azure-cli-extensions#9855, 2026: "...in progress
    update managed cluster operation (operation ID: ...) on the managed cluster
    started on UTC ..."; a Terraform log of 2026-02 for "...on the agent pool
    system..." with ``az aks nodepool operation-abort``).
    """
    abort = "az aks nodepool operation-abort" if pool else "az aks operation-abort"
    return ArmError(
        409,
        "OperationNotAllowed",
        f"Operation is not allowed because there's an in progress {operation} operation "
        f"(operation ID: {operation_id}) on the {scope} started on UTC "
        f"{started.strftime('%Y-%m-%dT%H:%M:%SZ')}. Please wait for it to finish before "
        f"starting a new operation. You can also use '{abort} ...' to abort the ongoing operation.",
    )


def drain_blocked_by_pdb(node: str, pod: str, namespace: str, pdb: str) -> ArmError:
    """AKS's UpgradeFailed when a Pod Disruption Budget blocks a node drain.

    Wording from Microsoft's troubleshooting article "Troubleshoot UpgradeFailed
    errors due to eviction failures caused by PDBs" (MicrosoftDocs/SupportArticles-docs,
    error-code-poddrainfailure.md, 2025-03-03).
    """
    return ArmError(
        400,
        "UpgradeFailed",
        f"Drain node {node} failed when evicting pod {pod} failed with Too Many Requests "
        "error. This is often caused by a restrictive Pod Disruption Budget (PDB) policy. "
        f"See {PDB_DOC}. Original error: Cannot evict pod as it would violate the pod's "
        f"disruption budget.. PDB debug info: {namespace}/{pod} blocked by pdb {pdb} with "
        "0 unready pods.",
    )


def deprecated_api_usage(target_minor: str, seen: dt.datetime) -> ArmError:
    """AKS's refusal of a control plane minor upgrade while deprecated APIs are in use.

    Wording from Microsoft Learn, "Stop AKS cluster upgrades automatically on
    API breaking changes": code ``ValidationError``, subcode
    ``UpgradeBlockedOnDeprecatedAPIUsage``.
    """
    return bad_request(
        "Control Plane upgrade is blocked due to recent usage of a Kubernetes API deprecated "
        "in the specified version. Please refer to "
        "https://kubernetes.io/docs/reference/using-api/deprecation-guide to migrate the usage. "
        "To bypass this error, set enable-force-upgrade in upgradeSettings.overrideSettings. "
        "Bypassing this error without migrating usage will result in the deprecated Kubernetes "
        "API calls failing. Usage details: 1 error occurred:\n\t* usage has been detected on "
        "API policy.v1beta1.poddisruptionbudgets, and was recently seen at: "
        f"{seen.strftime('%Y-%m-%d %H:%M:%S +0000 UTC')}, which will be removed in "
        f"{target_minor}\n\n",
        code="ValidationError",
        subcode="UpgradeBlockedOnDeprecatedAPIUsage",
    )


def not_latest_operation(operation_id: str) -> ArmError:
    """The ``error`` AKS has put in a status body that is still InProgress, or Succeeded.

    The code is the one seen on AKS's status bodies (issue 15); no public
    document gives its wording, so the message is the simulator's own.
    """
    return ArmError(
        409,
        "NotLatestOperation",
        f"Operation {operation_id} is not the latest operation on the resource; a later "
        "operation has superseded it. Read the resource for its current state.",
    )

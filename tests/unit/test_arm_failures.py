"""A failed AKS operation is sorted into a cause a person can act on, from AKS's own texts."""

from __future__ import annotations

from typing import Any

import pytest

from patchpilot.adapters.arm.failures import classify, classify_refusal
from patchpilot.errors import PermanentError

# AKS's wording today (MicrosoftDocs/SupportArticles-docs, error-code-poddrainfailure.md).
PDB_NOW = (
    "Drain node aks-system-12345678-vmss000000 failed when evicting pod "
    "web-7f9c6d5b8-x2x9k failed with Too Many Requests error. This is often caused by a "
    "restrictive Pod Disruption Budget (PDB) policy. See http://aka.ms/aks/debugdrainfailures. "
    "Original error: Cannot evict pod as it would violate the pod's disruption budget.. "
    "PDB debug info: shop/web-7f9c6d5b8-x2x9k blocked by pdb web-pdb with 0 unready pods."
)
# The older wording (Azure/azure-workload-identity#824).
PDB_BEFORE = (
    "Drain of aks-infra002-17497433-vmss00000y did not complete: Too many req pod "
    "azure-wi-webhook-controller-manager-749b9d5cc8-2chl9 on node "
    "aks-infra002-17497433-vmss00000y: "
    "azure-workload-identity-system/azure-wi-webhook-controller-manager-749b9d5cc8-2chl9 blocked "
    "by pdb azure-wi-webhook-controller-manager with unready pods []. "
    "See http://aka.ms/aks/debugdrainfailures"
)


@pytest.mark.parametrize(
    ("error", "kind", "pdb", "namespace"),
    [
        pytest.param(
            {"code": "UpgradeFailed", "message": PDB_NOW}, "pdb", "web-pdb", "shop", id="pdb-today"
        ),
        pytest.param(
            {"code": "PodDrainFailure", "message": PDB_BEFORE},
            "pdb",
            "azure-wi-webhook-controller-manager",
            "azure-workload-identity-system",
            id="pdb-older-wording",
        ),
        pytest.param(
            {
                "code": "UpgradeFailed",
                "message": "Upgrade failed.",
                "details": [{"code": "PodDrainFailure", "message": PDB_NOW}],
            },
            "pdb",
            "web-pdb",
            "shop",
            id="pdb-in-details",
        ),
        pytest.param(
            {
                "code": "QuotaExceeded",
                "message": "Operation could not be completed as it "
                "results in exceeding approved standardDSv5Family Cores quota.",
            },
            "quota",
            None,
            None,
            id="vcpu-quota",
        ),
        pytest.param(
            {
                "code": "OperationNotAllowed",
                "message": "exceeding approved Total Regional Cores "
                "quota. Additional details - Location: westeurope",
            },
            "quota",
            None,
            None,
            id="regional-quota-in-message",
        ),
        pytest.param(
            {"code": "AllocationFailed", "message": "Allocation failed."},
            "quota",
            None,
            None,
            id="no-capacity",
        ),
        pytest.param(
            {
                "code": "InsufficientSubnetSize",
                "message": "Pre-allocated IPs 220 exceeds IPs "
                "available 200 in Subnet Cidr 10.240.0.0/24.",
            },
            "subnet",
            None,
            None,
            id="subnet-too-small",
        ),
        pytest.param(
            {
                "code": "SubnetIsFull",
                "message": "Subnet aks-subnet with address prefix "
                "10.10.1.0/27 does not have enough available IP addresses.",
            },
            "subnet",
            None,
            None,
            id="subnet-full",
        ),
        pytest.param(
            {
                "code": "ValidationError",
                "subcode": "UpgradeBlockedOnDeprecatedAPIUsage",
                "message": "Control Plane upgrade is blocked due to recent usage of a Kubernetes "
                "API deprecated in the specified version.",
            },
            "deprecated_api",
            None,
            None,
            id="deprecated-api",
        ),
        pytest.param(
            {"code": "VMExtensionProvisioningError", "message": "VM has reported a failure.\nMore"},
            "other",
            None,
            None,
            id="other",
        ),
        pytest.param({}, "other", None, None, id="empty-error"),
    ],
)
def test_an_aks_error_is_sorted_into_its_cause(
    error: dict[str, Any], kind: str, pdb: str | None, namespace: str | None
) -> None:
    cause = classify(error)

    assert (cause.kind, cause.pdb, cause.namespace) == (kind, pdb, namespace)
    assert "\n" not in cause.reason
    assert cause.advice in cause.reason


def test_a_pdb_cause_names_the_budget_and_how_to_look_at_it() -> None:
    cause = classify({"code": "UpgradeFailed", "message": PDB_NOW})

    assert cause.reason == (
        "drain blocked by Pod Disruption Budget shop/web-pdb; let the budget allow one "
        "disruption (kubectl get pdb -n shop web-pdb), then retry the upgrade"
    )


def test_an_other_cause_keeps_only_the_first_line_of_a_long_message() -> None:
    cause = classify({"code": "Oops", "message": "first line\n" + "x" * 5000})

    assert cause.message == "first line"
    assert cause.reason.startswith("AKS reported Oops: first line;")


def test_a_refused_request_is_classified_from_its_code_and_subcode() -> None:
    refused = PermanentError(
        "blocked", code="ValidationError", status=400, subcode="UpgradeBlockedOnDeprecatedAPIUsage"
    )

    assert classify_refusal(refused).kind == "deprecated_api"
    assert classify_refusal(PermanentError("no", code="BadRequest", status=400)).kind == "other"

"""ARM's JSON, read as the REST API examples show it; request bodies as az sends them."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from patchpilot.adapters.arm import actions, observe
from patchpilot.adapters.arm.errors import retry_after_seconds
from patchpilot.domain.resource_ids import parse_cluster_id
from patchpilot.domain.schedule import MaintenanceWindow
from patchpilot.domain.versions import KubernetesVersion
from patchpilot.errors import InvalidInputError
from tests.factories import SUB, cluster_id

SPECS = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "azure-rest-api-specs"
EXAMPLES = SPECS / "containerservice"
ARM = "https://management.azure.com"
CLUSTER = parse_cluster_id(cluster_id("prod-1"))


def example(name: str, status: str = "200") -> dict[str, Any]:
    """The response body of one REST example (a skip when the shared fixtures are absent)."""
    found = next(EXAMPLES.glob(f"*/{name}.json"), None)
    if found is None:
        pytest.skip(f"REST example {name} not found under {EXAMPLES}")
    document = json.loads(found.read_text())
    body: dict[str, Any] = document["responses"][status]["body"]
    return body


def test_kubernetes_versions_list_every_patch_and_previews_by_minor() -> None:
    offered = observe.offered_versions(example("KubernetesVersions_List"), "example")

    assert [(str(o.version), o.preview) for o in offered] == [
        ("1.23.12", False),
        ("1.23.15", False),
        ("1.24.6", False),
        ("1.24.9", False),
        ("1.25.4", False),
        ("1.25.5", False),
        ("1.26.0", True),
    ]


def test_the_latest_node_image_reads_the_legacy_colon_form() -> None:
    image = observe.latest_image(example("AgentPoolsGetUpgradeProfile"), "example")

    assert image is not None
    assert (image.family, image.version, image.os_type) == ("AKSUbuntu-1604", "2020.03.11", "Linux")


def test_a_maintenance_configuration_as_arm_returns_it_becomes_a_schedule() -> None:
    configuration = example("MaintenanceConfigurationsCreate_Update_MaintenanceWindow")

    schedules = observe.maintenance_schedules(
        [configuration, {"name": "default-other", "properties": {}}], "example"
    )

    assert list(schedules) == ["aksManagedAutoUpgradeSchedule"]
    window = schedules["aksManagedAutoUpgradeSchedule"]
    assert isinstance(window, MaintenanceWindow)
    assert window.duration_hours == 10


def test_a_pool_reads_current_versions_and_refuses_an_image_of_the_other_os() -> None:
    profile: dict[str, Any] = {
        "name": "win22",
        "properties": {
            "osType": "Windows",
            "osSKU": "Windows2022",
            "mode": "user",
            "count": 2,
            "orchestratorVersion": "1.33",
            "currentOrchestratorVersion": "1.33.2",
            "nodeImageVersion": "AKSWindows-2022-containerd-20348.4405.251112",
        },
    }

    pool = observe.pool_state(profile, "example")

    assert (pool.mode, str(pool.version), pool.os_sku, pool.count) == (
        "User",
        "1.33.2",
        "Windows2022",
        2,
    )
    profile["properties"]["nodeImageVersion"] = "AKSUbuntu-2204gen2containerd-202511.17.0"
    with pytest.raises(InvalidInputError, match="Linux image on an Windows pool"):
        observe.pool_state(profile, "example")


def test_an_unknown_channel_is_an_error_not_a_guess() -> None:
    resource = {
        "location": "westeurope",
        "properties": {
            "currentKubernetesVersion": "1.33.2",
            "autoUpgradeProfile": {"upgradeChannel": "weekly"},
            "agentPoolProfiles": [],
        },
    }

    with pytest.raises(InvalidInputError, match="'weekly'"):
        observe.cluster_state(CLUSTER, resource, {})


def test_control_plane_only_changes_the_cluster_version_and_no_pool() -> None:
    pools = [
        {"name": "system", "orchestratorVersion": "1.32.6", "nodeImageVersion": "AKSUbuntu-x"},
        {"name": "user", "orchestratorVersion": "1.32", "mode": "User"},
    ]
    cluster: dict[str, Any] = {
        "location": "westeurope",
        "properties": {
            "kubernetesVersion": "1.32.6",
            "servicePrincipalProfile": {"clientId": "msi"},
            "agentPoolProfiles": pools,
        },
    }
    running = {
        "properties": {
            "agentPoolProfiles": [
                {"name": "system", "currentOrchestratorVersion": "1.32.6"},
                {"name": "user", "currentOrchestratorVersion": "1.32.6"},
            ]
        }
    }

    body = actions.control_plane_body(cluster, KubernetesVersion.parse("1.33.2"), running=running)

    assert body["properties"]["kubernetesVersion"] == "1.33.2"
    # "1.32" would let AKS move the pool to 1.32's latest patch: it is pinned to what runs.
    assert body["properties"]["agentPoolProfiles"] == [
        {"name": "system", "orchestratorVersion": "1.32.6"},
        {"name": "user", "orchestratorVersion": "1.32.6", "mode": "User"},
    ]
    assert "servicePrincipalProfile" not in body["properties"]
    assert cluster["properties"]["kubernetesVersion"] == "1.32.6"  # the GET is not changed


def test_a_pool_upgrade_asks_for_a_version_and_never_for_an_image_rollback() -> None:
    pool = {"properties": {"orchestratorVersion": "1.32.6", "nodeImageVersion": "AKSUbuntu-x"}}

    body = actions.pool_version_body(pool, KubernetesVersion.parse("1.32.9"))

    assert body == {"properties": {"orchestratorVersion": "1.32.9"}}


def test_a_started_operation_round_trips_through_json_for_the_ledger() -> None:
    started = actions.Started(CLUSTER, "system", "node_image", None, f"{ARM}/op/1")

    assert actions.started_from_json(started.to_json()) == started
    with pytest.raises(InvalidInputError, match="unknown action"):
        actions.started_from_json({**started.to_json(), "action": "delete"})


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        pytest.param(
            f"{ARM}/subscriptions/{SUB}/providers/Microsoft.ContainerService/locations/westeurope"
            "/operations/0a1b?api-version=2016-03-30",
            True,
            id="aks-operation-of-the-subscription",
        ),
        pytest.param(
            # The shape of the AgentPoolsUpgradeNodeImageVersion example's header.
            f"{ARM}/providers/Microsoft.ContainerService/locations/westus/operations/"
            "00000000-0000-0000-0000-000000000000?api-version=2018-07-31",
            True,
            id="rest-example-without-subscription",
        ),
        pytest.param(
            f"{ARM}/subscriptions/11111111-1111-1111-1111-111111111111/providers/"
            "Microsoft.ContainerService/locations/westeurope/operations/0a1b",
            False,
            id="another-subscription",
        ),
        pytest.param(
            f"https://attacker.example/subscriptions/{SUB}/providers/Microsoft.ContainerService"
            "/locations/westeurope/operations/0a1b",
            False,
            id="another-host",
        ),
        pytest.param(
            f"http://management.azure.com/subscriptions/{SUB}/providers/"
            "Microsoft.ContainerService/locations/westeurope/operations/0a1b",
            False,
            id="in-clear",
        ),
        pytest.param(
            f"{ARM}/subscriptions/{SUB}/providers/Microsoft.ContainerService/locations/../../"
            "Microsoft.Storage/x",
            False,
            id="dot-dot",
        ),
        pytest.param(
            f"{ARM}/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/x",
            False,
            id="not-an-aks-operation",
        ),
    ],
)
def test_only_aks_operation_urls_on_the_arm_endpoint_are_followed(url: str, allowed: bool) -> None:
    assert actions.operation_url_allowed(url, endpoint=ARM, cluster=CLUSTER) is allowed


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        pytest.param({"retry-after": "17"}, 17.0, id="seconds"),
        pytest.param({"retry-after-ms": "250", "retry-after": "1"}, 0.25, id="milliseconds-first"),
        pytest.param({"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"}, None, id="http-date"),
        pytest.param({"retry-after": "inf"}, None, id="infinite"),
        pytest.param({"retry-after": "-3"}, None, id="negative"),
        pytest.param({}, None, id="absent"),
    ],
)
def test_retry_after_is_read_in_seconds(headers: dict[str, str], seconds: float | None) -> None:
    error = SimpleNamespace(response=SimpleNamespace(headers=headers))

    assert retry_after_seconds(error) == seconds  # type: ignore[arg-type]

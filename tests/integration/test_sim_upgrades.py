"""Upgrades through the stock SDK: long-running operations, AKS's steps, refusals and failures."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.containerservice import ContainerServiceClient

from patchpilot.sim.faults import FaultPlan
from patchpilot.sim.pace import Pace
from patchpilot.sim.server import SimulatorHandle, run_simulator
from tests.integration.conftest import (
    NEW_UBUNTU,
    OLD_UBUNTU,
    START,
    STEP,
    advance,
    aks_client,
    error_body,
    fleet_doc,
)

DONE = dt.timedelta(hours=3)


def upgrade_control_plane(client: ContainerServiceClient, version: str) -> Any:
    """What `az aks upgrade --control-plane-only` sends: the cluster, new kubernetesVersion."""
    cluster = client.managed_clusters.get("rg-dev", "dev-1")
    cluster.kubernetes_version = version
    return client.managed_clusters.begin_create_or_update("rg-dev", "dev-1", cluster)


def upgrade_pool(client: ContainerServiceClient, pool: str, version: str) -> Any:
    """What `az aks nodepool upgrade -k` sends: the pool with a new orchestratorVersion."""
    body = client.agent_pools.get("rg-dev", "dev-1", pool)
    body.orchestrator_version = version
    return client.agent_pools.begin_create_or_update("rg-dev", "dev-1", pool, body)


def kinds(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(event type without prefix, pool) of each event, in order."""
    return [(e["eventType"].rsplit(".", 1)[-1], e["data"].get("nodePoolName", "")) for e in events]


def test_node_image_upgrade_shows_on_the_pool_surges_drains_each_node_and_succeeds(
    sim: SimulatorHandle, client: ContainerServiceClient, events: list[dict[str, Any]]
) -> None:
    poller = client.agent_pools.begin_upgrade_node_image_version("rg-dev", "dev-1", "system")
    cluster = sim.aks.cluster("dev-1")
    operation = sim.aks.active_operation(cluster)
    assert operation is not None
    first_step = operation.step_at(START)
    pool = client.agent_pools.get("rg-dev", "dev-1", "system")
    during = client.managed_clusters.get("rg-dev", "dev-1")
    advance(sim, STEP + STEP / 2)
    second_step = operation.step_at(sim.clock.now())
    advance(sim, DONE)
    poller.result(timeout=10)

    assert first_step is not None
    assert first_step.startswith("surge node aks-system-")
    assert second_step is not None
    assert second_step.startswith("cordon, drain and delete node aks-system-")
    assert pool.provisioning_state == "UpgradingNodeImageVersion"
    assert during.provisioning_state == "Succeeded"
    assert {p.name: p.provisioning_state for p in during.agent_pool_profiles or []} == {
        "system": "UpgradingNodeImageVersion",
        "win22": "Succeeded",
    }
    after = client.agent_pools.get("rg-dev", "dev-1", "system")
    assert (after.node_image_version, after.provisioning_state) == (NEW_UBUNTU, "Succeeded")
    assert operation.status == "Succeeded"
    assert operation.ended == START + 4 * STEP  # one surge and three drains
    assert kinds(events) == [
        ("NodePoolRollingStarted", "system"),
        ("NodePoolRollingSucceeded", "system"),
    ]
    profile = client.agent_pools.get_upgrade_profile("rg-dev", "dev-1", "system")
    assert [u.node_image_version for u in profile.recently_used_versions or []] == [OLD_UBUNTU]


def test_node_image_upgrade_on_the_real_clock_finishes_while_the_sdk_polls() -> None:
    pace = Pace(seconds_per_node=0.05, retry_after_seconds=0)
    with run_simulator(fleet_doc(), pace=pace) as sim, aks_client(sim) as client:
        began = time.monotonic()
        client.agent_pools.begin_upgrade_node_image_version("rg-dev", "dev-1", "system").result(
            timeout=10
        )
        elapsed = time.monotonic() - began
        pool = client.agent_pools.get("rg-dev", "dev-1", "system")

    assert pool.node_image_version == NEW_UBUNTU
    assert elapsed < 5
    assert sim.requests()[("OperationResults_Get", 204)] == 1


def test_a_pool_already_on_the_latest_image_has_nothing_to_do(
    sim: SimulatorHandle, client: ContainerServiceClient, events: list[dict[str, Any]]
) -> None:
    client.agent_pools.begin_upgrade_node_image_version("rg-dev", "dev-1", "system", polling=False)
    advance(sim, DONE)

    client.agent_pools.begin_upgrade_node_image_version("rg-dev", "dev-1", "system").result(
        timeout=10
    )

    assert sim.requests()[("AgentPools_UpgradeNodeImageVersion", 200)] == 1
    assert len(events) == 2


def test_control_plane_only_upgrade_leaves_the_pools_alone(
    sim: SimulatorHandle, client: ContainerServiceClient, events: list[dict[str, Any]]
) -> None:
    poller = upgrade_control_plane(client, "1.33.2")
    during = client.managed_clusters.get("rg-dev", "dev-1")
    advance(sim, DONE)
    result = poller.result(timeout=10)

    assert (during.provisioning_state, during.current_kubernetes_version) == ("Upgrading", "1.32.6")
    assert (result.kubernetes_version, result.current_kubernetes_version) == ("1.33.2", "1.33.2")
    assert result.provisioning_state == "Succeeded"
    assert {p.current_orchestrator_version for p in result.agent_pool_profiles or []} == {"1.32.6"}
    assert events == []


def test_a_pool_kubernetes_upgrade_shows_on_the_pool_and_takes_the_latest_image(
    sim: SimulatorHandle, client: ContainerServiceClient, events: list[dict[str, Any]]
) -> None:
    control_plane = upgrade_control_plane(client, "1.33.2")
    advance(sim, DONE)
    control_plane.result(timeout=10)

    poller = upgrade_pool(client, "system", "1.33.2")
    during = client.agent_pools.get("rg-dev", "dev-1", "system")
    cluster_during = client.managed_clusters.get("rg-dev", "dev-1")
    advance(sim, DONE)
    pool = poller.result(timeout=10)

    assert (during.orchestrator_version, during.current_orchestrator_version) == (
        "1.33.2",
        "1.32.6",
    )
    assert during.provisioning_state == "Upgrading"
    assert cluster_during.provisioning_state == "Succeeded"
    assert (pool.orchestrator_version, pool.current_orchestrator_version) == ("1.33.2", "1.33.2")
    assert pool.node_image_version == NEW_UBUNTU
    assert kinds(events) == [
        ("NodePoolRollingStarted", "system"),
        ("NodePoolRollingSucceeded", "system"),
    ]


def test_a_full_cluster_upgrade_shows_everything_upgrading_and_rolls_each_pool_in_turn(
    sim: SimulatorHandle, client: ContainerServiceClient, events: list[dict[str, Any]]
) -> None:
    cluster = client.managed_clusters.get("rg-dev", "dev-1")
    cluster.kubernetes_version = "1.33.2"
    for profile in cluster.agent_pool_profiles or []:
        profile.orchestrator_version = "1.33.2"
    poller = client.managed_clusters.begin_create_or_update("rg-dev", "dev-1", cluster)
    during = client.managed_clusters.get("rg-dev", "dev-1")
    advance(sim, DONE)
    result = poller.result(timeout=10)

    # As recorded for `az aks upgrade -k`: the cluster and every pool it rolls show Upgrading.
    assert during.provisioning_state == "Upgrading"
    assert {p.provisioning_state for p in during.agent_pool_profiles or []} == {"Upgrading"}
    assert {p.current_orchestrator_version for p in result.agent_pool_profiles or []} == {"1.33.2"}
    assert kinds(events) == [
        ("NodePoolRollingStarted", "system"),
        ("NodePoolRollingSucceeded", "system"),
        ("NodePoolRollingStarted", "win22"),
        ("NodePoolRollingSucceeded", "win22"),
    ]
    # The control plane takes two steps (20 virtual minutes) before the first pool starts.
    assert events[0]["eventTime"] == "2025-11-20T01:20:00.0000000Z"
    assert events[-1]["eventTime"] == "2025-11-20T02:30:00.0000000Z"


def start_node_image(sim: SimulatorHandle, client: ContainerServiceClient) -> None:
    """What `az aks nodepool upgrade --node-image-only` sends, for the system pool."""
    client.agent_pools.begin_upgrade_node_image_version("rg-dev", "dev-1", "system", polling=False)


def start_pool_version(sim: SimulatorHandle, client: ContainerServiceClient) -> None:
    """The control plane to 1.32.9 (waited out), then the system pool's PUT to 1.32.9."""
    upgrade_control_plane(client, "1.32.9")
    advance(sim, DONE)
    upgrade_pool(client, "system", "1.32.9")


def start_control_plane(sim: SimulatorHandle, client: ContainerServiceClient) -> None:
    upgrade_control_plane(client, "1.32.9")


@pytest.mark.parametrize(
    ("first", "name", "scope"),
    [
        pytest.param(
            start_node_image,
            "upgrade node image version",
            "agent pool system",
            id="a pool's node image upgrade",
        ),
        pytest.param(
            start_pool_version, "update node pool", "agent pool system", id="a pool's version"
        ),
        pytest.param(
            start_control_plane,
            "update managed cluster",
            "managed cluster",
            id="a control plane upgrade",
        ),
    ],
)
def test_while_any_operation_runs_every_other_start_answers_409_naming_it(
    sim: SimulatorHandle,
    client: ContainerServiceClient,
    first: Callable[[SimulatorHandle, ContainerServiceClient], None],
    name: str,
    scope: str,
) -> None:
    first(sim, client)
    running = sim.aks.active_operation(sim.aks.cluster("dev-1"))
    assert running is not None
    began = len(sim.aks.operations())
    others: list[Callable[[], object]] = [
        lambda: client.agent_pools.begin_upgrade_node_image_version("rg-dev", "dev-1", "win22"),
        lambda: upgrade_pool(client, "win22", "1.32.9"),
        lambda: upgrade_control_plane(client, "1.33.2"),
    ]

    for second in others:
        with pytest.raises(HttpResponseError) as caught:
            second()
        assert caught.value.status_code == 409
        assert caught.value.error is not None
        assert caught.value.error.code == "OperationNotAllowed"
        message = caught.value.error.message or ""
        assert f"in progress {name} operation (operation ID: {running.id}) on the {scope}" in (
            message
        )
    assert len(sim.aks.operations()) == began


def test_a_control_plane_upgrade_shows_on_the_cluster_and_not_on_its_pools(
    sim: SimulatorHandle, client: ContainerServiceClient
) -> None:
    upgrade_control_plane(client, "1.33.2")

    during = client.managed_clusters.get("rg-dev", "dev-1")
    pool = client.agent_pools.get("rg-dev", "dev-1", "system")

    assert during.provisioning_state == "Upgrading"
    assert pool.provisioning_state == "Succeeded"


def test_a_drain_blocked_by_a_pdb_fails_the_upgrade_naming_the_pdb_once(
    sim: SimulatorHandle, client: ContainerServiceClient, events: list[dict[str, Any]]
) -> None:
    sim.set_faults(FaultPlan(pdb_failures=frozenset({("dev-1", "system")})))
    poller = client.agent_pools.begin_upgrade_node_image_version("rg-dev", "dev-1", "system")
    advance(sim, DONE)
    with pytest.raises(HttpResponseError) as caught:
        poller.result(timeout=10)
    pool = client.agent_pools.get("rg-dev", "dev-1", "system")
    cluster = client.managed_clusters.get("rg-dev", "dev-1")

    assert caught.value.error is not None
    assert caught.value.error.code == "UpgradeFailed"
    message = caught.value.error.message or ""
    assert "blocked by pdb system-critical-pdb" in message
    assert "Cannot evict pod as it would violate the pod's disruption budget" in message
    assert (pool.provisioning_state, cluster.provisioning_state) == ("Failed", "Failed")
    assert pool.status is not None
    assert pool.status.provisioning_error is not None
    assert pool.status.provisioning_error.code == "UpgradeFailed"
    assert pool.node_image_version == OLD_UBUNTU
    assert kinds(events) == [
        ("NodePoolRollingStarted", "system"),
        ("NodePoolRollingFailed", "system"),
    ]
    assert events[-1]["eventTime"] == "2025-11-20T01:20:00.0000000Z"  # surge, then the first drain

    retry = client.agent_pools.begin_upgrade_node_image_version("rg-dev", "dev-1", "system")
    advance(sim, DONE)
    retry.result(timeout=10)
    assert client.agent_pools.get("rg-dev", "dev-1", "system").node_image_version == NEW_UBUNTU


def test_putting_a_failed_cluster_back_unchanged_reconciles_it(
    sim: SimulatorHandle, client: ContainerServiceClient, events: list[dict[str, Any]]
) -> None:
    sim.set_faults(FaultPlan(pdb_failures=frozenset({("dev-1", "win22")})))
    failing = client.agent_pools.begin_upgrade_node_image_version("rg-dev", "dev-1", "win22")
    advance(sim, DONE)
    with pytest.raises(HttpResponseError):
        failing.result(timeout=10)

    poller = upgrade_control_plane(client, "1.32.6")
    during = client.managed_clusters.get("rg-dev", "dev-1")
    advance(sim, DONE)
    cluster = poller.result(timeout=10)

    assert during.provisioning_state == "Updating"
    assert cluster.provisioning_state == "Succeeded"
    assert {p.provisioning_state for p in cluster.agent_pool_profiles or []} == {"Succeeded"}
    assert kinds(events) == [
        ("NodePoolRollingStarted", "win22"),
        ("NodePoolRollingFailed", "win22"),
    ]


def test_recent_deprecated_api_usage_blocks_a_minor_control_plane_upgrade(
    sim: SimulatorHandle, client: ContainerServiceClient
) -> None:
    sim.set_faults(FaultPlan(deprecated_api=frozenset({"dev-1"})))

    with pytest.raises(HttpResponseError) as caught:
        upgrade_control_plane(client, "1.33.2")
    patch = upgrade_control_plane(client, "1.32.9")
    advance(sim, DONE)
    patch.result(timeout=10)

    assert caught.value.status_code == 400
    body = error_body(caught.value)
    assert (body["code"], body["subcode"]) == (
        "ValidationError",
        "UpgradeBlockedOnDeprecatedAPIUsage",
    )
    assert (
        "Control Plane upgrade is blocked due to recent usage of a Kubernetes API"
        in body["message"]
    )


def _new_pool(client: ContainerServiceClient) -> None:
    cluster = client.managed_clusters.get("rg-dev", "dev-1")
    profiles = cluster.agent_pool_profiles or []
    extra = type(profiles[0])({"name": "gpu", "count": 1, "orchestratorVersion": "1.32.6"})
    cluster.agent_pool_profiles = [*profiles, extra]
    client.managed_clusters.begin_create_or_update("rg-dev", "dev-1", cluster)


def _rollback_to(image: str) -> Callable[[ContainerServiceClient], object]:
    def request(client: ContainerServiceClient) -> object:
        body = client.agent_pools.get("rg-dev", "dev-1", "system")
        body.node_image_version = image
        return client.agent_pools.begin_create_or_update("rg-dev", "dev-1", "system", body)

    return request


@pytest.mark.parametrize(
    ("request_upgrade", "code", "words"),
    [
        pytest.param(
            lambda c: upgrade_control_plane(c, "1.34.0"),
            "OperationNotAllowed",
            "Upgrading Kubernetes version 1.32.6 to 1.34.0 is not allowed",
            id="control plane skipping a minor",
        ),
        pytest.param(
            lambda c: upgrade_control_plane(c, "1.31.9"),
            "K8sVersionNotSupported",
            "Version 1.31.9 is not supported in this region",
            id="control plane to a version the region lacks",
        ),
        pytest.param(
            lambda c: upgrade_pool(c, "system", "1.33.2"),
            "NodePoolMcVersionIncompatible",
            "Node pool version 1.33.2 and control plane version 1.32.6 are incompatible",
            id="pool newer than its control plane",
        ),
        pytest.param(
            lambda c: upgrade_pool(c, "system", "1.40.0"),
            "AgentPoolK8sVersionNotSupported",
            "Version 1.40.0 is not supported in this region",
            id="pool to a version the region lacks",
        ),
        pytest.param(
            _rollback_to(NEW_UBUNTU),
            "InvalidParameter",
            "NodeImageVersion is not accepted",
            id="rollback to an image never used",
        ),
        pytest.param(
            _new_pool,
            "BadRequest",
            "A new agent pool was introduced",
            id="a pool added through the cluster",
        ),
    ],
)
def test_requests_aks_refuses_answer_400_with_its_code(
    client: ContainerServiceClient,
    request_upgrade: Callable[[ContainerServiceClient], object],
    code: str,
    words: str,
) -> None:
    with pytest.raises(HttpResponseError) as caught:
        request_upgrade(client)

    assert caught.value.status_code == 400
    assert caught.value.error is not None
    assert caught.value.error.code == code
    assert words in (caught.value.error.message or "")


def test_a_node_image_rolls_back_to_a_recently_used_version(
    sim: SimulatorHandle, client: ContainerServiceClient
) -> None:
    client.agent_pools.begin_upgrade_node_image_version("rg-dev", "dev-1", "system", polling=False)
    advance(sim, DONE)

    poller = _rollback_to(OLD_UBUNTU)(client)
    advance(sim, DONE)
    pool = poller.result(timeout=10)  # type: ignore[attr-defined]

    assert (pool.node_image_version, pool.provisioning_state) == (OLD_UBUNTU, "Succeeded")


def test_abort_cancels_the_running_upgrade(
    sim: SimulatorHandle, client: ContainerServiceClient, events: list[dict[str, Any]]
) -> None:
    client.agent_pools.begin_upgrade_node_image_version("rg-dev", "dev-1", "system", polling=False)
    running = sim.aks.active_operation(sim.aks.cluster("dev-1"))
    advance(sim, STEP)

    client.agent_pools.begin_abort_latest_operation("rg-dev", "dev-1", "system").result(timeout=10)
    pool = client.agent_pools.get("rg-dev", "dev-1", "system")
    with pytest.raises(HttpResponseError) as nothing_left:
        client.managed_clusters.begin_abort_latest_operation("rg-dev", "dev-1")

    assert running is not None
    assert running.status == "Canceled"
    assert (pool.provisioning_state, pool.node_image_version) == ("Canceled", OLD_UBUNTU)
    assert kinds(events) == [
        ("NodePoolRollingStarted", "system"),
        ("NodePoolRollingFailed", "system"),
    ]
    assert nothing_left.value.status_code == 400
    assert sim.aks.active_operation(sim.aks.cluster("dev-1")) is None

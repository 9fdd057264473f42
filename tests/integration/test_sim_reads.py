"""The stock azure-mgmt-containerservice client reads the simulated fleet unchanged."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.containerservice import ContainerServiceClient

from patchpilot.sim.server import SimulatorHandle
from tests.integration.conftest import (
    LAB_SUB,
    NEW_UBUNTU,
    NEW_WINDOWS,
    OLD_UBUNTU,
    OLD_WINDOWS,
    aks_client,
    cluster_id,
)


def test_clusters_list_by_subscription_and_by_resource_group(
    client: ContainerServiceClient,
) -> None:
    everything = [c.name for c in client.managed_clusters.list()]
    in_group = [c.name for c in client.managed_clusters.list_by_resource_group("rg-prod")]

    assert everything == ["dev-1", "prod-1", "prod-2"]
    assert in_group == ["prod-1", "prod-2"]


def test_a_cluster_reads_with_versions_pools_channels_and_security_defaults(
    client: ContainerServiceClient,
) -> None:
    cluster = client.managed_clusters.get("rg-dev", "dev-1")

    assert cluster.id == cluster_id("dev-1", "rg-dev")
    assert (cluster.location, cluster.tags) == ("westeurope", {"env": "dev"})
    assert cluster.type == "Microsoft.ContainerService/ManagedClusters"
    assert cluster.provisioning_state == "Succeeded"
    assert cluster.power_state is not None
    assert cluster.power_state.code == "Running"
    assert (cluster.kubernetes_version, cluster.current_kubernetes_version) == ("1.32.6", "1.32.6")
    assert cluster.auto_upgrade_profile is not None
    # AKS leaves a channel that is off out of the body, rather than showing "none".
    assert cluster.auto_upgrade_profile.upgrade_channel is None
    assert cluster.auto_upgrade_profile.node_os_upgrade_channel == "None"
    assert cluster.api_server_access_profile is not None
    assert not cluster.api_server_access_profile.authorized_ip_ranges
    assert cluster.disable_local_accounts is False
    pools = {p.name: p for p in cluster.agent_pool_profiles or []}
    assert set(pools) == {"system", "win22"}
    linux, windows = pools["system"], pools["win22"]
    assert (linux.os_type, linux.os_sku, linux.mode, linux.count) == (
        "Linux",
        "Ubuntu",
        "System",
        3,
    )
    assert (windows.os_type, windows.os_sku, windows.mode) == ("Windows", "Windows2022", "User")
    assert (linux.orchestrator_version, linux.current_orchestrator_version) == ("1.32.6", "1.32.6")
    assert (linux.node_image_version, windows.node_image_version) == (OLD_UBUNTU, OLD_WINDOWS)
    assert linux.upgrade_settings is not None
    assert linux.upgrade_settings.max_surge == "10%"


def test_fleet_overlays_reach_the_arm_properties(sim: SimulatorHandle) -> None:
    with aks_client(sim, LAB_SUB) as lab:
        cluster = lab.managed_clusters.get("rg-lab", "lab-1")
        pool = lab.agent_pools.get("rg-lab", "lab-1", "system")

    assert cluster.api_server_access_profile is not None
    assert cluster.api_server_access_profile.authorized_ip_ranges == ["203.0.113.0/24"]
    assert cluster.disable_local_accounts is True
    assert pool.vm_size == "Standard_DC4s_v3"


def test_agent_pools_read_as_resources(client: ContainerServiceClient) -> None:
    listed = [p.name for p in client.agent_pools.list("rg-dev", "dev-1")]
    pool = client.agent_pools.get("rg-dev", "dev-1", "WIN22")

    assert listed == ["system", "win22"]
    assert pool.id == cluster_id("dev-1", "rg-dev") + "/agentPools/win22"
    assert pool.type == "Microsoft.ContainerService/managedClusters/agentPools"
    assert (pool.os_type, pool.node_image_version, pool.provisioning_state) == (
        "Windows",
        OLD_WINDOWS,
        "Succeeded",
    )


def test_pool_upgrade_profiles_offer_the_newest_image_of_the_family(
    client: ContainerServiceClient,
) -> None:
    linux = client.agent_pools.get_upgrade_profile("rg-dev", "dev-1", "system")
    windows = client.agent_pools.get_upgrade_profile("rg-dev", "dev-1", "win22")

    assert linux.latest_node_image_version == NEW_UBUNTU
    assert windows.latest_node_image_version == NEW_WINDOWS
    # A pool never passes its control plane: nothing to offer while both are on 1.32.6.
    assert linux.kubernetes_version == "1.32.6"
    assert not linux.upgrades


def test_the_cluster_upgrade_profile_offers_the_next_patch_and_minor(
    client: ContainerServiceClient,
) -> None:
    profile = client.managed_clusters.get_upgrade_profile("rg-dev", "dev-1")

    upgrades = profile.control_plane_profile.upgrades or []
    assert profile.control_plane_profile.kubernetes_version == "1.32.6"
    assert [u.kubernetes_version for u in upgrades] == ["1.32.9", "1.33.2"]
    assert [p.name for p in profile.agent_pool_profiles] == ["system", "win22"]


def test_available_agent_pool_versions_follow_the_catalog(client: ContainerServiceClient) -> None:
    available = client.agent_pools.get_available_agent_pool_versions("rg-dev", "dev-1")

    versions = available.properties.agent_pool_versions or []
    assert [v.kubernetes_version for v in versions] == ["1.32.6", "1.32.9", "1.33.2", "1.34.0"]
    assert [v.kubernetes_version for v in versions if v.default] == ["1.32.9"]
    assert [v.kubernetes_version for v in versions if v.is_preview] == ["1.34.0"]


def test_maintenance_configurations_read_as_arm_returns_them(
    client: ContainerServiceClient,
) -> None:
    listed = list(client.maintenance_configurations.list_by_managed_cluster("rg-prod", "prod-1"))
    node_os = client.maintenance_configurations.get(
        "rg-prod", "prod-1", "aksManagedNodeOSUpgradeSchedule"
    )

    assert sorted(str(c.name) for c in listed) == [
        "aksManagedAutoUpgradeSchedule",
        "aksManagedNodeOSUpgradeSchedule",
    ]
    assert (
        node_os.id
        == cluster_id("prod-1", "rg-prod")
        + "/maintenanceConfigurations/aksManagedNodeOSUpgradeSchedule"
    )
    window = node_os.maintenance_window
    assert window is not None
    assert (window.duration_hours, window.utc_offset, window.start_time) == (4, "+01:00", "01:00")
    assert window.schedule is not None
    assert window.schedule.weekly is not None
    assert window.schedule.weekly.day_of_week == "Sunday"
    auto = next(c for c in listed if c.name == "aksManagedAutoUpgradeSchedule")
    assert auto.maintenance_window is not None
    assert [str(d.start) for d in auto.maintenance_window.not_allowed_dates or []] == ["2025-12-20"]


def test_kubernetes_versions_list_the_catalog_with_default_and_preview(
    client: ContainerServiceClient,
) -> None:
    listed = client.managed_clusters.list_kubernetes_versions("westeurope")

    by_minor = {v.version: v for v in listed.values_property or []}
    assert list(by_minor) == ["1.32", "1.33", "1.34"]
    assert by_minor["1.32"].is_default is True
    assert by_minor["1.34"].is_preview is True
    patches = by_minor["1.32"].patch_versions or {}
    assert patches["1.32.6"].upgrades == ["1.32.9", "1.33.2"]


@pytest.mark.parametrize(
    ("group", "name", "code"),
    [
        pytest.param("rg-dev", "nope", "ResourceNotFound", id="unknown cluster"),
        pytest.param("rg-nope", "dev-1", "ResourceGroupNotFound", id="unknown resource group"),
    ],
)
def test_unknown_resources_answer_arms_404(
    client: ContainerServiceClient, group: str, name: str, code: str
) -> None:
    with pytest.raises(ResourceNotFoundError) as caught:
        client.managed_clusters.get(group, name)

    assert caught.value.status_code == 404
    assert caught.value.error is not None
    assert caught.value.error.code == code


def test_unknown_pool_and_maintenance_configuration_answer_404(
    client: ContainerServiceClient,
) -> None:
    with pytest.raises(ResourceNotFoundError):
        client.agent_pools.get("rg-dev", "dev-1", "gpu")
    with pytest.raises(ResourceNotFoundError):
        client.maintenance_configurations.get("rg-dev", "dev-1", "default")

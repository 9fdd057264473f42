"""Observation through the real SDK: the state a fleet file gives, one catalog read per sweep."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError

from patchpilot.adapters.arm.catalog_cache import SweepCache
from patchpilot.adapters.arm.client import ArmClients
from patchpilot.adapters.arm.gateway import AS_JSON, ArmGateway
from patchpilot.domain.fleet import FleetState, parse_fleet
from patchpilot.domain.history import History
from patchpilot.domain.instants import parse_instant
from patchpilot.domain.planner import plan
from patchpilot.domain.posture import posture_findings
from patchpilot.domain.resource_ids import parse_cluster_id
from patchpilot.files import load_fleet, load_policy
from patchpilot.service.survey import observe_fleet, survey_fleet
from patchpilot.sim.clock import VirtualClock
from patchpilot.sim.pace import Pace
from patchpilot.sim.server import SimulatorHandle, run_simulator
from tests.integration.arm_support import (
    EVERY_SCOPE,
    fleet_with_skus,
    gateway_for,
    served,
    settings_for,
)
from tests.integration.conftest import START, cluster_id, pool, region

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_FLEET = ROOT / "examples" / "fleet.yaml"
EXAMPLE_POLICY = ROOT / "examples" / "policy.yaml"
DEMO_AT = parse_instant("2025-11-22T01:30Z")
QUICK = Pace(seconds_per_node=600, retry_after_seconds=0)


def expected_fleet(document: dict[str, Any]) -> FleetState:
    """What the fleet file says, read by the domain's parser (the simulator's overlays removed)."""
    cleaned = copy.deepcopy(document)
    for cluster in cleaned["clusters"]:
        cluster.pop("arm_properties", None)
        for entry in cluster["pools"]:
            entry.pop("arm_properties", None)
    return parse_fleet(cleaned)


@pytest.fixture
def document() -> dict[str, Any]:
    """The shared four-cluster fleet, OS SKUs spelt out."""
    return fleet_with_skus()


@pytest.fixture
def sim(document: dict[str, Any]) -> Iterator[SimulatorHandle]:
    """A simulator of that fleet on a virtual clock at ``START``."""
    with run_simulator(document, clock=VirtualClock(START), pace=QUICK) as handle:
        yield handle


@pytest.fixture
def gateway(sim: SimulatorHandle) -> Iterator[ArmGateway]:
    """A gateway allowed into both subscriptions of the fleet."""
    gateway = gateway_for(sim, EVERY_SCOPE)
    yield gateway
    gateway.close()


def test_each_observed_cluster_equals_what_the_fleet_file_says(
    gateway: ArmGateway, document: dict[str, Any]
) -> None:
    expected = expected_fleet(document)
    cache = SweepCache()

    observed = [gateway.observe(cluster.id, cache).state for cluster in expected.clusters]

    assert observed == list(expected.clusters)


def test_a_sweep_reads_each_region_and_image_family_once(
    sim: SimulatorHandle, gateway: ArmGateway, document: dict[str, Any]
) -> None:
    clusters = expected_fleet(document).clusters
    cache = SweepCache()

    for cluster in clusters:
        gateway.observe(cluster.id, cache)
    first_sweep = (
        served(sim, "ManagedClusters_ListKubernetesVersions"),
        served(sim, "AgentPools_GetUpgradeProfile"),
    )
    next_cache = SweepCache()
    for cluster in clusters:
        gateway.observe(cluster.id, next_cache)

    # Five pools; two regions; (weu, Ubuntu), (weu, Windows) and (neu, Ubuntu).
    assert (sum(len(c.pools) for c in clusters), first_sweep) == (5, (2, 3))
    assert served(sim, "ManagedClusters_Get") == 2 * len(clusters)
    assert served(sim, "AgentPools_GetUpgradeProfile") == 6  # a new sweep reads AKS afresh


def test_the_live_catalog_is_what_the_region_offers_now_without_release_dates(
    gateway: ArmGateway, document: dict[str, Any]
) -> None:
    offline = expected_fleet(document)
    cache = SweepCache()
    gateway.observe(parse_cluster_id(cluster_id("dev-1", "rg-dev")), cache)

    live = cache.catalog()["westeurope"]

    region_now = offline.region("westeurope")
    assert live.kubernetes_at(START) == region_now.kubernetes_at(START)
    for family in ("AKSUbuntu-2204gen2containerd", "AKSWindows-2022-containerd"):
        assert live.images_at(family, START) == region_now.images_at(family, START)[-1:]
    assert {e.released for e in live.kubernetes} | {e.released for e in live.node_images} == {None}


def test_an_observation_carries_power_state_and_upgrade_settings(
    gateway: ArmGateway,
) -> None:
    observed = gateway.observe(parse_cluster_id(cluster_id("dev-1", "rg-dev")), SweepCache())

    assert observed.power_state == "Running"
    assert [(p.name, p.provisioning_state, p.power_state) for p in observed.pools] == [
        ("system", "Succeeded", "Running"),
        ("win22", "Succeeded", "Running"),
    ]
    assert observed.pools[0].upgrade_settings == {"maxSurge": "10%"}
    assert observed.error is None


def _secure_fleet() -> dict[str, Any]:
    """One hardened cluster with a retired Windows pool and a pool meant for isolation."""
    windows_2019 = {
        "name": "win19",
        "os": "Windows",
        "mode": "User",
        "version": "1.32.6",
        "node_image": "AKSWindows-2019-containerd-17763.7922.251015",
        "os_sku": "Windows2019",
    }
    isolated = {
        **pool("secure"),
        "os_sku": "Ubuntu",
        "arm_properties": {"nodeLabels": {"isolation": "true"}, "vmSize": "Standard_D4ds_v5"},
    }
    return {
        "catalog": {"westeurope": region()},
        "clusters": [
            {
                "id": cluster_id("sec-1", "rg-sec"),
                "location": "westeurope",
                "kubernetes_version": "1.32.6",
                "node_os_upgrade_channel": "NodeImage",
                "arm_properties": {
                    "apiServerAccessProfile": {"enablePrivateCluster": True},
                    "disableLocalAccounts": True,
                    "securityProfile": {"azureKeyVaultKms": {"enabled": True}},
                },
                "pools": [{**pool("system"), "os_sku": "Ubuntu"}, windows_2019, isolated],
            }
        ],
    }


@pytest.mark.parametrize(
    ("fleet", "cluster", "codes"),
    [
        pytest.param(
            fleet_with_skus(),
            cluster_id("dev-1", "rg-dev"),
            [
                ("api_server_public", None),
                ("local_accounts_enabled", None),
                ("secrets_not_kms_encrypted", None),
                ("kubernetes_near_end_of_support", None),
                ("linux_reboots_not_performed", "system"),
            ],
            id="az-aks-create-defaults",
        ),
        pytest.param(
            _secure_fleet(),
            cluster_id("sec-1", "rg-sec"),
            [
                ("kubernetes_near_end_of_support", None),
                ("windows_server_2019", "win19"),
                ("isolation_vm_size", "secure"),
            ],
            id="hardened-with-retired-and-misplaced-pools",
        ),
    ],
)
def test_posture_findings_come_from_the_observed_security_properties(
    fleet: dict[str, Any], cluster: str, codes: list[tuple[str, str | None]]
) -> None:
    with run_simulator(fleet, clock=VirtualClock(START), pace=QUICK) as sim:
        gateway = gateway_for(sim, (*EVERY_SCOPE, f"/subscriptions/{cluster.split('/')[2]}"))
        cache = SweepCache()
        observed = gateway.observe(parse_cluster_id(cluster), cache)
        gateway.close()

    offered = cache.region(observed.state.location).kubernetes_at(START)
    found = posture_findings(observed.posture, offered)
    assert [(f.code, f.pool) for f in found] == codes


def test_a_survey_reports_a_cluster_it_cannot_read_and_keeps_the_others(
    sim: SimulatorHandle,
) -> None:
    policy = load_policy(EXAMPLE_POLICY)
    missing = cluster_id("gone-1", "rg-dev")
    settings = settings_for(
        sim,
        PATCHPILOT_DISCOVERY="static",
        PATCHPILOT_STATIC_CLUSTERS=f"{cluster_id('dev-1', 'rg-dev')},{missing}",
    )

    survey = survey_fleet(policy, settings)

    assert [str(c.id) for c in survey.fleet.clusters] == [cluster_id("dev-1", "rg-dev")]
    assert [cluster for cluster, _ in survey.unobserved] == [missing]
    assert "ResourceNotFound" in survey.unobserved[0][1]
    assert {f.code for f in survey.posture(policy)} >= {"api_server_public"}


def test_plan_from_live_observation_equals_the_offline_plan_of_the_same_fleet_file() -> None:
    policy = load_policy(EXAMPLE_POLICY)
    offline = plan(load_fleet(EXAMPLE_FLEET), policy, History(), DEMO_AT)

    with run_simulator(EXAMPLE_FLEET, clock=VirtualClock(DEMO_AT), pace=QUICK) as sim:
        live_fleet = observe_fleet(policy, settings_for(sim))
        graph_queries = served(sim, "Resources")

    live = plan(live_fleet, policy, History(), DEMO_AT)
    assert graph_queries == 1
    assert live_fleet.node_image_pinning is False
    assert len(live.actions) == len(offline.actions) > 0
    assert live.to_json() == offline.to_json()


def test_the_hot_reads_as_json_are_what_the_sdk_models_give(
    sim: SimulatorHandle, document: dict[str, Any]
) -> None:
    clients = ArmClients(settings_for(sim))
    try:
        for cluster in expected_fleet(document).clusters:
            cid = cluster.id
            client = clients.container_service(cid.subscription)
            group, name = cid.resource_group, cid.name
            managed = client.managed_clusters
            pairs = [
                (managed.get(group, name, **AS_JSON), managed.get(group, name)),
                (
                    managed.list_kubernetes_versions(cluster.location, **AS_JSON),
                    managed.list_kubernetes_versions(cluster.location),
                ),
            ]
            for entry in cluster.pools:
                profile = client.agent_pools.get_upgrade_profile
                pairs.append(
                    (
                        profile(group, name, entry.name, **AS_JSON),
                        profile(group, name, entry.name),
                    )
                )
            for raw, model in pairs:
                assert raw == model.as_dict()
    finally:
        clients.close()


def test_a_hot_read_as_json_raises_what_the_sdk_call_raises(sim: SimulatorHandle) -> None:
    clients = ArmClients(settings_for(sim))
    missing = parse_cluster_id(cluster_id("no-such-cluster", "rg-dev"))
    client = clients.container_service(missing.subscription)
    try:
        with pytest.raises(ResourceNotFoundError) as by_model:
            client.managed_clusters.get(missing.resource_group, missing.name)
        with pytest.raises(ResourceNotFoundError) as as_json:
            client.managed_clusters.get(missing.resource_group, missing.name, **AS_JSON)
    finally:
        clients.close()

    assert as_json.value.status_code == by_model.value.status_code == 404
    assert str(as_json.value) == str(by_model.value)

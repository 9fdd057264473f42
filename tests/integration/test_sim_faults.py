"""Faults on demand: what a client sees, how they are counted, and how they are specified."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from azure.core.exceptions import HttpResponseError, ServiceResponseError
from azure.mgmt.containerservice import ContainerServiceClient

from patchpilot.errors import InvalidInputError
from patchpilot.sim.faults import FaultDice, FaultPlan
from patchpilot.sim.server import SimulatorHandle
from tests.integration.conftest import header


def test_a_throttled_request_gets_429_with_retry_after_and_arms_body(
    sim: SimulatorHandle, client: ContainerServiceClient
) -> None:
    sim.set_faults(FaultPlan(throttle_rate=1.0, retry_after_seconds=7))

    with pytest.raises(HttpResponseError) as caught:
        client.managed_clusters.get("rg-dev", "dev-1")

    assert caught.value.status_code == 429
    assert header(caught.value, "Retry-After") == "7"
    assert caught.value.error is not None
    assert caught.value.error.code == "SubscriptionRequestsThrottled"
    assert "Please try again after '7' seconds" in (caught.value.error.message or "")


def test_a_server_error_gets_500_with_arms_body(
    sim: SimulatorHandle, client: ContainerServiceClient
) -> None:
    sim.set_faults(FaultPlan(server_error_rate=1.0))

    with pytest.raises(HttpResponseError) as caught:
        client.agent_pools.list("rg-dev", "dev-1").next()

    assert caught.value.status_code == 500
    assert caught.value.error is not None
    assert caught.value.error.code == "InternalServerError"


def test_a_dropped_connection_reaches_the_client_as_a_response_error(
    sim: SimulatorHandle, client: ContainerServiceClient
) -> None:
    sim.set_faults(FaultPlan(drop_rate=1.0))

    with pytest.raises(ServiceResponseError):
        client.managed_clusters.get("rg-dev", "dev-1")


def test_a_lost_answer_still_starts_the_upgrade_so_a_blind_retry_meets_409(
    sim: SimulatorHandle, client: ContainerServiceClient
) -> None:
    sim.set_faults(FaultPlan(lost_response_rate=1.0))
    with pytest.raises(ServiceResponseError):
        client.agent_pools.begin_upgrade_node_image_version("rg-dev", "dev-1", "system")
    sim.set_faults(FaultPlan())

    with pytest.raises(HttpResponseError) as retried:
        client.agent_pools.begin_upgrade_node_image_version("rg-dev", "dev-1", "system")

    assert sim.aks.active_operation(sim.aks.cluster("dev-1")) is not None
    assert retried.value.status_code == 409
    assert sim.requests()[("AgentPools_UpgradeNodeImageVersion", 0)] == 1


def test_a_slow_answer_arrives_after_the_delay(
    sim: SimulatorHandle, client: ContainerServiceClient
) -> None:
    sim.set_faults(FaultPlan(slow_rate=1.0, slow_seconds=0.3))

    began = time.monotonic()
    cluster = client.managed_clusters.get("rg-dev", "dev-1")

    assert time.monotonic() - began >= 0.3
    assert cluster.name == "dev-1"


def test_a_fault_on_the_operation_status_url_surfaces_through_the_poller(
    sim: SimulatorHandle, client: ContainerServiceClient
) -> None:
    poller = client.agent_pools.begin_upgrade_node_image_version("rg-dev", "dev-1", "system")
    sim.set_faults(FaultPlan(server_error_rate=1.0))

    with pytest.raises(HttpResponseError) as caught:
        poller.result(timeout=10)

    assert caught.value.status_code == 500
    assert sim.requests()[("AsyncOperation_Get", 500)] == 1


def test_requests_are_counted_by_operation_and_status_faulted_ones_too(
    sim: SimulatorHandle, client: ContainerServiceClient
) -> None:
    client.managed_clusters.get("rg-dev", "dev-1")
    client.managed_clusters.get("rg-dev", "dev-1")
    list(client.agent_pools.list("rg-dev", "dev-1"))
    sim.set_faults(FaultPlan(drop_rate=1.0))
    with pytest.raises(ServiceResponseError):
        client.managed_clusters.get("rg-dev", "dev-1")
    sim.set_faults(FaultPlan())
    with pytest.raises(HttpResponseError):
        client.managed_clusters.get("rg-dev", "missing")

    assert sim.requests() == Counter(
        {
            ("ManagedClusters_Get", 200): 2,
            ("AgentPools_List", 200): 1,
            ("ManagedClusters_Get", 0): 1,
            ("ManagedClusters_Get", 404): 1,
        }
    )


def test_the_dice_replay_the_same_faults_for_the_same_seed() -> None:
    plan = FaultPlan(
        throttle_rate=0.2,
        server_error_rate=0.1,
        drop_rate=0.1,
        slow_rate=0.3,
        slow_seconds=1,
        seed=7,
    )
    first, second = FaultDice(plan), FaultDice(plan)

    rolls = [first.roll() for _ in range(2000)]

    assert rolls == [second.roll() for _ in range(2000)]
    shares = Counter(r.kind for r in rolls)
    assert 300 < shares["throttle"] < 500
    assert 130 < shares["server_error"] < 270
    assert 130 < shares["drop"] < 270
    assert 450 < sum(1 for r in rolls if r.delay_seconds) < 750


def test_the_cli_syntax_reads_every_kind_of_fault() -> None:
    plan = FaultPlan.parse(
        "429=0.2:3, 500=0.05,drop=0.05,lost=0.01,slow=0.1:2.5,"
        "pdb=prod-1/win22,pdb=dev-1/system,deprecated=prod-2,seed=7"
    )

    assert plan == FaultPlan(
        throttle_rate=0.2,
        retry_after_seconds=3,
        server_error_rate=0.05,
        drop_rate=0.05,
        lost_response_rate=0.01,
        slow_rate=0.1,
        slow_seconds=2.5,
        pdb_failures=frozenset({("prod-1", "win22"), ("dev-1", "system")}),
        deprecated_api=frozenset({"prod-2"}),
        seed=7,
    )
    assert FaultPlan.parse("") == FaultPlan()
    assert plan.fails_drain(
        "/subscriptions/x/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/PROD-1",
        "WIN22",
    )


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        pytest.param("429=2", "a rate is a share between 0 and 1", id="rate above one"),
        pytest.param("429=abc", "'abc' is not a number", id="rate not a number"),
        pytest.param("teapot=0.1", "unknown fault 'teapot'", id="unknown key"),
        pytest.param("slow=0.5", "slow takes RATE:SECONDS", id="slow without seconds"),
        pytest.param("pdb=prod-1", "pdb takes CLUSTER/POOL", id="pdb without pool"),
        pytest.param("drop", "has no value", id="no value"),
        pytest.param("429=0.6,500=0.6", "must add up to at most 1", id="rates over one roll"),
        pytest.param("seed=-1", "must not be negative", id="negative seed"),
    ],
)
def test_a_bad_fault_spec_is_refused_with_a_clear_message(spec: str, words: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        FaultPlan.parse(spec)

    assert words in str(caught.value)

"""Faults on demand: what a client sees, how they are counted, and how they are specified."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ServiceResponseError
from azure.mgmt.containerservice import ContainerServiceClient

from patchpilot.errors import InvalidInputError
from patchpilot.sim.faults import ExternalStart, FaultDice, FaultPlan, Storm
from patchpilot.sim.server import SimulatorHandle, run_simulator
from tests.integration.conftest import (
    NEW_WINDOWS,
    START,
    advance,
    aks_client,
    fleet_doc,
    header,
)


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


def test_a_slow_answer_on_the_real_clock_arrives_after_the_delay() -> None:
    faults = FaultPlan(slow_rate=1.0, slow_seconds=0.3)
    with run_simulator(fleet_doc(), faults=faults) as sim, aks_client(sim) as client:
        began = time.monotonic()
        cluster = client.managed_clusters.get("rg-dev", "dev-1")

    assert time.monotonic() - began >= 0.3
    assert cluster.name == "dev-1"


def test_a_slow_answer_on_a_virtual_clock_moves_the_clock_on_before_aks_acts(
    sim: SimulatorHandle, client: ContainerServiceClient
) -> None:
    sim.set_faults(FaultPlan(slow_rate=1.0, slow_seconds=25))

    began = time.monotonic()
    client.agent_pools.begin_upgrade_node_image_version("rg-dev", "dev-1", "system", polling=False)

    (operation,) = sim.aks.operations()
    assert sim.clock.now() == START + dt.timedelta(seconds=25)
    assert operation.started == START + dt.timedelta(seconds=25)
    assert time.monotonic() - began < 5
    assert sim.faults_injected()["slow"] == 1


def test_a_lost_start_loses_only_the_answers_to_start_calls_after_aks_acted(
    sim: SimulatorHandle, client: ContainerServiceClient
) -> None:
    sim.set_faults(FaultPlan(lost_start_rate=1.0))

    read = client.managed_clusters.get("rg-dev", "dev-1")
    with pytest.raises(ServiceResponseError):
        client.agent_pools.begin_upgrade_node_image_version("rg-dev", "dev-1", "system")
    status = client.agent_pools.get("rg-dev", "dev-1", "system").provisioning_state

    assert read.name == "dev-1"
    assert [op.pool for op in sim.aks.operations()] == ["system"]
    assert status == "UpgradingNodeImageVersion"
    assert sim.requests()[("AgentPools_UpgradeNodeImageVersion", 0)] == 1
    assert sim.faults_injected() == Counter({"lost_start": 1})


@pytest.mark.parametrize(
    ("operation", "lost"),
    [
        pytest.param("AgentPools_UpgradeNodeImageVersion", True, id="node image POST"),
        pytest.param("AgentPools_CreateOrUpdate", True, id="agent pool PUT"),
        pytest.param("ManagedClusters_CreateOrUpdate", True, id="managed cluster PUT"),
        pytest.param("ManagedClusters_Get", False, id="a read"),
        pytest.param("AsyncOperation_Get", False, id="a status poll"),
    ],
)
def test_lost_starts_hit_the_calls_that_start_operations_and_nothing_else(
    operation: str, lost: bool
) -> None:
    dice = FaultDice(FaultPlan(lost_start_rate=1.0))

    roll = dice.roll(operation, START)

    assert (roll.kind == "lost") is lost


def test_a_throttle_storm_answers_429_with_its_retry_after_inside_its_span_only(
    sim: SimulatorHandle, client: ContainerServiceClient
) -> None:
    storm = Storm(START, START + dt.timedelta(minutes=10), rate=1.0, retry_after_seconds=25)
    sim.set_faults(FaultPlan(storms=(storm,)))

    with pytest.raises(HttpResponseError) as caught:
        client.managed_clusters.get("rg-dev", "dev-1")
    advance(sim, dt.timedelta(minutes=10))
    after = client.managed_clusters.get("rg-dev", "dev-1")

    assert caught.value.status_code == 429
    assert header(caught.value, "Retry-After") == "25"
    assert after.name == "dev-1"
    assert sim.faults_injected() == Counter({"storm": 1})


def test_storms_and_lost_starts_leave_a_seeds_other_faults_where_they_were() -> None:
    plan = FaultPlan(
        throttle_rate=0.2, server_error_rate=0.1, slow_rate=0.3, slow_seconds=1, seed=3
    )
    storm = Storm(START, START + dt.timedelta(hours=1), rate=0.5)
    stormy = dataclasses.replace(plan, storms=(storm,), lost_start_rate=0.5)
    calm, wild = FaultDice(plan), FaultDice(stormy)
    operations = ["ManagedClusters_Get", "AgentPools_UpgradeNodeImageVersion"] * 500

    rolls = [(calm.roll(op, START), wild.roll(op, START)) for op in operations]

    for before, after in rolls:
        assert after.delay_seconds == before.delay_seconds
        if before.kind is not None:
            assert (after.kind, after.cause) == (before.kind, before.cause)
    causes = Counter(after.cause for before, after in rolls if before.kind is None)
    assert causes["storm"] > 200
    assert causes["lost_start"] > 50


def test_an_external_start_begins_at_its_instant_and_aks_counts_it_as_external(
    sim: SimulatorHandle, client: ContainerServiceClient, events: list[dict[str, Any]]
) -> None:
    at = START + dt.timedelta(minutes=7)
    external = ExternalStart("dev-1", "win22", at)
    sim.set_faults(FaultPlan(external_starts=(external,)))

    upcoming = sim.aks.next_external_start(START)
    advance(sim, dt.timedelta(minutes=30))
    pool = client.agent_pools.get("rg-dev", "dev-1", "win22")
    cluster = client.managed_clusters.get("rg-dev", "dev-1")

    (operation,) = sim.aks.operations()
    assert upcoming == at
    assert (operation.pool, operation.started, operation.external) == ("win22", at, True)
    assert operation.upgrades() == [("win22", "node_image", NEW_WINDOWS)]
    assert (pool.provisioning_state, cluster.provisioning_state) == (
        "UpgradingNodeImageVersion",
        "Succeeded",
    )
    assert sim.aks.external_starts() == {external: "started"}
    assert sim.aks.next_external_start(START) is None
    assert events[0]["eventTime"] == "2025-11-20T01:07:00.0000000Z"


def test_an_external_start_on_a_busy_cluster_is_refused_as_anyone_is(
    sim: SimulatorHandle, client: ContainerServiceClient
) -> None:
    external = ExternalStart("dev-1", "win22", START + dt.timedelta(minutes=5))
    sim.set_faults(FaultPlan(external_starts=(external,)))
    client.agent_pools.begin_upgrade_node_image_version("rg-dev", "dev-1", "system", polling=False)

    advance(sim, dt.timedelta(minutes=10))

    assert [op.external for op in sim.aks.operations()] == [False]
    assert sim.aks.external_starts()[external].startswith("refused: OperationNotAllowed")


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
        "429=0.2:3, 500=0.05,drop=0.05,lost=0.01,lost_start=0.3,slow=0.1:2.5,"
        "pdb=prod-1/win22,pdb=dev-1/system,deprecated=prod-2,seed=7"
    )

    assert plan == FaultPlan(
        throttle_rate=0.2,
        retry_after_seconds=3,
        server_error_rate=0.05,
        drop_rate=0.05,
        lost_response_rate=0.01,
        lost_start_rate=0.3,
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
        pytest.param("lost_start=1.5", "a rate is a share between 0 and 1", id="lost start"),
    ],
)
def test_a_bad_fault_spec_is_refused_with_a_clear_message(spec: str, words: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        FaultPlan.parse(spec)

    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        pytest.param(lambda: Storm(START, START), "a storm ends after it starts", id="empty storm"),
        pytest.param(
            lambda: Storm(START, START + dt.timedelta(minutes=1), rate=2),
            "a storm's rate must be between 0 and 1",
            id="storm rate",
        ),
        pytest.param(
            lambda: FaultPlan(lost_start_rate=-0.1),
            "lost_start_rate must be between 0 and 1",
            id="lost start rate",
        ),
    ],
)
def test_a_bad_timed_fault_is_refused_with_a_clear_message(
    make: Callable[[], object], words: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        make()

    assert words in str(caught.value)

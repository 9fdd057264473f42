"""Actions through the real SDK: each starts its operation and returns; busy, refused, explained."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from patchpilot.adapters.arm.actions import (
    Busy,
    OperationStatus,
    Started,
    StartResult,
    Unconfirmed,
)
from patchpilot.adapters.arm.catalog_cache import SweepCache
from patchpilot.adapters.arm.failures import classify_refusal
from patchpilot.adapters.arm.gateway import ArmGateway
from patchpilot.domain.fleet import PoolState
from patchpilot.domain.resource_ids import parse_cluster_id
from patchpilot.domain.versions import KubernetesVersion
from patchpilot.errors import InvalidInputError, NotNowError, PermanentError, ScopeError
from patchpilot.sim.clock import VirtualClock
from patchpilot.sim.faults import FaultPlan
from patchpilot.sim.pace import Pace
from patchpilot.sim.server import SimulatorHandle, run_simulator
from tests.integration.arm_support import (
    SCOPE,
    fast_retry,
    fleet_with_skus,
    gateway_for,
    served,
    total_requests,
)
from tests.integration.conftest import NEW_UBUNTU, NEW_WINDOWS, START, STEP, advance, cluster_id

DEV = cluster_id("dev-1", "rg-dev")
PROD = cluster_id("prod-1", "rg-prod")
POLL_DEADLINE_SECONDS = 10.0


def v(text: str) -> KubernetesVersion:
    """A Kubernetes version."""
    return KubernetesVersion.parse(text)


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    """The shared fleet on a virtual clock: ten virtual minutes per node step."""
    pace = Pace(seconds_per_node=STEP.total_seconds(), retry_after_seconds=0)
    with run_simulator(fleet_with_skus(), clock=VirtualClock(START), pace=pace) as handle:
        yield handle


@pytest.fixture
def gateway(sim: SimulatorHandle) -> Iterator[ArmGateway]:
    """A gateway scoped to the fleet's main subscription."""
    gateway = gateway_for(sim)
    yield gateway
    gateway.close()


def started(outcome: StartResult) -> Started:
    """The outcome, which must be a started operation."""
    assert isinstance(outcome, Started), outcome
    assert outcome.started
    return outcome


def run_to_end(sim: SimulatorHandle, gateway: ArmGateway, operation: Started) -> OperationStatus:
    """Poll the operation, moving the virtual clock one step per poll, until it ends."""
    deadline = time.monotonic() + POLL_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        status = gateway.operation_status(operation)
        if status.done:
            return status
        advance(sim, STEP)
    raise AssertionError(f"{operation} did not end within {POLL_DEADLINE_SECONDS}s")


def pool_of(gateway: ArmGateway, cluster: str, name: str) -> PoolState:
    """A pool as observed now."""
    state = gateway.observe(parse_cluster_id(cluster), SweepCache()).state
    return next(p for p in state.pools if p.name == name)


def test_a_control_plane_upgrade_leaves_every_pool_on_its_version(
    sim: SimulatorHandle, gateway: ArmGateway
) -> None:
    operation = started(gateway.upgrade_control_plane(parse_cluster_id(DEV), v("1.33.2")))
    running = gateway.operation_status(operation)

    assert (operation.action, operation.target, running.status) == (
        "control_plane",
        "1.33.2",
        "InProgress",
    )
    assert run_to_end(sim, gateway, operation).status == "Succeeded"
    state = gateway.observe(parse_cluster_id(DEV), SweepCache()).state
    assert state.kubernetes_version == v("1.33.2")
    assert [str(p.version) for p in state.pools] == ["1.32.6", "1.32.6"]
    assert served(sim, "ManagedClusters_CreateOrUpdate") == 1


def test_a_pool_kubernetes_upgrade_moves_one_pool_after_the_control_plane(
    sim: SimulatorHandle, gateway: ArmGateway
) -> None:
    run_to_end(
        sim, gateway, started(gateway.upgrade_control_plane(parse_cluster_id(DEV), v("1.32.9")))
    )

    operation = started(gateway.upgrade_pool_version(parse_cluster_id(DEV), "system", v("1.32.9")))

    assert (operation.pool, operation.action) == ("system", "pool_kubernetes")
    assert run_to_end(sim, gateway, operation).status == "Succeeded"
    system, windows = pool_of(gateway, DEV, "system"), pool_of(gateway, DEV, "win22")
    assert (str(system.version), str(system.node_image)) == ("1.32.9", NEW_UBUNTU)
    assert str(windows.version) == "1.32.6"


def test_a_node_image_upgrade_takes_the_regions_latest_image(
    sim: SimulatorHandle, gateway: ArmGateway
) -> None:
    operation = started(gateway.upgrade_node_image(parse_cluster_id(DEV), "win22"))

    assert operation.operation_id is not None
    assert str(operation.status_url).split("?")[0].endswith(operation.operation_id)
    assert run_to_end(sim, gateway, operation).status == "Succeeded"
    assert str(pool_of(gateway, DEV, "win22").node_image) == NEW_WINDOWS


def test_abort_stops_the_running_operation_of_a_pool(
    sim: SimulatorHandle, gateway: ArmGateway
) -> None:
    upgrade = started(gateway.upgrade_node_image(parse_cluster_id(DEV), "system"))
    advance(sim, STEP + STEP / 2)

    abort = started(gateway.abort_latest_operation(parse_cluster_id(DEV), "system"))

    assert (abort.action, abort.pool) == ("abort", "system")
    assert run_to_end(sim, gateway, abort).status == "Succeeded"
    assert gateway.operation_status(upgrade).status == "Canceled"
    assert (
        gateway.observe(parse_cluster_id(DEV), SweepCache()).state.provisioning_state == "Canceled"
    )


def test_abort_of_the_cluster_cancels_a_control_plane_upgrade(
    sim: SimulatorHandle, gateway: ArmGateway
) -> None:
    upgrade = started(gateway.upgrade_control_plane(parse_cluster_id(DEV), v("1.33.2")))

    abort = started(gateway.abort_latest_operation(parse_cluster_id(DEV)))

    assert abort.pool is None
    assert gateway.operation_status(upgrade).status == "Canceled"


def test_asking_for_what_runs_already_starts_nothing(gateway: ArmGateway) -> None:
    outcome = gateway.upgrade_control_plane(parse_cluster_id(DEV), v("1.32.6"))

    assert isinstance(outcome, Started)
    assert (outcome.started, outcome.status_url, outcome.operation_id) == (False, None, None)
    assert gateway.operation_status(outcome).done


def test_a_busy_cluster_answers_busy_with_a_delay_instead_of_an_error(
    sim: SimulatorHandle, gateway: ArmGateway
) -> None:
    started(gateway.upgrade_control_plane(parse_cluster_id(DEV), v("1.33.2")))

    outcome = gateway.upgrade_node_image(parse_cluster_id(DEV), "system")

    assert isinstance(outcome, Busy)
    assert (outcome.code, outcome.pool, outcome.retry_after) == (
        "OperationNotAllowed",
        "system",
        gateway.retry.busy_delay_seconds,
    )
    assert "in progress" in outcome.message
    assert served(sim, "AgentPools_UpgradeNodeImageVersion", 409) == 1  # never retried


def test_a_lost_answer_retried_into_a_409_is_unconfirmed_never_busy(
    sim: SimulatorHandle,
) -> None:
    # The first attempt started the upgrade and its answer was lost; the retry meets it.
    sim.set_faults(FaultPlan(lost_response_rate=1.0))
    gateway = gateway_for(sim, retry=fast_retry(sleep=lambda _: sim.set_faults(FaultPlan())))

    outcome = gateway.upgrade_node_image(parse_cluster_id(DEV), "system")

    assert isinstance(outcome, Unconfirmed)
    assert "no answer" in outcome.why
    assert "in progress" in outcome.why
    assert served(sim, "AgentPools_UpgradeNodeImageVersion", 0) == 1
    assert served(sim, "AgentPools_UpgradeNodeImageVersion", 409) == 1
    assert sim.aks.active_operation(sim.aks.cluster("dev-1")) is not None


def test_a_drain_blocked_by_a_pdb_is_explained_with_the_budgets_name(
    sim: SimulatorHandle, gateway: ArmGateway
) -> None:
    sim.set_faults(FaultPlan(pdb_failures=frozenset({("dev-1", "system")})))
    operation = started(gateway.upgrade_node_image(parse_cluster_id(DEV), "system"))

    ended = run_to_end(sim, gateway, operation)
    explained = gateway.explain_failure(parse_cluster_id(DEV), "system", operation=operation)

    assert ended.status == "Failed"
    assert ended.cause is not None
    assert ended.cause.pdb == "system-critical-pdb"
    assert explained is not None
    assert (explained.kind, explained.code, explained.pdb, explained.namespace) == (
        "pdb",
        "UpgradeFailed",
        "system-critical-pdb",
        "default",
    )
    assert explained.reason.startswith("drain blocked by Pod Disruption Budget default/system-")
    assert gateway.explain_failure(parse_cluster_id(PROD), "system") is None


def test_an_upgrade_blocked_on_deprecated_apis_is_final_and_says_why(
    sim: SimulatorHandle, gateway: ArmGateway
) -> None:
    sim.set_faults(FaultPlan(deprecated_api=frozenset({"dev-1"})))

    with pytest.raises(PermanentError) as refused:
        gateway.upgrade_control_plane(parse_cluster_id(DEV), v("1.33.2"))

    error = refused.value
    assert (error.status, error.code) == (400, "ValidationError")
    assert error.subcode == "UpgradeBlockedOnDeprecatedAPIUsage"
    assert classify_refusal(error).kind == "deprecated_api"
    assert served(sim, "ManagedClusters_CreateOrUpdate") == 1


def test_another_4xx_is_final_and_carries_arms_code_and_message(
    sim: SimulatorHandle, gateway: ArmGateway
) -> None:
    with pytest.raises(PermanentError) as refused:
        gateway.upgrade_pool_version(parse_cluster_id(DEV), "system", v("1.33.2"))

    assert (refused.value.status, refused.value.code) == (400, "NodePoolMcVersionIncompatible")
    assert "control plane version 1.32.6" in refused.value.message
    assert isinstance(refused.value.__cause__, Exception)
    assert served(sim, "AgentPools_CreateOrUpdate") == 1


def test_a_node_image_upgrade_polled_on_the_real_clock_completes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pace = Pace(seconds_per_node=0.02, retry_after_seconds=0)
    with run_simulator(fleet_with_skus(), pace=pace) as sim:
        gateway = gateway_for(sim)
        operation = started(gateway.upgrade_node_image(parse_cluster_id(DEV), "system"))
        deadline = time.monotonic() + POLL_DEADLINE_SECONDS
        status = gateway.operation_status(operation)
        while not status.done and time.monotonic() < deadline:
            time.sleep(0.02)
            status = gateway.operation_status(operation)
        image = str(pool_of(gateway, DEV, "system").node_image)
        gateway.close()

    # AKS's status bodies carry no percentComplete (recorded: shared/fixtures/arm-recordings).
    assert (status.status, status.percent_complete, image) == ("Succeeded", None, NEW_UBUNTU)


OUT_OF_SCOPE: list[Any] = [
    pytest.param(lambda g: g.observe(parse_cluster_id(DEV), SweepCache()), id="observe"),
    pytest.param(
        lambda g: g.upgrade_control_plane(parse_cluster_id(DEV), v("1.33.2")), id="control-plane"
    ),
    pytest.param(
        lambda g: g.upgrade_pool_version(parse_cluster_id(DEV), "system", v("1.32.9")),
        id="pool-version",
    ),
    pytest.param(lambda g: g.upgrade_node_image(parse_cluster_id(DEV), "system"), id="node-image"),
    pytest.param(lambda g: g.abort_latest_operation(parse_cluster_id(DEV)), id="abort"),
    pytest.param(lambda g: g.explain_failure(parse_cluster_id(DEV), "system"), id="explain"),
    pytest.param(
        lambda g: g.operation_status(
            Started(parse_cluster_id(DEV), None, "node_image", None, f"{SCOPE}/x")
        ),
        id="operation-status",
    ),
]


@pytest.mark.parametrize("call", OUT_OF_SCOPE)
def test_a_cluster_outside_the_scopes_is_refused_before_any_request(
    sim: SimulatorHandle, call: Callable[[ArmGateway], object]
) -> None:
    gateway = gateway_for(sim, (f"{SCOPE}/resourceGroups/rg-prod",))

    with pytest.raises(ScopeError, match="outside the policy's scopes"):
        call(gateway)

    assert total_requests(sim) == 0


@pytest.mark.parametrize(
    ("call", "error"),
    [
        pytest.param(
            lambda g: g.upgrade_node_image(parse_cluster_id(DEV), "system/../../x"),
            "not an AKS agent pool name",
            id="crafted-pool",
        ),
        pytest.param(
            lambda g: g.observe(
                parse_cluster_id(DEV.replace("rg-dev", "rg-dev/../rg-prod")), SweepCache()
            ),
            "not a managed cluster resource ID",
            id="crafted-cluster-id",
        ),
        pytest.param(
            lambda g: g.operation_status(
                Started(
                    parse_cluster_id(DEV),
                    None,
                    "node_image",
                    None,
                    "https://attacker.example/subscriptions/x/providers/Microsoft.ContainerService/y",
                )
            ),
            "is not followed",
            id="operation-url-elsewhere",
        ),
    ],
)
def test_crafted_input_is_refused_before_any_request(
    sim: SimulatorHandle,
    gateway: ArmGateway,
    call: Callable[[ArmGateway], object],
    error: str,
) -> None:
    with pytest.raises(InvalidInputError, match=error):
        call(gateway)

    assert total_requests(sim) == 0


def test_a_guard_that_refuses_keeps_the_start_from_going_out(sim: SimulatorHandle) -> None:
    gateway = gateway_for(sim)

    def closed() -> None:
        raise NotNowError("the window closes", retry_after=60)

    with pytest.raises(NotNowError):
        gateway.upgrade_node_image(parse_cluster_id(DEV), "system", guard=closed)

    assert served(sim, "AgentPools_UpgradeNodeImageVersion") == 0
    assert sim.aks.active_operation(sim.aks.cluster("dev-1")) is None


def test_a_guard_runs_again_before_each_retry_of_a_start(sim: SimulatorHandle) -> None:
    sim.set_faults(FaultPlan(throttle_rate=1.0, retry_after_seconds=0))
    calls: list[int] = []

    def count_then_refuse() -> None:
        calls.append(1)
        if len(calls) == 3:
            raise NotNowError("the window closed while ARM throttled", retry_after=60)

    gateway = gateway_for(sim, retry=fast_retry(max_attempts=6))
    with pytest.raises(NotNowError):
        gateway.upgrade_node_image(parse_cluster_id(DEV), "system", guard=count_then_refuse)

    assert len(calls) == 3
    assert served(sim, "AgentPools_UpgradeNodeImageVersion", 429) == 2

"""The gateway inside AKS's per-subscription throttle: the simulator's buckets, the real SDK.

Every test runs the simulator on a virtual clock with the gateway's request
budget on the same clock; the retry policy's sleep moves that clock, so a
wait the budget asks for is virtual time that the simulator's buckets see.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from patchpilot.adapters.arm.actions import Started
from patchpilot.adapters.arm.budget import BucketLimits, BudgetLimits, RequestBudget
from patchpilot.adapters.arm.gateway import ArmGateway
from patchpilot.adapters.arm.retry import RetryPolicy
from patchpilot.domain.resource_ids import parse_cluster_id
from patchpilot.errors import NotNowError, TemporaryError
from patchpilot.localhost.harness import virtual_budget
from patchpilot.sim.clock import VirtualClock
from patchpilot.sim.faults import FaultPlan
from patchpilot.sim.pace import Pace
from patchpilot.sim.server import SimulatorHandle, run_simulator
from patchpilot.sim.throttle import AksThrottle
from tests.integration.arm_support import SCOPE, fleet_with_skus, served, settings_for
from tests.integration.conftest import START, STEP, SUB, advance, cluster_id

DEV = cluster_id("dev-1", "rg-dev")
PROD = cluster_id("prod-1", "rg-prod")
PROD_2 = cluster_id("prod-2", "rg-prod")
GENEROUS = BudgetLimits(read=BucketLimits(60, 1.0), write=BucketLimits(60, 1.0))


def simulator(
    throttle: AksThrottle | None = None, retry_after: int = 0
) -> AbstractContextManager[SimulatorHandle]:
    """The shared fleet on a virtual clock, with AKS's throttle when one is given."""
    pace = Pace(seconds_per_node=STEP.total_seconds(), retry_after_seconds=retry_after)
    return run_simulator(
        fleet_with_skus(),
        clock=VirtualClock(START),
        pace=pace,
        faults=FaultPlan(aks_throttle=throttle),
    )


def gateway_on(
    sim: SimulatorHandle, limits: BudgetLimits | None, **retry: Any
) -> tuple[ArmGateway, RequestBudget | None]:
    """A gateway whose retries and budget wait on the simulator's virtual clock."""
    clock = sim.clock
    assert isinstance(clock, VirtualClock)

    def sleep(seconds: float) -> None:
        clock.advance(dt.timedelta(seconds=seconds))

    budget = virtual_budget(limits, clock) if limits is not None else None
    policy = RetryPolicy(sleep=sleep, **retry)
    gateway = ArmGateway.from_settings(settings_for(sim), (SCOPE,), retry=policy, budget=budget)
    return gateway, budget


@pytest.fixture
def throttled() -> Iterator[SimulatorHandle]:
    """AKS reads: one at once, one more every ten seconds (a 429 says Retry-After: 10)."""
    with simulator(AksThrottle(read_burst=1, read_per_second=0.1)) as sim:
        yield sim


@pytest.mark.parametrize(
    ("limits", "throttled_answers"),
    [
        pytest.param(GENEROUS, 1, id="budget: the next call waits"),
        pytest.param(None, 2, id="no budget: the next call is throttled too"),
    ],
)
def test_after_a_429_the_next_call_of_the_subscription_waits_out_its_retry_after(
    throttled: SimulatorHandle, limits: BudgetLimits | None, throttled_answers: int
) -> None:
    # One attempt per call: the 429 comes back as the call's TemporaryError.
    gateway, _ = gateway_on(throttled, limits, max_attempts=1)
    gateway.explain_failure(parse_cluster_id(DEV), None)  # the one token
    with pytest.raises(TemporaryError) as refused:
        gateway.explain_failure(parse_cluster_id(DEV), None)
    throttled_at = throttled.clock.now()

    with contextlib.suppress(TemporaryError):
        gateway.explain_failure(
            parse_cluster_id(PROD), None
        )  # another cluster, the same subscription

    assert served(throttled, "ManagedClusters_Get", 429) == throttled_answers
    if limits is not None:
        waited = throttled.clock.now() - throttled_at
        assert waited == dt.timedelta(seconds=refused.value.retry_after)


def test_a_remaining_count_in_an_answer_lowers_the_budget_to_it() -> None:
    with simulator(AksThrottle(read_burst=5, read_per_second=0.1)) as sim:
        gateway, budget = gateway_on(sim, GENEROUS)
        assert budget is not None

        gateway.explain_failure(parse_cluster_id(DEV), None)

        assert budget.level(SUB, "read") == 4.0


def test_an_operation_status_carries_the_retry_after_aks_gave_for_the_next_poll() -> None:
    with simulator(retry_after=7) as sim:
        gateway, _ = gateway_on(sim, GENEROUS)
        operation = gateway.upgrade_node_image(parse_cluster_id(DEV), "system")
        assert isinstance(operation, Started)
        assert operation.started

        running = gateway.operation_status(operation)
        for _ in range(20):
            advance(sim, STEP)
            ended = gateway.operation_status(operation)
            if ended.done:
                break

    assert (running.status, running.retry_after) == ("InProgress", 7.0)
    assert (ended.status, ended.retry_after) == ("Succeeded", None)


def test_a_start_over_the_write_budget_is_not_sent_and_goes_at_the_slot_kept_for_it() -> None:
    one_per_half_minute = BudgetLimits(read=BucketLimits(60, 1.0), write=BucketLimits(1, 1 / 30))
    with simulator() as sim:
        gateway, _ = gateway_on(sim, one_per_half_minute)
        first = gateway.upgrade_node_image(parse_cluster_id(DEV), "system")
        with pytest.raises(NotNowError) as second:
            gateway.upgrade_node_image(parse_cluster_id(PROD), "system")
        with pytest.raises(NotNowError) as third:
            gateway.upgrade_node_image(parse_cluster_id(PROD_2), "system")
        sent_while_refused = served(sim, "AgentPools_UpgradeNodeImageVersion")

        advance(sim, dt.timedelta(seconds=second.value.retry_after))
        back = gateway.upgrade_node_image(parse_cluster_id(PROD), "system")

        assert isinstance(first, Started)
        assert isinstance(back, Started)
        assert (second.value.retry_after, third.value.retry_after) == (30.0, 60.0)
        assert sent_while_refused == 1
        assert served(sim, "AgentPools_UpgradeNodeImageVersion") == 2


def test_a_read_whose_turn_is_further_off_than_it_may_wait_gives_up_before_sending() -> None:
    slow_reads = BudgetLimits(read=BucketLimits(1, 0.01), write=BucketLimits(60, 1.0))
    with simulator() as sim:
        gateway, _ = gateway_on(sim, slow_reads, budget_wait_seconds=20.0)
        gateway.explain_failure(parse_cluster_id(DEV), None)
        sent = served(sim, "ManagedClusters_Get")

        with pytest.raises(TemporaryError) as refused:
            gateway.explain_failure(parse_cluster_id(PROD), None)

        assert refused.value.retry_after == 100.0
        assert served(sim, "ManagedClusters_Get") == sent

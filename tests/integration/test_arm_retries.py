"""Retries through the real SDK: one layer, Retry-After honoured, backoff, a deadline, counted."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from patchpilot.adapters.arm.actions import Busy, Started
from patchpilot.adapters.arm.catalog_cache import SweepCache
from patchpilot.adapters.arm.gateway import ArmGateway
from patchpilot.domain.resource_ids import parse_cluster_id
from patchpilot.domain.versions import KubernetesVersion
from patchpilot.errors import TemporaryError
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
    settings_for,
)
from tests.integration.conftest import START, cluster_id

DEV = cluster_id("dev-1", "rg-dev")
GET = "ManagedClusters_Get"


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    """The shared fleet on a virtual clock."""
    pace = Pace(seconds_per_node=600, retry_after_seconds=0)
    with run_simulator(fleet_with_skus(), clock=VirtualClock(START), pace=pace) as handle:
        yield handle


def healing_after(
    sim: SimulatorHandle, failures: int, sleeps: list[float]
) -> Callable[[float], None]:
    """A sleep that records each wait and lifts the faults after ``failures`` waits."""

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) >= failures:
            sim.set_faults(FaultPlan())

    return sleep


def test_throttling_waits_exactly_as_long_as_retry_after_says(sim: SimulatorHandle) -> None:
    sleeps: list[float] = []
    sim.set_faults(FaultPlan(throttle_rate=1.0, retry_after_seconds=7))
    gateway = gateway_for(sim, retry=fast_retry(sleep=healing_after(sim, 1, sleeps)))

    gateway.observe(parse_cluster_id(DEV), SweepCache())

    assert sleeps == [7.0]
    assert (served(sim, GET, 429), served(sim, GET, 200)) == (1, 1)


@pytest.mark.parametrize(
    ("faults", "status"),
    [
        pytest.param(FaultPlan(server_error_rate=1.0), 500, id="500"),
        pytest.param(FaultPlan(drop_rate=1.0), 0, id="dropped-connection"),
    ],
)
def test_server_errors_and_lost_connections_back_off_exponentially_with_jitter(
    sim: SimulatorHandle, faults: FaultPlan, status: int
) -> None:
    sleeps: list[float] = []
    sim.set_faults(faults)
    gateway = gateway_for(sim, retry=fast_retry(sleep=healing_after(sim, 3, sleeps)))

    gateway.observe(parse_cluster_id(DEV), SweepCache())

    # 1 ms, 2 ms, 4 ms (capped at 5 ms), each plus up to 1 ms of jitter.
    assert len(sleeps) == 3
    for sleep, base in zip(sleeps, (0.001, 0.002, 0.004), strict=True):
        assert base <= sleep <= base + 0.001
    assert (served(sim, GET, status), served(sim, GET, 200)) == (3, 1)


def test_giving_up_after_the_last_attempt_is_a_temporary_error_with_a_delay(
    sim: SimulatorHandle,
) -> None:
    sim.set_faults(FaultPlan(server_error_rate=1.0))
    gateway = gateway_for(sim, retry=fast_retry(max_attempts=3))

    with pytest.raises(TemporaryError) as gave_up:
        gateway.observe(parse_cluster_id(DEV), SweepCache())

    assert gave_up.value.retry_after == 30.0
    assert "InternalServerError" in str(gave_up.value)
    # Three attempts, not three times the SDK's own retries: the SDK does not retry.
    assert served(sim, GET) == served(sim, GET, 500) == 3


def test_a_retry_after_beyond_the_deadline_is_handed_to_the_caller_not_slept(
    sim: SimulatorHandle,
) -> None:
    sleeps: list[float] = []
    sim.set_faults(FaultPlan(throttle_rate=1.0, retry_after_seconds=120))
    gateway = gateway_for(sim, retry=fast_retry(sleep=sleeps.append, deadline_seconds=60))

    with pytest.raises(TemporaryError) as gave_up:
        gateway.observe(parse_cluster_id(DEV), SweepCache())

    assert (gave_up.value.retry_after, sleeps, served(sim, GET)) == (120.0, [], 1)


def test_the_deadline_bounds_a_call_in_real_time(sim: SimulatorHandle) -> None:
    gateway = gateway_for(
        sim,
        retry=fast_retry(
            deadline_seconds=1.0,
            max_attempts=100,
            initial_backoff_seconds=0.1,
            max_backoff_seconds=0.1,
            jitter_seconds=0.0,
            sleep=time.sleep,
        ),
    )
    # A first, healthy call opens the TLS connection, so the attempts counted below
    # are round trips, not a cold handshake on a busy machine.
    gateway.observe(parse_cluster_id(DEV), SweepCache())
    before = served(sim, GET, 500)
    sim.set_faults(FaultPlan(server_error_rate=1.0))
    began = time.monotonic()

    with pytest.raises(TemporaryError):
        gateway.observe(parse_cluster_id(DEV), SweepCache())

    assert time.monotonic() - began < 2.5
    assert 2 <= served(sim, GET, 500) - before <= 11


def test_an_action_is_retried_through_throttling_and_starts_once(sim: SimulatorHandle) -> None:
    sleeps: list[float] = []
    sim.set_faults(FaultPlan(throttle_rate=1.0, retry_after_seconds=2))
    gateway = gateway_for(sim, retry=fast_retry(sleep=healing_after(sim, 1, sleeps)))

    outcome = gateway.upgrade_node_image(parse_cluster_id(DEV), "system")

    assert isinstance(outcome, Started)
    assert outcome.started
    assert sleeps == [2.0]
    upgrade = "AgentPools_UpgradeNodeImageVersion"
    assert (served(sim, upgrade, 429), served(sim, upgrade, 202)) == (1, 1)


class RecordedCall:
    """What an observer heard of one logical call."""

    def __init__(self, operation: str, cluster: str | None) -> None:
        self.operation, self.cluster = operation, cluster
        self.attempts: list[tuple[int | str, bool]] = []

    def attempt(self, status: int | str, *, request_id: str | None = None) -> None:
        """Keep the status and whether ARM sent a request ID."""
        self.attempts.append((status, request_id is not None))


class Recorder:
    """A call observer that keeps every call, as telemetry would."""

    def __init__(self) -> None:
        self.calls: list[RecordedCall] = []

    @contextmanager
    def arm_call(self, operation: str, *, cluster: str | None = None) -> Iterator[RecordedCall]:
        """Open the record of one call."""
        call = RecordedCall(operation, cluster)
        self.calls.append(call)
        yield call


def test_every_attempt_is_reported_to_the_observer_with_arms_request_id(
    sim: SimulatorHandle,
) -> None:
    sleeps: list[float] = []
    recorder = Recorder()
    sim.set_faults(FaultPlan(drop_rate=1.0))
    gateway = ArmGateway.from_settings(
        settings_for(sim),
        (SCOPE,),
        retry=fast_retry(sleep=healing_after(sim, 1, sleeps)),
        observer=recorder,
    )

    gateway.observe(parse_cluster_id(DEV), SweepCache())
    gateway.upgrade_control_plane(parse_cluster_id(DEV), KubernetesVersion.parse("1.33.2"))
    busy = gateway.upgrade_node_image(parse_cluster_id(DEV), "system")

    assert isinstance(busy, Busy)
    first, *_, last = recorder.calls
    assert (first.operation, first.cluster, first.attempts) == (
        GET,
        DEV,
        [("error", False), (200, True)],
    )
    assert (last.operation, last.attempts) == ("AgentPools_UpgradeNodeImageVersion", [(409, True)])
    assert [c.operation for c in recorder.calls] == [
        GET,
        "MaintenanceConfigurations_ListByManagedCluster",
        "ManagedClusters_ListKubernetesVersions",
        "AgentPools_GetUpgradeProfile",
        "AgentPools_GetUpgradeProfile",
        GET,
        "ManagedClusters_CreateOrUpdate",
        "AgentPools_UpgradeNodeImageVersion",
    ]

"""Metrics carry the right values, units and attributes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from patchpilot.domain.history import Kind
from patchpilot.domain.plan import Action
from patchpilot.domain.resource_ids import parse_cluster_id
from patchpilot.telemetry import Telemetry, count_pools_behind
from patchpilot.telemetry.instruments import (
    ARM_REQUESTS,
    PATCH_LAG,
    POISON_MESSAGES,
    POOLS_BEHIND,
    RECONCILE_DURATION,
    UPGRADES_FAILED,
    UPGRADES_STARTED,
    UPGRADES_SUCCEEDED,
)
from patchpilot.telemetry.testing import InMemoryTelemetry, in_memory_telemetry
from tests.factories import cluster_id, utc

A, B = cluster_id("a"), cluster_id("b")
OS = {"system": "Linux", "win22": "Windows", "user": "Linux"}


@pytest.fixture
def memory() -> Iterator[InMemoryTelemetry]:
    pipeline = in_memory_telemetry()
    yield pipeline
    pipeline.shutdown()


def _os_of(_cluster: str, pool: str) -> str:
    return OS[pool]


def _action(cluster: str, pool: str | None, kind: Kind, ring: str | None = "prod") -> Action:
    return Action(parse_cluster_id(cluster), pool, kind, "old", "new", "scheduled", None, "r", ring)


def test_upgrades_are_counted_by_kind_and_os(memory: InMemoryTelemetry) -> None:
    instruments = memory.telemetry.instruments
    instruments.upgrade_started("node_image", "Windows")
    instruments.upgrade_started("node_image", "Windows")
    instruments.upgrade_started("kubernetes", "Linux")
    instruments.upgrade_finished("node_image", "Windows", "succeeded")
    instruments.upgrade_finished("node_image", "Windows", "failed")
    assert memory.value(UPGRADES_STARTED, kind="node_image", os="Windows") == 2
    assert memory.value(UPGRADES_STARTED, kind="kubernetes", os="Linux") == 1
    assert memory.value(UPGRADES_SUCCEEDED, kind="node_image", os="Windows") == 1
    assert memory.value(UPGRADES_FAILED, kind="node_image", os="Windows") == 1


def test_patch_lag_is_recorded_in_days_by_os(memory: InMemoryTelemetry) -> None:
    instruments = memory.telemetry.instruments
    instruments.patched("Windows", utc(2025, 11, 16), utc(2025, 11, 22, 12))
    instruments.patched("Windows", utc(2025, 11, 16), utc(2025, 11, 17))
    [point] = memory.metric(PATCH_LAG)
    assert point.attributes == {"os": "Windows"}
    assert (point.count, point.value) == (2, 7.5)


def test_patch_lag_refuses_naive_times(memory: InMemoryTelemetry) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        memory.telemetry.instruments.patched("Linux", dt.datetime(2025, 1, 1), utc(2025, 1, 2))


def test_arm_requests_count_every_attempt_by_operation_and_status(
    memory: InMemoryTelemetry,
) -> None:
    with memory.telemetry.arm_call("managed_clusters.get") as call:
        call.attempt(429)
        call.attempt("error")
        call.attempt(200)
    get = "managed_clusters.get"
    assert memory.value(ARM_REQUESTS, operation=get, status="429") == 1
    assert memory.value(ARM_REQUESTS, operation=get, status="error") == 1
    assert memory.value(ARM_REQUESTS, operation=get, status="200") == 1


def test_reconcile_duration_is_recorded_in_seconds_with_its_outcome(
    memory: InMemoryTelemetry,
) -> None:
    with memory.telemetry.reconcile(A):
        pass
    with pytest.raises(RuntimeError), memory.telemetry.reconcile(B):
        raise RuntimeError("boom")
    points = {point.attributes["outcome"]: point for point in memory.metric(RECONCILE_DURATION)}
    assert set(points) == {"ok", "error"}
    assert points["ok"].count == 1
    assert 0 <= points["ok"].value < 1


def test_poison_messages_are_counted_by_queue(memory: InMemoryTelemetry) -> None:
    memory.telemetry.instruments.poison("reconcile")
    assert memory.value(POISON_MESSAGES, queue="reconcile") == 1


def test_pools_behind_sums_each_clusters_latest_plan_by_os_and_ring(
    memory: InMemoryTelemetry,
) -> None:
    instruments = memory.telemetry.instruments
    instruments.pools_behind(A, {("Linux", "prod"): 2, ("Windows", "prod"): 1})
    instruments.pools_behind(B, {("Linux", "prod"): 1})
    assert memory.value(POOLS_BEHIND, os="Linux", ring="prod") == 3
    # A caught up: its contribution is replaced, and the series goes to zero, not stale.
    instruments.pools_behind(A, {})
    assert memory.value(POOLS_BEHIND, os="Linux", ring="prod") == 1
    assert {tuple(sorted(p.attributes.items())): p.value for p in memory.metric(POOLS_BEHIND)} == {
        (("os", "Linux"), ("ring", "prod")): 1,
        (("os", "Windows"), ("ring", "prod")): 0,
    }


def test_count_pools_behind_counts_each_pool_once_and_skips_the_control_plane() -> None:
    actions = [
        _action(A, None, "kubernetes"),
        _action(A, "system", "kubernetes"),
        _action(A, "system", "node_image"),
        _action(A, "win22", "node_image"),
        _action(B, "user", "node_image", ring=None),
        _action(cluster_id("c"), None, "kubernetes"),
    ]
    assert count_pools_behind(actions, _os_of) == {
        A: {("Linux", "prod"): 1, ("Windows", "prod"): 1},
        B: {("Linux", "unassigned"): 1},
        cluster_id("c"): {},
    }


def test_metrics_of_one_pipeline_start_from_zero() -> None:
    first = in_memory_telemetry()
    first.telemetry.instruments.poison("reconcile")
    second = in_memory_telemetry()
    assert second.metric(POISON_MESSAGES) == []
    first.shutdown()
    second.shutdown()


def test_two_handles_on_one_meter_provider_share_the_pools_behind_gauge(
    memory: InMemoryTelemetry,
) -> None:
    other = Telemetry.from_providers(memory.tracer_provider, memory.meter_provider)
    other.instruments.pools_behind(A, {("Linux", "dev"): 5})
    assert memory.value(POOLS_BEHIND, os="Linux", ring="dev") == 5


def test_the_default_handle_is_one_per_process() -> None:
    assert Telemetry.default() is Telemetry.default()

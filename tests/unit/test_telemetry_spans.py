"""Spans are named for what they are, carry their attributes, and decisions are events."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from patchpilot.domain.plan import Action, Finding, Plan
from patchpilot.domain.resource_ids import parse_cluster_id
from patchpilot.telemetry import current_traceparent
from patchpilot.telemetry.testing import InMemoryTelemetry, in_memory_telemetry
from tests.factories import cluster_id, utc

PROD = cluster_id("prod-1")


@pytest.fixture
def memory() -> Iterator[InMemoryTelemetry]:
    pipeline = in_memory_telemetry()
    yield pipeline
    pipeline.shutdown()


def _action(**changes: object) -> Action:
    values: dict[str, object] = {
        "cluster": PROD,
        "pool": "win22",
        "kind": "node_image",
        "current": "AKSWindows-2022-containerd-20348.4294.251015",
        "target": "AKSWindows-2022-containerd-20348.4405.251112",
        "status": "scheduled",
        "not_before": utc(2025, 11, 22, 1),
        "reason": "waits for Patch Tuesday + 7 days",
        "ring": "prod",
    }
    values.update(changes)
    return Action(**values)  # type: ignore[arg-type]


def _span_id(span: ReadableSpan) -> int | None:
    return span.context.span_id if span.context else None


def _parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent else None


def test_an_invocation_span_is_named_for_its_function_with_faas_attributes(
    memory: InMemoryTelemetry,
) -> None:
    with memory.telemetry.invocation("sweep", "timer", invocation_id="inv-1"):
        pass
    span = memory.span("function.sweep")
    assert dict(span.attributes or {}) == {
        "faas.name": "sweep",
        "faas.trigger": "timer",
        "faas.invocation_id": "inv-1",
    }


def test_an_invocation_continues_the_hosts_trace_context(memory: InMemoryTelemetry) -> None:
    host = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with memory.telemetry.invocation("http_plan", "http", traceparent=host):
        pass
    span = memory.span("function.http_plan")
    assert span.context is not None
    assert span.parent is not None
    assert f"{span.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert f"{span.parent.span_id:016x}" == "b7ad6b7169203331"
    assert span.parent.is_remote


def test_a_reconcile_span_names_its_cluster_and_nests_plan_arm_and_store(
    memory: InMemoryTelemetry,
) -> None:
    telemetry = memory.telemetry
    with telemetry.reconcile(PROD), telemetry.plan(cluster=PROD):
        with telemetry.arm_call("agent_pools.begin_create_or_update", cluster=PROD) as call:
            call.attempt(202, request_id="req-1")
        with telemetry.store_write("ledger", cluster=PROD):
            pass
    reconcile = memory.span("reconcile")
    assert reconcile.attributes is not None
    assert reconcile.attributes["patchpilot.cluster"] == PROD
    plan = memory.span("plan")
    arm = memory.span("arm.agent_pools.begin_create_or_update")
    store = memory.span("store.ledger")
    assert _parent_id(plan) == _span_id(reconcile)
    assert {_parent_id(arm), _parent_id(store)} == {_span_id(plan)}
    assert _span_id(plan) is not None
    assert (store.attributes or {})["patchpilot.store.write"] == "ledger"


def test_an_arm_span_carries_operation_status_request_id_and_retry_count(
    memory: InMemoryTelemetry,
) -> None:
    with memory.telemetry.arm_call("managed_clusters.get") as call:
        call.attempt(429, request_id="req-1")
        call.attempt(429, request_id="req-2")
        call.attempt(200, request_id="req-3")
    span = memory.span("arm.managed_clusters.get")
    assert dict(span.attributes or {}) == {
        "patchpilot.arm.operation": "managed_clusters.get",
        "patchpilot.arm.status": "200",
        "patchpilot.arm.request_id": "req-3",
        "patchpilot.arm.retry_count": 2,
    }
    assert span.status.status_code is StatusCode.UNSET


@pytest.mark.parametrize(
    ("status", "error"),
    [
        pytest.param(409, False, id="busy-cluster-is-an-answer"),
        pytest.param(400, True, id="bad-request"),
        pytest.param("error", True, id="no-answer"),
        pytest.param(202, False, id="accepted"),
    ],
)
def test_an_arm_span_is_an_error_only_for_answers_that_are_failures(
    memory: InMemoryTelemetry, status: int | str, error: bool
) -> None:
    with memory.telemetry.arm_call("managed_clusters.begin_create_or_update") as call:
        call.attempt(status)
    span = memory.span("arm.managed_clusters.begin_create_or_update")
    assert (span.status.status_code is StatusCode.ERROR) is error


def test_an_exception_inside_reconcile_marks_the_span_and_is_not_swallowed(
    memory: InMemoryTelemetry,
) -> None:
    with pytest.raises(RuntimeError, match="store down"), memory.telemetry.reconcile(PROD):
        raise RuntimeError("store down")
    span = memory.span("reconcile")
    assert span.status.status_code is StatusCode.ERROR
    assert [event.name for event in span.events] == ["exception"]


def test_a_plan_span_counts_decisions_and_records_each_with_its_reason(
    memory: InMemoryTelemetry,
) -> None:
    plan = Plan(
        at=utc(2025, 11, 20),
        actions=(
            _action(),
            _action(pool=None, kind="kubernetes", current="1.32.6", target="1.32.7", status="due"),
            _action(pool="system", target=None, status="blocked", not_before=None, ring=None),
        ),
        findings=(
            Finding(parse_cluster_id(PROD), None, "channel-overlap", "AKS patch channel is on"),
        ),
    )
    with memory.telemetry.plan(cluster=PROD) as span:
        memory.telemetry.record_plan(span, plan)
    recorded = memory.span("plan")
    attributes = dict(recorded.attributes or {})
    assert {key: attributes[key] for key in attributes if key.startswith("patchpilot.plan.")} == {
        "patchpilot.plan.due": 1,
        "patchpilot.plan.scheduled": 1,
        "patchpilot.plan.blocked": 1,
        "patchpilot.plan.findings": 1,
    }
    events = [dict(event.attributes or {}) for event in recorded.events]
    assert [event.name for event in recorded.events] == ["decision"] * 3
    assert events[0] == {
        "cluster": PROD,
        "pool": "win22",
        "kind": "node_image",
        "current": "AKSWindows-2022-containerd-20348.4294.251015",
        "target": "AKSWindows-2022-containerd-20348.4405.251112",
        "status": "scheduled",
        "not_before": "2025-11-22T01:00:00Z",
        "ring": "prod",
        "reason": "waits for Patch Tuesday + 7 days",
    }
    # The control plane has no pool; a blocked action has no target or time.
    assert "pool" not in events[1]
    assert {"target", "not_before", "ring"}.isdisjoint(events[2])
    assert events[2]["reason"] == "waits for Patch Tuesday + 7 days"


def test_spans_are_private_to_each_in_memory_pipeline() -> None:
    first, second = in_memory_telemetry(), in_memory_telemetry()
    with first.telemetry.reconcile(PROD):
        assert current_traceparent() is not None
    assert [span.name for span in first.spans()] == ["reconcile"]
    assert second.spans() == ()
    first.shutdown()
    second.shutdown()

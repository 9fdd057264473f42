"""Trace context rides in the reconcile message and links the worker back to its cause."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from patchpilot.domain.messages import ReconcileRequest, decode
from patchpilot.domain.resource_ids import parse_cluster_id
from patchpilot.telemetry import context_from, current_traceparent, link_from
from patchpilot.telemetry.testing import InMemoryTelemetry, in_memory_telemetry
from tests.factories import cluster_id, utc

PROD = cluster_id("prod-1")


@pytest.fixture
def memory() -> Iterator[InMemoryTelemetry]:
    pipeline = in_memory_telemetry()
    yield pipeline
    pipeline.shutdown()


def test_there_is_no_traceparent_outside_a_span() -> None:
    assert current_traceparent() is None


def test_the_traceparent_names_the_current_span(memory: InMemoryTelemetry) -> None:
    with memory.telemetry.invocation("on_event", "pubsub"):
        traceparent = current_traceparent()
    span = memory.span("function.on_event")
    assert span.context is not None
    assert traceparent is not None
    version, trace_id, span_id, flags = traceparent.split("-")
    assert (version, trace_id, span_id) == (
        "00",
        f"{span.context.trace_id:032x}",
        f"{span.context.span_id:016x}",
    )
    assert int(flags, 16) & 0x01  # sampled


def test_an_event_to_reconcile_flow_is_one_connected_trace_through_the_queue(
    memory: InMemoryTelemetry,
) -> None:
    telemetry = memory.telemetry
    with telemetry.invocation("on_event", "pubsub"):
        message = ReconcileRequest(
            parse_cluster_id(PROD), "event", utc(2026, 1, 1), current_traceparent()
        ).encode()
    # Later, elsewhere: the queue trigger's invocation, then the linked reconcile.
    request = decode(message)
    with (
        telemetry.invocation("reconcile_worker", "pubsub"),
        telemetry.reconcile(str(request.cluster), traceparent=request.traceparent),
    ):
        pass
    event = memory.span("function.on_event")
    reconcile = memory.span("reconcile")
    worker = memory.span("function.reconcile_worker")
    assert event.context is not None
    assert reconcile.parent is not None
    assert worker.context is not None
    assert reconcile.parent.span_id == worker.context.span_id
    [link] = reconcile.links
    assert link.context.trace_id == event.context.trace_id
    assert link.context.span_id == event.context.span_id
    assert (link.attributes or {})["patchpilot.link"] == "caused_by"


def test_a_timer_sweep_links_every_cluster_it_enqueued(memory: InMemoryTelemetry) -> None:
    telemetry = memory.telemetry
    with telemetry.invocation("sweep", "timer"):
        parents = [current_traceparent() for _ in range(3)]
    for index, traceparent in enumerate(parents):
        with telemetry.reconcile(cluster_id(f"c{index}"), traceparent=traceparent):
            pass
    sweep = memory.span("function.sweep")
    reconciles = [span for span in memory.spans() if span.name == "reconcile"]
    assert sweep.context is not None
    assert {span.links[0].context.span_id for span in reconciles} == {sweep.context.span_id}


@pytest.mark.parametrize(
    "traceparent",
    [
        pytest.param(None, id="absent"),
        pytest.param("", id="empty"),
        pytest.param("not-a-traceparent", id="garbage"),
        pytest.param("00-00000000000000000000000000000000-b7ad6b7169203331-01", id="zero-trace"),
    ],
)
def test_no_valid_traceparent_means_no_link_and_a_plain_span(
    memory: InMemoryTelemetry, traceparent: str | None
) -> None:
    assert link_from(traceparent) == []
    assert context_from(traceparent) is None
    with memory.telemetry.reconcile(PROD, traceparent=traceparent):
        pass
    assert memory.span("reconcile").links == ()


def test_context_from_keeps_the_callers_trace_and_state() -> None:
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    [link] = link_from(traceparent)
    assert f"{link.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert link.context.is_remote
    assert context_from(traceparent, "congo=t61rcWkgMzE") is not None

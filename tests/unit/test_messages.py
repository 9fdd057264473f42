"""Reconcile queue messages round-trip and refuse what is not one."""

from __future__ import annotations

import json

import pytest

from patchpilot.domain.messages import ReconcileRequest, decode
from patchpilot.domain.resource_ids import parse_cluster_id
from patchpilot.errors import InvalidInputError
from tests.factories import cluster_id, utc

TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_a_request_round_trips_through_the_queue_text() -> None:
    request = ReconcileRequest(
        parse_cluster_id(cluster_id("prod-1")), "sweep", utc(2026, 1, 1, 3), TRACE
    )
    assert decode(request.encode()) == request
    assert decode(request.encode().encode()) == request


def test_again_counts_attempts_and_keeps_the_trace() -> None:
    request = ReconcileRequest(
        parse_cluster_id(cluster_id("prod-1")), "event", utc(2026, 1, 1), TRACE
    ).again("busy")
    assert (request.attempt, request.reason, request.traceparent) == (1, "busy", TRACE)


def _body(**changes: object) -> str:
    body: dict[str, object] = {
        "cluster": cluster_id("a"),
        "reason": "x",
        "requested_at": "2026-01-01T00:00:00Z",
    }
    body.update(changes)
    return json.dumps(body)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("not json", "not JSON", id="not-json"),
        pytest.param("[]", "expected a mapping", id="list"),
        pytest.param(_body(cluster="/subscriptions/x/../y"), "not a managed cluster", id="bad-id"),
        pytest.param(_body(traceparent="abc"), "traceparent", id="bad-trace"),
        pytest.param(_body(extra=1), "unknown field", id="unknown"),
        pytest.param(_body(attempt=-1), "between 0 and 10000", id="attempt"),
        pytest.param(_body(reason="x" * 9000), "larger than", id="huge"),
        pytest.param(
            _body(requested_at="9999-12-31T23:00:00-02:00"),
            "message.requested_at: must be between",
            id="instant-past-year-9999-in-utc",
        ),
        pytest.param(
            _body(requested_at="0001-01-01T00:00:00+05:00"),
            "message.requested_at: must be between",
            id="instant-before-year-1-in-utc",
        ),
        pytest.param("[" * 4000 + "]" * 4000, "not JSON", id="deeply-nested"),
    ],
)
def test_bad_messages_are_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        decode(text)

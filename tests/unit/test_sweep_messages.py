"""Sweep shard messages share the reconcile queue: each kind is told apart and checked."""

from __future__ import annotations

import datetime as dt

import pytest

from patchpilot.domain.messages import ReconcileRequest, SweepShard, decode, decode_sweep
from patchpilot.domain.resource_ids import parse_cluster_id
from patchpilot.errors import InvalidInputError

AT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
SUB = "11111111-2222-3333-4444-555555555555"
CLUSTER = (
    f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/a"
)


def test_a_shard_reads_back_as_written_and_is_no_reconcile_request() -> None:
    text = SweepShard(SUB.upper(), AT).encode()
    assert decode_sweep(text) == SweepShard(SUB, AT)
    with pytest.raises(InvalidInputError):
        decode(text)


def test_a_reconcile_request_is_no_shard() -> None:
    assert decode_sweep(ReconcileRequest(parse_cluster_id(CLUSTER), "event", AT).encode()) is None


@pytest.mark.parametrize(
    "text",
    [
        '{"sweep": "not-a-subscription", "requested_at": "2026-01-01T00:00:00Z"}',
        '{"sweep": "' + SUB + '", "requested_at": "2026-01-01T00:00:00Z", "extra": 1}',
        '{"sweep": "' + SUB + '", "requested_at": "2026-01-01T00:00:00Z", "traceparent": "x"}',
        "{" * 10_000,
        "not json",
    ],
)
def test_a_malformed_shard_is_an_input_error(text: str) -> None:
    with pytest.raises(InvalidInputError):
        decode_sweep(text)

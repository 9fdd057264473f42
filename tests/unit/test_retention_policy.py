"""Retention's values: a policy refuses lifetimes that protect nothing; a cursor reads back."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from patchpilot.adapters.store.retention import SEGMENT_NAMES, Cursor, RetentionPolicy
from patchpilot.errors import InvalidInputError


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        pytest.param("ledger", dt.timedelta(0), "ledger must be positive", id="no ledger days"),
        pytest.param("alert", -dt.timedelta(days=1), "alert must be positive", id="negative"),
        pytest.param("progress", 0, "progress must be a whole number", id="no arrivals kept"),
        pytest.param("watch_months", True, "watch_months must be a whole", id="a bool is no count"),
        pytest.param("page", 1001, "page must be at most 1000", id="past Table Storage's page"),
    ],
)
def test_a_policy_refuses_a_lifetime_that_protects_nothing(
    field: str, value: Any, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        RetentionPolicy(**{field: value})


def test_the_default_policy_keeps_a_quarter_of_the_ledger_and_16_arrivals() -> None:
    policy = RetentionPolicy()
    assert (policy.ledger, policy.progress, policy.watch_months) == (dt.timedelta(days=90), 16, 12)


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param(Cursor("ledger"), id="a segment's start"),
        pytest.param(Cursor("progress", ("a!2Fb", "system~node_image~img")), id="a row"),
    ],
)
def test_a_cursor_reads_back_as_it_was_stored(cursor: Cursor) -> None:
    assert Cursor.from_json(cursor.to_json()) == cursor


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param({"segment": "gone-table", "after": ["a", "b"]}, id="an unknown segment"),
        pytest.param({"segment": 3}, id="not a name"),
        pytest.param({}, id="empty"),
    ],
)
def test_an_unusable_cursor_starts_the_walk_over(stored: dict[str, Any]) -> None:
    assert Cursor.from_json(stored) == Cursor(SEGMENT_NAMES[0])


def test_a_cursor_with_a_broken_row_starts_its_segment_over() -> None:
    assert Cursor.from_json({"segment": "alert", "after": ["only one"]}) == Cursor("alert")

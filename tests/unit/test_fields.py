"""Errors about a bad field name its type, or quote a short excerpt: never a whole value's repr."""

from __future__ import annotations

from typing import Any

import pytest

from patchpilot.domain.fields import Fields, as_date, describe
from patchpilot.domain.policy import parse_policy
from patchpilot.errors import InvalidInputError
from tests.factories import policy_doc

# Shared rows, as a YAML alias makes them: a million strings behind a small object graph.
BIG: list[Any] = [["lol"] * 1000] * 1000


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("prod", "'prod'", id="short-text"),
        pytest.param("x" * 5000, "'" + "x" * 40 + "...'", id="long-text-is-cut"),
        pytest.param(7, "7", id="number"),
        pytest.param(10**400, "a number", id="huge-number-is-its-type"),
        pytest.param(True, "True", id="boolean"),
        pytest.param(BIG, "a list", id="list"),
        pytest.param({"a": BIG}, "a mapping", id="mapping"),
        pytest.param(None, "nothing", id="none"),
    ],
)
def test_a_value_is_described_by_a_short_excerpt_or_its_type(value: object, expected: str) -> None:
    assert describe(value) == expected


def test_a_date_field_holding_a_huge_list_is_refused_by_its_type() -> None:
    with pytest.raises(InvalidInputError) as caught:
        as_date(BIG, source="policy.yaml", path="freezes[0].start")
    assert (
        str(caught.value) == "policy.yaml: freezes[0].start: expected a date YYYY-MM-DD, got a list"
    )


def test_a_choice_that_is_not_one_is_quoted_short() -> None:
    fields = Fields.of({"kind": "k" * 10_000}, path="holds[0]")
    with pytest.raises(InvalidInputError) as caught:
        fields.text("kind", choices=("kubernetes", "node_image"))
    assert len(str(caught.value)) < 200


def test_a_number_out_of_range_is_named_without_its_digits() -> None:
    fields = Fields.of({"soak_days": 10**400})
    with pytest.raises(InvalidInputError) as caught:
        fields.integer("soak_days", low=0, high=90)
    assert str(caught.value) == "soak_days: must be between 0 and 90, got a number"


def test_a_policy_scope_holding_a_huge_structure_is_refused_by_its_type() -> None:
    doc = policy_doc()
    doc["scopes"] = [BIG]
    with pytest.raises(InvalidInputError) as caught:
        parse_policy(doc, source="policy.yaml")
    assert str(caught.value) == "policy.yaml: scopes[0]: expected a scope string, got list"


def _refuse_at(path: str | None) -> None:
    raise InvalidInputError("must be between 4 and 24, got 3", path=path)


@pytest.mark.parametrize(
    ("mapping_path", "value_path", "expected"),
    [
        pytest.param(
            "rings[1].window", "durationHours", "rings[1].window.durationHours", id="field"
        ),
        pytest.param("entries[0]", "hourSlots[2]", "entries[0].hourSlots[2]", id="field-index"),
        pytest.param("timeInWeek", "[0]", "timeInWeek[0]", id="index-joins-without-a-dot"),
        pytest.param("", "durationHours", "durationHours", id="at-the-root"),
        pytest.param("window", None, "window", id="the-value-itself"),
        pytest.param("", None, None, id="nowhere"),
    ],
)
def test_a_value_built_from_a_mapping_reports_its_error_where_the_field_sits(
    mapping_path: str, value_path: str | None, expected: str | None
) -> None:
    fields = Fields({}, source="policy.yaml", path=mapping_path)
    with pytest.raises(InvalidInputError) as caught:
        fields.build(_refuse_at, value_path)
    assert (caught.value.source, caught.value.path) == ("policy.yaml", expected)
    assert caught.value.detail == "must be between 4 and 24, got 3"


def test_a_built_value_comes_back_unchanged() -> None:
    assert Fields({}).build(dict, a=1) == {"a": 1}

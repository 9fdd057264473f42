"""Loading and validating the policy file: errors name the file, the field and the fix."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from patchpilot.domain.policy import Policy, parse_policy
from patchpilot.domain.resource_ids import ClusterId
from patchpilot.errors import InvalidInputError
from tests.factories import policy_doc, utc


def test_design_example_policy_loads_with_every_field() -> None:
    result = parse_policy(policy_doc(), source="p.yaml")
    assert [ring.name for ring in result.rings] == ["dev", "staging", "prod"]
    assert result.rings[2].soak_days == 5
    assert result.kubernetes.channel == "patch"
    assert result.node_images.patch_tuesday_offset_days == 7
    assert result.freezes[0].span.start == utc(2025, 12, 20)
    assert result.freezes[0].span.end == utc(2026, 1, 5)


def test_minimal_policy_takes_safe_defaults() -> None:
    minimal = {
        "scopes": ["/subscriptions/00000000-0000-0000-0000-000000000000"],
        "rings": [{"name": "all"}],
    }
    result = parse_policy(minimal)
    assert result.kubernetes.channel == "patch"
    assert result.kubernetes.allow_preview is False
    assert result.kubernetes.max_skew_minors == 2
    assert result.node_images.selection == "bounded"
    assert result.node_images.max_drift_days == 14
    assert (result.promotion.stragglers, result.promotion.straggler_gap_days) == ("release", 8)
    assert result.promotion.canary_days == 1
    assert result.default_window is None
    assert result.rings[0].matches({"anything": "goes"})


def test_first_matching_ring_wins() -> None:
    result = parse_policy(policy_doc())
    ring = result.ring_of({"env": "staging", "team": "x"})
    assert ring is not None
    assert ring.name == "staging"
    assert result.ring_of({"env": "qa"}) is None


def _broken(path: list[Any], value: Any) -> dict[str, Any]:
    doc = policy_doc()
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("doc", "where", "what"),
    [
        pytest.param(
            _broken(["rings", 1, "soak_days"], "two"),
            "rings[1].soak_days",
            "whole number",
            id="soak-type",
        ),
        pytest.param(
            _broken(["rings", 1, "soak_days"], -1),
            "rings[1].soak_days",
            "between 0 and 90",
            id="soak-range",
        ),
        pytest.param(
            _broken(["kubernetes", "channel"], "fast"),
            "kubernetes.channel",
            "one of none",
            id="channel",
        ),
        pytest.param(
            _broken(["scopes"], ["/subscriptions/nope"]), "scopes[0]", "not a scope", id="scope"
        ),
        pytest.param(_broken(["scopes"], []), "scopes", "at least one", id="no-scopes"),
        pytest.param(_broken(["rings"], []), "rings", "at least one", id="no-rings"),
        pytest.param(
            _broken(["freezes", 0, "end"], "2025-12-01"),
            "freezes[0].end",
            "before start",
            id="freeze-order",
        ),
        pytest.param(
            _broken(["freezes", 0, "start"], "soon"),
            "freezes[0].start",
            "YYYY-MM-DD",
            id="freeze-date",
        ),
        pytest.param(_broken(["surprise"], 1), "surprise", "unknown field", id="unknown-top"),
        pytest.param(
            _broken(["rings", 0, "soak"], 1), "rings[0].soak", "unknown field", id="unknown-ring"
        ),
        pytest.param(
            _broken(["node_images", "windows", "patch_tuesday_offset_days"], 40),
            "node_images.windows.patch_tuesday_offset_days",
            "between 0 and 27",
            id="offset",
        ),
        pytest.param(
            _broken(["default_window", "durationHours"], 2),
            "default_window",
            "durationHours",
            id="window",
        ),
        pytest.param(
            _broken(["node_images", "selection"], "newest"),
            "node_images.selection",
            "soaked",
            id="selection",
        ),
    ],
)
def test_invalid_policy_names_the_file_field_and_expectation(
    doc: dict[str, Any], where: str, what: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_policy(doc, source="policy.yaml")
    message = str(caught.value)
    assert message.startswith("policy.yaml: ")
    assert where in message
    assert what in message


@pytest.mark.parametrize(
    ("schedule", "interval"),
    [
        pytest.param({"daily": {"intervalDays": 2}}, "intervalDays 2", id="every-two-days"),
        pytest.param(
            {"weekly": {"intervalWeeks": 2, "dayOfWeek": "Saturday"}},
            "intervalWeeks 2",
            id="every-two-weeks",
        ),
        pytest.param(
            {"absoluteMonthly": {"intervalMonths": 3, "dayOfMonth": 1}},
            "intervalMonths 3",
            id="quarterly",
        ),
        pytest.param(
            {"relativeMonthly": {"intervalMonths": 2, "dayOfWeek": "Sunday", "weekIndex": "First"}},
            "intervalMonths 2",
            id="every-two-months",
        ),
    ],
)
def test_a_default_window_with_an_interval_above_one_needs_a_start_date(
    schedule: dict[str, Any], interval: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_policy(_broken(["default_window", "schedule"], schedule), source="policy.yaml")
    error = caught.value
    assert (error.source, error.path) == ("policy.yaml", "default_window.startDate")
    assert f"{interval} without startDate has no anchor" in error.detail
    assert "set startDate" in error.detail
    anchored = _broken(["default_window", "schedule"], schedule)
    anchored["default_window"]["startDate"] = "2026-01-03"
    window = parse_policy(anchored).default_window
    assert window is not None
    assert window.unusable is None


def test_a_default_window_every_week_needs_no_start_date() -> None:
    window = parse_policy(policy_doc()).default_window
    assert window is not None
    assert window.start_date is None
    assert window.unusable is None


def test_duplicate_ring_names_are_refused() -> None:
    doc = policy_doc(rings=[{"name": "a"}, {"name": "a"}])
    with pytest.raises(InvalidInputError, match="defined twice"):
        parse_policy(doc)


@pytest.mark.parametrize("document", [None, [], "text", 3])
def test_a_document_that_is_not_a_mapping_is_refused(document: object) -> None:
    with pytest.raises(InvalidInputError, match="expected a mapping"):
        parse_policy(document, source="p.yaml")


def test_policy_is_frozen() -> None:
    result: Policy = parse_policy(policy_doc())
    with pytest.raises(AttributeError):
        result.scopes = ()  # type: ignore[misc]


def test_a_hold_compares_cluster_names_ignoring_ascii_case_only() -> None:
    held = parse_policy(
        {**policy_doc(), "holds": [{"cluster": "PROD-K1", "reason": "audit"}]}
    ).holds[0]
    now = dt.datetime(2025, 11, 22, tzinfo=dt.UTC)

    assert held.covers(
        ClusterId("x", "rg", "prod-k1"),  # /subscriptions/x/resourceGroups/rg/.../prod-k1
        None,
        "kubernetes",
        now,
    )
    assert not held.covers(ClusterId("x", "rg", "prod-\u212a1"), None, "kubernetes", now)

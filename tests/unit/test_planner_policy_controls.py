"""Policy holds and fleet-wide skips: shown in the plan with their reasons."""

from __future__ import annotations

import re

import pytest

from patchpilot.domain.history import History
from patchpilot.domain.planner import plan
from patchpilot.domain.policy import parse_policy
from patchpilot.errors import InvalidInputError
from tests.factories import UBUNTU, catalog, cluster, fleet, policy, policy_doc
from tests.unit.test_planner import INSIDE_WINDOW, PATCHED, only

NEWER_IMAGE = catalog(kubernetes=PATCHED["kubernetes"], ubuntu=["202511.03.0", "202511.17.0"])


def test_a_hold_keeps_a_pool_at_its_image_with_the_reason() -> None:
    hold = [
        {"cluster": "dev-1", "pool": "system", "kind": "node_image", "reason": "vendor sign-off"}
    ]
    result = plan(
        fleet([cluster("dev-1", "dev")], NEWER_IMAGE), policy(holds=hold), History(), INSIDE_WINDOW
    )
    image = only(result, name="dev-1", pool_name="system", kind="node_image")
    assert image.status == "blocked"
    assert "held by policy at" in image.reason
    assert "vendor sign-off" in image.reason
    assert only(result, name="dev-1").status == "due"  # the control plane is not held


def test_a_cluster_hold_covers_every_kind_until_its_last_day() -> None:
    hold = [{"cluster": "DEV-1", "reason": "quarter close", "until": "2025-11-22"}]
    state = fleet([cluster("dev-1", "dev")], NEWER_IMAGE)
    held = plan(state, policy(holds=hold), History(), INSIDE_WINDOW)
    assert {a.status for a in held.actions} == {"blocked"}
    next_week = INSIDE_WINDOW.replace(day=29)
    assert "due" in {
        a.status for a in plan(state, policy(holds=hold), History(), next_week).actions
    }


def test_a_skipped_kubernetes_version_is_never_the_target() -> None:
    region = catalog(kubernetes=[{"version": v} for v in ("1.32.6", "1.32.8", "1.32.9")])
    skip = [{"kubernetes": "1.32.9", "reason": "kube-proxy regression"}]
    action = only(
        plan(fleet([cluster("dev-1", "dev")], region), policy(skip=skip), History(), INSIDE_WINDOW),
        name="dev-1",
    )
    assert action.target == "1.32.8"
    assert "1.32.9 is skipped by policy: kube-proxy regression" in action.reason


def test_a_skip_that_leaves_nothing_blocks_with_its_reason() -> None:
    skip = [{"kubernetes": "1.32.9", "reason": "kube-proxy regression"}]
    action = only(
        plan(
            fleet([cluster("dev-1", "dev")], PATCHED), policy(skip=skip), History(), INSIDE_WINDOW
        ),
        name="dev-1",
    )
    assert action.status == "blocked"
    assert action.target is None
    assert "skipped by policy" in action.reason


def test_a_skipped_latest_node_image_blocks_since_aks_offers_only_the_latest() -> None:
    skip = [{"node_image": f"{UBUNTU}-202511.17.0", "reason": "breaks GPU driver"}]
    result = plan(
        fleet([cluster("dev-1", "dev")], NEWER_IMAGE), policy(skip=skip), History(), INSIDE_WINDOW
    )
    image = only(result, name="dev-1", pool_name="system", kind="node_image")
    assert image.status == "blocked"
    assert "breaks GPU driver" in image.reason
    assert "waits for a newer image" in image.reason


@pytest.mark.parametrize(
    ("section", "value", "message"),
    [
        pytest.param("skip", [{"kubernetes": "1.32", "reason": "x"}], "1.32", id="minor-only"),
        pytest.param("skip", [{"reason": "x"}], "exactly one", id="neither"),
        pytest.param(
            "skip", [{"node_image": "Ubuntu-latest", "reason": "x"}], "node_image", id="bad-image"
        ),
        pytest.param(
            "holds", [{"cluster": "a", "reason": "x", "kind": "os"}], "holds[0].kind", id="bad-kind"
        ),
        pytest.param("holds", [{"cluster": "a"}], "holds[0].reason", id="no-reason"),
    ],
)
def test_bad_holds_and_skips_are_refused(section: str, value: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        parse_policy(policy_doc(**{section: value}))

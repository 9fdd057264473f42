"""The planner honours upgrades people asked for, under every rule but the channel's choice."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from patchpilot.domain.history import History, Kind, Reached, Requested
from patchpilot.domain.plan import Action
from patchpilot.domain.planner import plan
from patchpilot.domain.policy import Policy
from tests.factories import catalog, cluster, cluster_id, fleet, policy, pool, utc

SATURDAY = utc(2025, 11, 22, 1, 30)  # inside the default window
THURSDAY = utc(2025, 11, 20, 12)
REGION = catalog(
    kubernetes=[
        {"version": "1.31.9"},
        {"version": "1.32.6"},
        {"version": "1.32.9"},
        {"version": "1.33.2"},
        {"version": "1.34.0", "preview": True},
    ],
    ubuntu=["202511.03.0", "202511.17.0"],
)


def asked(
    name: str, target: str, pool_name: str | None = None, kind: Kind = "kubernetes"
) -> Requested:
    return Requested(cluster_id(name).lower(), pool_name, kind, target, "alice", "why", SATURDAY)


def action_for(
    clusters: list[dict[str, Any]],
    request: Requested,
    *,
    at: dt.datetime = SATURDAY,
    chosen: Policy | None = None,
    reached: tuple[Reached, ...] = (),
) -> Action | None:
    history = History(reached=reached, requests=(request,))
    result = plan(fleet(clusters, REGION), chosen or policy(), history, at)
    return next(
        (
            a
            for a in result.actions
            if a.cluster.key == request.cluster
            and a.pool == request.pool
            and a.kind == request.kind
        ),
        None,
    )


def test_a_requested_minor_replaces_the_channels_patch_and_is_due_in_the_window() -> None:
    action = action_for([cluster("dev-1", "dev")], asked("dev-1", "1.33.2"))
    assert action is not None
    assert (action.target, action.status) == ("1.33.2", "due")
    assert "requested by alice: why" in action.reason


def test_outside_the_window_a_request_waits_for_it() -> None:
    action = action_for([cluster("dev-1", "dev")], asked("dev-1", "1.33.2"), at=THURSDAY)
    assert action is not None
    assert (action.status, action.not_before) == ("scheduled", utc(2025, 11, 22, 1, 0))


@pytest.mark.parametrize(
    ("target", "words"),
    [
        pytest.param("1.33.9", "does not offer 1.33.9", id="not-offered"),
        pytest.param("1.34.0", "preview", id="preview"),
        pytest.param("2.0.0", "another major", id="major"),
    ],
)
def test_version_rules_block_a_request(target: str, words: str) -> None:
    action = action_for([cluster("dev-1", "dev")], asked("dev-1", target))
    assert action is not None
    assert action.status == "blocked"
    assert words in action.reason


def test_a_request_never_skips_a_minor() -> None:
    old = cluster("dev-1", "dev", version="1.31.9", pools=[pool(version="1.31.9")])
    action = action_for([old], asked("dev-1", "1.33.2"))
    assert action is not None
    assert action.status == "blocked"
    assert "skip a minor" in action.reason


def test_a_later_ring_gets_a_requested_version_only_once_soaked() -> None:
    clusters = [cluster("dev-1", "dev"), cluster("stg-1", "staging")]
    waiting = action_for(clusters, asked("stg-1", "1.33.2"))
    assert waiting is not None
    assert waiting.status == "blocked"
    assert "waits for ring dev" in waiting.reason
    soaked = (Reached(cluster_id("dev-1").lower(), None, "kubernetes", "1.33.2", utc(2025, 11, 1)),)
    moved = [cluster("dev-1", "dev", version="1.33.2", pools=[pool(version="1.33.2")])]
    ready = action_for(moved + clusters[1:], asked("stg-1", "1.33.2"), reached=soaked)
    assert ready is not None
    assert (ready.target, ready.status) == ("1.33.2", "due")


def test_a_pool_request_waits_for_its_control_plane() -> None:
    action = action_for([cluster("dev-1", "dev")], asked("dev-1", "1.33.2", "system"))
    assert action is not None
    assert action.status == "blocked"
    assert "control plane first" in action.reason


def test_a_reached_request_is_forgotten() -> None:
    done = cluster("dev-1", "dev", version="1.33.2", pools=[pool(version="1.33.2")])
    action = action_for([done], asked("dev-1", "1.33.2"))
    assert action is None or action.target != "1.33.2"


def test_a_node_image_request_plans_a_pool_whose_os_the_policy_leaves_alone() -> None:
    quiet = policy(node_images={"linux": {"enabled": False}})
    request = asked("dev-1", "AKSUbuntu-2204gen2containerd-202511.17.0", "system", "node_image")
    action = action_for([cluster("dev-1", "dev")], request, chosen=quiet)
    assert action is not None
    assert (action.target, action.status) == (request.target, "due")
    unasked = plan(fleet([cluster("dev-1", "dev")], REGION), quiet, History(), SATURDAY)
    assert not [a for a in unasked.actions if a.kind == "node_image"]


def test_a_request_on_a_cluster_aks_upgrades_itself_is_left_to_aks() -> None:
    managed = cluster("dev-1", "dev", auto_upgrade_channel="patch")
    action = action_for([managed], asked("dev-1", "1.33.2"))
    assert action is not None
    assert action.reason == "blocked: managed by AKS auto-upgrade channel patch"


def test_a_stored_request_reads_back_the_same() -> None:
    request = asked("dev-1", "1.33.2", "system")
    assert Requested.from_json(request.to_json()) == request
    assert request.subject == f"{cluster_id('dev-1').lower()}|system|kubernetes"


def test_a_request_past_its_until_is_dropped_and_the_channel_plans_again() -> None:
    expired = dataclasses.replace(asked("dev-1", "1.33.2"), until=utc(2025, 11, 21))
    action = action_for([cluster("dev-1", "dev")], expired)
    assert action is not None
    assert action.target == "1.32.9"
    assert Requested.from_json(expired.to_json()) == expired

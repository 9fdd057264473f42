"""The planner's rules, one behaviour per test (DESIGN.md invariants 1, 4, 5, 6, 7)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from patchpilot.domain.history import Failure, History, InFlight, Pause, Reached
from patchpilot.domain.plan import Action, Plan
from patchpilot.domain.planner import plan
from tests.factories import (
    UBUNTU,
    WINDOWS,
    catalog,
    cluster,
    cluster_id,
    fleet,
    policy,
    pool,
    utc,
)

INSIDE_WINDOW = utc(2025, 11, 22, 1, 30)  # Saturday 02:30 at +01:00
OUTSIDE_WINDOW = utc(2025, 11, 19, 12, 0)  # a Wednesday
PATCHED = catalog(kubernetes=[{"version": "1.32.6"}, {"version": "1.32.9"}, {"version": "1.33.2"}])


def only(
    result: Plan, *, name: str, pool_name: str | None = None, kind: str = "kubernetes"
) -> Action:
    """The single action for one cluster, pool and kind."""
    found = [
        a
        for a in result.actions
        if str(a.cluster) == cluster_id(name) and a.pool == pool_name and a.kind == kind
    ]
    assert len(found) == 1, f"expected one action, got {result.actions}"
    return found[0]


def test_patch_channel_upgrade_is_due_inside_the_default_window() -> None:
    result = plan(fleet([cluster("dev-1", "dev")], PATCHED), policy(), History(), INSIDE_WINDOW)
    action = only(result, name="dev-1")
    assert (action.current, action.target, action.status) == ("1.32.6", "1.32.9", "due")
    assert action.window_end == utc(2025, 11, 22, 7, 0)
    assert "channel patch" in action.reason


def test_upgrade_outside_a_window_is_scheduled_for_the_next_one() -> None:
    result = plan(fleet([cluster("dev-1", "dev")], PATCHED), policy(), History(), OUTSIDE_WINDOW)
    action = only(result, name="dev-1")
    assert action.status == "scheduled"
    assert action.not_before == utc(2025, 11, 22, 1, 0)


def test_freeze_pushes_the_upgrade_past_its_last_day() -> None:
    friday_before_freeze = utc(2025, 12, 19, 12, 0)
    result = plan(
        fleet([cluster("dev-1", "dev")], PATCHED), policy(), History(), friday_before_freeze
    )
    action = only(result, name="dev-1")
    assert action.not_before == utc(2026, 1, 10, 1, 0)
    assert "year-end freeze" in action.reason


def test_cluster_maintenance_configuration_wins_over_the_policy_default() -> None:
    sunday_only = {
        "maintenanceWindow": {
            "schedule": {"weekly": {"intervalWeeks": 1, "dayOfWeek": "Sunday"}},
            "durationHours": 4,
            "utcOffset": "+00:00",
            "startTime": "03:00",
        }
    }
    doc = cluster(
        "dev-1", "dev", maintenance_configurations={"aksManagedAutoUpgradeSchedule": sunday_only}
    )
    action = only(plan(fleet([doc], PATCHED), policy(), History(), INSIDE_WINDOW), name="dev-1")
    assert action.status == "scheduled"
    assert action.not_before == utc(2025, 11, 23, 3, 0)
    assert "aksManagedAutoUpgradeSchedule" in action.reason


def test_node_os_schedule_gates_node_images_only() -> None:
    never_saturday = {
        "maintenanceWindow": {
            "schedule": {"weekly": {"intervalWeeks": 1, "dayOfWeek": "Monday"}},
            "durationHours": 4,
            "startTime": "00:00",
        }
    }
    region = catalog(kubernetes=PATCHED["kubernetes"], ubuntu=["202511.03.0", "202511.17.0"])
    doc = cluster(
        "dev-1",
        "dev",
        maintenance_configurations={"aksManagedNodeOSUpgradeSchedule": never_saturday},
        pools=[pool(), pool("user", version="1.32.6")],
    )
    result = plan(fleet([doc], region), policy(), History(), INSIDE_WINDOW)
    assert only(result, name="dev-1").status == "due"
    assert only(result, name="dev-1", pool_name="system", kind="node_image").not_before == utc(
        2025, 11, 24
    )


def test_no_window_anywhere_blocks_with_a_reason() -> None:
    result = plan(
        fleet([cluster("dev-1", "dev")], PATCHED),
        policy(default_window=None),
        History(),
        INSIDE_WINDOW,
    )
    action = only(result, name="dev-1")
    assert action.status == "blocked"
    assert "no maintenance window" in action.reason


# Versions -------------------------------------------------------------------------


def test_a_cluster_two_minors_behind_steps_one_minor_at_a_time() -> None:
    region = catalog(
        kubernetes=[{"version": v} for v in ("1.30.4", "1.31.1", "1.31.8", "1.32.6", "1.33.2")]
    )
    doc = cluster("dev-1", "dev", version="1.31.1", pools=[pool(version="1.31.1")])
    result = plan(
        fleet([doc], region), policy(kubernetes={"channel": "rapid"}), History(), INSIDE_WINDOW
    )
    action = only(result, name="dev-1")
    assert (action.target, action.status) == ("1.32.6", "due")


def test_missing_intermediate_minor_blocks_instead_of_skipping() -> None:
    region = catalog(kubernetes=[{"version": "1.31.1"}, {"version": "1.33.2"}])
    doc = cluster("dev-1", "dev", version="1.31.1", pools=[pool(version="1.31.1")])
    result = plan(
        fleet([doc], region), policy(kubernetes={"channel": "rapid"}), History(), INSIDE_WINDOW
    )
    action = only(result, name="dev-1")
    assert action.status == "blocked"
    assert "no 1.32 version" in action.reason


def test_preview_versions_are_used_only_when_the_policy_allows() -> None:
    doc = cluster("dev-1", "dev", version="1.33.2", pools=[pool(version="1.33.2")])
    rapid = {"channel": "rapid", "allow_preview": False}
    assert not plan(fleet([doc]), policy(kubernetes=rapid), History(), INSIDE_WINDOW).actions
    result = plan(
        fleet([doc]), policy(kubernetes={**rapid, "allow_preview": True}), History(), INSIDE_WINDOW
    )
    assert only(result, name="dev-1").target == "1.34.0"


def test_control_plane_step_that_breaks_version_skew_waits_for_the_pool() -> None:
    region = catalog(kubernetes=[{"version": v} for v in ("1.30.4", "1.31.1", "1.32.6", "1.33.2")])
    doc = cluster(
        "dev-1",
        "dev",
        version="1.32.6",
        pools=[pool(version="1.32.6"), pool("old", version="1.30.4")],
    )
    result = plan(
        fleet([doc], region), policy(kubernetes={"channel": "rapid"}), History(), INSIDE_WINDOW
    )
    control_plane = only(result, name="dev-1")
    assert control_plane.status == "blocked"
    assert "pool old on 1.30.4 would lag 3 minors" in control_plane.reason
    follow = only(result, name="dev-1", pool_name="old")
    assert (follow.target, follow.status) == ("1.31.1", "due")


def test_pool_two_minors_behind_steps_one_minor_toward_its_control_plane() -> None:
    region = catalog(kubernetes=[{"version": v} for v in ("1.30.4", "1.31.1", "1.31.8", "1.32.6")])
    doc = cluster("dev-1", "dev", version="1.32.6", pools=[pool(version="1.30.4")])
    follow = only(
        plan(fleet([doc], region), policy(), History(), INSIDE_WINDOW),
        name="dev-1",
        pool_name="system",
    )
    assert (follow.current, follow.target) == ("1.30.4", "1.31.8")


def test_control_plane_action_comes_before_pool_actions() -> None:
    doc = cluster(
        "dev-1",
        "dev",
        version="1.32.6",
        pools=[pool("b", version="1.32.6"), pool(version="1.32.6")],
    )
    region = catalog(kubernetes=PATCHED["kubernetes"], ubuntu=["202511.03.0", "202511.17.0"])
    result = plan(fleet([doc], region), policy(), History(), INSIDE_WINDOW)
    order = [(a.pool, a.kind) for a in result.actions]
    assert order == [(None, "kubernetes"), ("system", "node_image"), ("b", "node_image")]


def test_pool_behind_its_control_plane_takes_the_control_plane_version_not_newer() -> None:
    doc = cluster(
        "dev-1",
        "dev",
        version="1.32.9",
        pools=[pool(version="1.32.9"), pool("user", version="1.32.6")],
    )
    result = plan(fleet([doc], PATCHED), policy(), History(), INSIDE_WINDOW)
    action = only(result, name="dev-1", pool_name="user")
    assert (action.target, action.status) == ("1.32.9", "due")


def test_node_image_waits_for_the_pools_kubernetes_upgrade_that_brings_it() -> None:
    region = catalog(kubernetes=PATCHED["kubernetes"], ubuntu=["202511.03.0", "202511.17.0"])
    doc = cluster("dev-1", "dev", version="1.32.9", pools=[pool(version="1.32.6")])
    result = plan(fleet([doc], region), policy(), History(), INSIDE_WINDOW)
    image = only(result, name="dev-1", pool_name="system", kind="node_image")
    assert image.status == "blocked"
    assert "comes with the pool's Kubernetes upgrade" in image.reason


# Never fight AKS ---------------------------------------------------------------------


def test_cluster_on_an_aks_auto_upgrade_channel_gets_no_kubernetes_action() -> None:
    doc = cluster("dev-1", "dev", auto_upgrade_channel="stable")
    result = plan(fleet([doc], PATCHED), policy(), History(), INSIDE_WINDOW)
    action = only(result, name="dev-1")
    assert action.status == "blocked"
    assert "managed by AKS auto-upgrade channel stable" in action.reason
    assert [f.code for f in result.findings] == ["aks_channel_overlap"]


@pytest.mark.parametrize("channel", ["NodeImage", "SecurityPatch"])
def test_pool_on_an_aks_node_os_channel_gets_no_node_image_action(channel: str) -> None:
    region = catalog(ubuntu=["202511.03.0", "202511.17.0"])
    doc = cluster("dev-1", "dev", node_os_upgrade_channel=channel)
    result = plan(fleet([doc], region), policy(), History(), INSIDE_WINDOW)
    action = only(result, name="dev-1", pool_name="system", kind="node_image")
    assert action.status == "blocked"
    assert f"managed by AKS node OS channel {channel}" in action.reason


def test_windows_pool_on_security_patch_channel_is_reported_as_unpatched() -> None:
    region = catalog(windows=["20348.4294.251015", "20348.4405.251112"])
    doc = cluster(
        "dev-1",
        "dev",
        node_os_upgrade_channel="SecurityPatch",
        pools=[pool(), pool("win22", os="Windows")],
    )
    result = plan(fleet([doc], region), policy(), History(), INSIDE_WINDOW)
    messages = [f.message for f in result.findings if f.pool == "win22"]
    assert messages
    assert "does not patch Windows" in messages[0]


# Windows cadence ---------------------------------------------------------------------


def test_windows_pool_waits_for_patch_tuesday_offset() -> None:
    region = catalog(windows=["20348.4294.251015", "20348.4405.251112"])
    doc = cluster("dev-1", "dev", pools=[pool(), pool("win22", os="Windows")])
    saturday_after_patch_tuesday = utc(2025, 11, 15, 1, 30)  # PT 2025-11-11, +7 = 11-18
    result = plan(fleet([doc], region), policy(), History(), saturday_after_patch_tuesday)
    action = only(result, name="dev-1", pool_name="win22", kind="node_image")
    assert action.status == "scheduled"
    assert action.not_before == utc(2025, 11, 22, 1, 0)
    assert "Patch Tuesday 2025-11-11 + 7 days" in action.reason


def test_windows_pool_is_due_once_offset_passed_and_image_offered() -> None:
    region = catalog(
        windows=["20348.4294.251015", {"version": "20348.4405.251112", "released": "2025-11-16"}]
    )
    doc = cluster("dev-1", "dev", pools=[pool(), pool("win22", os="Windows")])
    action = only(
        plan(fleet([doc], region), policy(), History(), INSIDE_WINDOW),
        name="dev-1",
        pool_name="win22",
        kind="node_image",
    )
    assert (action.status, action.target) == ("due", f"{WINDOWS}-20348.4405.251112")


def test_windows_pool_has_nothing_to_do_until_the_image_is_offered() -> None:
    region = catalog(
        windows=["20348.4294.251015", {"version": "20348.4405.251112", "released": "2025-11-25"}]
    )
    doc = cluster("dev-1", "dev", pools=[pool(), pool("win22", os="Windows")])
    result = plan(fleet([doc], region), policy(), History(), INSIDE_WINDOW)
    assert not [a for a in result.actions if a.pool == "win22"]


# Rings ----------------------------------------------------------------------------------


def test_later_ring_waits_until_the_earlier_ring_reached_the_target() -> None:
    clusters = [cluster("dev-1", "dev"), cluster("stg-1", "staging")]
    action = only(plan(fleet(clusters, PATCHED), policy(), History(), INSIDE_WINDOW), name="stg-1")
    assert action.status == "blocked"
    assert "waits for ring dev" in action.reason


def test_later_ring_soaks_after_the_last_earlier_cluster_reached_the_target() -> None:
    done = cluster("dev-1", "dev", version="1.32.9", pools=[pool(version="1.32.9")])
    clusters = [done, cluster("stg-1", "staging")]
    history = History(
        reached=(
            Reached(
                cluster_id("dev-1").lower(), None, "kubernetes", "1.32.9", utc(2025, 11, 22, 2, 0)
            ),
        )
    )
    action = only(plan(fleet(clusters, PATCHED), policy(), history, INSIDE_WINDOW), name="stg-1")
    assert (action.status, action.target) == ("scheduled", "1.32.9")
    assert action.not_before == utc(2025, 11, 29, 1, 0)
    assert "ring staging's 2-day soak after ring dev reached 1.32.9" in action.reason


def test_ring_gate_needs_every_cluster_of_the_earlier_ring() -> None:
    clusters = [
        cluster("dev-1", "dev", version="1.32.9", pools=[pool(version="1.32.9")]),
        cluster("dev-2", "dev"),
        cluster("stg-1", "staging"),
    ]
    action = only(plan(fleet(clusters, PATCHED), policy(), History(), INSIDE_WINDOW), name="stg-1")
    assert action.status == "blocked"


def test_first_ring_soak_counts_from_the_day_aks_offered_the_target() -> None:
    region = catalog(
        kubernetes=[{"version": "1.32.6"}, {"version": "1.32.9", "released": "2025-11-21"}]
    )
    soaking_dev = policy(rings=[{"name": "dev", "match": {"tags": {"env": "dev"}}, "soak_days": 3}])
    action = only(
        plan(fleet([cluster("dev-1", "dev")], region), soaking_dev, History(), INSIDE_WINDOW),
        name="dev-1",
    )
    assert action.status == "scheduled"
    assert action.not_before == utc(2025, 11, 29, 1, 0)


def test_later_ring_gets_the_version_the_earlier_ring_soaked_not_a_newer_one() -> None:
    region = catalog(kubernetes=[{"version": v} for v in ("1.32.6", "1.32.9", "1.32.10")])
    done = cluster("dev-1", "dev", version="1.32.9", pools=[pool(version="1.32.9")])
    result = plan(
        fleet([done, cluster("stg-1", "staging")], region), policy(), History(), INSIDE_WINDOW
    )
    assert only(result, name="stg-1").target == "1.32.9"


def test_failure_in_the_earlier_ring_blocks_the_next_ring() -> None:
    done = cluster("dev-1", "dev", version="1.32.9", pools=[pool(version="1.32.9")])
    history = History(
        failures=(
            Failure(
                cluster_id("dev-1").lower(),
                None,
                "kubernetes",
                "1.32.9",
                utc(2025, 11, 22),
                "UpgradeFailed",
            ),
        )
    )
    result = plan(
        fleet([done, cluster("stg-1", "staging")], PATCHED), policy(), history, INSIDE_WINDOW
    )
    action = only(result, name="stg-1")
    assert action.status == "blocked"
    assert "had a failure" in action.reason


def test_ring_without_members_is_skipped_for_the_gate() -> None:
    done = cluster("dev-1", "dev", version="1.32.9", pools=[pool(version="1.32.9")])
    result = plan(
        fleet([done, cluster("prod-1", "prod")], PATCHED), policy(), History(), INSIDE_WINDOW
    )
    action = only(result, name="prod-1")
    assert (action.target, action.status) == ("1.32.9", "due")
    assert "ring dev soaked 1.32.9" in action.reason


LATEST_ONLY = catalog(ubuntu=["202511.03.0", "202511.17.0", "202512.01.0"])


def _image_rings(**extra: Any) -> list[dict[str, Any]]:
    soaked = pool(image=f"{UBUNTU}-202511.17.0")
    return [cluster("dev-1", "dev", pools=[soaked]), cluster("stg-1", "staging")]


def test_later_ring_waits_when_aks_only_offers_a_newer_image_than_was_soaked() -> None:
    result = plan(fleet(_image_rings(), LATEST_ONLY), policy(), History(), INSIDE_WINDOW)
    action = only(result, name="stg-1", pool_name="system", kind="node_image")
    assert action.status == "blocked"
    assert "AKS only upgrades to the latest image" in action.reason


def test_later_ring_takes_exactly_the_soaked_image_where_aks_can_pin_it() -> None:
    result = plan(
        fleet(_image_rings(), LATEST_ONLY, node_image_pinning=True),
        policy(),
        History(),
        INSIDE_WINDOW,
    )
    action = only(result, name="stg-1", pool_name="system", kind="node_image")
    assert (action.status, action.target) == ("due", f"{UBUNTU}-202511.17.0")


def test_selection_latest_lets_the_later_ring_take_the_latest_image() -> None:
    images = {"selection": "latest", "linux": {"enabled": True}}
    # Without the canary check, which waits until every dev pool runs the latest.
    rules = policy(node_images=images, promotion={"canary_days": None})
    result = plan(fleet(_image_rings(), LATEST_ONLY), rules, History(), INSIDE_WINDOW)
    action = only(result, name="stg-1", pool_name="system", kind="node_image")
    assert (action.status, action.target) == ("due", f"{UBUNTU}-202512.01.0")


def test_disabled_os_gets_no_node_image_actions() -> None:
    images = {"linux": {"enabled": False}}
    region = catalog(ubuntu=["202511.03.0", "202511.17.0"])
    result = plan(
        fleet([cluster("dev-1", "dev")], region),
        policy(node_images=images),
        History(),
        INSIDE_WINDOW,
    )
    assert not result.actions


# Cluster-wide blocks --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        pytest.param(
            History(pauses=(Pause("fleet", "incident 42", by="ana"),)),
            "fleet paused by ana",
            id="fleet",
        ),
        pytest.param(
            History(pauses=(Pause("ring", "bad week", target="dev"),)), "ring paused", id="ring"
        ),
        pytest.param(
            History(pauses=(Pause("cluster", "drain failed", target=cluster_id("dev-1")),)),
            "cluster paused",
            id="cluster",
        ),
        pytest.param(
            History(
                in_flight=(
                    InFlight(
                        cluster_id("dev-1").lower(),
                        "system",
                        "node_image",
                        "x",
                        utc(2025, 11, 22, 1),
                    ),
                )
            ),
            "in progress since",
            id="in-flight",
        ),
        pytest.param(
            History(
                failures=(
                    Failure(
                        cluster_id("dev-1").lower(),
                        None,
                        "kubernetes",
                        "1.32.9",
                        utc(2025, 11, 22, 1),
                        "PDB blocks drain",
                    ),
                )
            ),
            "PDB blocks drain",
            id="failed-before",
        ),
    ],
)
def test_cluster_wide_blocks_stop_due_actions_with_their_reason(
    history: History, expected: str
) -> None:
    action = only(
        plan(fleet([cluster("dev-1", "dev")], PATCHED), policy(), history, INSIDE_WINDOW),
        name="dev-1",
    )
    assert action.status == "blocked"
    assert expected in action.reason


def test_expired_pause_no_longer_blocks() -> None:
    history = History(pauses=(Pause("fleet", "was bad", until=utc(2025, 11, 21)),))
    action = only(
        plan(fleet([cluster("dev-1", "dev")], PATCHED), policy(), history, INSIDE_WINDOW),
        name="dev-1",
    )
    assert action.status == "due"


def test_busy_cluster_waits_for_aks_to_report_succeeded() -> None:
    doc = cluster("dev-1", "dev", provisioning_state="Upgrading")
    action = only(plan(fleet([doc], PATCHED), policy(), History(), INSIDE_WINDOW), name="dev-1")
    assert action.status == "blocked"
    assert "Upgrading" in action.reason


def test_cluster_outside_the_scopes_is_never_planned() -> None:
    outside = cluster("dev-1", "dev")
    outside["id"] = outside["id"].replace(
        "00000000-0000-0000-0000-000000000000", "11111111-1111-1111-1111-111111111111"
    )
    result = plan(fleet([outside], PATCHED), policy(), History(), INSIDE_WINDOW)
    assert not result.actions
    assert [f.code for f in result.findings] == ["out_of_scope"]


def test_cluster_in_no_ring_is_reported_not_planned() -> None:
    result = plan(fleet([cluster("x-1", "qa")], PATCHED), policy(), History(), INSIDE_WINDOW)
    assert not result.actions
    assert [f.code for f in result.findings] == ["no_ring"]


def test_plan_refuses_a_naive_instant() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        plan(
            fleet([cluster("dev-1", "dev")]),
            policy(),
            History(),
            INSIDE_WINDOW.replace(tzinfo=None),
        )


def test_plan_json_has_the_contract_fields() -> None:
    result = plan(fleet([cluster("dev-1", "dev")], PATCHED), policy(), History(), INSIDE_WINDOW)
    body = result.to_json()
    assert body["at"] == "2025-11-22T01:30:00Z"
    action = body["actions"][0]
    for key in ("cluster", "pool", "kind", "current", "target", "status", "not_before", "reason"):
        assert key in action
    assert action["not_before"].endswith("Z")


def test_actions_are_plain_values() -> None:
    result = plan(fleet([cluster("dev-1", "dev")], PATCHED), policy(), History(), INSIDE_WINDOW)
    assert dataclasses.is_dataclass(result.actions[0])
    assert result == plan(
        fleet([cluster("dev-1", "dev")], PATCHED), policy(), History(), INSIDE_WINDOW
    )


def _node_os_window(schedule: dict[str, Any]) -> dict[str, Any]:
    return {
        "aksManagedNodeOSUpgradeSchedule": {
            "maintenanceWindow": {
                "schedule": schedule,
                "durationHours": 4,
                "startTime": "01:00",
                "startDate": "2025-01-05",
            }
        }
    }


MONTHLY = {"relativeMonthly": {"intervalMonths": 1, "weekIndex": "First", "dayOfWeek": "Sunday"}}
WEEKLY = {"weekly": {"intervalWeeks": 1, "dayOfWeek": "Sunday"}}


FORTNIGHTLY = {"weekly": {"intervalWeeks": 2, "dayOfWeek": "Sunday"}}


HOLDS = "ring prod takes a node image only once every cluster of ring staging"
RELEASED = "it no longer holds ring prod (a straggler"


@pytest.mark.parametrize(
    ("env", "schedule", "stragglers", "said"),
    [
        pytest.param("staging", MONTHLY, "release", RELEASED, id="staging-monthly"),
        pytest.param("staging", FORTNIGHTLY, "release", RELEASED, id="staging-fortnightly"),
        pytest.param("staging", MONTHLY, "hold", HOLDS, id="staging-monthly-holding"),
        pytest.param("dev", MONTHLY, "release", "every later ring", id="dev-always-holds"),
        pytest.param("staging", WEEKLY, "release", None, id="staging-weekly"),
        pytest.param("prod", MONTHLY, "release", None, id="prod-monthly-gates-nobody"),
    ],
)
def test_a_rare_window_in_a_ring_that_gates_another_is_a_finding(
    env: str, schedule: dict[str, Any], stragglers: str, said: str | None
) -> None:
    doc = cluster("c-1", env, maintenance_configurations=_node_os_window(schedule))
    rules = policy(promotion={"stragglers": stragglers})

    result = plan(fleet([doc]), rules, History(), INSIDE_WINDOW)

    found = [f for f in result.findings if f.code == "slow_ring_gate"]
    assert bool(found) is (said is not None)
    if said is not None:
        assert said in found[0].message

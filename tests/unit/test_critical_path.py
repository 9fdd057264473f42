"""The critical path (issue 16): what each ring waits for, until when, and whose window sets it.

The fleets are planned with the real parsers and planner at a Saturday inside
the policy's default window (weekly, Saturdays 02:00-08:00 at +01:00); the
figures follow from the windows by hand and are written next to each test.
"""

from __future__ import annotations

from typing import Any

from patchpilot.domain.critical_path import with_paths
from patchpilot.domain.history import History, Pause
from patchpilot.domain.plan import Plan, RingPath
from patchpilot.domain.planner import plan
from patchpilot.render import path_table, plan_table
from tests.factories import UBUNTU, cluster_id, fleet, utc
from tests.unit.test_promotion import IMAGES, MONTHLY_NODE_OS, NOW, on, reached, rules

HOLD: dict[str, Any] = {"stragglers": "hold"}
WEDNESDAYS = {
    "aksManagedNodeOSUpgradeSchedule": {
        "maintenanceWindow": {
            "schedule": {"weekly": {"intervalWeeks": 1, "dayOfWeek": "Wednesday"}},
            "durationHours": 4,
            "startTime": "01:00",
            "utcOffset": "+00:00",
        }
    }
}
# dev has run AKS's latest since the 20th: staging's 2-day soak and the 1-day canary are over.
DEV_ON_LATEST = History(reached=(reached("dev-1", "202511.20.0", utc(2025, 11, 20)),))


def clusters(**stg_2: Any) -> list[dict[str, Any]]:
    """dev on the latest image; staging and prod a release behind, stg-2 with `stg_2`."""
    return [
        on("dev-1", "dev", "202511.20.0"),
        on("stg-1", "staging", "202511.03.0"),
        on("stg-2", "staging", "202511.03.0", **stg_2),
        on("prod-1", "prod", "202511.03.0"),
    ]


def planned(
    fleet_clusters: list[dict[str, Any]], history: History = DEV_ON_LATEST, **promotion: Any
) -> Plan:
    state = fleet(fleet_clusters, IMAGES)
    policy = rules(**({"promotion": promotion} if promotion else {}))
    return with_paths(plan(state, policy, history, NOW), state, policy)


def path(result: Plan, ring: str) -> RingPath:
    (found,) = [p for p in result.paths if p.ring == ring and p.subject == UBUNTU]
    return found


def test_a_monthly_window_holding_prod_is_on_its_path_and_weekly_would_save_two_weeks() -> None:
    # stg-2 opens on the first Sunday of the month: 2025-12-07 01:00. Prod's 5-day soak
    # ends 12-12 01:00; prod's next Saturday window opens 12-13 01:00 UTC. Weekly on
    # Sundays, stg-2 would have it on 11-23: soak to 11-28, prod on Saturday 11-29.
    result = planned(clusters(maintenance_configurations=MONTHLY_NODE_OS), **HOLD)

    prod = path(result, "prod")

    assert prod.earliest == utc(2025, 12, 13, 1)
    assert [(s.cluster, s.reaches) for s in prod.on_path] == [
        (cluster_id("stg-2"), utc(2025, 12, 7, 1))
    ]
    assert prod.on_path[0].window == "aksManagedNodeOSUpgradeSchedule"
    assert prod.weekly_saves_days == 14.0
    assert prod.waits_for.startswith("ring staging to soak an image")


def test_a_released_straggler_leaves_the_path_to_the_clusters_that_still_hold() -> None:
    # With stragglers released (the default), stg-2 no longer holds prod: stg-1 is due now,
    # so only prod's soak (to 11-27 01:30) and its own window (Saturday 11-29 01:00) remain,
    # and no earlier ring's window is on the path.
    result = planned(clusters(maintenance_configurations=MONTHLY_NODE_OS))

    prod = path(result, "prod")

    assert prod.earliest == utc(2025, 11, 29, 1)
    assert prod.on_path == ()
    assert prod.weekly_saves_days is None


def test_the_path_follows_the_chain_back_to_the_first_ring() -> None:
    # dev has not taken the latest yet and opens on Wednesdays: 11-26 01:00. Staging soaks
    # two days and starts in its next Saturday window (11-29), prod soaks five and starts
    # on Saturday 12-06.
    fleet_clusters = [
        on("dev-1", "dev", "202511.03.0", maintenance_configurations=WEDNESDAYS),
        on("stg-1", "staging", "202511.03.0"),
        on("prod-1", "prod", "202511.03.0"),
    ]

    result = planned(fleet_clusters, History())

    assert [(p.ring, p.earliest) for p in result.paths] == [
        ("dev", utc(2025, 11, 26, 1)),
        ("staging", utc(2025, 11, 29, 1)),
        ("prod", utc(2025, 12, 6, 1)),
    ]
    prod = path(result, "prod")
    assert [(s.cluster, s.ring) for s in prod.on_path] == [
        (cluster_id("dev-1"), "dev"),
        (cluster_id("stg-1"), "staging"),
    ]
    assert path(result, "staging").waits_for.startswith("ring dev to soak")


def test_a_paused_holder_leaves_the_later_rings_start_unknown_and_names_the_pause() -> None:
    pause = Pause("cluster", "noisy neighbour", cluster_id("stg-1").lower(), "ops@contoso.com")

    result = planned(clusters(), History(reached=DEV_ON_LATEST.reached, pauses=(pause,)))

    prod = path(result, "prod")
    assert prod.earliest is None
    assert "stg-1" in prod.waits_for
    assert "paused by ops@contoso.com" in prod.waits_for


def test_a_ring_with_nothing_pending_has_no_entry() -> None:
    fleet_clusters = [on("dev-1", "dev", "202511.20.0"), on("stg-1", "staging", "202511.20.0")]

    result = planned(fleet_clusters)

    assert [p.ring for p in result.paths] == []


def test_the_plan_json_and_table_carry_the_path() -> None:
    result = planned(clusters(maintenance_configurations=MONTHLY_NODE_OS), **HOLD)

    document = result.to_json()["critical_path"]
    prod = next(p for p in document if p["ring"] == "prod")
    assert prod["earliest"] == "2025-12-13T01:00:00Z"
    assert prod["on_path"][0]["target"] == f"{UBUNTU}-202511.20.0"
    assert prod["weekly_saves_days"] == 14.0
    text = plan_table(result)
    assert path_table(document) in text
    assert "stg-2 (ring staging, aksManagedNodeOSUpgradeSchedule) reaches 202511.20.0" in text


def test_the_earliest_start_is_never_before_now() -> None:
    result = planned(clusters(maintenance_configurations=MONTHLY_NODE_OS), **HOLD)

    assert all(p.earliest is None or p.earliest >= NOW for p in result.paths)
    assert all(s.reaches >= NOW for p in result.paths for s in p.on_path)

"""Ring promotion (issue 16): the bounded selection, stragglers and the canary check.

Each test plans a small fleet with the real parsers and planner at a Saturday
inside the policy's default window, on images whose release days are known.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from patchpilot.domain.fleet import FleetState, parse_fleet
from patchpilot.domain.gates import KUBERNETES, Arrivals, Tally
from patchpilot.domain.history import Failure, History, Reached
from patchpilot.domain.plan import Action, Plan
from patchpilot.domain.planner import plan
from patchpilot.domain.policy import parse_policy
from patchpilot.errors import InvalidInputError
from tests.factories import (
    UBUNTU,
    catalog,
    cluster,
    cluster_id,
    fleet,
    policy,
    policy_doc,
    pool,
    utc,
)

NOW = utc(2025, 11, 22, 1, 30)  # Saturday 02:30 at +01:00, inside the default window
IMAGES = catalog(
    ubuntu=[
        {"version": "202510.27.0", "released": "2025-10-28"},
        {"version": "202511.03.0", "released": "2025-11-04"},
        {"version": "202511.17.0", "released": "2025-11-17"},
        {"version": "202511.20.0", "released": "2025-11-20"},
    ]
)
LATEST = f"{UBUNTU}-202511.20.0"
MONTHLY_NODE_OS = {
    "aksManagedNodeOSUpgradeSchedule": {
        "maintenanceWindow": {
            "schedule": {
                "relativeMonthly": {
                    "intervalMonths": 1,
                    "weekIndex": "First",
                    "dayOfWeek": "Sunday",
                }
            },
            "durationHours": 4,
            "startTime": "01:00",
            "utcOffset": "+00:00",
            "startDate": "2025-01-01",
        }
    }
}


def on(name: str, env: str, version: str, **extra: Any) -> dict[str, Any]:
    """A cluster whose one system pool runs `version` of the Ubuntu family."""
    return cluster(name, env, pools=[pool(image=f"{UBUNTU}-{version}")], **extra)


def reached(name: str, version: str, at: dt.datetime) -> Reached:
    """The cluster's system pool reached an Ubuntu image at `at`."""
    return Reached(cluster_id(name).lower(), "system", "node_image", f"{UBUNTU}-{version}", at)


def rules(**node_images: Any) -> Any:
    """The factory policy with `selection: bounded` and any promotion overrides."""
    promotion = node_images.pop("promotion", None)
    images = {"selection": "bounded", "linux": {"enabled": True}} | node_images
    return policy(node_images=images, **({"promotion": promotion} if promotion else {}))


def image_action(result: Plan, name: str) -> Action:
    (action,) = [
        a for a in result.actions if a.kind == "node_image" and str(a.cluster) == cluster_id(name)
    ]
    return action


# The bounded selection -------------------------------------------------------------


def test_a_later_ring_takes_the_latest_on_the_soak_that_ends_first() -> None:
    # dev ran 202511.17.0 since the 18th and the latest since the 20th; staging's soak
    # (2 days) is over for the first, not yet for the second: the first opens the gate.
    clusters = [on("dev-1", "dev", "202511.20.0"), on("stg-1", "staging", "202511.03.0")]
    history = History(
        reached=(
            reached("dev-1", "202511.17.0", utc(2025, 11, 18)),
            reached("dev-1", "202511.20.0", utc(2025, 11, 20, 6)),
        )
    )

    action = image_action(plan(fleet(clusters, IMAGES), rules(), history, NOW), "stg-1")

    assert (action.status, action.target) == ("due", LATEST)
    assert "ring dev soaked 202511.17.0, 3 days of build from AKS's latest" in action.reason


def test_a_later_ring_waits_when_what_the_earlier_ring_soaked_is_too_far_from_the_latest() -> None:
    clusters = [
        on("dev-1", "dev", "202511.20.0"),
        on("stg-1", "staging", "202511.03.0"),
        on("prd-1", "prod", "202510.27.0"),
    ]
    long_ago = History(reached=(reached("stg-1", "202511.03.0", utc(2025, 11, 5)),))

    blocked = image_action(plan(fleet(clusters, IMAGES), rules(), long_ago, NOW), "prd-1")
    wider = image_action(
        plan(fleet(clusters, IMAGES), rules(max_drift_days=21), long_ago, NOW), "prd-1"
    )

    assert blocked.status == "blocked"
    assert "to soak an image built within 14 days of AKS's latest 202511.20.0" in blocked.reason
    assert (wider.status, wider.target) == ("due", LATEST)


def test_a_failure_in_the_earlier_ring_stops_the_bounded_selection_too() -> None:
    clusters = [on("dev-1", "dev", "202511.20.0"), on("stg-1", "staging", "202511.03.0")]
    failed = Failure(
        cluster_id("dev-1").lower(), "system", "node_image", LATEST, utc(2025, 11, 20), "boom"
    )

    action = image_action(
        plan(fleet(clusters, IMAGES), rules(), History(failures=(failed,)), NOW), "stg-1"
    )

    assert action.status == "blocked"
    assert "ring dev had a failure" in action.reason


# The canary check -----------------------------------------------------------------


def test_a_later_ring_waits_until_every_first_ring_pool_runs_the_target() -> None:
    clusters = [
        on("dev-1", "dev", "202511.20.0"),
        on("dev-2", "dev", "202511.17.0"),
        on("stg-1", "staging", "202511.03.0"),
    ]
    # Both dev pools ran 202511.17.0 (the proof); one of them runs the latest.
    history = History(reached=(reached("dev-1", "202511.17.0", utc(2025, 11, 18)),))

    action = image_action(plan(fleet(clusters, IMAGES), rules(), history, NOW), "stg-1")

    assert action.status == "blocked"
    assert "waits for every AKSUbuntu-2204gen2containerd pool of ring dev in the regions" in (
        action.reason
    )


def test_the_canary_runs_for_its_days_or_the_first_rings_soak_whichever_is_longer() -> None:
    clusters = [on("dev-1", "dev", "202511.20.0"), on("stg-1", "staging", "202511.17.0")]
    arrived = utc(2025, 11, 21, 6)
    history = History(reached=(reached("dev-1", "202511.20.0", arrived),))
    document = policy_doc(
        node_images={"selection": "bounded"},
        promotion={"canary_days": 1},
    )
    document["rings"][0]["soak_days"] = 3
    document["rings"][1]["soak_days"] = 0

    action = image_action(
        plan(fleet(clusters, IMAGES), parse_policy(document), history, NOW), "stg-1"
    )

    assert action.status == "scheduled"
    assert action.allowed_from == arrived + dt.timedelta(days=3)
    assert "the 3-day canary on ring dev" in action.reason


def test_without_the_canary_a_later_ring_does_not_wait_for_the_first_ring() -> None:
    clusters = [
        on("dev-1", "dev", "202511.17.0"),
        on("stg-1", "staging", "202511.03.0"),
    ]
    history = History(reached=(reached("dev-1", "202511.17.0", utc(2025, 11, 17, 12)),))

    action = image_action(
        plan(fleet(clusters, IMAGES), rules(promotion={"canary_days": None}), history, NOW),
        "stg-1",
    )

    assert (action.status, action.target) == ("due", LATEST)


# Stragglers -------------------------------------------------------------------------


def _with_straggler() -> list[dict[str, Any]]:
    return [
        on("dev-1", "dev", "202511.20.0"),
        on("stg-weekly", "staging", "202511.20.0"),
        on("stg-monthly", "staging", "202511.03.0", maintenance_configurations=MONTHLY_NODE_OS),
        on("prd-1", "prod", "202511.03.0"),
    ]


def _soaked_by_weekly() -> History:
    return History(
        reached=(
            reached("dev-1", "202511.20.0", utc(2025, 11, 20, 2)),
            reached("stg-weekly", "202511.20.0", utc(2025, 11, 20, 3)),
        )
    )


def test_a_cluster_with_a_monthly_window_does_not_hold_the_next_ring() -> None:
    result = plan(fleet(_with_straggler(), IMAGES), rules(), _soaked_by_weekly(), NOW)

    action = image_action(result, "prd-1")
    assert (action.status, action.target) == ("scheduled", LATEST)
    assert action.allowed_from == utc(2025, 11, 25, 3)  # prod's 5-day soak after stg-weekly
    (finding,) = [f for f in result.findings if f.code == "slow_ring_gate"]
    assert str(finding.cluster) == cluster_id("stg-monthly")
    assert "it no longer holds ring prod" in finding.message


def test_with_stragglers_hold_the_monthly_window_sets_the_next_rings_pace() -> None:
    result = plan(
        fleet(_with_straggler(), IMAGES),
        rules(promotion={"stragglers": "hold"}),
        _soaked_by_weekly(),
        NOW,
    )

    action = image_action(result, "prd-1")
    assert action.status == "blocked"
    assert "waits for ring staging to soak an image" in action.reason


def test_a_first_ring_cluster_with_a_monthly_window_still_holds_every_later_ring() -> None:
    clusters = [
        on("dev-1", "dev", "202511.20.0"),
        on("dev-monthly", "dev", "202511.17.0", maintenance_configurations=MONTHLY_NODE_OS),
        on("stg-1", "staging", "202511.03.0"),
    ]
    history = History(reached=(reached("dev-1", "202511.17.0", utc(2025, 11, 18)),))

    action = image_action(plan(fleet(clusters, IMAGES), rules(), history, NOW), "stg-1")

    assert action.status == "blocked"
    assert "pool of ring dev in the regions that offer" in action.reason


# The gate sums and the policy ---------------------------------------------------------


def test_a_gate_needs_the_members_that_hold_it_and_at_least_one() -> None:
    reached_by_two = {f"{UBUNTU}-202511.20.0": Arrivals(2, utc(2025, 11, 20))}

    assert Tally(members=5, reached=reached_by_two, stragglers=3).soaked_targets()
    assert not Tally(members=5, reached=reached_by_two, stragglers=2).soaked_targets()
    assert Tally(members=2, stragglers=2).needed == 1


def test_a_stored_sum_keeps_its_stragglers_and_reads_back_older_sums_without_them() -> None:
    tally = Tally(members=4, on={"202511.20.0": 4}, stragglers=1)

    assert Tally.from_json(tally.to_json()) == tally
    older = tally.to_json()
    del older["s"]
    assert Tally.from_json(older).stragglers == 0
    assert "s" not in Tally(members=1).to_json()


def test_members_on_or_past_a_target_count_newer_images_too() -> None:
    tally = Tally(members=3, on={"202511.17.0": 1, "202511.20.0": 2})

    assert tally.on_or_past(f"{UBUNTU}-202511.17.0", UBUNTU) == 3
    assert tally.on_or_past(f"{UBUNTU}-202511.20.0", UBUNTU) == 2


@pytest.mark.parametrize(
    ("section", "field", "value"),
    [
        ("promotion", "stragglers", "sometimes"),
        ("promotion", "straggler_gap_days", 0),
        ("promotion", "canary_days", 31),
        ("node_images", "selection", "newest"),
        ("node_images", "max_drift_days", -1),
    ],
)
def test_a_bad_promotion_rule_names_its_field(section: str, field: str, value: object) -> None:
    with pytest.raises(InvalidInputError) as bad:
        policy(**{section: {field: value}})

    assert f"{section}.{field}" in str(bad.value)


def test_an_explicit_null_turns_the_canary_off() -> None:
    assert policy(promotion={"canary_days": None}).promotion.canary_days is None
    assert policy(promotion={}).promotion.canary_days == 1


def test_a_straggler_reaching_the_target_late_does_not_restart_the_next_rings_soak() -> None:
    clusters = _with_straggler()
    clusters[2] = on(
        "stg-monthly", "staging", "202511.20.0", maintenance_configurations=MONTHLY_NODE_OS
    )
    history = History(
        reached=(
            *_soaked_by_weekly().reached,
            reached("stg-monthly", "202511.20.0", utc(2025, 11, 21, 23)),
        )
    )

    action = image_action(plan(fleet(clusters, IMAGES), rules(), history, NOW), "prd-1")

    assert action.allowed_from == utc(2025, 11, 25, 3)  # from stg-weekly, not stg-monthly


def test_a_straggler_tally_counts_but_keeps_its_arrival_apart() -> None:
    holder = Tally(1, {"1.33.2": Arrivals(1, utc(2025, 11, 1))}, {"1.33.2": 1})
    straggler = Tally(
        1, {"1.33.2": Arrivals(1, None, 1, utc(2025, 11, 9))}, {"1.33.2": 1}, 0, {}, 1
    )

    both = holder.plus(straggler, KUBERNETES)

    assert both.soaked_targets() == {"1.33.2": utc(2025, 11, 1)}
    assert Tally.from_json(both.to_json()) == both
    assert both.minus(holder, KUBERNETES).soaked_targets() == {"1.33.2": utc(2025, 11, 9)}


# Regional rollout ---------------------------------------------------------------------

# northeurope has not been offered 202511.20.0 yet (AKS rolls out region by region).
BEHIND = catalog(ubuntu=IMAGES["node_images"][UBUNTU][:-1])


def _regions(*clusters: dict[str, Any]) -> FleetState:
    document = {
        "catalog": {"westeurope": IMAGES, "northeurope": BEHIND},
        "clusters": list(clusters),
    }
    return parse_fleet(document, source="test-fleet.yaml")


def _lagging_dev() -> tuple[dict[str, Any], ...]:
    return (
        on("dev-1", "dev", "202511.20.0"),
        on("dev-ne", "dev", "202511.17.0", location="northeurope"),
        on("stg-1", "staging", "202511.17.0"),
        on("prd-1", "prod", "202511.17.0"),
    )


def _dev_ran_latest() -> History:
    return History(
        reached=(
            reached("dev-1", "202511.20.0", utc(2025, 11, 20, 0, 30)),
            reached("dev-ne", "202511.17.0", utc(2025, 11, 17, 12)),
        )
    )


def test_a_first_ring_member_whose_region_lacks_the_target_does_not_hold_the_next_ring() -> None:
    result = plan(_regions(*_lagging_dev()), rules(), _dev_ran_latest(), NOW)

    action = image_action(result, "stg-1")
    assert (action.status, action.target) == ("due", LATEST)


def test_the_last_ring_still_waits_for_every_first_ring_member_whatever_its_region() -> None:
    staging_ran = History(
        reached=(
            *_dev_ran_latest().reached,
            reached("stg-1", "202511.20.0", utc(2025, 11, 14)),  # as if long soaked
        )
    )
    clusters = list(_lagging_dev())
    clusters[2] = on("stg-1", "staging", "202511.20.0")

    action = image_action(plan(_regions(*clusters), rules(), staging_ran, NOW), "prd-1")

    assert action.status == "blocked"
    assert "waits for every AKSUbuntu-2204gen2containerd pool of ring dev to run" in action.reason
    assert "(1 of 2 do)" in action.reason

"""The shadow report's comparison: decisions beside real patches, windows and ring soaks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import pytest

from patchpilot.domain.fleet import ClusterState
from patchpilot.domain.gates import Arrivals, GateKey, Tally
from patchpilot.domain.history import Reached
from patchpilot.domain.shadow import Decision, Facts, ShadowRow, Subject, compare
from tests.factories import UBUNTU, cluster, cluster_id, fleet, policy, utc

OLD = f"{UBUNTU}-202511.03.0"
NEW = f"{UBUNTU}-202511.17.0"
DEV, STAGING = cluster_id("dev-1"), cluster_id("stg-1")
# The policy's default window: Saturdays 01:00-07:00 UTC; 2025-11-22 is a Saturday.
IN_WINDOW = utc(2025, 11, 22, 3)
OUT_OF_WINDOW = utc(2025, 11, 22, 9)
FIRST_SEEN = utc(2025, 11, 20)


def clusters() -> dict[str, ClusterState]:
    parsed = fleet([cluster("dev-1", "dev"), cluster("stg-1", "staging")])
    return {state.key.lower(): state for state in parsed.clusters}


def decision(at: dt.datetime, cluster: str = DEV, target: str = NEW) -> Decision:
    return Decision(cluster, "system", "node_image", OLD, target, at, None, "dev", "due")


def arrivals(cluster: str, *at: tuple[str, dt.datetime]) -> list[Reached]:
    seen = [Reached(cluster.lower(), "system", "node_image", OLD, FIRST_SEEN)]
    return seen + [Reached(cluster.lower(), "system", "node_image", t, when) for t, when in at]


def dev_soaked(last: dt.datetime | None) -> dict[GateKey, Tally]:
    """The dev ring's gate for the Ubuntu family: its one member reached NEW at `last`."""
    return {("dev", UBUNTU): Tally(1, {NEW: Arrivals(1, last), OLD: Arrivals(1, None)})}


def rows(
    decisions: list[Decision],
    reached: list[Reached],
    *,
    gates: Mapping[GateKey, Tally] | None = None,
    ours: frozenset[Subject] = frozenset(),
) -> tuple[ShadowRow, ...]:
    return compare(decisions, reached, Facts(clusters(), policy(), gates or {}, ours))


def test_a_decision_and_a_patch_by_aks_show_when_each_happened_and_the_lead() -> None:
    would = utc(2025, 11, 22, 1, 5)

    (row,) = rows([decision(would)], arrivals(DEV, (NEW, IN_WINDOW)))

    assert (row.would_start, row.patched_at, row.patched_by) == (would, IN_WINDOW, "outside")
    assert row.lead == IN_WINDOW - would
    assert row.in_window is True
    # The first ring has no earlier ring to wait for.
    assert (row.soaked_at, row.before_soak) == (None, None)


@pytest.mark.parametrize(
    ("patched", "in_window"),
    [
        pytest.param(IN_WINDOW, True, id="saturday-morning-inside-the-default-window"),
        pytest.param(OUT_OF_WINDOW, False, id="saturday-noon-after-the-window"),
        pytest.param(utc(2025, 12, 27, 3), False, id="in-the-window-but-in-the-year-end-freeze"),
    ],
)
def test_a_real_patch_is_judged_against_the_window_patch_pilot_would_use(
    patched: dt.datetime, in_window: bool
) -> None:
    (row,) = rows([], arrivals(DEV, (NEW, patched)))

    assert (row.would_start, row.patched_at, row.in_window) == (None, patched, in_window)


@pytest.mark.parametrize(
    ("dev_reached", "patched", "soaked_at", "before"),
    [
        pytest.param(None, IN_WINDOW, None, False, id="dev-reached-it-long-ago"),
        pytest.param(
            utc(2025, 11, 21), IN_WINDOW, utc(2025, 11, 23), True, id="one-day-into-a-2-day-soak"
        ),
        pytest.param(
            utc(2025, 11, 19), IN_WINDOW, utc(2025, 11, 21), False, id="after-the-2-day-soak"
        ),
    ],
)
def test_a_later_rings_patch_is_judged_against_the_earlier_rings_soak(
    dev_reached: dt.datetime | None,
    patched: dt.datetime,
    soaked_at: dt.datetime | None,
    before: bool,
) -> None:
    (row,) = rows([], arrivals(STAGING, (NEW, patched)), gates=dev_soaked(dev_reached))

    assert (row.ring, row.soaked_at, row.before_soak) == ("staging", soaked_at, before)


def test_a_release_the_earlier_ring_never_soaked_is_patched_before_its_soak() -> None:
    (row,) = rows([], arrivals(STAGING, (NEW, IN_WINDOW)), gates={})

    assert (row.soaked_at, row.before_soak) == (None, True)


def test_what_a_cluster_ran_when_first_seen_is_not_a_patch() -> None:
    assert rows([], arrivals(DEV)) == ()


def test_a_decision_about_what_was_first_seen_keeps_that_arrival() -> None:
    (row,) = rows([decision(utc(2025, 11, 19), target=OLD)], arrivals(DEV))

    assert row.patched_at == FIRST_SEEN


def test_a_decision_without_a_patch_yet_has_no_verdicts() -> None:
    (row,) = rows([decision(IN_WINDOW)], arrivals(DEV))

    assert (row.patched_at, row.patched_by, row.in_window, row.before_soak) == (
        None,
        None,
        None,
        None,
    )
    assert row.to_json()["lead_hours"] is None


def test_a_release_the_ledger_says_patch_pilot_started_is_not_outside() -> None:
    mine: Subject = (DEV.lower(), "system", "node_image", NEW)
    ours = frozenset({mine})

    (row,) = rows([], arrivals(DEV, (NEW, IN_WINDOW)), ours=ours)

    assert row.patched_by == "patchpilot"


def test_rows_come_in_ring_order() -> None:
    reached = arrivals(STAGING, (NEW, IN_WINDOW)) + arrivals(DEV, (NEW, IN_WINDOW))

    assert [row.ring for row in rows([], reached)] == ["dev", "staging"]


def test_a_decision_reads_back_from_its_stored_form() -> None:
    stored = Decision(
        DEV, None, "kubernetes", "1.32.6", "1.32.9", IN_WINDOW, OUT_OF_WINDOW, "dev", "x"
    )

    assert Decision.from_json(stored.to_json()) == stored
    assert stored.to_json()["would_start"] == "2025-11-22T03:00:00Z"

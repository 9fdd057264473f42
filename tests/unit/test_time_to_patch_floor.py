"""The arithmetic behind `bench/time_to_patch.py`'s `exposure:` line, on hand-made inputs.

Issue 16 judges prod's exposure against a floor (the NodeImage model's median
plus the soaks the rules ask before prod) and counts a release as left
unpatched only once it has been in its region for a month; a wrong sum or a
wrong cut-off would move the goal, not the app, so both are pinned here.
"""

from __future__ import annotations

import datetime as dt

import pytest

from bench.replay_calendar import CANDIDATES, Catalog, generate_policy
from bench.time_to_patch import (
    NEVER_PATCHED_AGE,
    Operation,
    Pool,
    default_selection,
    figures,
    floor_days,
    soak_days_to,
)
from patchpilot.domain.node_images import parse_node_image
from patchpilot.domain.policy import Policy, parse_policy

START = dt.datetime(2025, 7, 1, tzinfo=dt.UTC)
END = START + dt.timedelta(days=90)
OLD = parse_node_image("AKSUbuntu-2204gen2containerd-202506.01.0")
EARLY = parse_node_image("AKSUbuntu-2204gen2containerd-202507.01.0")  # day 0: 90 days in region
LATE = parse_node_image("AKSUbuntu-2204gen2containerd-202509.01.0")  # 29 days before the end


def _policy(soaks: dict[str, int]) -> Policy:
    document = generate_policy()
    for ring in document["rings"]:
        ring["soak_days"] = soaks[ring["name"]]
    return parse_policy(document)


def test_the_soak_to_prod_sums_every_ring_up_to_prod() -> None:
    assert soak_days_to(parse_policy(generate_policy()), "prod") == 0 + 2 + 5
    policy = _policy({"dev": 1, "staging": 3, "prod": 4})
    assert [soak_days_to(policy, ring) for ring in ("dev", "staging", "prod")] == [1, 4, 8]


def test_the_floor_is_the_model_median_plus_the_soak() -> None:
    assert floor_days(4.1, 7) == pytest.approx(11.1)
    assert floor_days(None, 7) is None  # no model sample: no floor, printed as "-"


def test_the_default_selection_is_the_parsers_and_a_candidate_of_the_replay() -> None:
    document = generate_policy()
    assert "selection" not in document["node_images"]
    assert "promotion" not in document
    assert default_selection() == parse_policy(document).node_images.selection
    assert default_selection() in CANDIDATES


def _catalog(late_day: dt.datetime) -> Catalog:
    return Catalog({"westeurope": ((OLD, None), (EARLY, START.date()), (LATE, late_day.date()))})


def _pool(name: str) -> Pool:
    return Pool("/c/" + name, "nodepool1", "Linux", "prod", "westeurope", OLD.family, 3)


def _upgrade(pool: Pool, finished: dt.datetime) -> Operation:
    return Operation(
        pool.cluster, pool.name, pool.os, pool.ring, EARLY,
        START, START, finished - dt.timedelta(hours=1), finished, "succeeded",
    )  # fmt: skip


def test_never_patched_counts_only_releases_in_the_region_a_month_before_the_end() -> None:
    patched, idle = _pool("patched"), _pool("idle")
    late = END - NEVER_PATCHED_AGE + dt.timedelta(days=1)
    result = figures(
        [patched, idle], [_upgrade(patched, START + dt.timedelta(days=9))], _catalog(late), END
    )
    # `open` counts all three unpatched pool-releases; only `idle`'s EARLY is a month old.
    assert result.unpatched[("Linux", "prod")] == 3
    assert result.never_patched[("Linux", "prod")] == 1
    assert result.exposures[("Linux", "prod")] == pytest.approx((9.0,))


def test_a_release_exactly_a_month_old_counts_as_never_patched() -> None:
    idle = _pool("idle")
    result = figures([idle], [], _catalog(END - NEVER_PATCHED_AGE), END)
    assert result.never_patched[("Linux", "prod")] == 2

"""A ring gate region by region (issue 16): it opens once every holder in the regions that
offered the target by then reached it, and a region's later rollout does not close it."""

from __future__ import annotations

import datetime as dt

from patchpilot.domain.gates import Arrivals, Tally
from patchpilot.domain.rollout import opened
from tests.factories import UBUNTU, utc

TARGET = f"{UBUNTU}-202511.20.0"
NEWER = f"{UBUNTU}-202511.27.0"
WEST_DONE = utc(2025, 11, 21)


def gate(east: tuple[int, dt.datetime | None] | None = None) -> Tally:
    """Two holders in westeurope (both reached the target), two in eastus."""
    regions = {"westeurope": (2, WEST_DONE)} | ({"eastus": east} if east else {})
    count = 2 + (east[0] if east else 0)
    last = max(t for t in (WEST_DONE, east[1] if east else None) if t is not None)
    arrivals = Arrivals(count, last, regions=regions)
    return Tally(members=4, reached={TARGET: arrivals}, regions={"westeurope": 2, "eastus": 2})


def test_a_region_that_offers_the_target_after_the_gate_opened_does_not_close_it() -> None:
    offers = {"westeurope": utc(2025, 11, 20), "eastus": utc(2025, 11, 24)}

    assert opened(gate(), UBUNTU, TARGET, offers) == (True, WEST_DONE)


def test_a_region_that_offered_it_before_holds_the_gate_until_its_members_reach_it() -> None:
    offers = {"westeurope": utc(2025, 11, 20), "eastus": utc(2025, 11, 20, 12)}
    east_done = utc(2025, 11, 23)

    assert opened(gate(), UBUNTU, TARGET, offers) == (False, None)
    assert opened(gate((1, east_done)), UBUNTU, TARGET, offers) == (False, None)
    assert opened(gate((2, east_done)), UBUNTU, TARGET, offers) == (True, east_done)


def test_a_region_not_offering_the_target_at_all_does_not_hold_it() -> None:
    assert opened(gate(), UBUNTU, TARGET, {"westeurope": utc(2025, 11, 20)}) == (True, WEST_DONE)


def test_without_region_detail_every_holder_counts_from_the_last_arrival() -> None:
    stored_before = Tally(members=4, reached={TARGET: Arrivals(2, WEST_DONE)})
    offers = {"westeurope": utc(2025, 11, 20)}

    assert opened(stored_before, UBUNTU, TARGET, offers) == (False, None)
    assert opened(gate(), UBUNTU, TARGET, None) == (False, None)  # no catalogs: fleet-wide


def test_members_that_reached_a_newer_image_count_when_asked_so() -> None:
    moved_on = Arrivals(2, WEST_DONE, regions={"westeurope": (2, WEST_DONE)})
    tally = Tally(members=2, reached={NEWER: moved_on}, regions={"westeurope": 2})
    offers = {"westeurope": utc(2025, 11, 20)}

    assert opened(tally, UBUNTU, TARGET, offers) == (False, None)
    assert opened(tally, UBUNTU, TARGET, offers, or_newer=True) == (True, WEST_DONE)


def test_stragglers_alone_do_not_open_a_gate_whose_holders_can_run_the_target() -> None:
    by_stragglers = Arrivals(2, None, late=2, late_last=WEST_DONE)
    tally = Tally(
        members=4, reached={TARGET: by_stragglers}, stragglers=2, regions={"westeurope": 2}
    )

    assert opened(tally, UBUNTU, TARGET, {"westeurope": utc(2025, 11, 20)}) == (False, None)
    assert opened(tally, UBUNTU, TARGET, {}) == (True, WEST_DONE)  # no holder can run it

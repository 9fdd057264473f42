"""Ring gate sums: adding and removing members keeps a sum exact, bounded and storable."""

from __future__ import annotations

import datetime as dt
import json

from hypothesis import given
from hypothesis import strategies as st

from patchpilot.domain.gates import (
    KUBERNETES,
    SHOWN_FAILURES,
    SUM_TARGETS,
    Arrivals,
    Tally,
)

FAMILY = "AKSUbuntu-2204gen2containerd"
BASE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

images = st.integers(1, 90).map(
    lambda n: f"{FAMILY}-2026{(n - 1) // 28 + 1:02d}.{n % 28 + 1:02d}.0"
)
times = st.none() | st.integers(0, 400).map(lambda d: BASE + dt.timedelta(days=d))


@st.composite
def members(draw: st.DrawFn) -> Tally:
    """One cluster's contribution to an image gate: its pools, what each reached."""
    pools = draw(st.integers(1, 3))
    reached: dict[str, Arrivals] = {}
    for target in draw(st.sets(images, max_size=6)):
        reached[target] = Arrivals(draw(st.integers(1, pools)), draw(times))
    failed = draw(st.integers(0, 2))
    name = draw(st.text("abcdef", min_size=1, max_size=4))
    failures = {f"{name}|p{i}|x": f"{name}/p{i} failed x: drain" for i in range(failed)}
    return Tally(pools, reached, {"202601.01.0": pools}, failed, failures)


def summed(tallies: list[Tally]) -> Tally:
    total = Tally()
    for tally in tallies:
        total = total.plus(tally, FAMILY)
    return total


# At most 60 distinct targets: below SUM_TARGETS, so no target is dropped for age here.
@given(st.lists(members(), min_size=1, max_size=10), st.data())
def test_removing_a_member_leaves_the_sum_of_the_others(
    tallies: list[Tally], data: st.DataObject
) -> None:
    gone = data.draw(st.integers(0, len(tallies) - 1))
    rest = tallies[:gone] + tallies[gone + 1 :]
    after = summed(tallies).minus(tallies[gone], FAMILY)
    expected = summed(rest)
    assert after.members == expected.members
    assert after.failed == expected.failed
    assert {t: a.count for t, a in after.reached.items()} == {
        t: a.count for t, a in expected.reached.items()
    }
    assert after.soaked_targets().keys() == expected.soaked_targets().keys()


@given(st.lists(members(), min_size=1, max_size=12))
def test_a_sum_stays_bounded_and_reads_back_as_written(tallies: list[Tally]) -> None:
    total = summed(tallies)
    assert len(total.reached) <= SUM_TARGETS
    assert len(total.failures) <= SHOWN_FAILURES
    assert Tally.from_json(json.loads(json.dumps(total.to_json()))) == total


def test_a_target_is_soaked_only_when_every_member_reached_it_and_shows_its_last_arrival() -> None:
    early, late = BASE, BASE + dt.timedelta(days=3)
    one = Tally(1, {"1.31.2": Arrivals(1, early), "1.31.3": Arrivals(1, early)}, {"1.31.3": 1})
    two = Tally(1, {"1.31.2": Arrivals(1, late)}, {"1.31.2": 1})
    total = one.plus(two, KUBERNETES)
    assert total.soaked_targets() == {"1.31.2": late}
    # The member that arrived last leaves: the arrival time stays (a longer soak, never shorter).
    assert total.minus(two, KUBERNETES).soaked_targets() == {"1.31.2": late, "1.31.3": early}


def test_failures_beyond_the_shown_ones_are_still_counted() -> None:
    many = [
        Tally(1, {}, {}, 1, {f"c{i}||x": f"c{i} failed x: quota"})
        for i in range(SHOWN_FAILURES + 3)
    ]
    lines = summed(many).failure_lines()
    assert len(lines) == SHOWN_FAILURES + 1
    assert lines[-1] == "3 more failed upgrades"

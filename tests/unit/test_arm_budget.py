"""The per-subscription request budget: token arithmetic, held slots, what answers say."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patchpilot.adapters.arm.budget import (
    BucketLimits,
    BudgetLimits,
    RequestBudget,
    retry_after_header,
)
from patchpilot.errors import InvalidInputError
from patchpilot.sim.throttle import AksThrottle, ThrottleGate

SUB = "00000000-0000-0000-0000-000000000000"
OTHER = "11111111-1111-1111-1111-111111111111"
EPOCH = dt.datetime(2025, 11, 22, tzinfo=dt.UTC)


class FakeClock:
    """Seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def budget(burst: float = 3, rate: float = 0.5) -> tuple[RequestBudget, FakeClock]:
    clock = FakeClock()
    limits = BudgetLimits(read=BucketLimits(burst, rate), write=BucketLimits(burst, rate))
    return RequestBudget(limits, clock=clock), clock


def test_a_full_bucket_lets_its_burst_go_at_once_then_one_per_refill() -> None:
    requests, _ = budget(burst=3, rate=0.5)

    waits = [requests.acquire(SUB, "read") for _ in range(5)]

    assert waits == [0.0, 0.0, 0.0, 2.0, 4.0]


def test_a_wait_past_max_wait_takes_no_token() -> None:
    requests, _ = budget(burst=1, rate=0.5)
    requests.acquire(SUB, "read")

    assert requests.acquire(SUB, "read", max_wait=1.0) == 2.0
    assert requests.acquire(SUB, "read", max_wait=1.0) == 2.0  # still the first slot
    assert requests.level(SUB, "read") == 0.0


def test_the_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    requests, clock = budget(burst=3, rate=0.5)
    for _ in range(3):
        requests.acquire(SUB, "read")

    clock.advance(4.0)
    assert requests.level(SUB, "read") == 2.0
    clock.advance(3600.0)
    assert requests.level(SUB, "read") == 3.0


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param((SUB, "read"), (OTHER, "read"), id="another-subscription"),
        pytest.param((SUB, "read"), (SUB, "write"), id="writes-apart-from-reads"),
    ],
)
def test_each_subscription_and_kind_has_its_own_bucket(
    first: tuple[str, str], second: tuple[str, str]
) -> None:
    requests, _ = budget(burst=1, rate=0.5)
    requests.acquire(first[0], first[1])  # type: ignore[arg-type]  # a Kind literal

    assert requests.acquire(second[0], second[1]) == 0.0  # type: ignore[arg-type]


def test_subscription_ids_differing_only_in_case_share_a_bucket() -> None:
    requests, _ = budget(burst=1, rate=0.5)
    requests.acquire(SUB, "read")

    assert requests.acquire(SUB.upper(), "read", max_wait=0) == 2.0


def test_a_held_start_comes_back_at_its_slot_on_the_token_already_taken() -> None:
    requests, clock = budget(burst=1, rate=0.5)
    assert requests.acquire(SUB, "write", hold="start a") == 0.0

    later_b = requests.acquire(SUB, "write", hold="start b")
    later_c = requests.acquire(SUB, "write", hold="start c")
    assert (later_b, later_c) == (2.0, 4.0)  # requeued starts come back spread out
    assert requests.acquire(SUB, "write", hold="start b") == 2.0  # asking again moves nothing

    clock.advance(2.0)
    assert requests.acquire(SUB, "write", hold="start b") == 0.0
    clock.advance(2.0)
    assert requests.acquire(SUB, "write", hold="start c") == 0.0
    assert requests.level(SUB, "write") == 0.0  # three starts, three tokens


def test_a_held_slot_lapses_when_its_start_never_comes_back() -> None:
    requests, clock = budget(burst=1, rate=0.5)
    requests.acquire(SUB, "write", hold="start a")
    requests.acquire(SUB, "write", hold="start b")

    clock.advance(3600.0)

    # The lapsed slot's token is given back (AKS never saw it spent); coming back late
    # is a new request.
    assert requests.acquire(SUB, "write", hold="start b") == 0.0
    assert requests.level(SUB, "write") == 0.0


def test_a_429_empties_the_subscription_until_its_retry_after_for_every_caller() -> None:
    requests, clock = budget(burst=60, rate=1.0)
    requests.acquire(SUB, "read")

    requests.heard(SUB, "read", status=429, headers={}, retry_after=25.0)

    assert requests.acquire(SUB, "read", max_wait=0) == 25.0
    assert requests.acquire(OTHER, "read") == 0.0  # another subscription is not throttled
    clock.advance(25.0)
    assert requests.acquire(SUB, "read") == 0.0  # the retry at Retry-After goes
    assert requests.acquire(SUB, "read") == 1.0  # the next waits for a refill


def test_a_429_never_shortens_a_longer_block() -> None:
    requests, _ = budget(burst=60, rate=1.0)
    requests.heard(SUB, "read", status=429, headers={}, retry_after=30.0)

    requests.heard(SUB, "read", status=429, headers={}, retry_after=5.0)

    assert requests.acquire(SUB, "read", max_wait=0) == pytest.approx(30.0)


@pytest.mark.parametrize(
    ("headers", "level"),
    [
        pytest.param({"x-ms-ratelimit-remaining-subscription-reads": "7"}, 7.0, id="lowers"),
        pytest.param({"x-ms-ratelimit-remaining-subscription-reads": "11999"}, 59.0, id="hourly"),
        pytest.param(
            {
                "x-ms-ratelimit-remaining-subscription-reads": "40",
                "x-ms-ratelimit-remaining-subscription-global-reads": "12",
            },
            12.0,
            id="global-lower",
        ),
        pytest.param({"x-ms-ratelimit-remaining-subscription-writes": "0"}, 59.0, id="other-kind"),
        pytest.param({"x-ms-ratelimit-remaining-subscription-reads": "many"}, 59.0, id="garbled"),
    ],
)
def test_a_remaining_count_below_the_bucket_lowers_it_and_never_raises_it(
    headers: dict[str, str], level: float
) -> None:
    requests, _ = budget(burst=60, rate=1.0)
    requests.acquire(SUB, "read")

    requests.heard(SUB, "read", status=200, headers=headers)

    assert requests.level(SUB, "read") == level


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        pytest.param({"retry-after": "17"}, 17.0, id="seconds"),
        pytest.param({"retry-after-ms": "1500", "retry-after": "2"}, 1.5, id="milliseconds-first"),
        pytest.param({"x-ms-retry-after-ms": "250"}, 0.25, id="ms-header"),
        pytest.param({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, None, id="http-date"),
        pytest.param({"retry-after": "-3"}, None, id="negative"),
        pytest.param({}, None, id="none"),
    ],
)
def test_retry_after_is_read_from_an_answers_headers(
    headers: dict[str, str], seconds: float | None
) -> None:
    assert retry_after_header(headers) == seconds


@pytest.mark.parametrize(
    "limits",
    [
        pytest.param(lambda: BucketLimits(0, 1.0), id="no-burst"),
        pytest.param(lambda: BucketLimits(10, 0.0), id="no-refill"),
    ],
)
def test_limits_that_could_never_let_a_request_through_are_refused(limits: object) -> None:
    with pytest.raises(InvalidInputError):
        limits()  # type: ignore[operator]  # a factory


@settings(max_examples=150, deadline=None)
@given(
    burst=st.integers(min_value=1, max_value=20),
    rate=st.sampled_from([0.1, 0.5, 1.0, 2.0, 7.0]),
    gaps=st.lists(st.floats(min_value=0.0, max_value=5.0), min_size=1, max_size=120),
)
def test_a_caller_that_waits_what_the_budget_says_is_never_throttled_by_the_same_bucket(
    burst: int, rate: float, gaps: list[float]
) -> None:
    # Requests arrive after arbitrary gaps; each goes at `arrival + wait`. The simulator's
    # AKS bucket with the same limits must admit every one of them, in the order they go.
    requests, clock = budget(burst=burst, rate=rate)
    server = ThrottleGate(AksThrottle(read_burst=burst, read_per_second=rate))
    sends = []
    for gap in gaps:
        clock.advance(gap)
        sends.append(clock.now + requests.acquire(SUB, "read"))

    refused = [
        at
        for at in sorted(sends)
        if not server.admit(SUB, "read", EPOCH + dt.timedelta(seconds=at - 1000.0)).admitted
    ]
    assert refused == []


@settings(max_examples=100, deadline=None)
@given(
    burst=st.integers(min_value=1, max_value=20),
    rate=st.sampled_from([0.1, 0.5, 1.0, 2.0]),
    gaps=st.lists(st.floats(min_value=0.0, max_value=5.0), min_size=1, max_size=120),
)
def test_requests_let_through_never_exceed_the_burst_plus_the_refill(
    burst: int, rate: float, gaps: list[float]
) -> None:
    requests, clock = budget(burst=burst, rate=rate)
    start, through = clock.now, 0
    for gap in gaps:
        clock.advance(gap)
        through += requests.acquire(SUB, "read", max_wait=0) == 0.0

    assert through <= burst + rate * (clock.now - start) + 1e-9

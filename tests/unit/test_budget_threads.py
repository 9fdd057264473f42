"""The request budget under concurrency: threads that ask at the same instant, late starts.

Azure runs sync functions on a thread pool, so the reconciles of one batch
ask the one budget of their process at once. Threads here are released by
a barrier onto a fake clock that only the test moves: every thread asks at
the same virtual instant, and no test sleeps.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from patchpilot.adapters.arm.budget import BucketLimits, BudgetLimits, RequestBudget
from patchpilot.sim.throttle import AksThrottle, ThrottleGate

SUB = "00000000-0000-0000-0000-000000000000"
EPOCH = dt.datetime(2025, 11, 22, tzinfo=dt.UTC)
THREADS = 16
T = TypeVar("T")


class FakeClock:
    """Seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def budget(burst: float, rate: float) -> tuple[RequestBudget, FakeClock]:
    clock = FakeClock()
    limits = BudgetLimits(read=BucketLimits(burst, rate), write=BucketLimits(burst, rate))
    return RequestBudget(limits, clock=clock), clock


def at_once(count: int, ask: Callable[[int], T]) -> list[T]:
    """`ask(i)` on `count` threads released together by one barrier; the answers in order."""
    barrier = threading.Barrier(count, timeout=30)

    def racer(index: int) -> T:
        barrier.wait()
        return ask(index)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(racer, range(count)))


def server_refusals(sends: list[float], burst: int, rate: float) -> list[float]:
    """The instants, of requests sent at `sends`, that AKS's bucket of these limits refuses."""
    gate = ThrottleGate(AksThrottle(write_burst=burst, write_per_second=rate))
    return [
        at
        for at in sorted(sends)
        if not gate.admit(SUB, "write", EPOCH + dt.timedelta(seconds=at - 1000.0)).admitted
    ]


def test_threads_asking_at_the_same_instant_each_get_a_slot_of_their_own() -> None:
    requests, clock = budget(burst=4, rate=0.5)

    waits = at_once(THREADS, lambda _: requests.acquire(SUB, "read"))

    # Four go now, the rest one per refill: no slot granted twice, none skipped.
    assert sorted(waits) == [0.0] * 4 + [2.0 * n for n in range(1, THREADS - 3)]
    sends = [clock.now + wait for wait in waits]
    assert server_refusals(sends, burst=4, rate=0.5) == []


def test_threads_racing_for_the_last_token_let_exactly_one_through() -> None:
    requests, _ = budget(burst=1, rate=0.5)

    waits = at_once(THREADS, lambda _: requests.acquire(SUB, "read", max_wait=0))

    assert waits.count(0.0) == 1
    assert all(wait == 2.0 for wait in waits if wait)  # the others took nothing
    assert requests.level(SUB, "read") == 0.0


def test_threads_holding_starts_at_once_come_back_spread_at_the_refill_rate() -> None:
    requests, clock = budget(burst=2, rate=0.2)

    slots = at_once(THREADS, lambda i: requests.acquire(SUB, "write", hold=f"start {i}"))

    assert sorted(slots) == [0.0, 0.0] + [5.0 * n for n in range(1, THREADS - 1)]
    # Each held one comes back at its slot and goes on the token taken for it.
    for index in sorted((i for i in range(THREADS) if slots[i]), key=lambda i: slots[i]):
        clock.now = 1000.0 + slots[index]
        assert requests.acquire(SUB, "write", hold=f"start {index}") == 0.0
    assert requests.level(SUB, "write") == 0.0


def test_a_retry_after_heard_on_one_thread_holds_back_every_thread_asking_after_it() -> None:
    requests, _ = budget(burst=60, rate=1.0)
    requests.heard(SUB, "read", status=429, headers={}, retry_after=30.0)

    waits = at_once(THREADS, lambda _: requests.acquire(SUB, "read"))

    # The retry at Retry-After goes then; every other thread queues behind it, spread.
    assert sorted(waits) == [30.0 + n for n in range(THREADS)]


def test_starts_that_come_back_late_keep_their_tokens_from_requests_asking_after_them() -> None:
    # Eight starts at once against a burst of four: four go, four are held at 5, 10, 15
    # and 20 s. Their messages are fetched late (the worker's threads were busy), at 40 s,
    # when the server's bucket has stopped at its burst: it holds four tokens, not the
    # eight a bucket without a cap would. Two more threads ask then: they must wait.
    burst, rate = 4, 0.2
    requests, clock = budget(burst=burst, rate=rate)
    slots = at_once(8, lambda i: requests.acquire(SUB, "write", hold=f"start {i}"))
    held = [index for index, slot in enumerate(slots) if slot]
    sends = [1000.0] * (8 - len(held))

    clock.now = 1040.0
    back = at_once(len(held), lambda i: requests.acquire(SUB, "write", hold=f"start {held[i]}"))
    assert back == [0.0] * len(held)  # each goes on the token taken for it
    sends += [clock.now] * len(held)
    waits = at_once(2, lambda _: requests.acquire(SUB, "write"))
    sends += [clock.now + wait for wait in waits]

    assert sorted(waits) == [5.0, 10.0]
    assert server_refusals(sends, burst=burst, rate=rate) == []

"""A per-subscription request budget that every ARM call of one process shares.

ARM and the AKS resource provider throttle per subscription, and a ring of
clusters in one subscription makes its requests at the same moments (starts
at a window's opening, follow-ups ten minutes later). Without a shared
budget each call learns of the limit from its own 429 and retries on the
same ``Retry-After`` as every other call: the requests bunch up again.
:class:`RequestBudget` is the one place a process asks "may this request go
now, or how long until it may?" before it sends. The gateway asks before
each attempt; it never sleeps here (the budget only answers; the caller
waits through the retry policy's sleep or requeues), and time is the
injected ``clock`` (seconds, monotonic in production, virtual in tests).

The limits, and where they come from:

- ARM, since 2024 (Microsoft Learn, "Understand how Azure Resource Manager
  throttles requests", request-limits-and-throttling): a token bucket per
  subscription, region and principal; reads 250 tokens refilled 25/s,
  writes 200 refilled 10/s (deletes 200 at 10/s). A 429 carries
  ``Retry-After``; the remaining count comes back in
  ``x-ms-ratelimit-remaining-subscription-reads`` / ``-writes`` (and
  ``-global-reads`` / ``-global-writes`` for the limit over all principals).
- The AKS resource provider throttles on its own, independently of ARM
  (Microsoft Learn, "Troubleshoot the Throttled error code (429)",
  aka.ms/aks/throttling: "The PutManagedClusterHandler.PUT request limit has
  been exceeded for SubID=..., please retry again in X seconds"). Its table
  of buckets, as summarised at rate-limits.apis.io (not checked against the
  Learn page itself): GET operation status burst 200 refill 2/s per
  subscription; PUT managedCluster and PUT agentPool burst 20 refill 1/min
  per resource; "all other AKS APIs" burst 60 refill 1/s per subscription.

:data:`AKS_LIMITS` (the default of :meth:`RequestBudget.for_azure`) takes the
tightest per-subscription figure a kind of request meets: reads and writes
burst 60, refill 1/s. Two buckets are a conservative reading of AKS's
per-operation families (operation status polls get the 1/s of the other
reads, not their own 2/s). Being tighter than AKS costs latency, never a 429.

What the budget learns from answers (:meth:`RequestBudget.heard`): a
``x-ms-ratelimit-remaining-*`` count below what the bucket holds lowers it
(other clients share the subscription; other instances of this app too,
each with its own budget), and a 429's ``Retry-After`` empties the bucket
until then, for every caller of that subscription at once.

Starts are paced with held slots: a start told to wait is not sent; the
caller requeues at the slot the budget kept for it (``hold``, a key of that
start) and, coming back, goes without taking a second token. Successive
refusals get successive slots, so the requeued starts come back spread out
at the refill rate instead of all at the same instant.

A held start can come back late: its message shows at the slot, but the
queue listener fetches it later and the worker's threads may all be busy.
Its token is booked at the slot, yet the server sees nothing then: the
server's bucket holds that token until the start arrives, and a bucket
refills only up to its burst. So, while a slot is past and its start not
back, the budget's bucket refills only to the burst less one per such slot
(the server's bucket is the budget's plus those tokens, capped at the
burst); else a ring of late starts finds the server's bucket full where the
budget counts several tokens more, and meets 429s.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from patchpilot.errors import InvalidInputError

Kind = Literal["read", "write"]
Clock = Callable[[], float]

# How long after its slot a held reservation waits for its caller before it lapses.
HOLD_GRACE_SECONDS: Final = 120.0
# Waits are rounded up to this, so a caller that sleeps exactly the wait is never early.
_RESOLUTION: Final = 0.001
_REMAINING_HEADERS: Final[Mapping[Kind, tuple[str, ...]]] = {
    "read": (
        "x-ms-ratelimit-remaining-subscription-reads",
        "x-ms-ratelimit-remaining-subscription-global-reads",
    ),
    "write": (
        "x-ms-ratelimit-remaining-subscription-writes",
        "x-ms-ratelimit-remaining-subscription-global-writes",
    ),
}


@dataclass(frozen=True)
class BucketLimits:
    """One token bucket: how many requests may go at once, and how fast that refills."""

    burst: float
    refill_per_second: float

    def __post_init__(self) -> None:
        if not self.burst >= 1:
            raise InvalidInputError(f"a bucket's burst must be at least 1, got {self.burst}")
        if not self.refill_per_second > 0:
            raise InvalidInputError(
                f"a bucket's refill_per_second must be above 0, got {self.refill_per_second}"
            )


@dataclass(frozen=True)
class BudgetLimits:
    """The read and write buckets each subscription gets."""

    read: BucketLimits
    write: BucketLimits

    def of(self, kind: Kind) -> BucketLimits:
        """The bucket limits of one kind of request."""
        return self.read if kind == "read" else self.write


ARM_LIMITS: Final = BudgetLimits(read=BucketLimits(250, 25.0), write=BucketLimits(200, 10.0))
AKS_LIMITS: Final = BudgetLimits(read=BucketLimits(60, 1.0), write=BucketLimits(60, 1.0))


@dataclass
class _Bucket:
    """Token arithmetic of one (subscription, kind).

    ``level`` is the tokens held at instant ``stamp``. A request told to wait
    is booked at the instant it will go, so ``stamp`` may lie ahead of now
    (slots promised up to then); after a 429 it lies at the ``Retry-After``'s
    end, before which nothing refills.
    """

    limits: BucketLimits
    level: float
    stamp: float
    held: dict[str, float] = field(default_factory=dict)

    def refill(self, now: float, until: float | None = None) -> None:
        """Refill up to ``until`` (default ``now``, the clock; later: a slot promised)."""
        until = now if until is None else until
        if until > self.stamp:
            gained = (until - self.stamp) * self.limits.refill_per_second
            self.level = min(self.ceiling(now), self.level + gained)
            self.stamp = until

    def ceiling(self, now: float) -> float:
        """The most the bucket may hold: the burst less the slots past by ``now`` and unsent.

        Each such slot's token is spent here but not yet at the server, whose
        bucket stops at the burst. Only the clock says a start is late: slots
        ahead of it are counted as going on time. Counted as of ``now``, when
        the most slots are past, so never above what the server holds.
        """
        late = sum(1 for slot in self.held.values() if slot < now)
        return max(0.0, self.limits.burst - late)

    def wait(self, now: float) -> float:
        """Seconds until one token is free (0: now)."""
        self.refill(now)
        blocked = max(0.0, self.stamp - now)
        short = max(0.0, 1.0 - self.level)
        return _round_up(blocked + short / self.limits.refill_per_second)

    def take(self, now: float, at: float) -> None:
        """Spend a token at ``at`` (now, or the slot a wait promised); the level is as of then."""
        self.refill(now, at)
        self.level -= 1.0

    def lapse(self, now: float) -> None:
        """Forget held slots whose callers never came back, and give their tokens back.

        The server never saw those tokens spent: its bucket is the budget's
        plus them (see :meth:`ceiling`), so the budget's level rises by as
        many, under the ceiling left. A caller that comes back after all is
        a new request and takes a new token.
        """
        # Refilled first, under the ceiling those slots kept until now.
        self.refill(now)
        lapsed = [k for k, slot in self.held.items() if slot + HOLD_GRACE_SECONDS < now]
        for key in lapsed:
            del self.held[key]
        if lapsed:
            self.level = min(self.ceiling(now), self.level + len(lapsed))


class RequestBudget:
    """Read and write token buckets per subscription, shared by the threads of one process."""

    def __init__(self, limits: BudgetLimits = AKS_LIMITS, *, clock: Clock = time.monotonic) -> None:
        self._limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, Kind], _Bucket] = {}

    @classmethod
    def for_azure(cls, *, clock: Clock = time.monotonic) -> RequestBudget:
        """The budget a Function App process uses: AKS's per-subscription limits."""
        return cls(AKS_LIMITS, clock=clock)

    @property
    def limits(self) -> BudgetLimits:
        """The buckets each subscription starts with."""
        return self._limits

    def acquire(
        self,
        subscription: str,
        kind: Kind,
        *,
        hold: str | None = None,
        max_wait: float = math.inf,
    ) -> float:
        """Seconds until this request may go; 0 means now, and its token is taken.

        A wait up to ``max_wait`` reserves the slot: the caller sleeps that
        long and sends without asking again. A longer wait takes nothing, so
        the caller can give up and come back. With ``hold`` the slot is kept
        under that key whatever its wait: the caller comes back at the slot
        with the same key and is let through on the token already taken.
        """
        with self._lock:
            now = self._clock()
            bucket = self._bucket(subscription, kind, now)
            bucket.lapse(now)
            if hold is not None and hold in bucket.held:
                return self._held(bucket, hold, now)
            wait = bucket.wait(now)
            if wait > max_wait and hold is None:
                return wait
            # Booked at the instant it goes, as the server's bucket will count it.
            bucket.take(now, now + wait)
            if hold is not None and wait > 0:
                bucket.held[hold] = now + wait
            return wait

    def heard(
        self,
        subscription: str,
        kind: Kind,
        *,
        status: int,
        headers: Mapping[str, str],
        retry_after: float | None = None,
    ) -> None:
        """What an answer says of the subscription's budget: a remaining count, a 429."""
        with self._lock:
            now = self._clock()
            bucket = self._bucket(subscription, kind, now)
            bucket.refill(now)
            remaining = _remaining(headers, kind)
            if remaining is not None and remaining < bucket.level:
                bucket.level = remaining
            if status == 429:
                # ARM: "If you send a request before the retry value has elapsed, your request
                # isn't processed, and a new retry value is returned": nothing goes before
                # `until`, and then one token is there for the request that retries right then.
                until = now + (retry_after if retry_after is not None else 1.0)
                if until > bucket.stamp:
                    bucket.level = min(bucket.level, 0.0) + 1.0
                    bucket.stamp = until

    def level(self, subscription: str, kind: Kind) -> float:
        """The tokens the bucket holds now, or at the last slot promised; for tests and logs."""
        with self._lock:
            now = self._clock()
            bucket = self._bucket(subscription, kind, now)
            bucket.refill(now)
            return bucket.level

    def _bucket(self, subscription: str, kind: Kind, now: float) -> _Bucket:
        key = (subscription.lower(), kind)
        bucket = self._buckets.get(key)
        if bucket is None:
            limits = self._limits.of(kind)
            bucket = self._buckets[key] = _Bucket(limits, limits.burst, now)
        return bucket

    @staticmethod
    def _held(bucket: _Bucket, hold: str, now: float) -> float:
        """A caller back for its held slot: through once the slot has come, else the rest."""
        slot = bucket.held[hold]
        if now >= slot:
            # The ceiling counted this slot up to now; from now on its token is the server's too.
            bucket.refill(now)
            del bucket.held[hold]
            return 0.0
        return _round_up(slot - now)


def _remaining(headers: Mapping[str, str], kind: Kind) -> float | None:
    """The lowest remaining count ARM reported for this kind (None: no such header)."""
    counts = []
    for name in _REMAINING_HEADERS[kind]:
        value = headers.get(name)
        if value is None:
            continue
        try:
            count = float(str(value).strip())
        except ValueError:
            continue
        if math.isfinite(count) and count >= 0:
            counts.append(count)
    return min(counts, default=None)


def _round_up(seconds: float) -> float:
    if seconds <= 0:
        return 0.0
    return math.ceil(seconds / _RESOLUTION - 1e-9) * _RESOLUTION


def retry_after_header(headers: Mapping[str, str]) -> float | None:
    """An answer's ``Retry-After`` in seconds (its millisecond forms first); None without one.

    Read from the headers themselves: a 202 or an operation status carries it
    as well as a 429 (ARM: "the number of seconds to wait before checking the
    status of the asynchronous operation").
    """
    for name, scale in (("retry-after-ms", 1000.0), ("x-ms-retry-after-ms", 1000.0)):
        seconds = _seconds(headers.get(name), scale)
        if seconds is not None:
            return seconds
    return _seconds(headers.get("retry-after"), 1.0)


def _seconds(value: object, scale: float) -> float | None:
    if value is None:
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None  # an HTTP-date: ARM does not send one
    return number / scale if math.isfinite(number) and number >= 0 else None

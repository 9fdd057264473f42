"""AKS's per-subscription throttle, as the simulator plays it: token buckets on its clock.

The AKS resource provider throttles on its own, after ARM has routed a
request (Microsoft Learn, "Troubleshoot the Throttled error code (429)",
aka.ms/aks/throttling); its buckets are per operation family, per
subscription or per resource. The simulator plays two per subscription, one
for reads (every GET under ``Microsoft.ContainerService``, operation status
included) and one for writes (every PUT and POST), which is what a ring in
one subscription runs into. The defaults (burst 60, refill 1/s) are the
"all other AKS APIs" bucket of AKS's table, the tightest per-subscription
one Patch Pilot's requests meet (see ``patchpilot.adapters.arm.budget``).

A request that finds a token takes it and is answered with the remaining
count in ``x-ms-ratelimit-remaining-subscription-reads`` (or ``-writes``),
as ARM reports it. One that finds none is refused with 429 and a
``Retry-After`` of the whole seconds until a token is back; a refused
request takes no token (ARM: "If you send a request before the retry value
has elapsed, your request isn't processed"). The throttle is off unless a
:class:`~patchpilot.sim.faults.FaultPlan` carries an :class:`AksThrottle`,
so every other test sees the simulator it always saw.

Every arrival is logged (instant, subscription, kind, admitted), so a
benchmark can measure requests per second against the limit.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from dataclasses import dataclass
from typing import Final, Literal

from patchpilot.errors import InvalidInputError

Kind = Literal["read", "write"]
# Timestamps are floats and instants whole microseconds: a token short by less than
# this (0.1 ms at 1 request/s) counts as there.
_TOLERANCE: Final = 1e-4
_REMAINING: Final = {
    "read": "x-ms-ratelimit-remaining-subscription-reads",
    "write": "x-ms-ratelimit-remaining-subscription-writes",
}


@dataclass(frozen=True)
class AksThrottle:
    """The buckets each subscription gets: how many at once, and how fast they refill."""

    read_burst: int = 60
    read_per_second: float = 1.0
    write_burst: int = 60
    write_per_second: float = 1.0

    def __post_init__(self) -> None:
        for name in ("read_burst", "write_burst"):
            if getattr(self, name) < 1:
                raise InvalidInputError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("read_per_second", "write_per_second"):
            if not getattr(self, name) > 0:
                raise InvalidInputError(f"{name} must be above 0, got {getattr(self, name)}")

    def limits(self, kind: Kind) -> tuple[int, float]:
        """(burst, refill per second) of one kind."""
        if kind == "read":
            return self.read_burst, self.read_per_second
        return self.write_burst, self.write_per_second


@dataclass(frozen=True)
class Admission:
    """What the throttle said to one request: through (retry_after 0) or 429, and the headers."""

    retry_after: int
    headers: dict[str, str]

    @property
    def admitted(self) -> bool:
        """Whether the request may reach AKS."""
        return self.retry_after == 0


@dataclass(frozen=True)
class Arrival:
    """One request the throttle saw."""

    at: dt.datetime
    subscription: str
    kind: Kind
    admitted: bool


@dataclass
class _Bucket:
    burst: int
    rate: float
    level: float
    stamp: float

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.level = min(float(self.burst), self.level + (now - self.stamp) * self.rate)
            self.stamp = now


class ThrottleGate:
    """The buckets of every subscription, and the log of what arrived; thread-safe."""

    def __init__(self, plan: AksThrottle) -> None:
        self.plan = plan
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, Kind], _Bucket] = {}
        self._log: list[Arrival] = []

    def admit(self, subscription: str, kind: Kind, now: dt.datetime) -> Admission:
        """Take a token for this request, or say how long until one is back."""
        moment = now.timestamp()
        with self._lock:
            bucket = self._bucket(subscription.lower(), kind, moment)
            bucket.refill(moment)
            admitted = bucket.level >= 1.0 - _TOLERANCE
            if admitted:
                bucket.level = max(0.0, bucket.level - 1.0)
            self._log.append(Arrival(now, subscription.lower(), kind, admitted))
            headers = {_REMAINING[kind]: str(math.floor(bucket.level + _TOLERANCE))}
            if admitted:
                return Admission(0, headers)
            wait = (1.0 - bucket.level) / bucket.rate
            return Admission(max(1, math.ceil(wait - _TOLERANCE)), headers)

    def arrivals(self) -> list[Arrival]:
        """Every request seen so far, in order."""
        with self._lock:
            return list(self._log)

    def _bucket(self, subscription: str, kind: Kind, moment: float) -> _Bucket:
        key = (subscription, kind)
        bucket = self._buckets.get(key)
        if bucket is None:
            burst, rate = self.plan.limits(kind)
            bucket = self._buckets[key] = _Bucket(burst, rate, float(burst), moment)
        return bucket


def throttled_kind(method: str, path: str) -> tuple[str, Kind] | None:
    """(subscription, kind) of a request AKS's throttle counts; None for any other path."""
    lowered = path.lower()
    parts = lowered.split("/")
    if len(parts) < 3 or parts[1] != "subscriptions":
        return None
    if "/providers/microsoft.containerservice/" not in lowered:
        return None
    return parts[2], "read" if method == "GET" else "write"

"""Faults the simulator injects on demand, and the seeded dice that decide each one.

A :class:`FaultPlan` is a frozen value (built in code or parsed from the CLI's
``--faults`` text); the :class:`FaultDice` turns it into a decision per request,
deterministic for a given seed and request order, so a benchmark or a
reliability test can be replayed. Drain failures on a Pod Disruption Budget
and deprecated-API blocks are not per-request dice: the simulated AKS consults
the plan when an upgrade runs or is requested.

Faults tied to the clock are built in code, not parsed: throttle storms
(:class:`Storm`, every request in a span of time answered 429 with a long
``Retry-After``, as at a shared window's end) and pool operations started
outside Patch Pilot (:class:`ExternalStart`, another tool or a person), which
the simulated AKS starts at their instant through the same calls a request
takes. AKS's own per-subscription throttle (:class:`~patchpilot.sim.throttle.AksThrottle`,
token buckets rather than dice) is off unless the plan carries one. The dice
also count what they injected, by kind.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Final, Literal

from patchpilot.errors import InvalidInputError
from patchpilot.sim.throttle import AksThrottle

FaultKind = Literal["throttle", "server_error", "drop", "lost"]
# The ARM operations that start something on a cluster: a lost answer to one of
# these is the case a retried start must survive (`lost_start_rate`).
START_OPERATIONS: Final = frozenset(
    {
        "AgentPools_UpgradeNodeImageVersion",
        "AgentPools_CreateOrUpdate",
        "ManagedClusters_CreateOrUpdate",
    }
)

# Operation statuses whose bodies AKS has been seen to give an error object besides.
STATUS_ERROR_STATES: Final = ("InProgress", "Succeeded")

_SPEC_HELP: Final = (
    "expected comma-separated KEY=VALUE items such as "
    '"429=0.2,500=0.05,drop=0.05,slow=0.1:2.5,pdb=prod-1/win22,seed=7"; keys: '
    "429=RATE[:RETRY_AFTER_SECONDS], 500=RATE, drop=RATE, lost=RATE, lost_start=RATE, "
    "slow=RATE:SECONDS, "
    "pdb=CLUSTER/POOL (repeatable), deprecated=CLUSTER (repeatable), retry_after=SECONDS, seed=N"
)


@dataclass(frozen=True)
class Storm:
    """A throttle storm: in ``[start, end)`` a ``rate`` share of requests get 429.

    Each carries ``Retry-After: retry_after_seconds``. ARM throttles per
    subscription, and a shared window's end is when every tool calls at once.
    """

    start: dt.datetime
    end: dt.datetime
    rate: float = 1.0
    retry_after_seconds: int = 25

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise InvalidInputError(f"a storm ends after it starts, got {self.start}..{self.end}")
        if not 0.0 <= self.rate <= 1.0:
            raise InvalidInputError(f"a storm's rate must be between 0 and 1, got {self.rate}")
        if self.retry_after_seconds < 0:
            raise InvalidInputError(
                "a storm's retry_after_seconds must not be negative, "
                f"got {self.retry_after_seconds}"
            )

    def covers(self, moment: dt.datetime) -> bool:
        """Whether ``moment`` falls inside the storm."""
        return self.start <= moment < self.end


@dataclass(frozen=True)
class ExternalStart:
    """A node image upgrade of (cluster name, pool) that someone else starts at ``at``.

    AKS counts it like any operation; when the cluster is busy at that
    instant, AKS refuses it as it refuses anyone (the simulated AKS records
    the refusal).
    """

    cluster: str
    pool: str
    at: dt.datetime


@dataclass(frozen=True)
class AksWork:
    """Maintenance AKS runs on its own on a cluster (name or ID) from ``start``, for ``hours``.

    AKS Communication Manager announces it 7 days and 24 hours ahead, then
    says it started and completed (or that it was cancelled at
    ``cancelled_at``); :mod:`patchpilot.sim.aks_maintenance` emits the events
    and serves the Resource Graph rows. ``upgrade_type`` is
    ``K8sVersionUpgrade``, ``NodeOSUpgrade`` or None (AKS-initiated work).
    """

    cluster: str
    start: dt.datetime
    hours: float = 4.0
    upgrade_type: str | None = "K8sVersionUpgrade"
    cancelled_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        if self.hours <= 0:
            raise InvalidInputError(f"AKS's work lasts some hours, got {self.hours}")
        if self.cancelled_at is not None and self.cancelled_at >= self.start:
            raise InvalidInputError("AKS cancels announced work before it starts")


@dataclass(frozen=True)
class FaultPlan:
    """Which faults to inject, and how often.

    Rates are shares of all requests (0 to 1); 429, 500, drop and lost are
    exclusive outcomes of one roll, so their sum is at most 1; slowness is
    rolled apart and delays whatever answer follows. A dropped request never
    reaches AKS; a lost one does (an upgrade starts) but its answer never
    reaches the client, the case idempotent retries exist for; ``lost_start_rate``
    is rolled apart, for start calls only (:data:`START_OPERATIONS`), so a seed
    reliably loses the answers to starts. ``storms`` throttle every request in
    their spans; ``external_starts`` are pool operations started outside Patch
    Pilot. ``pdb_failures`` holds (cluster name,
    pool name) pairs whose next upgrade fails draining a node on a Pod
    Disruption Budget; ``deprecated_api`` holds cluster names whose control
    plane minor upgrades AKS refuses with ``UpgradeBlockedOnDeprecatedAPIUsage``
    while the plan is in force. ``aks_throttle``, when set, answers requests to
    the AKS resource provider over its per-subscription buckets with 429.
    ``status_errors`` names the operation statuses (``InProgress``,
    ``Succeeded``) whose status bodies also carry an ``error``
    (``NotLatestOperation``), as AKS's sometimes do (issue 15), so a test can
    check that a client reads ``status`` and not the mere presence of ``error``.
    ``aks_maintenance`` is maintenance AKS announces and runs on its own (:class:`AksWork`).
    """

    throttle_rate: float = 0.0
    retry_after_seconds: int = 1
    server_error_rate: float = 0.0
    drop_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 0.0
    pdb_failures: frozenset[tuple[str, str]] = frozenset()
    deprecated_api: frozenset[str] = frozenset()
    seed: int = 0
    lost_response_rate: float = 0.0
    lost_start_rate: float = 0.0
    storms: tuple[Storm, ...] = ()
    external_starts: tuple[ExternalStart, ...] = ()
    aks_throttle: AksThrottle | None = None
    status_errors: frozenset[str] = frozenset()
    aks_maintenance: tuple[AksWork, ...] = ()

    def __post_init__(self) -> None:
        odd = set(self.status_errors) - set(STATUS_ERROR_STATES)
        if odd:
            raise InvalidInputError(
                f"status_errors holds operation statuses {', '.join(STATUS_ERROR_STATES)}, "
                f"got {', '.join(sorted(odd))}"
            )
        for name in (
            "throttle_rate",
            "server_error_rate",
            "drop_rate",
            "lost_response_rate",
            "lost_start_rate",
            "slow_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InvalidInputError(f"{name} must be between 0 and 1, got {value}")
        exclusive = (
            self.throttle_rate + self.server_error_rate + self.drop_rate + self.lost_response_rate
        )
        if exclusive > 1.0 + 1e-9:
            raise InvalidInputError(
                "429, 500, drop and lost rates are shares of one roll and must add up to "
                f"at most 1, got {exclusive:g}"
            )
        if self.retry_after_seconds < 0:
            raise InvalidInputError(
                f"retry_after_seconds must not be negative, got {self.retry_after_seconds}"
            )
        if self.slow_seconds < 0:
            raise InvalidInputError(f"slow_seconds must not be negative, got {self.slow_seconds}")
        for pair in self.pdb_failures:
            if len(pair) != 2 or not all(isinstance(p, str) and p for p in pair):
                raise InvalidInputError(f"a pdb failure is (cluster name, pool name), got {pair!r}")

    @classmethod
    def parse(cls, spec: str) -> FaultPlan:
        """Read the CLI syntax; an empty spec means no faults."""
        values: dict[str, object] = {}
        pdb: set[tuple[str, str]] = set()
        deprecated: set[str] = set()
        for item in (part.strip() for part in spec.split(",")):
            if not item:
                continue
            key, sep, value = item.partition("=")
            key, value = key.strip().lower(), value.strip()
            if not sep or not value:
                raise InvalidInputError(f"--faults: {item!r} has no value; {_SPEC_HELP}")
            if key == "pdb":
                pdb.add(_pdb_target(item, value))
            elif key == "deprecated":
                deprecated.add(value)
            else:
                values.update(_scalar(item, key, value))
        return cls(pdb_failures=frozenset(pdb), deprecated_api=frozenset(deprecated), **values)  # type: ignore[arg-type]

    def fails_drain(self, cluster: str, pool: str) -> bool:
        """Whether this plan makes the drain of (cluster, pool) fail on a PDB."""
        return any(_same(c, cluster) and p.lower() == pool.lower() for c, p in self.pdb_failures)

    def blocks_on_deprecated_api(self, cluster: str) -> bool:
        """Whether this plan reports recent deprecated API usage on the cluster."""
        return any(_same(c, cluster) for c in self.deprecated_api)

    def storm_at(self, moment: dt.datetime) -> Storm | None:
        """The storm raging at ``moment``, if any (the first listed, when they overlap)."""
        return next((storm for storm in self.storms if storm.covers(moment)), None)


def _same(wanted: str, cluster: str) -> bool:
    """A fault names a cluster by name, or by its full resource ID; ARM compares without case."""
    wanted = wanted.lower()
    return cluster.lower() == wanted or cluster.lower().rsplit("/", 1)[-1] == wanted


def _pdb_target(item: str, value: str) -> tuple[str, str]:
    cluster, slash, pool = value.rpartition("/")
    if not slash or not cluster or not pool:
        raise InvalidInputError(
            f"--faults: {item!r}: pdb takes CLUSTER/POOL, such as pdb=prod-1/win22"
        )
    return cluster, pool


_RATE_KEYS: Final = {
    "500": "server_error_rate",
    "drop": "drop_rate",
    "lost": "lost_response_rate",
    "lost_start": "lost_start_rate",
}
_WHOLE_KEYS: Final = {
    "retry_after": "retry_after_seconds",
    "retry-after": "retry_after_seconds",
    "seed": "seed",
}


def _scalar(item: str, key: str, value: str) -> dict[str, object]:
    """One rate/number item, as FaultPlan keyword arguments."""
    if key in _RATE_KEYS:
        return {_RATE_KEYS[key]: _rate(item, value)}
    if key in _WHOLE_KEYS:
        return {_WHOLE_KEYS[key]: _whole(item, value)}
    if key == "429":
        rate, _, after = value.partition(":")
        parsed: dict[str, object] = {"throttle_rate": _rate(item, rate)}
        if after:
            parsed["retry_after_seconds"] = _whole(item, after)
        return parsed
    if key == "slow":
        rate, colon, seconds = value.partition(":")
        if not colon:
            raise InvalidInputError(
                f"--faults: {item!r}: slow takes RATE:SECONDS, such as slow=0.1:2.5"
            )
        return {"slow_rate": _rate(item, rate), "slow_seconds": _number(item, seconds)}
    raise InvalidInputError(f"--faults: unknown fault {key!r} in {item!r}; {_SPEC_HELP}")


def _number(item: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InvalidInputError(f"--faults: {item!r}: {text!r} is not a number") from None
    if math.isnan(value) or value < 0:
        raise InvalidInputError(f"--faults: {item!r}: {text!r} must be a number of at least 0")
    return value


def _rate(item: str, text: str) -> float:
    value = _number(item, text)
    if value > 1:
        raise InvalidInputError(
            f"--faults: {item!r}: a rate is a share between 0 and 1, got {text}"
        )
    return value


def _whole(item: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise InvalidInputError(f"--faults: {item!r}: {text!r} is not a whole number") from None
    if value < 0:
        raise InvalidInputError(f"--faults: {item!r}: {text!r} must not be negative")
    return value


@dataclass(frozen=True)
class FaultRoll:
    """What happens to one request: an injected failure (or None) and a delay before it.

    ``retry_after_seconds`` is the throttle's ``Retry-After`` (a storm's own,
    else the plan's); ``cause`` names the fault for the counts (``storm``,
    ``lost_start`` or the kind).
    """

    kind: FaultKind | None
    delay_seconds: float
    retry_after_seconds: int = 1
    cause: str | None = None


class FaultDice:
    """Rolls one :class:`FaultRoll` per request from seeded generators.

    The plan's rates share one generator, two draws per request, always, so
    the sequence for a seed does not depend on which rates are zero. Storms
    and lost starts draw from generators of their own (one draw per request
    in a storm, one per start call), so adding them leaves the other faults
    of a seed where they were. Replacing the plan reseeds every generator.
    """

    def __init__(self, plan: FaultPlan) -> None:
        self._lock = threading.Lock()
        self._plan = plan
        self._random, self._storms, self._starts = _generators(plan.seed)
        self._injected: Counter[str] = Counter()

    @property
    def plan(self) -> FaultPlan:
        """The plan in force."""
        with self._lock:
            return self._plan

    def injected(self) -> Counter[str]:
        """Faults injected so far, by cause (``throttle``, ``storm``, ``lost_start``, ``slow``)."""
        with self._lock:
            return Counter(self._injected)

    def replace(self, plan: FaultPlan) -> None:
        """Put a new plan in force, starting its own seeded sequences."""
        with self._lock:
            self._plan = plan
            self._random, self._storms, self._starts = _generators(plan.seed)

    def roll(self, operation: str | None = None, now: dt.datetime | None = None) -> FaultRoll:
        """Decide the fate of the next request (of ARM ``operation``, arriving at ``now``)."""
        with self._lock:
            plan = self._plan
            outcome, slow = self._random.random(), self._random.random()
            storm = plan.storm_at(now) if now is not None else None
            stormy = storm is not None and self._storms.random() < storm.rate
            lost = operation in START_OPERATIONS and self._starts.random() < plan.lost_start_rate
            roll = _decide(plan, outcome, slow, storm if stormy else None, lost)
            if roll.cause is not None:
                self._injected[roll.cause] += 1
            if roll.delay_seconds:
                self._injected["slow"] += 1
            return roll


def _generators(seed: int) -> tuple[random.Random, random.Random, random.Random]:
    # Test dice, not cryptography.
    return (
        random.Random(seed),  # noqa: S311
        random.Random(f"{seed}/storms"),  # noqa: S311
        random.Random(f"{seed}/lost-starts"),  # noqa: S311
    )


def _decide(
    plan: FaultPlan, outcome: float, slow: float, storm: Storm | None, lost_start: bool
) -> FaultRoll:
    """The plan's rates first, then a storm's 429, then a lost answer to a start."""
    delay = plan.slow_seconds if slow < plan.slow_rate else 0.0
    bands: tuple[tuple[FaultKind, float], ...] = (
        ("throttle", plan.throttle_rate),
        ("server_error", plan.server_error_rate),
        ("drop", plan.drop_rate),
        ("lost", plan.lost_response_rate),
    )
    edge = 0.0
    for kind, rate in bands:
        edge += rate
        if outcome < edge:
            return FaultRoll(kind, delay, plan.retry_after_seconds, kind)
    if storm is not None:
        return FaultRoll("throttle", delay, storm.retry_after_seconds, "storm")
    if lost_start:
        return FaultRoll("lost", delay, plan.retry_after_seconds, "lost_start")
    return FaultRoll(None, delay, plan.retry_after_seconds)

"""Patch Pilot's metrics: what was started, how it ended, how far behind the fleet is.

One :class:`Instruments` is built from a meter (the global one in production,
an in-memory one in tests) and held by :class:`~patchpilot.telemetry.Telemetry`.
Names live in the `patchpilot.` namespace with UCUM units; metric attributes
are short (`kind`, `os`, `ring`, `operation`, `status`, `outcome`) so they read
as dimensions in Azure Monitor and Prometheus alike. docs/telemetry.md lists
them all.

"Pools behind" is an observable gauge: the reconcile worker reports, per
cluster, how many of its pools have an upgrade waiting, by (os, ring); the
gauge sums the latest report of every cluster, so a cluster that caught up
brings its series down to zero instead of leaving a stale value behind.
"""

from __future__ import annotations

import datetime as dt
import threading
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Final, Literal

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from patchpilot.domain.history import Kind
from patchpilot.domain.plan import Action

UPGRADES_STARTED: Final = "patchpilot.upgrades.started"
UPGRADES_SUCCEEDED: Final = "patchpilot.upgrades.succeeded"
UPGRADES_FAILED: Final = "patchpilot.upgrades.failed"
PATCH_LAG: Final = "patchpilot.patch.lag"
POOLS_BEHIND: Final = "patchpilot.pools.behind"
ARM_REQUESTS: Final = "patchpilot.arm.requests"
RECONCILE_DURATION: Final = "patchpilot.reconcile.duration"
POISON_MESSAGES: Final = "patchpilot.queue.poison"

# Days: most pools should be patched within a window or two of release; the
# tail (a frozen ring, a paused cluster) runs to weeks.
_LAG_BUCKETS: Final = (0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 14.0, 21.0, 30.0, 45.0, 60.0, 90.0)
# Seconds: one reconcile reads a cluster and may start one operation.
_DURATION_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
_SECONDS_PER_DAY: Final = 86_400.0
UNASSIGNED_RING: Final = "unassigned"

Outcome = Literal["succeeded", "failed"]
# (os, ring) -> pools with an upgrade waiting.
BehindCounts = Mapping[tuple[str, str], int]


class Instruments:
    """Every Patch Pilot metric, created once from one meter (see :func:`instruments_for`)."""

    def __init__(self, meter: Meter) -> None:
        """Create the instruments on `meter`; prefer :func:`instruments_for`, which does it once."""
        self._started = meter.create_counter(
            UPGRADES_STARTED, unit="{upgrade}", description="Upgrades Patch Pilot started."
        )
        self._succeeded = meter.create_counter(
            UPGRADES_SUCCEEDED, unit="{upgrade}", description="Upgrades that finished well."
        )
        self._failed = meter.create_counter(
            UPGRADES_FAILED, unit="{upgrade}", description="Upgrades that failed part way."
        )
        self._lag = meter.create_histogram(
            PATCH_LAG,
            unit="d",
            description="Days from AKS offering a version to a pool running it.",
            explicit_bucket_boundaries_advisory=_LAG_BUCKETS,
        )
        self._arm_requests = meter.create_counter(
            ARM_REQUESTS, unit="{request}", description="ARM requests sent, by answer."
        )
        self._reconcile = meter.create_histogram(
            RECONCILE_DURATION,
            unit="s",
            description="Wall time of one cluster's reconcile.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self._poison = meter.create_counter(
            POISON_MESSAGES, unit="{message}", description="Queue messages given up on."
        )
        self._behind = PoolsBehind()
        meter.create_observable_gauge(
            POOLS_BEHIND,
            callbacks=[self._behind.observe],
            unit="{pool}",
            description="Pools with an upgrade waiting, from each cluster's latest plan.",
        )

    def upgrade_started(self, kind: Kind, os: str) -> None:
        """Count an upgrade that ARM accepted."""
        self._started.add(1, {"kind": kind, "os": os})

    def upgrade_finished(self, kind: Kind, os: str, outcome: Outcome) -> None:
        """Count an upgrade's end, from its NodePoolRolling* event or a status read."""
        counter = self._succeeded if outcome == "succeeded" else self._failed
        counter.add(1, {"kind": kind, "os": os})

    def patched(self, os: str, available_at: dt.datetime, patched_at: dt.datetime) -> None:
        """Record how long a pool waited, from AKS offering the target to the pool running it.

        Both instants come from the caller's clock (virtual in the demo), never
        from a clock read here.
        """
        if available_at.tzinfo is None or patched_at.tzinfo is None:
            raise ValueError("available_at and patched_at must be timezone-aware")
        days = max((patched_at - available_at).total_seconds(), 0.0) / _SECONDS_PER_DAY
        self._lag.record(days, {"os": os})

    def arm_request(self, operation: str, status: int | str) -> None:
        """Count one ARM request: an HTTP status, or `error` when no answer came back."""
        self._arm_requests.add(1, {"operation": operation, "status": str(status)})

    def reconcile_took(self, seconds: float, outcome: str) -> None:
        """Record one reconcile's wall time (`ok` or `error`)."""
        self._reconcile.record(seconds, {"outcome": outcome})

    def poison(self, queue: str) -> None:
        """Count a message moved to the poison queue (its cluster waits for a person)."""
        self._poison.add(1, {"queue": queue})

    def pools_behind(self, cluster: str, counts: BehindCounts) -> None:
        """Replace this cluster's contribution to the pools-behind gauge."""
        self._behind.replace(cluster, counts)


def instruments_for(meter: Meter) -> Instruments:
    """The one :class:`Instruments` of this meter.

    A meter hands back the existing instrument when one is created twice, but
    an observable gauge keeps only its first callback: a second
    :class:`Instruments` would report pools behind into a gauge nobody reads.
    """
    with _CACHE_LOCK:
        instruments = _BY_METER.get(meter)
        if instruments is None:
            instruments = _BY_METER[meter] = Instruments(meter)
        return instruments


_CACHE_LOCK: Final = threading.Lock()
_BY_METER: Final[weakref.WeakKeyDictionary[Meter, Instruments]] = weakref.WeakKeyDictionary()


class PoolsBehind:
    """The latest pools-behind count of every cluster, summed per (os, ring) on observation."""

    def __init__(self) -> None:
        """Start empty: nothing is reported until a cluster has been planned."""
        self._lock = threading.Lock()
        self._by_cluster: dict[str, Counter[tuple[str, str]]] = {}
        self._seen: set[tuple[str, str]] = set()

    def replace(self, cluster: str, counts: BehindCounts) -> None:
        """Keep only this cluster's latest counts; negative counts are a caller's bug."""
        if any(count < 0 for count in counts.values()):
            raise ValueError(f"pools behind cannot be negative: {dict(counts)}")
        with self._lock:
            self._by_cluster[cluster] = Counter(counts)
            self._seen.update(counts)

    def totals(self) -> dict[tuple[str, str], int]:
        """The sum per (os, ring); a pair once reported stays, at zero when caught up."""
        with self._lock:
            total: Counter[tuple[str, str]] = Counter()
            for counts in self._by_cluster.values():
                total.update(counts)
            return {key: total.get(key, 0) for key in sorted(self._seen)}

    def observe(self, _options: CallbackOptions) -> Iterator[Observation]:
        """The gauge's callback, run by the SDK at each collection."""
        for (os, ring), count in self.totals().items():
            yield Observation(count, {"os": os, "ring": ring})


def count_pools_behind(
    actions: Iterable[Action], os_of: Callable[[str, str], str]
) -> dict[str, dict[tuple[str, str], int]]:
    """Per cluster, the pools with a target to reach (due, scheduled or blocked) by (os, ring).

    A pool counts once even with both a Kubernetes and a node image action;
    an action with no target (nothing newer to go to) does not count.
    Control-plane actions (pool None) are not pools. `os_of(cluster, pool)`
    names the pool's OS (`Linux`, `Windows`) from the observed cluster, which
    the plan itself does not carry. A cluster with actions but no pool behind
    maps to an empty dict, so reporting it brings its series to zero.
    """
    pools: dict[str, set[tuple[str, str, str]]] = {}
    for action in actions:
        cluster = str(action.cluster)
        behind = pools.setdefault(cluster, set())
        if action.pool is None or action.target is None:
            continue
        ring = action.ring or UNASSIGNED_RING
        behind.add((action.pool, os_of(cluster, action.pool), ring))
    return {
        cluster: dict(Counter((os, ring) for _pool, os, ring in behind))
        for cluster, behind in pools.items()
    }

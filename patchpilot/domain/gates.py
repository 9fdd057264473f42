"""Ring gates as sums: what a ring's members reached, counted instead of listed.

A later ring may take a target only once every member of the ring before it
reached it with no failure (DESIGN.md, invariants 5 and 7). Deciding that by
reading every member makes each reconcile cost the whole fleet. Instead each
cluster contributes one small :class:`Tally` per gate it belongs to (its
ring, and the subject: Kubernetes, or one node image family), and a gate is
the sum of its members' tallies. Sums can be kept current by adding a
member's new tally and subtracting its old one, so the store keeps them as
members change and a reconcile reads a few rows whatever the fleet's size.

A target is soaked by the gate when as many members reached it as the gate
has members that hold it: members less its stragglers (members whose window
can stay shut longer than the policy allows, :mod:`.promotion`), at least
one. Arrival times only ever move later in a sum (a member that leaves does
not make the last arrival earlier): a soak may run longer than needed, never
shorter. Every tally is bounded (the newest targets, a few
failure messages), so no stored sum can outgrow a Table Storage property.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final, TypeVar

from patchpilot.domain.fleet import ClusterState, RegionCatalog
from patchpilot.domain.history import Failure, Reached
from patchpilot.domain.node_images import parse_node_image
from patchpilot.domain.policy import Policy
from patchpilot.domain.resource_ids import region_key
from patchpilot.domain.versions import KubernetesVersion

# The gate subject of Kubernetes versions; every other subject is a node image family.
KUBERNETES: Final = "kubernetes"
# Targets a member reports: the newest only. A later ring more than this many
# releases behind takes a newer soaked target, which the member also reached.
MEMBER_TARGETS: Final = 16
# Targets a sum keeps, newest first: members differ, but not by dozens of releases.
SUM_TARGETS: Final = 64
# Failure messages a sum shows; the count beyond them is kept exactly.
SHOWN_FAILURES: Final = 5
# Characters of one failure message kept in a tally (AKS errors run to kilobytes).
FAILURE_CHARS: Final = 300

# What a member tally holds; a new one starts a new generation of sums (issue 16 added
# stragglers, late arrivals and holders per region).
TALLY_FORMAT: Final = 2

GateKey = tuple[str, str]
V = TypeVar("V")


@dataclass(frozen=True)
class Arrivals:
    """How many members reached one target, and the last known arrival among them.

    `late` of the `count` are stragglers (:mod:`.promotion`): their arrivals
    are kept apart in `late_last`, so a straggler reaching a target days after
    the members that hold the gate does not restart the later ring's soak.
    """

    count: int
    last: dt.datetime | None = None
    late: int = 0
    late_last: dt.datetime | None = None
    # The holders' part region by region: region key -> (count, last arrival), for the
    # newest targets only (see :mod:`.rollout`).
    regions: Mapping[str, tuple[int, dt.datetime | None]] = field(default_factory=dict)

    @property
    def soak_from(self) -> dt.datetime | None:
        """When the soak of this target starts: the last holder's arrival, else a straggler's."""
        return self.last if self.count > self.late else self.late_last

    def as_late(self) -> Arrivals:
        """The same arrivals, made by stragglers."""
        return Arrivals(self.count, None, self.count, _later(self.last, self.late_last))

    def in_region(self, region: str) -> Arrivals:
        """The same arrivals, all of holders in one region."""
        return replace(self, regions={region: (self.count, self.last)})

    def without_regions(self) -> Arrivals:
        """The same arrivals without the region detail (older targets of a sum)."""
        return replace(self, regions={})


@dataclass(frozen=True)
class Tally:
    """One member's contribution to a gate, or the sum of many."""

    members: int = 0
    reached: Mapping[str, Arrivals] = field(default_factory=dict)
    on: Mapping[str, int] = field(default_factory=dict)
    failed: int = 0
    failures: Mapping[str, str] = field(default_factory=dict)
    # Members that do not hold later rings (see :mod:`patchpilot.domain.promotion`).
    stragglers: int = 0
    # Members that hold the gate, per region key (stragglers are in none).
    regions: Mapping[str, int] = field(default_factory=dict)

    @property
    def needed(self) -> int:
        """How many members must reach a target to soak it: all that hold, at least one."""
        return min(self.members, max(1, self.members - self.stragglers))

    def plus(self, other: Tally, subject: str) -> Tally:
        """The sum of two tallies of one gate."""
        reached = dict(self.reached)
        for target, more in other.reached.items():
            had = reached.get(target)
            reached[target] = more if had is None else _add(had, more)
        failures = dict(self.failures) | dict(other.failures)
        return Tally(
            self.members + other.members,
            _regional_newest(_newest(reached, subject, SUM_TARGETS), subject),
            _counted(self.on, other.on, 1),
            self.failed + other.failed,
            dict(sorted(failures.items())[:SHOWN_FAILURES]),
            self.stragglers + other.stragglers,
            _summed_counts(self.regions, other.regions, 1),
        )

    def minus(self, other: Tally, subject: str) -> Tally:
        """This sum without one member's tally; counts never go below zero."""
        reached: dict[str, Arrivals] = {}
        for target, have in self.reached.items():
            left = _less(have, other.reached.get(target))
            if left is not None:
                reached[target] = left
        failures = {key: text for key, text in self.failures.items() if key not in other.failures}
        return Tally(
            max(self.members - other.members, 0),
            _newest(reached, subject, SUM_TARGETS),
            _counted(self.on, other.on, -1),
            max(self.failed - other.failed, 0),
            failures,
            max(self.stragglers - other.stragglers, 0),
            _summed_counts(self.regions, other.regions, -1),
        )

    def soaked_targets(self) -> dict[str, dt.datetime | None]:
        """Targets enough members reached (:attr:`needed`), fleet-wide, with the last arrival.

        The last arrival among all who reached it (None: long ago), so a soak
        counted from it may run longer than needed, never shorter.
        """
        if self.members == 0:
            return {}
        return {t: a.soak_from for t, a in self.reached.items() if a.count >= self.needed}

    def on_or_past(self, target: str, subject: str) -> int:
        """How many members run `target` or something newer now (stragglers included)."""
        order = release_order(subject)
        floor = order(target)
        return sum(
            count for version, count in self.on.items() if order(_named(version, subject)) >= floor
        )

    def arrived_by(self, target: str, subject: str) -> dt.datetime | None:
        """The last known arrival at `target` or anything newer (None: none known)."""
        order = release_order(subject)
        floor = order(target)
        known = [
            moment
            for t, a in self.reached.items()
            if order(t) >= floor
            for moment in (a.last, a.late_last)
            if moment is not None
        ]
        return max(known, default=None)

    def failure_lines(self) -> tuple[str, ...]:
        """The failures to show: the kept messages, then how many more there were."""
        lines = tuple(sorted(self.failures.values()))
        hidden = self.failed - len(lines)
        return lines + ((f"{hidden} more failed upgrades",) if hidden > 0 else ())

    def to_json(self) -> dict[str, Any]:
        """The stored form: compact keys, UTC ISO 8601 times."""
        return (
            {
                "m": self.members,
                "r": {t: _arrivals_json(a) for t, a in sorted(self.reached.items())},
                "o": dict(sorted(self.on.items())),
                "f": self.failed,
                "fm": dict(sorted(self.failures.items())),
            }
            | ({"s": self.stragglers} if self.stragglers else {})
            | ({"rg": dict(sorted(self.regions.items()))} if self.regions else {})
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Tally:
        """Read the stored form back (written by :meth:`to_json` only)."""
        reached = {str(t): _arrivals_from(entry) for t, entry in data["r"].items()}
        on = {str(k): int(v) for k, v in data["o"].items()}
        failures = {str(k): str(v) for k, v in data["fm"].items()}
        stragglers = int(data.get("s", 0))
        regions = {str(k): int(v) for k, v in data.get("rg", {}).items()}
        return cls(int(data["m"]), reached, on, int(data["f"]), failures, stragglers, regions)


def generation(policy: Policy) -> str:
    """A fingerprint of ring membership: ring names, order and tag matches.

    Sums are kept per generation. A policy that moves clusters between rings
    (or renames one) starts a new, empty generation, which the sweep fills
    from every cluster's own history before any later ring trusts it; soak
    days are read at plan time and do not change membership. So does a new
    :data:`TALLY_FORMAT`: sums of old and new member tallies would mix rules.
    """
    rings = [[ring.name, [list(tag) for tag in ring.tags]] for ring in policy.rings]
    text = json.dumps([TALLY_FORMAT, rings], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def contributions(
    cluster: ClusterState,
    ring: str,
    reached: Iterable[Reached],
    failures: Iterable[Failure],
    region: RegionCatalog,
    *,
    stragglers: frozenset[str] = frozenset(),
) -> dict[GateKey, Tally]:
    """What one cluster adds to each gate of its ring: Kubernetes, and each image family.

    `reached` and `failures` are the cluster's own records. A cluster (or pool)
    counts as having reached what it runs now, from the day its region first
    offered it, when no record says when it got there. In the gates of
    `stragglers` (subjects, :func:`.promotion.straggler_subjects`) every one of
    its members counts as a straggler; elsewhere they hold the gate in the
    cluster's region.
    """
    own = [r for r in reached if r.cluster == cluster.key]
    mine = [f for f in failures if f.cluster == cluster.key]
    gates = {(ring, KUBERNETES): _kubernetes(cluster, own, mine, region)}
    for family in sorted({pool.node_image.family for pool in cluster.pools}):
        gates[(ring, family)] = _images(cluster, family, own, mine, region)
    home = region_key(cluster.location)
    gates = {
        key: replace(
            tally,
            regions={home: tally.members},
            reached={t: a.in_region(home) for t, a in tally.reached.items()},
        )
        for key, tally in gates.items()
    }
    return {
        key: _straggling(tally) if key[1] in stragglers else tally for key, tally in gates.items()
    }


def _straggling(tally: Tally) -> Tally:
    """A member's tally as a straggler's: it counts, but neither holds nor restarts a soak."""
    reached = {target: arrivals.as_late() for target, arrivals in tally.reached.items()}
    return replace(tally, reached=reached, stragglers=tally.members, regions={})


def _kubernetes(
    cluster: ClusterState, own: list[Reached], mine: list[Failure], region: RegionCatalog
) -> Tally:
    times: dict[str, dt.datetime | None] = {
        r.target: r.at for r in own if r.pool is None and r.kind == "kubernetes"
    }
    current = cluster.kubernetes_version
    if all(pool.version == current for pool in cluster.pools):
        times.setdefault(str(current), region.kubernetes_released(current))
    failed = [f for f in mine if f.kind == "kubernetes"]
    return Tally(
        1,
        _newest(_arrivals([times]), KUBERNETES, MEMBER_TARGETS),
        {str(current): 1},
        len(failed),
        _failure_texts(cluster, failed),
    )


def _images(
    cluster: ClusterState,
    family: str,
    own: list[Reached],
    mine: list[Failure],
    region: RegionCatalog,
) -> Tally:
    pools = [pool for pool in cluster.pools if pool.node_image.family == family]
    per_pool = []
    for pool in pools:
        times: dict[str, dt.datetime | None] = {
            r.target: r.at for r in own if r.pool == pool.name and r.kind == "node_image"
        }
        times.setdefault(str(pool.node_image), region.image_released(pool.node_image))
        per_pool.append(dict(_newest_times(times, family, MEMBER_TARGETS)))
    failed = [f for f in mine if f.kind == "node_image" and f.target.startswith(family + "-")]
    on: dict[str, int] = {}
    for pool in pools:
        on[pool.node_image.version] = on.get(pool.node_image.version, 0) + 1
    return Tally(
        len(pools),
        _newest(_arrivals(per_pool), family, SUM_TARGETS),
        on,
        len(failed),
        _failure_texts(cluster, failed),
    )


def _failure_texts(cluster: ClusterState, failed: list[Failure]) -> dict[str, str]:
    texts = {
        f"{f.cluster}|{f.pool or ''}|{f.target}": (
            f"{cluster.id.name}{'/' + f.pool if f.pool else ''} failed {f.target}: "
            f"{_clipped(f.message)}"
        )
        for f in failed
    }
    return dict(sorted(texts.items())[:SHOWN_FAILURES])


def _clipped(message: str) -> str:
    return message if len(message) <= FAILURE_CHARS else message[: FAILURE_CHARS - 1] + "…"


def _arrivals(members: Iterable[Mapping[str, dt.datetime | None]]) -> dict[str, Arrivals]:
    """Per target: how many of these members reached it, and the last known time."""
    found: dict[str, Arrivals] = {}
    for times in members:
        for target, at in times.items():
            had = found.get(target)
            found[target] = Arrivals(1, at) if had is None else _add(had, Arrivals(1, at))
    return found


def _add(one: Arrivals, other: Arrivals) -> Arrivals:
    regions = dict(one.regions)
    for region, (count, last) in other.regions.items():
        had = regions.get(region)
        regions[region] = (count, last) if had is None else (had[0] + count, _later(had[1], last))
    return Arrivals(
        one.count + other.count,
        _later(one.last, other.last),
        one.late + other.late,
        _later(one.late_last, other.late_last),
        regions,
    )


def _less(have: Arrivals, gone: Arrivals | None) -> Arrivals | None:
    """A sum's arrivals at one target without one member's; None when nobody is left."""
    if gone is None:
        return have
    count = have.count - gone.count
    if count <= 0:
        return None
    late = min(max(have.late - gone.late, 0), count)
    regions = {}
    for region, (had, last) in have.regions.items():
        left = had - gone.regions.get(region, (0, None))[0]
        if left > 0:
            regions[region] = (left, last)
    return Arrivals(count, have.last, late, have.late_last, regions)


def _later(one: dt.datetime | None, other: dt.datetime | None) -> dt.datetime | None:
    known = [t for t in (one, other) if t is not None]
    return max(known) if known else None


def _arrivals_json(arrivals: Arrivals) -> list[Any]:
    """`[count, last, late, late_last, {region: [count, last]}]`, the tail only when set."""
    entry: list[Any] = [arrivals.count, _iso(arrivals.last)]
    if arrivals.late or arrivals.regions:
        entry += [arrivals.late, _iso(arrivals.late_last)]
    if arrivals.regions:
        entry.append({r: [n, _iso(at)] for r, (n, at) in sorted(arrivals.regions.items())})
    return entry


def _arrivals_from(entry: list[Any]) -> Arrivals:
    """Read :func:`_arrivals_json` back; older sums have no late part or regions."""
    late = int(entry[2]) if len(entry) > 2 else 0  # the optional late pair
    late_last = _instant(entry[3]) if len(entry) > 3 else None
    regions = entry[4] if len(entry) > 4 else {}
    by_region = {str(r): (int(pair[0]), _instant(pair[1])) for r, pair in regions.items()}
    return Arrivals(int(entry[0]), _instant(entry[1]), late, late_last, by_region)


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.UTC).isoformat() if moment else None


def _regional_newest(reached: Mapping[str, Arrivals], subject: str) -> dict[str, Arrivals]:
    """Region detail for the newest :data:`MEMBER_TARGETS` targets only: a sum stays small."""
    newest = _newest(reached, subject, MEMBER_TARGETS)
    return {t: a if t in newest else a.without_regions() for t, a in reached.items()}


def _summed_counts(base: Mapping[str, int], change: Mapping[str, int], sign: int) -> dict[str, int]:
    """Counts added (sign 1) or taken away (-1), keeping only those above zero."""
    counts = dict(base)
    for key, count in change.items():
        counts[key] = counts.get(key, 0) + sign * count
    return {key: count for key, count in counts.items() if count > 0}


def _counted(base: Mapping[str, int], change: Mapping[str, int], sign: int) -> dict[str, int]:
    kept = _summed_counts(base, change, sign)
    # Only for the summary line: the most common versions, a bounded few.
    return dict(sorted(kept.items(), key=lambda item: (-item[1], item[0]))[:SUM_TARGETS])


def _newest(values: Mapping[str, V], subject: str, limit: int) -> dict[str, V]:
    """The `limit` newest targets in release order (Kubernetes or image order by subject)."""
    if len(values) <= limit:
        return dict(values)
    order = release_order(subject)
    return dict(sorted(values.items(), key=lambda item: order(item[0]), reverse=True)[:limit])


def release_order(subject: str) -> Callable[[str], tuple[int, ...]]:
    """A subject's targets in release order (an unreadable one sorts oldest)."""
    return _kubernetes_order if subject == KUBERNETES else _image_order


def _named(version: str, subject: str) -> str:
    """A target name from an `on` key: image versions are kept without their family."""
    return version if subject == KUBERNETES else f"{subject}-{version}"


def _newest_times(
    times: Mapping[str, dt.datetime | None], subject: str, limit: int
) -> dict[str, dt.datetime | None]:
    return _newest(times, subject, limit)


@functools.lru_cache(maxsize=4096)
def _kubernetes_order(target: str) -> tuple[int, ...]:
    """Release order of a version; an unreadable one sorts oldest."""
    try:
        version = KubernetesVersion.parse(target)
    except ValueError:
        return (-1,)
    return (version.major, version.minor, version.patch)


@functools.lru_cache(maxsize=4096)
def _image_order(target: str) -> tuple[int, ...]:
    """Release order of a node image; an unreadable one sorts oldest."""
    try:
        return parse_node_image(target).sort_key
    except ValueError:
        return (-1,)


def _instant(text: object) -> dt.datetime | None:
    if text is None:
        return None
    moment = dt.datetime.fromisoformat(str(text))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)

"""Shadow mode's evidence: what Patch Pilot would have started, beside what really happened.

With ``PATCHPILOT_MODE=shadow`` the app plans and announces as usual but
makes no ARM write; at the moment it would have sent a start it records a
:class:`Decision` instead (:mod:`patchpilot.service.shadow`). Meanwhile the
clusters go on being patched by AKS's own channels or by people, and every
observation records when a pool reached a target (the store's arrivals).
:func:`compare` lines the two up, one :class:`ShadowRow` per pool (or
control plane), kind and release: when Patch Pilot would have started, when
the pool was really patched and by whom, whether that real patch fell inside
an allowed window (the cluster's own maintenance configuration for the
kind, else the policy's default window, never in a freeze), and whether it
came before the earlier ring had soaked that release (the ring gate's sum:
the last arrival there plus this ring's ``soak_days``). That is the evidence
a platform team reads before it turns writes on.

Pure: no I/O and no clock; the caller passes what the store holds. Called by
:func:`patchpilot.service.shadow.shadow_report`.

What an arrival's time means: the first observation of the pool at the
target (a sweep or a reconcile), so it lags the real end of an upgrade by up
to one sweep interval, and "in a window" judges that instant. The oldest
arrival kept of a pool and kind is, on a cluster Patch Pilot has just met,
only what it ran when first seen, not a patch: it is left out unless a
decision names that release.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from patchpilot.domain.fleet import ClusterState
from patchpilot.domain.gates import KUBERNETES, GateKey, Tally
from patchpilot.domain.history import Kind, Reached
from patchpilot.domain.instants import parse_instant
from patchpilot.domain.node_images import parse_node_image
from patchpilot.domain.plan import iso
from patchpilot.domain.policy import Policy
from patchpilot.domain.promotion import window_schedule
from patchpilot.domain.resource_ids import ascii_key

Patcher = Literal["patchpilot", "outside"]
# (cluster key, pool or None, kind, target): one pool's release.
Subject = tuple[str, str | None, Kind, str]


@dataclass(frozen=True)
class Decision:
    """A start Patch Pilot would have sent: what, and the instant its start guard passed."""

    cluster: str
    pool: str | None
    kind: Kind
    current: str
    target: str
    would_start: dt.datetime
    window_end: dt.datetime | None
    ring: str | None
    reason: str

    @property
    def subject(self) -> Subject:
        """The pool's release this decision is about (by the cluster's key)."""
        return (ascii_key(self.cluster), self.pool, self.kind, self.target)

    def to_json(self) -> dict[str, Any]:
        """The stored form (UTC ISO 8601 times)."""
        return {
            "cluster": self.cluster,
            "pool": self.pool,
            "kind": self.kind,
            "from": self.current,
            "to": self.target,
            "would_start": iso(self.would_start),
            "window_end": iso(self.window_end),
            "ring": self.ring,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Decision:
        """Read the stored form back (written by :meth:`to_json` only)."""
        end = data.get("window_end")
        kind: Kind = "node_image" if data["kind"] == "node_image" else "kubernetes"
        return cls(
            cluster=str(data["cluster"]),
            pool=None if data.get("pool") is None else str(data["pool"]),
            kind=kind,
            current=str(data["from"]),
            target=str(data["to"]),
            would_start=parse_instant(str(data["would_start"]), path="would_start"),
            window_end=parse_instant(str(end), path="window_end") if end else None,
            ring=None if data.get("ring") is None else str(data["ring"]),
            reason=str(data.get("reason", "")),
        )


@dataclass(frozen=True)
class ShadowRow:
    """One pool's release: the shadow decision (if any) beside the real patch (if any)."""

    cluster: str
    pool: str | None
    kind: Kind
    target: str
    ring: str | None
    would_start: dt.datetime | None
    patched_at: dt.datetime | None
    patched_by: Patcher | None
    # Whether the real patch fell inside an allowed window; None: not patched, or no window.
    in_window: bool | None
    # When the earlier ring's soak of the target ended; None: first ring, not soaked, long ago.
    soaked_at: dt.datetime | None
    # Whether the real patch came before that soak ended; None: not patched, or first ring.
    before_soak: bool | None

    @property
    def lead(self) -> dt.timedelta | None:
        """How much earlier Patch Pilot would have started than the real patch (negative: later)."""
        if self.would_start is None or self.patched_at is None:
            return None
        return self.patched_at - self.would_start

    def to_json(self) -> dict[str, Any]:
        """The report's JSON row (times UTC ISO 8601, `lead_hours` rounded to a tenth)."""
        lead = self.lead
        return {
            "cluster": self.cluster,
            "pool": self.pool,
            "kind": self.kind,
            "target": self.target,
            "ring": self.ring,
            "would_start": iso(self.would_start),
            "patched_at": iso(self.patched_at),
            "patched_by": self.patched_by,
            "in_window": self.in_window,
            "soaked_at": iso(self.soaked_at),
            "before_soak": self.before_soak,
            "lead_hours": None if lead is None else round(lead.total_seconds() / 3600, 1),
        }


@dataclass(frozen=True)
class Facts:
    """What a real patch is judged against.

    `clusters` by cluster key (lower case); `gates` the ring gates' stored
    sums; `ours` the releases the ledger says Patch Pilot itself started
    (after writes were turned on): a patch is "outside" when not one of them.
    """

    clusters: Mapping[str, ClusterState]
    policy: Policy
    gates: Mapping[GateKey, Tally]
    ours: Collection[Subject] = frozenset()


def compare(
    decisions: Iterable[Decision], arrivals: Iterable[Reached], facts: Facts
) -> tuple[ShadowRow, ...]:
    """One row per pool release that has a decision or a real patch, in ring order."""
    arrivals = tuple(arrivals)
    decided = {d.subject: d for d in decisions}
    patched = {(ascii_key(r.cluster), r.pool, r.kind, r.target): r.at for r in _patches(arrivals)}
    patched |= {s: at for s, at in _first_sights(arrivals).items() if s in decided}
    rows = [
        _row(subject, decided.get(subject), patched.get(subject), facts)
        for subject in decided.keys() | patched.keys()
    ]
    order = {ring.name: index for index, ring in enumerate(facts.policy.rings)}
    rows.sort(
        key=lambda r: (
            order.get(r.ring or "", len(order)),
            r.cluster,
            r.pool or "",
            r.kind,
            r.target,
        )
    )
    return tuple(rows)


def _row(
    subject: Subject, decision: Decision | None, patched_at: dt.datetime | None, facts: Facts
) -> ShadowRow:
    cluster, pool, kind, target = subject
    policy = facts.policy
    state = facts.clusters.get(cluster)
    ring = policy.ring_of(state.tags) if state is not None else None
    soaked_at, soaked = _soak_end(policy, ring.name if ring else None, facts.gates, kind, target)
    patched = patched_at is not None
    return ShadowRow(
        cluster=decision.cluster if decision else str(state.id) if state else cluster,
        pool=pool,
        kind=kind,
        target=target,
        ring=ring.name if ring else decision.ring if decision else None,
        would_start=decision.would_start if decision else None,
        patched_at=patched_at,
        patched_by=None if not patched else "patchpilot" if subject in facts.ours else "outside",
        in_window=_in_window(state, policy, kind, patched_at) if patched else None,
        soaked_at=soaked_at,
        before_soak=_before(patched_at, soaked_at, soaked),
    )


def _patches(arrivals: Iterable[Reached]) -> list[Reached]:
    """Arrivals less the oldest kept of each pool and kind (what a cluster ran when first seen)."""
    groups: dict[tuple[str, str | None, Kind], list[Reached]] = defaultdict(list)
    for reached in arrivals:
        groups[(ascii_key(reached.cluster), reached.pool, reached.kind)].append(reached)
    return [r for group in groups.values() for r in sorted(group, key=_when)[1:]]


def _first_sights(arrivals: Iterable[Reached]) -> dict[Subject, dt.datetime]:
    """The oldest kept arrival of each pool and kind."""
    first: dict[tuple[str, str | None, Kind], Reached] = {}
    for reached in arrivals:
        group = (ascii_key(reached.cluster), reached.pool, reached.kind)
        if group not in first or _when(reached) < _when(first[group]):
            first[group] = reached
    return {(c, p, k, r.target): r.at for (c, p, k), r in first.items()}


def _when(reached: Reached) -> tuple[dt.datetime, str]:
    return (reached.at, reached.target)


def _in_window(
    state: ClusterState | None, policy: Policy, kind: Kind, moment: dt.datetime | None
) -> bool | None:
    """Inside the window Patch Pilot would have used, and outside every freeze."""
    if state is None or moment is None:
        return None
    schedule, _ = window_schedule(state, policy, kind)
    if schedule is None:
        return None
    if any(span.contains(moment) for span in policy.freeze_spans):
        return False
    return schedule.contains(moment)


def _soak_end(
    policy: Policy, ring: str | None, gates: Mapping[GateKey, Tally], kind: Kind, target: str
) -> tuple[dt.datetime | None, bool | None]:
    """When the earlier ring's soak of `target` ended, and whether it soaked it at all.

    A first ring (or no ring) has no earlier ring: (None, None). A soak whose
    start the gate does not know (an arrival long ago) ended long ago.
    """
    current = next((r for r in policy.rings if r.name == ring), None)
    earlier = policy.ring_before(current) if current is not None else None
    if current is None or earlier is None:
        return None, None
    subject = KUBERNETES if kind == "kubernetes" else parse_node_image(target).family
    tally = gates.get((earlier.name, subject))
    soaked = tally.soaked_targets() if tally is not None else {}
    if target not in soaked:
        return None, False
    since = soaked[target]
    return (None if since is None else since + dt.timedelta(days=current.soak_days)), True


def _before(
    patched_at: dt.datetime | None, soaked_at: dt.datetime | None, soaked: bool | None
) -> bool | None:
    """Whether a real patch came before the earlier ring had soaked its release."""
    if patched_at is None or soaked is None:
        return None
    if not soaked:
        return True
    return soaked_at is not None and patched_at < soaked_at

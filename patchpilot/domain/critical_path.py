"""The critical path: per ring and gate subject, what the ring waits for and when it can move.

A later ring takes a target once the ring before it soaked it (DESIGN.md,
invariants 5 and 7), and prod takes it once every first-ring member ran it
for the canary days. So the day a ring can move is set by the *last* holder
of the earlier ring to reach the target, in that holder's next allowed
window, plus the soak; and that holder may itself wait for the ring before
it. The planner already found each pool's next allowed window; this module
reads the plan ring by ring, follows that chain, names the clusters whose
windows are on it, and asks the same window search (``allowed_piece``) when
the ring could move if each of them had a window at least weekly.

It is an estimate under stated assumptions, said in the README: every window
on the path is used, every upgrade succeeds and lands when it starts, and
the target is offered in every region (the regional gate can only open a
ring sooner). A holder blocked with no set end (a pause, a failure, a hold,
an operation in progress) leaves the earliest start unknown, and the path
names that block.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from patchpilot.domain.aks_maintenance import blackouts
from patchpilot.domain.blocks import AKS_MANAGED
from patchpilot.domain.fleet import ClusterState, FleetState
from patchpilot.domain.gates import KUBERNETES
from patchpilot.domain.history import Kind
from patchpilot.domain.plan import Action, OnPath, Plan, RingPath
from patchpilot.domain.planner import allowed_piece
from patchpilot.domain.policy import Policy, Ring
from patchpilot.domain.promotion import (
    day_start,
    longest_gap,
    straggler_subjects,
    window_schedule,
)
from patchpilot.domain.schedule import DAYS, MaintenanceWindow, Schedule, Weekly

WEEK = dt.timedelta(days=7)


def with_paths(result: Plan, fleet: FleetState, policy: Policy) -> Plan:
    """The plan with its critical path: one entry per ring and subject with work pending."""
    return replace(result, paths=critical_path(result, fleet, policy))


def critical_path(result: Plan, fleet: FleetState, policy: Policy) -> tuple[RingPath, ...]:
    """Per ring (in rollout order) and subject, what the ring waits for; see the module doc."""
    book = _Book(result, fleet, policy)
    paths = []
    for ring in policy.rings:
        for subject in book.subjects(ring):
            paths.append(book.path(ring, subject))
    return tuple(paths)


@dataclass(frozen=True)
class _Unit:
    """One thing a gate counts: a cluster's control plane, or one of its pools."""

    cluster: ClusterState
    ring: Ring
    subject: str
    action: Action | None
    straggler: bool

    @property
    def kind(self) -> Kind:
        """The kind of upgrade that moves this unit: its window is that kind's."""
        return "kubernetes" if self.subject == KUBERNETES else "node_image"


@dataclass(frozen=True)
class _Reach:
    """When a unit reaches its target, and the clusters whose windows decided it."""

    at: dt.datetime | None
    path: tuple[OnPath, ...] = ()
    blocked: str | None = None


class _Book:
    """One plan's units by ring and subject, and the chain estimates memoised."""

    def __init__(self, result: Plan, fleet: FleetState, policy: Policy) -> None:
        self.policy = policy
        self.now = result.at
        self.units: dict[tuple[str, str], list[_Unit]] = {}
        actions = {(a.cluster.key, a.pool, a.kind): a for a in result.actions}
        for cluster in fleet.clusters:
            ring = policy.ring_of(cluster.tags)
            if ring is not None:
                self._index(cluster, ring, actions)
        self._opens: dict[tuple[str, str, frozenset[str]], _Reach] = {}

    def _index(
        self,
        cluster: ClusterState,
        ring: Ring,
        actions: dict[tuple[str, str | None, Kind], Action],
    ) -> None:
        name = cluster.key
        stragglers = straggler_subjects(cluster, self.policy, self.now)
        control = actions.get((name, None, "kubernetes"))
        self._add(_Unit(cluster, ring, KUBERNETES, control, KUBERNETES in stragglers))
        for pool in cluster.pools:
            family = pool.node_image.family
            action = actions.get((name, pool.name, "node_image"))
            self._add(_Unit(cluster, ring, family, action, family in stragglers))

    def _add(self, unit: _Unit) -> None:
        self.units.setdefault((unit.ring.name, unit.subject), []).append(unit)

    def subjects(self, ring: Ring) -> list[str]:
        """The subjects on which this ring has an upgrade pending, in a stable order."""
        pending = {
            subject
            for (name, subject), units in self.units.items()
            if name == ring.name and any(_ours(unit.action) for unit in units)
        }
        return sorted(pending, key=lambda subject: (subject != KUBERNETES, subject))

    def path(self, ring: Ring, subject: str) -> RingPath:
        """The ring's entry: its first start, what sets it, and the weekly-window counterfactual."""
        pending = [u for u in self.units[(ring.name, subject)] if _ours(u.action)]
        reaches = [(self._reach(unit, frozenset()), unit) for unit in pending]
        timed = [(reach, unit) for reach, unit in reaches if reach.at is not None]
        if not timed:
            reason = reaches[0][0].blocked or "nothing"
            return RingPath(ring.name, subject, len(pending), reason, None)
        first, unit = min(timed, key=lambda pair: _sortable(pair[0].at))
        assert first.at is not None
        waits_for = _waits_for(unit)
        saves = self._weekly_saving(unit, first) if first.path else None
        return RingPath(ring.name, subject, len(pending), waits_for, first.at, first.path, saves)

    def _weekly_saving(self, unit: _Unit, first: _Reach) -> float | None:
        """Days the ring's first start would gain with a weekly window on every cluster on path."""
        weekly = frozenset(step.cluster for step in first.path)
        sooner = self._reach(unit, weekly)
        if sooner.at is None or first.at is None:
            return None
        return round(max((first.at - sooner.at) / dt.timedelta(days=1), 0.0), 1)

    def _reach(self, unit: _Unit, weekly: frozenset[str]) -> _Reach:
        """When the unit reaches its target (now when nothing is pending for it)."""
        action = unit.action
        if action is None or action.status == "due":
            return _Reach(self.now)
        if action.status == "scheduled":
            return self._scheduled(unit, action, weekly)
        if not _ours(action):
            return self._in_window(unit, self.now, weekly, ())
        if action.waits_on is None:
            return _Reach(None, blocked=f"{_name(unit)}: {action.reason}")
        gate = self._opens_for(unit.ring, unit.subject, weekly)
        if gate.at is None:
            return gate
        return self._in_window(unit, gate.at, weekly, gate.path)

    def _scheduled(self, unit: _Unit, action: Action, weekly: frozenset[str]) -> _Reach:
        """A scheduled unit starts as planned, or in the first weekly window its gates allow."""
        if str(unit.cluster.id) not in weekly:
            assert action.not_before is not None
            return _Reach(action.not_before)
        lower = max(self.now, action.allowed_from or self.now)
        return self._in_window(unit, lower, weekly, ())

    def _in_window(
        self, unit: _Unit, lower: dt.datetime, weekly: frozenset[str], path: tuple[OnPath, ...]
    ) -> _Reach:
        """The unit's first allowed start at or after `lower`, through its (or a weekly) window."""
        schedule, name = window_schedule(unit.cluster, self.policy, unit.kind)
        if schedule is None:
            return _Reach(lower, path)
        if str(unit.cluster.id) in weekly:
            schedule, name = _at_least_weekly(schedule, self.now), f"a weekly {name}"
        # AKS's own announced work on the cluster closes its window as the planner's does.
        aks = blackouts(unit.cluster.aks_maintenance, unit.cluster.maintenance, self.now)
        closed = self.policy.freeze_spans + tuple(b.span for b in aks)
        piece = allowed_piece(schedule, closed, lower)
        if piece is None:
            return _Reach(None, path, f"{_name(unit)}: no allowed {name} window ahead")
        return _Reach(max(piece.start, lower), path)

    def _opens_for(self, ring: Ring, subject: str, weekly: frozenset[str]) -> _Reach:
        """When `ring` may take the target: the earlier ring soaked it (and the canary ran)."""
        key = (ring.name, subject, weekly)
        if key not in self._opens:
            self._opens[key] = self._gate(ring, subject, weekly)
        return self._opens[key]

    def _gate(self, ring: Ring, subject: str, weekly: frozenset[str]) -> _Reach:
        rings = self.policy.rings
        earlier = rings[rings.index(ring) - 1]
        holders = [u for u in self.units.get((earlier.name, subject), []) if not u.straggler]
        gates = [(self._last(holders, weekly), dt.timedelta(days=ring.soak_days))]
        canary = self.policy.promotion.canary_days
        first = self.policy.first_ring
        if canary is not None and earlier != first and ring == rings[-1]:
            members = self.units.get((first.name, subject), [])
            days = max(canary, first.soak_days)
            gates.append((self._last(members, weekly), dt.timedelta(days=days)))
        opens = _Reach(self.now)
        for last, soak in gates:
            if last.at is None:
                return last
            moment = last.at + soak
            if moment > _sortable(opens.at):
                opens = _Reach(moment, last.path)
        return opens

    def _last(self, holders: list[_Unit], weekly: frozenset[str]) -> _Reach:
        """The last holder to reach the target: its moment, and the path through it."""
        last = _Reach(self.now)
        for unit in holders:
            reach = self._reach(unit, weekly)
            if reach.at is None:
                return reach
            if unit.action is not None and reach.at > _sortable(last.at):
                window = _window_name(unit, self.policy)
                target = unit.action.target
                step = OnPath(str(unit.cluster.id), unit.ring.name, window, target, reach.at)
                last = _Reach(reach.at, (*reach.path, step))
        return last


def _at_least_weekly(schedule: Schedule, now: dt.datetime) -> Schedule:
    """The schedule itself when it opens at least weekly, else weekly on its own day and hour.

    Only the ``maintenanceWindow`` form can be rewritten; a ``timeInWeek``
    schedule is weekly by construction.
    """
    gap = longest_gap(schedule, day_start(now))
    if not isinstance(schedule, MaintenanceWindow) or (gap is not None and gap <= WEEK):
        return schedule
    upcoming = next(iter(schedule.iter_windows(now)), None)
    day = upcoming.start.astimezone(schedule.zone) if upcoming else now
    weekday = DAYS[(day.weekday() + 1) % 7]
    return replace(schedule, schedule=Weekly(1, weekday), start_date=None)


def _ours(action: Action | None) -> bool:
    """A pending upgrade Patch Pilot would start (not one AKS's own channel manages)."""
    return action is not None and not action.reason.startswith(f"blocked: {AKS_MANAGED}")


def _waits_for(unit: _Unit) -> str:
    """What the ring's first start waits for, in words, from the action that sets it."""
    action = unit.action
    assert action is not None
    if action.status == "due":
        return "nothing (due now)"
    if action.waits_on is not None:
        reason = action.reason.removeprefix("blocked: ")
        return reason.removeprefix(f"ring {unit.ring.name} waits for ")
    wait = action.reason.partition("waits for ")[2].partition(", then")[0]
    return wait or f"its own window ({_name(unit)})"


def _window_name(unit: _Unit, policy: Policy) -> str:
    return window_schedule(unit.cluster, policy, unit.kind)[1]


def _name(unit: _Unit) -> str:
    return unit.cluster.id.name


def _sortable(moment: dt.datetime | None) -> dt.datetime:
    return moment if moment is not None else dt.datetime.min.replace(tzinfo=dt.UTC)

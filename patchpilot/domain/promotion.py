"""Who holds a later ring back: stragglers, and the windows that set a ring's pace.

A later ring takes a target once the ring before it soaked it (DESIGN.md,
invariants 5 and 7). Counting every member of the earlier ring lets one
cluster whose maintenance window opens once a month set the pace of every
ring after it: AKS ships Linux node images about weekly ("Upgrade Azure
Kubernetes Service (AKS) node images", Microsoft Learn), so such a cluster
is always a release behind. With the policy's ``promotion.stragglers:
release`` (the default), a member whose window for a subject can stay shut
longer than ``straggler_gap_days`` is a *straggler* for that subject: it
still upgrades in its own windows and its failures still stop the rings
after it, but the gate no longer waits for it (``gates.Tally.needed``), and
the planner names it in a ``slow_ring_gate`` finding.

The first ring is not released this way: a later ring takes a target only
once every first-ring member runs it (the canary check, in the planner), so
nothing reaches prod before every dev pool.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
from typing import Final

from patchpilot.domain.fleet import KUBERNETES_SCHEDULE, NODE_OS_SCHEDULE, ClusterState
from patchpilot.domain.gates import KUBERNETES
from patchpilot.domain.history import Kind
from patchpilot.domain.policy import Policy
from patchpilot.domain.schedule import Schedule

# How far ahead a window's gaps are measured: two months sees a monthly window twice.
GAP_SPAN: Final = dt.timedelta(days=63)


def window_schedule(
    cluster: ClusterState, policy: Policy, kind: Kind
) -> tuple[Schedule | None, str]:
    """The schedule an upgrade of this kind waits for, and what it is called.

    The cluster's own AKS maintenance configuration for the kind, else the
    policy's ``default_window``; None when there is neither.
    """
    name = KUBERNETES_SCHEDULE if kind == "kubernetes" else NODE_OS_SCHEDULE
    if name in cluster.maintenance:
        return cluster.maintenance[name], name
    return policy.default_window, (
        name if policy.default_window is None else "the policy's default_window"
    )


def straggler_subjects(cluster: ClusterState, policy: Policy, now: dt.datetime) -> frozenset[str]:
    """The gate subjects (Kubernetes, image families) this cluster does not hold back.

    Empty when the policy makes every member hold, or for a cluster of the
    first ring (its members always hold: the canary check counts them all).
    """
    rules = policy.promotion
    ring = policy.ring_of(cluster.tags)
    if rules.stragglers == "hold" or ring is None or ring == policy.first_ring:
        return frozenset()
    since = day_start(now)
    subjects: set[str] = set()
    if _straggles(window_schedule(cluster, policy, "kubernetes")[0], since, rules.straggler_gap):
        subjects.add(KUBERNETES)
    if _straggles(window_schedule(cluster, policy, "node_image")[0], since, rules.straggler_gap):
        subjects |= {pool.node_image.family for pool in cluster.pools}
    return frozenset(subjects)


def _straggles(schedule: Schedule | None, since: dt.datetime, limit: dt.timedelta) -> bool:
    """A window that never opens, or can stay shut longer than `limit`.

    Without any window Patch Pilot may start at any time, so nothing waits;
    a configuration Patch Pilot cannot read opens no window, so it straggles.
    """
    if schedule is None:
        return False
    if schedule.unusable:
        return True
    gap = longest_gap(schedule, since)
    return gap is None or gap > limit


def day_start(now: dt.datetime) -> dt.datetime:
    """Midnight UTC of `now`'s day: gaps measured from it are the same all day (and memoised)."""
    return now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@functools.lru_cache(maxsize=4096)
def longest_gap(schedule: Schedule, since: dt.datetime) -> dt.timedelta | None:
    """The longest stretch without a window opening in the :data:`GAP_SPAN` after `since`.

    None when no window opens at all. Memoised per schedule and day: a fleet
    shares a handful of schedules.
    """
    end = since + GAP_SPAN
    opens = []
    for window in schedule.iter_windows(since):
        if window.start > end:
            break
        opens.append(max(window.start, since))
    if not opens:
        return None
    moments = [since, *opens, end]
    return max(later - earlier for earlier, later in itertools.pairwise(moments))

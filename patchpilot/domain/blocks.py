"""The table of what may hold a start back: one small block per gate, in precedence order.

The planner (:mod:`.planner`) drafts each candidate upgrade (what, to which
target, which time gates, and any version or ring rule that forbids it),
then asks :data:`BLOCKS` top to bottom: the first block that speaks says
why the action is blocked, word for word what a person reads after
``blocked:``. Only when every block is silent does the window search run
(the planner's ``allowed_piece``), which can still find no allowed window
within its horizon.

The order is the precedence, so it is written once, as data, and tested as
a list of names (``tests/unit/test_blocks.py``). Adding a gate is one
function here and one entry in the tuple. The shape follows kopf's
lifecycles (``kopf/_core/actions/lifecycles.py``): plain functions of one
signature, chosen by data, no framework.

Not here: the ring gates as sums (:mod:`.gates`, which feed the draft's own
block), and what only moves a start later without blocking it, the
policy's freezes and AKS's announced maintenance spans (the window search
subtracts them; their spans end, and the plan says when Patch Pilot goes on).

Pure: time is the candidate's ``now``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from patchpilot.domain.alerts import alert_rule_of
from patchpilot.domain.fleet import ClusterState
from patchpilot.domain.history import History, InFlight, Kind
from patchpilot.domain.plan import iso
from patchpilot.domain.policy import Policy, Ring
from patchpilot.domain.schedule import Schedule

# How every "AKS's own channel manages this" block begins (it outranks every other reason).
AKS_MANAGED: Final = "managed by AKS"


@dataclass(frozen=True)
class Candidate:
    """One drafted upgrade, and what the blocks read to decide whether it may start."""

    cluster: ClusterState
    ring: Ring
    pool: str | None
    kind: Kind
    current: str
    target: str | None
    # What drafting found against it (a version, ring or AKS channel rule), if anything.
    drafted: str | None
    # The window it waits for (None: neither the cluster nor the policy has one), by name.
    schedule: Schedule | None
    schedule_name: str
    policy: Policy
    history: History
    now: dt.datetime


Block = Callable[[Candidate], str | None]


def aks_channel(candidate: Candidate) -> str | None:
    """AKS's own auto-upgrade or node OS channel manages this kind: Patch Pilot never acts."""
    drafted = candidate.drafted
    return drafted if drafted is not None and drafted.startswith(AKS_MANAGED) else None


def firing_alert(candidate: Candidate) -> str | None:
    """The first alert (a pause an alert made) in force over this cluster, said so."""
    key, ring = candidate.cluster.key, candidate.ring.name
    for pause in candidate.history.pauses:
        alert = alert_rule_of(pause.by)
        if alert is not None and pause.covers(key, ring, candidate.now):
            return f"alert {alert} firing ({pause.scope} paused): {pause.reason}"
    return None


def drafted(candidate: Candidate) -> str | None:
    """A version or ring rule drafting found (skew, skip, soak, canary, not offered)."""
    # An empty reason is no reason: drafting says "nothing" as None or "" alike.
    return candidate.drafted or None


def policy_hold(candidate: Candidate) -> str | None:
    """The policy holds this cluster, pool or kind at what it runs now."""
    c = candidate
    hold = c.policy.hold_on(c.cluster.id, c.pool, c.kind, c.now)
    if hold is None:
        return None
    until = f" until {hold.until.isoformat()}" if hold.until else ""
    return f"held by policy at {c.current}{until}: {hold.reason}"


def pause(candidate: Candidate) -> str | None:
    """The first pause (of the fleet, the ring or the cluster) in force at `now`."""
    key, ring = candidate.cluster.key, candidate.ring.name
    for stop in candidate.history.pauses:
        if stop.covers(key, ring, candidate.now):
            until = f" until {iso(stop.until)}" if stop.until else ""
            return f"{stop.scope} paused by {stop.by}{until}: {stop.reason}"
    return None


def last_failure(candidate: Candidate) -> str | None:
    """The same upgrade (subject and target) failed and no operator cleared it."""
    c = candidate
    subject = (c.cluster.key, c.pool, c.kind, c.target)
    for failure in c.history.failures:
        if (failure.cluster, failure.pool, failure.kind, failure.target) == subject:
            return f"the last attempt failed at {iso(failure.at)}: {failure.message}"
    return None


def in_flight(candidate: Candidate) -> str | None:
    """Something runs on the cluster (AKS runs one operation per cluster at a time)."""
    return running_on(candidate.cluster, candidate.history.in_flight)


def not_ready(candidate: Candidate) -> str | None:
    """AKS does not report the cluster Succeeded (Failed, Canceled, ...)."""
    state = candidate.cluster.provisioning_state
    if state != "Succeeded":
        return f"cluster is {state}; waits until AKS reports Succeeded"
    return None


def no_window(candidate: Candidate) -> str | None:
    """No maintenance window to start in, or one AKS holds that cannot be read."""
    schedule = candidate.schedule
    if schedule is None:
        return (
            f"no maintenance window (the cluster has no {candidate.schedule_name} "
            "and the policy no default_window)"
        )
    return schedule.unusable


# The precedence, top first: the first block that speaks is the reason.
BLOCKS: Final[tuple[Block, ...]] = (
    # Invariant: never fight AKS. Where AKS's channel owns the kind, nothing else matters.
    aks_channel,
    # A firing alert is news: it outranks every other reason, so the plan shows it.
    firing_alert,
    # The draft's own rule (ring gate, skew, skip): lifting a pause would not lift it.
    drafted,
    # A policy hold is a standing decision in the file, so it reads before a pause.
    policy_hold,
    # An operator's stop of the fleet, ring or cluster, until lifted or expired.
    pause,
    # Do not retry what failed until a person looked (invariant: fail closed).
    last_failure,
    # One operation per cluster: wait for the running one (it may also end not ready).
    in_flight,
    # A settled but unhealthy cluster waits for AKS to report Succeeded.
    not_ready,
    # Last, as it needs only the policy: without a window there is nowhere to start.
    no_window,
)


def first_block(candidate: Candidate) -> str | None:
    """What holds the candidate back: the first block in :data:`BLOCKS` that speaks."""
    for block in BLOCKS:
        reason = block(candidate)
        if reason is not None:
            return reason
    return None


def running_on(cluster: ClusterState, in_flight: tuple[InFlight, ...]) -> str | None:
    """What runs on the cluster, by the ledger or by AKS (any pool counts), or None.

    The one busy check of the planner, the reconcile and the operator API. A
    Failed or Canceled cluster runs nothing: it waits for an operator.
    """
    for op in in_flight:
        if op.cluster == cluster.key:
            what = f"{op.kind} upgrade of {op.pool or 'the control plane'} to {op.target}"
            return f"{what} in progress since {iso(op.started_at)}"
    running = cluster.running()
    if running is not None:
        return f"{running}: an operation runs there; nothing starts until AKS reports it ended"
    return None

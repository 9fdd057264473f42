"""Which of Patch Pilot's starts AKS's own announced maintenance moved, and from where to where.

The scenario has AKS run its node OS channel's work on a cluster
(:attr:`~patchpilot.demo.scenario.Scenario.aks_maintenance`), announced 7
days and 24 hours ahead. The planner says so when an announcement moved a
start: its reason reads ``AKS announced its own ... (event <id>) ...:
waiting until it ends`` (:meth:`~patchpilot.domain.aks_maintenance.Blackout.describe`).
An avoidance is such a decision, matched to its work by the event ID, whose
upgrade then started once the work had ended, in the same allowed window
the plan would have started it in without the announcement.

"Without the announcement" is computed as the planner computes it: the
first allowed piece of the kind's window (the policy's freezes taken out,
AKS's spans not) at or after the decision's earliest moment; no second run.
Called by the summary, the timeline and the calendar.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

from patchpilot.demo.decisions import Decision
from patchpilot.demo.records import UpgradeRecord
from patchpilot.demo.runner import DemoRun
from patchpilot.domain.planner import allowed_piece
from patchpilot.domain.promotion import window_schedule
from patchpilot.domain.resource_ids import ascii_key
from patchpilot.sim.aks_maintenance import event_id
from patchpilot.sim.faults import AksWork

# The planner's words when an announcement moved a start.
ANNOUNCED: Final = "AKS announced its own "


@dataclass(frozen=True)
class Avoidance:
    """One work of AKS's that Patch Pilot kept clear of: the start it moved, and where to."""

    work: AksWork
    record: UpgradeRecord
    planned: dt.datetime
    reason: str

    @property
    def work_end(self) -> dt.datetime:
        """When AKS's work ended (it said Completed)."""
        return work_end(self.work)


def work_end(work: AksWork) -> dt.datetime:
    """When AKS's work ends (or was cancelled)."""
    return work.cancelled_at or work.start + dt.timedelta(hours=work.hours)


def avoidances(run: DemoRun, records: tuple[UpgradeRecord, ...]) -> tuple[Avoidance, ...]:
    """The works that moved a start of Patch Pilot's, each with its earliest moved start."""
    works = {event_id(work): work for work in run.scenario.aks_maintenance}
    found: dict[str, Avoidance] = {}
    for decision in run.decisions.waits:
        reason = decision.action.reason
        if ANNOUNCED not in reason or decision.key is None:
            continue
        for name, work in works.items():
            if name not in reason:
                continue
            avoided = _avoided(run, decision, work, records)
            if avoided is not None and _earlier(avoided, found.get(name)):
                found[name] = avoided
    return tuple(sorted(found.values(), key=lambda a: a.work.start))


def _earlier(avoided: Avoidance, known: Avoidance | None) -> bool:
    return known is None or avoided.record.started_at < known.record.started_at


def inside_work(work: AksWork, records: tuple[UpgradeRecord, ...]) -> tuple[UpgradeRecord, ...]:
    """Patch Pilot's upgrades on the work's cluster that ran while AKS's work ran (want: none)."""
    end = work_end(work)
    return tuple(
        r
        for r in records
        if ascii_key(r.cluster) == ascii_key(work.cluster)
        and r.started_at < end
        and (r.finished_at or r.started_at) > work.start
    )


def _avoided(
    run: DemoRun, decision: Decision, work: AksWork, records: tuple[UpgradeRecord, ...]
) -> Avoidance | None:
    """The decision's upgrade, if it started after the work ended where it would have been in."""
    started = sorted(
        (r for r in records if r.key == decision.key and r.started_at >= decision.at),
        key=lambda r: r.started_at,
    )
    planned = _planned_without(run, decision)
    if not started or planned is None:
        return None
    record = started[0]
    end = work_end(work)
    window = record.window
    same_window = window is not None and window.start <= planned < window.end
    if record.started_at >= end > planned and same_window:
        return Avoidance(work, record, planned, decision.action.reason)
    return None


def _planned_without(run: DemoRun, decision: Decision) -> dt.datetime | None:
    """Where the plan would have put the start without AKS's word (as the planner's note does)."""
    cluster = next((c for c in run.inputs.fleet.clusters if c.key == decision.cluster_key), None)
    if cluster is None:
        return None
    policy = run.inputs.policy
    schedule, _ = window_schedule(cluster, policy, decision.action.kind)
    if schedule is None or schedule.unusable:
        return None
    earliest = max(decision.at, decision.action.allowed_from or decision.at)
    piece = allowed_piece(schedule, policy.freeze_spans, earliest)
    return None if piece is None else max(piece.start, earliest)

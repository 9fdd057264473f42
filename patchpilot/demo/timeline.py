"""The demo's printed story: a timeline of what happened and why, then the summary.

Plain text, one entry per event in time order (UTC), each with a head line and
an indented detail line:

- `AKS`: a region's catalog gains a Kubernetes version or node image; AKS
  runs its own announced maintenance on a cluster (and whether it moved a
  start of Patch Pilot's);
- `Windows`: Patch Tuesday, and the region offering the month's image;
- `wait`: the planner decided an upgrade must wait, and why (once per change);
- `upgrade`: an upgrade with its window, start, end and outcome;
- `fault`, `operator`, `paused`: the scenario, the on-call engineer, pauses;
- `alert`, `fleet`: the Fleet gate scene (an Azure Monitor alert, a Fleet
  Manager update run at its gate, Patch Pilot's verdicts on the gate).

Called by the demo command; :func:`render` is what it prints.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from patchpilot.demo.aks_avoided import Avoidance, avoidances, inside_work, work_end
from patchpilot.demo.decisions import Decision
from patchpilot.demo.records import CONTROL_PLANE, UpgradeRecord, short_version, span_text
from patchpilot.demo.runner import DemoRun
from patchpilot.demo.summary import Summary
from patchpilot.domain.cadence import patch_tuesday, windows_due_from
from patchpilot.domain.resource_ids import resource_name
from patchpilot.sim.faults import AksWork

# Entries at the same instant: causes before effects.
_ORDER: Final = (
    "AKS",
    "Windows",
    "fault",
    "alert",
    "operator",
    "paused",
    "fleet",
    "wait",
    "upgrade",
)
_WIDTH: Final = 9
_INDENT: Final = " " * 20


@dataclass(frozen=True)
class Entry:
    """One line of the timeline, with its detail."""

    at: dt.datetime
    tag: str
    subject: str
    text: str
    detail: str = ""

    def lines(self) -> str:
        """The entry as printed."""
        head = f"{self.at:%Y-%m-%d %H:%M}  {self.tag:<{_WIDTH}} {self.subject:<24} {self.text}"
        return f"{head}\n{_INDENT}{self.detail}" if self.detail else head


def render(run: DemoRun, records: tuple[UpgradeRecord, ...], summary: Summary) -> str:
    """The timeline, then the summary."""
    return f"{render_timeline(run, records)}\n\n{render_summary(run, summary)}"


def render_timeline(run: DemoRun, records: tuple[UpgradeRecord, ...]) -> str:
    """Every entry of the run, in time order."""
    entries = sorted(timeline(run, records), key=lambda e: (e.at, _ORDER.index(e.tag), e.subject))
    title = f"Timeline (UTC), {run.start:%Y-%m-%d} to {run.end:%Y-%m-%d}"
    return "\n".join([title, "=" * len(title), *(entry.lines() for entry in entries)])


def timeline(run: DemoRun, records: tuple[UpgradeRecord, ...]) -> Iterator[Entry]:
    """The entries of every kind."""
    yield from _releases(run)
    yield from _aks_work(run, records)
    yield from _patch_tuesdays(run)
    yield from _notices(run)
    for note in run.notes:
        yield Entry(note.at, note.kind, note.cluster or "fleet", note.text)
    for decision in run.decisions.waits:
        yield _wait(decision)
    for record in records:
        yield _upgrade(record)


def render_summary(run: DemoRun, summary: Summary) -> str:
    """The figures, the two invariants last."""
    title = (
        f"Summary: {run.start:%Y-%m-%d %H:%M} to {run.end:%Y-%m-%d %H:%M} UTC "
        f"({run.config.days} days), {summary.clusters} clusters, {summary.pools} pools"
    )
    patched = ", ".join(f"{_plural(f.os)} {f.patched} of {f.total}" for f in summary.per_os)
    lines = [
        title,
        "=" * len(title),
        f"upgrades started        {summary.started}: {summary.succeeded} succeeded, "
        f"{summary.failed} failed, {summary.running} still running",
        f"patched                 {patched}",
        "days from availability to patched:",
        *(_days_line(f.os, f.median_days, f.worst_days, f.samples) for f in summary.per_os),
        f"ARM requests            {summary.arm_requests}, {summary.throttled} answered 429 "
        "(throttled) and retried",
        f"function invocations    {sum(run.invocations.values())}, {summary.host_failures} failed",
        *_still_waiting(run),
        *_fleet_gates(run),
        *_aks_maintenance(run, summary),
        f"upgrades started outside an allowed window: {len(summary.outside_window)}",
        *(f"  ! {_label(r)} at {r.started_at:%Y-%m-%d %H:%M}" for r in summary.outside_window),
        f"duplicate starts (same cluster, pool, kind, target): {len(summary.duplicates)}",
        *(f"  ! {_label(r)} at {r.started_at:%Y-%m-%d %H:%M}" for r in summary.duplicates),
        f"simulated in {summary.elapsed_seconds:.1f} s",
    ]
    return "\n".join(lines)


def _plural(os: str) -> str:
    return "control planes" if os == CONTROL_PLANE else f"{os} pools"


def _still_waiting(run: DemoRun) -> list[str]:
    """One line per upgrade the plan still holds at the end (`GET /api/plan`), if served."""
    lines = []
    for action in run.final_plan:
        if action.get("status") == "due" or not action.get("target"):
            continue
        name = resource_name(str(action.get("cluster", "")))
        where = _where(name, action.get("pool"))
        change = _change(str(action.get("kind")), str(action.get("current")), str(action["target"]))
        when = f" from {action['not_before']}" if action.get("not_before") else ""
        lines.append(f"  {where} {change}: {action.get('status')}{when}")
    return [f"still waiting at the end: {len(lines)}", *lines] if lines else []


def _fleet_gates(run: DemoRun) -> list[str]:
    """The Fleet Manager gates Patch Pilot followed (`GET /api/status`), one line each."""
    lines = []
    for gate in run.fleet_gates:
        fleet = resource_name(str(gate.get("fleet", "")))
        where = f"{fleet}/{gate.get('update_run')} {gate.get('display_name')!r}"
        seen, approved = gate.get("first_seen"), gate.get("approved_at")
        if gate.get("state") == "approved" and seen and approved:
            waited = _parse(str(approved)) - _parse(str(seen))
            lines.append(
                f"  {where}: waited {_hours(waited)} from {_hm(seen)}, "
                f"approved by Patch Pilot at {_hm(approved)}"
            )
            if gate.get("held_by"):
                lines.append(f"    held by {gate['held_by']}")
        else:
            lines.append(f"  {where}: {gate.get('state')}: {gate.get('reason')}")
    approvals = sum(gate.get("state") == "approved" for gate in run.fleet_gates)
    head = f"Fleet Manager gates     {len(run.fleet_gates)}: {approvals} approved by Patch Pilot"
    return [head, *lines] if lines else []


def _aks_maintenance(run: DemoRun, summary: Summary) -> list[str]:
    """AKS's own announced work, each start of Patch Pilot's it moved, and any run inside it."""
    works = [w for w in run.scenario.aks_maintenance if run.start <= w.start < run.end]
    if not works:
        return []
    names = sorted({resource_name(w.cluster) for w in works})
    moved = len(summary.aks_avoided)
    head = (
        f"AKS's own maintenance   {len(works)} announced on {', '.join(names)}; "
        f"{moved} start{'s' if moved != 1 else ''} of Patch Pilot's moved out of it"
    )
    inside = f"upgrades of Patch Pilot's running inside AKS's work: {len(summary.inside_aks_work)}"
    return [head, *(f"  {avoided_text(a)}" for a in summary.aks_avoided), inside]


def avoided_text(avoided: Avoidance) -> str:
    """`AKS's own NodeOSUpgrade on prod-neu-2 avoided: Patch Pilot started 03:00 instead of ...`."""
    work, record = avoided.work, avoided.record
    name = resource_name(work.cluster)
    change = _change(record.kind, record.current, record.target)
    return (
        f"AKS's own {work.upgrade_type or 'maintenance'} on {name} avoided "
        f"({work.start:%Y-%m-%d %H:%M} to {avoided.work_end:%H:%M}): Patch Pilot started "
        f"{_where(name, record.pool)} {change} at {record.started_at:%H:%M} instead of "
        f"{avoided.planned:%H:%M}"
    )


def _aks_work(run: DemoRun, records: tuple[UpgradeRecord, ...]) -> Iterator[Entry]:
    """AKS's own announced maintenance, at its start, with what Patch Pilot did about it."""
    moved = {a.work: a for a in avoidances(run, records)}
    for work in run.scenario.aks_maintenance:
        if not run.start <= work.start < run.end:
            continue
        name = resource_name(work.cluster)
        text = (
            f"runs its own {work.upgrade_type or 'maintenance'}, {work.start:%H:%M} to "
            f"{work_end(work):%H:%M} (announced 7 days and 24 hours ahead)"
        )
        yield Entry(work.start, "AKS", name, text, _kept_clear(work, moved.get(work), records))


def _kept_clear(
    work: AksWork, avoided: Avoidance | None, records: tuple[UpgradeRecord, ...]
) -> str:
    """What Patch Pilot did about AKS's work: moved a start out of it, or had none there."""
    inside = inside_work(work, records)
    if inside:
        return f"! {len(inside)} of Patch Pilot's upgrades ran inside it"
    if avoided is None:
        return "none of Patch Pilot's upgrades ran inside it"
    name = resource_name(work.cluster)
    return (
        f"Patch Pilot kept clear: {_where(name, avoided.record.pool)} started "
        f"{avoided.record.started_at:%H:%M}, after AKS's Completed, instead of "
        f"{avoided.planned:%H:%M} (its plan without AKS's word)"
    )


def _parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _hm(text: object) -> str:
    return f"{_parse(str(text)):%Y-%m-%d %H:%M}"


def _hours(span: dt.timedelta) -> str:
    minutes = round(span / dt.timedelta(minutes=1))
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _days_line(os: str, median: float | None, worst: float | None, samples: int) -> str:
    if median is None or worst is None:
        return f"  {os:<21} no upgrade with a known release date"
    plural = "s" if samples != 1 else ""
    return f"  {os:<21} median {median:4.1f}, worst {worst:4.1f} ({samples} upgrade{plural})"


def _upgrade(record: UpgradeRecord) -> Entry:
    window = f"window {record.window_text} ({record.schedule_name})"
    ran = f"started {record.started_at:%H:%M}"
    if record.finished_at is not None:
        minutes = (record.finished_at - record.started_at) / dt.timedelta(minutes=1)
        ran = f"ran {span_text(record.started_at, record.finished_at)} ({minutes:.0f} min)"
    outcome = record.outcome + (f": {record.error}" if record.error else "")
    return Entry(record.started_at, "upgrade", _where(record.name, record.pool),
                 _change(record.kind, record.current, record.target),
                 f"{window}; {ran}; {outcome}")  # fmt: skip


def _wait(decision: Decision) -> Entry:
    action = decision.action
    name = action.cluster.name
    return Entry(decision.at, "wait", _where(name, action.pool),
                 _change(action.kind, action.current, action.target), action.reason)  # fmt: skip


def _notices(run: DemoRun) -> Iterator[Entry]:
    for notice in run.notices:
        data = notice.data
        if notice.type == "ClusterPaused":
            name = resource_name(str(data.get("cluster", notice.subject)))
            yield Entry(notice.time, "paused", name, str(data.get("reason", "")))
        elif notice.type == "NodeImageAvailable":
            text = f"offers {data.get('image')}, the image for {data.get('month')}'s updates"
            yield Entry(notice.time, "Windows", str(data.get("region")), text)


def _releases(run: DemoRun) -> Iterator[Entry]:
    """Catalog entries whose `released` date falls inside the run."""
    start, end = run.start, run.end
    for region, catalog in sorted(run.inputs.fleet.catalog.items()):
        for version in catalog.kubernetes:
            at = _midnight(version.released)
            if at is not None and start <= at < end:
                yield Entry(at, "AKS", region, f"offers Kubernetes {version.offered.version}")
        for image in catalog.node_images:
            at = _midnight(image.released)
            if at is not None and start <= at < end:
                yield Entry(at, "AKS", region, f"offers node image {image.image}")


def _patch_tuesdays(run: DemoRun) -> Iterator[Entry]:
    offset = run.inputs.policy.node_images.patch_tuesday_offset_days
    month = dt.date(run.start.year, run.start.month, 1)
    while month < run.end.date():
        tuesday = patch_tuesday(month.year, month.month)
        at = _midnight(tuesday)
        if at is not None and run.start <= at < run.end:
            due = windows_due_from(tuesday, offset)
            text = f"Patch Tuesday: Windows pools due from {due:%Y-%m-%d} (+{offset} days)"
            yield Entry(at, "Windows", "fleet", text)
        month = (month + dt.timedelta(days=32)).replace(day=1)


def _midnight(day: dt.date | None) -> dt.datetime | None:
    return None if day is None else dt.datetime.combine(day, dt.time(), dt.UTC)


def _where(cluster: str, pool: str | None) -> str:
    return f"{cluster}/{pool or CONTROL_PLANE}"


def _change(kind: str, current: str, target: str | None) -> str:
    what = "node image" if kind == "node_image" else "Kubernetes"
    if target is None:
        return f"{what} {short_version(current)}"
    return f"{what} {short_version(current)} -> {short_version(target)}"


def _label(record: UpgradeRecord) -> str:
    return (
        f"{_where(record.name, record.pool)} {_change(record.kind, record.current, record.target)}"
    )

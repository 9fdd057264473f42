"""A demo run as the fleet calendar the HTML report draws.

One row per control plane and pool, grouped by ring in the policy's order;
each with its allowed windows for both kinds of upgrade (from the fleet file
and policy, :mod:`patchpilot.demo.allowed_windows`), the maintenance AKS
announced and ran on its own on the cluster (the scenario's node OS channel
work, as bands with its type and last status), and its upgrades as bars
coloured by outcome. Freezes, Patch Tuesdays, AKS releases and the
scenario's incidents (the Fleet gate scene's alert, each Fleet Manager gate
from when it waited to Patch Pilot's approval, and each start Patch Pilot
moved out of AKS's work) span the rows; the headline figures and the tables
(upgrades, what waits, Fleet gates, AKS's maintenance) come from the
summary, the records and the status page. Called by the demo command.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Final

from patchpilot.demo.aks_avoided import Avoidance, inside_work, work_end
from patchpilot.demo.allowed_windows import AllowedWindows
from patchpilot.demo.records import UpgradeRecord, short_version
from patchpilot.demo.runner import DemoRun
from patchpilot.demo.summary import Summary
from patchpilot.domain.cadence import patch_tuesday, windows_due_from
from patchpilot.domain.fleet import ClusterState
from patchpilot.domain.plan import iso
from patchpilot.domain.resource_ids import ascii_key, resource_name
from patchpilot.report.model import Bar, Calendar, Fact, Marker, Row, Span, Table
from patchpilot.sim.faults import AksWork

NO_RING: Final = "(no ring)"
_AKS_MANAGED: Final = "managed by AKS"


def fleet_calendar(run: DemoRun, records: tuple[UpgradeRecord, ...], summary: Summary) -> Calendar:
    """The calendar of one run."""
    policy = run.inputs.policy
    return Calendar(
        title="AKS Patch Pilot: fleet calendar",
        subtitle=(
            f"{run.start:%Y-%m-%d} to {run.end:%Y-%m-%d} (UTC), {summary.clusters} clusters, "
            f"{summary.pools} pools; fleet: {run.inputs.fleet_source}; "
            f"policy: {run.inputs.policy_source}"
        ),
        start=run.start,
        end=run.end,
        rows=tuple(_rows(run, records)),
        freezes=tuple(
            Span(max(f.span.start, run.start), min(f.span.end, run.end), f.reason)
            for f in policy.freezes
            if f.span.start < run.end and f.span.end > run.start
        ),
        markers=(
            *_patch_tuesdays(run),
            *_releases(run),
            *_incidents(run, records),
            *_avoided_markers(summary.aks_avoided),
        ),
        facts=_facts(summary),
        tables=(
            _upgrade_table(records),
            _waiting_table(run),
            _gate_table(run),
            _aks_table(run, summary, records),
        ),
    )


def _rows(run: DemoRun, records: tuple[UpgradeRecord, ...]) -> Iterator[Row]:
    rules = AllowedWindows(run.inputs.fleet, run.inputs.policy)
    order = {ring.name: index for index, ring in enumerate(run.inputs.policy.rings)}

    def rank(cluster: ClusterState) -> tuple[int, str]:
        ring = run.inputs.policy.ring_of(cluster.tags)
        return (order[ring.name] if ring else len(order), cluster.id.name)

    managed = _aks_managed(run)
    for cluster in sorted(run.inputs.fleet.clusters, key=rank):
        ring = run.inputs.policy.ring_of(cluster.tags)
        group = ring.name if ring else NO_RING
        kubernetes = tuple(_spans(rules, cluster, "kubernetes", run))
        node_os = tuple(_spans(rules, cluster, "node_image", run))
        mine = [r for r in records if ascii_key(r.cluster) == cluster.key]
        # AKS's own work holds every kind on the cluster: drawn on all its rows.
        aks = tuple(_aks_spans(run, cluster))
        yield Row(group, cluster.id.name, None, "control plane", kubernetes, (),
                  _bars(r for r in mine if r.pool is None),
                  managed.get((cluster.key, None, "kubernetes"), ""), aks)  # fmt: skip
        pools = sorted(cluster.pools, key=lambda p: (p.mode != "System", p.name))
        for pool in pools:
            note = managed.get((cluster.key, pool.name, "node_image"), "")
            yield Row(group, cluster.id.name, pool.name, pool.os_type, kubernetes,
                      () if note else node_os,
                      _bars(r for r in mine if r.pool == pool.name), note, aks)  # fmt: skip


def _aks_spans(run: DemoRun, cluster: ClusterState) -> Iterator[Span]:
    """AKS's own announced work on the cluster, with its type and last status as the tooltip."""
    for work in run.scenario.aks_maintenance:
        end = work_end(work)
        if ascii_key(work.cluster) != cluster.key or end <= run.start or work.start >= run.end:
            continue
        tooltip = (
            f"AKS's own {work.upgrade_type or 'maintenance'} on {cluster.id.name}: "
            f"{_when(work.start)} to {end:%H:%M} UTC; {_aks_status(work, run.end)} "
            "(announced 7 days and 24 hours ahead); Patch Pilot starts nothing there"
        )
        yield Span(max(work.start, run.start), min(end, run.end), tooltip)


def _aks_status(work: AksWork, at: dt.datetime) -> str:
    """AKS's last word about the work by `at`."""
    if work.cancelled_at is not None and work.cancelled_at <= at:
        return "Cancelled"
    if work_end(work) <= at:
        return "Completed"
    return "Started" if work.start <= at else "Scheduled"


def _avoided_markers(avoided: tuple[Avoidance, ...]) -> Iterator[Marker]:
    """Each start Patch Pilot moved out of AKS's work: where it started, and from where."""
    for item in avoided:
        record = item.record
        where = f"{record.name}/{record.pool or 'control plane'}"
        detail = (
            f"AKS's own {item.work.upgrade_type or 'maintenance'} on {record.name} "
            f"({_when(item.work.start)} to {item.work_end:%H:%M} UTC) avoided: Patch Pilot "
            f"started {where} at {record.started_at:%H:%M} instead of {item.planned:%H:%M}"
        )
        yield Marker(record.started_at, "aks-maintenance", "AKS work avoided", detail=detail)


def _spans(rules: AllowedWindows, cluster: ClusterState, kind: str, run: DemoRun) -> Iterator[Span]:
    for window in rules.between(cluster, kind, run.start, run.end):
        yield Span(window.start, window.end)


def _bars(records: Iterator[UpgradeRecord]) -> tuple[Bar, ...]:
    bars = []
    for record in records:
        end = record.finished_at or record.started_at
        outcome = record.outcome if record.outcome in ("succeeded", "failed") else "running"
        what = "node image" if record.kind == "node_image" else "Kubernetes"
        title = (
            f"{record.name}/{record.pool or 'control plane'}: {what} "
            f"{short_version(record.current)} -> {short_version(record.target)}; "
            f"{record.started_at:%Y-%m-%d %H:%M} to {end:%H:%M} UTC; {outcome}"
            + (f": {record.error}" if record.error else "")
        )
        kind = "node_image" if record.kind == "node_image" else "kubernetes"
        bars.append(Bar(Span(record.started_at, end), kind, outcome, title))  # type: ignore[arg-type]
    return tuple(bars)


def _aks_managed(run: DemoRun) -> dict[tuple[str, str | None, str], str]:
    """Upgrades the planner leaves to AKS's own channels, with its words."""
    notes: dict[tuple[str, str | None, str], str] = {}
    for decision in run.decisions.waits:
        action = decision.action
        if _AKS_MANAGED in action.reason:
            reason = action.reason.removeprefix("blocked: ")
            what = "node images" if action.kind == "node_image" else "Kubernetes"
            notes[(decision.cluster_key, action.pool, action.kind)] = f"{what} {reason}"
    return notes


def _patch_tuesdays(run: DemoRun) -> Iterator[Marker]:
    offset = run.inputs.policy.node_images.patch_tuesday_offset_days
    month = dt.date(run.start.year, run.start.month, 1)
    while month <= run.end.date():
        tuesday = patch_tuesday(month.year, month.month)
        at = dt.datetime.combine(tuesday, dt.time(), dt.UTC)
        if run.start <= at < run.end:
            due = windows_due_from(tuesday, offset)
            detail = f"Patch Tuesday {tuesday}: Windows pools due from {iso(due)}"
            yield Marker(at, "patch-tuesday", f"Patch Tuesday {tuesday:%m-%d}", detail=detail)
        month = (month + dt.timedelta(days=32)).replace(day=1)


def _releases(run: DemoRun) -> Iterator[Marker]:
    """AKS's catalog gaining a version, per region; the first region's marker is labelled."""
    labelled: set[str] = set()
    found: list[tuple[dt.datetime, str, str]] = []
    for region, catalog in run.inputs.fleet.catalog.items():
        for version in catalog.kubernetes:
            if version.released is not None:
                found.append(
                    (_day(version.released), f"Kubernetes {version.offered.version}", region)
                )
        for image in catalog.node_images:
            if image.released is not None:
                os = image.image.os_type
                found.append((_day(image.released), f"{os} {image.image.version}", region))
    for at, what, region in sorted(found):
        if not run.start <= at < run.end:
            continue
        label = "" if what in labelled else what
        labelled.add(what)
        yield Marker(at, "release", label, detail=f"{region} offers {what} from {at:%Y-%m-%d}")


def _incidents(run: DemoRun, records: tuple[UpgradeRecord, ...]) -> Iterator[Marker]:
    storm = run.scenario.storm
    if storm is not None and storm.start < run.end:
        detail = f"ARM throttles {storm.throttle_rate:.0%} of requests with 429"
        yield Marker(storm.start, "fault", "429 storm", end=storm.end, detail=detail)
    for record in records:
        if record.outcome == "failed" and record.finished_at is not None:
            detail = f"{record.name}/{record.pool}: {record.error or 'failed'}"
            yield Marker(record.finished_at, "fault", "drain failed", detail=detail)
    for note in run.notes:
        if note.kind == "operator":
            yield Marker(note.at, "operator", "resumed", detail=f"{note.cluster}: {note.text}")
    yield from _fleet_gate_markers(run)


def _fleet_gate_markers(run: DemoRun) -> Iterator[Marker]:
    """The scene's alert as an incident, and each gate from waiting to Patch Pilot's approval."""
    scene = run.scenario.fleet_gate
    if scene is not None and scene.fires < run.end:
        name = resource_name(scene.alert_cluster)
        detail = f"Azure Monitor alert {scene.alert_rule} firing on {name} (cluster paused)"
        end = min(scene.resolves, run.end)
        yield Marker(scene.fires, "fault", "alert", end=end, detail=detail)
    for gate in run.fleet_gates:
        seen, approved = gate.get("first_seen"), gate.get("approved_at")
        if not seen:
            continue
        where = f"gate {gate.get('display_name')!r} of update run {gate.get('update_run')}"
        start = _instant(str(seen))
        end = _instant(str(approved)) if approved else run.end
        detail = f"{where} waiting: {gate.get('state')}"
        yield Marker(start, "fleet-gate", "Fleet gate", end=max(end, start), detail=detail)
        if approved:
            yield Marker(end, "fleet-gate", "", detail=f"{where}: {gate.get('reason')}")


def _facts(summary: Summary) -> tuple[Fact, ...]:
    facts = [
        Fact("upgrades started", str(summary.started)),
        Fact("succeeded / failed", f"{summary.succeeded} / {summary.failed}"),
    ]
    for figures in summary.per_os:
        facts.append(Fact(f"{figures.os} patched", f"{figures.patched} of {figures.total}"))
        if figures.median_days is not None and figures.worst_days is not None:
            facts.append(
                Fact(
                    f"{figures.os}: days to patched, median / worst",
                    f"{figures.median_days:.1f} / {figures.worst_days:.1f}",
                )
            )
    if summary.aks_avoided:
        facts.append(Fact("starts moved out of AKS's own work", str(len(summary.aks_avoided))))
    facts.append(Fact("started outside a window", str(len(summary.outside_window)),
                      good=not summary.outside_window))  # fmt: skip
    facts.append(Fact("duplicate starts", str(len(summary.duplicates)),
                      good=not summary.duplicates))  # fmt: skip
    return tuple(facts)


def _upgrade_table(records: tuple[UpgradeRecord, ...]) -> Table:
    rows = []
    for record in records:
        days = record.days_to_patched
        rows.append(
            (
                f"{record.started_at:%Y-%m-%d %H:%M}",
                record.name,
                record.pool or "control plane",
                "node image" if record.kind == "node_image" else "Kubernetes",
                f"{short_version(record.current)} -> {short_version(record.target)}",
                record.window_text,
                record.schedule_name,
                f"{record.finished_at:%m-%d %H:%M}" if record.finished_at else "",
                record.outcome,
                f"{days:.1f}" if days is not None else "",
            )
        )
    header = ("started (UTC)", "cluster", "pool", "kind", "change", "allowed window",
              "from", "ended", "outcome", "days after release")  # fmt: skip
    return Table("Upgrades", header, tuple(rows))


def _waiting_table(run: DemoRun) -> Table:
    """The plan when the run ended (`GET /api/plan`): what waits, and why."""
    rows = []
    for action in run.final_plan:
        if action.get("status") == "due":
            continue
        current, target = str(action.get("current") or ""), action.get("target")
        change = short_version(current)
        if target:
            change += f" -> {short_version(str(target))}"
        rows.append(
            (
                resource_name(str(action.get("cluster", ""))),
                str(action.get("pool") or "control plane"),
                "node image" if action.get("kind") == "node_image" else "Kubernetes",
                change,
                str(action.get("status", "")),
                str(action.get("reason", "")),
            )
        )
    header = ("cluster", "pool", "kind", "change", "status", "reason")
    return Table(f"Waiting when the run ended ({iso(run.end)})", header, tuple(rows))


def _gate_table(run: DemoRun) -> Table:
    """The Fleet Manager gates Patch Pilot followed (`GET /api/status`'s fleet_gates)."""
    rows = tuple(
        (
            resource_name(str(gate.get("fleet", ""))),
            str(gate.get("update_run") or ""),
            str(gate.get("display_name") or gate.get("name") or ""),
            str(gate.get("first_seen") or ""),
            str(gate.get("state") or ""),
            str(gate.get("approved_at") or ""),
            str(gate.get("reason") or ""),
        )
        for gate in run.fleet_gates
    )
    header = ("fleet", "update run", "gate", "reached", "state", "approved", "why")
    return Table("Fleet Manager gates", header, rows)


def _aks_table(run: DemoRun, summary: Summary, records: tuple[UpgradeRecord, ...]) -> Table:
    """AKS's own announced maintenance, and what Patch Pilot did about each."""
    moved = {item.work: item for item in summary.aks_avoided}
    rows = []
    for work in run.scenario.aks_maintenance:
        if not run.start <= work.start < run.end:
            continue
        item, inside = moved.get(work), inside_work(work, records)
        if inside:
            did = f"{len(inside)} upgrade(s) of Patch Pilot's ran inside it"
        elif item is not None:
            did = (
                f"moved {item.record.name}/{item.record.pool or 'control plane'} from "
                f"{item.planned:%H:%M} to {item.record.started_at:%H:%M}"
            )
        else:
            did = "nothing of Patch Pilot's ran inside it"
        rows.append(
            (
                resource_name(work.cluster),
                work.upgrade_type or "",
                _when(work.start),
                f"{work_end(work):%m-%d %H:%M}",
                _aks_status(work, run.end),
                did,
            )
        )
    header = ("cluster", "type", "from (UTC)", "to", "AKS's last word", "Patch Pilot")
    return Table("AKS's own announced maintenance", header, tuple(rows))


def _when(moment: dt.datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M}"


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _day(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), dt.UTC)

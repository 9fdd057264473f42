"""Plain-text tables for people: what the CLI prints without `--json`.

Kept apart from the CLI so the HTTP API and the demo can print the same views.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from patchpilot.domain.instants import parse_instant
from patchpilot.domain.plan import Plan, iso
from patchpilot.domain.resource_ids import resource_name

_SYMBOL = {"due": "DUE", "scheduled": "SCHEDULED", "blocked": "BLOCKED"}


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns as wide as their widest cell."""
    widths = [
        max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)
    ]
    lines = [headers, ["-" * width for width in widths], *rows]
    return "\n".join(
        "  ".join(
            str(cell).ljust(width) for cell, width in zip(line, widths, strict=False)
        ).rstrip()
        for line in lines
    )


def plan_table(plan: Plan) -> str:
    """The plan as a table, each action followed by its reason, then the findings."""
    counts = plan.counts()
    parts = [
        f"Plan at {iso(plan.at)}: {counts['due']} due, {counts['scheduled']} scheduled, "
        f"{counts['blocked']} blocked"
    ]
    if plan.actions:
        parts.append(_actions(plan))
    if plan.findings:
        findings = (
            f"  - {f.cluster.name}{'/' + f.pool if f.pool else ''}: {f.message}"
            for f in plan.findings
        )
        parts.append("\n".join(["Findings:", *findings]))
    if plan.paths:
        parts.append(path_table([path.to_json() for path in plan.paths]))
    return "\n\n".join(parts)


def path_table(paths: Sequence[Mapping[str, Any]]) -> str:
    """The critical path (a plan's or the status API's ``critical_path``): one row per ring.

    Works on the JSON form so the local plan, the API's answer and the
    operator's client print the same lines.
    """
    rows = [
        [
            p["ring"],
            p["subject"],
            str(p["pending"]),
            p["earliest"] or "unknown",
            _saving(p),
        ]
        for p in paths
    ]
    headers = ["RING", "SUBJECT", "PENDING", "EARLIEST START (UTC)", "WEEKLY WINDOW SAVES"]
    lines = table(headers, rows).splitlines()
    out = ["Critical path (each ring's first start, if every window on the path is used):"]
    out += lines[:2]
    for line, path in zip(lines[2:], paths, strict=True):
        out += [line, f"    waits for {path['waits_for']}"]
        out += [
            f"    on the path: {resource_name(step['cluster'])} (ring {step['ring']}, "
            f"{step['window']}) reaches {_short(step['target'] or '?')} {step['reaches']}"
            for step in path["on_path"]
        ]
    return "\n".join(out)


def _saving(path: Mapping[str, Any]) -> str:
    days = path.get("weekly_saves_days")
    return "-" if days is None else f"{days:g} days"


def _actions(plan: Plan) -> str:
    headers = ["STATUS", "CLUSTER", "POOL", "KIND", "CURRENT -> TARGET", "NOT BEFORE (UTC)"]
    rows = []
    reasons = []
    for action in plan.actions:
        rows.append(
            [
                _SYMBOL[action.status],
                action.cluster.name,
                action.pool or "(control plane)",
                action.kind,
                f"{_short(action.current)} -> {_short(action.target or '?')}",
                iso(action.not_before) or "-",
            ]
        )
        reasons.append(action.reason)
    lines = table(headers, rows).splitlines()
    out = lines[:2]
    for line, reason in zip(lines[2:], reasons, strict=True):
        out.extend([line, f"    {reason}"])
    return "\n".join(out)


def aks_maintenance_table(result: Mapping[str, Any]) -> str:
    """AKS's own announced work (``aks_maintenance``), beside which Patch Pilot plans its own."""
    entries = result["aks_maintenance"]
    if not entries:
        return f"No maintenance announced by AKS at {result['at']}."
    rows = [
        [
            resource_name(e["cluster"]),
            e["upgrade_type"] or "maintenance",
            e["status"],
            e["start"],
            e["end"],
            f"no start {e['no_start_from']} to {e['no_start_until']}" if e["holds"] else "-",
        ]
        for e in entries
    ]
    headers = ["CLUSTER", "AKS WORK", "STATUS", "START (UTC)", "END (UTC)", "PATCH PILOT"]
    return "\n".join([f"AKS's own scheduled work at {result['at']}:", table(headers, rows)])


def window_table(result: dict[str, Any]) -> str:
    """Allowed windows as UTC [start, end) rows with their length."""
    rows = [[w["start"], w["end"], _hours(w["start"], w["end"])] for w in result["windows"]]
    if not rows:
        return f"No allowed window after {result['after']}."
    return table(["START (UTC)", "END (UTC)", "LENGTH"], rows)


def tuesday_table(result: dict[str, Any]) -> str:
    """Patch Tuesdays of a year with the day Windows pools become due."""
    rows = [[r["date"], r["due_from"]] for r in result["patch_tuesdays"]]
    due = f"DUE FROM (+{result['offset_days']} DAYS)"
    return table(["PATCH TUESDAY", due], rows)


def _hours(start: str, end: str) -> str:
    seconds = (parse_instant(end) - parse_instant(start)).total_seconds()
    return f"{seconds / 3600:g}h"


def _short(version: str) -> str:
    """Node image names are long; the family is the same on both sides of the arrow."""
    return version.rsplit("-", 1)[-1] if version.startswith("AKS") else version

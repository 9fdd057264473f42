"""The shadow report as a table for people (`patchpilot shadow-report`).

Renders the JSON that :meth:`patchpilot.service.shadow.ShadowReport.to_json`
builds and `GET /api/shadow-report` answers, so a report computed here and one
fetched from the API print the same. One line per pool release: when Patch
Pilot would have started, when the pool was really patched and by whom,
whether that fell in an allowed window, and whether it came before the
earlier ring had soaked the release; then the totals.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from patchpilot.domain.resource_ids import resource_name
from patchpilot.render import table

HEADERS = (
    "RING", "CLUSTER", "POOL", "KIND", "TARGET", "WOULD START", "PATCHED", "BY",
    "IN WINDOW", "BEFORE SOAK", "LEAD",
)  # fmt: skip


def shadow_table(report: Mapping[str, Any]) -> str:
    """The report's rows as a table, then one line of totals (and the note, if any)."""
    rows = [_cells(row) for row in report["rows"]]
    summary = report["summary"]
    lines = [
        table(HEADERS, rows) if rows else "no shadow decision and no patch recorded yet",
        "",
        f"mode {report['mode']} at {report['at']}: {summary['decisions']} would-be starts; "
        f"{summary['patched_outside']} pools patched by AKS or people, "
        f"{summary['outside_window']} outside a window, "
        f"{summary['before_soak']} before the earlier ring had soaked the release",
    ]
    if report.get("note"):
        lines.append(str(report["note"]))
    return "\n".join(lines)


def _cells(row: Mapping[str, Any]) -> list[str]:
    lead = row["lead_hours"]
    return [
        row["ring"] or "-",
        resource_name(str(row["cluster"])),
        row["pool"] or "(control plane)",
        row["kind"],
        _short(str(row["target"])),
        _time(row["would_start"]),
        _time(row["patched_at"]),
        row["patched_by"] or "-",
        _flag(row["in_window"], bad=False),
        _flag(row["before_soak"], bad=True),
        "-" if lead is None else f"{lead:+.1f}h",
    ]


def _time(text: str | None) -> str:
    """UTC minutes, without the seconds and the zone letter."""
    return "-" if text is None else text.replace("T", " ")[:16]


def _flag(value: bool | None, *, bad: bool) -> str:
    """yes or no; in capitals when it is the answer a platform team must look at."""
    if value is None:
        return "-"
    word = "yes" if value else "no"
    return word.upper() if value == bad else word


def _short(target: str) -> str:
    """A node image's version without its family (the pool's row names the kind)."""
    return target.rsplit("-", 1)[-1] if target.count("-") >= 2 else target

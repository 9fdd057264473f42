"""Render a :class:`~patchpilot.report.model.Calendar` as one self-contained HTML page.

Inline CSS and one inline SVG; no script, no font, image or style sheet from
anywhere else, so the file opens offline and in locked-down browsers. The
chart puts time on the x axis (one column per UTC day) and one row per
control plane or pool, grouped by ring. Each pool row has two lanes: the
upper for Kubernetes (its allowed windows shaded blue, its upgrades as bars),
the lower for node images (windows shaded green). Bars are coloured by
outcome; maintenance AKS announced and ran on its own covers its cluster's
rows in teal (Patch Pilot starts nothing there); freezes are hatched over
every row; Patch Tuesdays are dashed lines; AKS releases and incidents
(Fleet Manager gates waiting and approved, a start Patch Pilot moved out of
AKS's work, among them) have their own lanes at the top. Every shape has a
tooltip (`<title>`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from html import escape
from typing import Final

from patchpilot.report.model import Bar, Calendar, Fact, Marker, Row, Span, Table

WIDTH: Final = 1360
LABEL: Final = 250
RIGHT: Final = 16
ROW: Final = 24
GROUP: Final = 22
LANE: Final = 24
AXIS: Final = 40
MIN_BAR: Final = 4.0
OUTCOME_COLOURS: Final = {"succeeded": "#2e7d32", "failed": "#c62828", "running": "#ef8f00"}
_DAY: Final = dt.timedelta(days=1)
_BOLD: Final = ' font-weight="600"'
_ITALIC: Final = ' font-style="italic"'
# A pale outline under lane labels keeps them readable over markers and hatching.
_HALO: Final = ' stroke="#fafbfc" stroke-width="3" paint-order="stroke"'
_LANES: Final = ("AKS releases", "incidents", "calendar")
# A Fleet Manager gate waiting (a span in the incidents lane) and its approval (a dot).
FLEET_GATE_WAIT: Final = "#b39ddb"
FLEET_GATE_APPROVED: Final = "#4527a0"
# AKS's own announced maintenance (a band over its cluster's rows) and a start moved out of it.
AKS_MAINTENANCE: Final = "#00838f"
_POINT_COLOURS: Final = {
    "operator": "#1565c0",
    "fleet-gate": FLEET_GATE_APPROVED,
    "aks-maintenance": AKS_MAINTENANCE,
}

_CSS: Final = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: #1d232b; margin: 24px 28px; background: #fff; }
h1 { font-size: 22px; margin: 0 0 2px; }
.subtitle { color: #56606b; margin: 0 0 16px; }
.facts { display: flex; flex-wrap: wrap; gap: 10px; margin: 0 0 14px; padding: 0; }
.fact { list-style: none; border: 1px solid #d8dde3; border-radius: 6px; padding: 6px 12px; }
.fact b { display: block; font-size: 18px; }
.fact span { color: #56606b; font-size: 12px; }
.fact.good { border-color: #2e7d32; background: #eef7ee; }
.fact.bad { border-color: #c62828; background: #fdecec; }
.legend { display: flex; flex-wrap: wrap; gap: 14px; font-size: 12px; color: #3a434d;
          margin: 0 0 8px; padding: 0; }
.legend li { list-style: none; display: flex; align-items: center; gap: 5px; }
.swatch { display: inline-block; width: 16px; height: 10px; border: 1px solid #9aa4ae; }
svg { display: block; max-width: 100%; height: auto; }
svg text { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
table { border-collapse: collapse; margin: 18px 0; font-size: 12px; }
caption { text-align: left; font-weight: 600; font-size: 14px; padding: 0 0 6px; }
th, td { border-bottom: 1px solid #e3e7eb; padding: 3px 9px 3px 0; text-align: left;
         vertical-align: top; white-space: nowrap; }
td:last-child { white-space: normal; }
th { color: #56606b; font-weight: 600; }
td.failed { color: #c62828; font-weight: 600; }
td.succeeded { color: #2e7d32; }
td.running { color: #b26a00; }
"""

_LEGEND: Final = (
    ("#b7d3f2", "Kubernetes window (upper lane)"),
    ("#bfe3ae", "node OS window (lower lane)"),
    ("url-hatch", "freeze"),
    (OUTCOME_COLOURS["succeeded"], "upgrade succeeded"),
    (OUTCOME_COLOURS["failed"], "upgrade failed"),
    (OUTCOME_COLOURS["running"], "upgrade still running"),
    ("#7b1fa2", "Patch Tuesday"),
    ("#1565c0", "AKS release"),
    ("#f4b183", "incident"),
    (FLEET_GATE_WAIT, "Fleet gate waiting"),
    (FLEET_GATE_APPROVED, "Fleet gate approved by Patch Pilot"),
    ("aks-band", "AKS's own announced maintenance (Patch Pilot starts nothing there)"),
    (AKS_MAINTENANCE, "start moved out of AKS's maintenance"),
)

# Swatches that are not a plain colour: the freeze's hatching, AKS's translucent band.
_SWATCHES: Final = {
    "url-hatch": "background: repeating-linear-gradient(45deg, #8a939c 0 2px, #fff 2px 5px)",
    "aks-band": f"background: {AKS_MAINTENANCE}59; border-color: {AKS_MAINTENANCE}",
}


def render_html(calendar: Calendar) -> str:
    """The whole page."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(calendar.title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{escape(calendar.title)}</h1>",
        f'<p class="subtitle">{escape(calendar.subtitle)}</p>',
        _facts(calendar.facts),
        _legend(),
        _Chart(calendar).svg(),
        *(_table(table) for table in calendar.tables),
        "</body>",
        "</html>",
    ]
    return "\n".join(part for part in parts if part) + "\n"


def _facts(facts: Iterable[Fact]) -> str:
    items = []
    for fact in facts:
        state = "" if fact.good is None else (" good" if fact.good else " bad")
        items.append(
            f'<li class="fact{state}"><b>{escape(fact.value)}</b>'
            f"<span>{escape(fact.label)}</span></li>"
        )
    return f'<ul class="facts">{"".join(items)}</ul>' if items else ""


def _legend() -> str:
    items = []
    for colour, label in _LEGEND:
        style = _SWATCHES.get(colour, f"background: {colour}")
        items.append(f'<li><span class="swatch" style="{style}"></span>{escape(label)}</li>')
    return f'<ul class="legend">{"".join(items)}</ul>'


def _table(table: Table) -> str:
    if not table.rows:
        return ""
    head = "".join(f"<th>{escape(cell)}</th>" for cell in table.header)
    body = []
    for row in table.rows:
        cells = "".join(
            f'<td class="{escape(cell)}">{escape(cell)}</td>'
            if cell in OUTCOME_COLOURS
            else f"<td>{escape(cell)}</td>"
            for cell in row
        )
        body.append(f"<tr>{cells}</tr>")
    return (
        f"<table><caption>{escape(table.caption)}</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


@dataclass(frozen=True)
class _Placed:
    """A row with its vertical position."""

    row: Row
    y: float


class _Chart:
    """The SVG: lays out rows, then draws grid, windows, freezes, markers and bars."""

    def __init__(self, calendar: Calendar) -> None:
        self.calendar = calendar
        self.plot = WIDTH - LABEL - RIGHT
        self.top = AXIS + len(_LANES) * LANE + 6
        self.placed, self.groups, self.bottom = self._layout()

    def svg(self) -> str:
        height = self.bottom + 10
        parts = [
            f'<svg viewBox="0 0 {WIDTH} {height:.0f}" width="{WIDTH}" height="{height:.0f}" '
            f'role="img" aria-label="{escape(self.calendar.title)}">',
            _DEFS,
            *self._grid(),
            *self._lanes(),
            *self._groups(),
            *(part for placed in self.placed for part in self._row(placed)),
            *self._freezes(),
            *self._markers(),
            "</svg>",
        ]
        return "\n".join(parts)

    # Geometry ---------------------------------------------------------------------

    def x(self, moment: dt.datetime) -> float:
        calendar = self.calendar
        share = (moment - calendar.start) / (calendar.end - calendar.start)
        return LABEL + min(max(share, 0.0), 1.0) * self.plot

    def _layout(self) -> tuple[list[_Placed], list[tuple[str, float]], float]:
        placed: list[_Placed] = []
        groups: list[tuple[str, float]] = []
        y = self.top
        for row in self.calendar.rows:
            if not groups or groups[-1][0] != row.group:
                groups.append((row.group, y))
                y += GROUP
            placed.append(_Placed(row, y))
            y += ROW
        return placed, groups, y

    def _days(self) -> Iterator[dt.datetime]:
        calendar = self.calendar
        day = dt.datetime.combine(calendar.start.date(), dt.time(), dt.UTC)
        while day <= calendar.end:
            if day >= calendar.start:
                yield day
            day += _DAY

    # Drawing ----------------------------------------------------------------------

    def _grid(self) -> Iterator[str]:
        width = self.plot / max((self.calendar.end - self.calendar.start) / _DAY, 1)
        for day in self._days():
            x = self.x(day)
            weekend = day.weekday() >= 5
            if weekend and day < self.calendar.end:
                yield _rect(x, self.top, width, self.bottom - self.top, "#f6f7f9")
            monday = day.weekday() == 0
            stroke = "#c9cfd6" if monday else "#eceff2"
            yield _line(x, AXIS - 12, x, self.bottom, stroke)
            if day < self.calendar.end and width >= 14:
                weight = ' font-weight="600"' if monday else ""
                yield _text(
                    x + width / 2,
                    AXIS - 2,
                    str(day.day),
                    10,
                    "#56606b",
                    anchor="middle",
                    extra=weight,
                )
            if day.day == 1 or day == next(self._days()):
                yield _text(x + 2, 14, f"{day:%B %Y}", 12, "#1d232b", extra=_BOLD)

    def _lanes(self) -> Iterator[str]:
        for index, name in enumerate(_LANES):
            y = AXIS + index * LANE + 4
            yield _rect(LABEL, y, self.plot, LANE - 4, "#fafbfc", stroke="#eceff2")
            yield _text(
                LABEL - 8, y + LANE / 2 + 2, name, 11, "#56606b", anchor="end", extra=_ITALIC
            )

    def _groups(self) -> Iterator[str]:
        for name, y in self.groups:
            yield _line(0, y + 1, WIDTH - RIGHT, y + 1, "#9aa4ae")
            yield _text(4, y + 15, f"ring {name}", 12, "#1d232b", extra=_BOLD)

    def _row(self, placed: _Placed) -> Iterator[str]:
        row, y = placed.row, placed.y
        control_plane = row.pool is None
        label_colour = "#1d232b" if not control_plane else "#3a434d"
        yield _text(14, y + 16, row.label, 12, label_colour, title=row.note or row.label)
        yield _text(LABEL - 8, y + 16, row.os, 10, "#7a848e", anchor="end")
        yield _line(LABEL, y + ROW, WIDTH - RIGHT, y + ROW, "#eef1f4")
        upper, lower = (y + 3, 18.0) if control_plane else (y + 3, 9.0)
        for span in row.kubernetes_windows:
            yield self._band(span, upper, lower, "#b7d3f2", "Kubernetes window")
        if not control_plane:
            for span in row.node_os_windows:
                yield self._band(span, y + 13, 9.0, "#bfe3ae", "node OS window")
        if row.note and not control_plane and not row.node_os_windows:
            yield _text(LABEL + 6, y + 20, row.note, 9, "#7a848e", extra=_ITALIC)
        for span in row.aks_maintenance:
            yield self._aks_band(span, y + 1)
        for bar in row.bars:
            top = y + 3 if control_plane or bar.kind == "kubernetes" else y + 13
            height = 18.0 if control_plane else 9.0
            yield self._bar(bar, top, height)

    def _band(self, span: Span, y: float, height: float, colour: str, what: str) -> str:
        x0, x1 = self.x(span.start), self.x(span.end)
        title = f"{what}: {_when(span.start)} to {_when(span.end)} UTC"
        return _rect(x0, y, max(x1 - x0, 1.0), height, colour, title=title)

    def _aks_band(self, span: Span, y: float) -> str:
        """AKS's own work over the whole row, translucent so the windows show through."""
        x0, x1 = self.x(span.start), self.x(span.end)
        title = span.label or f"AKS's own maintenance: {_when(span.start)} to {_when(span.end)} UTC"
        return (
            f'<rect x="{x0:.1f}" y="{y:.1f}" width="{max(x1 - x0, MIN_BAR):.1f}" '
            f'height="{ROW - 2}" fill="{AKS_MAINTENANCE}" fill-opacity="0.35" '
            f'stroke="{AKS_MAINTENANCE}" stroke-width="0.8"><title>{escape(title)}</title></rect>'
        )

    def _bar(self, bar: Bar, y: float, height: float) -> str:
        x0, x1 = self.x(bar.span.start), self.x(bar.span.end)
        width = max(x1 - x0, MIN_BAR)
        colour = OUTCOME_COLOURS[bar.outcome]
        return _rect(x0, y, width, height, colour, title=bar.title, stroke="#ffffff", rx=1.5)

    def _freezes(self) -> Iterator[str]:
        for span in self.calendar.freezes:
            x0, x1 = self.x(span.start), self.x(span.end)
            if x1 <= x0:
                continue
            title = f"freeze: {span.label} ({_when(span.start)} to {_when(span.end)} UTC)"
            yield _rect(x0, self.top, x1 - x0, self.bottom - self.top, "url(#hatch)", title=title)
            yield _rect(x0, AXIS + 4, x1 - x0, len(_LANES) * LANE - 4, "url(#hatch)", title=title)
            yield _text(
                (x0 + x1) / 2,
                self._calendar_lane,
                span.label,
                11,
                "#3a434d",
                anchor="middle",
                extra=_BOLD + _HALO,
            )

    @property
    def _calendar_lane(self) -> float:
        """The baseline of the third lane's labels (Patch Tuesdays, freezes)."""
        return AXIS + 2 * LANE + 4 + LANE / 2 + 2

    def _markers(self) -> Iterator[str]:
        """Every marker's shapes first, then their labels, so no shape covers a label."""
        lanes = {"release": _Lane(2), "incident": _Lane(2)}
        drawn: list[str] = []
        for marker in sorted(self.calendar.markers, key=lambda m: m.at):
            if marker.kind == "patch-tuesday":
                drawn.extend(self._patch_tuesday(marker))
            elif marker.kind == "release":
                drawn.extend(self._release(marker, lanes["release"]))
            else:
                drawn.extend(self._incident(marker, lanes["incident"]))
        yield from (part for part in drawn if not part.startswith("<text"))
        yield from (part for part in drawn if part.startswith("<text"))

    def _patch_tuesday(self, marker: Marker) -> Iterator[str]:
        x = self.x(marker.at)
        title = f"<title>{escape(marker.detail or marker.label)}</title>"
        yield (
            f'<line x1="{x:.1f}" y1="{AXIS + 4}" x2="{x:.1f}" y2="{self.bottom:.1f}" '
            f'stroke="#7b1fa2" stroke-width="1.5" stroke-dasharray="5 3">{title}</line>'
        )
        near_end = x + _text_width(marker.label, 11) > WIDTH - RIGHT
        anchor, dx = ("end", -3) if near_end else ("start", 3)
        yield _text(x + dx, self._calendar_lane, marker.label, 11, "#7b1fa2", anchor=anchor,
                    extra=_BOLD + _HALO)  # fmt: skip

    def _release(self, marker: Marker, lane: _Lane) -> Iterator[str]:
        x, y = self.x(marker.at), AXIS + 6
        points = f"{x - 4:.1f},{y:.1f} {x + 4:.1f},{y:.1f} {x:.1f},{y + 7:.1f}"
        title = f"<title>{escape(marker.detail or marker.label)}</title>"
        yield f'<polygon points="{points}" fill="#1565c0">{title}</polygon>'
        level = lane.place(x + 6, _text_width(marker.label, 10)) if marker.label else None
        if level is not None:
            yield _text(x + 6, y + 8 + level * 9, marker.label, 10, "#1565c0", extra=_HALO)

    def _incident(self, marker: Marker, lane: _Lane) -> Iterator[str]:
        x, y = self.x(marker.at), AXIS + LANE + 4
        title = marker.detail or marker.label
        if marker.end is not None:
            width = max(self.x(marker.end) - x, MIN_BAR)
            fill = FLEET_GATE_WAIT if marker.kind == "fleet-gate" else "#f4b183"
            yield _rect(x, y + 2, width, LANE - 8, fill, title=title)
        else:
            colour = _POINT_COLOURS.get(marker.kind, "#c62828")
            yield (
                f'<circle cx="{x:.1f}" cy="{y + LANE / 2 - 2:.1f}" r="4.5" fill="{colour}">'
                f"<title>{escape(title)}</title></circle>"
            )
        level = lane.place(x + 7, _text_width(marker.label, 10)) if marker.label else None
        if level is not None:
            yield _text(x + 7, y + 8 + level * 9, marker.label, 10, "#3a434d", extra=_HALO)


class _Lane:
    """Stacked label lines in a lane: a label goes on the first line where it fits."""

    def __init__(self, lines: int) -> None:
        self._ends = [float("-inf")] * lines

    def place(self, x: float, width: float) -> int | None:
        """The line the label at `x` goes on, or None when every line is taken there."""
        for index, end in enumerate(self._ends):
            if x >= end + 4:
                self._ends[index] = x + width
                return index
        return None


def _text_width(text: str, size: int) -> float:
    """A rough width of `text` in a sans-serif font of `size` pixels."""
    return len(text) * size * 0.56


_DEFS: Final = (
    '<defs><pattern id="hatch" width="7" height="7" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(45)"><rect width="7" height="7" fill="#ffffff" fill-opacity="0.25"/>'
    '<line x1="0" y1="0" x2="0" y2="7" stroke="#8a939c" stroke-width="2.2" '
    'stroke-opacity="0.55"/></pattern></defs>'
)


def _rect(
    x: float,
    y: float,
    width: float,
    height: float,
    fill: str,
    *,
    title: str = "",
    stroke: str | None = None,
    rx: float = 0.0,
) -> str:
    extra = f' stroke="{stroke}" stroke-width="0.6"' if stroke else ""
    extra += f' rx="{rx}"' if rx else ""
    body = f"<title>{escape(title)}</title>" if title else ""
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" '
        f'fill="{fill}"{extra}>{body}</rect>'
    )


def _text(
    x: float,
    y: float,
    content: str,
    size: int,
    colour: str,
    *,
    anchor: str = "start",
    extra: str = "",
    title: str = "",
) -> str:
    tooltip = f"<title>{escape(title)}</title>" if title else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{colour}" '
        f'text-anchor="{anchor}"{extra}>{tooltip}{escape(content)}</text>'
    )


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str) -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}"/>'


def _when(moment: dt.datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M}"

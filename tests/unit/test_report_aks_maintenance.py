"""The calendar report draws AKS's own announced work on its cluster's rows, and a moved start."""

from __future__ import annotations

import datetime as dt
import re

from patchpilot.report import render_html
from patchpilot.report.html import AKS_MAINTENANCE
from patchpilot.report.model import Calendar, Marker, Row, Span

START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
WORK = Span(
    dt.datetime(2026, 1, 10, 1, tzinfo=dt.UTC),
    dt.datetime(2026, 1, 10, 3, tzinfo=dt.UTC),
    "AKS's own NodeOSUpgrade on prod-neu-2: 2026-01-10 01:00 to 03:00 UTC; Completed",
)


def _row(pool: str | None, aks: tuple[Span, ...]) -> Row:
    return Row("prod", "prod-neu-2", pool, "Linux", (), (), (), aks_maintenance=aks)


def _calendar(*rows: Row, markers: tuple[Marker, ...] = ()) -> Calendar:
    return Calendar("t", "s", START, START + dt.timedelta(days=7), rows, markers=markers)


def _bands(html: str) -> list[str]:
    return re.findall(
        rf'<rect [^>]*fill="{AKS_MAINTENANCE}" fill-opacity[^>]*><title>([^<]*)', html
    )


def test_each_row_of_the_cluster_gets_a_band_with_the_type_and_status_as_tooltip() -> None:
    html = render_html(_calendar(_row(None, (WORK,)), _row("system", (WORK,)), _row("apps", ())))

    assert (
        _bands(html)
        == ["AKS&#x27;s own NodeOSUpgrade on prod-neu-2: 2026-01-10 01:00 to 03:00 UTC; Completed"]
        * 2
    )
    assert "AKS&#x27;s own announced maintenance (Patch Pilot starts nothing there)" in html


def test_a_band_is_drawn_where_the_work_ran() -> None:
    html = render_html(_calendar(_row(None, (WORK,))))

    (x,) = re.findall(rf'<rect x="([\d.]+)" [^>]*fill="{AKS_MAINTENANCE}" fill-opacity', html)
    # Five days and one hour into a seven-day calendar drawn from x=250 over 1094 pixels.
    assert float(x) == round(250 + (5 + 1 / 24) / 7 * (1360 - 250 - 16), 1)


def test_a_start_moved_out_of_aks_work_is_a_teal_point_with_its_story() -> None:
    moved = Marker(
        dt.datetime(2026, 1, 10, 3, tzinfo=dt.UTC),
        "aks-maintenance",
        "AKS work avoided",
        detail="Patch Pilot started prod-neu-2/control plane at 03:00 instead of 01:00",
    )
    html = render_html(_calendar(_row(None, ()), markers=(moved,)))

    assert re.search(
        rf'<circle [^>]*fill="{AKS_MAINTENANCE}"><title>Patch Pilot started prod-neu-2/control '
        r"plane at 03:00 instead of 01:00</title>",
        html,
    )
    assert ">AKS work avoided</text>" in html
    assert not _bands(html)

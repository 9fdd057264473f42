"""The Windows Update cadence: Patch Tuesdays, covered months and due instants."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patchpilot.domain.cadence import (
    MAX_OFFSET_DAYS,
    covered_patch_tuesday,
    latest_patch_tuesday,
    next_patch_tuesday,
    patch_tuesday,
    patch_tuesdays,
    release_instant,
    windows_due_from,
)
from patchpilot.domain.node_images import parse_node_image
from patchpilot.errors import InvalidInputError

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def read_rows(name: str) -> list[dict[str, str]]:
    """Rows of a shared/data CSV, or a skip when the shared folder is absent."""
    path = DATA / name
    if not path.exists():
        pytest.skip(f"shared data not found at {path}")
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


# Patch Tuesday itself


def test_patch_tuesday_matches_every_row_of_the_shared_calendar() -> None:
    rows = read_rows("patch_tuesdays.csv")
    assert len(rows) == 60
    for row in rows:
        expected = date.fromisoformat(row["date"])
        assert patch_tuesday(expected.year, expected.month) == expected


def test_patch_tuesdays_lists_the_shared_calendar_year_by_year() -> None:
    rows = read_rows("patch_tuesdays.csv")
    expected = [date.fromisoformat(row["date"]) for row in rows]
    assert [pt for year in range(2023, 2028) for pt in patch_tuesdays(year)] == expected


@pytest.mark.parametrize(
    ("year", "month", "expected"),
    [
        pytest.param(2025, 11, date(2025, 11, 11), id="month-starting-saturday"),
        pytest.param(2026, 9, date(2026, 9, 8), id="month-starting-tuesday-earliest"),
        pytest.param(2026, 10, date(2026, 10, 13), id="month-starting-thursday"),
        pytest.param(2024, 10, date(2024, 10, 8), id="month-starting-tuesday"),
        pytest.param(2025, 1, date(2025, 1, 14), id="month-starting-wednesday-latest"),
        pytest.param(2003, 10, date(2003, 10, 14), id="the-first-patch-tuesday"),
    ],
)
def test_patch_tuesday_is_the_second_tuesday(year: int, month: int, expected: date) -> None:
    assert patch_tuesday(year, month) == expected


def test_patch_tuesdays_of_2003_start_in_october() -> None:
    assert patch_tuesdays(2003) == [date(2003, 10, 14), date(2003, 11, 11), date(2003, 12, 9)]


@pytest.mark.parametrize(
    ("year", "month", "says"),
    [
        pytest.param(2025, 0, "month must be between 1 and 12", id="month-0"),
        pytest.param(2025, 13, "month must be between 1 and 12", id="month-13"),
        pytest.param(2003, 9, "no Patch Tuesday in 2003-09", id="before-the-first"),
        pytest.param(1999, 1, "no Patch Tuesday in 1999-01", id="last-century"),
        pytest.param(10000, 1, "no Patch Tuesday in 10000-01", id="past-the-calendar"),
        pytest.param(True, 1, "year must be a whole number", id="bool-year"),
        pytest.param(2025, 1.0, "month must be a whole number", id="float-month"),
    ],
)
def test_patch_tuesday_refuses_months_outside_the_cycle(year: int, month: int, says: str) -> None:
    with pytest.raises(InvalidInputError, match=says):
        patch_tuesday(year, month)


def test_patch_tuesdays_refuses_a_year_before_the_cycle() -> None:
    with pytest.raises(InvalidInputError, match="began in 2003-10"):
        patch_tuesdays(2002)


# The Patch Tuesday around a date


@pytest.mark.parametrize(
    ("day", "latest", "following"),
    [
        pytest.param(
            date(2025, 11, 11), date(2025, 11, 11), date(2025, 12, 9), id="on-patch-tuesday"
        ),
        pytest.param(date(2025, 11, 10), date(2025, 10, 14), date(2025, 11, 11), id="day-before"),
        pytest.param(date(2025, 11, 12), date(2025, 11, 11), date(2025, 12, 9), id="day-after"),
        pytest.param(date(2026, 1, 1), date(2025, 12, 9), date(2026, 1, 13), id="new-year"),
        pytest.param(date(2025, 12, 31), date(2025, 12, 9), date(2026, 1, 13), id="new-years-eve"),
    ],
)
def test_latest_and_next_patch_tuesday_around_a_date(
    day: date, latest: date, following: date
) -> None:
    assert latest_patch_tuesday(day) == latest
    assert next_patch_tuesday(day) == following


def test_latest_patch_tuesday_refuses_an_instant() -> None:
    with pytest.raises(InvalidInputError, match="must be a date"):
        latest_patch_tuesday(datetime(2025, 11, 11, 23, 0, tzinfo=UTC))


def test_latest_patch_tuesday_refuses_dates_before_the_first_one() -> None:
    with pytest.raises(InvalidInputError, match="no Patch Tuesday"):
        latest_patch_tuesday(date(2003, 10, 13))


# Which Patch Tuesday a Windows image includes


@pytest.mark.parametrize(
    ("image", "covered"),
    [
        pytest.param(
            "AKSWindows-2019-17763.4737.230808", date(2023, 8, 8), id="built-on-patch-tuesday"
        ),
        pytest.param("AKSWindows-2019-17763.4645.230712", date(2023, 7, 11), id="built-day-after"),
        pytest.param(
            "AKSWindows-2022-20348.1366.221214", date(2022, 12, 13), id="built-in-december"
        ),
        pytest.param(
            "AKSWindows-2022-20348.2966.241218", date(2024, 12, 10), id="built-a-week-later"
        ),
        pytest.param("AKSWindows-2022-20348.4648.260120", date(2026, 1, 13), id="built-in-january"),
        pytest.param(
            "AKSWindows-2025-26100.32370.260210", date(2026, 2, 10), id="windows-2025-on-pt"
        ),
        pytest.param(
            "AKSWindows-2022-containerd-20348.4405.251112", date(2025, 11, 11), id="full-family"
        ),
    ],
)
def test_covered_patch_tuesday_of_real_windows_builds(image: str, covered: date) -> None:
    assert covered_patch_tuesday(parse_node_image(image).build_date) == covered


def test_every_windows_vhd_note_covers_the_patch_tuesday_before_its_build() -> None:
    for row in read_rows("aks_windows_vhd_notes.csv"):
        built = parse_node_image(f"AKSWindows-{row['folder_sku']}-{row['build']}").build_date
        covered = covered_patch_tuesday(built)
        assert covered <= built < next_patch_tuesday(covered)


def test_images_the_calendar_pairs_with_a_patch_tuesday_cover_it() -> None:
    rows = read_rows("patch_tuesdays.csv")
    paired = [row for row in rows if row["images_built_on_or_after_pt"]]
    assert len(paired) == 43
    for row in paired:
        pt = date.fromisoformat(row["date"])
        for name in row["images_built_on_or_after_pt"].split(";"):
            assert covered_patch_tuesday(parse_node_image(name).build_date) >= pt


# When a Windows pool is due


@pytest.mark.parametrize(
    ("pt", "offset", "due"),
    [
        pytest.param(date(2025, 11, 11), 0, datetime(2025, 11, 11, tzinfo=UTC), id="same-day"),
        pytest.param(date(2025, 11, 11), 7, datetime(2025, 11, 18, tzinfo=UTC), id="a-week-later"),
        pytest.param(date(2025, 12, 9), 27, datetime(2026, 1, 5, tzinfo=UTC), id="largest-offset"),
    ],
)
def test_windows_due_from_is_midnight_utc_offset_days_after(
    pt: date, offset: int, due: datetime
) -> None:
    result = windows_due_from(pt, offset)
    assert result == due
    assert result.tzinfo is UTC


@pytest.mark.parametrize(
    ("offset", "says"),
    [
        pytest.param(-1, "between 0 and 27", id="negative"),
        pytest.param(28, "next month's Patch Tuesday", id="runs-into-next-month"),
        pytest.param(True, "whole number", id="bool"),
    ],
)
def test_windows_due_from_refuses_offsets_past_the_next_patch_tuesday(
    offset: int, says: str
) -> None:
    with pytest.raises(InvalidInputError, match=says):
        windows_due_from(date(2025, 11, 11), offset)


def test_windows_due_from_refuses_a_day_that_is_not_patch_tuesday() -> None:
    with pytest.raises(InvalidInputError, match="the one on or before it is 2025-11-11"):
        windows_due_from(date(2025, 11, 12), 7)


def test_windows_due_from_refuses_an_instant() -> None:
    with pytest.raises(InvalidInputError, match="must be a date"):
        windows_due_from(datetime(2025, 11, 11, tzinfo=UTC), 7)


def test_windows_due_from_refuses_a_due_day_past_the_calendar() -> None:
    with pytest.raises(InvalidInputError, match="past year 9999"):
        windows_due_from(patch_tuesday(9999, 12), 27)


# Properties

months = st.tuples(st.integers(2004, 9999), st.integers(1, 12))
days = st.dates(min_value=date(2003, 10, 14), max_value=date(9999, 11, 30))


@given(month=months)
def test_patch_tuesday_is_always_a_tuesday_between_day_8_and_14(month: tuple[int, int]) -> None:
    pt = patch_tuesday(*month)
    assert pt.weekday() == 1
    assert 8 <= pt.day <= 14
    assert (pt.year, pt.month) == month


@given(day=days)
def test_latest_patch_tuesday_is_the_last_one_not_after_the_day(day: date) -> None:
    latest = latest_patch_tuesday(day)
    following = next_patch_tuesday(latest)
    assert latest <= day < following
    assert (following - latest).days in (28, 35)


@given(day=days, offset=st.integers(0, MAX_OFFSET_DAYS))
def test_every_due_instant_comes_before_the_next_patch_tuesday(day: date, offset: int) -> None:
    pt = latest_patch_tuesday(day)
    due = windows_due_from(pt, offset)
    assert due.date() == pt + timedelta(days=offset)
    assert due.date() < next_patch_tuesday(pt)


@pytest.mark.parametrize(
    ("tuesday", "expected"),
    [
        pytest.param(date(2026, 1, 13), datetime(2026, 1, 13, 18, 0, tzinfo=UTC), id="winter-pst"),
        pytest.param(date(2026, 7, 14), datetime(2026, 7, 14, 17, 0, tzinfo=UTC), id="summer-pdt"),
        pytest.param(date(2026, 3, 10), datetime(2026, 3, 10, 17, 0, tzinfo=UTC), id="dst-start"),
        pytest.param(date(2026, 11, 10), datetime(2026, 11, 10, 18, 0, tzinfo=UTC), id="dst-end"),
    ],
)
def test_patch_tuesday_releases_at_ten_pacific(tuesday: date, expected: datetime) -> None:
    assert release_instant(tuesday) == expected

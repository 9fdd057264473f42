"""`bench/time_to_patch.py` on a short replay: two months of real releases over six clusters.

The benchmark's figures are only worth printing if its records hold the
issue's invariants, under both node image selections: every upgrade starts
inside its pool's node OS window, never before the earliest moment the rules
allowed (which itself is never before the image reached the region), never
twice, and prod never ahead of dev. The windows here are recomputed from the
fleet's schedules and the policy's freezes, not taken from the benchmark's
own fields. The report's last line, `exposure:`, is held to its format and
its floor to the generated policy's soaks, so issue 16's runs stay comparable.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from bench.replay_calendar import (
    RELEASES_CSV,
    WindowLayout,
    build_catalog,
    generate_fleet,
    generate_policy,
    read_releases,
)
from bench.time_to_patch import (
    SELECTIONS,
    Operation,
    Replay,
    Side,
    default_selection,
    main,
    percentile,
    render,
    replay,
    write_operations,
)
from patchpilot.domain.fleet import NODE_OS_SCHEDULE
from patchpilot.domain.windows import subtract
from tests.integration import aks_windows

if not RELEASES_CSV.exists():
    pytest.skip(f"shared data not found at {RELEASES_CSV}", allow_module_level=True)

START = dt.date(2025, 8, 1)
DAYS = 61  # crosses the 2025-08-08, 08-29 and 09-21 releases and two Patch Tuesdays
CLUSTERS = 6
_DAYS = r"(\d+\.\d|-)"
_OS_PART = (
    rf"(?P<{{os}}>{{os}}) prod median (?P<{{os}}_median>{_DAYS}) model (?P<{{os}}_model>{_DAYS}) "
    rf"floor (?P<{{os}}_floor>{_DAYS}) never-patched (?P<{{os}}_never>\d+)"
)
EXPOSURE = re.compile(
    r"exposure(?: \(selection (?P<selection>[a-z_]+)\))?: "
    + _OS_PART.format(os="linux")
    + "; "
    + _OS_PART.format(os="windows")
    + r"; prod-before-dev (?P<ahead>\d+)/(?P<prod>\d+); "
    r"start/earliest (?P<ratio>\d+\.\d\d|-); early (?P<early>\d+)"
)


@pytest.fixture(scope="module")
def result() -> Replay:
    """One replay of every selection shared by the tests, in two worker processes."""
    return replay(START, DAYS, CLUSTERS, seed=1, jobs=2)


@pytest.fixture(params=SELECTIONS)
def side(request: pytest.FixtureRequest, result: Replay) -> Side:
    """Each selection's side of the replay in turn."""
    return result.side(request.param)


def _in_window(result: Replay, op: Operation) -> bool:
    run = result.sides[0].run
    fleet, policy = run.inputs.fleet, run.inputs.policy
    cluster = next(c for c in fleet.clusters if c.key == op.cluster.lower())
    window = cluster.maintenance[NODE_OS_SCHEDULE].window_at(op.started_at)
    if window is None:
        return False
    return any(piece.contains(op.started_at) for piece in subtract(window, policy.freeze_spans))


def test_every_selection_ran_with_its_own_policy(result: Replay) -> None:
    assert [s.selection for s in result.sides] == list(SELECTIONS)
    for s in result.sides:
        assert s.run.inputs.policy.node_images.selection == s.selection


def test_patchpilot_upgraded_both_oses(side: Side) -> None:
    oses = {op.os for op in side.operations if op.outcome == "succeeded"}
    assert oses == {"Linux", "Windows"}


def test_every_record_knows_its_availability_and_earliest_moment(side: Side) -> None:
    for op in side.operations:
        assert op.available_at is not None, op
        assert op.earliest_allowed_at is not None, op
        assert op.available_at <= op.earliest_allowed_at <= op.started_at, op
        assert op.finished_at is None or op.finished_at > op.started_at, op


def test_no_upgrade_started_outside_its_window_or_twice(result: Replay, side: Side) -> None:
    assert all(_in_window(result, op) for op in side.operations)
    starts = Counter((op.key, str(op.target)) for op in side.operations)
    assert max(starts.values()) == 1


def test_figures_hold_the_goals(side: Side) -> None:
    figures = side.figures
    assert figures.early_starts == 0
    assert figures.start_ratio is not None
    assert figures.start_ratio == pytest.approx(1.0, abs=0.05)
    assert all(v >= 0 for values in figures.exposures.values() for v in values)


@pytest.mark.parametrize("selection", ["bounded", "soaked"])
def test_prod_never_takes_an_image_before_every_dev_pool_had_it(
    result: Replay, selection: str
) -> None:
    # `bounded` by its canary check, `soaked` by invariant 7. `latest` (as before issue 16,
    # with no canary) takes AKS's newest once an earlier ring soaked *some* newer image, so
    # over a year it does run ahead of dev at times.
    figures = result.side(selection).figures
    assert figures.prod_operations > 0
    assert figures.prod_before_dev == 0


def test_the_node_image_model_uses_the_same_windows(result: Replay) -> None:
    assert result.model
    for op in result.model:
        assert op.available_at is not None
        assert op.available_at <= op.started_at
        assert _in_window(result, op), op
    assert result.model_figures.early_starts == 0


def test_output_and_last_line(result: Replay, tmp_path: Path) -> None:
    path = tmp_path / "records.json"
    write_operations(path, result)
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["selections"] == list(SELECTIONS)
    by_selection = Counter(record["selection"] for record in document["patchpilot"])
    assert by_selection == {s.selection: len(s.operations) for s in result.sides}
    assert len(document["nodeimage_model"]) == len(result.model)
    assert {record["selection"] for record in document["nodeimage_model"]} == {None}
    assert {"available_at", "earliest_allowed_at", "started_at", "finished_at"} <= set(
        document["patchpilot"][0]
    )
    ratios, last = render(result).splitlines()[-2:]
    assert ratios.startswith("ratios: bounded: ")
    assert " | soaked: " in ratios
    assert " | latest: " in ratios
    assert EXPOSURE.fullmatch(last), last


def test_the_exposure_line_is_the_default_selections_prod_against_its_floor(
    result: Replay,
) -> None:
    match = EXPOSURE.fullmatch(render(result).splitlines()[-1])
    assert match is not None
    assert match["selection"] is None  # the default selection ran: the line does not name it
    default = default_selection()
    ours, model = result.side(default).figures, result.model_figures
    soak = sum(ring["soak_days"] for ring in generate_policy(default)["rings"])  # dev to prod
    for os_name in ("Linux", "Windows"):
        key, name = (os_name, "prod"), os_name.lower()
        assert match[f"{name}_median"] == _median_text(ours.exposures.get(key, ()))
        assert match[f"{name}_model"] == _median_text(model.exposures[key])
        assert float(match[f"{name}_floor"]) == pytest.approx(
            float(match[f"{name}_model"]) + soak, abs=0.051
        )
        assert int(match[f"{name}_never"]) == ours.never_patched.get(key, 0)
        assert ours.never_patched.get(key, 0) <= ours.unpatched.get(key, 0)
    assert (int(match["ahead"]), int(match["prod"])) == (
        ours.prod_before_dev,
        ours.prod_operations,
    )
    assert int(match["early"]) == ours.early_starts == 0
    assert match["linux_median"] != "-"  # two months are enough for Linux prod to move


def _median_text(values: Sequence[float]) -> str:
    """The line's `<d>`: one decimal, or `-` for no sample (Windows prod in a short replay)."""
    return f"{percentile(values, 0.5):.1f}" if values else "-"


def test_one_selection_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "records.json"
    other = next(s for s in SELECTIONS if s != default_selection())
    argv = ["--start", "2025-08-01", "--days", "3", "--clusters", "3", "--selection", other]
    assert main([*argv, "--jobs", "1", "--out", str(path)]) == 0
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["selections"] == [other]
    assert {record["selection"] for record in document["patchpilot"]} <= {other}
    ratios, last = capsys.readouterr().out.splitlines()[-2:]
    assert ratios.startswith(f"ratios: {other}: ")
    match = EXPOSURE.fullmatch(last)
    assert match is not None, last
    assert match["selection"] == other  # the default did not run: the line says whose it is


@pytest.mark.parametrize(
    ("layout", "staging_slowest"),
    [("varied", "relativeMonthly"), ("graded", "weekly")],
)
def test_graded_windows_give_no_gating_ring_a_rarer_window_than_weekly(
    layout: WindowLayout, staging_slowest: str
) -> None:
    catalog = build_catalog(read_releases(), START, START + DAYS * dt.timedelta(days=1))
    document = generate_fleet(catalog, 30, START, layout)
    kinds: dict[str, set[str]] = {}
    for cluster in document["clusters"]:
        window = cluster["maintenance_configurations"]["aksManagedNodeOSUpgradeSchedule"]
        kinds.setdefault(cluster["tags"]["env"], set()).update(
            window["maintenanceWindow"]["schedule"]
        )
    assert kinds["dev"] == {"daily"}
    assert staging_slowest in kinds["staging"]
    assert ("relativeMonthly" in kinds["staging"]) is (layout == "varied")


def test_every_start_in_the_json_sits_in_a_window_computed_by_other_code(
    result: Replay, tmp_path: Path
) -> None:
    """The `--out` file alone, read with `aks_windows` instead of Patch Pilot's schedules."""
    path = tmp_path / "records.json"
    write_operations(path, result)
    document = json.loads(path.read_text(encoding="utf-8"))
    windows = {
        c["id"].lower(): c["maintenance_configurations"]["aksManagedNodeOSUpgradeSchedule"][
            "maintenanceWindow"
        ]
        for c in document["fleet"]["clusters"]
    }
    checked = 0
    for record in document["patchpilot"] + document["nodeimage_model"]:
        started = dt.datetime.fromisoformat(record["started_at"])
        where = f"{record['source']} {record['selection']} {record['cluster']}/{record['pool']}"
        assert aks_windows.contains(windows[record["cluster"].lower()], started), where
        if record["source"] == "patchpilot":
            freezes = document["policies"][record["selection"]]["freezes"]
            assert not aks_windows.frozen(freezes, started), where
            assert record["earliest_allowed_at"] <= record["started_at"], where
        assert record["available_at"] is None or record["available_at"] <= record["started_at"]
        checked += 1
    assert checked == len(result.model) + sum(len(s.operations) for s in result.sides)


@pytest.mark.parametrize(
    ("schedule", "inside", "outside"),
    [
        # Every 2 weeks on Tuesday from Monday 2025-06-30: the week of 06-29 is week 0.
        pytest.param({"weekly": {"intervalWeeks": 2, "dayOfWeek": "Tuesday"}},
                     "2025-07-15T20:30:00Z", "2025-07-08T20:30:00Z", id="fortnightly"),
        pytest.param({"relativeMonthly": {"intervalMonths": 1, "weekIndex": "Third",
                                          "dayOfWeek": "Saturday"}},
                     "2025-07-20T01:00:00Z", "2025-07-13T01:00:00Z", id="third-saturday"),
        pytest.param({"daily": {"intervalDays": 2}},
                     "2025-07-02T20:30:00Z", "2025-07-01T20:30:00Z", id="every-two-days"),
    ],
)  # fmt: skip
def test_the_independent_reading_tells_windows_apart(
    schedule: dict[str, Any], inside: str, outside: str
) -> None:
    window = {"schedule": schedule, "durationHours": 6, "startDate": "2025-06-30",
              "startTime": "20:00", "utcOffset": "+00:00"}  # fmt: skip
    assert aks_windows.contains(window, dt.datetime.fromisoformat(inside))
    assert not aks_windows.contains(window, dt.datetime.fromisoformat(outside))

"""`patchpilot demo` end to end, in-process, on shorter spans than the README's 45 days.

One run of the bundled fleet (12 days from 2025-12-01: a new Ubuntu image, a
Kubernetes patch release, the drain failure and the operator's resume, the
December Patch Tuesday, the Fleet gate scene, AKS's own node OS work on prod-neu-2, a 429
storm) feeds most tests (the README's 45 days are test_demo_scenes.py's); a second replays the
examples fleet and policy from another date, as a user replays their own.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from patchpilot.demo.allowed_windows import AllowedWindows
from patchpilot.demo.cli import main
from patchpilot.demo.progress import ProgressBar
from patchpilot.demo.records import UpgradeRecord
from patchpilot.demo.summary import duplicate_starts
from patchpilot.domain.windows import Window

ROOT = Path(__file__).resolve().parents[2]
RECORD_FIELDS = {
    "cluster",
    "pool",
    "kind",
    "from",
    "to",
    "available_at",
    "earliest_allowed_at",
    "started_at",
    "finished_at",
    "outcome",
}
ISO_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
FETCHES = re.compile(r"https?://|<script[^>]*\bsrc=|<link\b|@import|url\((?!#)", re.IGNORECASE)


@dataclass(frozen=True)
class Ran:
    """One finished demo command: exit code, what it printed, what it wrote."""

    code: int
    out: str
    err: str
    report: Path
    records: list[dict[str, Any]]


def run_command(tmp: Path, capsys: pytest.CaptureFixture[str], *args: str) -> Ran:
    report, records = tmp / "report.html", tmp / "records.jsonl"
    code = main([*args, "--report", str(report), "--records", str(records)])
    out, err = capsys.readouterr()
    lines = records.read_text().splitlines() if records.exists() else []
    return Ran(code, out, err, report, [json.loads(line) for line in lines])


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> Ran:
    """The bundled fleet for 12 days; capsys is function-scoped, so capture by hand."""
    tmp = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as patch:
        out, err = io.StringIO(), io.StringIO()
        patch.setattr("sys.stdout", out)
        patch.setattr("sys.stderr", err)
        report, records = tmp / "report.html", tmp / "records.jsonl"
        code = main(["--days", "12", "--report", str(report), "--records", str(records)])
    lines = records.read_text().splitlines()
    return Ran(code, out.getvalue(), err.getvalue(), report, [json.loads(line) for line in lines])


def test_the_bundled_demo_keeps_both_invariants_and_exits_zero(bundled: Ran) -> None:
    assert bundled.code == 0
    assert "upgrades started outside an allowed window: 0" in bundled.out
    assert "duplicate starts (same cluster, pool, kind, target): 0" in bundled.out


def test_the_summary_counts_patched_pools_and_days_per_os(bundled: Ran) -> None:
    summary = bundled.out[bundled.out.index("Summary:") :]
    assert re.search(r"patched\s+Linux pools \d+ of 13, Windows pools \d+ of 4", summary)
    assert re.search(r"Linux\s+median\s+\d+\.\d, worst\s+\d+\.\d", summary)
    assert "function invocations" in summary
    assert ", 0 failed" in summary


def test_the_timeline_shows_upgrades_waits_and_the_scenario(bundled: Ran) -> None:
    timeline = bundled.out[: bundled.out.index("Summary:")]
    for tag in (
        "AKS",
        "wait",
        "upgrade",
        "fault",
        "operator",
        "paused",
        "Windows",
        "alert",
        "fleet",
    ):
        assert re.search(rf"^\d{{4}}-\d\d-\d\d \d\d:\d\d  {tag}\b", timeline, re.MULTILINE), tag
    assert "window 12-03 00:00 to 04:00 (aksManagedNodeOSUpgradeSchedule)" in timeline
    assert "drain blocked by Pod Disruption Budget" in timeline
    # One failure makes one pause (the event and the settled failure share it).
    assert "deleted 1 pause(s) via DELETE /api/pauses/{id}" in timeline
    assert "429 storm" in timeline


def test_every_record_has_the_documented_fields_in_utc(bundled: Ran) -> None:
    assert bundled.records
    for record in bundled.records:
        assert set(record) == RECORD_FIELDS
        assert record["kind"] in ("kubernetes", "node_image")
        assert record["outcome"] in ("succeeded", "failed", "running")
        for name in ("started_at", "finished_at", "available_at", "earliest_allowed_at"):
            assert record[name] is None or ISO_Z.fullmatch(record[name]), (name, record)
        if record["earliest_allowed_at"] is not None:
            assert record["earliest_allowed_at"] <= record["started_at"]
        if record["available_at"] is not None:
            assert record["available_at"] <= record["started_at"]


def test_records_date_availability_from_the_catalog(bundled: Ran) -> None:
    by_where = {
        (r["cluster"].rsplit("/", 1)[-1], r["pool"], r["kind"], r["to"]): r for r in bundled.records
    }
    control_plane = by_where[("dev-weu-1", None, "kubernetes", "1.32.10")]
    assert control_plane["available_at"] == "2025-12-04T00:00:00Z"
    image = by_where[
        ("dev-weu-1", "system", "node_image", "AKSUbuntu-2204gen2containerd-202512.01.0")
    ]
    assert image["available_at"] == "2025-12-03T00:00:00Z"
    assert image["from"] == "AKSUbuntu-2204gen2containerd-202511.17.0"


def test_the_drain_failure_is_retried_after_the_resume_and_is_no_duplicate(bundled: Ran) -> None:
    apps = [
        r
        for r in bundled.records
        if r["cluster"].endswith("/stg-weu-1") and r["pool"] == "apps" and r["kind"] == "node_image"
    ]
    assert [r["outcome"] for r in apps] == ["failed", "succeeded"]
    assert apps[0]["to"] == apps[1]["to"]


def test_a_fleet_update_run_waits_at_its_gate_while_the_alert_fires_and_patch_pilot_approves(
    bundled: Ran,
) -> None:
    timeline = bundled.out[: bundled.out.index("Summary:")]
    entry = re.compile(r"^2025-12-10 (\d\d:\d\d)  (alert|fleet)\s+(\S+)\s+(.*)$", re.MULTILINE)
    scene = [match.group(4) for match in entry.finditer(timeline)]
    assert [match.group(1, 2, 3) for match in entry.finditer(timeline)] == [
        ("09:00", "alert", "prod-weu-1"),
        ("09:30", "fleet", "fleet-contoso"),
        ("09:30", "fleet", "fleet-contoso"),
        ("11:12", "alert", "prod-weu-1"),
        ("11:15", "fleet", "fleet-contoso"),
        ("11:15", "fleet", "fleet-contoso"),
    ]
    assert scene[1] == (
        "update run prod-rollout starts (dev -> staging -> prod), approval gate 'before prod'"
    )
    assert scene[2].startswith("gate 'before prod' of prod-rollout: blocked (before stage prod")
    assert scene[4].startswith("gate 'before prod' of prod-rollout: approved (before stage prod")
    assert scene[5] == "update run prod-rollout goes on past the gate: Completed"
    assert "fires; POST /api/alerts: paused" in scene[0]
    assert "prod-weu-1: alert prod-api-latency firing (cluster paused)" in scene[2]
    assert "resolves; POST /api/alerts: resumed" in scene[3]
    summary = bundled.out[bundled.out.index("Summary:") :]
    assert "Fleet Manager gates     1: 1 approved by Patch Pilot" in summary
    assert (
        "fleet-contoso/prod-rollout 'before prod': waited 1 h 45 min from 2025-12-10 09:30, "
        "approved by Patch Pilot at 2025-12-10 11:15" in summary
    )
    assert "held by prod-weu-1: alert prod-api-latency firing (cluster paused)" in summary


def test_the_report_draws_the_fleet_gate_waiting_and_its_approval(bundled: Ran) -> None:
    html = bundled.report.read_text(encoding="utf-8")
    assert "Fleet gate waiting" in html  # the legend
    assert "gate &#x27;before prod&#x27; of update run prod-rollout waiting: approved" in html
    assert "Azure Monitor alert prod-api-latency firing on prod-weu-1" in html
    assert "<caption>Fleet Manager gates</caption>" in html
    assert "2025-12-10T11:15:00Z" in html


def test_aks_own_node_os_work_is_told_and_drawn_and_nothing_of_patch_pilots_runs_in_it(
    bundled: Ran,
) -> None:
    timeline = bundled.out[: bundled.out.index("Summary:")]
    assert re.search(
        r"^2025-12-06 01:00  AKS\s+prod-neu-2\s+runs its own NodeOSUpgrade, 01:00 to 03:00 "
        r"\(announced 7 days and 24 hours ahead\)\n\s+none of Patch Pilot's upgrades ran inside it",
        timeline,
        re.MULTILINE,
    )
    summary = bundled.out[bundled.out.index("Summary:") :]
    assert "AKS's own maintenance   1 announced on prod-neu-2" in summary
    assert "upgrades of Patch Pilot's running inside AKS's work: 0" in summary
    html = bundled.report.read_text(encoding="utf-8")
    assert "AKS&#x27;s own NodeOSUpgrade on prod-neu-2: 2025-12-06 01:00 to 03:00 UTC" in html


def test_the_report_is_written_and_fetches_nothing(bundled: Ran) -> None:
    html = bundled.report.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert "<svg" in html
    assert "ring staging" in html
    assert "Patch Tuesday 12-09" in html
    assert not FETCHES.search(html), FETCHES.search(html)


def test_progress_goes_to_stderr_as_plain_lines(bundled: Ran) -> None:
    lines = bundled.err.splitlines()
    assert lines, "no progress shown"
    assert all(line.startswith("[") and "days" in line for line in lines)
    assert "\r" not in bundled.err
    assert "12/12 days" in lines[-1]


def test_a_users_fleet_and_policy_replay_from_their_own_date(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = run_command(
        tmp_path,
        capsys,
        "--fleet",
        str(ROOT / "examples" / "fleet.yaml"),
        "--policy",
        str(ROOT / "examples" / "policy.yaml"),
        "--start",
        "2025-11-15T00:00Z",
        "--days",
        "8",
        "--quiet",
        "--no-faults",
    )
    assert ran.code == 0, ran.out
    assert ran.err == ""
    assert "Timeline (UTC), 2025-11-15 to 2025-11-23" in ran.out
    assert any(r["to"] == "1.32.9" for r in ran.records)
    assert "examples/fleet.yaml" in ran.report.read_text(encoding="utf-8")


def test_a_fleet_file_that_is_not_there_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = run_command(tmp_path, capsys, "--fleet", str(tmp_path / "nope.yaml"), "--quiet")
    assert ran.code == 2
    assert ran.err.count("\n") == 1
    assert "nope.yaml" in ran.err
    assert not ran.report.exists()


def test_an_upgrade_started_outside_its_window_makes_the_command_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if the fleet file allowed no window at all: every start the app makes is outside.
    monkeypatch.setattr(AllowedWindows, "window_at", lambda *args: None)
    ran = run_command(tmp_path, capsys, "--days", "4", "--quiet", "--no-faults")
    assert ran.code == 1
    found = re.search(r"upgrades started outside an allowed window: (\d+)", ran.out)
    assert found
    assert int(found.group(1)) == len(ran.records) > 0
    assert "  ! dev-weu-1/system node image 202511.17.0 -> 202512.01.0 at 2025-12-03" in ran.out


def _record(started: str, outcome: str, *, target: str = "1.32.10") -> UpgradeRecord:
    at = dt.datetime.fromisoformat(started).replace(tzinfo=dt.UTC)
    return UpgradeRecord(
        cluster="/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerService/managedClusters/c",
        pool="system",
        kind="kubernetes",
        current="1.32.9",
        target=target,
        os="Linux",
        started_at=at,
        finished_at=at + dt.timedelta(minutes=20),
        outcome=outcome,
        error=None,
        window=Window(at, at + dt.timedelta(hours=4)),
        schedule_name="aksManagedAutoUpgradeSchedule",
        available_at=None,
        earliest_allowed_at=None,
    )


@pytest.mark.parametrize(
    ("starts", "duplicates"),
    [
        pytest.param([("2025-12-01T01:00", "succeeded")], 0, id="one-start"),
        pytest.param(
            [("2025-12-01T01:00", "failed"), ("2025-12-02T01:00", "succeeded")],
            0,
            id="retry-after-a-failure",
        ),
        pytest.param(
            [("2025-12-01T01:00", "succeeded"), ("2025-12-02T01:00", "succeeded")],
            1,
            id="second-start-after-success",
        ),
        pytest.param(
            [("2025-12-01T01:00", "running"), ("2025-12-01T01:05", "running")],
            1,
            id="second-start-while-running",
        ),
    ],
)
def test_duplicate_starts_count_only_restarts_that_no_failure_explains(
    starts: list[tuple[str, str]], duplicates: int
) -> None:
    records = tuple(_record(at, outcome) for at, outcome in starts)
    assert len(duplicate_starts(records)) == duplicates


def test_the_progress_bar_redraws_in_place_on_a_terminal() -> None:
    stream = io.StringIO()
    start = dt.datetime(2025, 12, 1, tzinfo=dt.UTC)
    bar = ProgressBar(start, start + dt.timedelta(days=4), stream, redraw=True)
    for day in range(1, 5):
        bar(start + dt.timedelta(days=day))
    bar.close()
    text = stream.getvalue()
    assert text.count("\r") == 4
    assert "4/4 days  2025-12-05" in text.rsplit("\r", 1)[-1]
    assert text.endswith("\n")

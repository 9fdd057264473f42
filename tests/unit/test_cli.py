"""The `patchpilot` command as a user runs it: output shapes and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from patchpilot.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
FIXTURES = ROOT.parent / "shared" / "fixtures" / "azure-rest-api-specs" / "containerservice"
PLAN = ["plan", "--policy", str(EXAMPLES / "policy.yaml"), "--fleet", str(EXAMPLES / "fleet.yaml")]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_json_follows_the_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *PLAN, "--at", "2025-11-22T01:30Z", "--json")
    assert code == 0
    body = json.loads(out)
    assert body["at"] == "2025-11-22T01:30:00Z"
    statuses = {a["status"] for a in body["actions"]}
    assert statuses <= {"due", "scheduled", "blocked"}
    assert "due" in statuses
    for action in body["actions"]:
        assert action["kind"] in ("kubernetes", "node_image")
        assert action["reason"]
        assert action["not_before"] is None or action["not_before"].endswith("Z")


def test_plan_table_shows_each_action_with_its_reason(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *PLAN, "--at", "2025-11-22T01:30Z")
    assert code == 0
    assert out.startswith("Plan at 2025-11-22T01:30:00Z:")
    assert "DUE" in out
    assert "dev-weu-1" in out
    assert "    due: " in out


def test_plan_reads_an_offset_as_the_same_instant(capsys: pytest.CaptureFixture[str]) -> None:
    _, utc_out, _ = run(capsys, *PLAN, "--at", "2025-11-22T01:30Z", "--json")
    _, offset_out, _ = run(capsys, *PLAN, "--at", "2025-11-22T02:30:00+01:00", "--json")
    assert json.loads(utc_out) == json.loads(offset_out)


@pytest.mark.skipif(not FIXTURES.exists(), reason="shared fixtures are not beside the repo")
def test_windows_lists_the_next_windows_of_an_arm_example(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    example = json.loads(
        (
            FIXTURES
            / "2026-05-01"
            / "MaintenanceConfigurationsCreate_Update_MaintenanceWindow.json"
        ).read_text()
    )
    config = tmp_path / "config.json"
    config.write_text(json.dumps(example["responses"]["200"]["body"]))
    code, out, _ = run(
        capsys,
        "windows",
        "--config",
        str(config),
        "--after",
        "2023-01-01T00:00Z",
        "--count",
        "3",
        "--json",
    )
    assert code == 0
    windows = json.loads(out)["windows"]
    assert len(windows) == 3
    # Every third Monday from 2023-01-01, 08:30 at +05:30 (03:00Z), for 10 hours.
    assert windows[0] == {"start": "2023-01-02T03:00:00Z", "end": "2023-01-02T13:00:00Z"}
    assert windows[1]["start"] == "2023-01-23T03:00:00Z"


def test_patch_tuesday_lists_twelve_second_tuesdays(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "patch-tuesday", "--year", "2026", "--offset-days", "7", "--json")
    assert code == 0
    rows = json.loads(out)["patch_tuesdays"]
    assert [r["date"] for r in rows][:3] == ["2026-01-13", "2026-02-10", "2026-03-10"]
    assert rows[0]["due_from"] == "2026-01-20T00:00:00Z"
    code, out, _ = run(capsys, "patch-tuesday", "--year", "2026")
    assert "2026-12-08" in out


FORTNIGHTLY_WITHOUT_START_DATE = {
    "name": "aksManagedNodeOSUpgradeSchedule",
    "properties": {
        "maintenanceWindow": {
            "schedule": {"weekly": {"intervalWeeks": 2, "dayOfWeek": "Sunday"}},
            "durationHours": 4,
            "startTime": "01:00",
        }
    },
}


def test_windows_refuses_an_interval_without_start_date_whatever_the_after(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(FORTNIGHTLY_WITHOUT_START_DATE))
    answers = [
        run(capsys, "windows", "--config", str(config), "--after", after, "--json")
        for after in ("2026-01-03T00:00Z", "2026-01-10T00:00Z")
    ]
    assert answers[0] == answers[1]
    code, out, err = answers[0]
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert err.startswith(f"patchpilot: error: {config}: ")
    assert "properties.maintenanceWindow.startDate" in err
    assert "intervalWeeks 2 without startDate" in err
    assert "set startDate" in err
    assert "Traceback" not in err


def test_windows_with_a_start_date_agree_from_two_afters(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    anchored = json.loads(json.dumps(FORTNIGHTLY_WITHOUT_START_DATE))
    anchored["properties"]["maintenanceWindow"]["startDate"] = "2026-01-04"
    config = tmp_path / "config.json"
    config.write_text(json.dumps(anchored))
    found = []
    for after in ("2026-01-03T00:00Z", "2026-01-10T00:00Z"):
        code, out, _ = run(capsys, "windows", "--config", str(config), "--after", after, "--json")
        assert code == 0
        found.append([w["start"] for w in json.loads(out)["windows"]])
    assert found[0][:3] == ["2026-01-04T01:00:00Z", "2026-01-18T01:00:00Z", "2026-02-01T01:00:00Z"]
    assert found[1][:2] == found[0][1:3]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param([*PLAN, "--at", "next tuesday"], "not a time", id="bad-time"),
        pytest.param(
            ["plan", "--policy", "/nonexistent.yaml", "--fleet", "x", "--at", "2025-01-01"],
            "file not found",
            id="missing-file",
        ),
        pytest.param(
            ["windows", "--config", str(EXAMPLES / "policy.yaml"), "--after", "2025-01-01"],
            "not valid JSON",
            id="bad-json",
        ),
        pytest.param(["patch-tuesday", "--year", "twenty"], "whole number", id="bad-year"),
        pytest.param(
            ["windows", "--config", "x", "--after", "2025-01-01", "--count", "0"],
            "between 1 and 1000",
            id="bad-count",
        ),
    ],
)
def test_bad_input_exits_2_with_one_message_and_no_traceback(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code  # type: ignore[assignment]
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_bad_yaml_and_unknown_fields_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "policy.yaml"
    broken.write_text("scopes: [unclosed\n")
    code, _, err = run(
        capsys,
        "plan",
        "--policy",
        str(broken),
        "--fleet",
        str(EXAMPLES / "fleet.yaml"),
        "--at",
        "2025-01-01",
    )
    assert code == 2
    assert f"{broken}: not valid YAML: line" in err
    broken.write_text((EXAMPLES / "policy.yaml").read_text() + "\nextra: 1\n")
    code, _, err = run(
        capsys,
        "plan",
        "--policy",
        str(broken),
        "--fleet",
        str(EXAMPLES / "fleet.yaml"),
        "--at",
        "2025-01-01",
    )
    assert code == 2
    assert "extra: unknown field" in err

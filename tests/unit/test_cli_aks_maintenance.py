"""`patchpilot aks-maintenance` and `plan` over a fleet file whose cluster carries AKS's work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from patchpilot.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
AT = "2025-11-22T01:30Z"
WORK = {
    "event_id": "bbe82027-0444-4f73-897a-0bbfe3af66f1",
    "status": "Scheduled",
    "scheduled": "2025-11-22T02:00:00Z",
    "upgrade_type": "NodeOSUpgrade",
    "source": "AutoUpgrader",
}


@pytest.fixture
def fleet_file(tmp_path: Path) -> Path:
    """The example fleet, with AKS's node OS work announced on dev-weu-1 this Saturday."""
    fleet = yaml.safe_load((EXAMPLES / "fleet.yaml").read_text())
    (dev,) = [c for c in fleet["clusters"] if c["id"].endswith("/dev-weu-1")]
    dev["aks_maintenance"] = [WORK]
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(fleet))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command_lists_aks_work_and_the_stretch_patch_pilot_keeps_clear(
    capsys: pytest.CaptureFixture[str], fleet_file: Path
) -> None:
    code, out, _ = run(capsys, "aks-maintenance", "--fleet", str(fleet_file), "--at", AT, "--json")
    assert code == 0
    (entry,) = json.loads(out)["aks_maintenance"]
    assert (entry["upgrade_type"], entry["status"], entry["holds"]) == (
        "NodeOSUpgrade",
        "Scheduled",
        True,
    )
    assert (entry["no_start_from"], entry["no_start_until"]) == (
        "2025-11-21T22:00:00Z",
        # The node OS window of dev-weu-1 is not configured: AKS's longest window, 24 h, + 1 h.
        "2025-11-23T03:00:00Z",
    )
    code, table, _ = run(capsys, "aks-maintenance", "--fleet", str(fleet_file), "--at", AT)
    assert code == 0
    assert "AKS's own scheduled work at 2025-11-22T01:30:00Z:" in table
    assert "dev-weu-1  NodeOSUpgrade  Scheduled" in table


def test_the_plan_of_that_fleet_moves_the_start_past_aks_work_and_says_why(
    capsys: pytest.CaptureFixture[str], fleet_file: Path
) -> None:
    policy = str(EXAMPLES / "policy.yaml")
    argv = ["plan", "--policy", policy, "--fleet", str(fleet_file), "--at", AT, "--json"]
    code, out, _ = run(capsys, *argv)
    assert code == 0
    dev = [a for a in json.loads(out)["actions"] if a["cluster"].endswith("/dev-weu-1")]
    assert any(action["status"] == "scheduled" for action in dev)
    for action in dev:
        assert action["status"] != "due"
        if action["status"] == "scheduled":
            assert (
                "AKS announced its own NodeOSUpgrade maintenance on dev-weu-1" in action["reason"]
            )


def test_an_entry_without_its_start_is_refused_with_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fleet_file: Path
) -> None:
    fleet = yaml.safe_load(fleet_file.read_text())
    for cluster in fleet["clusters"]:
        for entry in cluster.get("aks_maintenance", []):
            del entry["scheduled"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(fleet))
    code, _, err = run(capsys, "aks-maintenance", "--fleet", str(bad), "--at", AT)
    assert code == 2
    assert "scheduled" in err

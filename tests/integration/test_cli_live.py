"""`patchpilot plan --live` against the simulator prints what the offline plan prints."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from patchpilot.cli import main
from patchpilot.sim.clock import VirtualClock
from patchpilot.sim.server import run_simulator

ROOT = Path(__file__).resolve().parents[2]
FLEET = ROOT / "examples" / "fleet.yaml"
POLICY = ROOT / "examples" / "policy.yaml"
AT = "2025-11-22T01:30:00Z"


def test_live_plan_from_options_equals_the_offline_plan(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["plan", "--fleet", str(FLEET), "--policy", str(POLICY), "--at", AT, "--json"]) == 0
    offline = json.loads(capsys.readouterr().out)
    start = dt.datetime(2025, 11, 22, 1, 30, tzinfo=dt.UTC)
    monkeypatch.setenv("PATCHPILOT_CREDENTIAL", "static")
    with run_simulator(FLEET, clock=VirtualClock(start)) as sim:
        argv = ["plan", "--live", "--policy", str(POLICY), "--at", AT, "--json"]
        code = main([*argv, "--arm-endpoint", sim.url, "--ca-bundle", str(sim.ca_path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out) == offline


def test_live_plan_with_a_bad_endpoint_setting_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATCHPILOT_ARM_ENDPOINT", "http://insecure.example")
    assert main(["plan", "--live", "--policy", str(POLICY), "--json"]) == 2
    assert "PATCHPILOT_ARM_ENDPOINT" in capsys.readouterr().err


def test_offline_plan_needs_an_instant(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--fleet", str(FLEET), "--policy", str(POLICY)]) == 2
    assert "--at is required" in capsys.readouterr().err

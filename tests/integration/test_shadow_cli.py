"""`patchpilot shadow-report` reads the store the settings name; PATCHPILOT_MODE is validated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from patchpilot import cli
from patchpilot.adapters.store import OperationKey, open_sqlite_store
from patchpilot.domain.plan import Action
from patchpilot.domain.resource_ids import parse_cluster_id
from patchpilot.errors import InvalidInputError
from patchpilot.service.shadow import record_decision
from patchpilot.settings import Settings
from tests.factories import cluster_id, utc

ROOT = Path(__file__).resolve().parents[2]
MADE = utc(2025, 11, 22, 1, 5)


def test_the_cli_prints_the_recorded_decisions_as_json_and_as_a_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "state.db"
    store = open_sqlite_store(path)
    key = OperationKey(cluster_id("dev-1").lower(), None, "kubernetes", "1.32.9")
    action = Action(
        parse_cluster_id(cluster_id("dev-1")),
        None,
        "kubernetes",
        "1.32.6",
        "1.32.9",
        "due",
        MADE,
        "x",
    )
    record_decision(store, key, action, MADE)
    store.close()
    for name, value in {
        "PATCHPILOT_STORE": "sqlite",
        "PATCHPILOT_SQLITE_PATH": str(path),
        "PATCHPILOT_MODE": "shadow",
    }.items():
        monkeypatch.setenv(name, value)
    args = ["shadow-report", "--policy", str(ROOT / "examples" / "policy.yaml")]

    assert cli.main([*args, "--at", "2025-11-23T00:00Z", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert cli.main(args) == 0
    table = capsys.readouterr().out

    assert report["mode"] == "shadow"
    assert [(r["target"], r["would_start"]) for r in report["rows"]] == [
        ("1.32.9", "2025-11-22T01:05:00Z")
    ]
    assert "dev-1" in table
    assert "2025-11-22 01:05" in table
    assert "1 would-be starts" in table


def test_the_mode_is_act_unless_told_and_anything_else_is_refused() -> None:
    assert Settings.from_env({}).mode == "act"
    assert Settings.from_env({"PATCHPILOT_MODE": " Shadow "}).mode == "shadow"
    with pytest.raises(InvalidInputError, match=r"PATCHPILOT_MODE.*act, shadow"):
        Settings.from_env({"PATCHPILOT_MODE": "dry-run"})

"""The operator client's plan table is the local plan's, line for line (issue 17, point 5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from patchpilot.cli import main
from patchpilot.operator_client import plan_answer_table

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PLAN = ["plan", "--policy", str(EXAMPLES / "policy.yaml"), "--fleet", str(EXAMPLES / "fleet.yaml")]


@pytest.mark.parametrize(
    "at",
    [
        pytest.param("2025-11-22T01:30Z", id="findings-and-a-critical-path"),
        pytest.param("2025-12-24T12:00Z", id="inside-the-year-end-freeze"),
    ],
)
def test_a_plan_the_api_answered_prints_as_the_local_plan_does(
    at: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*PLAN, "--at", at]) == 0
    local = capsys.readouterr().out.rstrip("\n")
    assert main([*PLAN, "--at", at, "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)

    assert answer["findings"]
    assert answer["critical_path"]
    assert plan_answer_table(answer) == local


def test_an_answer_without_findings_or_a_path_prints_the_actions_alone() -> None:
    action = {
        "cluster": "/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerService/"
        "managedClusters/dev-1",
        "pool": "win22",
        "kind": "node_image",
        "current": "AKSWindows-2022-containerd-20348.4294.251015",
        "target": "AKSWindows-2022-containerd-20348.4405.251112",
        "status": "scheduled",
        "not_before": "2025-11-25T22:00:00Z",
        "reason": "waits for the window",
    }
    printed = plan_answer_table({"at": "2025-11-22T01:30:00Z", "actions": [action]})

    assert printed.splitlines()[0] == "Plan at 2025-11-22T01:30:00Z: 0 due, 1 scheduled, 0 blocked"
    assert "20348.4294.251015 -> 20348.4405.251112" in printed
    assert "    waits for the window" in printed
    assert "Findings" not in printed
    assert "Critical path" not in printed

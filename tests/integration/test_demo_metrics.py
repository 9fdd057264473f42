"""After the demo fleet's flow, the metrics carry what happened (in-memory reader)."""

from __future__ import annotations

from patchpilot.demo.runner import DemoConfig, run_demo
from patchpilot.telemetry.testing import in_memory_telemetry


def test_upgrade_and_arm_metrics_match_the_demo_fleets_flow() -> None:
    memory = in_memory_telemetry()
    run = run_demo(DemoConfig(days=10), telemetry=memory.telemetry)
    started = sum(1 for n in run.notices if n.type == "UpgradeStarted")
    succeeded = sum(1 for n in run.notices if n.type == "UpgradeSucceeded")
    assert started > 0
    assert sum(p.value for p in memory.metric("patchpilot.upgrades.started")) == started
    assert sum(p.value for p in memory.metric("patchpilot.upgrades.succeeded")) == succeeded
    kinds = {p.attributes["kind"] for p in memory.metric("patchpilot.upgrades.started")}
    assert kinds <= {"kubernetes", "node_image"}
    arm_total = sum(p.value for p in memory.metric("patchpilot.arm.requests"))
    assert 0 < arm_total <= sum(run.arm_requests.values())
    lags = memory.metric("patchpilot.patch.lag")
    assert {p.attributes["os"] for p in lags} >= {"Linux"}
    assert sum(p.count or 0 for p in lags) == succeeded

"""A worker killed between "ARM accepted" and "ledger updated" never causes a second start.

The worker is a real separate process (SIGKILL, no clean-up); the simulator
runs on the real clock in this process and counts the upgrade calls it gets.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from patchpilot.adapters.store import Operation, OperationKey
from patchpilot.adapters.store.records import MAX_CLOCK_SKEW
from patchpilot.domain.messages import ReconcileRequest
from patchpilot.domain.resource_ids import parse_cluster_id
from patchpilot.service.reconcile.run import reconcile
from patchpilot.sim.clock import VirtualClock
from patchpilot.sim.faults import FaultPlan
from patchpilot.sim.server import SimulatorHandle, run_simulator
from tests.factories import SUB, cluster_id
from tests.reliability.crash_worker import services

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = cluster_id("dev-1")
ALWAYS_OPEN = {
    "schedule": {"daily": {"intervalDays": 1}},
    "durationHours": 24,
    "startTime": "00:00",
}
POLICY: dict[str, Any] = {
    "scopes": [f"/subscriptions/{SUB}"],
    "default_window": ALWAYS_OPEN,
    "rings": [{"name": "dev"}],
    "kubernetes": {"channel": "none"},
}
FLEET = {
    "catalog": {
        "westeurope": {
            "kubernetes": ["1.32.6"],
            "node_images": {"AKSUbuntu-2204gen2containerd": ["202511.03.0", "202511.17.0"]},
        }
    },
    "clusters": [
        {
            "id": CLUSTER,
            "location": "westeurope",
            "tags": {"env": "dev"},
            "kubernetes_version": "1.32.6",
            "pools": [
                {
                    "name": "system",
                    "os": "Linux",
                    "mode": "System",
                    "version": "1.32.6",
                    "node_image": "AKSUbuntu-2204gen2containerd-202511.03.0",
                    "count": 3,
                },
            ],
        }
    ],
}
TARGET = "AKSUbuntu-2204gen2containerd-202511.17.0"


def image_upgrades(sim: SimulatorHandle) -> int:
    return sum(
        n
        for (op, status), n in sim.requests().items()
        if op == "AgentPools_UpgradeNodeImageVersion" and status == 202
    )


def test_a_killed_worker_is_followed_by_a_reconcile_that_does_not_start_again(
    tmp_path: Path,
) -> None:
    with run_simulator(FLEET) as sim:
        now = dt.datetime.now(dt.UTC)
        spec = {
            "url": sim.url,
            "ca": str(sim.ca_path),
            "workdir": str(tmp_path),
            "policy": POLICY,
            "cluster": CLUSTER,
            "now": now.isoformat(),
        }
        env = {**os.environ, "CRASH_WORKER": json.dumps(spec)}
        child = subprocess.run(
            [sys.executable, "-m", "tests.reliability.crash_worker"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
        assert image_upgrades(sim) == 1

        survivor = services(sim.url, str(sim.ca_path), tmp_path, POLICY, CLUSTER)
        key = OperationKey(CLUSTER.lower(), "system", "node_image", TARGET)
        assert state_of(survivor.store.get(key)) == "in_progress"

        # Later, once the dead worker's lease and claim have expired, until AKS is done.
        deadline = time.monotonic() + 60
        states: list[str | None] = []
        while time.monotonic() < deadline and (not states or states[-1] != "succeeded"):
            # Past the dead worker's lease and claim on every clock within the skew bound.
            later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30) + MAX_CLOCK_SKEW
            reconcile(
                survivor,
                ReconcileRequest(parse_cluster_id(CLUSTER), "after the crash", later),
                later,
            )
            states.append(state_of(survivor.store.get(key)))
            time.sleep(0.2)
        assert image_upgrades(sim) == 1
        assert states[0] in ("started", "succeeded")
        assert states[-1] == "succeeded"


def state_of(record: Operation | None) -> str | None:
    return None if record is None else record.state


def test_an_upgrade_found_running_after_a_crash_that_then_fails_is_closed_and_paused(
    tmp_path: Path,
) -> None:
    """The dead worker left no operation URL, so AKS's pool state must say how it ended."""
    clock = VirtualClock(dt.datetime(2025, 11, 22, 1, 30, tzinfo=dt.UTC))
    faults = FaultPlan(pdb_failures=frozenset({("dev-1", "system")}))
    with run_simulator(FLEET, clock=clock, faults=faults) as sim:
        survivor = services(sim.url, str(sim.ca_path), tmp_path, POLICY, CLUSTER)
        key = OperationKey(CLUSTER.lower(), "system", "node_image", TARGET)
        # What a worker killed right after ARM accepted leaves: a claim, an upgrade, no URL.
        survivor.store.claim(key, clock.now(), dt.timedelta(seconds=5), holder="dead worker")
        survivor.gateway.upgrade_node_image(parse_cluster_id(CLUSTER), "system")
        states: list[str | None] = []
        deadline = clock.now() + dt.timedelta(hours=3)
        while clock.now() < deadline and states[-1:] != ["failed"]:
            clock.advance(dt.timedelta(minutes=10))
            now = clock.now()
            reconcile(survivor, ReconcileRequest(parse_cluster_id(CLUSTER), "later", now), now)
            states.append(state_of(survivor.store.get(key)))
        pauses = survivor.store.list_pauses(clock.now())
        notices = [n.type for n in survivor.publisher.notices]  # type: ignore[attr-defined]
    assert states[0] == "started", "found running, recorded as started"
    assert states[-1] == "failed"
    assert image_upgrades(sim) == 1
    record = survivor.store.get(key)
    assert record is not None
    assert record.error is not None
    assert "PodDisruptionBudget" in record.error.message or "drain" in record.error.message.lower()
    assert [p.target for p in pauses] == [CLUSTER.lower()]
    assert notices == ["UpgradeStarted", "UpgradeFailed"]

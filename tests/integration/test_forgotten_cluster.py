"""A cluster deleted mid-ring: its ring stops waiting on it, and the status says so.

dev-neu-1's Linux pool fails its image upgrade (a PodDisruptionBudget), which
holds staging's Linux pools ("ring dev had a failure"). Then the cluster is
deleted. After three complete sweeps without it, Patch Pilot forgets it (its
picture and its ring gate tallies go), and staging takes the image dev-weu-1
soaked. In the control run the cluster stays, and staging keeps waiting.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from patchpilot.domain.policy import parse_policy
from patchpilot.files import read_document
from patchpilot.localhost.harness import Harness, running_app
from patchpilot.service.operator.status import fleet_status
from patchpilot.sim.faults import FaultPlan

ROOT = Path(__file__).resolve().parents[2]
FLEET = read_document(ROOT / "examples" / "fleet.yaml")
POLICY = parse_policy(read_document(ROOT / "examples" / "policy.yaml"))
START = dt.datetime(2025, 11, 22, 1, 30, tzinfo=dt.UTC)  # inside the dev window
GONE = "dev-neu-1"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Harness]:
    with running_app(FLEET, POLICY, START, tmp_path) as harness:
        harness.sim.set_faults(FaultPlan(pdb_failures=frozenset({(GONE, "system")})))
        yield harness


def staging_linux_starts(app: Harness) -> list[str]:
    return [
        n.data["to"]
        for n in app.publisher.notices
        if n.type == "UpgradeStarted"
        and n.data["cluster"].endswith("/stg-weu-1")
        and n.data["pool"] == "system"
    ]


def fail_dev_neu(app: Harness) -> None:
    app.host.fire_timer("sweep")
    app.host.run_until(START + dt.timedelta(hours=6))
    failed = app.services.store.list_operations(states=frozenset({"failed"}))
    assert [op.key.cluster.rsplit("/", 1)[-1] for op in failed] == [GONE]


def test_a_deleted_cluster_is_forgotten_and_its_ring_stops_waiting(app: Harness) -> None:
    fail_dev_neu(app)
    app.sim.aks.delete_cluster(GONE)
    app.host.run_until(START + dt.timedelta(days=3))
    assert staging_linux_starts(app) == ["AKSUbuntu-2204gen2containerd-202511.17.0"]
    status = fleet_status(app.services, app.clock.now())
    forgotten = status["forgotten_clusters"]
    assert [f["cluster"].rsplit("/", 1)[-1] for f in forgotten] == [GONE]
    assert forgotten[0]["code"] == "cluster_forgotten"
    assert GONE not in {c["name"] for c in status["clusters"]}
    # Its records are closed (retention ages them out) and its progress is gone.
    key = forgotten[0]["cluster"]
    store = app.services.store
    states = {op.state for op in store.list_operations(cluster=key)}
    assert "expired" in states  # its failure, closed
    assert states <= {"expired", "succeeded"}  # nothing open or failed remains
    assert store.list_reached(key) == ()
    assert not app.host.failures


def test_while_the_failed_cluster_exists_its_ring_keeps_waiting(app: Harness) -> None:
    fail_dev_neu(app)
    app.host.run_until(START + dt.timedelta(days=3))
    assert staging_linux_starts(app) == []
    assert fleet_status(app.services, app.clock.now())["forgotten_clusters"] == []

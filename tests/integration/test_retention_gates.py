"""Retention of what the sharded sweep and the gates leave: old generations, forgotten clusters."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from patchpilot.adapters.store import open_sqlite_store
from patchpilot.adapters.store import retention as kinds
from patchpilot.domain.gates import Arrivals, Tally
from patchpilot.service import findings
from patchpilot.service.reconcile import gates

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
CLUSTER = (
    "/subscriptions/s/resourcegroups/rg/providers/microsoft.containerservice/managedclusters/a"
)
GATE = ("dev", "kubernetes")


def test_the_kinds_retention_reads_are_the_ones_their_writers_write() -> None:
    assert kinds.FORGOTTEN == findings.FORGOTTEN
    assert (kinds.GATE_BUILT, kinds.GATE_COMPLETE) == (gates.BUILT, gates.COMPLETE)


def test_gate_rows_and_marks_of_an_old_generation_go_and_the_current_ones_stay(
    tmp_path: Path,
) -> None:
    store = open_sqlite_store(tmp_path / "s.db")
    tally = Tally(1, {"1.32.9": Arrivals(1, NOW)}, {"1.32.9": 1})
    store.set_contributions(CLUSTER, {GATE: tally}, "old")
    store.set_contributions(CLUSTER, {GATE: tally}, "new")
    for generation in ("old", "new"):
        store.put_snapshot(f"{gates.BUILT}~{generation}", "s", "{}", NOW)
        store.put_snapshot(gates.COMPLETE, generation, "{}", NOW)
    swept, _ = store.retention("new").run(NOW, budget=1000)
    assert swept.deleted["gates"] == 2  # the old generation's member row and sum
    assert store.read_gates([GATE], "old") == {}
    assert store.read_gates([GATE], "new")[GATE].members == 1
    assert store.list_snapshots(f"{gates.BUILT}~old") == ()
    assert store.list_snapshots(f"{gates.BUILT}~new") != ()
    assert [key for key, _ in store.list_snapshots(gates.COMPLETE)] == ["new"]
    store.close()


def test_a_forgotten_clusters_finding_lives_a_month(tmp_path: Path) -> None:
    store = open_sqlite_store(tmp_path / "s.db")
    store.put_snapshot(findings.FORGOTTEN, CLUSTER, "{}", NOW)
    store.retention().run(NOW + dt.timedelta(days=29), budget=1000)
    assert store.list_snapshots(findings.FORGOTTEN) != ()
    store.retention().run(NOW + dt.timedelta(days=31), budget=1000)
    assert store.list_snapshots(findings.FORGOTTEN) == ()
    store.close()

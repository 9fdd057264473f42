"""A plan reads the catalogs of the regions an earlier ring spans (issue 16), on SQLite.

A gate waits for a target only for the members whose region offers it, so a
reconcile in one region needs the stored catalogs of the others its earlier
rings have members in (one point read each).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from patchpilot.adapters.store import open_sqlite_store
from patchpilot.domain.gates import Tally
from patchpilot.service.reconcile.gates import with_gate_regions
from patchpilot.service.snapshots import REGIONS

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
GATE = ("dev", "AKSUbuntu-2204gen2containerd")
OWN: dict[str, Any] = {"westeurope": {"kubernetes": [], "node_images": {}}}
EASTUS = {"kubernetes": [], "node_images": {"AKSUbuntu-2204gen2containerd": ["202605.01.0"]}}


def test_the_regions_of_a_gates_members_are_read_from_the_store(tmp_path: Path) -> None:
    store = open_sqlite_store(tmp_path / "s.db")
    store.put_snapshot(REGIONS, "eastus", json.dumps(EASTUS), NOW)
    gates = {GATE: Tally(members=3, regions={"westeurope": 1, "eastus": 2})}

    spanned = with_gate_regions(store, gates, OWN)

    assert spanned == {**OWN, "eastus": EASTUS}


def test_the_plans_own_regions_suffice_when_the_gates_span_no_other(tmp_path: Path) -> None:
    store = open_sqlite_store(tmp_path / "s.db")
    store.put_snapshot(REGIONS, "eastus", json.dumps(EASTUS), NOW)
    own_only = {GATE: Tally(members=1, regions={"westeurope": 1})}

    assert with_gate_regions(store, own_only, OWN) == OWN
    assert with_gate_regions(store, None, OWN) == OWN
    assert with_gate_regions(store, {GATE: Tally(members=2)}, OWN) == OWN  # stored before regions

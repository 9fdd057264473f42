"""A sweep in which nothing is due costs requests per region and image family, not per cluster.

Drives the real sweep against the simulator with Resource Graph discovery
(`bench/arm_cost.py`'s wiring, at a small size) and counts what the
simulator served.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest

from bench.arm_cost import Bench, generate, noop_sweeps, running
from patchpilot.service.snapshots import CLUSTERS
from patchpilot.service.sweep import sweep

PER_CLUSTER = (
    "ManagedClusters_Get",
    "MaintenanceConfigurations_ListByManagedCluster",
)


def noop_cost(size: int, workdir: Path) -> tuple[Counter[str], Counter[str]]:
    with running(generate(size), workdir) as bench:
        return noop_sweeps(bench)


def test_a_noop_sweep_costs_the_same_for_20_and_60_clusters(tmp_path: Path) -> None:
    _, small = noop_cost(20, tmp_path / "small")
    _, large = noop_cost(60, tmp_path / "large")

    assert small == large
    # One Resource Graph page of clusters and one of AKS's announcements, one version list
    # per region, one image read per region and family.
    assert small["Resources"] == 2
    assert small["ManagedClusters_ListKubernetesVersions"] == 5
    assert small["AgentPools_GetUpgradeProfile"] == 5 + 1
    assert not any(small[op] for op in PER_CLUSTER)


def test_a_cluster_without_a_stored_picture_is_observed_in_full_once(tmp_path: Path) -> None:
    cold, warm = noop_cost(10, tmp_path)

    assert [cold[op] for op in PER_CLUSTER] == [10, 10]
    assert not any(warm[op] for op in PER_CLUSTER)


@pytest.mark.parametrize("behind", [0, 10], ids=["up-to-date", "one-image-behind"])
def test_the_sweep_stores_the_same_picture_from_rows_as_from_full_reads(
    tmp_path: Path, behind: int
) -> None:
    with running(generate(10, behind=behind), tmp_path) as bench:
        full = _sweep_and_read(bench)
        assert full == _sweep_and_read(bench)


def _sweep_and_read(bench: Bench) -> dict[str, str]:
    bench.clock.advance(dt.timedelta(minutes=30))
    sweep(bench.services, bench.clock.now())
    return dict(bench.services.store.list_snapshots(CLUSTERS))

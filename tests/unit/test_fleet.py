"""The fleet file: shapes from DESIGN.md, the catalog's release dates, clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from patchpilot.domain.fleet import parse_fleet
from patchpilot.errors import InvalidInputError
from patchpilot.files import load_fleet, load_policy
from tests.factories import UBUNTU, WINDOWS, catalog, cluster, pool, utc

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_bundled_examples_load() -> None:
    fleet = load_fleet(EXAMPLES / "fleet.yaml")
    policy = load_policy(EXAMPLES / "policy.yaml")
    assert len(fleet.clusters) >= 6
    assert {c.location for c in fleet.clusters} == {"westeurope", "northeurope"}
    assert [ring.name for ring in policy.rings] == ["dev", "staging", "prod"]


def test_catalog_entries_appear_on_their_release_day() -> None:
    region = catalog(ubuntu=["202511.03.0", {"version": "202511.17.0", "released": "2025-11-19"}])
    state = parse_fleet({"catalog": {"westeurope": region}, "clusters": [cluster("a", "dev")]})
    offered = state.region("West Europe")
    assert [i.version for i in offered.images_at(UBUNTU, utc(2025, 11, 18, 23))] == ["202511.03.0"]
    assert [i.version for i in offered.images_at(UBUNTU, utc(2025, 11, 19))] == [
        "202511.03.0",
        "202511.17.0",
    ]
    latest = offered.images_at(UBUNTU, utc(2025, 11, 19))[-1]
    assert offered.image_released(latest) == utc(2025, 11, 19)


def test_unknown_region_offers_nothing() -> None:
    state = parse_fleet({"clusters": [cluster("a", "dev")]})
    assert state.region("mars").images_at(UBUNTU, utc(2030, 1, 1)) == ()


def _doc(**changes: Any) -> dict[str, Any]:
    doc = cluster("a", "dev", pools=[pool(), pool("win", os="Windows")])
    doc.update(changes)
    return {"catalog": {"westeurope": catalog()}, "clusters": [doc]}


@pytest.mark.parametrize(
    ("doc", "where", "what"),
    [
        pytest.param(
            _doc(id="/subscriptions/x"), "clusters[0].id", "not a managed cluster", id="bad-id"
        ),
        pytest.param(
            _doc(kubernetes_version="1.32"),
            "clusters[0].kubernetes_version",
            "1.32",
            id="minor-only",
        ),
        pytest.param(_doc(pools=[]), "clusters[0].pools", "at least one", id="no-pools"),
        pytest.param(
            _doc(node_os_upgrade_channel="Weekly"),
            "node_os_upgrade_channel",
            "NodeImage",
            id="channel",
        ),
        pytest.param(
            _doc(pools=[pool(image="Ubuntu-22.04-latest")]),
            "pools[0].node_image",
            "Ubuntu",
            id="image",
        ),
        pytest.param(
            _doc(pools=[pool(image=f"{WINDOWS}-20348.4294.251015")]),
            "pools[0].node_image",
            "Windows image on an Linux pool",
            id="os-mismatch",
        ),
        pytest.param(_doc(flavour="x"), "clusters[0].flavour", "unknown field", id="unknown"),
        pytest.param(
            _doc(maintenance_configurations={"weekend": {}}),
            "maintenance_configurations.weekend",
            "unknown field",
            id="unknown-config-name",
        ),
    ],
)
def test_invalid_fleet_names_the_field(doc: dict[str, Any], where: str, what: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_fleet(doc, source="fleet.yaml")
    assert where in str(caught.value)
    assert what in str(caught.value)


def test_duplicate_clusters_are_refused() -> None:
    doc = {"clusters": [cluster("a", "dev"), cluster("A", "dev")]}
    with pytest.raises(InvalidInputError, match="listed twice"):
        parse_fleet(doc)


def test_maintenance_configurations_accept_arm_properties() -> None:
    window = {
        "maintenanceWindow": {
            "schedule": {"daily": {"intervalDays": 1}},
            "durationHours": 4,
            "startTime": "00:00",
        }
    }
    state = parse_fleet(
        _doc(maintenance_configurations={"aksManagedNodeOSUpgradeSchedule": window})
    )
    schedule = state.clusters[0].maintenance["aksManagedNodeOSUpgradeSchedule"]
    assert schedule.contains(utc(2025, 11, 20, 2))
    assert not schedule.contains(utc(2025, 11, 20, 5))


def test_a_cluster_that_reached_a_target_shows_it_where_the_upgrade_landed() -> None:
    doc = {
        "catalog": {"westeurope": catalog()},
        "clusters": [cluster("a", "dev", pools=[pool("system"), pool("user")])],
    }
    before = parse_fleet(doc).clusters[0]

    after = (
        before.reached("user", "node_image", f"{UBUNTU}-202511.17.0")
        .reached("system", "kubernetes", "1.32.7")
        .reached(None, "kubernetes", "1.32.7")
    )

    system, user = after.pools
    assert (str(system.version), str(system.node_image)) == ("1.32.7", f"{UBUNTU}-202511.03.0")
    assert (str(user.version), str(user.node_image)) == ("1.32.6", f"{UBUNTU}-202511.17.0")
    assert str(after.kubernetes_version) == "1.32.7"
    assert before.pools[1].node_image.version == "202511.03.0", "the observed state is untouched"


def test_a_cluster_finds_its_managed_pool_by_name() -> None:
    state = parse_fleet(_doc()).clusters[0]

    found = state.pool("win")

    assert found is not None
    assert found.os_type == "Windows"
    assert (state.pool("missing"), state.pool(None)) == (None, None)

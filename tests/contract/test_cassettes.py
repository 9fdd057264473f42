"""The cassette loader: ARM calls told apart by method and path, and the recordings really there.

The contract tests are parametrized over what the loader finds; a missing
folder would make them all vanish as empty parameter sets, so its presence
is a test of its own.
"""

from __future__ import annotations

import pytest

from tests.contract.cassettes import RECORDINGS, Kind, PathNames, classify, load_cassettes

CLUSTER = (
    "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c1"
)
POOL = f"{CLUSTER}/agentPools/np1"
LOCATION = "/subscriptions/s1/providers/Microsoft.ContainerService/locations/westus2"


@pytest.mark.parametrize(
    ("method", "path", "kind", "names"),
    [
        pytest.param(
            "GET", CLUSTER, Kind.CLUSTER_GET, PathNames("s1", "rg", "c1"), id="cluster-get"
        ),
        pytest.param(
            "PUT", CLUSTER, Kind.CLUSTER_PUT, PathNames("s1", "rg", "c1"), id="cluster-put"
        ),
        pytest.param(
            "POST",
            CLUSTER.replace("managedClusters", "managedclusters") + "/abort",
            Kind.CLUSTER_ABORT,
            PathNames("s1", "rg", "c1"),
            id="abort-in-az-lower-case",
        ),
        pytest.param("GET", POOL, Kind.POOL_GET, PathNames("s1", "rg", "c1", "np1"), id="pool-get"),
        pytest.param("PUT", POOL, Kind.POOL_PUT, PathNames("s1", "rg", "c1", "np1"), id="pool-put"),
        pytest.param(
            "POST",
            f"{POOL}/upgradeNodeImageVersion",
            Kind.NODE_IMAGE_UPGRADE,
            PathNames("s1", "rg", "c1", "np1"),
            id="node-image",
        ),
        pytest.param(
            "GET",
            f"{POOL}/upgradeProfiles/default",
            Kind.POOL_UPGRADE_PROFILE,
            PathNames("s1", "rg", "c1", "np1"),
            id="pool-upgrade-profile",
        ),
        pytest.param(
            "GET",
            f"{CLUSTER}/maintenanceConfigurations/aksManagedAutoUpgradeSchedule",
            Kind.MAINTENANCE_GET,
            PathNames("s1", "rg", "c1", configuration="aksManagedAutoUpgradeSchedule"),
            id="maintenance-get",
        ),
        pytest.param(
            "GET",
            f"{LOCATION}/operations/op-1",
            Kind.OPERATION_STATUS,
            PathNames("s1", location="westus2", operation="op-1"),
            id="operation-status",
        ),
        pytest.param(
            "GET",
            f"{LOCATION}/operationresults/op-1",
            Kind.OPERATION_RESULT,
            PathNames("s1", location="westus2", operation="op-1"),
            id="operation-result",
        ),
        pytest.param(
            "GET",
            f"{LOCATION}/kubernetesVersions",
            Kind.KUBERNETES_VERSIONS,
            PathNames("s1", location="westus2"),
            id="versions",
        ),
        pytest.param(
            "GET", "/subscriptions/s1/resourcegroups/rg", Kind.OTHER, PathNames(), id="other"
        ),
        pytest.param("DELETE", CLUSTER, Kind.OTHER, PathNames(), id="cluster-delete-is-other"),
    ],
)
def test_an_arm_call_is_classified_by_method_and_path(
    method: str, path: str, kind: Kind, names: PathNames
) -> None:
    assert classify(method, path) == (kind, names)


def test_the_recordings_are_there_and_every_cassette_holds_interactions() -> None:
    cassettes = load_cassettes()
    assert cassettes, f"no cassettes in {RECORDINGS}: the contract tests would test nothing"
    for cassette in cassettes:
        assert cassette.interactions, f"{cassette.path} holds no interactions"

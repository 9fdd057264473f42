"""Pool states the planner must see (issue 13, defects 4 and 5).

Real AKS shows a pool operation on the pool while the cluster stays
`Succeeded` (recorded azure-cli traffic), and ARM returns pool values this
code has never seen (`mode: Machines` on GA API versions). Either must stop
the right thing: the whole cluster for a running operation, one pool for an
unknown value.
"""

from __future__ import annotations

from typing import Any

import pytest

from patchpilot.adapters.arm import observe
from patchpilot.domain.fleet import cluster_document, parse_fleet
from patchpilot.domain.history import History
from patchpilot.domain.planner import plan
from patchpilot.domain.resource_ids import parse_cluster_id
from tests.factories import SUB, UBUNTU, catalog, cluster_id, policy, utc

CLUSTER = parse_cluster_id(cluster_id("dev-1"))
SATURDAY = utc(2025, 11, 22, 1, 30)  # inside the example policy's window


def profile(name: str, **properties: Any) -> dict[str, Any]:
    props = {
        "osType": "Linux",
        "mode": "User",
        "count": 2,
        "currentOrchestratorVersion": "1.32.6",
        "nodeImageVersion": f"{UBUNTU}-202511.03.0",
        "provisioningState": "Succeeded",
        **properties,
    }
    return {"name": name, **props}


def resource(*pools: dict[str, Any], state: str = "Succeeded") -> dict[str, Any]:
    return {
        "location": "westeurope",
        "tags": {"env": "dev"},
        "properties": {
            "currentKubernetesVersion": "1.32.6",
            "provisioningState": state,
            "agentPoolProfiles": list(pools),
        },
    }


@pytest.mark.parametrize(
    ("odd", "named"),
    [
        pytest.param(
            {"mode": "Machines", "nodeImageVersion": None}, "nodeImageVersion", id="machines"
        ),
        pytest.param({"mode": "Spotlight"}, "'Spotlight'", id="unknown-mode"),
        pytest.param({"osType": "Plan9"}, "'Plan9'", id="unknown-os"),
    ],
)
def test_an_unknown_pool_value_leaves_that_pool_alone_and_the_rest_observed(
    odd: dict[str, Any], named: str
) -> None:
    state = observe.cluster_state(
        CLUSTER, resource(profile("system", mode="System"), profile("odd", **odd)), {}
    )

    assert [p.name for p in state.pools] == ["system"]
    assert [p.name for p in state.unmanaged] == ["odd"]
    assert named in state.unmanaged[0].reason


def test_an_unmanaged_pool_is_a_finding_and_the_others_are_planned() -> None:
    observed = observe.cluster_state(
        CLUSTER, resource(profile("system", mode="System"), profile("odd", mode="Machines")), {}
    )
    with_region = parse_fleet(
        {
            "catalog": {"westeurope": catalog(ubuntu=["202511.03.0", "202511.17.0"])},
            "clusters": [cluster_document(observed)],
        }
    )

    result = plan(with_region, policy(), History(), SATURDAY)

    assert [(a.pool, a.status) for a in result.actions] == [("system", "due")]
    assert [(f.pool, f.code) for f in result.findings if f.code == "unmanaged_pool"] == [
        ("odd", "unmanaged_pool")
    ]


@pytest.mark.parametrize(
    ("pools", "cluster_state", "reason"),
    [
        pytest.param(
            {"user": "UpgradingNodeImageVersion"},
            "Succeeded",
            "pool user is Upgrading",
            id="pool-image",
        ),
        pytest.param(
            {"user": "Upgrading"}, "Succeeded", "pool user is Upgrading", id="pool-version"
        ),
        pytest.param({}, "Upgrading", "cluster is Upgrading", id="control-plane"),
        pytest.param({"user": "Scaling"}, "Succeeded", "pool user is Scaling", id="someone-scales"),
    ],
)
def test_an_operation_on_any_pool_blocks_every_start_on_the_cluster(
    pools: dict[str, str], cluster_state: str, reason: str
) -> None:
    observed = observe.cluster_state(
        CLUSTER,
        resource(
            profile("system", mode="System", provisioningState=pools.get("system", "Succeeded")),
            profile("user", provisioningState=pools.get("user", "Succeeded")),
            state=cluster_state,
        ),
        {},
    )
    region = catalog(ubuntu=["202511.03.0", "202511.17.0"])
    document = {"catalog": {"westeurope": region}, "clusters": [cluster_document(observed)]}

    result = plan(parse_fleet(document), policy(), History(), SATURDAY)

    assert result.actions
    assert all(a.status == "blocked" for a in result.actions)
    assert all(reason in a.reason for a in result.actions), [a.reason for a in result.actions]


def test_pool_states_survive_the_stored_snapshot() -> None:
    observed = observe.cluster_state(
        CLUSTER,
        resource(
            profile("system", mode="System", provisioningState="UpgradingNodeImageVersion"),
            profile("odd", mode="Machines", provisioningState="Updating"),
        ),
        {},
    )
    region = catalog()
    document = {"catalog": {"westeurope": region}, "clusters": [cluster_document(observed)]}

    again = parse_fleet(document).clusters[0]

    assert again.pools[0].provisioning_state == "UpgradingNodeImageVersion"
    assert again.unmanaged == observed.unmanaged
    assert again.running() == "pool system is UpgradingNodeImageVersion"
    assert SUB in str(again.id)

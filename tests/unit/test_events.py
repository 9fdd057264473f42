"""AKS events in both schemas: the real samples parse, hostile ones are refused with a reason."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from patchpilot.domain.errors import UnhandledEventError
from patchpilot.domain.events import HANDLED_EVENT_TYPES, ROLLING_FAILED, parse_aks_event
from patchpilot.errors import InvalidInputError
from tests.events import load, names
from tests.factories import SUB, utc


def real(name: str, cluster: str = "prod-1") -> dict[str, Any]:
    """A sample with its `{placeholders}` filled in, as Event Grid would deliver it."""
    text = json.dumps(load(name))
    for placeholder, value in {
        "{subscription-id}": SUB,
        "{resource-group}": "rg",
        "{cluster}": cluster,
    }.items():
        text = text.replace(placeholder, value)
    result: dict[str, Any] = json.loads(text)
    return result


# Fleet Manager gate events arrive on their own trigger (domain/fleet_gates.py, tested in
# test_fleet_gates.py); the AKS event parser refuses them like any other type.
AKS_SAMPLES = [n for n in names("eg_") + names("ce_") if "fleet_gate" not in n]


@pytest.mark.parametrize("name", AKS_SAMPLES)
def test_every_real_sample_parses_in_both_schemas(name: str) -> None:
    event = parse_aks_event(real(name))
    assert event.type in HANDLED_EVENT_TYPES
    assert event.cluster.name == "prod-1"
    assert event.schema == ("EventGridSchema" if name.startswith("eg_") else "CloudEventSchemaV1_0")
    assert event.time.tzinfo is not None


def test_both_schemas_of_one_event_give_the_same_view() -> None:
    grid = parse_aks_event(real("eg_node_pool_rolling_failed"))
    cloud = parse_aks_event(real("ce_node_pool_rolling_failed"))
    assert (grid.type, grid.cluster, grid.node_pool, grid.time) == (
        cloud.type,
        cloud.cluster,
        cloud.node_pool,
        cloud.time,
    )
    assert grid.type == ROLLING_FAILED
    assert grid.node_pool == "nodepool1"
    assert grid.time == utc(2023, 3, 29, 18, 0)


def test_new_version_event_exposes_its_versions() -> None:
    event = parse_aks_event(real("eg_new_kubernetes_version_available"))
    assert event.latest_supported_version == "1.20.7"
    assert event.short_type == "NewKubernetesVersionAvailable"


def test_support_events_carry_the_cluster_version() -> None:
    assert parse_aks_event(real("ce_cluster_support_ending")).kubernetes_version == "1.24.10"


def test_the_samples_placeholders_are_not_a_resource_id() -> None:
    with pytest.raises(InvalidInputError, match="not a managed cluster resource ID"):
        parse_aks_event(load("eg_node_pool_rolling_failed"))


def test_unknown_event_type_is_unhandled_not_malformed() -> None:
    event = real("eg_node_pool_rolling_failed")
    event["eventType"] = "Microsoft.Resources.ResourceWriteSuccess"
    with pytest.raises(UnhandledEventError, match="not handled"):
        parse_aks_event(event)


def _mutated(name: str, path: list[str], value: Any) -> dict[str, Any]:
    event = copy.deepcopy(real(name))
    target: Any = event
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return event


_DELETE = object()


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        pytest.param(
            _mutated("eg_node_pool_rolling_failed", ["id"], _DELETE),
            "event.id: is required",
            id="no-id",
        ),
        pytest.param(
            _mutated("eg_node_pool_rolling_failed", ["data"], _DELETE), "event.data", id="no-data"
        ),
        pytest.param(
            _mutated("eg_node_pool_rolling_failed", ["data", "nodePoolName"], 7),
            "expected a non-empty string",
            id="pool-type",
        ),
        pytest.param(
            _mutated("eg_node_pool_rolling_failed", ["data", "nodePoolName"], "../x"),
            "not an AKS node pool name",
            id="pool-tricks",
        ),
        pytest.param(
            _mutated("eg_node_pool_rolling_failed", ["subject"], "other"),
            "not the cluster",
            id="subject-mismatch",
        ),
        pytest.param(
            _mutated("eg_node_pool_rolling_failed", ["eventTime"], "yesterday"),
            "not a time",
            id="bad-time",
        ),
        pytest.param(
            _mutated("eg_node_pool_rolling_failed", ["eventTime"], "9999-12-31T23:00:00-02:00"),
            "event.eventTime: must be between",
            id="time-past-year-9999-in-utc",
        ),
        pytest.param(
            _mutated("ce_node_pool_rolling_failed", ["time"], "0001-01-01T00:00:00+05:00"),
            "event.time: must be between",
            id="cloudevent-time-before-year-1-in-utc",
        ),
        pytest.param(
            _mutated("eg_node_pool_rolling_failed", ["id"], "x" * 10_000),
            "longer than",
            id="huge-id",
        ),
        pytest.param(
            _mutated("ce_node_pool_rolling_failed", ["specversion"], "0.3"),
            "CloudEvents 1.0",
            id="old-cloudevents",
        ),
        pytest.param(
            _mutated("eg_node_pool_rolling_failed", ["eventType"], _DELETE),
            "neither an Event Grid",
            id="no-type",
        ),
        pytest.param(
            _mutated(
                "eg_node_pool_rolling_failed",
                ["topic"],
                f"/subscriptions/{SUB}/resourceGroups/rg/providers/"
                "Microsoft.ContainerService/managedClusters/prod-1/../../other/prod-1",
            ),
            "not a managed cluster resource ID",
            id="path-tricks",
        ),
        pytest.param(
            _mutated("ce_cluster_support_ending", ["data", "kubernetesVersion"], None),
            "is required",
            id="null-version",
        ),
    ],
)
def test_malformed_events_are_refused_with_a_reason(event: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_aks_event(event)
    assert reason in str(caught.value)
    assert not isinstance(caught.value, UnhandledEventError)


@pytest.mark.parametrize("payload", [None, [], "event", 1, {"data": {}}])
def test_payloads_that_are_not_events_are_refused(payload: object) -> None:
    with pytest.raises(InvalidInputError):
        parse_aks_event(payload)

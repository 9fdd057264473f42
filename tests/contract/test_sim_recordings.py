"""The simulator against recorded real ARM traffic: the same calls get the same shapes.

For each cassette in ``shared/fixtures/arm-recordings`` (vcrpy YAML, loaded by
the shared loader, :mod:`tests.contract.cassettes`), a simulator is started with a
fleet shaped like the recording's cluster (its name, region, versions, pools,
images, channels, maintenance configurations and API generation), and every
recorded call is made against it in order. Nothing is tuned per file: each
interaction is classified by method and path, and each kind is compared by
one rule:

- resources (cluster, pool, the starts that answer with one): status code;
  ``Azure-AsyncOperation`` and ``Location`` present or absent as recorded;
  the fields that matter (provisioning state, versions, ``current*``,
  ``osSKU``, ``mode``, ``upgradeChannel``, ``status``) present or absent as
  recorded, and each ``provisioningState`` equal, so the sequence of cluster
  and pool states during an operation is the recorded one. A recorded
  ``Creating`` (the simulator does not create clusters) is matched by any
  running state: before such a recording the simulator's cluster is made busy
  with an upgrade of both control plane and pools.
- operation status polls: the key set of each body and its ``status``, the
  recorded polls' ``InProgress`` then ``Succeeded`` (the virtual clock moves
  on until the simulator's operation ends before a terminal poll), and the
  ``name`` a byte-swapped form of the URL's ID in both.
- operation results (``Location``): status code and ``Location`` presence.
- upgrade profiles, maintenance configurations, Kubernetes versions: the key
  sets at the levels the app reads (optional flags ``isDefault``/``isPreview``
  aside: the recording's list has no default or preview minor).
- errors: status, ``error.code`` and ``x-ms-failure-cause``; a recorded 404
  for a cluster is asked of a cluster name the fleet does not have.

Request ``api-version`` values are the simulator's GA version (the cassettes
hold 2020 to 2024 versions the simulator does not serve); operation URLs are
the ones the simulator handed out for the matching start. A maintenance
configuration PUT is not served by the simulator (the fleet file sets them):
it is checked to answer 405, and said so in the result.
"""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from patchpilot.sim.clock import VirtualClock
from patchpilot.sim.pace import Pace
from patchpilot.sim.server import SimulatorHandle, run_simulator
from tests.contract.cassettes import Cassette, Interaction, Kind, load_cassettes

CASSETTES = load_cassettes()
API = "2026-08-01"
TOKEN = {"Authorization": "Bearer anything"}
T0 = dt.datetime(2025, 11, 20, 1, 0, tzinfo=dt.UTC)
CLUSTER_FIELDS = ("provisioningState", "kubernetesVersion", "currentKubernetesVersion", "status")
POOL_FIELDS = (
    "provisioningState",
    "orchestratorVersion",
    "currentOrchestratorVersion",
    "nodeImageVersion",
    "osType",
    "osSKU",
    "mode",
    "status",
)
TERMINAL = ("Succeeded", "Failed", "Canceled")
_MC = (
    r"/subscriptions/[^/]+/resourcegroups/[^/]+"
    r"/providers/microsoft\.containerservice/managedclusters/[^/]+"
)
# -- a fleet shaped like the recording ---------------------------------------------------------


def fleet_like(interactions: Sequence[Interaction]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fleet document of the recording's cluster, and that cluster's first recorded body."""
    first = next(
        i
        for i in interactions
        if i.kind in (Kind.CLUSTER_GET, Kind.CLUSTER_PUT) and i.status == 200
    )
    body = first.json
    props = body["properties"]
    location = body["location"]
    profiles = props["agentPoolProfiles"]
    channels = props.get("autoUpgradeProfile") or {}
    shape = "current"
    if "currentKubernetesVersion" not in props:
        shape = "2021-10-01" if any("osSKU" in p for p in profiles) else "2020-11-01"
    maintenance = {
        item["name"]: {"properties": item["properties"]}
        for i in interactions
        if i.kind is Kind.MAINTENANCE_LIST
        for item in i.json["value"]
    }
    cluster: dict[str, Any] = {
        "id": _cluster_path(first.path),
        "location": location,
        "kubernetes_version": _running(props, "Kubernetes"),
        "auto_upgrade_channel": channels.get("upgradeChannel", "none"),
        "node_os_upgrade_channel": channels.get("nodeOSUpgradeChannel", "None"),
        "maintenance_configurations": maintenance,
        "arm_shape": shape,
        "pools": [_pool(p) for p in profiles],
    }
    catalog = {location: {"kubernetes": _versions(interactions), "node_images": _images(profiles)}}
    return {"catalog": catalog, "clusters": [cluster]}, body


def _cluster_path(path: str) -> str:
    found = re.match(_MC, path, re.IGNORECASE)
    assert found is not None
    return path[: found.end()].replace("/managedclusters/", "/managedClusters/")


def _running(props: dict[str, Any], what: str) -> str:
    current, goal = (
        ("currentKubernetesVersion", "kubernetesVersion")
        if what == "Kubernetes"
        else ("currentOrchestratorVersion", "orchestratorVersion")
    )
    return str(props.get(current) or props[goal])


def _pool(profile: dict[str, Any]) -> dict[str, Any]:
    pool = {
        "name": profile["name"],
        "os": profile["osType"],
        "mode": profile["mode"],
        "version": _running(profile, "pool"),
        "node_image": profile["nodeImageVersion"],
        "count": profile["count"],
    }
    if "osSKU" in profile:
        pool["os_sku"] = profile["osSKU"]
    return pool


def _versions(interactions: Sequence[Interaction]) -> list[dict[str, str]]:
    """Every Kubernetes version the recording names, and one patch past the first cluster's."""
    seen: set[str] = set()
    for i in interactions:
        for body in (i.json, i.request_json):
            seen |= set(_named_versions(body))
        if i.kind is Kind.KUBERNETES_VERSIONS:
            for value in i.json["values"]:
                seen |= set(value["patchVersions"])
    first = next(v for i in interactions for v in _named_versions(i.json))
    seen.add(bump(first))
    return [{"version": v} for v in sorted(seen)]


def _named_versions(body: Any) -> Iterator[str]:
    if isinstance(body, dict):
        for key, value in body.items():
            if key in ("kubernetesVersion", "orchestratorVersion", "currentKubernetesVersion"):
                yield str(value)
            else:
                yield from _named_versions(value)
    elif isinstance(body, list):
        for value in body:
            yield from _named_versions(value)


def _images(profiles: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Each pool's image, and a newer one of its family, so a node image upgrade has a target."""
    images: dict[str, list[str]] = {}
    for profile in profiles:
        family, _, version = profile["nodeImageVersion"].rpartition("-")
        images.setdefault(family, [version, bump(version)])
    return images


def bump(version: str) -> str:
    """The version with its last number one higher (``2022.01.07`` -> ``2022.01.08``)."""
    head, number = re.match(r"(.*?)(\d+)$", version).groups()  # type: ignore[union-attr]
    return f"{head}{int(number) + 1:0{len(number)}d}"


# -- the replay ---------------------------------------------------------------------------------


@dataclass
class Replay:
    """A simulator shaped like one recording, and what the replay learnt along the way."""

    sim: SimulatorHandle
    urls: dict[str, str] = field(default_factory=dict)  # recorded operation URL path -> ours
    problems: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    checked: int = 0

    def call(self, method: str, url: str, body: Any = None) -> requests.Response:
        whole = url if url.startswith("https://") else self.sim.url + url
        return requests.request(
            method, whole, headers=TOKEN, json=body, verify=str(self.sim.ca_path), timeout=10
        )

    def resource(self, interaction: Interaction, body: Any = None) -> requests.Response:
        return self.call(interaction.method, f"{interaction.path}?api-version={API}", body)

    def expect(self, interaction: Interaction, what: str, recorded: Any, ours: Any) -> None:
        self.checked += 1
        if recorded != ours:
            self.problems.append(
                f"{interaction.id} {what}: recorded {recorded!r}, simulator {ours!r}"
            )


def replay(cassette: Cassette) -> Replay:
    interactions = cassette.interactions
    fleet, first = fleet_like(interactions)
    pace = Pace(seconds_per_node=600, retry_after_seconds=0)
    with run_simulator(fleet, clock=VirtualClock(T0), pace=pace) as sim:
        run = Replay(sim)
        if first["properties"]["provisioningState"] not in TERMINAL:
            make_busy(run, fleet)
        for interaction in interactions:
            STEPS.get(interaction.kind.value, unknown)(run, interaction)
    return run


def make_busy(run: Replay, fleet: dict[str, Any]) -> None:
    """The recording starts mid-operation: upgrade control plane and pools one patch."""
    cluster = fleet["clusters"][0]
    url = f"{cluster['id']}?api-version={API}"
    body = run.call("GET", url).json()
    target = bump(cluster["kubernetes_version"])
    body["properties"]["kubernetesVersion"] = target
    for profile in body["properties"]["agentPoolProfiles"]:
        profile["orchestratorVersion"] = target
    assert run.call("PUT", url, body).status_code == 200


def unknown(run: Replay, interaction: Interaction) -> None:
    run.problems.append(f"{interaction.id}: no rule for {interaction.method} {interaction.path}")


def compare_resource(run: Replay, interaction: Interaction, answer: requests.Response) -> None:
    run.expect(interaction, "status", interaction.status, answer.status_code)
    for name in ("azure-asyncoperation", "location"):
        recorded_url = interaction.header(name)
        run.expect(interaction, f"{name} header", recorded_url is not None, name in answer.headers)
        if recorded_url is not None and name in answer.headers:
            run.urls[urllib.parse.urlsplit(recorded_url).path.lower()] = answer.headers[name]
    recorded, ours = interaction.json, answer.json() if answer.content else None
    if not isinstance(recorded, dict) or not isinstance(ours, dict):
        run.expect(interaction, "body", type(recorded).__name__, type(ours).__name__)
        return
    fields = POOL_FIELDS if "/agentpools/" in interaction.path.lower() else CLUSTER_FIELDS
    compare_fields(run, interaction, "", recorded["properties"], ours["properties"], fields)
    channel = ("upgradeChannel" in (recorded["properties"].get("autoUpgradeProfile") or {}),)
    run.expect(
        interaction,
        "autoUpgradeProfile.upgradeChannel present",
        channel[0],
        "upgradeChannel" in (ours["properties"].get("autoUpgradeProfile") or {}),
    )
    for profile in recorded["properties"].get("agentPoolProfiles") or ():
        mine: dict[str, Any] = next(
            (
                p
                for p in ours["properties"].get("agentPoolProfiles") or ()
                if p["name"] == profile["name"]
            ),
            {},
        )
        compare_fields(run, interaction, f"pool {profile['name']}.", profile, mine, POOL_FIELDS)


def compare_fields(  # noqa: PLR0917 (a comparison's two sides and where they are)
    run: Replay,
    interaction: Interaction,
    where: str,
    recorded: dict[str, Any],
    ours: dict[str, Any],
    fields: tuple[str, ...],
) -> None:
    for name in fields:
        run.expect(interaction, f"{where}{name} present", name in recorded, name in ours)
    state, mine = recorded.get("provisioningState"), ours.get("provisioningState")
    if state == "Creating":
        # The simulator does not create clusters: any running state stands for it.
        run.expect(interaction, f"{where}provisioningState running", True, mine not in TERMINAL)
    else:
        run.expect(interaction, f"{where}provisioningState", state, mine)


def resource_step(run: Replay, interaction: Interaction) -> None:
    if interaction.status == 404:
        missing = re.sub(
            r"/managedclusters/([^/?]+)",
            r"/managedclusters/\1-absent",
            interaction.path,
            flags=re.IGNORECASE,
        )
        answer = run.call(interaction.method, f"{missing}?api-version={API}")
        run.expect(interaction, "status", 404, answer.status_code)
        run.expect(
            interaction,
            "error code",
            interaction.json["error"]["code"],
            answer.json()["error"]["code"],
        )
        run.expect(
            interaction,
            "x-ms-failure-cause",
            interaction.header("x-ms-failure-cause"),
            answer.headers.get("x-ms-failure-cause"),
        )
        return
    compare_resource(run, interaction, run.resource(interaction, interaction.request_json))


def status_step(run: Replay, interaction: Interaction) -> None:
    ours = run.urls.get(interaction.path.lower())
    if ours is None:
        run.problems.append(f"#{interaction.index} status of an operation the replay did not start")
        return
    body = run.call("GET", ours).json()
    recorded = interaction.json
    if recorded["status"] in TERMINAL:
        deadline = run.sim.clock.now() + dt.timedelta(hours=12)
        while body["status"] not in TERMINAL and run.sim.clock.now() < deadline:
            clock = run.sim.clock
            assert isinstance(clock, VirtualClock)
            clock.advance(dt.timedelta(seconds=30))
            body = run.call("GET", ours).json()
    run.expect(interaction, "status", recorded["status"], body["status"])
    run.expect(interaction, "keys", sorted(recorded), sorted(body))
    for url, seen in ((interaction.path, recorded), (ours, body)):
        operation = urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1]
        run.expect(interaction, "name", _swapped(operation), seen["name"])


def _swapped(operation_id: str) -> str:
    return str(uuid.UUID(bytes=uuid.UUID(operation_id).bytes_le))


def result_step(run: Replay, interaction: Interaction) -> None:
    ours = run.urls.get(interaction.path.lower())
    if ours is None:
        run.problems.append(f"#{interaction.index} result of an operation the replay did not start")
        return
    answer = run.call("GET", ours)
    run.expect(interaction, "status", interaction.status, answer.status_code)
    run.expect(
        interaction,
        "location header",
        interaction.header("location") is not None,
        "Location" in answer.headers,
    )


def profile_step(run: Replay, interaction: Interaction) -> None:
    answer = run.resource(interaction)
    run.expect(interaction, "status", interaction.status, answer.status_code)
    run.expect(interaction, "keys", sorted(interaction.json), sorted(answer.json()))
    run.expect(
        interaction,
        "properties keys",
        sorted(interaction.json["properties"]),
        sorted(answer.json()["properties"]),
    )


def maintenance_list_step(run: Replay, interaction: Interaction) -> None:
    answer = run.resource(interaction)
    run.expect(interaction, "status", interaction.status, answer.status_code)
    recorded = {item["name"]: sorted(item) for item in interaction.json["value"]}
    ours = {item["name"]: sorted(item) for item in answer.json()["value"]}
    run.expect(interaction, "items and their keys", recorded, ours)


def maintenance_get_step(run: Replay, interaction: Interaction) -> None:
    answer = run.resource(interaction)
    run.expect(interaction, "status", interaction.status, answer.status_code)
    run.expect(interaction, "keys", sorted(interaction.json), sorted(answer.json()))
    run.expect(
        interaction,
        "maintenanceWindow present",
        "maintenanceWindow" in interaction.json["properties"],
        "maintenanceWindow" in answer.json()["properties"],
    )


def maintenance_put_step(run: Replay, interaction: Interaction) -> None:
    answer = run.resource(interaction, interaction.request_json)
    run.expect(interaction, "status (not served by the simulator)", 405, answer.status_code)
    run.skipped.append(f"#{interaction.index} maintenance configuration PUT: not served")


def versions_step(run: Replay, interaction: Interaction) -> None:
    answer = run.resource(interaction)
    run.expect(interaction, "status", interaction.status, answer.status_code)
    optional = {"isDefault", "isPreview"}

    def keys(body: dict[str, Any]) -> list[Any]:
        return sorted(
            {
                (
                    tuple(sorted(set(v) - optional)),
                    tuple(sorted({k for p in v["patchVersions"].values() for k in p})),
                )
                for v in body["values"]
            }
        )

    run.expect(interaction, "top-level keys", sorted(interaction.json), sorted(answer.json()))
    run.expect(interaction, "value and patch keys", keys(interaction.json), keys(answer.json()))


STEPS = {
    Kind.CLUSTER_GET.value: resource_step,
    Kind.CLUSTER_PUT.value: resource_step,
    Kind.POOL_GET.value: resource_step,
    Kind.POOL_PUT.value: resource_step,
    Kind.NODE_IMAGE_UPGRADE.value: resource_step,
    Kind.CLUSTER_ABORT.value: resource_step,
    Kind.POOL_ABORT.value: resource_step,
    Kind.OPERATION_STATUS.value: status_step,
    Kind.OPERATION_RESULT.value: result_step,
    Kind.POOL_UPGRADE_PROFILE.value: profile_step,
    Kind.MAINTENANCE_LIST.value: maintenance_list_step,
    Kind.MAINTENANCE_GET.value: maintenance_get_step,
    Kind.MAINTENANCE_PUT.value: maintenance_put_step,
    Kind.KUBERNETES_VERSIONS.value: versions_step,
}


# -- the tests ----------------------------------------------------------------------------------


def test_the_recordings_folder_holds_cassettes() -> None:
    assert len(CASSETTES) >= 5


@pytest.mark.parametrize("cassette", CASSETTES, ids=[c.name for c in CASSETTES])
def test_every_recorded_kind_has_a_rule(cassette: Cassette) -> None:
    assert [i.id for i in cassette.interactions if i.kind.value not in STEPS] == []


@pytest.mark.parametrize("cassette", CASSETTES, ids=[c.name for c in CASSETTES])
def test_the_simulator_answers_each_recorded_call_in_the_recorded_shape(
    cassette: Cassette,
) -> None:
    run = replay(cassette)

    assert run.problems == []
    assert run.checked >= 3 * len(cassette.interactions)  # every interaction was compared

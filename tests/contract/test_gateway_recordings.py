"""The real ARM gateway against real ARM's recorded answers, replayed on 127.0.0.1.

Every cassette in ``../shared/fixtures/arm-recordings`` is replayed to the
:class:`~patchpilot.adapters.arm.gateway.ArmGateway` built as production
builds it (``Settings.from_env``, the real azure-mgmt-containerservice client,
TLS), one recorded interaction per test, chosen by kind
(:mod:`tests.contract.cassettes`): nothing here names a file, so a new cassette
dropped in the folder is tested the same way. Four contracts:

- observation: each recorded cluster, pool, upgrade profile, version list and
  maintenance configuration parses into the domain's values, equal to what the
  body says, whatever API version recorded it;
- starts: each recorded start (node image POST, managed cluster PUT, agent
  pool PUT, abort) made through the gateway sends az's method and path, and the
  body az sent where the body is the request (each test says what is
  compared); the gateway keeps the ``Azure-AsyncOperation`` URL the answer gave;
- operation following: the recorded status answers, polled through the
  gateway at the URL the start returned, whole, give the recorded states;
- errors: each recorded failure lands in the gateway's error kind for it.

What the replay serves for one test: the interaction under test, plus every
interaction of the same cassette at other method-and-paths (so ``observe``
finds the recorded maintenance list or version list when there is one). A
start that reads before it writes is served the read az made just before it.

The ``api-version`` query differs by design: the recordings were made with
older SDKs (down to 2020-11-01) and the gateway uses the installed SDK's
default; requests are compared without it, and the gateway's must be a GA
version (no ``-preview``). Paths are compared without case: ARM resolves them
case-insensitively, and az's SDK of 2023 sent ``managedclusters`` for the abort
where today's sends ``managedClusters``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import pytest

from patchpilot.adapters.arm import observe
from patchpilot.adapters.arm.actions import TERMINAL, Busy, Refused, Started
from patchpilot.adapters.arm.catalog_cache import SweepCache
from patchpilot.adapters.arm.client import ArmClients
from patchpilot.adapters.arm.gateway import ArmGateway
from patchpilot.adapters.arm.observe import POOL_MODES
from patchpilot.adapters.arm.retry import RetryPolicy
from patchpilot.domain.fleet import MAINTENANCE_NAMES
from patchpilot.domain.resource_ids import parse_cluster_id
from patchpilot.domain.versions import KubernetesVersion
from patchpilot.errors import PermanentError, TemporaryError
from patchpilot.settings import Settings
from tests.contract.cassettes import Cassette, Interaction, Kind, load_cassettes
from tests.contract.replay import Received, Replay, replaying

CASSETTES = load_cassettes()
ABORTS = (Kind.CLUSTER_ABORT, Kind.POOL_ABORT)
POSTS = (Kind.NODE_IMAGE_UPGRADE, *ABORTS)
PROVIDER = "/providers/Microsoft.ContainerService/managedClusters/"


def cases(*kinds: Kind, failed: bool = False) -> list[Any]:
    """One test case per recorded interaction of these kinds (answered well, or failed)."""
    return [
        pytest.param(cassette, each, id=each.id)
        for cassette in CASSETTES
        for each in cassette.of_kind(*kinds)
        if each.failed == failed
    ]


def operations() -> list[Any]:
    """One case per recorded operation: its status polls, in order, grouped by URL."""
    found: list[Any] = []
    for cassette in CASSETTES:
        groups: dict[str, list[Interaction]] = {}
        for each in cassette.of_kind(Kind.OPERATION_STATUS):
            groups.setdefault(each.uri, []).append(each)
        found += [
            pytest.param(cassette, tuple(polls), id=f"{polls[0].id}x{len(polls)}")
            for polls in groups.values()
        ]
    return found


# -- the gateway on a replay ---------------------------------------------------------------


@contextmanager
def gateway_on(served: Sequence[Interaction]) -> Iterator[tuple[ArmGateway, Replay]]:
    """The production gateway, scoped to the recorded subscriptions, on a replay of ``served``."""
    scopes = tuple(sorted({f"/subscriptions/{s}" for s in _subscriptions(served)}))
    with replaying(served) as replay:
        gateway = ArmGateway.from_settings(settings_of(replay), scopes, retry=_quick())
        try:
            yield gateway, replay
        finally:
            gateway.close()


def settings_of(replay: Replay) -> Settings:
    """Settings as a Function App would have them, but for the replay's endpoint and CA."""
    return Settings.from_env(
        {
            "PATCHPILOT_ARM_ENDPOINT": replay.url,
            "PATCHPILOT_ARM_CA_BUNDLE": str(replay.ca_path),
            "PATCHPILOT_CREDENTIAL": "static",
        }
    )


@contextmanager
def clients_on(served: Sequence[Interaction]) -> Iterator[tuple[ArmClients, Replay]]:
    """The gateway's SDK clients, for reads the gateway makes inside ``observe`` only."""
    with replaying(served) as replay:
        clients = ArmClients(settings_of(replay))
        try:
            yield clients, replay
        finally:
            clients.close()


def _quick() -> RetryPolicy:
    """Millisecond backoff: a retried call shows as one more request, not as a wait."""
    return RetryPolicy(
        initial_backoff_seconds=0.001, max_backoff_seconds=0.005, jitter_seconds=0.001
    )


def _subscriptions(served: Sequence[Interaction]) -> set[str]:
    return {each.names.subscription for each in served if each.names.subscription}


def around(cassette: Cassette, *chosen: Interaction) -> list[Interaction]:
    """The chosen interactions in order, then the cassette's others at other method-and-paths."""
    taken = {_key(each) for each in chosen}
    rest = [each for each in cassette.interactions if _key(each) not in taken]
    return [*chosen, *rest]


def before(cassette: Cassette, target: Interaction, kind: Kind) -> Interaction:
    """The last good answer of ``kind`` on the target's resource before the target."""
    resource = target.path.lower()
    for each in reversed(cassette.interactions[: target.index]):
        if each.kind == kind and not each.failed and each.path.lower() == resource:
            return each
    pytest.fail(f"{target.id}: the cassette holds no {kind} of {target.path} before it")


def _key(each: Interaction) -> tuple[str, str]:
    return each.method, each.path.lower()


def cluster_of(each: Interaction) -> str:
    """The managed cluster resource ID an interaction's path names."""
    subscription, group, cluster = resource(each)
    return f"/subscriptions/{subscription}/resourceGroups/{group}{PROVIDER}{cluster}"


def resource(each: Interaction) -> tuple[str, str, str]:
    """The subscription, resource group and cluster an interaction's path names."""
    names = each.names
    if not (names.subscription and names.resource_group and names.cluster):
        pytest.fail(f"{each.id}: the path names no managed cluster")
    return names.subscription, names.resource_group, names.cluster


def pool_of(each: Interaction) -> str:
    """The agent pool an interaction's path names."""
    if not each.names.pool:
        pytest.fail(f"{each.id}: the path names no agent pool")
    return each.names.pool


def assert_same_call(got: Received, recorded: Interaction) -> None:
    """Method and path as az sent them (path without case), on a GA api-version."""
    assert got.method == recorded.method
    assert got.path.lower() == recorded.path.lower()
    version = dict(part.partition("=")[::2] for part in got.query.split("&")).get("api-version")
    assert version, f"{got.target} carries no api-version"
    assert "preview" not in version, f"the gateway uses the preview API {version}"


def flat(document: Any, path: str = "") -> dict[str, Any]:
    """A JSON document as leaf path -> value; list items with a ``name`` are keyed by it."""
    if isinstance(document, Mapping) and document:
        return {
            k: v for key, value in document.items() for k, v in flat(value, f"{path}/{key}").items()
        }
    if (
        isinstance(document, list)
        and document
        and all(isinstance(item, Mapping) and "name" in item for item in document)
    ):
        return {k: v for item in document for k, v in flat(item, f"{path}[{item['name']}]").items()}
    return {path: document}


def assert_put_body(
    az: Any,
    ours: Any,
    read: Interaction,
    model: str,
    exempt: Callable[[str], bool] = lambda _: False,
) -> None:
    """Ours has az's fields with az's values, but for ``exempt`` ones and the SDK's read-only ones.

    Both bodies are the GET sent back: az's SDK of its day and ours drop
    read-only fields, and they differ in which (an older SDK kept
    ``effectiveOutboundIPs``). A field az sent that ours lacks must be one
    today's SDK ``model`` drops from the same GET as read-only; ours adds none.
    """
    from azure.mgmt.containerservice import models  # cold start, as in the gateway

    theirs, mine = flat(az), flat(ours)
    readonly = set(flat(read.json)) - set(
        flat(getattr(models, model)(read.json).as_dict(exclude_readonly=True))
    )
    assert set(mine) - set(theirs) == set(), "ours sends fields az did not"
    assert set(theirs) - set(mine) <= readonly, "ours lacks fields az sent that are not read-only"
    differ = {path for path in set(mine) & set(theirs) if mine[path] != theirs[path]}
    assert {path for path in differ if not exempt(path)} == set()


def requests_of(replay: Replay, *kinds: Kind) -> list[Received]:
    return [each for each in replay.received() if each.kind in kinds]


# -- observation ---------------------------------------------------------------------------


def _properties(document: Mapping[str, Any]) -> Mapping[str, Any]:
    value = document.get("properties")
    return value if isinstance(value, Mapping) else {}


def _running(props: Mapping[str, Any], current: str, goal: str) -> str:
    """What runs: ``current...`` where the API version has it, else the goal (older shapes)."""
    return str(props.get(current) or props[goal])


def _recorded(cassette: Cassette, kind: Kind, path: str) -> Interaction | None:
    matches = [
        each
        for each in cassette.of_kind(kind)
        if not each.failed and each.path.lower() == path.lower()
    ]
    return matches[-1] if matches else None


@pytest.mark.parametrize(("cassette", "recorded"), cases(Kind.CLUSTER_GET))
def test_every_recorded_cluster_is_observed_as_its_body_says(
    cassette: Cassette, recorded: Interaction
) -> None:
    """``observe`` reads the recorded cluster into the state its JSON describes.

    Versions are what runs (``current*`` where the API version has them, the
    goal where older shapes lack them), pools keep their recorded names,
    images, counts, OS SKU (None where the shape has no ``osSKU``) and states;
    an absent ``autoUpgradeProfile`` is the channels off. The region's catalog
    and the maintenance schedules equal the recorded list answers where the
    cassette has them.
    """
    body = recorded.json
    props = _properties(body)
    with gateway_on(around(cassette, recorded)) as (gateway, replay):
        seen = gateway.observe(parse_cluster_id(body["id"]), SweepCache())
        unrecorded = replay.unrecorded()
    state = seen.state
    assert unrecorded == ()
    assert state.location == body["location"]
    assert str(state.kubernetes_version) == _running(
        props, "currentKubernetesVersion", "kubernetesVersion"
    )
    assert state.provisioning_state == props["provisioningState"]
    assert seen.power_state == (props.get("powerState") or {}).get("code")
    channels = props.get("autoUpgradeProfile") or {}
    assert (
        state.auto_upgrade_channel.lower() == str(channels.get("upgradeChannel") or "none").lower()
    )
    assert (
        state.node_os_upgrade_channel.lower()
        == str(channels.get("nodeOSUpgradeChannel") or "None").lower()
    )
    profiles = props["agentPoolProfiles"]
    managed = [
        p for p in profiles if p.get("mode", "User") in POOL_MODES and p.get("nodeImageVersion")
    ]
    assert [p.name for p in state.pools] == [p["name"] for p in managed]
    assert {p.name for p in state.unmanaged} == {p["name"] for p in profiles} - {
        p["name"] for p in managed
    }
    for pool, profile in zip(state.pools, managed, strict=True):
        assert str(pool.version) == _running(
            profile, "currentOrchestratorVersion", "orchestratorVersion"
        )
        assert str(pool.node_image) == profile["nodeImageVersion"]
        assert pool.os_type == profile["osType"]
        assert pool.os_sku == profile.get("osSKU")
        assert pool.count == profile["count"]
        assert pool.provisioning_state == profile["provisioningState"]
    _assert_catalog_and_schedules(cassette, recorded, seen)


def _assert_catalog_and_schedules(cassette: Cassette, recorded: Interaction, seen: Any) -> None:
    listed = _recorded(
        cassette, Kind.MAINTENANCE_LIST, recorded.path + "/maintenanceConfigurations"
    )
    if listed is not None:
        names = {str(item["name"]) for item in listed.json["value"]}
        assert set(seen.state.maintenance) == names & set(MAINTENANCE_NAMES)
    location = seen.state.location
    versions = next(
        (
            each
            for each in cassette.of_kind(Kind.KUBERNETES_VERSIONS)
            if not each.failed and (each.names.location or "").lower() == location.lower()
        ),
        None,
    )
    if versions is not None:
        offered = {
            patch for minor in versions.json["values"] for patch in minor.get("patchVersions") or {}
        }
        assert {str(v.offered.version) for v in seen.catalog.kubernetes} == offered
    for pool in seen.state.pools:
        profile = _recorded(
            cassette,
            Kind.POOL_UPGRADE_PROFILE,
            f"{recorded.path}/agentPools/{pool.name}/upgradeProfiles/default",
        )
        if profile is not None:
            latest = _properties(profile.json).get("latestNodeImageVersion")
            images = {str(image.image) for image in seen.catalog.node_images}
            assert latest in images


@pytest.mark.parametrize(("cassette", "recorded"), cases(Kind.CLUSTER_GET))
def test_a_resource_graph_row_of_a_recorded_cluster_gives_the_same_state(
    cassette: Cassette, recorded: Interaction
) -> None:
    """``observe_row`` on the raw JSON equals ``observe`` through the SDK's models.

    A Resource Graph row carries the GET's ``id``, ``location``, ``tags`` and
    ``properties``: the two paths differ only in the SDK's deserialisation,
    which must neither drop nor rename a field the planner reads.
    """
    body = recorded.json
    with gateway_on(around(cassette, recorded)) as (gateway, _):
        cache = SweepCache()
        seen = gateway.observe(parse_cluster_id(body["id"]), cache)
        row = gateway.observe_row(body, seen.state.maintenance, cache)
    assert row.state == seen.state
    assert row.pools == seen.pools
    assert row.posture == seen.posture


@pytest.mark.parametrize(("cassette", "recorded"), cases(Kind.POOL_GET, Kind.NODE_IMAGE_UPGRADE))
def test_every_recorded_pool_is_read_as_its_body_says(
    cassette: Cassette, recorded: Interaction
) -> None:
    """An agent pool (a GET's answer, and the pool a node image POST answers with) parses whole.

    Read through the SDK as the gateway's pool reads do
    (``agent_pools.get(...).as_dict()``, then :mod:`~patchpilot.adapters.arm.observe`);
    the POST's answer is served as that pool's GET.
    """
    body = recorded.json
    props = _properties(body)
    subscription, group, cluster = resource(recorded)
    pool_name = pool_of(recorded)
    pool_uri = f"https://management.azure.com{cluster_of(recorded)}/agentPools/{pool_name}"
    with clients_on([replace(recorded, method="GET", uri=pool_uri, status=200)]) as (clients, _):
        read = (
            clients.container_service(subscription)
            .agent_pools.get(group, cluster, pool_name)
            .as_dict()
        )
    pool = observe.pool_state(read, recorded.id)
    details = observe.pool_details(read)
    assert pool.name == body["name"]
    assert str(pool.version) == _running(props, "currentOrchestratorVersion", "orchestratorVersion")
    assert str(pool.node_image) == props["nodeImageVersion"]
    assert pool.os_sku == props.get("osSKU")
    assert pool.count == props["count"]
    assert pool.provisioning_state == details.provisioning_state == props["provisioningState"]
    assert details.power_state == (props.get("powerState") or {}).get("code")
    assert details.error == (props.get("status") or {}).get("provisioningError")


@pytest.mark.parametrize(("cassette", "recorded"), cases(Kind.POOL_UPGRADE_PROFILE))
def test_every_recorded_pool_upgrade_profile_gives_its_latest_image(
    cassette: Cassette, recorded: Interaction
) -> None:
    """The region's latest image of a family, as the sweep reads it from one pool's profile."""
    subscription, group, cluster = resource(recorded)
    with clients_on([recorded]) as (clients, _):
        document = (
            clients.container_service(subscription)
            .agent_pools.get_upgrade_profile(group, cluster, pool_of(recorded))
            .as_dict()
        )
    latest = observe.latest_image(document, recorded.id)
    recorded_latest = _properties(recorded.json).get("latestNodeImageVersion")
    assert (str(latest) if latest else None) == recorded_latest


@pytest.mark.parametrize(("cassette", "recorded"), cases(Kind.KUBERNETES_VERSIONS))
def test_every_recorded_version_list_gives_every_patch_offered(
    cassette: Cassette, recorded: Interaction
) -> None:
    """Every patch of every minor, in version order (AKS lists minors unsorted), none lost.

    Preview is per minor (``isPreview``); absent means GA.
    """
    names = recorded.names
    assert names.subscription
    assert names.location
    with clients_on([recorded]) as (clients, _):
        document = (
            clients.container_service(names.subscription)
            .managed_clusters.list_kubernetes_versions(names.location)
            .as_dict()
        )
    offered = observe.offered_versions(document, recorded.id)
    expected = {
        KubernetesVersion.parse(patch): bool(minor.get("isPreview"))
        for minor in recorded.json["values"]
        for patch in minor.get("patchVersions") or {}
    }
    assert [o.version for o in offered] == sorted(expected)
    assert {o.version: o.preview for o in offered} == expected


@pytest.mark.parametrize(
    ("cassette", "recorded"),
    cases(Kind.MAINTENANCE_LIST, Kind.MAINTENANCE_GET, Kind.MAINTENANCE_PUT),
)
def test_every_recorded_maintenance_configuration_parses_into_a_schedule(
    cassette: Cassette, recorded: Interaction
) -> None:
    """Each configuration AKS returned (listed, read, or echoed by a PUT) is a schedule.

    Lists go through the SDK as ``observe`` reads them; a single configuration's
    JSON goes to the same parser (Patch Pilot never writes maintenance configurations).
    """
    subscription, group, cluster = resource(recorded)
    if recorded.kind == Kind.MAINTENANCE_LIST:
        with clients_on([recorded]) as (clients, _):
            configurations = [
                each.as_dict()
                for each in clients.container_service(
                    subscription
                ).maintenance_configurations.list_by_managed_cluster(group, cluster)
            ]
        recorded_names = [str(item["name"]) for item in recorded.json["value"]]
    else:
        configurations = [recorded.json]
        recorded_names = [str(recorded.json["name"])]
    schedules = observe.maintenance_schedules(configurations, recorded.id)
    assert set(schedules) == set(recorded_names) & set(MAINTENANCE_NAMES)


# -- starts --------------------------------------------------------------------------------


def _status_url(replay: Replay, answer: Interaction) -> str:
    """Where the gateway must follow a start: ``Azure-AsyncOperation``, else ``Location``."""
    recorded = answer.header("Azure-AsyncOperation") or answer.header("Location")
    assert recorded, f"{answer.id}: the recorded start answer names no operation URL"
    return replay.rewrite(recorded)


@pytest.mark.parametrize(("cassette", "recorded"), cases(*POSTS))
def test_every_recorded_post_start_is_sent_as_az_sent_it(
    cassette: Cassette, recorded: Interaction
) -> None:
    """Node image upgrades and aborts: az's method and path, and no body, as az sent none.

    The gateway keeps the answer's ``Azure-AsyncOperation`` URL (rewritten to
    the replay, otherwise whole) as the operation to follow.
    """
    cluster, pool = cluster_of(recorded), recorded.names.pool
    with gateway_on(around(cassette, recorded)) as (gateway, replay):
        if recorded.kind == Kind.NODE_IMAGE_UPGRADE:
            assert pool is not None
            result = gateway.upgrade_node_image(parse_cluster_id(cluster), pool)
        else:
            result = gateway.abort_latest_operation(parse_cluster_id(cluster), pool)
        sent = requests_of(replay, recorded.kind)
        url = _status_url(replay, recorded)
    assert len(sent) == 1
    assert_same_call(sent[0], recorded)
    assert sent[0].body == (recorded.request_body or "").encode()
    # ARM answers a bodiless POST without Content-Length with 411 Length Required
    # (hashicorp/go-azure-sdk#425): az sent ``Content-Length: 0``, and so must we.
    assert sent[0].headers.get("content-length") == recorded.request_header("Content-Length")
    assert isinstance(result, Started)
    assert result.status_url == url


@pytest.mark.parametrize(("cassette", "recorded"), cases(Kind.CLUSTER_PUT))
def test_every_recorded_cluster_put_is_sent_as_az_sent_it(
    cassette: Cassette, recorded: Interaction
) -> None:
    """The control plane's upgrade: a GET-modify-PUT of the cluster az read, to az's version.

    Compared with az's body field by field (:func:`assert_put_body`), but for
    the pools' ``orchestratorVersion``: ``az aks upgrade -k`` without
    ``--control-plane-only`` sets every pool to the new version, while Patch
    Pilot always upgrades the control plane alone, so each pool keeps the
    version the GET said it runs, and none carries ``nodeImageVersion`` (which
    would ask for an image rollback). The 200 answer with an
    ``Azure-AsyncOperation`` header is a started operation.
    """
    read = before(cassette, recorded, Kind.CLUSTER_GET)
    ours_to = KubernetesVersion.parse(recorded.request_json["properties"]["kubernetesVersion"])
    with gateway_on(around(cassette, read, recorded)) as (gateway, replay):
        result = gateway.upgrade_control_plane(parse_cluster_id(cluster_of(recorded)), ours_to)
        sent = requests_of(replay, Kind.CLUSTER_PUT)
        url = _status_url(replay, recorded)
    assert len(sent) == 1
    assert_same_call(sent[0], recorded)
    az, ours = recorded.request_json, sent[0].json
    assert ours["properties"]["kubernetesVersion"] == az["properties"]["kubernetesVersion"]
    pools = "/properties/agentPoolProfiles"
    assert_put_body(
        az,
        ours,
        read,
        "ManagedCluster",
        exempt=lambda path: path.startswith(pools) and path.endswith("/orchestratorVersion"),
    )
    running = {p["name"]: p for p in _properties(read.json)["agentPoolProfiles"]}
    for profile in ours["properties"]["agentPoolProfiles"]:
        assert "nodeImageVersion" not in profile
        assert profile["orchestratorVersion"] == _running(
            running[profile["name"]], "currentOrchestratorVersion", "orchestratorVersion"
        )
    assert isinstance(result, Started)
    assert result.status_url == url


@pytest.mark.parametrize(("cassette", "recorded"), cases(Kind.POOL_PUT))
def test_every_recorded_pool_put_is_sent_as_az_sent_it(
    cassette: Cassette, recorded: Interaction
) -> None:
    """One pool's Kubernetes upgrade: a GET-modify-PUT whose properties equal az's.

    Both read the pool, drop its read-only fields and ``nodeImageVersion``,
    set ``orchestratorVersion`` and PUT it back: compared field by field
    (:func:`assert_put_body`), with no exception. A PUT to the version the pool
    already runs (as recorded) is a started operation all the same: AKS
    answers with an ``Azure-AsyncOperation`` and an ``Updating`` pool.
    """
    read = before(cassette, recorded, Kind.POOL_GET)
    pool = recorded.names.pool
    assert pool is not None
    version = KubernetesVersion.parse(recorded.request_json["properties"]["orchestratorVersion"])
    with gateway_on(around(cassette, read, recorded)) as (gateway, replay):
        result = gateway.upgrade_pool_version(parse_cluster_id(cluster_of(recorded)), pool, version)
        sent = requests_of(replay, Kind.POOL_PUT)
        url = _status_url(replay, recorded)
    assert len(sent) == 1
    assert_same_call(sent[0], recorded)
    assert_put_body(recorded.request_json, sent[0].json, read, "AgentPool")
    assert isinstance(result, Started)
    assert result.started
    assert result.status_url == url


# -- operation following -------------------------------------------------------------------


def _start_of(cassette: Cassette, status_uri: str) -> Interaction | None:
    for each in cassette.interactions:
        if status_uri in (each.header("Azure-AsyncOperation"), each.header("Location")):
            return each
    return None


@pytest.mark.parametrize(("cassette", "polls"), operations())
def test_every_recorded_operation_is_followed_to_its_recorded_end(
    cassette: Cassette, polls: tuple[Interaction, ...]
) -> None:
    """``operation_status`` at the URL the start returned gives each recorded state in turn.

    The URL is polled whole: every status request carries the recorded path
    and query (``api-version`` included) byte for byte. Status bodies carry no
    ``id`` and no ``percentComplete``; an ``error`` is kept where AKS sent one.
    """
    start = _start_of(cassette, polls[0].uri)
    assert start is not None, f"{polls[0].id}: no recorded start names this operation"
    with gateway_on(around(cassette, start, *polls)) as (gateway, replay):
        result = _start(gateway, start)
        assert isinstance(result, Started)
        assert result.status_url == replay.rewrite(polls[0].uri)
        statuses = [gateway.operation_status(result) for _ in polls]
        asked = requests_of(replay, Kind.OPERATION_STATUS)
    assert [s.status for s in statuses] == [p.json["status"] for p in polls]
    assert [s.done for s in statuses] == [p.json["status"] in TERMINAL for p in polls]
    assert [s.error for s in statuses] == [p.json.get("error") for p in polls]
    assert [s.percent_complete for s in statuses] == [p.json.get("percentComplete") for p in polls]
    recorded = urlsplit(polls[0].uri)
    assert {each.target for each in asked} == {f"{recorded.path}?{recorded.query}"}


@pytest.mark.parametrize(("cassette", "recorded"), cases(Kind.OPERATION_RESULT))
def test_every_recorded_operation_result_reads_as_its_status_code_says(
    cassette: Cassette, recorded: Interaction
) -> None:
    """A ``Location`` (operationresults) URL: 202 is still running, 204 or 200 is done.

    Followed when a start's answer carried ``Location`` only; polled whole.
    """
    start = _start_of(cassette, recorded.uri)
    assert start is not None, f"{recorded.id}: no recorded start names this result"
    with gateway_on([recorded]) as (gateway, replay):
        asked = Started(
            parse_cluster_id(cluster_of(start)),
            start.names.pool,
            "abort",
            None,
            replay.rewrite(recorded.uri),
        )
        status = gateway.operation_status(asked)
        got = requests_of(replay, Kind.OPERATION_RESULT)
    assert status.status == ("InProgress" if recorded.status == 202 else "Succeeded")
    parts = urlsplit(recorded.uri)
    assert [each.target for each in got] == [f"{parts.path}?{parts.query}"]


def _start(gateway: ArmGateway, start: Interaction) -> object:
    """Make the start a recorded answer belongs to, through the gateway's matching method."""
    cluster, pool = cluster_of(start), start.names.pool
    if start.kind == Kind.NODE_IMAGE_UPGRADE:
        assert pool is not None
        return gateway.upgrade_node_image(parse_cluster_id(cluster), pool)
    if start.kind in ABORTS:
        return gateway.abort_latest_operation(parse_cluster_id(cluster), pool)
    if start.kind == Kind.CLUSTER_PUT:
        version = start.request_json["properties"]["kubernetesVersion"]
        return gateway.upgrade_control_plane(
            parse_cluster_id(cluster), KubernetesVersion.parse(version)
        )
    if start.kind == Kind.POOL_PUT:
        assert pool is not None
        version = start.request_json["properties"]["orchestratorVersion"]
        return gateway.upgrade_pool_version(
            parse_cluster_id(cluster), pool, KubernetesVersion.parse(version)
        )
    pytest.fail(f"{start.id}: the gateway makes no {start.kind} start")


# -- errors --------------------------------------------------------------------------------


def _error_body(recorded: Interaction) -> Mapping[str, Any]:
    document = recorded.json
    error = document.get("error") if isinstance(document, Mapping) else None
    if not isinstance(error, Mapping):
        pytest.fail(
            f"{recorded.id}: the error is not in ARM's {{error: {{code, message}}}} envelope"
        )
    return error


def _call(gateway: ArmGateway, recorded: Interaction) -> object:
    """The gateway call that makes the recorded request first."""
    cluster, pool = cluster_of(recorded), recorded.names.pool
    if recorded.kind == Kind.CLUSTER_GET:
        return gateway.observe(parse_cluster_id(cluster), SweepCache())
    if recorded.kind == Kind.POOL_GET:
        return gateway.explain_failure(parse_cluster_id(cluster), pool)
    if recorded.kind in (*POSTS, Kind.CLUSTER_PUT, Kind.POOL_PUT):
        return _start(gateway, recorded)
    pytest.skip(f"{recorded.kind} is not a call the gateway makes first")


@pytest.mark.parametrize(("cassette", "recorded"), cases(*Kind, failed=True))
def test_every_recorded_error_lands_in_the_gateways_error_kind(
    cassette: Cassette, recorded: Interaction
) -> None:
    """ARM's failures, as the gateway's kinds say: read from ARM's envelope, retried or not.

    A 409 on a start is a :class:`Busy` (another operation) or a :class:`Refused`;
    a 429 or 5xx is a :class:`TemporaryError` after retries; any other 4xx
    (the recorded 404 ``ResourceNotFound`` with ``x-ms-failure-cause``) is a
    :class:`PermanentError` with ARM's code, status and message, asked once.
    """
    error = _error_body(recorded)
    with gateway_on([recorded]) as (gateway, replay):
        try:
            outcome: object = _call(gateway, recorded)
        except (PermanentError, TemporaryError) as exc:
            outcome = exc
        asked = requests_of(replay, recorded.kind)
    if recorded.status == 409 and recorded.kind in (*POSTS, Kind.CLUSTER_PUT, Kind.POOL_PUT):
        assert isinstance(outcome, Busy | Refused)
        assert outcome.code == error["code"]
    elif recorded.status == 429 or recorded.status >= 500 or recorded.status == 409:
        assert isinstance(outcome, TemporaryError)
    else:
        assert isinstance(outcome, PermanentError)
        assert (outcome.code, outcome.status) == (error["code"], recorded.status)
        assert error["message"] in outcome.message
        assert len(asked) == 1

"""One function per ARM operation the simulator serves: read the request, ask the model, answer.

The server calls every handler inside :meth:`SimulatedAks.transaction` and
passes its instant, so a handler sees and changes the model at one instant.
Long-running operations answer as AKS does (the recordings in
``shared/fixtures/arm-recordings``): the PUTs ``200`` with the resource and
``Azure-AsyncOperation``, the POSTs (``upgradeNodeImageVersion``, ``abort``)
``202`` with the resource as it stood and ``Azure-AsyncOperation`` and
``Location``; the status URL answers AKS's operation status body and the
``Location`` URL ``202`` until the end, then ``204`` with ``Location`` (or the
error). Both URLs are signed as ARM's have been since 2024
(:mod:`patchpilot.sim.operation_urls`; ``RestSettings.signed_operation_urls``).

``Retry-After`` is not in any recording (the recorder keeps it out); it is
sent on the start answers and on the polls of a running operation because
ARM's contract says to use it to space polls (Microsoft Learn, "Track
asynchronous Azure operations": "Use the value from Retry-After to schedule
how often to check the status").
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from patchpilot.domain.resource_ids import region_key
from patchpilot.sim import arm_errors, operation_urls, payloads, resource_graph
from patchpilot.sim.aks import SimulatedAks
from patchpilot.sim.aks_maintenance import announcements_of
from patchpilot.sim.arm_errors import ArmError
from patchpilot.sim.operations import SimOperation
from patchpilot.sim.state import SimCluster

# The api-version AKS writes into its operation status and result URLs.
OPERATION_API_VERSION = "2016-03-30"


@dataclass(frozen=True)
class Request:
    """What a handler needs of an HTTP request; ``params`` are the path's named parts."""

    method: str
    path: str
    query: Mapping[str, str]
    body: bytes
    base_url: str
    params: Mapping[str, str] = field(default_factory=dict)
    raw_query: str = ""

    @property
    def url(self) -> str:
        """The whole URL the client asked for, query as sent."""
        return f"{self.base_url}{self.path}" + (f"?{self.raw_query}" if self.raw_query else "")

    def json(self) -> dict[str, Any]:
        """The body as a JSON object, or ARM's InvalidRequestContent."""
        try:
            value = json.loads(self.body or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise arm_errors.invalid_content(str(exc)) from exc
        if not isinstance(value, dict):
            raise arm_errors.invalid_content("the body must be a JSON object")
        return value


@dataclass(frozen=True)
class Response:
    """An answer: status, JSON body (None for none) and headers."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RestSettings:
    """Knobs of the REST surface: list and Resource Graph page sizes, signed operation URLs."""

    list_page_size: int = 1000
    graph_page_size: int = 100
    signed_operation_urls: bool = True


Handler = Callable[[SimulatedAks, Request, RestSettings, dt.datetime], Response]


def list_clusters(
    aks: SimulatedAks, request: Request, settings: RestSettings, now: dt.datetime
) -> Response:
    """ManagedClusters_List."""
    clusters = aks.require_subscription(request.params["subscription"])
    return _paged(request, [payloads.managed_cluster(c) for c in clusters], settings)


def list_clusters_by_group(
    aks: SimulatedAks, request: Request, settings: RestSettings, now: dt.datetime
) -> Response:
    """ManagedClusters_ListByResourceGroup."""
    clusters = aks.require_group(request.params["subscription"], request.params["group"])
    return _paged(request, [payloads.managed_cluster(c) for c in clusters], settings)


def get_cluster(
    aks: SimulatedAks, request: Request, settings: RestSettings, now: dt.datetime
) -> Response:
    """ManagedClusters_Get."""
    return Response(200, payloads.managed_cluster(_cluster(aks, request)))


def put_cluster(
    aks: SimulatedAks, request: Request, settings: RestSettings, now: dt.datetime
) -> Response:
    """ManagedClusters_CreateOrUpdate: upgrades only (the simulator does not create clusters)."""
    cluster = _cluster(aks, request, creating=True)
    body = request.json()
    operation = aks.put_cluster(cluster, body, now)
    resource = payloads.managed_cluster(cluster)
    return Response(
        200, resource, _async_headers(request, aks, settings, operation, location=False)
    )


def cluster_upgrade_profile(
    aks: SimulatedAks, request: Request, settings: RestSettings, now: dt.datetime
) -> Response:
    """ManagedClusters_GetUpgradeProfile."""
    cluster = _cluster(aks, request)
    return Response(200, payloads.cluster_upgrade_profile(cluster, aks.catalog, now))


def abort_cluster(
    aks: SimulatedAks, request: Request, settings: RestSettings, now: dt.datetime
) -> Response:
    """ManagedClusters_AbortLatestOperation: 202 with the cluster as it stood (recorded)."""
    cluster = _cluster(aks, request)
    resource = payloads.managed_cluster(cluster)
    operation = aks.abort(cluster, None, now)
    return Response(202, resource, _async_headers(request, aks, settings, operation, location=True))


def list_pools(
    aks: SimulatedAks, request: Request, settings: RestSettings, now: dt.datetime
) -> Response:
    """AgentPools_List."""
    cluster = _cluster(aks, request)
    return _paged(request, [payloads.agent_pool(cluster, p) for p in cluster.pools], settings)


def get_pool(
    aks: SimulatedAks, request: Request, settings: RestSettings, now: dt.datetime
) -> Response:
    """AgentPools_Get."""
    cluster = _cluster(aks, request)
    return Response(
        200, payloads.agent_pool(cluster, aks.find_pool(cluster, request.params["pool"]))
    )


def put_pool(
    aks: SimulatedAks, request: Request, settings: RestSettings, now: dt.datetime
) -> Response:
    """AgentPools_CreateOrUpdate: a Kubernetes version upgrade or a node image rollback."""
    cluster = _cluster(aks, request)
    pool = cluster.pool(request.params["pool"])
    if pool is None:
        raise arm_errors.bad_request(
            f"The AKS simulator upgrades existing agent pools only; {request.params['pool']!r} "
            f"is not a pool of {cluster.id.name}."
        )
    body = request.json()
    operation = aks.put_pool(cluster, pool, body, now)
    resource = payloads.agent_pool(cluster, pool)
    return Response(
        200, resource, _async_headers(request, aks, settings, operation, location=False)
    )


def available_pool_versions(
    aks: SimulatedAks, request: Request, settings: RestSettings, now: dt.datetime
) -> Response:
    """AgentPools_GetAvailableAgentPoolVersions: the versions a pool may be created at."""
    cluster = _cluster(aks, request)
    body = {
        "id": f"{cluster.id}/availableagentpoolversions",
        "name": "default",
        "type": "Microsoft.ContainerService/managedClusters/availableAgentpoolversions",
        "properties": {"agentPoolVersions": aks.catalog.agent_pool_versions(cluster.location, now)},
    }
    return Response(200, body)


def pool_upgrade_profile(
    aks: SimulatedAks, request: Request, settings: RestSettings, now: dt.datetime
) -> Response:
    """AgentPools_GetUpgradeProfile."""
    cluster = _cluster(aks, request)
    pool = aks.find_pool(cluster, request.params["pool"])
    return Response(200, payloads.pool_upgrade_profile(cluster, pool, aks.catalog, now))


def upgrade_node_image(
    aks: SimulatedAks, request: Request, settings: RestSettings, now: dt.datetime
) -> Response:
    """AgentPools_UpgradeNodeImageVersion: 202 with the pool (fixture of that name).

    When the pool already runs the latest image there is nothing to do: 200 with the pool.
    """
    cluster = _cluster(aks, request)
    pool = aks.find_pool(cluster, request.params["pool"])
    operation = aks.upgrade_node_image(cluster, pool, now)
    resource = payloads.agent_pool(cluster, pool)
    if operation is None:
        return Response(200, resource)
    return Response(202, resource, _async_headers(request, aks, settings, operation, location=True))


def abort_pool(
    aks: SimulatedAks, request: Request, settings: RestSettings, now: dt.datetime
) -> Response:
    """AgentPools_AbortLatestOperation: 202 with the pool as it stood.

    Not recorded; taken to answer as the cluster's abort does.
    """
    cluster = _cluster(aks, request)
    pool = aks.find_pool(cluster, request.params["pool"])
    resource = payloads.agent_pool(cluster, pool)
    operation = aks.abort(cluster, pool, now)
    return Response(202, resource, _async_headers(request, aks, settings, operation, location=True))


def list_maintenance(
    aks: SimulatedAks, request: Request, settings: RestSettings, now: dt.datetime
) -> Response:
    """MaintenanceConfigurations_ListByManagedCluster."""
    cluster = _cluster(aks, request)
    items = [
        payloads.maintenance_configuration(cluster, n, p) for n, p in cluster.maintenance.items()
    ]
    return _paged(request, items, settings)


def get_maintenance(
    aks: SimulatedAks, request: Request, settings: RestSettings, now: dt.datetime
) -> Response:
    """MaintenanceConfigurations_Get."""
    cluster = _cluster(aks, request)
    wanted = request.params["config"].lower()
    for name, properties in cluster.maintenance.items():
        if name.lower() == wanted:
            return Response(200, payloads.maintenance_configuration(cluster, name, properties))
    raise arm_errors.resource_not_found(
        f"Microsoft.ContainerService/managedClusters/{cluster.id.name}/maintenanceConfigurations",
        request.params["config"],
        cluster.id.resource_group,
    )


def kubernetes_versions(
    aks: SimulatedAks, request: Request, settings: RestSettings, now: dt.datetime
) -> Response:
    """ManagedClusters_ListKubernetesVersions (fixture KubernetesVersions_List)."""
    aks.require_subscription(request.params["subscription"])
    return Response(200, aks.catalog.kubernetes_versions(request.params["location"], now))


def operation_status(
    aks: SimulatedAks, request: Request, settings: RestSettings, now: dt.datetime
) -> Response:
    """The ``Azure-AsyncOperation`` URL: AKS's operation status body."""
    operation = _operation(aks, request)
    body = payloads.operation_status(operation, now)
    if "error" not in body and operation.status in aks.faults.status_errors:
        body["error"] = arm_errors.not_latest_operation(operation.id).detail()
    running = operation.running
    headers = {"Retry-After": str(aks.pace.retry_after_seconds)} if running else {}
    return Response(200, body, headers)


def operation_result(
    aks: SimulatedAks, request: Request, settings: RestSettings, now: dt.datetime
) -> Response:
    """The ``Location`` URL: 202 while running, 204 once succeeded, the error once failed.

    Both 202 and 204 carry ``Location``, the URL polled (the 204 as recorded).
    """
    operation = _operation(aks, request)
    status, error = operation.status, operation.error
    location = {"Location": request.url}
    if status == "InProgress":
        return Response(202, None, {**location, "Retry-After": str(aks.pace.retry_after_seconds)})
    if status == "Succeeded":
        return Response(204, None, location)
    detail = error or {"code": status, "message": f"The operation ended {status}."}
    raise ArmError(
        400,
        str(detail.get("code")),
        str(detail.get("message")),
        extra={k: v for k, v in detail.items() if k not in ("code", "message")},
    )


def graph_resources(
    aks: SimulatedAks, request: Request, settings: RestSettings, now: dt.datetime
) -> Response:
    """Resource Graph's query endpoint (``Resources``): managed clusters and AKS's announcements."""
    body = request.json()
    rows = announcements_of(aks).rows(now)
    answer = resource_graph.answer(
        body, aks.clusters(), settings.graph_page_size, scheduled_events=rows
    )
    return Response(200, answer)


def _cluster(aks: SimulatedAks, request: Request, *, creating: bool = False) -> SimCluster:
    params = request.params
    if creating:
        aks.require_group(params["subscription"], params["group"])
        try:
            return aks.find(params["subscription"], params["group"], params["cluster"])
        except ArmError:
            raise arm_errors.bad_request(
                f"The AKS simulator upgrades existing managed clusters only; "
                f"{params['cluster']!r} is not in its fleet."
            ) from None
    return aks.find(params["subscription"], params["group"], params["cluster"])


def _operation(aks: SimulatedAks, request: Request) -> SimOperation:
    """The polled operation; 404 when unknown, another subscription's, or its URL was altered."""
    aks.record_poll(request.url)
    operation = aks.operation(request.params["operation"])
    if (
        operation is None
        or operation.cluster.id.subscription != request.params["subscription"].lower()
        or not operation_urls.signature_holds(
            request.path,
            request.query,
            required=operation.status_url is not None
            and operation_urls.is_signed(operation.status_url),
        )
    ):
        raise ArmError(404, "NotFound", f"Operation {request.params['operation']} was not found.")
    return operation


def _async_headers(
    request: Request,
    aks: SimulatedAks,
    settings: RestSettings,
    operation: SimOperation | None,
    *,
    location: bool,
) -> dict[str, str]:
    """``Azure-AsyncOperation`` (and ``Location``) of a started operation, as absolute URLs."""
    if operation is None:
        return {}
    cluster = operation.cluster
    prefix = (
        f"/subscriptions/{cluster.id.subscription}/providers/"
        f"Microsoft.ContainerService/locations/{region_key(cluster.location)}"
    )

    def url(kind: str) -> str:
        path = f"{prefix}/{kind}/{operation.id}"
        if settings.signed_operation_urls:
            query = operation_urls.signed_query(path, OPERATION_API_VERSION, operation.started)
        else:
            query = f"api-version={OPERATION_API_VERSION}"
        return f"{request.base_url}{path}?{query}"

    headers = {
        "Azure-AsyncOperation": url("operations"),
        "Retry-After": str(aks.pace.retry_after_seconds),
    }
    if location:
        headers["Location"] = url("operationresults")
    operation.status_url = headers["Azure-AsyncOperation"]
    return headers


def _paged(request: Request, items: Sequence[dict[str, Any]], settings: RestSettings) -> Response:
    """A list answer, ``{"value": [...]}``, with ``nextLink`` past ``list_page_size`` items."""
    start = _offset(request.query.get("$skiptoken"))
    page = list(items[start : start + settings.list_page_size])
    body: dict[str, Any] = {"value": page}
    if start + settings.list_page_size < len(items):
        version = request.query.get("api-version", "")
        body["nextLink"] = (
            f"{request.base_url}{request.path}?api-version={version}"
            f"&$skipToken={start + settings.list_page_size}"
        )
    return Response(200, body)


def _offset(token: str | None) -> int:
    if token is None:
        return 0
    if not token.isdigit():
        raise arm_errors.bad_request(
            f"$skipToken {token!r} was not issued by this service", code="InvalidParameter"
        )
    return int(token)

"""Fleet discovery: which managed clusters exist under the policy's scopes.

:class:`ResourceGraphDiscovery` asks Azure Resource Graph once for every
managed cluster of the scopes' subscriptions (following ``$skipToken`` pages);
:class:`StaticDiscovery` is the fallback, a list of resource IDs from
settings. :meth:`ResourceGraphDiscovery.inventory` runs the same query with
each cluster's ``properties`` (what the managed cluster GET returns), so the
sweep can read the fleet's versions and images without a request per
cluster; a discovery without it (:class:`StaticDiscovery`) is no
:class:`Inventory`, and the sweep then observes each cluster. Either way the answer is filtered by
:func:`~patchpilot.domain.resource_ids.in_scopes` on the client side too:
Resource Graph is asked by subscription, and a resource group scope, or a row
Resource Graph should not have returned, is cut here. Called by the sweep and
by ``plan --live`` (:mod:`patchpilot.service.survey`).

Pages are read by :func:`graph_page` as the JSON the service sent, through
the SDK client's own pipeline (``send_request``: the same authentication,
retries, logging and tracing policies as ``client.resources``; only the
method's own ``@distributed_trace`` span is not made, and the app enables no
SDK tracing), not through
the generated ``QueryResponse`` model: its ``data`` is a free-form object that
msrest copies value by value (``Deserializer.deserialize_object``), the
largest cost of a sweep on a 30-cluster replay (6 s of a profiled month) and
a second copy of every row in memory. The answer is the same either way: a
JSON document's values are strings, numbers, booleans, null, lists and
objects, which that copy returns as they are.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

from azure.core.exceptions import AzureError

from patchpilot.adapters.arm.client import ArmClients
from patchpilot.adapters.arm.errors import translate
from patchpilot.adapters.arm.retry import RetryPolicy
from patchpilot.adapters.errors import DiscoveryIncompleteError
from patchpilot.domain.resource_ids import ClusterId, in_scopes, parse_cluster_id
from patchpilot.errors import InvalidInputError
from patchpilot.settings import Settings

if TYPE_CHECKING:
    from azure.mgmt.resourcegraph import ResourceGraphClient
    from azure.mgmt.resourcegraph.models import QueryRequest

_log = logging.getLogger(__name__)
_SUBSCRIPTION: Final = re.compile(r"/subscriptions/([0-9a-fA-F-]{36})", re.IGNORECASE)
# Resource Graph pages; far above any real fleet, it stops a service that never ends paging.
MAX_PAGES: Final = 1000
QUERY: Final = (
    "Resources"
    " | where type =~ 'microsoft.containerservice/managedclusters'"
    " | where subscriptionId in~ ({subscriptions})"
    " | project id, name, location, resourceGroup, subscriptionId{columns}"
    " | order by id asc"
)
# What the inventory adds: the same content as the managed cluster GET's.
FULL_COLUMNS: Final = ", tags, properties"
# Resources (POST): the operation `ResourceGraphClient.resources` sends.
RESOURCES_PATH: Final = "/providers/Microsoft.ResourceGraph/resources"


@dataclass(frozen=True)
class ClusterRow:
    """One managed cluster as Resource Graph lists it: its ID and its row (with ``properties``)."""

    id: ClusterId
    row: Mapping[str, Any]


class Discovery(Protocol):
    """Anything that lists the managed clusters under some scopes."""

    def clusters(self, scopes: tuple[str, ...]) -> tuple[ClusterId, ...]:
        """Every managed cluster under the scopes, each once."""
        ...


@runtime_checkable
class Inventory(Protocol):
    """A discovery that also returns each cluster's ARM properties in the same query."""

    def inventory(self, scopes: tuple[str, ...]) -> tuple[ClusterRow, ...]:
        """Every managed cluster under the scopes with its row, each once."""
        ...


class StaticDiscovery:
    """A fixed list of clusters (``PATCHPILOT_STATIC_CLUSTERS``), cut to the scopes."""

    def __init__(self, clusters: Iterable[ClusterId]) -> None:
        self._clusters = tuple(clusters)

    def clusters(self, scopes: tuple[str, ...]) -> tuple[ClusterId, ...]:
        """The listed clusters that sit inside the scopes, in the listed order."""
        return _within(self._clusters, scopes)


class ResourceGraphDiscovery:
    """One Resource Graph query over the scopes' subscriptions, paged."""

    def __init__(self, clients: ArmClients, *, retry: RetryPolicy | None = None) -> None:
        self._clients = clients
        self._retry = retry or RetryPolicy.with_deadline(clients.settings.arm_deadline_seconds)

    def clusters(self, scopes: tuple[str, ...]) -> tuple[ClusterId, ...]:
        """The managed clusters Resource Graph knows under the scopes, ordered by ID."""
        return _within(_ids(self._rows(scopes, "")), scopes)

    def inventory(self, scopes: tuple[str, ...]) -> tuple[ClusterRow, ...]:
        """The clusters under the scopes with their tags and ``properties``, ordered by ID."""
        rows: dict[str, ClusterRow] = {}
        for row in self._rows(scopes, FULL_COLUMNS):
            for cluster in _within(_ids([row]), scopes):
                rows.setdefault(cluster.key, ClusterRow(cluster, row))
        return tuple(rows.values())

    def _rows(self, scopes: tuple[str, ...], columns: str) -> list[Mapping[str, Any]]:
        subscriptions = subscriptions_of(scopes)
        if not subscriptions:
            return []
        client = self._clients.resource_graph()
        # Loudly: a partial listing would look like deleted clusters, and drop others.
        return all_pages(
            lambda token, page: self._page(client, subscriptions, token, page, columns),
            lambda count: (
                f"Resource Graph was still paging after {MAX_PAGES} pages "
                f"({count} rows) for {len(subscriptions)} subscriptions; nothing was swept"
            ),
        )

    def _page(
        self,
        client: ResourceGraphClient,
        subscriptions: tuple[str, ...],
        token: str | None,
        page: int,
        columns: str,
    ) -> tuple[list[Mapping[str, Any]], str | None]:
        from azure.mgmt.resourcegraph.models import (  # cold start
            QueryRequest,
            QueryRequestOptions,
        )

        quoted = ", ".join(f"'{s}'" for s in subscriptions)
        request = QueryRequest(
            subscriptions=list(subscriptions),
            query=QUERY.format(subscriptions=quoted, columns=columns),
            options=QueryRequestOptions(skip_token=token, result_format="objectArray"),
        )
        return graph_page(client, request, self._retry, f"Resource Graph query page {page + 1}")


def all_pages(
    fetch: Callable[[str | None, int], tuple[list[Mapping[str, Any]], str | None]],
    incomplete: Callable[[int], str],
) -> list[Mapping[str, Any]]:
    """Every row of a paged Resource Graph query: `fetch(token, page)` until no ``$skipToken``.

    Past :data:`MAX_PAGES` it raises :class:`DiscoveryIncompleteError` with
    `incomplete(rows so far)`: every reader of Resource Graph fails loudly
    rather than act on a partial answer.
    """
    rows: list[Mapping[str, Any]] = []
    token: str | None = None
    for page in range(MAX_PAGES):
        data, token = fetch(token, page)
        rows.extend(data)
        if not token:
            return rows
    raise DiscoveryIncompleteError(incomplete(len(rows)))


def graph_page(
    client: ResourceGraphClient, request: QueryRequest, retry: RetryPolicy, what: str
) -> tuple[list[Mapping[str, Any]], str | None]:
    """One page of a Resource Graph query: its rows (JSON objects) and the next ``$skipToken``.

    What ``client.resources(request)`` sends and raises, without its model
    (see the module's docstring): the body is the request model serialized
    as the client serializes it, the API version the client's own, a status
    other than 200 raises the SDK's errors (``map_error`` with the
    operation's map, else ``HttpResponseError`` in ARM's error format) inside
    the retried call, and Patch Pilot's translation is the same.
    """
    body = request.serialize()

    def send() -> Any:
        from azure.core.rest import HttpRequest  # cold start

        http = HttpRequest(
            "POST",
            RESOURCES_PATH,
            params={"api-version": client._config.api_version},
            json=body,
            headers={"Accept": "application/json"},
        )
        response = client._send_request(http)
        _raise_for_status(response)
        return response.json()

    try:
        document = retry.call(send, what=what)
    except AzureError as exc:
        raise translate(exc, what=what, transient=retry.is_transient(exc)) from exc
    if not isinstance(document, Mapping):
        return [], None
    data = document.get("data")
    rows = [row for row in data if isinstance(row, Mapping)] if isinstance(data, list) else []
    token = document.get("$skipToken")
    return rows, token if isinstance(token, str) else None


def _raise_for_status(response: Any) -> None:
    """The errors ``ResourceGraphClient.resources`` raises for a status other than 200."""
    from azure.core.exceptions import (  # cold start
        ClientAuthenticationError,
        HttpResponseError,
        ResourceExistsError,
        ResourceNotFoundError,
        ResourceNotModifiedError,
        map_error,
    )
    from azure.mgmt.core.exceptions import ARMErrorFormat  # cold start

    if response.status_code == 200:
        return
    error_map = {
        401: ClientAuthenticationError,
        404: ResourceNotFoundError,
        409: ResourceExistsError,
        304: ResourceNotModifiedError,
    }
    map_error(status_code=response.status_code, response=response, error_map=error_map)
    raise HttpResponseError(response=response, error_format=ARMErrorFormat)


def subscriptions_of(scopes: Iterable[str]) -> tuple[str, ...]:
    """The distinct subscription IDs the scopes name, lower case, in order."""
    found: dict[str, None] = {}
    for scope in scopes:
        match = _SUBSCRIPTION.match(scope)
        if match:
            found.setdefault(match[1].lower())
    return tuple(found)


def discovery_from(settings: Settings, clients: ArmClients) -> Discovery:
    """The discovery the settings choose."""
    if settings.discovery == "static":
        return StaticDiscovery(settings.static_clusters)
    return ResourceGraphDiscovery(clients)


def _ids(rows: Iterable[Mapping[str, Any]]) -> list[ClusterId]:
    ids: list[ClusterId] = []
    for row in rows:
        try:
            ids.append(parse_cluster_id(row.get("id"), source="Resource Graph"))
        except InvalidInputError as exc:
            # Policy: a row we cannot read is skipped, never guessed at.
            _log.warning("skipping a Resource Graph row: %s", exc)
    return ids


def _within(clusters: Iterable[ClusterId], scopes: tuple[str, ...]) -> tuple[ClusterId, ...]:
    """The clusters inside the scopes, each once (IDs compare without case)."""
    kept: dict[str, ClusterId] = {}
    for cluster in clusters:
        if not in_scopes(cluster, scopes):
            _log.info("%s is outside the policy's scopes: not observed", cluster)
            continue
        kept.setdefault(cluster.key, cluster)
    return tuple(kept.values())

"""AKS's announced maintenance from Azure Resource Graph (``containerserviceeventresources``).

The sweep asks once per subscription, beside its cluster listing, for every
scheduled event AKS Communication Manager keeps there, following
``$skipToken`` pages as :mod:`patchpilot.adapters.discovery` does, with the
same client, retry policy and error translation, its rows read as the JSON
the service sent (:func:`~patchpilot.adapters.discovery.graph_page`). Parsing the rows is the
domain's (:func:`patchpilot.domain.aks_maintenance.maintenance_from_row`).

The query keeps to the table and type the AKS docs' own query uses
(MicrosoftDocs azure-aks-docs ``articles/aks/aks-communication-manager.md``:
``containerserviceeventresources | where type ==
"microsoft.containerservice/managedclusters/scheduledevents"``); the request
is scoped by ``subscriptions``, so no column beyond ``id``, ``name``,
``type`` and ``properties`` is assumed. Reading it needs Reader (the
``Microsoft.ResourceGraph/resources/read`` action plus read on the clusters),
as discovery does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from patchpilot.adapters.arm.client import ArmClients
from patchpilot.adapters.arm.retry import RetryPolicy
from patchpilot.adapters.discovery import (
    MAX_PAGES,
    ResourceGraphDiscovery,
    all_pages,
    graph_page,
    subscriptions_of,
)
from patchpilot.domain.aks_maintenance import RESOURCE_TYPE, TABLE

if TYPE_CHECKING:
    from azure.mgmt.resourcegraph import ResourceGraphClient

QUERY: Final = (
    f"{TABLE}"
    f" | where type =~ '{RESOURCE_TYPE}'"
    " | project id, name, type, properties"
    " | order by id asc"
)


class ScheduledEvents:
    """The scheduled events of some subscriptions, one paged Resource Graph query."""

    def __init__(self, clients: ArmClients, *, retry: RetryPolicy | None = None) -> None:
        self._clients = clients
        self._retry = retry or RetryPolicy.with_deadline(clients.settings.arm_deadline_seconds)

    def rows(self, scopes: tuple[str, ...]) -> list[Mapping[str, Any]]:
        """Every scheduled event row of the scopes' subscriptions, ordered by ID."""
        subscriptions = subscriptions_of(scopes)
        if not subscriptions:
            return []
        client = self._clients.resource_graph()
        # Loudly: a partial answer would look like announcements AKS withdrew.
        return all_pages(
            lambda token, page: self._page(client, subscriptions, token, page),
            lambda _: f"Resource Graph was still paging scheduled events after {MAX_PAGES} pages",
        )

    def _page(
        self,
        client: ResourceGraphClient,
        subscriptions: tuple[str, ...],
        token: str | None,
        page: int,
    ) -> tuple[list[Mapping[str, Any]], str | None]:
        from azure.mgmt.resourcegraph.models import (  # cold start
            QueryRequest,
            QueryRequestOptions,
        )

        request = QueryRequest(
            subscriptions=list(subscriptions),
            query=QUERY,
            options=QueryRequestOptions(skip_token=token, result_format="objectArray"),
        )
        return graph_page(
            client, request, self._retry, f"Resource Graph scheduled events page {page + 1}"
        )


def scheduled_events_beside(discovery: object) -> ScheduledEvents | None:
    """A reader on the discovery's own client and retry policy; None without Resource Graph.

    A static discovery has no Resource Graph: the Event Grid trigger is then
    the only source of announcements.
    """
    if not isinstance(discovery, ResourceGraphDiscovery):
        return None
    # The discovery's client and retry (one Resource Graph client per app, one retry layer);
    # ResourceGraphDiscovery has no public accessor for them yet (asked of the lead).
    return ScheduledEvents(discovery._clients, retry=discovery._retry)

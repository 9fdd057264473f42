"""The Azure SDK clients Patch Pilot talks to ARM with, built lazily and cached per process.

:class:`ArmClients` holds one ``ContainerServiceClient`` per subscription (the
subscription comes from each cluster's resource ID) and one
``ResourceGraphClient``, all pointed at the ARM endpoint and token audience of
the :class:`~patchpilot.settings.Settings` (public Azure, a sovereign cloud, or
the local simulator with its CA bundle). Called by the gateway and by fleet
discovery.

The clients of one process share one optional
:class:`~patchpilot.adapters.arm.budget.RequestBudget`: the gateway asks it
before each ARM request, so every call in the process draws on the same
per-subscription read and write buckets (None: no budget, every request goes
at once, as the simulator's tests without a throttle want).

Which layer retries what: tenacity, in :mod:`patchpilot.adapters.arm.retry`,
owns the retries of each ARM call; the SDK's own retry policy is switched off
here (``retry_total=0``) so the two never multiply. Redelivery of a whole
message (Storage queue, Event Grid) is the outer layer, outside this package.

The SDK packages are imported inside the methods that build clients, so a
cold start that never talks to ARM does not load them.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Final

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenCredential

from patchpilot.adapters.arm.budget import RequestBudget
from patchpilot.settings import Settings

if TYPE_CHECKING:
    from azure.mgmt.containerservice import ContainerServiceClient
    from azure.mgmt.resourcegraph import ResourceGraphClient

# Per-request socket limits; the retry policy's deadline bounds the whole call.
CONNECT_TIMEOUT_SECONDS: Final = 10.0
READ_TIMEOUT_SECONDS: Final = 30.0
STATIC_TOKEN: Final = "patchpilot-simulator-token"  # noqa: S105  # not a secret: the simulator takes any token
_TOKEN_LIFETIME_SECONDS: Final = 3600


class StaticTokenCredential:
    """A token credential that hands out one fixed token: for the local simulator only.

    Settings allow it only with a loopback ARM endpoint, so it never meets real ARM.
    """

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        """The fixed token, valid for an hour from now."""
        return AccessToken(STATIC_TOKEN, int(time.time()) + _TOKEN_LIFETIME_SECONDS)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        """The same token in the SDK's newer credential protocol."""
        return AccessTokenInfo(STATIC_TOKEN, int(time.time()) + _TOKEN_LIFETIME_SECONDS)


def build_credential(settings: Settings) -> TokenCredential:
    """The credential the settings ask for: DefaultAzureCredential in Azure, static locally."""
    if settings.credential == "static":
        return StaticTokenCredential()
    # Managed identity in a Function App; az login or environment variables elsewhere.
    # Sovereign clouds set AZURE_AUTHORITY_HOST, which azure-identity reads itself.
    from azure.identity import DefaultAzureCredential  # cold start

    return DefaultAzureCredential()


def sdk_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments every ARM client of this process is built with."""
    verify: str | bool = str(settings.arm_ca_bundle) if settings.arm_ca_bundle else True
    return {
        "base_url": settings.arm_endpoint,
        "credential_scopes": [settings.arm_audience],
        "connection_verify": verify,
        # tenacity owns retries (retry.py); the SDK must not retry underneath it.
        "retry_total": 0,
        "connection_timeout": min(CONNECT_TIMEOUT_SECONDS, settings.arm_deadline_seconds),
        "read_timeout": min(READ_TIMEOUT_SECONDS, settings.arm_deadline_seconds),
    }


class ArmClients:
    """The SDK clients of one process; each is built on first use and then reused."""

    def __init__(
        self,
        settings: Settings,
        *,
        credential: TokenCredential | None = None,
        budget: RequestBudget | None = None,
    ) -> None:
        self._settings = settings
        self._credential = credential
        self._budget = budget
        self._lock = threading.Lock()
        self._container: dict[str, ContainerServiceClient] = {}
        self._graph: ResourceGraphClient | None = None

    @property
    def settings(self) -> Settings:
        """The settings the clients were built from (endpoint, audience, deadline)."""
        return self._settings

    @property
    def budget(self) -> RequestBudget | None:
        """The per-subscription request budget the process's ARM calls share (None: none)."""
        return self._budget

    def container_service(self, subscription: str) -> ContainerServiceClient:
        """The ContainerServiceClient of one subscription."""
        key = subscription.lower()
        with self._lock:
            client = self._container.get(key)
            if client is None:
                from azure.mgmt.containerservice import (  # cold start
                    ContainerServiceClient,
                )

                client = ContainerServiceClient(
                    self._token_credential(), key, **sdk_options(self._settings)
                )
                self._container[key] = client
            return client

    def resource_graph(self) -> ResourceGraphClient:
        """The ResourceGraphClient (tenant-wide; the query names its subscriptions)."""
        with self._lock:
            if self._graph is None:
                from azure.mgmt.resourcegraph import (  # cold start
                    ResourceGraphClient,
                )

                self._graph = ResourceGraphClient(
                    self._token_credential(), **sdk_options(self._settings)
                )
            return self._graph

    def close(self) -> None:
        """Close every client's connection pool."""
        with self._lock:
            clients: list[Any] = [*self._container.values(), self._graph]
            self._container.clear()
            self._graph = None
        for client in clients:
            if client is not None:
                client.close()

    def _token_credential(self) -> TokenCredential:
        """Built once, lazily: DefaultAzureCredential probes its sources on first use."""
        if self._credential is None:
            self._credential = build_credential(self._settings)
        return self._credential

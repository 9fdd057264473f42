"""The ARM gateway: observe and act on AKS clusters, only inside the policy's scopes.

:class:`ArmGateway` is what the service layer and ``plan --live`` call. Every
entry point that takes a cluster ID parses it and checks it against the
policy's scopes before any request is sent (a
:class:`~patchpilot.errors.ScopeError` otherwise), whoever asks: an event, an
HTTP caller, a stored operation. Each ARM request runs under the one
:class:`~patchpilot.adapters.arm.retry.RetryPolicy`; what it gives up on is
translated at this edge (``raise ... from``) into
:class:`~patchpilot.errors.TemporaryError` or
:class:`~patchpilot.errors.PermanentError`. A 409 from an action is not an
error: the action returns :class:`~patchpilot.adapters.arm.actions.Busy`.

Before each HTTP attempt the gateway asks the process's
:class:`~patchpilot.adapters.arm.budget.RequestBudget` (when the clients
carry one) for the subscription's turn, and tells it what every answer said
(a ``x-ms-ratelimit-remaining-*`` count, a 429's ``Retry-After``). A read
waits its turn through the retry policy's sleep, up to
``RetryPolicy.budget_wait_seconds``, and gives up past that with a
:class:`~patchpilot.errors.TemporaryError` before anything is sent. A start
never waits inside the call: over the write budget it is not sent, and the
caller gets a :class:`~patchpilot.errors.NotNowError` with the delay of the
slot the budget keeps for that start (the service requeues it then). An
operation's status carries the ``Retry-After`` its answer gave
(:attr:`OperationStatus.retry_after`), so follow-ups can be spaced by it.

Every logical call is reported to a
:class:`~patchpilot.adapters.arm.calls.CallObserver` (the telemetry handle),
each HTTP attempt with its status and ARM request ID.

Requests per observed cluster: the managed cluster and its maintenance
configurations (none for a cluster read from its Resource Graph row,
:meth:`ArmGateway.observe_row`). The cluster's own upgrade profile is not
read: the region's version list says the same for planning. The region's Kubernetes versions and
each (region, image family)'s latest node image come from the sweep's
:class:`~patchpilot.adapters.arm.catalog_cache.SweepCache`.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, TypeVar

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    IncompleteReadError,
    ServiceResponseError,
)

from patchpilot.adapters.arm import actions, observe
from patchpilot.adapters.arm.actions import (
    Busy,
    OperationStatus,
    Refused,
    Started,
    StartResult,
    Unconfirmed,
)
from patchpilot.adapters.arm.budget import Kind, RequestBudget, retry_after_header
from patchpilot.adapters.arm.calls import (
    ERROR_STATUS,
    AttemptSink,
    CallObserver,
    Hook,
    Unobserved,
    response_hook,
)
from patchpilot.adapters.arm.catalog_cache import SweepCache
from patchpilot.adapters.arm.client import ArmClients
from patchpilot.adapters.arm.errors import (
    arm_error,
    is_busy_conflict,
    is_conflict,
    retry_after_seconds,
    translate,
)
from patchpilot.adapters.arm.failures import FailureCause, classify
from patchpilot.adapters.arm.observe import ClusterObservation
from patchpilot.adapters.arm.retry import RetryPolicy
from patchpilot.domain.fleet import CatalogImage, CatalogVersion, ClusterState, RegionCatalog
from patchpilot.domain.node_images import NodeImageVersion
from patchpilot.domain.resource_ids import ClusterId, in_scopes, is_pool_name
from patchpilot.domain.schedule import Schedule
from patchpilot.domain.versions import KubernetesVersion, OfferedVersion
from patchpilot.errors import (
    InvalidInputError,
    NotNowError,
    PermanentError,
    ScopeError,
    TemporaryError,
)
from patchpilot.settings import Settings

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.core.pipeline import PipelineResponse
    from azure.mgmt.containerservice import ContainerServiceClient

T = TypeVar("T")
Request = Callable[[Hook], T]
# Called before each attempt of a start; raises NotNowError to stop it going out.
Guard = Callable[[], None]
# Answers after which AKS may have acted all the same: a timeout or a gateway's 5xx.
MAYBE_ACCEPTED_STATUSES: Final = frozenset({408, 500, 502, 503, 504})
# The operations that draw on the write budget (PUT and POST); every other one is a read.
WRITE_OPERATIONS: Final = frozenset(
    {
        "ManagedClusters_CreateOrUpdate",
        "AgentPools_CreateOrUpdate",
        "AgentPools_UpgradeNodeImageVersion",
        "ManagedClusters_AbortLatestOperation",
        "AgentPools_AbortLatestOperation",
    }
)


def _json_body(
    pipeline_response: PipelineResponse[Any, Any], _body: object, _headers: object
) -> Any:
    """The `cls` of a streamed SDK call: the whole body, read and parsed as JSON."""
    response = pipeline_response.http_response
    response.read()
    return response.json()


# Keyword arguments that make an SDK GET return the JSON ARM sent, without its model.
# The operation itself still builds the request, sends it through the client's
# pipeline and raises for a status other than 200 as it always does (its error
# map, ARM's error format); only the model is skipped: `stream` leaves the body
# unread and `cls` (the SDK's hook for what a call returns) parses it. Used on the
# hottest reads (the cluster, the region's versions and upgrade profiles: three in
# four of a sweep's requests), whose model was built and then walked back into
# this same dict by `.as_dict()`. Contract: tests/integration/test_arm_observe.py.
AS_JSON: Final[Mapping[str, Any]] = MappingProxyType({"stream": True, "cls": _json_body})


class ArmGateway:
    """Observe and act on managed clusters through ARM, within the policy's scopes."""

    def __init__(
        self,
        clients: ArmClients,
        scopes: tuple[str, ...],
        *,
        retry: RetryPolicy | None = None,
        observer: CallObserver | None = None,
    ) -> None:
        self._clients = clients
        self._scopes = scopes
        self._retry = retry or RetryPolicy.with_deadline(clients.settings.arm_deadline_seconds)
        self._observer = observer or Unobserved()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        scopes: tuple[str, ...],
        *,
        credential: TokenCredential | None = None,
        retry: RetryPolicy | None = None,
        observer: CallObserver | None = None,
        budget: RequestBudget | None = None,
    ) -> ArmGateway:
        """A gateway with its own clients (built lazily) for the settings' ARM endpoint."""
        clients = ArmClients(settings, credential=credential, budget=budget)
        return cls(clients, scopes, retry=retry, observer=observer)

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy every request runs under."""
        return self._retry

    @property
    def start_deadline(self) -> dt.timedelta:
        """How long one start call may take, retries included (its margin before a window ends)."""
        return dt.timedelta(seconds=self._retry.deadline_seconds)

    def close(self) -> None:
        """Close the SDK clients' connections."""
        self._clients.close()

    # -- scope ----------------------------------------------------------------------------

    def admit(self, cluster: ClusterId) -> ClusterId:
        """The cluster's ID, if it sits inside the scopes; ScopeError otherwise.

        Every call goes through here: IDs from outside were parsed where they came in
        (an event, a queue message, an HTTP body, a fleet file).
        """
        if not in_scopes(cluster, self._scopes):
            raise ScopeError(
                f"{cluster} is outside the policy's scopes ({', '.join(self._scopes)}): "
                "Patch Pilot never observes or touches it",
                source="scope check",
            )
        return cluster

    # -- observe --------------------------------------------------------------------------

    def observe(self, cluster: ClusterId, cache: SweepCache) -> ClusterObservation:
        """Read one cluster: its resource and its maintenance configurations (two requests)."""
        cid = self.admit(cluster)
        client = self._client(cid)
        group, name = cid.resource_group, cid.name
        resource = self._call(
            "ManagedClusters_Get",
            cid,
            lambda hook: _document(
                client.managed_clusters.get(group, name, raw_response_hook=hook, **AS_JSON)
            ),
        )
        configurations = self._call(
            "MaintenanceConfigurations_ListByManagedCluster",
            cid,
            lambda hook: [
                c.as_dict()
                for c in client.maintenance_configurations.list_by_managed_cluster(
                    group, name, raw_response_hook=hook
                )
            ],
        )
        return self._observation(
            cid, client, resource=resource, configurations=configurations, cache=cache
        )

    def _observation(
        self,
        cid: ClusterId,
        client: ContainerServiceClient,
        *,
        resource: dict[str, Any],
        configurations: list[dict[str, Any]],
        cache: SweepCache,
    ) -> ClusterObservation:
        source = str(cid)
        state = observe.cluster_state(
            cid, resource, observe.maintenance_schedules(configurations, source)
        )
        return ClusterObservation(
            state=state,
            catalog=self._region_catalog(client, state, cache),
            posture=observe.posture(cid, resource, state),
            power_state=observe.power_state(resource),
            pools=observe.pools_details(resource),
            error=observe.cluster_error(resource),
        )

    def observe_row(
        self, row: Mapping[str, Any], maintenance: Mapping[str, Schedule], cache: SweepCache
    ) -> ClusterObservation:
        """A cluster from its Resource Graph row, with no request of its own.

        The row carries what the managed cluster GET does; only what is shared
        by a region is read, through the sweep's cache (once per region, and
        once per region and image family). The maintenance configurations
        are the ones last observed: the reconcile reads them afresh before it acts.
        """
        state = observe.state_from_graph_row(row, maintenance)
        cid = self.admit(state.id)
        return ClusterObservation(
            state=state,
            catalog=self._region_catalog(self._client(cid), state, cache),
            posture=observe.posture(cid, row, state),
            power_state=observe.power_state(row),
            pools=observe.pools_details(row),
            error=observe.cluster_error(row),
        )

    def _region_catalog(
        self, client: ContainerServiceClient, state: ClusterState, cache: SweepCache
    ) -> RegionCatalog:
        """What the cluster's region offers, each part read at most once per sweep."""
        cid, location = state.id, state.location
        offered = cache.kubernetes_versions(
            location, functools.partial(self._offered, client, cid, location)
        )
        images: dict[str, NodeImageVersion] = {}
        for pool in state.pools:
            family = pool.node_image.family
            latest = cache.latest_image(
                location, family, functools.partial(self._latest, client, cid, pool.name)
            )
            if latest is not None:
                images[family] = latest
        return RegionCatalog(
            kubernetes=tuple(CatalogVersion(o) for o in offered),
            node_images=tuple(CatalogImage(image) for image in images.values()),
        )

    def _offered(
        self, client: ContainerServiceClient, cid: ClusterId, location: str
    ) -> tuple[OfferedVersion, ...]:
        document = self._call(
            "ManagedClusters_ListKubernetesVersions",
            cid,
            lambda hook: _document(
                client.managed_clusters.list_kubernetes_versions(
                    location, raw_response_hook=hook, **AS_JSON
                )
            ),
        )
        return observe.offered_versions(document, f"Kubernetes versions in {location}")

    def _latest(
        self, client: ContainerServiceClient, cid: ClusterId, pool: str
    ) -> NodeImageVersion | None:
        document = self._call(
            "AgentPools_GetUpgradeProfile",
            cid,
            lambda hook: _document(
                client.agent_pools.get_upgrade_profile(
                    cid.resource_group, cid.name, pool, raw_response_hook=hook, **AS_JSON
                )
            ),
            pool=pool,
        )
        return observe.latest_image(document, f"{cid}/agentPools/{pool}")

    # -- act ------------------------------------------------------------------------------

    def upgrade_control_plane(
        self, cluster: ClusterId, version: KubernetesVersion, *, guard: Guard | None = None
    ) -> StartResult:
        """Start a control-plane-only upgrade to ``version`` (pools keep their versions)."""
        cid = self.admit(cluster)
        client = self._client(cid)
        group, name = cid.resource_group, cid.name
        current = self._call(
            "ManagedClusters_Get",
            cid,
            lambda hook: client.managed_clusters.get(group, name, raw_response_hook=hook),
        )
        from azure.mgmt.containerservice.models import ManagedCluster  # cold start

        body = ManagedCluster(
            actions.control_plane_body(
                current.as_dict(exclude_readonly=True), version, running=current.as_dict()
            )
        )
        return self._start(
            "ManagedClusters_CreateOrUpdate",
            Started(cid, None, "control_plane", str(version), None),
            lambda hook: client.managed_clusters.begin_create_or_update(
                group, name, body, polling=False, raw_response_hook=hook
            ),
            guard,
        )

    def upgrade_pool_version(
        self,
        cluster: ClusterId,
        pool: str,
        version: KubernetesVersion,
        *,
        guard: Guard | None = None,
    ) -> StartResult:
        """Start one pool's Kubernetes upgrade to ``version``."""
        cid, pool = self.admit(cluster), _pool_name(pool)
        client = self._client(cid)
        group, name = cid.resource_group, cid.name
        current = self._call(
            "AgentPools_Get",
            cid,
            lambda hook: client.agent_pools.get(group, name, pool, raw_response_hook=hook).as_dict(
                exclude_readonly=True
            ),
            pool=pool,
        )
        from azure.mgmt.containerservice.models import AgentPool  # cold start

        body = AgentPool(actions.pool_version_body(current, version))
        return self._start(
            "AgentPools_CreateOrUpdate",
            Started(cid, pool, "pool_kubernetes", str(version), None),
            lambda hook: client.agent_pools.begin_create_or_update(
                group, name, pool, body, polling=False, raw_response_hook=hook
            ),
            guard,
        )

    def upgrade_node_image(
        self, cluster: ClusterId, pool: str, *, guard: Guard | None = None
    ) -> StartResult:
        """Start one pool's node image upgrade (to the region's latest: AKS takes no version)."""
        cid, pool = self.admit(cluster), _pool_name(pool)
        client = self._client(cid)
        return self._start(
            "AgentPools_UpgradeNodeImageVersion",
            Started(cid, pool, "node_image", None, None),
            lambda hook: client.agent_pools.begin_upgrade_node_image_version(
                cid.resource_group, cid.name, pool, polling=False, raw_response_hook=hook
            ),
            guard,
        )

    def abort_latest_operation(self, cluster: ClusterId, pool: str | None = None) -> StartResult:
        """Abort the operation running on the cluster (or on one of its pools)."""
        cid = self.admit(cluster)
        client = self._client(cid)
        group, name = cid.resource_group, cid.name
        if pool is None:
            return self._start(
                "ManagedClusters_AbortLatestOperation",
                Started(cid, None, "abort", None, None),
                lambda hook: client.managed_clusters.begin_abort_latest_operation(
                    group, name, polling=False, raw_response_hook=hook
                ),
            )
        pool = _pool_name(pool)
        return self._start(
            "AgentPools_AbortLatestOperation",
            Started(cid, pool, "abort", None, None),
            lambda hook: client.agent_pools.begin_abort_latest_operation(
                group, name, pool, polling=False, raw_response_hook=hook
            ),
        )

    # -- follow up --------------------------------------------------------------------------

    def operation_status(self, started: Started) -> OperationStatus:
        """What the operation's ``Azure-AsyncOperation`` URL says now, and when to ask again.

        ARM: "Use the value from Retry-After to schedule how often to check
        the status" (Microsoft Learn, "Track asynchronous Azure operations");
        the status keeps the ``Retry-After`` of the answer that was read.
        """
        cid = self.admit(started.cluster)
        if started.status_url is None:
            return OperationStatus("Succeeded")
        url = self._operation_url(cid, started.status_url)
        client = self._client(cid)
        hint: dict[str, float | None] = {}

        def remember(response: PipelineResponse[Any, Any]) -> None:
            # Every answer overwrites: the one read is the last (a 429's hint is not the poll's).
            hint["retry_after"] = retry_after_header(response.http_response.headers)

        document = self._call(
            "AsyncOperation_Get",
            cid,
            lambda hook: _get_json(client, url, _both(hook, remember)),
            pool=started.pool,
        )
        return actions.operation_status(document, retry_after=hint.get("retry_after"))

    def explain_failure(
        self, cluster: ClusterId, pool: str | None, *, operation: Started | None = None
    ) -> FailureCause | None:
        """Why the latest operation failed: the pool's error, the cluster's, or the operation's.

        None when AKS recorded no error (the pool and cluster are healthy).
        """
        cid = self.admit(cluster)
        client = self._client(cid)
        group, name = cid.resource_group, cid.name
        error = None
        if pool is not None:
            pool = _pool_name(pool)
            found = self._call(
                "AgentPools_Get",
                cid,
                lambda hook: client.agent_pools.get(
                    group, name, pool, raw_response_hook=hook
                ).as_dict(),
                pool=pool,
            )
            error = observe.pool_details(found).error
        if error is None:
            resource = self._call(
                "ManagedClusters_Get",
                cid,
                lambda hook: client.managed_clusters.get(
                    group, name, raw_response_hook=hook
                ).as_dict(),
            )
            error = observe.cluster_error(resource)
        if error is None and operation is not None:
            error = self.operation_status(operation).error
        return classify(error) if error else None

    # -- plumbing -------------------------------------------------------------------------

    def _client(self, cid: ClusterId) -> ContainerServiceClient:
        return self._clients.container_service(cid.subscription)

    def _call(
        self,
        operation: str,
        cid: ClusterId,
        request: Request[T],
        *,
        pool: str | None = None,
        paced: bool = False,
    ) -> T:
        """One logical ARM call: budgeted, observed, retried, its final failure translated.

        `paced`: a start, which is not sent when the write budget is spent
        (:class:`NotNowError`), instead of waiting for its turn.
        """
        what = f"{operation} on {cid}{f'/agentPools/{pool}' if pool else ''}"
        turn = _Turn(self._clients.budget, self._retry, cid.subscription, _kind(operation), what)
        if paced:
            turn = replace(turn, hold=what)
        with self._observer.arm_call(operation, cluster=str(cid)) as sink:
            try:
                return self._retry.call(_attempt(request, sink, turn), what=what)
            except AzureError as exc:
                raise translate(exc, what=what, transient=self._retry.is_transient(exc)) from exc

    def _start(
        self,
        operation: str,
        asked: Started,
        begin: Request[object],
        guard: Guard | None = None,
    ) -> StartResult:
        """Send the request that starts an operation; do not wait for the operation.

        `guard` runs before every attempt (the first and each retry), so a
        start never goes out after its caller's deadline, however long the
        retries took. What counts as proof that nothing started: an answer to
        every attempt. An attempt that went out and got no answer (a lost
        reply, a gateway timeout or 5xx, which ARM can send after AKS acted)
        makes any later refusal :class:`Unconfirmed`, never :class:`Busy`.
        """
        seen: dict[str, str] = {}
        unanswered: list[str] = []

        def remember(response: PipelineResponse[Any, Any]) -> None:
            # Every attempt overwrites: the answer that succeeded is the last one.
            answer = response.http_response
            seen["url"] = (
                answer.headers.get("Azure-AsyncOperation") or answer.headers.get("Location") or ""
            )
            if answer.status_code in MAYBE_ACCEPTED_STATUSES:
                unanswered.append(f"HTTP {answer.status_code}")

        def send(hook: Hook) -> object:
            if guard is not None:
                guard()
            try:
                return begin(_both(hook, remember))
            except (ServiceResponseError, IncompleteReadError) as exc:
                unanswered.append(f"no answer ({type(exc).__name__})")
                raise

        try:
            self._call(operation, asked.cluster, send, pool=asked.pool, paced=True)
        except (TemporaryError, PermanentError) as exc:
            return self._refusal(asked, exc, unanswered)
        return replace(asked, status_url=seen.get("url") or None)

    def _refusal(
        self, asked: Started, exc: TemporaryError | PermanentError, unanswered: list[str]
    ) -> StartResult:
        """What a start that did not get a 2xx means, or the error again when it is not ours."""
        cause = exc.__cause__
        if unanswered:
            # Policy: an attempt may have started the operation; only AKS's state can say.
            return Unconfirmed(
                asked.cluster,
                asked.pool,
                asked.action,
                f"an attempt got {', '.join(unanswered)}; the call then ended with: {exc}",
            )
        if isinstance(exc, NotNowError) or not (
            isinstance(cause, HttpResponseError) and is_conflict(cause)
        ):
            raise exc
        body = arm_error(cause)
        if not is_busy_conflict(cause):
            # Policy: a conflict with a setting or a quota is a failure to report, not a wait.
            return Refused(asked.cluster, asked.pool, asked.action, body.code, body.message)
        # Policy: AKS is busy with another operation; that means wait, not fail.
        delay = retry_after_seconds(cause) or self._retry.busy_delay_seconds
        return Busy(asked.cluster, asked.pool, asked.action, delay, body.code, body.message)

    def _operation_url(self, cid: ClusterId, url: str) -> str:
        """An operation URL is followed only on the ARM endpoint, in the cluster's subscription."""
        endpoint = self._clients.settings.arm_endpoint
        if not actions.operation_url_allowed(url, endpoint=endpoint, cluster=cid):
            raise ScopeError(
                f"operation URL {url[:200]!r} is not an AKS operation of {cid} on {endpoint}: "
                "it is not followed",
                source="scope check",
            )
        return url


@dataclass(frozen=True)
class _Turn:
    """Where one call's attempts wait for the subscription's budget, and how."""

    budget: RequestBudget | None
    retry: RetryPolicy
    subscription: str
    kind: Kind
    what: str
    hold: str | None = None

    def wait(self) -> None:
        """Return once this attempt may go; raise when it must not go now."""
        if self.budget is None:
            return
        if self.hold is not None:
            wait = self.budget.acquire(self.subscription, self.kind, hold=self.hold)
            if wait > 0:
                # Policy: a start over the write budget is not sent; its slot is kept for it.
                raise NotNowError(
                    f"{self.what}: the subscription's {self.kind} budget is spent; "
                    f"its turn comes in {wait:g}s",
                    retry_after=wait,
                )
            return
        limit = self.retry.budget_wait_seconds
        wait = self.budget.acquire(self.subscription, self.kind, max_wait=limit)
        if wait > limit:
            # Policy: a longer wait is the queue's, not this invocation's; nothing was sent.
            raise TemporaryError(
                f"{self.what}: the subscription's {self.kind} budget is spent for {wait:g}s",
                retry_after=wait,
            )
        if wait > 0:
            self.retry.sleep(wait)

    def heard(self, response: PipelineResponse[Any, Any]) -> None:
        """Tell the budget what the answer said of the subscription's limits."""
        if self.budget is None:
            return
        answer = response.http_response
        self.budget.heard(
            self.subscription,
            self.kind,
            status=answer.status_code,
            headers=answer.headers,
            retry_after=retry_after_header(answer.headers),
        )


def _kind(operation: str) -> Kind:
    return "write" if operation in WRITE_OPERATIONS else "read"


def _attempt(request: Request[T], sink: AttemptSink, turn: _Turn) -> Callable[[], T]:
    """One HTTP attempt in its turn, reported to the sink whether ARM answered or not."""
    hook = response_hook(sink, also=turn.heard)

    def attempt() -> T:
        turn.wait()
        try:
            return request(hook)
        except AzureError as exc:
            if getattr(exc, "response", None) is None:
                sink.attempt(ERROR_STATUS)
            raise

    return attempt


def _both(first: Hook, second: Hook) -> Hook:
    """One response hook that calls two."""

    def hook(response: PipelineResponse[Any, Any]) -> None:
        first(response)
        second(response)

    return hook


def _pool_name(pool: str) -> str:
    """An agent pool name from outside (an event, a caller), checked before it reaches a URL."""
    if not is_pool_name(pool):
        raise InvalidInputError(
            f"{str(pool)[:100]!r} is not an AKS agent pool name "
            "(a letter, then letters and digits, at most 12)"
        )
    return pool


def _document(answer: object) -> dict[str, Any]:
    """An answer read with :data:`AS_JSON`: the JSON object ARM sent ({} for anything else)."""
    return answer if isinstance(answer, dict) else {}


def _get_json(client: ContainerServiceClient, url: str, hook: Hook) -> dict[str, Any]:
    """GET an absolute ARM URL through the client's pipeline (auth, no SDK retry)."""
    from azure.core.rest import HttpRequest  # cold start

    response = client.send_request(HttpRequest("GET", url), raw_response_hook=hook)
    response.raise_for_status()
    if not response.content:
        # A Location (operation result) URL answers 202 while running, 204 when done.
        return {"status": "InProgress" if response.status_code == 202 else "Succeeded"}
    document = response.json()
    return document if isinstance(document, dict) else {}

"""Fleet Manager through ``azure-mgmt-containerservicefleet``: gates and update runs.

:class:`FleetGates` is what :mod:`patchpilot.service.fleet_gates` calls: read
a gate (``Gates_Get``), list a fleet's gates (``Gates_ListByFleet``), read
the update run a gate stands in (``UpdateRuns_Get``) and approve a gate
(``Gates_Update``: ``PATCH .../fleets/{fleet}/gates/{gate}`` with
``{"properties": {"state": "Completed"}}``, answered ``200`` with the gate or
``202`` with ``Location``; azure-rest-api-specs ``fleet/gate.tsp`` and
``examples/2026-06-01/Gates_Update.json``). The package's 4.0.0 (2026-08-03)
is the first stable release with the ``gates`` operation group; its default
api-version is ``2026-06-01`` (the 4.0.0b1 preview, which the Fleet
Manager "approval gate events" how-to names, spoke 2025-04-01-preview).

The approval is sent with ``If-Match`` on the ETag the gate was read with,
so a gate someone changed since Patch Pilot judged it is not completed on a
stale judgement (ARM answers 412; the service reads it again later).

Same ARM settings as :mod:`patchpilot.adapters.arm`: endpoint, token
audience, CA bundle (the simulator's), credential, per-request timeouts and
the SDK's own retries off (``sdk_options``), and every call under the one
:class:`~patchpilot.adapters.arm.retry.RetryPolicy`, its final failure
translated into :class:`~patchpilot.errors.TemporaryError` or
:class:`~patchpilot.errors.PermanentError` at this edge. Event Grid's
redelivery and the follow-up timer are the outer layer. The SDK is imported
on first use (cold start).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, TypeVar

from azure.core.exceptions import AzureError, ResourceNotFoundError

from patchpilot.adapters.arm.calls import CallObserver, Hook, Unobserved, response_hook
from patchpilot.adapters.arm.client import build_credential, sdk_options
from patchpilot.adapters.arm.errors import translate
from patchpilot.adapters.arm.retry import RetryPolicy
from patchpilot.domain.fleet_gates import FleetGate, UpdateRun, gate_from_resource, parse_update_run
from patchpilot.domain.fleet_ids import FleetId
from patchpilot.settings import Settings

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.mgmt.containerservicefleet import ContainerServiceFleetMgmtClient

T = TypeVar("T")
APPROVED_STATE: Final = "Completed"
# Gates_ListByFleet's $filter (gate.tsp: FilterQueryParameter), so one page holds the waiting.
PENDING_FILTER: Final = "properties/state eq 'Pending'"


class FleetGates:
    """Fleet Manager gates and update runs, one SDK client per subscription, built on first use."""

    def __init__(
        self,
        settings: Settings,
        *,
        credential: TokenCredential | None = None,
        retry: RetryPolicy | None = None,
        observer: CallObserver | None = None,
    ) -> None:
        self._settings = settings
        self._credential = credential
        self._retry = retry or RetryPolicy.with_deadline(settings.arm_deadline_seconds)
        self._observer = observer or Unobserved()
        self._lock = threading.Lock()
        self._clients: dict[str, ContainerServiceFleetMgmtClient] = {}

    def get_gate(self, fleet: FleetId, gate: str) -> FleetGate | None:
        """The gate as ARM has it now (with its ETag), or None when it is gone (404)."""
        client = self._client(fleet)
        document = self._call(
            "Gates_Get",
            fleet,
            lambda hook: client.gates.get(
                fleet.resource_group, fleet.name, gate, raw_response_hook=hook
            ).as_dict(),
            missing_ok=True,
        )
        return None if document is None else gate_from_resource(document, path="Gates_Get")

    def pending_gates(self, fleet: FleetId) -> tuple[FleetGate, ...]:
        """The fleet's gates that still wait (``$filter`` on state, every page)."""
        client = self._client(fleet)
        documents = self._call(
            "Gates_ListByFleet",
            fleet,
            lambda hook: [
                gate.as_dict()
                for gate in client.gates.list_by_fleet(
                    fleet.resource_group, fleet.name, filter=PENDING_FILTER, raw_response_hook=hook
                )
            ],
        )
        gates = (gate_from_resource(d, path="Gates_ListByFleet") for d in documents or [])
        return tuple(gate for gate in gates if gate.state == "Pending")

    def get_update_run(self, fleet: FleetId, run: str) -> UpdateRun | None:
        """The update run a gate stands in, or None when it is gone (404)."""
        client = self._client(fleet)
        document = self._call(
            "UpdateRuns_Get",
            fleet,
            lambda hook: client.update_runs.get(
                fleet.resource_group, fleet.name, run, raw_response_hook=hook
            ).as_dict(),
            missing_ok=True,
        )
        return None if document is None else parse_update_run(document, path="UpdateRuns_Get")

    def approve(self, gate: FleetGate) -> FleetGate:
        """Set the gate's state to Completed, if it is still as it was read (``If-Match``)."""
        from azure.core import MatchConditions  # cold start
        from azure.mgmt.containerservicefleet.models import GatePatch, GatePatchProperties

        patch = GatePatch(properties=GatePatchProperties(state=APPROVED_STATE))
        fleet = gate.fleet
        client = self._client(fleet)
        condition = MatchConditions.IfNotModified if gate.etag else None
        document = self._call(
            "Gates_Update",
            fleet,
            lambda hook: (
                client.gates.begin_update(
                    fleet.resource_group,
                    fleet.name,
                    gate.name,
                    patch,
                    etag=gate.etag,
                    match_condition=condition,
                    raw_response_hook=hook,
                )
                .result()
                .as_dict()
            ),
        )
        return gate_from_resource(document or {}, path="Gates_Update")

    def close(self) -> None:
        """Close every client's connections."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    def _client(self, fleet: FleetId) -> ContainerServiceFleetMgmtClient:
        with self._lock:
            client = self._clients.get(fleet.subscription)
            if client is None:
                from azure.mgmt.containerservicefleet import (  # cold start
                    ContainerServiceFleetMgmtClient,
                )

                if self._credential is None:
                    self._credential = build_credential(self._settings)
                client = ContainerServiceFleetMgmtClient(
                    self._credential, fleet.subscription, **sdk_options(self._settings)
                )
                self._clients[fleet.subscription] = client
            return client

    def _call(
        self,
        operation: str,
        fleet: FleetId,
        request: Callable[[Hook], T],
        *,
        missing_ok: bool = False,
    ) -> T | None:
        """One logical call: observed, retried, a 404 None when asked, other failures translated."""
        what = f"{operation} on {fleet}"
        with self._observer.arm_call(operation, cluster=str(fleet)) as sink:
            try:
                return self._retry.call(lambda: request(response_hook(sink)), what=what)
            except AzureError as exc:
                # A gate or run that is gone is an answer (its update run was deleted).
                if missing_ok and isinstance(exc, ResourceNotFoundError):
                    return None
                raise translate(exc, what=what, transient=self._retry.is_transient(exc)) from exc

"""Simulated Fleet Manager update runs and their approval gates, served as ARM serves them.

An update run's stages run one after another; a stage (or a group of it) can
have an approval gate before or after it. Reaching a gate creates a
``Microsoft.ContainerService/fleets/gates`` resource in state ``Pending`` and
emits ``FleetGateCreated``; the run waits until the gate's state is set to
``Completed`` (``Gates_Update``), which emits ``FleetGateUpdated`` and lets
the run go on; deleting a run emits ``FleetGateDeleted`` for each of its
gates. The clusters of a stage are marked updated as the stage passes: the
simulator models the gates, not Fleet's own upgrades.

Shapes follow azure-rest-api-specs ``fleet/examples/2026-06-01``
(``Gates_Get.json``, ``Gates_Update.json``, ``UpdateRuns_Get.json``) and the
Event Grid article's samples (MicrosoftDocs azure-docs
``articles/event-grid/event-schema-aks-resources.md``: ``topic``/``source``
is the subscription, ``subject`` the gate's ID, ``data.resourceInfo`` the
gate). The handlers run inside :meth:`SimulatedAks.transaction`; events are
kept for the caller to deliver (:meth:`SimFleets.take_events`), never sent
from the request's thread, since delivering calls the app, which may call
the simulator back.

Not modelled: ``If-Match`` (the simulator's requests carry no headers to its
handlers), ``ScheduledStart`` gates, and the ``202`` answer of a PATCH.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from patchpilot.sim import arm_errors
from patchpilot.sim.aks import SimulatedAks
from patchpilot.sim.events import EventSchema
from patchpilot.sim.handlers import Request, Response, RestSettings
from patchpilot.sim.payloads import arm_time

# The Fleet api-versions served; azure-mgmt-containerservicefleet 4.0.0 sends 2026-06-01.
FLEET_VERSIONS: Final = ("2025-04-01-preview", "2025-08-01-preview", "2026-06-01")
EVENT_PREFIX: Final = "Microsoft.ResourceNotifications.AksResources."
GATE_TYPE: Final = "Microsoft.ContainerService/fleets/gates"
RUN_TYPE: Final = "Microsoft.ContainerService/fleets/updateRuns"


@dataclass(frozen=True)
class StageSpec:
    """A stage of a run to create: its groups (name -> cluster IDs) and its gates' names."""

    name: str
    groups: Sequence[tuple[str, Sequence[str]]]
    before: str | None = None
    after: str | None = None


@dataclass
class SimGate:
    """One gate resource."""

    fleet: str
    name: str
    display_name: str
    run: str
    stage: str
    timing: str
    state: str = "Pending"
    version: int = 1

    @property
    def id(self) -> str:
        """The gate's resource ID."""
        return f"{self.fleet}/gates/{self.name}"

    @property
    def etag(self) -> str:
        """Changes with every write."""
        return f'"{self.name[:8]}-{self.version}"'


@dataclass
class SimRun:
    """One update run: its stages, where it stands and its gates."""

    fleet: str
    name: str
    upgrade_type: str
    stages: list[StageSpec]
    created: dt.datetime
    position: int = 0
    # Gates by (stage, timing), once the run reached them.
    gates: dict[tuple[str, str], SimGate] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)

    @property
    def id(self) -> str:
        """The run's resource ID."""
        return f"{self.fleet}/updateRuns/{self.name}"

    @property
    def state(self) -> str:
        """Running while a stage is left, Completed after the last."""
        return "Completed" if self.position >= len(self.stages) else "Running"


class SimFleets:
    """The Fleet Manager resources of one simulator, and the gate events they emitted."""

    def __init__(self, schema: EventSchema = "EventGridSchema") -> None:
        self.schema: EventSchema = schema
        self._lock = threading.RLock()
        self._runs: dict[str, SimRun] = {}
        self._pending: list[dict[str, Any]] = []
        self._emitted: list[dict[str, Any]] = []
        # Fleets that exist before any run (the demo's): their gate list answers empty, not 404.
        self._fleets: set[str] = set()

    # -- what tests and the demo drive ---------------------------------------------------

    def create_update_run(
        self,
        fleet: str,
        name: str,
        stages: Sequence[StageSpec],
        now: dt.datetime,
        *,
        upgrade_type: str = "Full",
    ) -> SimRun:
        """Start a run; it goes on until its first gate (which emits FleetGateCreated)."""
        with self._lock:
            run = SimRun(fleet.rstrip("/"), name.lower(), upgrade_type, list(stages), now)
            self._runs[run.id.lower()] = run
            self._advance(run, now)
            return run

    def delete_update_run(self, fleet: str, name: str, now: dt.datetime) -> None:
        """Delete a run: each of its gates goes with it (FleetGateDeleted)."""
        with self._lock:
            run = self._runs.pop(f"{fleet.rstrip('/')}/updateRuns/{name}".lower())
            for gate in run.gates.values():
                self._emit("FleetGateDeleted", gate, now)

    def gates(self) -> list[SimGate]:
        """Every gate of every run, in the order they were reached."""
        with self._lock:
            return [g for run in self._runs.values() for g in run.gates.values()]

    def run(self, fleet: str, name: str) -> SimRun | None:
        """A run by fleet and name (case-insensitive)."""
        with self._lock:
            return self._runs.get(f"{fleet.rstrip('/')}/updateRuns/{name}".lower())

    def take_events(self) -> list[dict[str, Any]]:
        """The gate events emitted since the last call, for the caller to deliver."""
        with self._lock:
            taken, self._pending = self._pending, []
            return taken

    @property
    def emitted(self) -> list[dict[str, Any]]:
        """Every gate event emitted so far."""
        with self._lock:
            return list(self._emitted)

    # -- what the handlers call ----------------------------------------------------------

    def add_fleet(self, fleet: str) -> None:
        """A fleet that exists with no update run yet (``Fleets_CreateOrUpdate``, in effect)."""
        with self._lock:
            self._fleets.add(fleet.rstrip("/").lower())

    def knows(self, fleet: str) -> bool:
        """True when the fleet was added or has (or had) a run here."""
        with self._lock:
            wanted = fleet.rstrip("/").lower()
            return wanted in self._fleets or any(
                run.fleet.lower() == wanted for run in self._runs.values()
            )

    def find_gate(self, fleet: str, name: str) -> SimGate:
        """A gate by fleet and name, or ARM's 404."""
        wanted = f"{fleet}/gates/{name}".lower()
        with self._lock:
            for gate in self.gates():
                if gate.id.lower() == wanted:
                    return gate
        group = fleet.split("/")[4] if fleet.count("/") > 4 else ""
        raise arm_errors.resource_not_found("Microsoft.ContainerService/fleets/gates", name, group)

    def complete(self, gate: SimGate, now: dt.datetime) -> SimGate:
        """Set a gate Completed (once; again is no change) and let its run go on."""
        with self._lock:
            if gate.state == "Completed":
                return gate
            gate.state, gate.version = "Completed", gate.version + 1
            self._emit("FleetGateUpdated", gate, now)
            run = self._runs.get(f"{gate.fleet}/updateRuns/{gate.run}".lower())
            if run is not None:
                self._advance(run, now)
            return gate

    # -- the run's progress --------------------------------------------------------------

    def _advance(self, run: SimRun, now: dt.datetime) -> None:
        """Walk the run's stages until a gate waits or the run ends."""
        while run.position < len(run.stages):
            stage = run.stages[run.position]
            if stage.before and not self._passed(run, stage, "Before", stage.before, now):
                return
            run.done.update(cluster.lower() for _, members in stage.groups for cluster in members)
            if stage.after and not self._passed(run, stage, "After", stage.after, now):
                return
            run.position += 1

    def _passed(
        self, run: SimRun, stage: StageSpec, timing: str, display: str, now: dt.datetime
    ) -> bool:
        gate = run.gates.get((stage.name, timing))
        if gate is None:
            gate = SimGate(run.fleet, str(uuid.uuid4()), display, run.name, stage.name, timing)
            run.gates[(stage.name, timing)] = gate
            self._emit("FleetGateCreated", gate, now)
        return gate.state == "Completed"

    def _emit(self, kind: str, gate: SimGate, at: dt.datetime) -> None:
        event = gate_event(kind, gate, at, self.schema)
        self._pending.append(event)
        self._emitted.append(event)


_FLEETS: weakref.WeakKeyDictionary[SimulatedAks, SimFleets] = weakref.WeakKeyDictionary()
_FLEETS_LOCK: Final = threading.Lock()


def fleets_of(aks: SimulatedAks) -> SimFleets:
    """The Fleet Manager resources beside a simulated AKS (made on first use, its schema)."""
    with _FLEETS_LOCK:
        found = _FLEETS.get(aks)
        if found is None:
            found = _FLEETS[aks] = SimFleets(aks.event_schema)
        return found


# Payloads -------------------------------------------------------------------------------


def gate_document(gate: SimGate) -> dict[str, Any]:
    """A gate as ``Gates_Get`` returns it."""
    return {
        "id": gate.id,
        "name": gate.name,
        "type": GATE_TYPE,
        "eTag": gate.etag,
        "properties": _gate_properties(gate),
    }


def _gate_properties(gate: SimGate) -> dict[str, Any]:
    return {
        "provisioningState": "Succeeded",
        "displayName": gate.display_name,
        "gateType": "Approval",
        "state": gate.state,
        "target": {
            "id": f"{gate.fleet}/updateRuns/{gate.run}",
            "updateRunProperties": {"name": gate.run, "stage": gate.stage, "timing": gate.timing},
        },
    }


def run_document(run: SimRun) -> dict[str, Any]:
    """An update run as ``UpdateRuns_Get`` returns it (strategy, status, members)."""
    stages = []
    for index, stage in enumerate(run.stages):
        passed = index < run.position
        groups = [
            {
                "name": group,
                "status": {"state": "Completed" if passed else "NotStarted"},
                "members": [
                    {
                        "name": cluster.rstrip("/").rsplit("/", 1)[-1],
                        "clusterResourceId": cluster,
                        "status": {
                            "state": "Completed" if cluster.lower() in run.done else "NotStarted"
                        },
                    }
                    for cluster in members
                ],
            }
            for group, members in stage.groups
        ]
        status: dict[str, Any] = {"name": stage.name, "groups": groups}
        for timing, key in (("Before", "beforeGates"), ("After", "afterGates")):
            gate = run.gates.get((stage.name, timing))
            if gate is not None:
                status[key] = [
                    {
                        "displayName": gate.display_name,
                        "gateId": gate.id,
                        "status": {"state": gate.state},
                    }
                ]
        status["status"] = {
            "state": "Completed" if passed else "Running" if index == run.position else "NotStarted"
        }
        stages.append(status)
    return {
        "id": run.id,
        "name": run.name,
        "type": RUN_TYPE,
        "properties": {
            "provisioningState": "Succeeded",
            "managedClusterUpdate": {"upgrade": {"type": run.upgrade_type}},
            "status": {"status": {"state": run.state}, "stages": stages},
        },
    }


def gate_event(kind: str, gate: SimGate, at: dt.datetime, schema: EventSchema) -> dict[str, Any]:
    """A gate event as the fleet's system topic sends it, in `schema`."""
    subscription = "/".join(gate.fleet.split("/")[:3])
    data = {
        "resourceInfo": {
            "id": gate.id,
            "name": gate.name,
            "type": GATE_TYPE,
            "properties": _gate_properties(gate),
        },
        "operationalInfo": {"resourceEventTime": arm_time(at)},
        "apiVersion": "2025-04-01-preview",
    }
    if schema == "CloudEventSchemaV1_0":
        return {
            "source": subscription,
            "subject": gate.id,
            "type": EVENT_PREFIX + kind,
            "time": arm_time(at),
            "id": str(uuid.uuid4()),
            "data": data,
            "specversion": "1.0",
        }
    return {
        "id": str(uuid.uuid4()),
        "topic": subscription,
        "subject": gate.id,
        "data": data,
        "eventType": EVENT_PREFIX + kind,
        "dataVersion": "1",
        "metadataVersion": "1",
        "eventTime": arm_time(at),
    }


# Handlers (see patchpilot.sim.routes) ---------------------------------------------------


def _fleet_id(request: Request) -> str:
    p = request.params
    return (
        f"/subscriptions/{p['subscription']}/resourceGroups/{p['group']}"
        f"/providers/Microsoft.ContainerService/fleets/{p['fleet']}"
    )


def _known_fleet(fleets: SimFleets, request: Request) -> None:
    """A fleet the simulator has runs in; ARM's 404 for any other."""
    if not fleets.knows(_fleet_id(request)):
        raise arm_errors.resource_not_found(
            "Microsoft.ContainerService/fleets", request.params["fleet"], request.params["group"]
        )


def get_gate(
    aks: SimulatedAks, request: Request, settings: RestSettings, now: dt.datetime
) -> Response:
    """``Gates_Get``."""
    gate = fleets_of(aks).find_gate(_fleet_id(request), request.params["gate"])
    return Response(200, gate_document(gate), {"ETag": gate.etag})


def update_gate(
    aks: SimulatedAks, request: Request, settings: RestSettings, now: dt.datetime
) -> Response:
    """``Gates_Update``: only ``state: Completed`` may be written (``az fleet gate update``)."""
    fleets = fleets_of(aks)
    gate = fleets.find_gate(_fleet_id(request), request.params["gate"])
    body = request.json()
    props = body.get("properties")
    if (
        not isinstance(props, dict)
        or set(body) != {"properties"}
        or props != {"state": "Completed"}
    ):
        raise arm_errors.bad_request(
            "Only the gate's state can be updated, and only to 'Completed'.",
            "InvalidRequestContent",
        )
    gate = fleets.complete(gate, now)
    return Response(200, gate_document(gate), {"ETag": gate.etag})


def list_gates(
    aks: SimulatedAks, request: Request, settings: RestSettings, now: dt.datetime
) -> Response:
    """``Gates_ListByFleet`` (one page; ``$filter`` on the state as ``state eq 'Pending'``)."""
    fleets = fleets_of(aks)
    fleet = _fleet_id(request)
    _known_fleet(fleets, request)
    wanted = request.query.get("$filter", "").lower()
    gates = [g for g in fleets.gates() if g.fleet.lower() == fleet.lower()]
    if "'pending'" in wanted:
        gates = [g for g in gates if g.state == "Pending"]
    return Response(200, {"value": [gate_document(g) for g in gates]})


def get_update_run(
    aks: SimulatedAks, request: Request, settings: RestSettings, now: dt.datetime
) -> Response:
    """``UpdateRuns_Get``."""
    run = fleets_of(aks).run(_fleet_id(request), request.params["run"])
    if run is None:
        raise arm_errors.resource_not_found(
            "Microsoft.ContainerService/fleets/updateRuns",
            request.params["run"],
            request.params["group"],
        )
    return Response(200, run_document(run))

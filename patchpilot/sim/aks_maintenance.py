"""Simulated AKS Communication Manager: AKS's own maintenance, announced as Azure announces it.

Each :class:`~patchpilot.sim.faults.AksWork` of the fault plan is one
maintenance AKS runs on its own. It goes through the stages the Event Grid
article lists: ``Scheduled`` 7 days and again 24 hours before its start,
``Started`` at its start, ``Completed`` at its end, or ``Cancelled`` at
``cancelled_at`` (and nothing after). :class:`SimAnnouncements` emits one
``Microsoft.ResourceNotifications.ContainerServiceEventResources.ScheduledEventEmitted``
event per stage once the clock passes it (kept for the caller to deliver:
:meth:`SimAnnouncements.take_events`), and serves the Resource Graph rows of
``containerserviceeventresources``: one row per announcement, in its latest
stage (:meth:`SimAnnouncements.rows`).

Shapes follow the article's samples (MicrosoftDocs azure-docs
``articles/event-grid/event-schema-containerservice-resources.md``,
``tests/events/aks_scheduled_*.json``): ``topic``/``source`` is the
subscription, ``subject`` and ``data.resourceInfo.id`` the cluster's ID plus
``/scheduledEvents/<event>``, ``properties`` as listed there, ARM's
``0001-01-01T00:00:00.0000000Z`` for a time not set yet. ``eventDetails``
names the upgrade type, as the AKS docs' Resource Graph query expects
(``properties has "K8sVersionUpgrade"``).

Not modelled: the work itself. The simulated AKS announces it but does not
upgrade anything or hold the cluster busy; what the app must show is that it
kept its own starts out of the span.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
import weakref
from dataclasses import dataclass
from typing import Any, Final

from patchpilot.domain.fleet import FleetState
from patchpilot.domain.policy import Policy
from patchpilot.domain.promotion import window_schedule
from patchpilot.domain.resource_ids import region_key
from patchpilot.sim.aks import SimulatedAks
from patchpilot.sim.events import EventSchema
from patchpilot.sim.faults import AksWork
from patchpilot.sim.payloads import arm_time
from patchpilot.sim.state import SimCluster

EVENT_TYPE: Final = (
    "Microsoft.ResourceNotifications.ContainerServiceEventResources.ScheduledEventEmitted"
)
RESOURCE_TYPE: Final = "Microsoft.ContainerService/managedClusters/scheduledEvents"
UNSET: Final = "0001-01-01T00:00:00.0000000Z"
API_VERSION: Final = "2023-11-02-preview"
AHEAD: Final = (dt.timedelta(days=7), dt.timedelta(hours=24))
_NAMESPACE: Final = uuid.UUID("6f1c2a52-57a4-4f0b-9d43-0b1f3a4c5d6e")


@dataclass(frozen=True)
class Stage:
    """One word AKS says about one work: its status, and when it says it."""

    work: AksWork
    status: str
    at: dt.datetime


def stages(work: AksWork) -> tuple[Stage, ...]:
    """Every word AKS says about the work, in order."""
    said = [Stage(work, "Scheduled", work.start - ahead) for ahead in AHEAD]
    if work.cancelled_at is not None:
        return (
            *[s for s in said if s.at < work.cancelled_at],
            Stage(work, "Cancelled", work.cancelled_at),
        )
    end = work.start + dt.timedelta(hours=work.hours)
    return (*said, Stage(work, "Started", work.start), Stage(work, "Completed", end))


def event_id(work: AksWork) -> str:
    """The work's event ID: stable, one per work."""
    return str(uuid.uuid5(_NAMESPACE, f"{work.cluster.lower()}|{work.start.isoformat()}"))


class SimAnnouncements:
    """The announcements of one simulated AKS: events not yet taken, rows as of now."""

    def __init__(self, aks: SimulatedAks) -> None:
        self._aks = weakref.ref(aks)
        self._lock = threading.Lock()
        self._said: set[Stage] = set()

    def take_events(self, now: dt.datetime) -> list[dict[str, Any]]:
        """The events of every stage reached by `now` and not taken yet, in order."""
        aks = self._live()
        with self._lock:
            due = [s for s in self._stages(aks) if s.at <= now and s not in self._said]
            self._said.update(due)
        return [self._event(aks, stage) for stage in sorted(due, key=lambda s: s.at)]

    def rows(self, now: dt.datetime) -> list[dict[str, Any]]:
        """``containerserviceeventresources`` rows: each announcement in its stage at `now`."""
        aks = self._live()
        latest: dict[AksWork, Stage] = {}
        for stage in self._stages(aks):
            if stage.at <= now:
                latest[stage.work] = stage
        return [self._row(aks, stage) for stage in latest.values()]

    def next_change(self, after: dt.datetime) -> dt.datetime | None:
        """When the next word is said, after `after` (None: never)."""
        moments = [s.at for s in self._stages(self._live()) if s.at > after]
        return min(moments, default=None)

    def _live(self) -> SimulatedAks:
        aks = self._aks()
        if aks is None:
            raise RuntimeError("the simulated AKS is gone")
        return aks

    def _stages(self, aks: SimulatedAks) -> list[Stage]:
        return [stage for work in aks.faults.aks_maintenance for stage in stages(work)]

    def _resource(self, aks: SimulatedAks, stage: Stage) -> dict[str, Any]:
        work = stage.work
        cluster = aks.cluster(work.cluster)
        name = event_id(work)
        started = stage.status in ("Started", "Completed")
        return {
            "id": f"{cluster.id}/scheduledEvents/{name}",
            "name": name,
            "type": RESOURCE_TYPE,
            "location": region_key(cluster.location),
            "properties": {
                "description": "ScheduledEvents",
                "eventId": name,
                "eventSource": "AutoUpgrader",
                "eventStatus": stage.status,
                "eventDetails": _details(work, stage.status),
                "scheduledTime": arm_time(work.start),
                "startTime": arm_time(work.start) if started else UNSET,
                "lastUpdateTime": arm_time(stage.at),
                "resources": [_lower_group(cluster)],
                "resourceType": "ManagedCluster",
            },
        }

    def _event(self, aks: SimulatedAks, stage: Stage) -> dict[str, Any]:
        resource = self._resource(aks, stage)
        cluster = aks.cluster(stage.work.cluster)
        scope = f"/subscriptions/{cluster.id.subscription}"
        data = {
            "resourceInfo": resource,
            "operationalInfo": {"resourceEventTime": arm_time(stage.at).rstrip("Z")},
            "apiVersion": API_VERSION,
        }
        schema: EventSchema = aks.event_schema
        if schema == "CloudEventSchemaV1_0":
            return {
                "id": str(uuid.uuid4()),
                "source": scope,
                "subject": resource["id"],
                "data": data,
                "type": EVENT_TYPE,
                "specversion": "1.0",
                "time": arm_time(stage.at),
            }
        return {
            "id": str(uuid.uuid4()),
            "topic": scope,
            "subject": resource["id"],
            "data": data,
            "eventType": EVENT_TYPE,
            "dataVersion": "1",
            "metadataVersion": "1",
            "eventTime": arm_time(stage.at),
        }

    def _row(self, aks: SimulatedAks, stage: Stage) -> dict[str, Any]:
        resource = self._resource(aks, stage)
        cluster = aks.cluster(stage.work.cluster)
        return {
            **resource,
            "type": RESOURCE_TYPE.lower(),
            "subscriptionId": cluster.id.subscription,
            "resourceGroup": cluster.id.resource_group.lower(),
        }


def _details(work: AksWork, status: str) -> str:
    what = work.upgrade_type or "Maintenance"
    return f"{what} {status.lower()} by AKS"


def _lower_group(cluster: SimCluster) -> str:
    """The cluster's ID as the samples' ``resources`` write it (``resourcegroups``)."""
    return str(cluster.id).replace("/resourceGroups/", "/resourcegroups/")


# The node OS channels under which AKS patches nodes by itself, in the node OS window.
NODE_OS_CHANNELS: Final = ("NodeImage", "SecurityPatch")


def node_os_work(
    fleet: FleetState,
    policy: Policy,
    start: dt.datetime,
    end: dt.datetime,
    *,
    hours: float = 2.0,
) -> tuple[AksWork, ...]:
    """AKS's own node OS work as its channel does it: in each node OS window in [start, end).

    For every cluster whose node OS channel is NodeImage or SecurityPatch, one
    ``NodeOSUpgrade`` from the start of each of its node OS windows (the
    cluster's ``aksManagedNodeOSUpgradeSchedule``, else the policy's default
    window) that begins inside the span, lasting `hours` (the window's length
    at most). For a demo or test fleet's fault plan.
    """
    work: list[AksWork] = []
    for cluster in fleet.clusters:
        if cluster.node_os_upgrade_channel not in NODE_OS_CHANNELS:
            continue
        schedule, _ = window_schedule(cluster, policy, "node_image")
        if schedule is None or schedule.unusable:
            continue
        for window in schedule.iter_windows(start):
            if window.start >= end:
                break
            if window.start < start:
                continue
            length = min(hours, window.duration.total_seconds() / 3600)
            work.append(AksWork(str(cluster.id), window.start, length, "NodeOSUpgrade"))
    return tuple(sorted(work, key=lambda w: (w.start, w.cluster)))


_ANNOUNCEMENTS: weakref.WeakKeyDictionary[SimulatedAks, SimAnnouncements] = (
    weakref.WeakKeyDictionary()
)
_LOCK: Final = threading.Lock()


def announcements_of(aks: SimulatedAks) -> SimAnnouncements:
    """The Communication Manager beside a simulated AKS (made on first use)."""
    with _LOCK:
        found = _ANNOUNCEMENTS.get(aks)
        if found is None:
            found = _ANNOUNCEMENTS[aks] = SimAnnouncements(aks)
        return found

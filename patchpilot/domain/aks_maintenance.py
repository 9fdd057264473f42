"""AKS's own announced maintenance: typed views, and the spans where Patch Pilot starts nothing.

AKS Communication Manager announces the maintenance AKS is about to run on a
cluster (its auto-upgrade and node OS channels, AKS-initiated work), in two
places Patch Pilot reads: the Event Grid system topic of type
``Microsoft.ResourceNotifications.ContainerServiceEventResources`` (one event
type, ``...ScheduledEventEmitted``) and the Resource Graph table
``containerserviceeventresources``, resource type
``microsoft.containerservice/managedclusters/scheduledevents``. Both carry
the same ``properties``, so one value, :class:`AksMaintenance`, comes out of
:func:`parse_maintenance_event` (both Event Grid schemas) and
:func:`maintenance_from_row` (a Resource Graph row).

Facts, and where they come from:

- MicrosoftDocs azure-docs ``articles/event-grid/event-schema-containerservice-resources.md``
  (its "Example events" are ``tests/events/aks_scheduled_*.json``): events go
  out for the stages scheduled, started, completed, cancelled and failed; a
  scheduled one 7 days and again 24 hours before the work. ``topic``
  (Event Grid schema) or ``source`` (CloudEvents) is the *subscription*;
  ``subject`` and ``data.resourceInfo.id`` are
  ``<cluster ID>/scheduledEvents/<event>`` (the Event Grid sample's
  ``resourceInfo.id`` leaves out ``/scheduledEvents``);
  ``data.resourceInfo.properties`` holds ``eventId``, ``eventSource``,
  ``eventStatus`` (Scheduled, Started, Completed, Cancelled or Canceled,
  Failed: the article spells both), ``eventDetails`` (text; an object in
  end-of-support notices), ``scheduledTime`` ("the time the event is
  scheduled to start"), ``startTime``, ``lastUpdateTime`` (unset is
  ``0001-01-01T00:00:00``), ``resources`` (the impacted clusters' IDs) and
  ``resourceType`` ``ManagedCluster``. Times may carry nine fraction digits.
- MicrosoftDocs azure-aks-docs ``articles/aks/aks-communication-manager.md``:
  the Resource Graph query; there is no ``upgradeType`` property: the query
  derives it from whether ``properties`` contain ``K8sVersionUpgrade`` or
  ``NodeOSUpgrade``, and so does :func:`upgrade_type_of`.
- ``articles/aks/aks-end-of-support-notifications.md``: the same resource
  type carries end-of-support notices (``eventSource`` ``EOLNotification``,
  ``eventDetails`` an object); maintenance comes from ``AutoUpgrader`` (the
  samples spell ``AutoUprader``). Notices are not maintenance: they are
  refused as unhandled (events) or skipped (rows).

No payload says when the work ends. AKS's automatic upgrades run in the
cluster's planned maintenance window for that kind (``aksManagedAutoUpgradeSchedule``
for Kubernetes, ``aksManagedNodeOSUpgradeSchedule`` for node OS), so an
announced span runs from the start to the end of the cluster's window that
contains it, and for work outside any window known here, :data:`DEFAULT_SPAN`
(24 hours, the longest window AKS allows). Margins widen it on both
sides: :data:`MARGIN_BEFORE` (4 hours, the shortest window AKS allows) so an
upgrade Patch Pilot starts has time to end before AKS's own begins (AKS would
find the cluster busy), :data:`MARGIN_AFTER` (1 hour) as Event Grid and
Resource Graph lag the work's end a little. A
Completed, Cancelled or Failed status ends the span (what still runs on the
cluster then shows in its provisioning state, which the planner checks
anyway); a status this module does not know keeps it (fail closed).

Pure: no I/O and no clock; the service passes `now` and what it read.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from patchpilot.domain.errors import UnhandledEventError
from patchpilot.domain.events import Schema, bounded_text, envelope_schema
from patchpilot.domain.fields import Fields
from patchpilot.domain.instants import parse_instant
from patchpilot.domain.plan import iso
from patchpilot.domain.resource_ids import ClusterId, ascii_key, parse_cluster_id
from patchpilot.domain.schedule import Schedule
from patchpilot.domain.windows import Window
from patchpilot.errors import InvalidInputError

EVENT_PREFIX: Final = "Microsoft.ResourceNotifications.ContainerServiceEventResources."
SCHEDULED_EVENT_EMITTED: Final = EVENT_PREFIX + "ScheduledEventEmitted"
# The one type the system topic's subscription delivers (infra subscribes to exactly this).
MAINTENANCE_EVENT_TYPES: Final = (SCHEDULED_EVENT_EMITTED,)
# Resource Graph's table and type (lower case, as Resource Graph writes types).
TABLE: Final = "containerserviceeventresources"
RESOURCE_TYPE: Final = "microsoft.containerservice/managedclusters/scheduledevents"
K8S_UPGRADE: Final = "K8sVersionUpgrade"
NODE_OS_UPGRADE: Final = "NodeOSUpgrade"
UPGRADE_TYPES: Final = (K8S_UPGRADE, NODE_OS_UPGRADE)
# Which of the cluster's maintenance configurations each upgrade type runs in.
WINDOW_OF: Final[Mapping[str, str]] = {
    K8S_UPGRADE: "aksManagedAutoUpgradeSchedule",
    NODE_OS_UPGRADE: "aksManagedNodeOSUpgradeSchedule",
}
# Statuses as the article lists them; "Canceled" (the AKS docs' spelling) reads as Cancelled.
SCHEDULED, STARTED, COMPLETED, CANCELLED, FAILED = (
    "Scheduled",
    "Started",
    "Completed",
    "Cancelled",
    "Failed",
)
ENDED: Final = frozenset({COMPLETED, CANCELLED, FAILED})
_STATUS_RANK: Final = {SCHEDULED: 0, STARTED: 1, COMPLETED: 2, CANCELLED: 2, FAILED: 2}
# End-of-support notices share the resource type; they announce no maintenance.
EOL_SOURCE: Final = "EOLNotification"
# The longest maintenance window AKS allows (durationHours 4 to 24): the span when none is known.
DEFAULT_SPAN: Final = dt.timedelta(hours=24)
# Kept clear before an announced span: an upgrade Patch Pilot starts gets the shortest
# window AKS allows (4 hours) to end before AKS's own work begins and finds the cluster busy.
MARGIN_BEFORE: Final = dt.timedelta(hours=4)
# Kept clear after it: a Completed word and Resource Graph may lag the work's end a little.
MARGIN_AFTER: Final = dt.timedelta(hours=1)
# How long an ended announcement stays on the status page and in the store.
KEEP_AFTER: Final = dt.timedelta(days=7)
_UNSET_YEAR: Final = 1970


@dataclass(frozen=True)
class AksMaintenance:
    """One maintenance AKS announced on one cluster, as last heard of."""

    cluster: ClusterId
    event_id: str
    status: str
    scheduled: dt.datetime
    seen: dt.datetime
    upgrade_type: str | None = None
    started: dt.datetime | None = None
    source: str = ""
    details: str = ""

    @property
    def ended(self) -> bool:
        """True once AKS said the work completed, was cancelled or failed."""
        return self.status in ENDED

    @property
    def what(self) -> str:
        """``K8sVersionUpgrade maintenance``, or ``maintenance`` when the type is not said."""
        return f"{self.upgrade_type} maintenance" if self.upgrade_type else "maintenance"

    def span(self, windows: Mapping[str, Schedule]) -> Window:
        """When the work runs, by AKS's word: from its start to the end of its window.

        `windows` are the cluster's own maintenance configurations by name;
        without the one for this type (or, for work of no stated type, any
        of them) that contains the start, :data:`DEFAULT_SPAN`.
        """
        start = self.started or self.scheduled
        names = [WINDOW_OF[self.upgrade_type]] if self.upgrade_type else list(WINDOW_OF.values())
        for name in names:
            schedule = windows.get(name)
            window = schedule.window_at(start) if schedule is not None else None
            if window is not None:
                return Window(start, window.end)
        return Window(start, start + DEFAULT_SPAN)

    def keep_until(self, windows: Mapping[str, Schedule]) -> dt.datetime:
        """Until when the record is worth keeping: a week past its end (or its last word)."""
        end = self.seen if self.ended else max(self.span(windows).end, self.seen)
        return end + KEEP_AFTER

    def to_json(self) -> dict[str, Any]:
        """The stored form (UTC ISO 8601 times)."""
        return {
            "cluster": str(self.cluster),
            "event_id": self.event_id,
            "status": self.status,
            "scheduled": iso(self.scheduled),
            "seen": iso(self.seen),
            "upgrade_type": self.upgrade_type,
            "started": iso(self.started),
            "source": self.source,
            "details": self.details,
        }

    @classmethod
    def from_json(cls, data: object) -> AksMaintenance:
        """Read the stored form back; InvalidInputError when it is not one."""
        fields = Fields.of(data, source="announced maintenance")
        return cls(
            cluster=parse_cluster_id(fields.raw("cluster"), path="cluster"),
            event_id=fields.text("event_id"),
            status=_status(fields.text("status")),
            scheduled=parse_instant(fields.text("scheduled"), path="scheduled"),
            seen=parse_instant(fields.text("seen"), path="seen"),
            upgrade_type=fields.text("upgrade_type") if fields.has("upgrade_type") else None,
            started=parse_instant(fields.text("started")) if fields.has("started") else None,
            source=str(fields.raw("source", "")),
            details=str(fields.raw("details", "")),
        )


def announced_entry(
    data: object, cluster: ClusterId, *, source: str | None = None, path: str = ""
) -> AksMaintenance:
    """An announcement as a fleet file writes it (offline plans, the demo's fleet).

    Its cluster's entry in ``aks_maintenance:``: ``event_id``, ``status``,
    ``scheduled`` and optionally ``upgrade_type``, ``started``, ``seen``
    (default: ``scheduled``), ``source`` and ``details``.
    """
    fields = Fields.of(data, source=source, path=path)
    fields.only(
        "event_id", "status", "scheduled", "upgrade_type", "started", "seen", "source", "details"
    )
    document = {"cluster": str(cluster), "seen": fields.raw("scheduled", ""), **fields.data}
    try:
        return AksMaintenance.from_json(document)
    except InvalidInputError as exc:
        raise fields.error(None, str(exc)) from exc


def describe(
    item: AksMaintenance, windows: Mapping[str, Schedule], now: dt.datetime
) -> dict[str, Any]:
    """One announcement as the status API and the CLI show it (JSON; times UTC with a Z).

    ``start``/``end`` are AKS's span as Patch Pilot reads it; ``holds`` says
    whether it still keeps Patch Pilot's starts out, and ``no_start_from`` /
    ``no_start_until`` over which stretch (margins included).
    """
    span = item.span(windows)
    held = next((b for b in blackouts([item], windows, now)), None)
    return {
        "cluster": str(item.cluster),
        "event_id": item.event_id,
        "upgrade_type": item.upgrade_type,
        "status": item.status,
        "source": item.source,
        "details": item.details,
        "start": iso(span.start),
        "end": iso(span.end),
        "last_word": iso(item.seen),
        "holds": held is not None,
        "no_start_from": iso(held.span.start) if held is not None else None,
        "no_start_until": iso(held.span.end) if held is not None else None,
    }


@dataclass(frozen=True)
class MaintenanceEvent:
    """One ScheduledEventEmitted event, whichever schema it came in."""

    id: str
    type: str
    time: dt.datetime
    schema: Schema
    maintenance: AksMaintenance

    @property
    def short_type(self) -> str:
        """`ScheduledEventEmitted` rather than the whole type name."""
        return self.type.removeprefix(EVENT_PREFIX)


def parse_maintenance_event(payload: object) -> MaintenanceEvent:
    """Validate a ScheduledEventEmitted event; InvalidInputError names what is wrong.

    Another well-formed type, or an end-of-support notice, raises
    :class:`UnhandledEventError` (acknowledged and ignored).
    """
    envelope = Fields.of(payload, path="event")
    schema, (type_name, scope_name, time_name) = envelope_schema(envelope)
    event_type = bounded_text(envelope, type_name)
    if event_type.lower() != SCHEDULED_EVENT_EMITTED.lower():
        raise UnhandledEventError(f"event type {_short(event_type)!r} is not AKS maintenance")
    time = parse_instant(bounded_text(envelope, time_name), path=f"event.{time_name}")
    info = envelope.child("data").child("resourceInfo")
    maintenance = _maintenance(info, seen=time)
    _same_resource(envelope, info, maintenance.cluster)
    scope = ascii_key(bounded_text(envelope, scope_name).rstrip("/"))
    if scope != f"/subscriptions/{maintenance.cluster.subscription}":
        raise envelope.error(scope_name, "is not the subscription of the announced cluster")
    return MaintenanceEvent(
        id=bounded_text(envelope, "id", limit=256),
        type=SCHEDULED_EVENT_EMITTED,
        time=time,
        schema=schema,
        maintenance=maintenance,
    )


def maintenance_from_row(row: Mapping[str, Any]) -> AksMaintenance | None:
    """One Resource Graph row of ``containerserviceeventresources``; None for a notice.

    The row is the resource as the event's ``resourceInfo`` carries it
    (``id``, ``name``, ``type``, ``properties``; ``properties`` may come as
    JSON text). Its time of last word is ``lastUpdateTime``, else the
    scheduled time.
    """
    fields = Fields.of(row, path="row")
    kind = bounded_text(fields, "type", limit=128)
    if kind.lower() != RESOURCE_TYPE:
        raise fields.error("type", f"is not {RESOURCE_TYPE}")
    props = fields.raw("properties")
    if isinstance(props, str):
        try:
            props = json.loads(props)
        except ValueError as exc:
            raise fields.error("properties", "is not JSON") from exc
    try:
        return _maintenance(Fields({**fields.data, "properties": props}, path="row"), seen=None)
    except UnhandledEventError:
        return None


def upgrade_type_of(properties: Mapping[str, Any]) -> str | None:
    """K8sVersionUpgrade or NodeOSUpgrade when the properties name one (as the docs' query)."""
    text = json.dumps(properties, sort_keys=True)
    return next((kind for kind in UPGRADE_TYPES if kind.lower() in text.lower()), None)


# Merging and the planner's rule --------------------------------------------------------


def merged(
    known: Iterable[AksMaintenance], heard: Iterable[AksMaintenance]
) -> tuple[AksMaintenance, ...]:
    """One record per event: the latest word wins (events may come twice, late, out of order).

    Of two words at the same time, the later stage wins (Started over
    Scheduled, an end over both), so a redelivered notice never reopens work
    AKS said had ended. Ordered by start, then event.
    """
    latest: dict[str, AksMaintenance] = {}
    for item in (*known, *heard):
        key = item.event_id.lower()
        current = latest.get(key)
        if current is None or _rank(item) > _rank(current):
            latest[key] = item
    return tuple(sorted(latest.values(), key=lambda m: (m.started or m.scheduled, m.event_id)))


def pruned(
    announced: Iterable[AksMaintenance], windows: Mapping[str, Schedule], now: dt.datetime
) -> tuple[AksMaintenance, ...]:
    """Those still worth keeping at `now` (:meth:`AksMaintenance.keep_until`)."""
    return tuple(m for m in announced if m.keep_until(windows) > now)


@dataclass(frozen=True)
class Blackout:
    """A stretch where Patch Pilot starts nothing on a cluster, and the announcement behind it."""

    span: Window
    maintenance: AksMaintenance

    def describe(self, cluster: str) -> str:
        """The plan's words for it."""
        m = self.maintenance
        return (
            f"AKS announced its own {m.what} on {cluster} from {iso(m.started or m.scheduled)} "
            f"to {iso(self.span.end - MARGIN_AFTER)} ({m.status.lower()}, event {m.event_id}): "
            f"Patch Pilot starts nothing there from {iso(self.span.start)} "
            f"to {iso(self.span.end)}"
        )


def blackouts(
    announced: Sequence[AksMaintenance], windows: Mapping[str, Schedule], now: dt.datetime
) -> tuple[Blackout, ...]:
    """The spans (margins included) that still hold starts back at `now`, in order.

    An ended announcement holds nothing; a span already over holds nothing.
    """
    found = []
    for item in announced:
        if item.ended:
            continue
        span = item.span(windows)
        padded = Window(span.start - MARGIN_BEFORE, span.end + MARGIN_AFTER)
        if padded.end > now:
            found.append(Blackout(padded, item))
    return tuple(sorted(found, key=lambda b: (b.span.start, b.maintenance.event_id)))


def in_blackout(blocks: Sequence[Blackout], moment: dt.datetime) -> Blackout | None:
    """The blackout containing `moment`, if any."""
    return next((b for b in blocks if b.span.contains(moment)), None)


# Parsing details -----------------------------------------------------------------------


def _maintenance(info: Fields, *, seen: dt.datetime | None) -> AksMaintenance:
    props = info.child("properties")
    source = str(props.raw("eventSource", ""))[:64]
    if source.lower() == EOL_SOURCE.lower():
        raise UnhandledEventError("an end-of-support notice, not maintenance")
    scheduled = _instant(props, "scheduledTime")
    if scheduled is None:
        raise props.error("scheduledTime", "is required")
    updated = _instant(props, "lastUpdateTime")
    return AksMaintenance(
        cluster=_cluster_of(info, props),
        event_id=_event_id(info, props),
        status=_status(bounded_text(props, "eventStatus", limit=64)),
        scheduled=scheduled,
        seen=updated or seen or scheduled,
        upgrade_type=upgrade_type_of(props.data),
        started=_instant(props, "startTime"),
        source=source,
        details=_details(props),
    )


def _cluster_of(info: Fields, props: Fields) -> ClusterId:
    """The impacted cluster: ``resources[0]``, else the cluster part of the resource ID."""
    for path, item in props.items("resources"):
        return parse_cluster_id(item, path=path)
    text = bounded_text(info, "id", limit=512)
    return parse_cluster_id("/".join(text.split("/")[:9]), path=info.at("id"))


def _same_resource(envelope: Fields, info: Fields, cluster: ClusterId) -> None:
    """The subject and resourceInfo.id must name the announced cluster (case aside)."""
    if not ascii_key(bounded_text(envelope, "subject", limit=512)).startswith(cluster.key + "/"):
        raise envelope.error("subject", "is not a scheduled event of the announced cluster")
    if not ascii_key(bounded_text(info, "id", limit=512)).startswith(cluster.key + "/"):
        raise info.error("id", "is not a scheduled event of the announced cluster")


def _event_id(info: Fields, props: Fields) -> str:
    if props.has("eventId"):
        return bounded_text(props, "eventId", limit=128)
    return bounded_text(info, "name", limit=128)


def _status(text: str) -> str:
    canonical = {s.lower(): s for s in _STATUS_RANK} | {"canceled": CANCELLED}
    return canonical.get(text.lower(), text[:64])


def _rank(item: AksMaintenance) -> tuple[dt.datetime, int]:
    return item.seen, _STATUS_RANK.get(item.status, 1)


def _instant(props: Fields, key: str) -> dt.datetime | None:
    """A time of the properties; ARM's unset ``0001-01-01T00:00:00`` is None."""
    if not props.has(key):
        return None
    text = bounded_text(props, key, limit=64)
    if text[:4].isdigit() and int(text[:4]) < _UNSET_YEAR:
        return None
    return parse_instant(text, path=props.at(key))


def _details(props: Fields) -> str:
    value = props.raw("eventDetails", "")
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return _short(text)


def _short(text: str) -> str:
    return text if len(text) <= 160 else text[:160] + "..."

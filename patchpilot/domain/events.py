"""AKS Event Grid events as typed, read-only views (both delivery schemas).

The Event Grid trigger hands over one event at a time, in the Event Grid schema
(`topic`, `eventType`, `eventTime`, `dataVersion`) or CloudEvents 1.0
(`source`, `type`, `time`, `specversion`). :func:`parse_aks_event` checks the
envelope strictly and returns an :class:`AksEvent`; the service layer then
checks the cluster against the policy's scopes. Events are hints: nothing here
decides anything, it only refuses what is malformed, with a reason.

Facts from the samples (azure-rest-api-specs, Microsoft.ContainerService
2018-01-01 examples): `subject` is the cluster's name and its resource ID is in
`topic` or `source`; `NodePoolRolling*` carry only `nodePoolName`;
`ClusterSupportEnding`/`Ended` carry `kubernetesVersion`;
`NewKubernetesVersionAvailable` carries the latest supported, stable, preview
and lowest minor versions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from patchpilot.domain.errors import UnhandledEventError
from patchpilot.domain.fields import Fields
from patchpilot.domain.instants import parse_instant
from patchpilot.domain.resource_ids import ClusterId, is_pool_name, parse_cluster_id

PREFIX = "Microsoft.ContainerService."
NEW_KUBERNETES_VERSION = PREFIX + "NewKubernetesVersionAvailable"
SUPPORT_ENDING = PREFIX + "ClusterSupportEnding"
SUPPORT_ENDED = PREFIX + "ClusterSupportEnded"
ROLLING_STARTED = PREFIX + "NodePoolRollingStarted"
ROLLING_SUCCEEDED = PREFIX + "NodePoolRollingSucceeded"
ROLLING_FAILED = PREFIX + "NodePoolRollingFailed"

# The event types Patch Pilot handles; infra subscribes to exactly these.
HANDLED_EVENT_TYPES = (
    NEW_KUBERNETES_VERSION,
    SUPPORT_ENDING,
    SUPPORT_ENDED,
    ROLLING_STARTED,
    ROLLING_SUCCEEDED,
    ROLLING_FAILED,
)
_ROLLING = (ROLLING_STARTED, ROLLING_SUCCEEDED, ROLLING_FAILED)
_SUPPORT = (SUPPORT_ENDING, SUPPORT_ENDED)
# Bounds that no genuine event comes near; they keep hostile payloads cheap.
MAX_TEXT: Final = 1024
_MAX_ID = 256

Schema = Literal["EventGridSchema", "CloudEventSchemaV1_0"]


@dataclass(frozen=True)
class AksEvent:
    """One AKS event, whichever schema it came in."""

    id: str
    type: str
    cluster: ClusterId
    time: dt.datetime
    schema: Schema
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def short_type(self) -> str:
        """`NodePoolRollingFailed` rather than the full `Microsoft.ContainerService.` name."""
        return self.type.removeprefix(PREFIX)

    @property
    def node_pool(self) -> str | None:
        """The pool of a NodePoolRolling* event."""
        value = self.data.get("nodePoolName")
        return value if isinstance(value, str) else None

    @property
    def kubernetes_version(self) -> str | None:
        """The cluster's version in ClusterSupportEnding/Ended."""
        value = self.data.get("kubernetesVersion")
        return value if isinstance(value, str) else None

    @property
    def latest_supported_version(self) -> str | None:
        """NewKubernetesVersionAvailable's latest supported version."""
        value = self.data.get("latestSupportedKubernetesVersion")
        return value if isinstance(value, str) else None


def parse_aks_event(payload: object) -> AksEvent:
    """Validate an event envelope and its data; raise InvalidInputError with the reason."""
    envelope = Fields.of(payload, path="event")
    schema, (type_name, resource_name, time_name) = envelope_schema(envelope)
    event_type = bounded_text(envelope, type_name)
    if event_type not in HANDLED_EVENT_TYPES:
        raise UnhandledEventError(f"event type {_short(event_type)!r} is not handled", path="event")
    cluster = parse_cluster_id(bounded_text(envelope, resource_name), path=f"event.{resource_name}")
    subject = bounded_text(envelope, "subject")
    if subject != cluster.name:
        raise envelope.error(
            "subject", f"{_short(subject)!r} is not the cluster named by the resource ID"
        )
    return AksEvent(
        id=bounded_text(envelope, "id", limit=_MAX_ID),
        type=event_type,
        cluster=cluster,
        time=parse_instant(bounded_text(envelope, time_name), path=f"event.{time_name}"),
        schema=schema,
        data=_data(envelope, event_type),
    )


def envelope_schema(envelope: Fields) -> tuple[Schema, tuple[str, str, str]]:
    """The schema, told apart by its mandatory fields, and its names of the type, topic and time.

    Every Event Grid trigger reads its envelope here (AKS's events, Fleet
    Manager's gates, AKS Communication Manager's announcements). The
    CloudEvents attribute is `specversion`; the AKS sample for
    NewKubernetesVersionAvailable spells it `specVersion`, so both are read.
    """
    for key in ("specversion", "specVersion"):
        if envelope.has(key):
            if envelope.raw(key) != "1.0":
                raise envelope.error(key, "only CloudEvents 1.0 is supported")
            return "CloudEventSchemaV1_0", ("type", "source", "time")
    if envelope.has("eventType"):
        return "EventGridSchema", ("eventType", "topic", "eventTime")
    raise envelope.error(
        None, "neither an Event Grid event (eventType) nor a CloudEvent (specversion)"
    )


def _data(envelope: Fields, event_type: str) -> dict[str, Any]:
    data = envelope.child("data")
    if event_type in _ROLLING:
        return {"nodePoolName": _pool_name(data)}
    if event_type in _SUPPORT:
        return {"kubernetesVersion": bounded_text(data, "kubernetesVersion", limit=64)}
    versions = (
        "latestSupportedKubernetesVersion",
        "latestStableKubernetesVersion",
        "lowestMinorKubernetesVersion",
        "latestPreviewKubernetesVersion",
    )
    return {name: bounded_text(data, name, limit=64) for name in versions if data.has(name)}


def _pool_name(data: Fields) -> str:
    """AKS's pool name rule (resource_ids.is_pool_name), within the event's 64-character bound.

    The bound stays 64, not AKS's 12: a longer name has always passed here, and an
    event is only a hint (the reconcile plans from the pools it reads from ARM).
    """
    name = bounded_text(data, "nodePoolName", limit=64)
    if not is_pool_name(name, longest=64):
        raise data.error("nodePoolName", f"{_short(name)!r} is not an AKS node pool name")
    return name


def bounded_text(fields: Fields, key: str, *, limit: int = MAX_TEXT) -> str:
    """A non-empty string no longer than `limit`: an event's fields are bounded before use."""
    value = fields.text(key)
    if len(value) > limit:
        raise fields.error(key, f"is longer than {limit} characters")
    return value


def _short(text: str) -> str:
    return text if len(text) <= 80 else text[:80] + "..."

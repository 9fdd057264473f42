"""Patch Pilot's own CloudEvents: advance notice and the events AKS does not send.

`UpgradeScheduled` (a configurable time before the window opens), and
`UpgradeStarted`, `UpgradeSucceeded`, `UpgradeFailed`, `NodeImageAvailable`,
`ClusterPaused`, each with the cluster, pool, versions, window and reason;
`FleetGateApproved` when Patch Pilot approved a Fleet Manager gate (its
subject the gate's resource ID; data: fleet, update run, stage, group,
timing, the clusters behind it and the reason; docs/fleet-gates.md).
They go to an Event Grid topic named in settings, through azure-eventgrid's
publisher client with a managed identity.

Publishing never blocks an upgrade decision: a failure is retried a few
times with backoff (tenacity; the SDK's own retry is off) and then logged and
counted, never raised to the caller.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.eventgrid._legacy import EventGridPublisherClient

_log = logging.getLogger(__name__)

SOURCE = "/patchpilot"
TYPE_PREFIX = "PatchPilot."
EVENT_TYPES = (
    "UpgradeScheduled",
    "UpgradeStarted",
    "UpgradeSucceeded",
    "UpgradeFailed",
    "NodeImageAvailable",
    "ClusterPaused",
    "FleetGateApproved",
)


@dataclass(frozen=True)
class Notice:
    """One event to publish: its short type, the cluster it is about, and its data."""

    type: str
    subject: str
    data: Mapping[str, Any]
    time: dt.datetime
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise ValueError(f"unknown Patch Pilot event type {self.type!r}")

    def cloud_event(self) -> dict[str, Any]:
        """The CloudEvents 1.0 JSON form."""
        return {
            "specversion": "1.0",
            "id": self.id,
            "source": SOURCE,
            "type": TYPE_PREFIX + self.type,
            "subject": self.subject,
            "time": self.time.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "datacontenttype": "application/json",
            "data": dict(self.data),
        }


class Publisher(Protocol):
    """Where notices go; never raises."""

    def publish(self, notice: Notice) -> bool:
        """Send one notice; False when it could not be delivered (already logged)."""
        ...


class NullPublisher:
    """No topic configured: notices are logged at debug level only."""

    def publish(self, notice: Notice) -> bool:
        """Drop the notice."""
        _log.debug("no event topic configured; dropped %s for %s", notice.type, notice.subject)
        return False


@dataclass
class RecordingPublisher:
    """Keeps notices in memory (the demo's timeline, tests)."""

    notices: list[Notice] = field(default_factory=list)

    def publish(self, notice: Notice) -> bool:
        """Remember the notice."""
        self.notices.append(notice)
        return True


class EventGridPublisher:
    """Publishes to an Event Grid topic; the client is built on first use (cold start)."""

    def __init__(
        self,
        endpoint: str,
        credential: TokenCredential,
        *,
        attempts: int = 3,
        sleep: Callable[[float], None] | None = None,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._endpoint = endpoint
        self._credential = credential
        self._attempts = attempts
        self._sleep = sleep
        self._options = dict(client_options or {})
        self._client: EventGridPublisherClient | None = None

    def publish(self, notice: Notice) -> bool:
        """Send with a few retries; a final failure is logged and reported as False."""
        import tenacity
        from azure.core.exceptions import AzureError

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self._attempts),
            wait=tenacity.wait_exponential_jitter(multiplier=0.5, max=5),
            retry=tenacity.retry_if_exception_type(AzureError),
            sleep=self._sleep or tenacity.nap.sleep,
            reraise=True,
        )
        try:
            retrying(self._send, notice)
        except AzureError as exc:
            # Policy: notices are best effort; the upgrade decision already stands.
            _log.warning("could not publish %s for %s: %s", notice.type, notice.subject, exc)
            return False
        return True

    def _send(self, notice: Notice) -> None:
        self._publisher().send([notice.cloud_event()])

    def _publisher(self) -> EventGridPublisherClient:
        if self._client is None:
            # The public EventGridPublisherClient drops every keyword for basic
            # topics (azure-eventgrid 4.22), so its retries could not be turned
            # off; the basic-topic client it wraps takes them. One retry layer:
            # tenacity above, and the SDK must not multiply it.
            from azure.eventgrid._legacy import EventGridPublisherClient

            self._client = EventGridPublisherClient(
                self._endpoint, self._credential, retry_total=0, **self._options
            )
        return self._client

"""The Event Grid events AKS emits, in the Event Grid schema or CloudEvents 1.0, and their delivery.

Envelopes follow the azure-rest-api-specs examples for
``Microsoft.ContainerService`` system events: the cluster's resource ID is the
``topic`` (Event Grid schema) or ``source`` (CloudEvents), its name the
``subject``. Ids are fresh GUIDs; times are the simulated instant the thing
happened. AKS emits no event for new node images, so neither does this.

One spelling differs from the fixtures on purpose: the CloudEvents example of
``NewKubernetesVersionAvailable`` writes ``specVersion``, every other example
and the CloudEvents 1.0 specification write ``specversion``, which is what is
sent here.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import queue
import threading
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal

from patchpilot.errors import InvalidInputError
from patchpilot.sim.payloads import arm_time

EventSchema = Literal["EventGridSchema", "CloudEventSchemaV1_0"]
EventSink = Callable[[dict[str, Any]], None]
SCHEMAS: Final[tuple[str, ...]] = ("EventGridSchema", "CloudEventSchemaV1_0")
EVENT_PREFIX: Final = "Microsoft.ContainerService."

_log = logging.getLogger(__name__)


def envelope(
    event: str, cluster_id: str, data: dict[str, Any], at: dt.datetime, schema: EventSchema
) -> dict[str, Any]:
    """One event, shaped exactly like the specs' examples for ``schema``."""
    name = cluster_id.rstrip("/").rsplit("/", 1)[-1]
    if schema == "EventGridSchema":
        return {
            "topic": cluster_id,
            "subject": name,
            "eventType": EVENT_PREFIX + event,
            "id": str(uuid.uuid4()),
            "data": data,
            "dataVersion": "1",
            "metadataVersion": "1",
            "eventTime": arm_time(at),
        }
    if schema == "CloudEventSchemaV1_0":
        return {
            "source": cluster_id,
            "subject": name,
            "type": EVENT_PREFIX + event,
            "time": arm_time(at),
            "id": str(uuid.uuid4()),
            "data": data,
            "specversion": "1.0",
        }
    raise InvalidInputError(
        f"unknown event schema {schema!r}; expected one of: {', '.join(SCHEMAS)}"
    )


class HttpEventSink:
    """Delivers events to a webhook as Event Grid does: a JSON array per POST.

    A background thread posts in order, so a slow or failing endpoint never
    holds up the simulator; delivery failures are logged, not retried.
    """

    def __init__(self, url: str, schema: EventSchema, *, timeout: float = 5.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise InvalidInputError(f"--event-sink must be an http(s) URL, got {url!r}")
        self._url = url
        self._timeout = timeout
        self._content_type = (
            "application/json"
            if schema == "EventGridSchema"
            else "application/cloudevents-batch+json"
        )
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._deliver, name="sim-event-sink", daemon=True)
        self._thread.start()

    def __call__(self, event: dict[str, Any]) -> None:
        """Queue one event for delivery."""
        self._queue.put(event)

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _deliver(self) -> None:
        while True:
            event = self._queue.get()
            if event is None:
                return
            self._post([event])

    def _post(self, events: Sequence[dict[str, Any]]) -> None:
        request = urllib.request.Request(  # noqa: S310  # the URL's scheme is checked above
            self._url,
            data=json.dumps(events).encode(),
            headers={"Content-Type": self._content_type, "aeg-event-type": "Notification"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout):  # noqa: S310
                pass
        except OSError as exc:
            _log.warning("event delivery to %s failed: %s", self._url, exc)

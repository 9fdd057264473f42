"""What the Functions host hands the Python worker, decoded by the worker's own converters.

The local host (:mod:`patchpilot.localhost.host`) builds each input in the wire form
the real host sends over gRPC and lets the `azure.functions` library turn it
into the value a function receives, so the app sees what it would see in
Azure, quirks included. Where the host itself shapes the input before the
worker sees it, this module follows the host's code, cited line by line:

- HTTP: the host fills `RpcHttp.query` from the request's query string and
  **leaves out every empty value** (``?cluster=`` reaches the function as no
  `cluster` at all), joins a repeated key's values with commas (ASP.NET's
  `StringValues.ToString()`), lower-cases header names, and keeps the raw
  query string in the URL (Azure/azure-functions-host,
  `src/WebJobs.Script.Grpc/MessageExtensions/GrpcMessageConversionExtensions.cs`,
  `ToRpcHttp`: ``if (!string.IsNullOrEmpty(value)) http.Query.Add(...)``; the
  nullable-query branch needs the `UseNullableValueDictionaryForHttp`
  capability, which the Python worker never declares:
  Azure/azure-functions-python-worker 4.34, `azure_functions_worker/dispatcher.py`
  `_handle__worker_init_request`, capabilities at lines 376-383). The worker
  copies `http.query` into the datum (`azure_functions_worker/bindings/datumdef.py`
  lines 72-89) and `azure.functions.http.HttpRequestConverter.decode` makes
  `HttpRequest.params` from it. The worker declares `RawHttpBodyBytes`, so
  the body arrives as bytes (empty when there is none).
- Event Grid: the trigger extension takes a JSON object as one event and a
  JSON array as a batch, and refuses anything else; it invokes the function
  once per element (Azure/azure-sdk-for-net,
  `sdk/eventgrid/Microsoft.Azure.WebJobs.Extensions.EventGrid/src/TriggerBinding/HttpRequestProcessor.cs`,
  `ProcessAsync`). Each element goes to the worker as JSON and
  `azure.functions.eventgrid.EventGridEventInConverter` decides the schema:
  a body with a lower-case `specversion` is a CloudEvent, anything else an
  Event Grid event (so the REST spec's `specVersion` sample arrives as an
  Event Grid event with no type).
- Queues: the message text plus the trigger metadata the Storage extension
  sends (Id, DequeueCount, PopReceipt, the three times), through
  `azure.functions.queue.QueueMessageInConverter`.
- Context: a function that takes a `context` parameter gets an
  :class:`InvocationContext` (the worker's `bindings.Context`: invocation id,
  trace context, retry context); its `trace_context.trace_parent` names the
  host's own invocation span, a child of an HTTP caller's `traceparent`.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import secrets
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import azure.functions as func
from azure.functions import _abc as azf_abc
from azure.functions import meta
from azure.functions.eventgrid import EventGridEventInConverter
from azure.functions.http import HttpRequestConverter
from azure.functions.queue import QueueMessageInConverter

from patchpilot.adapters.queues import Delivery

# The Storage extension's default message time to live (Azure Storage's own: 7 days).
MESSAGE_TTL: Final = dt.timedelta(days=7)
_TRACEPARENT_HEADER: Final = "traceparent"
_TRACESTATE_HEADER: Final = "tracestate"


# HTTP ------------------------------------------------------------------------------------


def query_values(query: str, given: Mapping[str, str] | None = None) -> dict[str, str]:
    """The query map the host sends: repeated keys joined by commas, empty values left out.

    `query` is the raw query string; `given` are values a caller already
    split (the last one of a key wins there); both pass the same filter.
    """
    joined: dict[str, list[str]] = {}
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        joined.setdefault(key, []).append(value)
    values = {key: ",".join(parts) for key, parts in joined.items()}
    values.update(given or {})
    # The host's rule (ToRpcHttp): an empty value never reaches the worker.
    return {key: value for key, value in values.items() if value}


def http_request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    route_params: Mapping[str, str],
    body: bytes,
) -> func.HttpRequest:
    """Decode an HTTP request from the host's RpcHttp form with the worker's converter."""
    value = {
        "method": meta.Datum(method.upper(), "string"),
        "url": meta.Datum(url, "string"),
        # The host lower-cases header names (ToRpcHttp) and keeps empty values.
        "headers": {k.lower(): meta.Datum(v, "string") for k, v in headers.items()},
        "body": meta.Datum(body, "bytes"),
        "params": {k: meta.Datum(v, "string") for k, v in route_params.items()},
        "query": {k: meta.Datum(v, "string") for k, v in query.items()},
    }
    request: func.HttpRequest = HttpRequestConverter.decode(
        meta.Datum(value, "http"), trigger_metadata=None
    )
    return request


def caller_traceparent(headers: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The caller's W3C `traceparent` and `tracestate` headers (any case), if sent."""
    lowered = {key.lower(): value for key, value in headers.items()}
    return lowered.get(_TRACEPARENT_HEADER), lowered.get(_TRACESTATE_HEADER)


# Event Grid ------------------------------------------------------------------------------


def event_batch(payload: Any) -> list[Any]:
    """The events of one Event Grid delivery: an object is one event, an array a batch.

    Anything else is refused, as the trigger extension refuses it (Event
    Grid then retries the delivery): a :class:`ValueError`.
    """
    if isinstance(payload, Mapping):
        return [payload]
    if isinstance(payload, list):
        return list(payload)
    raise ValueError(
        "the request content should be parseable into a JSON object or array, "
        f"but was {type(payload).__name__}"
    )


def event(element: Any) -> func.EventGridEvent | func.CloudEvent:
    """One element of a delivery, decoded by the worker's Event Grid converter."""
    decoded: func.EventGridEvent | func.CloudEvent = EventGridEventInConverter.decode(
        meta.Datum(json.dumps(element), "json"), trigger_metadata={}
    )
    return decoded


# Queues ----------------------------------------------------------------------------------


def queue_message(delivery: Delivery, now: dt.datetime, lock: dt.timedelta) -> func.QueueMessage:
    """A received message with the trigger metadata the Storage extension sends."""
    metadata = {
        "Id": meta.Datum(delivery.id, "string"),
        "DequeueCount": meta.Datum(delivery.dequeue_count, "int"),
        "PopReceipt": meta.Datum(delivery.receipt, "string"),
        "InsertionTime": meta.Datum(_iso(delivery.inserted_at), "string"),
        "NextVisibleTime": meta.Datum(_iso(now + lock), "string"),
        "ExpirationTime": meta.Datum(_iso(delivery.inserted_at + MESSAGE_TTL), "string"),
    }
    message: func.QueueMessage = QueueMessageInConverter.decode(
        meta.Datum(delivery.text, "string"), trigger_metadata=metadata
    )
    return message


# Context ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostTraceContext(azf_abc.TraceContext):
    """The trace context the host sends with an invocation (its invocation span)."""

    parent: str
    state: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def trace_parent(self) -> str:
        return self.parent

    @property
    def trace_state(self) -> str:
        return self.state

    @property
    def attributes(self) -> dict[str, str]:
        return dict(self.extra)


@dataclass(frozen=True)
class NoRetry(azf_abc.RetryContext):
    """The retry context of a function with no retry policy (all zeros, as the host sends)."""

    @property
    def retry_count(self) -> int:
        return 0

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> azf_abc.RpcException:
        raise LookupError("no retry policy: the host sends no exception")


@dataclass(frozen=True)
class InvocationContext(azf_abc.Context):
    """What the worker passes as `context`: names, invocation id, trace and retry contexts."""

    name: str
    invocation: str
    trace: HostTraceContext
    directory: str = ""
    local: threading.local = field(default_factory=threading.local)

    @property
    def invocation_id(self) -> str:
        return self.invocation

    @property
    def thread_local_storage(self) -> Any:
        return self.local

    @property
    def function_name(self) -> str:
        return self.name

    @property
    def function_directory(self) -> str:
        return self.directory

    @property
    def trace_context(self) -> HostTraceContext:
        return self.trace

    @property
    def retry_context(self) -> NoRetry:
        return NoRetry()


def invocation_context(
    name: str, invocation_id: str, caller: str | None = None, state: str | None = None
) -> InvocationContext:
    """A new invocation's context: the host's span, in the caller's trace when one was sent.

    The host starts an activity per invocation (a child of the HTTP caller's
    `traceparent` when valid, else a new trace) and sends its id as
    `trace_context.trace_parent`.
    """
    trace_id = _trace_id(caller) or secrets.token_hex(16)
    parent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    return InvocationContext(name, invocation_id, HostTraceContext(parent, state or ""))


def wants_context(call: Callable[..., Any]) -> bool:
    """True when the function declares a `context` parameter (the worker's own test)."""
    try:
        return "context" in inspect.signature(call).parameters
    except (TypeError, ValueError):  # a callable without a signature takes none
        return False


def _trace_id(traceparent: str | None) -> str | None:
    """The trace id of a well-formed W3C `traceparent`, else None (a new trace starts)."""
    parts = (traceparent or "").strip().split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or set(parts[1]) == {"0"}:
        return None
    try:
        int(parts[1], 16)
    except ValueError:
        return None
    return parts[1].lower()


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()

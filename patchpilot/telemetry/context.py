"""Trace context that crosses the reconcile queue: W3C `traceparent` out, links in.

Azure Storage queues carry no message metadata, so neither the Functions host
nor the Storage SDK can propagate a trace through them: the trigger that
enqueues (an Event Grid event, a timer, an HTTP call) puts
:func:`current_traceparent` in the message body
(:class:`~patchpilot.domain.messages.ReconcileRequest`), and the reconcile
worker turns it back into a span link with :func:`link_from`. A link, not a
parent: the message may wait, be retried or arrive twice, and the worker's own
invocation (the host's queue-trigger span in Azure) stays the parent.

Only the OpenTelemetry API is imported here (cold start). Called by
:mod:`patchpilot.telemetry.recorder` and by the functions that enqueue.
"""

from __future__ import annotations

from typing import Final

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanContext
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT: Final = "traceparent"
TRACESTATE: Final = "tracestate"
# W3C trace context only: baggage is not carried through the queue on purpose
# (the message is a hint about a cluster, not a request with a caller).
_PROPAGATOR: Final = TraceContextTextMapPropagator()


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current span, or None when no span is recording."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get(TRACEPARENT)


def context_from(traceparent: str | None, tracestate: str | None = None) -> Context | None:
    """A parent context from a `traceparent` (an HTTP header, the host's trace context).

    None when there is no valid `traceparent`, so the caller falls back to the
    current context instead of starting from a broken parent.
    """
    if not traceparent:
        return None
    carrier = {TRACEPARENT: traceparent}
    if tracestate:
        carrier[TRACESTATE] = tracestate
    context = _PROPAGATOR.extract(carrier)
    if not trace.get_current_span(context).get_span_context().is_valid:
        return None
    return context


def span_context_from(traceparent: str | None) -> SpanContext | None:
    """The remote span a `traceparent` names, or None when it is absent or malformed."""
    context = context_from(traceparent)
    if context is None:
        return None
    return trace.get_current_span(context).get_span_context()


def link_from(traceparent: str | None) -> list[Link]:
    """Links to the span that caused this work; empty when there is none to link to.

    A malformed `traceparent` gives no link rather than an error: telemetry
    never stops a reconcile (the message itself was validated on decode).
    """
    span_context = span_context_from(traceparent)
    if span_context is None:
        return []
    return [Link(span_context, {"patchpilot.link": "caused_by"})]

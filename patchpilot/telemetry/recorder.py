"""The :class:`Telemetry` handle: the spans and metrics of one Patch Pilot process.

The service layer receives a :class:`Telemetry` explicitly (kopf-style, no
service locator). In production it is :meth:`Telemetry.default`, built on the
global OpenTelemetry providers, which :func:`~patchpilot.telemetry.configure_telemetry`
or the Functions worker set up once; tests pass the one from
:func:`~patchpilot.telemetry.testing.in_memory_telemetry`, so each test sees
only its own spans and metrics even though global providers can be set once
per process.

Spans are named for what they are: `function.<name>` (one invocation),
`reconcile` (one cluster), `plan`, `arm.<operation>`, `store.<write>`. Every
planner decision is a `decision` event on the span that made it, with its
reason. All of them are INTERNAL spans: in Azure the host already emits the
invocation's SERVER/CONSUMER span and the Azure SDK its HTTP CLIENT spans, so
ours nest inside without counting a request or a dependency twice.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol

from opentelemetry import metrics, trace
from opentelemetry.trace import Span, Status, StatusCode, Tracer

from patchpilot import __version__
from patchpilot.domain.plan import Action, Plan, iso
from patchpilot.telemetry.context import context_from, link_from
from patchpilot.telemetry.instruments import Instruments, instruments_for

INSTRUMENTATION_NAME: Final = "patchpilot"
CLUSTER: Final = "patchpilot.cluster"
DECISION: Final = "decision"
# OpenTelemetry FaaS conventions name the trigger kinds; Event Grid and queue
# triggers are both `pubsub`.
Trigger = Literal["http", "pubsub", "timer", "datasource", "other"]
# The values OpenTelemetry accepts as attributes. Its own alias is a chained
# assignment in opentelemetry-api 1.45.0, which mypy does not take as a type.
AttributeValue = (
    str | bool | int | float | Sequence[str] | Sequence[bool] | Sequence[int] | Sequence[float]
)
Attributes = Mapping[str, AttributeValue]


class HostTraceContext(Protocol):
    """What the Functions host sends as an invocation's trace context (`Context.trace_context`)."""

    @property
    def trace_parent(self) -> str:
        """The W3C `traceparent` of the host's invocation span."""
        ...

    @property
    def trace_state(self) -> str:
        """Its W3C `tracestate` (often empty)."""
        ...


@dataclass(frozen=True)
class Telemetry:
    """A tracer and the metrics, with helpers that give every span the same names and attributes."""

    tracer: Tracer
    instruments: Instruments

    @classmethod
    def default(cls) -> Telemetry:
        """The process's one handle on the global providers, usable before they are configured.

        The API's proxies forward to the providers :func:`configure_telemetry`
        or the worker installs later, so building this at start-up is safe.
        """
        return _default()

    @classmethod
    def from_providers(
        cls, tracer_provider: trace.TracerProvider, meter_provider: metrics.MeterProvider
    ) -> Telemetry:
        """Built on explicit providers (tests, the in-memory demo)."""
        return cls(
            tracer=tracer_provider.get_tracer(INSTRUMENTATION_NAME, __version__),
            instruments=instruments_for(
                meter_provider.get_meter(INSTRUMENTATION_NAME, __version__)
            ),
        )

    @contextmanager
    def invocation(
        self,
        function: str,
        trigger: Trigger,
        *,
        invocation_id: str | None = None,
        traceparent: str | None = None,
        tracestate: str | None = None,
        host: HostTraceContext | None = None,
    ) -> Iterator[Span]:
        """The span of one function invocation, `function.<name>`.

        Pass `host=context.trace_context` (or its `trace_parent` and
        `trace_state`) so the span is the child of the host's invocation span
        even where the worker did not attach it: sync functions on the Python
        3.13+ workers, OpenTelemetry off, the local host. Without it the span
        continues the current context.
        """
        if host is not None:
            traceparent = traceparent or host.trace_parent or None
            tracestate = tracestate or host.trace_state or None
        attributes: dict[str, AttributeValue] = {"faas.name": function, "faas.trigger": trigger}
        if invocation_id:
            attributes["faas.invocation_id"] = invocation_id
        with self.tracer.start_as_current_span(
            f"function.{function}",
            context=context_from(traceparent, tracestate),
            attributes=attributes,
        ) as span:
            yield span

    @contextmanager
    def linked_span(
        self, name: str, traceparent: str | None, *, attributes: Attributes | None = None
    ) -> Iterator[Span]:
        """A span in the current context that links to the span a `traceparent` names.

        This is how a queue-triggered span points back at the Event Grid event,
        timer or HTTP call that enqueued its message. With no (valid)
        `traceparent` it is a plain child of the current span.
        """
        with self.tracer.start_as_current_span(
            name, links=link_from(traceparent), attributes=attributes
        ) as span:
            yield span

    @contextmanager
    def reconcile(self, cluster: str, *, traceparent: str | None = None) -> Iterator[Span]:
        """The `reconcile` span of one cluster, linked to its cause; records its duration."""
        started = time.perf_counter()
        outcome = "error"
        try:
            with self.linked_span("reconcile", traceparent, attributes={CLUSTER: cluster}) as span:
                yield span
                outcome = "ok"
        finally:
            self.instruments.reconcile_took(time.perf_counter() - started, outcome)

    @contextmanager
    def plan(self, *, cluster: str | None = None) -> Iterator[Span]:
        """The `plan` span; call :meth:`record_plan` inside it with the planner's answer."""
        attributes: dict[str, AttributeValue] = {}
        if cluster:
            attributes[CLUSTER] = cluster
        with self.tracer.start_as_current_span("plan", attributes=attributes) as span:
            yield span

    def record_plan(self, span: Span, plan: Plan) -> None:
        """Decision counts as attributes, and one `decision` event per action."""
        for status, count in plan.counts().items():
            span.set_attribute(f"patchpilot.plan.{status}", count)
        span.set_attribute("patchpilot.plan.findings", len(plan.findings))
        for action in plan.actions:
            decision(span, action)

    @contextmanager
    def arm_call(self, operation: str, *, cluster: str | None = None) -> Iterator[ArmCall]:
        """The `arm.<operation>` span of one logical ARM call, retries included.

        Report each HTTP attempt with :meth:`ArmCall.attempt`; the span ends
        with the last answer's status and request ID and the retry count.
        """
        attributes: dict[str, AttributeValue] = {"patchpilot.arm.operation": operation}
        if cluster:
            attributes[CLUSTER] = cluster
        with self.tracer.start_as_current_span(f"arm.{operation}", attributes=attributes) as span:
            call = ArmCall(operation, span, self.instruments)
            try:
                yield call
            finally:
                call.close()

    @contextmanager
    def store_write(
        self, write: str, *, cluster: str | None = None, attributes: Attributes | None = None
    ) -> Iterator[Span]:
        """The `store.<write>` span of one write to the state store (ledger, lease, history)."""
        merged: dict[str, AttributeValue] = {"patchpilot.store.write": write}
        if cluster:
            merged[CLUSTER] = cluster
        merged.update(attributes or {})
        with self.tracer.start_as_current_span(f"store.{write}", attributes=merged) as span:
            yield span


@dataclass
class ArmCall:
    """What one logical ARM call saw: its attempts, last status and ARM request ID."""

    operation: str
    span: Span
    instruments: Instruments
    attempts: int = 0
    status: str | None = None
    request_id: str | None = None
    _closed: bool = field(default=False, repr=False)

    def attempt(self, status: int | str, *, request_id: str | None = None) -> None:
        """Report one HTTP attempt: its status (or `error` with no answer) and x-ms-request-id."""
        self.attempts += 1
        self.status = str(status)
        if request_id:
            self.request_id = request_id
        self.instruments.arm_request(self.operation, status)

    @property
    def retries(self) -> int:
        """Attempts after the first."""
        return max(self.attempts - 1, 0)

    def close(self) -> None:
        """Write the final attributes on the span (once)."""
        if self._closed:
            return
        self._closed = True
        self.span.set_attribute("patchpilot.arm.retry_count", self.retries)
        if self.status is not None:
            self.span.set_attribute("patchpilot.arm.status", self.status)
        if self.request_id is not None:
            self.span.set_attribute("patchpilot.arm.request_id", self.request_id)
        # A 409 busy cluster is an expected answer, not a broken call: only
        # the other failed answers mark the span as an error.
        if self.status is not None and not _is_success(self.status) and self.status != "409":
            self.span.set_status(Status(StatusCode.ERROR, f"ARM answered {self.status}"))


@functools.cache
def _default() -> Telemetry:
    """One default handle per process: proxy meters are new objects on every call."""
    return Telemetry.from_providers(trace.get_tracer_provider(), metrics.get_meter_provider())


def decision(span: Span, action: Action) -> None:
    """Add one planner decision to a span as a `decision` event, with its reason.

    The attributes are the `plan --json` fields; a null field (the control
    plane's pool, a blocked action's target or time) is left out.
    """
    values: dict[str, AttributeValue | None] = {
        "cluster": str(action.cluster),
        "pool": action.pool,
        "kind": action.kind,
        "current": action.current,
        "target": action.target,
        "status": action.status,
        "not_before": iso(action.not_before),
        "ring": action.ring,
        "reason": action.reason,
    }
    span.add_event(DECISION, {key: value for key, value in values.items() if value is not None})


def _is_success(status: str) -> bool:
    """2xx answers (and 3xx, which the SDK follows) are successes."""
    return status.isdigit() and 200 <= int(status) < 400

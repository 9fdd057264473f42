"""OpenTelemetry for Patch Pilot: spans, metrics, queue trace context and structured logs.

The service layer and the functions use:

- :class:`Telemetry` (injected; :meth:`Telemetry.default` in production) for
  the spans `function.<name>`, `reconcile`, `plan`, `arm.<operation>`,
  `store.<write>`, the `decision` events and the metrics;
- :func:`current_traceparent` to put in a reconcile message and
  :func:`link_from` / :meth:`Telemetry.reconcile` to link back to it;
- :func:`configure_telemetry` and :func:`configure_logging`, once at start-up
  in `patchpilot serve` and `patchpilot demo` (never at import, never in the
  Functions worker, which configures Azure Monitor itself);
- :func:`quiet_sdk_loggers`, once in `function_app.py`: the Azure SDK's
  per-request INFO records stay out of Application Insights.

Tests use :func:`patchpilot.telemetry.testing.in_memory_telemetry`. Importing
this package loads only the OpenTelemetry API; the SDK and the exporters load
inside :func:`configure_telemetry` (cold start). docs/telemetry.md lists every
span, attribute and metric.
"""

from patchpilot.sdk_logs import quiet_sdk_loggers
from patchpilot.telemetry.context import (
    context_from,
    current_traceparent,
    link_from,
    span_context_from,
)
from patchpilot.telemetry.instruments import Instruments, count_pools_behind
from patchpilot.telemetry.logs import configure_logging, current_ids
from patchpilot.telemetry.recorder import ArmCall, Telemetry, Trigger, decision
from patchpilot.telemetry.setup import TelemetrySetup, choose_export, configure_telemetry

__all__ = [
    "ArmCall",
    "Instruments",
    "Telemetry",
    "TelemetrySetup",
    "Trigger",
    "choose_export",
    "configure_logging",
    "configure_telemetry",
    "context_from",
    "count_pools_behind",
    "current_ids",
    "current_traceparent",
    "decision",
    "link_from",
    "quiet_sdk_loggers",
    "span_context_from",
]

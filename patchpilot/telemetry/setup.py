"""Where telemetry goes: chosen from the environment, set up once at start-up, never at import.

Called once by the processes Patch Pilot starts itself (`patchpilot serve`,
`patchpilot demo`): :func:`configure_telemetry`. Inside the Azure Functions
Python worker, `PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true` makes the
worker call `configure_azure_monitor()` before the app is indexed; calling it a
second time would add a second set of exporters and send every span, metric
and log twice, so there this does nothing. Everywhere else:

- `APPLICATIONINSIGHTS_CONNECTION_STRING` set: Azure Monitor, through the
  azure-monitor-opentelemetry distro (traces, metrics, and the `patchpilot`
  logger's records);
- `OTEL_EXPORTER_OTLP_ENDPOINT` set: OTLP over HTTP/protobuf (traces and
  metrics; logs stay JSON lines on stderr, see :mod:`patchpilot.telemetry.logs`);
- both: Azure Monitor with the OTLP exporters added to the same providers;
- neither (or `OTEL_SDK_DISABLED=true`): nothing is exported, and the API's
  no-op providers make every span and metric nearly free.

:func:`choose_export` makes the choice without side effects, so tests and the
start-up log can show it. The SDK and the exporters are imported only inside
the functions that install them (cold start).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from opentelemetry import metrics, trace

from patchpilot import __version__

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

APPLICATIONINSIGHTS_CONNECTION_STRING: Final = "APPLICATIONINSIGHTS_CONNECTION_STRING"
OTEL_EXPORTER_OTLP_ENDPOINT: Final = "OTEL_EXPORTER_OTLP_ENDPOINT"
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: Final = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: Final = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"
OTEL_EXPORTER_OTLP_HEADERS: Final = "OTEL_EXPORTER_OTLP_HEADERS"
OTEL_SERVICE_NAME: Final = "OTEL_SERVICE_NAME"
OTEL_SDK_DISABLED: Final = "OTEL_SDK_DISABLED"
PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY: Final = "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"
# Set by the Functions host for every worker it starts (the Azure Monitor
# exporter tests the same variable to know it runs in Functions).
FUNCTIONS_WORKER_RUNTIME: Final = "FUNCTIONS_WORKER_RUNTIME"
# Only our records go to Application Insights: the Azure SDK's own INFO
# chatter (every HTTP request) would cost more than it tells.
LOGGER_NAME: Final = "patchpilot"
# What the Python worker itself accepts as true (azure_functions_worker.utils.common).
_TRUE_LIKE: Final = frozenset({"1", "true", "t", "yes", "y"})

Mode = Literal[
    "none", "otlp", "azure-monitor", "azure-monitor+otlp", "functions-worker", "already-configured"
]
_EXPORTING: Final = frozenset({"otlp", "azure-monitor", "azure-monitor+otlp"})


@dataclass(frozen=True)
class TelemetrySetup:
    """What :func:`configure_telemetry` chose, and why (the start-up log line says it)."""

    mode: Mode
    reason: str
    otlp_traces_endpoint: str | None = None
    otlp_metrics_endpoint: str | None = None

    @property
    def installs_exporters(self) -> bool:
        """True when this process sets up exporters itself (not the worker, not nobody)."""
        return self.mode in _EXPORTING


def choose_export(environ: Mapping[str, str]) -> TelemetrySetup:
    """Decide where telemetry goes from these variables; no side effects."""
    if _true(environ, OTEL_SDK_DISABLED):
        return TelemetrySetup("none", f"{OTEL_SDK_DISABLED} is true")
    if _value(environ, FUNCTIONS_WORKER_RUNTIME) and _true(
        environ, PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY
    ):
        return TelemetrySetup(
            "functions-worker",
            f"the Functions Python worker configures Azure Monitor "
            f"({PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY} is true); a second "
            "configuration would export everything twice",
        )
    azure = bool(_value(environ, APPLICATIONINSIGHTS_CONNECTION_STRING))
    traces, metrics_url = _otlp_endpoints(environ)
    if azure and traces:
        return TelemetrySetup(
            "azure-monitor+otlp",
            f"{APPLICATIONINSIGHTS_CONNECTION_STRING} and {OTEL_EXPORTER_OTLP_ENDPOINT} are set",
            traces,
            metrics_url,
        )
    if azure:
        return TelemetrySetup("azure-monitor", f"{APPLICATIONINSIGHTS_CONNECTION_STRING} is set")
    if traces:
        return TelemetrySetup("otlp", f"{OTEL_EXPORTER_OTLP_ENDPOINT} is set", traces, metrics_url)
    return TelemetrySetup(
        "none",
        f"neither {APPLICATIONINSIGHTS_CONNECTION_STRING} nor {OTEL_EXPORTER_OTLP_ENDPOINT} is set",
    )


def configure_telemetry(
    environ: Mapping[str, str], *, service_name: str = "patchpilot"
) -> TelemetrySetup:
    """Set up the global providers and exporters once; later calls return the first answer.

    Refuses to stack a second pipeline on providers someone else installed
    (an auto-instrumentation agent, an earlier library): that is the same
    double export as configuring Azure Monitor inside the worker.
    """
    with _ONCE.lock:
        if _ONCE.setup is not None:
            return _ONCE.setup
        setup = choose_export(environ)
        if setup.installs_exporters and _global_providers_set():
            setup = TelemetrySetup(
                "already-configured",
                "global OpenTelemetry providers were already set; "
                f"not adding a second export pipeline ({setup.reason})",
            )
        if setup.installs_exporters:
            _install(setup, environ, service_name)
        _ONCE.setup = setup
        return setup


class _Once:
    """The process-wide record that configuration happened (providers are process-wide too)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.setup: TelemetrySetup | None = None


_ONCE = _Once()


def _install(setup: TelemetrySetup, environ: Mapping[str, str], service_name: str) -> None:
    """Build and install the pipeline `setup` names."""
    resource = _resource(environ, service_name)
    if setup.mode == "otlp":
        tracer_provider, meter_provider = _otlp_providers(setup, environ, resource)
        _set_global(tracer_provider, meter_provider)
        return
    options: dict[str, Any] = {
        "connection_string": _value(environ, APPLICATIONINSIGHTS_CONNECTION_STRING),
        "resource": resource,
        "logger_name": LOGGER_NAME,
    }
    if setup.mode == "azure-monitor+otlp":
        span_processor, metric_reader = _otlp_pipeline(setup, environ)
        options["span_processors"] = [span_processor]
        options["metric_readers"] = [metric_reader]
    from azure.monitor.opentelemetry import configure_azure_monitor

    configure_azure_monitor(**options)


def _resource(environ: Mapping[str, str], service_name: str) -> Resource:
    """service.name from OTEL_SERVICE_NAME or the caller; OTEL_RESOURCE_ATTRIBUTES still apply."""
    from opentelemetry.sdk.resources import Resource

    name = _value(environ, OTEL_SERVICE_NAME) or service_name
    return Resource.create({"service.name": name, "service.version": __version__})


def _otlp_providers(
    setup: TelemetrySetup, environ: Mapping[str, str], resource: Resource
) -> tuple[TracerProvider, MeterProvider]:
    """SDK providers that export through OTLP/HTTP."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider

    span_processor, metric_reader = _otlp_pipeline(setup, environ)
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(span_processor)
    return tracer_provider, MeterProvider(resource=resource, metric_readers=[metric_reader])


def _otlp_pipeline(
    setup: TelemetrySetup, environ: Mapping[str, str]
) -> tuple[SpanProcessor, MetricReader]:
    """A batching span processor and a periodic metric reader, both sending OTLP/HTTP."""
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.util.re import parse_env_headers

    headers = parse_env_headers(_value(environ, OTEL_EXPORTER_OTLP_HEADERS), liberal=True)
    spans = OTLPSpanExporter(endpoint=setup.otlp_traces_endpoint, headers=headers)
    metric_exporter = OTLPMetricExporter(endpoint=setup.otlp_metrics_endpoint, headers=headers)
    return BatchSpanProcessor(spans), PeriodicExportingMetricReader(metric_exporter)


def _set_global(tracer_provider: TracerProvider, meter_provider: MeterProvider) -> None:
    """Install the providers process-wide (the one step tests replace)."""
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)


def _global_providers_set() -> bool:
    """True when a real (non-proxy) tracer provider is already installed."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def _otlp_endpoints(environ: Mapping[str, str]) -> tuple[str | None, str | None]:
    """Per-signal OTLP URLs: the signal's own variable, else the base plus /v1/<signal>.

    None when OTEL_EXPORTER_OTLP_ENDPOINT is unset. This is the OTLP/HTTP
    exporter specification's rule, applied here because the exporters are
    given explicit URLs (they read `environ`, not `os.environ`).
    """
    base = _value(environ, OTEL_EXPORTER_OTLP_ENDPOINT).rstrip("/")
    if not base:
        return None, None
    traces = _value(environ, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) or f"{base}/v1/traces"
    metrics_url = _value(environ, OTEL_EXPORTER_OTLP_METRICS_ENDPOINT) or f"{base}/v1/metrics"
    return traces, metrics_url


def _value(environ: Mapping[str, str], name: str) -> str:
    """A variable's value, stripped; unset and blank are the same."""
    return environ.get(name, "").strip()


def _true(environ: Mapping[str, str], name: str) -> bool:
    """The worker's own reading of a boolean app setting."""
    return _value(environ, name).lower() in _TRUE_LIKE

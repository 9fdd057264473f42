"""Export is chosen from the environment, set up once, and never twice inside the worker.

Nothing is sent anywhere: the exporters and `configure_azure_monitor` are
replaced by recorders, and the global providers are never set.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from patchpilot.telemetry import setup
from patchpilot.telemetry.setup import TelemetrySetup, choose_export, configure_telemetry

ROOT = Path(__file__).resolve().parents[2]
CONNECTION = "InstrumentationKey=00000000-0000-0000-0000-000000000000"
AI = "APPLICATIONINSIGHTS_CONNECTION_STRING"
ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
FLAG = "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"
OTLP = "http://collector.example:4318"
WORKER = {"FUNCTIONS_WORKER_RUNTIME": "python"}


class FakeSpanExporter(SpanExporter):
    """Stands in for OTLPSpanExporter: keeps its arguments, sends nothing."""

    made: list[dict[str, Any]] = []  # noqa: RUF012 - a class-level recorder, reset per test

    def __init__(self, **kwargs: Any) -> None:
        FakeSpanExporter.made.append(kwargs)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class FakeMetricExporter(MetricExporter):
    """Stands in for OTLPMetricExporter."""

    made: list[dict[str, Any]] = []  # noqa: RUF012 - a class-level recorder, reset per test

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(preferred_temporality={}, preferred_aggregation={})
        FakeMetricExporter.made.append(kwargs)

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None


class Recorder:
    """What would have been installed, and where."""

    def __init__(self) -> None:
        self.globals: list[tuple[Any, Any]] = []
        self.azure: list[dict[str, Any]] = []

    def set_global(self, tracer_provider: Any, meter_provider: Any) -> None:
        self.globals.append((tracer_provider, meter_provider))

    def configure_azure_monitor(self, **options: Any) -> None:
        self.azure.append(options)

    def shutdown(self) -> None:
        for tracer_provider, meter_provider in self.globals:
            tracer_provider.shutdown()
            meter_provider.shutdown()
        for options in self.azure:
            for processor in options.get("span_processors", []):
                processor.shutdown()
            for reader in options.get("metric_readers", []):
                reader.shutdown()


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    import azure.monitor.opentelemetry as distro
    from opentelemetry.exporter.otlp.proto.http import metric_exporter, trace_exporter

    record = Recorder()
    FakeSpanExporter.made = []
    FakeMetricExporter.made = []
    monkeypatch.setattr(setup, "_ONCE", setup._Once())
    monkeypatch.setattr(setup, "_set_global", record.set_global)
    monkeypatch.setattr(setup, "_global_providers_set", lambda: False)
    monkeypatch.setattr(distro, "configure_azure_monitor", record.configure_azure_monitor)
    monkeypatch.setattr(trace_exporter, "OTLPSpanExporter", FakeSpanExporter)
    monkeypatch.setattr(metric_exporter, "OTLPMetricExporter", FakeMetricExporter)
    yield record
    record.shutdown()


@pytest.mark.parametrize(
    ("environ", "mode"),
    [
        pytest.param({}, "none", id="nothing-set"),
        pytest.param({AI: "  "}, "none", id="blank"),
        pytest.param({ENDPOINT: OTLP}, "otlp", id="otlp"),
        pytest.param({AI: CONNECTION}, "azure-monitor", id="application-insights"),
        pytest.param({AI: CONNECTION, ENDPOINT: OTLP}, "azure-monitor+otlp", id="both"),
        pytest.param(
            {**WORKER, FLAG: "true", AI: CONNECTION},
            "functions-worker",
            id="worker-configured-azure-monitor",
        ),
        pytest.param({**WORKER, FLAG: "1"}, "functions-worker", id="worker-reads-1-as-true"),
        pytest.param(
            {**WORKER, FLAG: "false", ENDPOINT: OTLP},
            "otlp",
            id="worker-without-the-flag-leaves-it-to-us",
        ),
        pytest.param(
            {FLAG: "true", ENDPOINT: OTLP}, "otlp", id="flag-outside-the-worker-means-nothing"
        ),
        pytest.param({"OTEL_SDK_DISABLED": "true", ENDPOINT: OTLP}, "none", id="sdk-disabled"),
        pytest.param({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": OTLP}, "none", id="signal-only"),
    ],
)
def test_export_is_chosen_from_the_environment(environ: dict[str, str], mode: str) -> None:
    assert choose_export(environ).mode == mode


def test_otlp_urls_follow_the_exporter_rules() -> None:
    chosen = choose_export(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": OTLP + "/",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://metrics.example/ingest",
        }
    )
    assert chosen.otlp_traces_endpoint == OTLP + "/v1/traces"
    assert chosen.otlp_metrics_endpoint == "http://metrics.example/ingest"


def test_nothing_is_installed_when_nothing_is_set(recorder: Recorder) -> None:
    assert configure_telemetry({}).mode == "none"
    assert (recorder.globals, recorder.azure) == ([], [])


def test_otlp_installs_sdk_providers_with_http_exporters(recorder: Recorder) -> None:
    environ = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": OTLP,
        "OTEL_EXPORTER_OTLP_HEADERS": "api-key=s3cret,x-tenant=a%20b",
        "OTEL_SERVICE_NAME": "patchpilot-demo",
    }
    assert configure_telemetry(environ).mode == "otlp"
    [(tracer_provider, _meter_provider)] = recorder.globals
    headers = {"api-key": "s3cret", "x-tenant": "a b"}
    assert FakeSpanExporter.made == [{"endpoint": OTLP + "/v1/traces", "headers": headers}]
    assert FakeMetricExporter.made == [{"endpoint": OTLP + "/v1/metrics", "headers": headers}]
    assert tracer_provider.resource.attributes["service.name"] == "patchpilot-demo"
    assert recorder.azure == []


def test_azure_monitor_is_configured_once_for_our_logger(recorder: Recorder) -> None:
    environ = {"APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION}
    assert configure_telemetry(environ, service_name="patchpilot-serve").mode == "azure-monitor"
    [options] = recorder.azure
    assert options["connection_string"] == CONNECTION
    assert options["logger_name"] == "patchpilot"
    assert options["resource"].attributes["service.name"] == "patchpilot-serve"
    assert "span_processors" not in options
    assert recorder.globals == []


def test_azure_monitor_and_otlp_share_one_pipeline(recorder: Recorder) -> None:
    environ = {
        "APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION,
        "OTEL_EXPORTER_OTLP_ENDPOINT": OTLP,
    }
    assert configure_telemetry(environ).mode == "azure-monitor+otlp"
    [options] = recorder.azure
    assert len(options["span_processors"]) == len(options["metric_readers"]) == 1
    assert FakeSpanExporter.made[0]["endpoint"] == OTLP + "/v1/traces"
    assert recorder.globals == []


def test_inside_the_worker_with_its_flag_nothing_is_configured_again(recorder: Recorder) -> None:
    environ = {
        **WORKER,
        "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "true",
        "APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION,
        "OTEL_EXPORTER_OTLP_ENDPOINT": OTLP,
    }
    chosen = configure_telemetry(environ)
    assert chosen.mode == "functions-worker"
    assert "twice" in chosen.reason
    assert (recorder.globals, recorder.azure, FakeSpanExporter.made) == ([], [], [])


def test_a_second_call_is_a_no_op_that_returns_the_first_answer(recorder: Recorder) -> None:
    first = configure_telemetry({"OTEL_EXPORTER_OTLP_ENDPOINT": OTLP})
    second = configure_telemetry({"APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION})
    assert second is first
    assert len(recorder.globals) == 1
    assert recorder.azure == []


def test_providers_installed_by_someone_else_are_not_stacked_on(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(setup, "_global_providers_set", lambda: True)
    chosen = configure_telemetry({"APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION})
    assert chosen == TelemetrySetup(
        "already-configured",
        "global OpenTelemetry providers were already set; not adding a second export "
        "pipeline (APPLICATIONINSIGHTS_CONNECTION_STRING is set)",
    )
    assert recorder.azure == []


def test_importing_the_package_loads_no_sdk_and_configures_nothing() -> None:
    code = (
        "import json, sys; import patchpilot.telemetry;"
        "from opentelemetry import trace;"
        "print(json.dumps([sorted(sys.modules),"
        " type(trace.get_tracer_provider()).__name__]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    modules, provider = json.loads(result.stdout)
    heavy = ("opentelemetry.sdk", "opentelemetry.exporter", "azure.monitor", "requests")
    assert [name for name in modules if name.startswith(heavy)] == []
    assert provider == "ProxyTracerProvider"

"""An in-memory telemetry pipeline for tests and for the demo's own summary.

OpenTelemetry's global providers can be set once per process, so tests never
touch them: :func:`in_memory_telemetry` builds private SDK providers with an
in-memory span exporter and metric reader, and hands out a
:class:`~patchpilot.telemetry.Telemetry` on them for the service under test.
Each call is independent; `shutdown()` releases it. Typical fixture::

    @pytest.fixture
    def telemetry() -> Iterator[InMemoryTelemetry]:
        memory = in_memory_telemetry()
        yield memory
        memory.shutdown()

This module imports the SDK, so the function app never imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    Gauge,
    Histogram,
    HistogramDataPoint,
    InMemoryMetricReader,
    Metric,
    NumberDataPoint,
    Sum,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from patchpilot.telemetry.recorder import Telemetry


@dataclass(frozen=True)
class MetricPoint:
    """One series of a metric: its attributes and value (a histogram's sum, with its count)."""

    attributes: Mapping[str, Any]
    value: float
    count: int | None = None


@dataclass(frozen=True)
class InMemoryTelemetry:
    """Private providers, what they captured, and the :class:`Telemetry` to inject."""

    telemetry: Telemetry
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    span_exporter: InMemorySpanExporter
    metric_reader: InMemoryMetricReader

    def spans(self) -> tuple[ReadableSpan, ...]:
        """Every finished span, in the order they ended."""
        return self.span_exporter.get_finished_spans()

    def span(self, name: str) -> ReadableSpan:
        """The one finished span with this name (an AssertionError if not exactly one)."""
        found = [span for span in self.spans() if span.name == name]
        assert len(found) == 1, f"expected one span named {name!r}, got {len(found)}"
        return found[0]

    def metric(self, name: str) -> list[MetricPoint]:
        """Every series of a metric, cumulative since the pipeline started; [] if none."""
        data = self.metric_reader.get_metrics_data()
        if data is None:
            return []
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name == name:
                        return _points(metric)
        return []

    def value(self, name: str, **attributes: Any) -> float:
        """The value of the series whose attributes are exactly these; 0 if there is none."""
        for point in self.metric(name):
            if dict(point.attributes) == attributes:
                return point.value
        return 0

    def clear(self) -> None:
        """Forget the spans captured so far (metrics are cumulative and stay)."""
        self.span_exporter.clear()

    def shutdown(self) -> None:
        """Release the providers; the pipeline records nothing after this."""
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


def in_memory_telemetry() -> InMemoryTelemetry:
    """A fresh pipeline that keeps every span and metric in memory, exported synchronously."""
    span_exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider(shutdown_on_exit=False)
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    metric_reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[metric_reader], shutdown_on_exit=False)
    return InMemoryTelemetry(
        telemetry=Telemetry.from_providers(tracer_provider, meter_provider),
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        span_exporter=span_exporter,
        metric_reader=metric_reader,
    )


def _points(metric: Metric) -> list[MetricPoint]:
    """A metric's data points as plain values."""
    data = metric.data
    if isinstance(data, Histogram):
        return [_histogram_point(point) for point in data.data_points]
    if isinstance(data, Sum | Gauge):
        return [_number_point(point) for point in data.data_points]
    raise TypeError(f"unsupported metric data for {metric.name}: {type(data).__name__}")


def _histogram_point(point: HistogramDataPoint) -> MetricPoint:
    return MetricPoint(dict(point.attributes or {}), point.sum, point.count)


def _number_point(point: NumberDataPoint) -> MetricPoint:
    return MetricPoint(dict(point.attributes or {}), point.value)

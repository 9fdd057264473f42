"""Logs are JSON lines that carry the current trace and span ids."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from patchpilot.telemetry import configure_logging
from patchpilot.telemetry.testing import InMemoryTelemetry, in_memory_telemetry
from tests.factories import cluster_id

log = logging.getLogger("patchpilot.test")


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    azure_level = logging.getLogger("azure").level
    text = io.StringIO()
    configure_logging("INFO", stream=text)
    yield text
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("azure").setLevel(azure_level)


@pytest.fixture
def memory() -> Iterator[InMemoryTelemetry]:
    pipeline = in_memory_telemetry()
    yield pipeline
    pipeline.shutdown()


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_record_inside_a_span_carries_its_trace_and_span_ids(
    stream: io.StringIO, memory: InMemoryTelemetry
) -> None:
    with memory.telemetry.reconcile(cluster_id("prod-1")):
        log.info("started %s on %s", "node_image", "win22", extra={"cluster": "prod-1"})
    span = memory.span("reconcile")
    assert span.context is not None
    [line] = _lines(stream)
    assert line["message"] == "started node_image on win22"
    assert line["trace_id"] == f"{span.context.trace_id:032x}"
    assert line["span_id"] == f"{span.context.span_id:016x}"
    assert (line["level"], line["logger"], line["cluster"]) == ("INFO", "patchpilot.test", "prod-1")
    assert line["time"].endswith("Z")


def test_a_record_outside_a_span_has_empty_ids_and_keeps_its_exception(
    stream: io.StringIO,
) -> None:
    try:
        raise ValueError("bad policy")
    except ValueError:
        log.exception("policy %s refused", "p.yaml")
    [line] = _lines(stream)
    assert (line["trace_id"], line["span_id"]) == ("", "")
    assert "ValueError: bad policy" in line["exception"]


def test_configuring_twice_replaces_the_handler_and_respects_the_level(
    stream: io.StringIO,
) -> None:
    again = io.StringIO()
    configure_logging(logging.WARNING, stream=again)
    log.info("quiet")
    log.warning("loud")
    assert stream.getvalue() == ""
    assert [line["message"] for line in _lines(again)] == ["loud"]
    assert logging.getLogger("azure").level == logging.WARNING


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("CHATTY")

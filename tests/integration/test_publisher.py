"""Patch Pilot's own CloudEvents reach an Event Grid endpoint; failures never raise.

The topic is a local HTTPS sink speaking Event Grid's publish API (the real
azure-eventgrid client posts to it), so the test sees exactly what Azure
would receive.
"""

from __future__ import annotations

import datetime as dt
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AzureKeyCredential

from patchpilot.adapters.publisher import EventGridPublisher, Notice
from patchpilot.sim.certificate import write_certificates

NOW = dt.datetime(2026, 1, 13, 18, tzinfo=dt.UTC)


@dataclass
class Sink:
    """What the sink received and how it should answer."""

    url: str
    ca_path: Path
    received: list[Any] = field(default_factory=list)
    keys: list[str | None] = field(default_factory=list)
    status: int = 200


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[Sink]:
    files = write_certificates(tmp_path)
    state = Sink("", files.ca_path)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.keys.append(self.headers.get("aeg-sas-key"))
            if state.status == 200:
                state.received.append(json.loads(body))
            self.send_response(state.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: pytest shows failures."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files.cert_path, files.key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"https://127.0.0.1:{server.server_address[1]}/api/events"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def publisher(sink: Sink) -> EventGridPublisher:
    return EventGridPublisher(
        sink.url,
        AzureKeyCredential("test-key"),  # type: ignore[arg-type]
        sleep=lambda seconds: None,
        client_options={"connection_verify": str(sink.ca_path)},
    )


def test_a_notice_arrives_as_a_cloud_event_with_its_data(sink: Sink) -> None:
    notice = Notice("UpgradeScheduled", "/subscriptions/x/c", {"pool": "win22", "to": "img"}, NOW)
    assert publisher(sink).publish(notice) is True
    (batch,) = sink.received
    (event,) = batch
    assert event["type"] == "PatchPilot.UpgradeScheduled"
    assert event["specversion"] == "1.0"
    assert event["source"] == "/patchpilot"
    assert event["subject"] == "/subscriptions/x/c"
    assert event["data"] == {"pool": "win22", "to": "img"}
    assert event["time"].startswith("2026-01-13T18:00:00")
    assert sink.keys == ["test-key"]


def test_a_failing_topic_is_retried_then_reported_not_raised(sink: Sink) -> None:
    sink.status = 503
    notice = Notice("ClusterPaused", "c", {"reason": "drain failed"}, NOW)
    assert publisher(sink).publish(notice) is False
    assert len(sink.keys) == 3


def test_unknown_notice_types_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown Patch Pilot event type"):
        Notice("SomethingElse", "c", {}, NOW)

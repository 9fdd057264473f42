"""`patchpilot serve` over real HTTP: the same triggers behind a function key, on 127.0.0.1.

These run with App Service authentication modelled off (`auth="keys"`): the
host key opens every route. tests/integration/test_serve_roles.py covers the
tokens per role and the alert's own key.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import socket
import urllib.parse
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from patchpilot.domain.policy import parse_policy
from patchpilot.errors import InvalidInputError
from patchpilot.serve import LocalApi, add_parser, banner, run, serving
from patchpilot.sim.clock import VirtualClock
from patchpilot.sim.server import run_simulator
from tests.integration.http_support import (
    DEV,
    DOCUMENT,
    START,
    Answer,
    check_against_openapi,
    fleet_doc,
    policy_doc,
)

KEY = "test-key-0123456789"


def serve_keys(state: Path) -> contextlib.AbstractContextManager[LocalApi]:
    """The API on the test fleet behind the host key, its clock stopped at START."""
    return serving(
        parse_policy(policy_doc()),
        fleet=fleet_doc(),
        state=state,
        source=VirtualClock(START),
        key=KEY,
        auth="keys",
        pump_seconds=None,
    )


@pytest.fixture
def api(tmp_path: Path) -> Iterator[LocalApi]:
    with serve_keys(tmp_path) as running:
        yield running


def send(
    api: LocalApi,
    method: str,
    path: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    *,
    documented: bool = True,
) -> Answer:
    """One request over a fresh HTTP connection; the answer is checked against the document."""
    split = urllib.parse.urlsplit(api.url)
    connection = http.client.HTTPConnection(split.hostname or "", split.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        answer = Answer(response.status, json.loads(response.read()), dict(response.getheaders()))
    finally:
        connection.close()
    if documented and answer.status not in (401, 411):
        check_against_openapi(method, path.partition("?")[0], answer.status, answer.body)
    return answer


def routes() -> list[tuple[str, str]]:
    return [
        (method.upper(), "/api" + template.replace("{id}", "0" * 32))
        for template, item in DOCUMENT["paths"].items()
        for method in item
    ]


@pytest.mark.parametrize(("method", "path"), routes())
def test_no_route_answers_without_the_function_key(api: LocalApi, method: str, path: str) -> None:
    for headers in ({}, {"x-functions-key": "wrong"}, {"x-functions-key": ""}):
        answer = send(api, method, path, b"{}", headers)
        assert (answer.status, answer.code) == (401, "Unauthorized")
    assert send(api, method, f"{path}?code=wrong", b"{}").status == 401
    assert send(api, method, path, b"{}", {"x-functions-key": KEY}).status != 401
    assert send(api, method, f"{path}?code={KEY}", b"{}").status != 401


def test_status_and_a_manual_upgrade_over_http(api: LocalApi) -> None:
    # Without App Service authentication, a principal header is anyone's to send: ignored.
    key = {"x-functions-key": KEY, "X-MS-CLIENT-PRINCIPAL-NAME": "dana@contoso.com"}
    status = send(api, "GET", "/api/status?ring=dev", headers=key)
    assert {c["name"] for c in status.body["clusters"]} == {"dev-1", "dev-2"}
    body = json.dumps({"cluster": DEV, "version": "1.33.2"}).encode()
    started = send(api, "POST", "/api/upgrades", body, key)
    again = send(api, "POST", "/api/upgrades", body, key)
    assert (started.status, started.body["outcome"]) == (202, "started")
    assert again.body["outcome"] == "already_started"
    assert started.body["requested_by"] == "function key: api_upgrade (operate)"


def test_serve_in_shadow_mode_records_a_manual_upgrade_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATCHPILOT_MODE", "shadow")
    with serve_keys(tmp_path) as running:
        key = {"x-functions-key": KEY}
        body = json.dumps({"cluster": DEV, "version": "1.33.2"}).encode()
        answer = send(running, "POST", "/api/upgrades", body, key)
        report = send(running, "GET", "/api/shadow-report", headers=key)

    assert (answer.status, answer.body["outcome"]) == (202, "shadowed")
    assert report.body["mode"] == "shadow"
    assert report.body["summary"]["decisions"] == 1


def test_an_oversized_or_chunked_body_is_refused_before_it_is_read(api: LocalApi) -> None:
    split = urllib.parse.urlsplit(api.url)
    with socket.create_connection((split.hostname or "", split.port or 0), timeout=10) as raw:
        raw.sendall(
            b"POST /api/alerts HTTP/1.1\r\nHost: x\r\nx-functions-key: " + KEY.encode()
            + b"\r\nContent-Length: 999999999\r\n\r\n"
        )  # fmt: skip
        head = raw.recv(4096).decode()
    assert head.startswith("HTTP/1.1 413")
    chunked = send(
        api, "POST", "/api/alerts", b"{}", {"x-functions-key": KEY, "Transfer-Encoding": "chunked"}
    )
    assert (chunked.status, chunked.code) == (411, "LengthRequired")


def test_paths_outside_the_api_are_json_404s(api: LocalApi) -> None:
    for path in ("/", "/admin/functions", "/api", "/api/../etc/passwd"):
        answer = send(api, "GET", path, headers={"x-functions-key": KEY}, documented=False)
        assert (answer.status, answer.code) == (404, "NotFound")


def test_the_server_listens_on_loopback_and_stops_with_its_block(tmp_path: Path) -> None:
    policy = parse_policy(policy_doc())
    with serving(
        policy, fleet=fleet_doc(), state=tmp_path, source=VirtualClock(START), pump_seconds=None
    ) as running:
        split = urllib.parse.urlsplit(running.url)
        assert split.hostname == "127.0.0.1"
        assert len(running.key) >= 32
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection((split.hostname, split.port or 0), 1),
    ):
        pass


def test_arm_endpoint_points_the_api_at_a_separately_started_simulator(tmp_path: Path) -> None:
    clock = VirtualClock(START)
    with (
        run_simulator(fleet_doc(), clock=clock) as sim,
        serving(
            parse_policy(policy_doc()),
            fleet=fleet_doc(),
            state=tmp_path,
            arm_endpoint=sim.url,
            ca_bundle=sim.ca_path,
            source=clock,
            key=KEY,
            auth="keys",
            pump_seconds=None,
        ) as api,
    ):
        assert api.arm_endpoint == sim.url
        status = send(api, "GET", "/api/status", headers={"x-functions-key": KEY})
        assert len(status.body["clusters"]) == 4
        assert sim.requests()[("ManagedClusters_Get", 200)] >= 4


def command(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="patchpilot")
    add_parser(parser.add_subparsers(required=True))
    return parser.parse_args(["serve", *argv])


def test_the_serve_command_reads_its_options() -> None:
    args = command("--policy", "p.yaml", "--fleet", "f.yaml", "--port", "0", "--speed", "60")
    assert (args.port, args.speed, args.arm_endpoint, args.json) == (0, 60.0, None, False)
    assert args.run is run
    with pytest.raises(SystemExit):
        command("--policy", "p.yaml", "--port", "70000")


def test_the_serve_command_needs_a_fleet_or_an_arm_endpoint() -> None:
    with pytest.raises(InvalidInputError, match="--fleet"):
        run(command("--policy", "p.yaml"))


def test_the_banner_says_where_to_send_the_key(api: LocalApi) -> None:
    text = banner(api)
    assert api.url in text
    assert f"x-functions-key: {KEY}" in text

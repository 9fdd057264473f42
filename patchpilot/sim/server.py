"""The HTTPS server: ARM's request pipeline in front of the simulated AKS.

Each request goes through what ARM does before a resource provider sees it,
in this order: the injected faults of the :class:`FaultPlan` (slowness, then a
429, a 500, a dropped connection, a storm's 429, or a lost answer), the bearer
token (any token is accepted, none is ARM's 401), routing (case-insensitive),
the ``api-version``, AKS's own per-subscription throttle when the plan turns
it on (:mod:`patchpilot.sim.throttle`: a 429, or the remaining count on the
answer), then the handler inside one :meth:`SimulatedAks.transaction`. Every
answer, faulted or not, is counted by (operation, status); a dropped
connection or a lost answer counts with status 0 (the client got nothing).

Slowness is time: on a :class:`VirtualClock` a slow answer moves the clock on
by its delay before AKS acts (everyone sharing the clock sees that time pass,
as a client waiting on a slow ARM does); on any other clock it sleeps.

:func:`run_simulator` is the entry point for tests and the demo;
:func:`start_simulator` returns a running handle for the CLI.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import ssl
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

from patchpilot.sim import arm_errors, routes
from patchpilot.sim.aks import SimulatedAks
from patchpilot.sim.arm_errors import ArmError
from patchpilot.sim.certificate import write_certificates
from patchpilot.sim.clock import Clock, RealClock, VirtualClock
from patchpilot.sim.events import EventSchema, EventSink, HttpEventSink
from patchpilot.sim.faults import FaultDice, FaultPlan, FaultRoll
from patchpilot.sim.fleet_input import load_fleet_input
from patchpilot.sim.handlers import Request, Response, RestSettings
from patchpilot.sim.pace import Pace
from patchpilot.sim.throttle import ThrottleGate, throttled_kind

DROPPED: Final = 0
UNKNOWN_OPERATION: Final = "Unknown"
MAX_BODY_BYTES: Final = 4 * 1024 * 1024
HOST: Final = "127.0.0.1"

_log = logging.getLogger(__name__)


class _ArmServer(ThreadingHTTPServer):
    """The listening server and what its request threads share."""

    daemon_threads = True
    block_on_close = False

    def __init__(
        self, port: int, aks: SimulatedAks, dice: FaultDice, settings: RestSettings
    ) -> None:
        super().__init__((HOST, port), _ArmRequestHandler)
        self.aks = aks
        self.dice = dice
        self.settings = settings
        self.throttle = _gate(dice.plan)
        self.counts: Counter[tuple[str, int]] = Counter()
        self.counts_lock = threading.Lock()

    def wait(self, seconds: float) -> None:
        """A slow answer: the virtual clock moves on by the delay; a real one is slept out."""
        clock = self.aks.clock
        if isinstance(clock, VirtualClock):
            clock.advance(dt.timedelta(seconds=seconds))
        else:
            time.sleep(seconds)

    def count(self, operation: str, status: int) -> None:
        with self.counts_lock:
            self.counts[(operation, status)] += 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up or rejects the certificate is not the simulator's error."""
        _log.debug("connection from %s ended with an error", client_address, exc_info=True)


class _ArmRequestHandler(BaseHTTPRequestHandler):
    """ARM's front door for one connection (HTTP/1.1 keep-alive, as the SDK's pool expects)."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle and
    # delayed ACKs add ~40 ms to every answer on loopback.
    disable_nagle_algorithm = True
    server_version = "AKS-Patch-Pilot-Simulator"
    sys_version = ""
    timeout = 30
    server: _ArmServer

    def do_GET(self) -> None:  # http.server's naming
        """GET."""
        self._serve()

    def do_PUT(self) -> None:
        """PUT."""
        self._serve()

    def do_POST(self) -> None:
        """POST."""
        self._serve()

    def do_PATCH(self) -> None:
        """PATCH (not served: answered 405)."""
        self._serve()

    def do_DELETE(self) -> None:
        """DELETE (not served: answered 405)."""
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:  # http.server's signature
        """Access log lines go to logging, not stderr."""
        _log.debug("%s %s", self.address_string(), format % args)

    def _serve(self) -> None:
        split = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(split.path)
        query = {
            k.lower(): v[0]
            for k, v in urllib.parse.parse_qs(split.query, keep_blank_values=True).items()
        }
        found = routes.match(self.command, path)
        operation = found.route.operation if found.route else UNKNOWN_OPERATION
        body = self._body()
        roll = self.server.dice.roll(operation, self.server.aks.clock.now())
        if roll.delay_seconds:
            self.server.wait(roll.delay_seconds)
        if roll.kind == "drop":
            self.server.count(operation, DROPPED)
            self.close_connection = True
            return
        request = Request(
            self.command, path, query, body or b"", self._base_url(), raw_query=split.query
        )
        try:
            if body is None:
                raise ArmError(
                    413,
                    "RequestEntityTooLarge",
                    f"The request body is larger than {MAX_BODY_BYTES} bytes.",
                )
            self._fault(roll, path, operation)
            response = self._dispatch(found, request)
        except ArmError as exc:
            response = Response(exc.status, exc.body(), exc.headers)
        except Exception:  # a bug in the simulator must still look like ARM to the client
            _log.exception("simulator failed on %s %s", self.command, path)
            error = arm_errors.internal_error(str(uuid.uuid4()), dt.datetime.now(dt.UTC))
            response = Response(500, error.body())
        if roll.kind == "lost":
            # AKS acted on the request; the answer is lost on the way back.
            self.server.count(operation, DROPPED)
            self.close_connection = True
            return
        self.server.count(operation, response.status)
        self._send(response)

    def _fault(self, roll: FaultRoll, path: str, operation: str) -> None:
        if roll.kind == "throttle":
            subscription = (
                path.split("/")[2] if path.lower().startswith("/subscriptions/") else "none"
            )
            verb = f"{self.command}{operation.upper()}"
            raise arm_errors.throttled(subscription, verb, roll.retry_after_seconds)
        if roll.kind == "server_error":
            raise arm_errors.internal_error(str(uuid.uuid4()), dt.datetime.now(dt.UTC))

    def _dispatch(self, found: routes.Match, request: Request) -> Response:
        _authenticate(self.headers.get("Authorization"))
        route = found.route
        if route is None:
            if not found.method_allowed:
                raise arm_errors.method_not_allowed(request.method, request.path)
            if "/providers/microsoft.containerservice" in request.path.lower():
                raise arm_errors.invalid_resource_type(
                    request.path, request.query.get("api-version", "")
                )
            raise ArmError(
                404,
                "NotFound",
                f"The AKS simulator does not serve {request.method} {request.path}.",
            )
        _check_api_version(request, route, found.params)
        aks = self.server.aks
        extra = self._throttle(request, route.operation)
        with aks.transaction() as now:
            response = route.handler(
                aks, replace(request, params=found.params), self.server.settings, now
            )
        return replace(response, headers={**response.headers, **extra}) if extra else response

    def _throttle(self, request: Request, operation: str) -> dict[str, str]:
        """AKS's per-subscription buckets: a 429, or the remaining count for the answer."""
        gate = self.server.throttle
        counted = throttled_kind(request.method, request.path) if gate is not None else None
        if gate is None or counted is None:
            return {}
        subscription, kind = counted
        admission = gate.admit(subscription, kind, self.server.aks.clock.now())
        if not admission.admitted:
            handler = f"{operation.replace('_', '')}Handler.{request.method}"
            raise arm_errors.aks_throttled(
                subscription, handler, admission.retry_after, admission.headers
            )
        return admission.headers

    def _body(self) -> bytes | None:
        """The request body; None when it is too large to read (the connection is then closed)."""
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            return None
        return self.rfile.read(length) if length else b""

    def _base_url(self) -> str:
        host = self.headers.get("Host") or f"{HOST}:{self.server.server_address[1]}"
        return f"https://{host}"

    def _send(self, response: Response) -> None:
        payload = b"" if response.body is None else json.dumps(response.body).encode()
        self.send_response(response.status)
        request_id = str(uuid.uuid4())
        headers: dict[str, str] = {
            "Content-Length": str(len(payload)),
            "Cache-Control": "no-cache",
            "x-ms-request-id": request_id,
            "x-ms-correlation-request-id": self.headers.get("x-ms-correlation-request-id")
            or request_id,
        }
        if payload:
            headers["Content-Type"] = "application/json; charset=utf-8"
        client_id = self.headers.get("x-ms-client-request-id")
        if client_id:
            headers["x-ms-client-request-id"] = client_id
        for name, value in {**headers, **response.headers}.items():
            self.send_header(name, value)
        self.end_headers()
        if payload:
            self.wfile.write(payload)


def _gate(plan: FaultPlan) -> ThrottleGate | None:
    """The throttle the plan asks for, with fresh buckets (None: off)."""
    return ThrottleGate(plan.aks_throttle) if plan.aks_throttle is not None else None


def _authenticate(header: str | None) -> None:
    """Any bearer token is accepted; ARM's 401 otherwise."""
    if not header:
        raise arm_errors.unauthenticated("The 'Authorization' header is missing.")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise arm_errors.unauthenticated(
            "The 'Authorization' header is provided in an invalid format."
        )


def _check_api_version(request: Request, route: routes.Route, params: Mapping[str, str]) -> None:
    version = request.query.get("api-version")
    if not version:
        raise arm_errors.missing_api_version()
    if route.versions is not None and version not in route.versions:
        location = params.get("location") or "global"
        raise arm_errors.unsupported_api_version(version, location, route.type_name, route.versions)


@dataclass
class SimulatorHandle:
    """A running simulator: where it listens, its model and clock, its counters."""

    url: str
    ca_path: Path
    aks: SimulatedAks
    clock: Clock
    faults: FaultPlan
    _server: _ArmServer = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _directory: Path = field(repr=False)
    _closers: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def requests(self) -> Counter[tuple[str, int]]:
        """Requests served, by (operation name, HTTP status); dropped connections have status 0."""
        with self._server.counts_lock:
            return Counter(self._server.counts)

    def throttle(self) -> ThrottleGate | None:
        """AKS's per-subscription throttle in force (None: off), with its log of arrivals."""
        return self._server.throttle

    def faults_injected(self) -> Counter[str]:
        """Faults the dice injected so far, by cause (``throttle``, ``storm``, ``lost_start``)."""
        return self._server.dice.injected()

    def set_faults(self, plan: FaultPlan) -> None:
        """Put another fault plan in force (its seed restarts the dice)."""
        self.faults = plan
        self._server.dice.replace(plan)
        gate = self._server.throttle
        if gate is None or gate.plan != plan.aks_throttle:
            self._server.throttle = _gate(plan)
        self.aks.set_faults(plan)

    def stop(self) -> None:
        """Stop listening, deliver queued events and delete the certificate files."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        for close in self._closers:
            close()
        shutil.rmtree(self._directory, ignore_errors=True)


def start_simulator(
    fleet: Mapping[str, Any] | Path,
    *,
    clock: Clock | None = None,
    faults: FaultPlan | None = None,
    port: int = 0,
    event_sink: EventSink | str | None = None,
    event_schema: EventSchema = "EventGridSchema",
    pace: Pace | None = None,
    settings: RestSettings | None = None,
) -> SimulatorHandle:
    """Start a simulator on 127.0.0.1 and return its handle; call ``stop()`` when done.

    ``event_sink`` is a callback, or an http(s) URL that receives each event
    as a JSON array (Event Grid's webhook delivery).
    """
    clock = clock or RealClock()
    faults = faults or FaultPlan()
    closers: list[Callable[[], None]] = []
    if isinstance(event_sink, str):
        http_sink = HttpEventSink(event_sink, event_schema)
        closers.append(http_sink.close)
        event_sink = http_sink
    aks = SimulatedAks(
        load_fleet_input(fleet), clock, pace=pace or Pace.default_for(clock),
        faults=faults, event_sink=event_sink, event_schema=event_schema,
    )  # fmt: skip
    directory = Path(tempfile.mkdtemp(prefix="patchpilot-sim-"))
    try:
        files = write_certificates(directory)
        server = _ArmServer(port, aks, FaultDice(faults), settings or RestSettings())
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(files.cert_path, files.key_path)
        # The handshake runs in each request's thread, so one slow client never blocks accept().
        server.socket = context.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="aks-simulator",
        daemon=True,
    )
    thread.start()
    url = f"https://{HOST}:{server.server_address[1]}"
    return SimulatorHandle(
        url, files.ca_path, aks, clock, faults, server, thread, directory, closers
    )


@contextmanager
def run_simulator(
    fleet: Mapping[str, Any] | Path,
    *,
    clock: Clock | None = None,
    faults: FaultPlan | None = None,
    port: int = 0,
    event_sink: EventSink | str | None = None,
    event_schema: EventSchema = "EventGridSchema",
    pace: Pace | None = None,
    settings: RestSettings | None = None,
) -> Iterator[SimulatorHandle]:
    """Run a simulator for the duration of a ``with`` block."""
    handle = start_simulator(
        fleet, clock=clock, faults=faults, port=port, event_sink=event_sink,
        event_schema=event_schema, pace=pace, settings=settings,
    )  # fmt: skip
    try:
        yield handle
    finally:
        handle.stop()

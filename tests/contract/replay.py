"""A replay server: real ARM's recorded answers, served over HTTPS on 127.0.0.1 to the real gateway.

The contract test builds the project's :class:`~patchpilot.adapters.arm.gateway.ArmGateway`
exactly as production does (``Settings.from_env`` with ``PATCHPILOT_ARM_ENDPOINT``
and ``PATCHPILOT_ARM_CA_BUNDLE``; only the credential is the static one a
loopback endpoint allows) and points it at this server. The gateway refuses
plain HTTP for bearer tokens, so the server speaks TLS with a throwaway CA from
the simulator's :func:`~patchpilot.sim.certificate.write_certificates`.

What it serves, and why:

- Each request is matched to a recorded interaction by method and path (ARM
  paths are case-insensitive: az itself sends ``managedclusters`` for the
  abort), never by query: the SDK's ``api-version`` is newer than the
  recorder's, and serving old answers to a new client is the point. Repeated
  calls of one method and path (the polls of one operation, a GET before and
  after a PUT) get the recorded answers in recorded order; once they are used
  up the last one repeats, as a finished operation keeps answering the same.
- ``https://management.azure.com`` in answers (the ``Azure-AsyncOperation``
  and ``Location`` headers, and bodies) becomes this server's origin, so the
  gateway follows the status URLs to the replay. ``Content-Length`` is set
  from the body actually sent (one cassette's recorded lengths are longer than
  its sanitized bodies); ``Transfer-Encoding`` and ``Content-Encoding`` are
  dropped, since the body goes out whole and decoded.
- A call the interactions do not hold gets, for a few read kinds the gateway
  makes on every observation, a neutral answer (``NEUTRAL``: no maintenance
  configurations, no versions offered, an upgrade profile without an image),
  so that ``observe`` can run whole on a cassette that recorded only the
  cluster GET. Tests never assert on those values, and ``Replay.fallbacks()``
  says which calls got one. Anything else gets a 404 in ARM's envelope with
  code ``ReplayNotRecorded``: visibly not ARM's answer.

Every request is kept (:meth:`Replay.received`) so tests compare method, path,
query and body with what az sent. The server listens on 127.0.0.1 only, its
threads are daemons, and :func:`replaying` stops it and deletes its
certificate files on exit.
"""

from __future__ import annotations

import json
import shutil
import ssl
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from patchpilot.sim.certificate import write_certificates
from tests.contract.cassettes import Interaction, Kind, classify

HOST: Final = "127.0.0.1"
RECORDED_ORIGIN: Final = "https://management.azure.com"
# Headers describing the recorded transfer, not the answer: the replay sends its own.
_TRANSFER_HEADERS: Final = frozenset({"content-length", "transfer-encoding", "content-encoding"})


@dataclass(frozen=True)
class Answer:
    """A status and JSON body the replay sends for a call no interaction recorded."""

    status: int
    body: Mapping[str, Any]


# Neutral answers to reads the gateway makes on every observation (see the module docstring).
NEUTRAL: Final[Mapping[Kind, Answer]] = {
    Kind.MAINTENANCE_LIST: Answer(200, {"value": []}),
    Kind.KUBERNETES_VERSIONS: Answer(200, {"values": []}),
    Kind.POOL_UPGRADE_PROFILE: Answer(200, {"name": "default", "properties": {}}),
}


@dataclass(frozen=True)
class Received:
    """One request the replay got, as it arrived."""

    method: str
    target: str
    headers: Mapping[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return unquote(urlsplit(self.target).path)

    @property
    def query(self) -> str:
        return urlsplit(self.target).query

    @property
    def kind(self) -> Kind:
        return classify(self.method, self.path)[0]

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body.strip() else None


def _key(method: str, path: str) -> tuple[str, str]:
    return method.upper(), path.rstrip("/").lower()


class _ReplayServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, interactions: Iterable[Interaction], fallbacks: Mapping[Kind, Answer]):
        super().__init__((HOST, 0), _Handler)
        self.lock = threading.Lock()
        self.queues: dict[tuple[str, str], list[Interaction]] = {}
        for each in interactions:
            self.queues.setdefault(_key(each.method, each.path), []).append(each)
        self.used: dict[tuple[str, str], int] = {}
        self.fallbacks = dict(fallbacks)
        self.received: list[Received] = []
        self.served: list[Interaction | Kind | None] = []
        self.origin = ""

    def answer(self, request: Received) -> Interaction | Kind | None:
        """The interaction that answers a request (or the neutral kind, or None: not recorded)."""
        key = _key(request.method, request.path)
        with self.lock:
            self.received.append(request)
            queue = self.queues.get(key)
            if queue:
                index = self.used.get(key, 0)
                self.used[key] = index + 1
                chosen: Interaction | Kind | None = queue[min(index, len(queue) - 1)]
            else:
                chosen = request.kind if request.kind in self.fallbacks else None
            self.served.append(chosen)
            return chosen


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _ReplayServer

    def do_GET(self) -> None:  # http.server's naming
        self._reply()

    def do_PUT(self) -> None:
        self._reply()

    def do_POST(self) -> None:
        self._reply()

    def do_DELETE(self) -> None:
        self._reply()

    def do_PATCH(self) -> None:
        self._reply()

    def log_message(self, format: str, *args: Any) -> None:  # http.server's name
        """Quiet: the test reads :meth:`Replay.received` instead."""

    def _reply(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        chosen = self.server.answer(Received(self.command, self.path, headers, body))
        if isinstance(chosen, Interaction):
            self._send(chosen.status, chosen.response_headers, chosen.body)
        elif isinstance(chosen, Kind):
            neutral = self.server.fallbacks[chosen]
            self._send(neutral.status, {"content-type": ("application/json",)}, neutral.body)
        else:
            message = f"the interactions replayed hold no {self.command} {self.path}"
            error = {"error": {"code": "ReplayNotRecorded", "message": message}}
            self._send(404, {"content-type": ("application/json",)}, error)

    def _send(
        self, status: int, headers: Mapping[str, tuple[str, ...]], body: str | Mapping[str, Any]
    ) -> None:
        text = body if isinstance(body, str) else json.dumps(body)
        payload = text.replace(RECORDED_ORIGIN, self.server.origin).encode("utf-8")
        self.send_response(status)
        for name, values in headers.items():
            if name in _TRANSFER_HEADERS:
                continue
            for value in values:
                self.send_header(name, value.replace(RECORDED_ORIGIN, self.server.origin))
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@dataclass(frozen=True)
class Replay:
    """A running replay server: its origin, its CA file, and what it got and served."""

    url: str
    ca_path: Path
    _server: _ReplayServer

    def received(self) -> tuple[Received, ...]:
        """Every request so far, in arrival order."""
        with self._server.lock:
            return tuple(self._server.received)

    def served(self) -> tuple[Interaction, ...]:
        """The recorded interactions that answered requests, in order (repeats included)."""
        with self._server.lock:
            return tuple(each for each in self._server.served if isinstance(each, Interaction))

    def fallbacks(self) -> tuple[Kind, ...]:
        """The kinds of the calls that got a neutral answer, in order."""
        with self._server.lock:
            return tuple(each for each in self._server.served if isinstance(each, Kind))

    def unrecorded(self) -> tuple[Received, ...]:
        """The requests that got the ``ReplayNotRecorded`` 404."""
        with self._server.lock:
            pairs = zip(self._server.received, self._server.served, strict=True)
            return tuple(request for request, chosen in pairs if chosen is None)

    def rewrite(self, recorded_url: str) -> str:
        """A recorded ARM URL as the replay serves it (its origin replaced by the replay's)."""
        return recorded_url.replace(RECORDED_ORIGIN, self.url)


@contextmanager
def replaying(
    interactions: Iterable[Interaction], *, fallbacks: Mapping[Kind, Answer] = NEUTRAL
) -> Iterator[Replay]:
    """Serve ``interactions`` on 127.0.0.1 over TLS until the block ends."""
    directory = Path(tempfile.mkdtemp(prefix="patchpilot-replay-"))
    server: _ReplayServer | None = None
    try:
        files = write_certificates(directory)
        server = _ReplayServer(interactions, fallbacks)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(files.cert_path, files.key_path)
        server.socket = context.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
        server.origin = f"https://{HOST}:{server.server_address[1]}"
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="arm-replay",
            daemon=True,
        )
        thread.start()
        try:
            yield Replay(server.origin, files.ca_path, server)
        finally:
            server.shutdown()
            thread.join(timeout=5)
    finally:
        if server is not None:
            server.server_close()
        shutil.rmtree(directory, ignore_errors=True)

"""The local API's front door: what App Service authentication and the Functions host do first.

Answers unknown paths and methods (404, 405), then checks the caller as
Azure would (:mod:`.credentials`): a people's route with App Service
authentication on takes a bearer token (else 401) and gets the platform's
identity headers in place of any the caller sent; otherwise a route takes a
function key (`x-functions-key` or `?code=`, else 401) that opens it. Then
it refuses a body without a length or over the limit before reading it
(411, 413), answers http.server's own refusals as JSON, and hands the
request to the registered HTTP triggers through
:meth:`~patchpilot.localhost.host.LocalHost.http`, on a platform that says
whether authentication is on (:func:`patchpilot.api.roles.use_platform`).
Event Grid deliveries come to ``/runtime/webhooks/eventgrid?functionName=``,
as on Azure, and go to that one function (:meth:`_ApiHandler._event_grid`).
Listens on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import urllib.parse
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import azure.functions as func

    from patchpilot.localhost.host import LocalHost
    from patchpilot.serve.app import LocalApi

HOST: Final = "127.0.0.1"
KEY_HEADER: Final = "x-functions-key"
KEY_PARAM: Final = "code"
ROUTE_PREFIX: Final = "/api/"
# Where Event Grid delivers to an Event Grid trigger (``?functionName=`` names which).
EVENT_GRID_WEBHOOK: Final = "/runtime/webhooks/eventgrid"
_log = logging.getLogger(__name__)


class ApiServer(ThreadingHTTPServer):
    """The listening socket and the app its request threads share."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, port: int, api: LocalApi) -> None:
        super().__init__((HOST, port), _ApiHandler)
        self.api = api
        self._lock = threading.Lock()

    def count(self) -> None:
        """One more request served (for the summary at the end)."""
        with self._lock:
            self.api.served += 1


class _ApiHandler(BaseHTTPRequestHandler):
    """The Functions host's front door: key, size limit, then the registered HTTP triggers."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "PatchPilot-Serve"
    sys_version = ""
    timeout = 30
    server: ApiServer

    def do_GET(self) -> None:  # http.server's naming
        """GET."""
        self._serve()

    def do_POST(self) -> None:
        """POST."""
        self._serve()

    def do_DELETE(self) -> None:
        """DELETE."""
        self._serve()

    def do_PUT(self) -> None:
        """PUT (no route takes it: 404)."""
        self._serve()

    def do_PATCH(self) -> None:
        """PATCH (no route takes it: 404)."""
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:  # http.server's signature
        """Access log lines go to logging at DEBUG, not stderr."""
        _log.debug("%s %s", self.address_string(), format % args)

    def _serve(self) -> None:
        self.server.count()
        try:
            self._route()
        except Exception:  # a bug here must still answer JSON, never a traceback
            _log.exception("serve failed on %s %s", self.command, self.path)
            self._error(500, "InternalError", "the request failed inside patchpilot serve")

    def _route(self) -> None:
        from patchpilot.api.roles import Platform, use_platform

        split = urllib.parse.urlsplit(self.path)
        params = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
        given = self.headers.get(KEY_HEADER) or params.pop(KEY_PARAM, None) or ""
        params.pop(KEY_PARAM, None)
        path = urllib.parse.unquote(split.path)
        if path.rstrip("/") == EVENT_GRID_WEBHOOK:
            self._event_grid(params, given)
            return
        allowed = _methods(self.server.api.host, path)
        if not allowed or self.command not in allowed:
            self._drain_small()
            self._unrouted(path, allowed)
            return
        found = self.server.api.host.route(self.command, path)
        assert found is not None  # _methods found the route and its method
        headers = self._admitted(found[0].name, given)
        if headers is None:
            return
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._error(411, "LengthRequired", "send the body with a Content-Length")
            return
        body = self._body()
        if body is None:
            return
        platform = Platform(auth_enabled=self.server.api.credentials.mode == "entra")
        with use_platform(platform):
            response = self.server.api.host.http(
                self.command, path, body=body, headers=headers, params=params
            )
        self._send(response)

    def _body(self) -> bytes | None:
        """The request body, or None once a 411, 413 or 400 has been answered."""
        from patchpilot.api.exchange import MAX_BODY_BYTES

        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._error(411, "LengthRequired", "send the body with a Content-Length")
            return None
        length = _length(self.headers.get("Content-Length"))
        if length is None or length > MAX_BODY_BYTES:
            self.close_connection = True
            status, code = (413, "PayloadTooLarge") if length else (400, "BadRequest")
            self._error(
                status, code, f"the body must have a Content-Length of at most {MAX_BODY_BYTES}"
            )
            return None
        return self.rfile.read(length) if length else b""

    def _event_grid(self, params: Mapping[str, str], key: str) -> None:
        """The Event Grid extension's webhook: one subscription's delivery to one function.

        ``POST /runtime/webhooks/eventgrid?functionName=<function>&code=<key>``
        as Event Grid calls a deployed app (the key is the ``eventgrid_extension``
        system key there; the host key stands for it here). A subscription
        validation handshake (``aeg-event-type: SubscriptionValidation``) is
        answered with its code, as the extension answers it.
        """
        host = self.server.api.host
        name = params.get("functionName", "")
        function = host.functions.get(name)
        if self.command != "POST":
            self._drain_small()
            self._error(
                405, "MethodNotAllowed", f"{EVENT_GRID_WEBHOOK} takes POST", {"Allow": "POST"}
            )
            return
        if function is None or function.trigger_type != "eventGridTrigger":
            self._drain_small()
            self._error(404, "NotFound", f"no Event Grid function named {name!r} (?functionName=)")
            return
        if not self.server.api.credentials.opens(name, key):
            self._refuse(f"send the Event Grid extension's key as ?{KEY_PARAM}=")
            return
        body = self._body()
        if body is not None:
            self._delivered(name, body)

    def _delivered(self, name: str, body: bytes) -> None:
        """Hand one delivery to the function: 200 once it ran, 400 for what is no delivery."""
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            self._error(400, "BadRequest", "the delivery is not JSON")
            return
        if self.headers.get("aeg-event-type", "").lower() == "subscriptionvalidation":
            self._validation(payload)
            return
        try:
            self.server.api.host.deliver_event(payload, function=name)
        except ValueError as exc:
            self._error(400, "BadRequest", str(exc))
            return
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _validation(self, payload: Any) -> None:
        """Echo the validation code of Event Grid's handshake (the first event's data)."""
        first = payload[0] if isinstance(payload, list) and payload else payload
        data = first.get("data") if isinstance(first, dict) else None
        code = data.get("validationCode") if isinstance(data, dict) else None
        if not isinstance(code, str):
            self._error(
                400, "BadRequest", "a SubscriptionValidation event carries data.validationCode"
            )
            return
        body = json.dumps({"validationResponse": code}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _unrouted(self, path: str, allowed: set[str]) -> None:
        if not allowed:
            self._error(404, "NotFound", f"no route {self.command} {path}")
            return
        methods = ", ".join(sorted(allowed))
        self._error(405, "MethodNotAllowed", f"{path} takes {methods}", {"Allow": methods})

    def _admitted(self, function: str, key: str) -> dict[str, str] | None:
        """The headers the function gets, or None once a 401 has been answered.

        A people's route behind App Service authentication takes a token,
        and its identity headers are the platform's alone; any other route
        takes a key that opens it, and with authentication on the caller's
        identity headers are dropped there too (Easy Auth strips them on
        every path).
        """
        from patchpilot.serve.credentials import without_identity

        credentials = self.server.api.credentials
        sent = dict(self.headers.items())
        if credentials.needs_token(function):
            person = credentials.person(self.headers.get("Authorization"))
            if person is None:
                self._refuse("send a bearer token (Authorization: Bearer <token>)")
                return None
            return {**without_identity(sent), **person.headers()}
        if not credentials.opens(function, key):
            self._refuse(f"send a function key for {function} as {KEY_HEADER} or ?code=")
            return None
        return without_identity(sent) if credentials.mode == "entra" else sent

    def _refuse(self, message: str) -> None:
        self._drain_small()
        self._error(401, "Unauthorized", message, {"WWW-Authenticate": "Bearer"})

    def _drain_small(self) -> None:
        """Read a small unauthorised body so the connection stays usable; close on a big one."""
        length = _length(self.headers.get("Content-Length"))
        if length and length <= 65536:
            self.rfile.read(length)
        elif length:
            self.close_connection = True

    def _send(self, response: func.HttpResponse) -> None:
        body = response.get_body() or b""
        self.send_response(response.status_code)
        content_type = response.mimetype or "application/json"
        if response.charset:
            content_type += f"; charset={response.charset}"
        self.send_header("Content-Type", content_type)
        for name, value in response.headers.items():
            if name.lower() not in ("content-type", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a bad request line, an unknown method) answer JSON too."""
        status = 405 if code == HTTPStatus.NOT_IMPLEMENTED else code
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        self.close_connection = True
        self._error(status, phrase.replace(" ", ""), message or phrase)

    def _error(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if getattr(self, "command", None) != "HEAD":
            self.wfile.write(body)


def _methods(host: LocalHost, path: str) -> set[str]:
    """The methods the registered HTTP triggers take on this path (none: no such route)."""
    if not path.startswith(ROUTE_PREFIX):
        return set()
    route = path.removeprefix(ROUTE_PREFIX).strip("/")
    found: set[str] = set()
    for function in host.functions.values():
        if function.trigger_type != "httpTrigger":
            continue
        template = str(function.trigger.get("route") or function.name).strip("/")
        pattern = re.sub(r"\\\{\w+(?::[^}]*)?\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, route):
            found.update(m.upper() for m in function.trigger.get("methods") or ("GET", "POST"))
    return found


def _length(text: str | None) -> int | None:
    """Content-Length as a number; None when it is not one."""
    if text is None:
        return 0
    try:
        value = int(text)
    except ValueError:
        return None
    return value if value >= 0 else None

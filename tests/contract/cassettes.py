"""Recorded real ARM traffic, loaded as typed values: every cassette in the recordings folder.

The recordings are vcrpy cassettes (YAML) from the public Azure CLI test suites,
kept in ``../shared/fixtures/arm-recordings`` beside the repository (``MANIFEST.csv``
there says what each shows). The contract tests of the ARM gateway
(``test_gateway_recordings.py``) and of the simulator (``test_sim_recordings.py``)
both read them through this module, so a new cassette dropped in the folder is
tested by both with no code change: nothing here names a file. Each interaction
is classified by what it is, from its method and path alone (``Kind``), and the
tests pick interactions by kind.

The API (stable; other tests import it read-only):

- ``RECORDINGS``: the folder.
- ``load_cassettes(folder=RECORDINGS) -> tuple[Cassette, ...]``: every ``*.yaml``
  in the folder, sorted by file name. ``load_cassette(path)`` reads one.
- ``all_interactions(folder=RECORDINGS)``: every interaction of every cassette.
- ``iter_kinds(cassettes)``: each (cassette, kind) pair they hold, once (for
  parametrizing by kind), and ``classify(method, path)`` for any other URL.
- ``Cassette``: ``name`` (the file stem, used as test ids), ``path``,
  ``interactions`` in recorded order; ``of_kind(*kinds)`` filters them.
- ``Interaction``: ``cassette``, ``index`` (0-based, in its cassette), ``method``
  (upper case), ``uri`` (whole, as recorded), ``host``, ``path`` (percent-decoded),
  ``query`` (name -> values), ``request_headers`` and ``response_headers``
  (lower-case name -> values, in recorded order), ``request_body`` (text or
  None), ``status``, ``reason``, ``body`` (response text, ``""`` when empty),
  ``kind``, ``names`` (the resource names in the path). Helpers: ``json`` and
  ``request_json`` (parsed JSON or None), ``header(name)`` and
  ``request_header(name)`` (first value or None), ``failed`` (status >= 400),
  ``api_version``, ``id`` (a readable test id such as
  ``azure-cli__test_aks_abort#2-cluster_abort``).
- ``Kind``: what a call is. An error answer keeps the kind of its call (a 404 on
  a cluster GET is ``CLUSTER_GET`` with ``failed`` true): what was asked decides
  how the gateway reads the answer, and the status decides whether it failed.
- ``PathNames``: subscription, resource_group, cluster, pool, configuration,
  location, operation, each None where the path has none.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

RECORDINGS = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "arm-recordings"


class Kind(StrEnum):
    """What an ARM call is, told from its method and path."""

    CLUSTER_GET = "cluster_get"
    CLUSTER_PUT = "cluster_put"
    CLUSTER_LIST = "cluster_list"
    CLUSTER_ABORT = "cluster_abort"
    CLUSTER_UPGRADE_PROFILE = "cluster_upgrade_profile"
    POOL_LIST = "pool_list"
    POOL_GET = "pool_get"
    POOL_PUT = "pool_put"
    POOL_ABORT = "pool_abort"
    NODE_IMAGE_UPGRADE = "node_image_upgrade"
    POOL_UPGRADE_PROFILE = "pool_upgrade_profile"
    MAINTENANCE_LIST = "maintenance_list"
    MAINTENANCE_GET = "maintenance_get"
    MAINTENANCE_PUT = "maintenance_put"
    MAINTENANCE_DELETE = "maintenance_delete"
    KUBERNETES_VERSIONS = "kubernetes_versions"
    OPERATION_STATUS = "operation_status"
    OPERATION_RESULT = "operation_result"
    OTHER = "other"


@dataclass(frozen=True)
class PathNames:
    """The resource names an ARM path carries; None where it has none."""

    subscription: str | None = None
    resource_group: str | None = None
    cluster: str | None = None
    pool: str | None = None
    configuration: str | None = None
    location: str | None = None
    operation: str | None = None


_PROVIDER = r"/subscriptions/(?P<subscription>[^/]+)"
_CLUSTER = (
    _PROVIDER + r"/resourcegroups/(?P<resource_group>[^/]+)"
    r"/providers/microsoft\.containerservice/managedclusters/(?P<cluster>[^/]+)"
)
_POOL = _CLUSTER + r"/agentpools/(?P<pool>[^/]+)"
_LOCATION = _PROVIDER + r"/providers/microsoft\.containerservice/locations/(?P<location>[^/]+)"

# (method, path pattern, kind); ARM paths are case-insensitive (az itself sends
# `managedclusters` for the abort), so the patterns are matched without case.
_ROUTES: tuple[tuple[str, re.Pattern[str], Kind], ...] = tuple(
    (method, re.compile(pattern + r"/?", re.IGNORECASE), kind)
    for method, pattern, kind in (
        ("GET", _CLUSTER, Kind.CLUSTER_GET),
        ("PUT", _CLUSTER, Kind.CLUSTER_PUT),
        ("POST", _CLUSTER + r"/abort", Kind.CLUSTER_ABORT),
        ("GET", _CLUSTER + r"/upgradeprofiles/default", Kind.CLUSTER_UPGRADE_PROFILE),
        ("GET", _CLUSTER + r"/agentpools", Kind.POOL_LIST),
        ("GET", _POOL, Kind.POOL_GET),
        ("PUT", _POOL, Kind.POOL_PUT),
        ("POST", _POOL + r"/abort", Kind.POOL_ABORT),
        ("POST", _POOL + r"/upgradenodeimageversion", Kind.NODE_IMAGE_UPGRADE),
        ("GET", _POOL + r"/upgradeprofiles/default", Kind.POOL_UPGRADE_PROFILE),
        ("GET", _CLUSTER + r"/maintenanceconfigurations", Kind.MAINTENANCE_LIST),
        (
            "GET",
            _CLUSTER + r"/maintenanceconfigurations/(?P<configuration>[^/]+)",
            Kind.MAINTENANCE_GET,
        ),
        (
            "PUT",
            _CLUSTER + r"/maintenanceconfigurations/(?P<configuration>[^/]+)",
            Kind.MAINTENANCE_PUT,
        ),
        (
            "DELETE",
            _CLUSTER + r"/maintenanceconfigurations/(?P<configuration>[^/]+)",
            Kind.MAINTENANCE_DELETE,
        ),
        (
            "GET",
            _PROVIDER + r"/providers/microsoft\.containerservice/managedclusters",
            Kind.CLUSTER_LIST,
        ),
        ("GET", _LOCATION + r"/kubernetesversions", Kind.KUBERNETES_VERSIONS),
        ("GET", _LOCATION + r"/operations/(?P<operation>[^/]+)", Kind.OPERATION_STATUS),
        ("GET", _LOCATION + r"/operationresults/(?P<operation>[^/]+)", Kind.OPERATION_RESULT),
    )
)


def classify(method: str, path: str) -> tuple[Kind, PathNames]:
    """The kind of an ARM call and the names in its path; ``Kind.OTHER`` when unknown."""
    for route_method, pattern, kind in _ROUTES:
        match = pattern.fullmatch(path)
        if route_method == method.upper() and match:
            return kind, PathNames(**match.groupdict())
    return Kind.OTHER, PathNames()


@dataclass(frozen=True)
class Interaction:
    """One recorded request and the answer real ARM gave it."""

    cassette: str
    index: int
    method: str
    uri: str
    request_headers: Mapping[str, tuple[str, ...]]
    request_body: str | None
    status: int
    reason: str
    response_headers: Mapping[str, tuple[str, ...]]
    body: str

    @property
    def host(self) -> str:
        return urlsplit(self.uri).netloc

    @property
    def path(self) -> str:
        return unquote(urlsplit(self.uri).path)

    @property
    def query(self) -> Mapping[str, tuple[str, ...]]:
        parsed = parse_qs(urlsplit(self.uri).query, keep_blank_values=True)
        return {name: tuple(values) for name, values in parsed.items()}

    @property
    def api_version(self) -> str | None:
        values = self.query.get("api-version")
        return values[0] if values else None

    @property
    def kind(self) -> Kind:
        return classify(self.method, self.path)[0]

    @property
    def names(self) -> PathNames:
        return classify(self.method, self.path)[1]

    @property
    def failed(self) -> bool:
        return self.status >= 400

    @property
    def json(self) -> Any:
        """The answer's JSON, or None for an empty or non-JSON body (a 204, say)."""
        return _parse_json(self.body)

    @property
    def request_json(self) -> Any:
        """The request's JSON body, or None (GETs, and POSTs sent with Content-Length 0)."""
        return _parse_json(self.request_body or "")

    @property
    def id(self) -> str:
        return f"{self.cassette}#{self.index}-{self.kind.value}"

    def header(self, name: str) -> str | None:
        """The first value of a response header, by case-insensitive name."""
        values = self.response_headers.get(name.lower())
        return values[0] if values else None

    def request_header(self, name: str) -> str | None:
        """The first value of a request header, by case-insensitive name."""
        values = self.request_headers.get(name.lower())
        return values[0] if values else None


@dataclass(frozen=True)
class Cassette:
    """One recording file: its interactions in the order they happened."""

    name: str
    path: Path
    interactions: tuple[Interaction, ...]

    def of_kind(self, *kinds: Kind) -> tuple[Interaction, ...]:
        return tuple(each for each in self.interactions if each.kind in kinds)


def load_cassettes(folder: Path = RECORDINGS) -> tuple[Cassette, ...]:
    """Every ``*.yaml`` cassette in ``folder``, sorted by file name."""
    return tuple(load_cassette(path) for path in sorted(folder.glob("*.yaml")))


def all_interactions(folder: Path = RECORDINGS) -> tuple[Interaction, ...]:
    """Every interaction of every cassette in ``folder``, cassette by cassette."""
    return tuple(each for cassette in load_cassettes(folder) for each in cassette.interactions)


def load_cassette(path: Path) -> Cassette:
    """One vcrpy cassette: ``interactions`` of ``request`` and ``response`` mappings."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw = (document.get("interactions") or []) if isinstance(document, dict) else []
    name = path.stem
    return Cassette(
        name=name,
        path=path,
        interactions=tuple(_interaction(name, index, entry) for index, entry in enumerate(raw)),
    )


def _interaction(cassette: str, index: int, entry: Mapping[str, Any]) -> Interaction:
    request, response = entry["request"], entry["response"]
    response_headers = _headers(response.get("headers"))
    return Interaction(
        cassette=cassette,
        index=index,
        method=str(request["method"]).upper(),
        uri=str(request["uri"]),
        request_headers=_headers(request.get("headers")),
        request_body=_request_body(request.get("body")),
        status=int(response["status"]["code"]),
        reason=str(response["status"].get("message", "")),
        response_headers=response_headers,
        body=_response_body(response.get("body"), response_headers),
    )


def _headers(raw: Mapping[str, Any] | None) -> dict[str, tuple[str, ...]]:
    """vcrpy keeps each header as a list of values; names are folded to lower case."""
    headers: dict[str, tuple[str, ...]] = {}
    for name, values in (raw or {}).items():
        listed = values if isinstance(values, list) else [values]
        headers[str(name).lower()] = headers.get(str(name).lower(), ()) + tuple(
            str(value) for value in listed
        )
    return headers


def _request_body(raw: Any) -> str | None:
    """A request body is None, text, or bytes (YAML ``!!binary``)."""
    if raw is None:
        return None
    if isinstance(raw, bytes):
        return raw.decode("utf-8")
    return str(raw)


def _response_body(raw: Any, headers: Mapping[str, tuple[str, ...]]) -> str:
    """A response body is ``{string: ...}``, text or bytes; gzip-compressed if the header says."""
    value = raw.get("string", "") if isinstance(raw, Mapping) else raw
    if value is None:
        return ""
    if isinstance(value, bytes):
        if "gzip" in headers.get("content-encoding", ()):
            value = gzip.decompress(value)
        return value.decode("utf-8")
    return str(value)


def _parse_json(text: str) -> Any:
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def iter_kinds(cassettes: tuple[Cassette, ...]) -> Iterator[tuple[Cassette, Kind]]:
    """Each (cassette, kind) pair the cassettes hold, once, in recorded order."""
    for cassette in cassettes:
        seen: list[Kind] = []
        for each in cassette.interactions:
            if each.kind not in seen:
                seen.append(each.kind)
                yield cassette, each.kind

"""Request bodies of the API, read into the use cases' request values.

Two kinds of wrong, two statuses: a body that is not what the route reads
(not a JSON object, an unknown or missing field, a field of the wrong JSON
type) is malformed, a 400 (:class:`~patchpilot.service.operator.errors.MalformedError`);
a field of the right type with a value that can never be valid (an unknown
kind, a version that is not one, a time in the past, `force` without a
`reason`) is a 422 (:class:`~patchpilot.errors.InvalidInputError`). Either
way the message names the field.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any, Final

from patchpilot.domain.history import Kind, PauseScope
from patchpilot.domain.instants import parse_instant
from patchpilot.domain.versions import KubernetesVersion
from patchpilot.errors import InvalidInputError
from patchpilot.service.operator.clusters import cluster_id
from patchpilot.service.operator.errors import MalformedError
from patchpilot.service.operator.pauses import PauseRequest
from patchpilot.service.operator.upgrade_requests import UpgradeRequest

MAX_REASON: Final = 500
_KINDS: Final[dict[str, Kind]] = {"kubernetes": "kubernetes", "node_image": "node_image"}
_SCOPES: Final[dict[str, PauseScope]] = {"fleet": "fleet", "ring": "ring", "cluster": "cluster"}
_POOL_NAME_MAX: Final = 64
# A node image version (202511.17.0) or full name (AKSUbuntu-2204gen2containerd-202511.17.0).
_IMAGE_VERSION: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:\-]{0,199}")


def upgrade_request(body: object) -> UpgradeRequest:
    """`POST /api/upgrades`: {cluster, pool?, kind?, version?, force?, reason?}."""
    read = _Body(body, ("cluster", "pool", "kind", "version", "force", "reason"))
    pool = read.text("pool", required=False)
    kind = _choice(read.text("kind", required=False) or "kubernetes", _KINDS, "kind")
    if pool is not None and not (0 < len(pool) <= _POOL_NAME_MAX):
        raise InvalidInputError(
            f"must be a pool name of 1 to {_POOL_NAME_MAX} characters", path="pool"
        )
    if pool is None and kind == "node_image":
        raise InvalidInputError(
            "a node image upgrade needs a pool (control planes have none)", path="pool"
        )
    version = read.text("version", required=False)
    if version is not None and kind == "kubernetes":
        version = str(KubernetesVersion.parse(version, path="version"))
    elif version is not None and not _IMAGE_VERSION.fullmatch(version):
        raise InvalidInputError("must be a node image version or name", path="version")
    force = read.flag("force")
    reason = _reason(
        read.text("reason", required=False),
        required_for="force: true lifts windows and freezes, so say why" if force else None,
    )
    return UpgradeRequest(
        cluster=cluster_id(read.text("cluster")),
        pool=pool,
        kind=kind,
        version=version,
        force=force,
        reason=reason,
    )


def pause_request(body: object, now: dt.datetime) -> PauseRequest:
    """`POST /api/pauses`: {scope, target?, reason, until?}."""
    read = _Body(body, ("scope", "target", "reason", "until"))
    scope = _choice(read.text("scope"), _SCOPES, "scope")
    until_text = read.text("until", required=False)
    until = parse_instant(until_text, path="until") if until_text is not None else None
    if until is not None and until <= now:
        raise InvalidInputError(
            "must be in the future (a pause that has already ended)", path="until"
        )
    text = read.text("reason")
    reason = _reason(text, required_for="a pause stops every upgrade in its scope, so say why")
    assert reason is not None
    return PauseRequest(scope, read.text("target", required=False), reason, until)


class _Body:
    """A JSON object being read: every field checked for presence and JSON type."""

    def __init__(self, body: object, allowed: tuple[str, ...]) -> None:
        if not isinstance(body, Mapping):
            raise MalformedError("the body must be a JSON object")
        unknown = sorted(str(key) for key in body if key not in allowed)
        if unknown:
            raise MalformedError(
                f"unknown field {unknown[0]!r}; expected only: {', '.join(allowed)}"
            )
        self.data: Mapping[str, Any] = body

    def text(self, key: str, *, required: bool = True) -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise MalformedError(f"{key}: is required")
            return None
        if not isinstance(value, str):
            raise MalformedError(f"{key}: must be a string")
        return value

    def flag(self, key: str) -> bool:
        value = self.data.get(key, False)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise MalformedError(f"{key}: must be true or false")
        return value


def _choice(value: str | None, choices: Mapping[str, Any], key: str) -> Any:
    assert value is not None
    found = choices.get(value)
    if found is None:
        raise InvalidInputError(
            f"must be one of {', '.join(choices)}, got {value[:40]!r}", path=key
        )
    return found


def resume_reason(value: str | None) -> str | None:
    """`DELETE /api/pauses/{id}?reason=`: why the pause may go (optional, one line)."""
    return _reason(value, required_for=None)


def _reason(value: str | None, *, required_for: str | None) -> str | None:
    """A one-line reason; `required_for` says what needs one (None: optional)."""
    text = value.strip() if value is not None else None
    if not text:
        if required_for is not None:
            raise InvalidInputError(f"is required: {required_for}", path="reason")
        return None
    if len(text) > MAX_REASON:
        raise InvalidInputError(f"must be at most {MAX_REASON} characters", path="reason")
    if not text.isprintable():
        raise InvalidInputError("must be printable text on one line", path="reason")
    return text

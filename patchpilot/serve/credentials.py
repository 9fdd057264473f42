"""The local API's credentials: what App Service authentication and the Functions host check.

Two modes, as a deployed app has two:

- ``entra`` (App Service authentication on, the default): one bearer token
  per role (`read`, `stop`, `operate`, `force`), each standing for a local
  person who holds that app role. The front door plays Easy Auth: a people's
  route without a valid token is a 401; with one, the caller's own identity
  headers are dropped and the platform's are written in their place.
- ``keys`` (authentication off): the identity headers pass through as sent
  and the functions ignore them, as in Azure; the host key opens every
  function, as the Functions host's default key does.

In both, the alert webhook's function key opens the alert function and
nothing else (as a key under `sites/functions/keys` does), and the host key
opens it too. Tokens and keys are random per run; :func:`write_tokens`
leaves the tokens in files only the user can read, for the operator client
(`patchpilot status --app URL --token-file ...`), so none is pasted into a
shell history.
"""

from __future__ import annotations

import hmac
import os
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from patchpilot.api.principal import IDENTITY_HEADERS, platform_headers
from patchpilot.api.roles import APP_ROLES, KEY_FUNCTIONS, Role

AuthMode = Literal["entra", "keys"]
PEOPLE_ROLES: Final[tuple[Role, ...]] = ("read", "stop", "operate", "force")
ALERT_FUNCTION: Final = "api_alert"
_NAMESPACE: Final = uuid.UUID("5d1f0f5e-2f0a-4f38-9d53-7a1f2b6c9e01")


@dataclass(frozen=True)
class LocalPerson:
    """A local stand-in for a signed-in person holding one app role."""

    role: Role
    name: str
    object_id: str

    def headers(self) -> dict[str, str]:
        """The identity headers Easy Auth would send for this person."""
        return platform_headers(self.name, self.object_id, (APP_ROLES[self.role],))


@dataclass(frozen=True)
class Credentials:
    """This run's tokens and keys, and how the front door checks them."""

    mode: AuthMode
    host_key: str
    alert_key: str
    tokens: Mapping[Role, str] = field(default_factory=dict)

    @classmethod
    def generate(cls, mode: AuthMode, host_key: str | None = None) -> Credentials:
        """Fresh random keys, and one token per people's role in ``entra`` mode."""
        roles = PEOPLE_ROLES if mode == "entra" else ()
        tokens = {role: secrets.token_urlsafe(32) for role in roles}
        return cls(mode, host_key or secrets.token_urlsafe(32), secrets.token_urlsafe(32), tokens)

    def opens(self, function: str, key: str) -> bool:
        """Whether a function key opens `function` (compared in constant time)."""
        if key and _same(key, self.host_key):
            return True
        return function == ALERT_FUNCTION and bool(key) and _same(key, self.alert_key)

    def person(self, authorization: str | None) -> LocalPerson | None:
        """The person a bearer token stands for, or None."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        for role, known in self.tokens.items():
            if _same(token.strip(), known):
                return local_person(role)
        return None

    def needs_token(self, function: str) -> bool:
        """Whether Easy Auth stands in front of `function` (people's routes, entra mode)."""
        return self.mode == "entra" and function not in KEY_FUNCTIONS


def local_person(role: Role) -> LocalPerson:
    """The local person holding `role` (a stable object ID, so records read the same)."""
    name = f"local-{role}@patchpilot.local"
    return LocalPerson(role, name, str(uuid.uuid5(_NAMESPACE, name)))


def without_identity(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers less any identity header a caller sent (Easy Auth strips them)."""
    return {k: v for k, v in headers.items() if k.lower() not in IDENTITY_HEADERS}


def write_tokens(credentials: Credentials, folder: Path) -> dict[Role, Path]:
    """Each role's token in `<folder>/<role>.token`, readable by this user only."""
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[Role, Path] = {}
    for role, token in credentials.tokens.items():
        path = folder / f"{role}.token"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(token + "\n")
        written[role] = path
    return written


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())

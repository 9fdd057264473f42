"""Patch Pilot's settings: one frozen value, read once from the environment.

This is the only module that reads ``os.environ`` (:func:`load_settings`);
everything else receives a :class:`Settings` as an argument. Each setting is
validated here, and a bad value raises one
:class:`~patchpilot.errors.InvalidInputError` that names the variable, so a
misconfigured Function App fails at start-up with a message an operator can act
on. Called by the Function App's start-up, the CLI (``plan --live``) and tests.

Nothing heavy is imported: no Azure SDK, so reading settings stays cheap on a
cold start.
"""

from __future__ import annotations

import ipaddress
import math
import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from patchpilot.domain.resource_ids import ClusterId, parse_cluster_id
from patchpilot.errors import InvalidInputError

CredentialKind = Literal["default", "static"]
DiscoveryKind = Literal["resource-graph", "static"]
# act: start upgrades through ARM; shadow: plan, announce and record what would have
# started, with no ARM write (docs/shadow.md).
Mode = Literal["act", "shadow"]

PREFIX: Final = "PATCHPILOT_"
ARM_ENDPOINT: Final = "PATCHPILOT_ARM_ENDPOINT"
ARM_AUDIENCE: Final = "PATCHPILOT_ARM_AUDIENCE"
ARM_CA_BUNDLE: Final = "PATCHPILOT_ARM_CA_BUNDLE"
CREDENTIAL: Final = "PATCHPILOT_CREDENTIAL"
DISCOVERY: Final = "PATCHPILOT_DISCOVERY"
STATIC_CLUSTERS: Final = "PATCHPILOT_STATIC_CLUSTERS"
ARM_DEADLINE_SECONDS: Final = "PATCHPILOT_ARM_DEADLINE_SECONDS"
POLICY_PATH: Final = "PATCHPILOT_POLICY_PATH"
STORE: Final = "PATCHPILOT_STORE"
SQLITE_PATH: Final = "PATCHPILOT_SQLITE_PATH"
EVENTS_ENDPOINT: Final = "PATCHPILOT_EVENTS_ENDPOINT"
NOTICE_HOURS: Final = "PATCHPILOT_NOTICE_HOURS"
MODE: Final = "PATCHPILOT_MODE"
# Read by the Functions host itself (timer triggers name them as %SETTING%).
SWEEP_SCHEDULE: Final = "PATCHPILOT_SWEEP_SCHEDULE"
WINDOWS_SCHEDULE: Final = "PATCHPILOT_WINDOWS_SCHEDULE"
RETENTION_SCHEDULE: Final = "PATCHPILOT_RETENTION_SCHEDULE"
FLEET_GATES_SCHEDULE: Final = "PATCHPILOT_FLEET_GATES_SCHEDULE"
KNOWN: Final = (
    ARM_ENDPOINT,
    ARM_AUDIENCE,
    ARM_CA_BUNDLE,
    CREDENTIAL,
    DISCOVERY,
    STATIC_CLUSTERS,
    ARM_DEADLINE_SECONDS,
    POLICY_PATH,
    STORE,
    SQLITE_PATH,
    EVENTS_ENDPOINT,
    NOTICE_HOURS,
    MODE,
    SWEEP_SCHEDULE,
    WINDOWS_SCHEDULE,
    RETENTION_SCHEDULE,
    FLEET_GATES_SCHEDULE,
)
# The Functions host's own storage connection, shared by the store and the queue:
# a connection string (local, Azurite) or identity-based service URIs (Azure).
STORAGE: Final = "AzureWebJobsStorage"
STORAGE_ACCOUNT: Final = "AzureWebJobsStorage__accountName"
STORAGE_TABLES: Final = "AzureWebJobsStorage__tableServiceUri"
STORAGE_QUEUES: Final = "AzureWebJobsStorage__queueServiceUri"
DEFAULT_SWEEP_SCHEDULE: Final = "0 */15 * * * *"
# Patch Tuesday at 18:00 UTC: NCRONTAB needs day-of-month AND day-of-week to match.
DEFAULT_WINDOWS_SCHEDULE: Final = "0 0 18 8-14 * Tue"
# Hourly at :17, away from the sweep's quarter hours; each run reads at most 5,000 rows.
DEFAULT_RETENTION_SCHEDULE: Final = "0 17 * * * *"
# Fleet Manager gates Patch Pilot blocked are judged again this often (docs/fleet-gates.md).
DEFAULT_FLEET_GATES_SCHEDULE: Final = "0 */5 * * * *"
StoreKind = Literal["tables", "sqlite"]
# Set by App Service itself (never by Patch Pilot's Bicep) to "True" when its
# authentication (Easy Auth) is on for the app: only then are the identity
# headers the platform's own (Microsoft.Identity.Web reads the same variable).
PLATFORM_AUTH: Final = "WEBSITE_AUTH_ENABLED"

PUBLIC_ARM: Final = "https://management.azure.com"
PUBLIC_AUDIENCE: Final = "https://management.azure.com/.default"
# A Function on the Consumption plan has 5 minutes by default (10 at most); one
# ARM call with its retries must stay well inside that.
MAX_DEADLINE_SECONDS: Final = 240.0
SOURCE: Final = "environment"


@dataclass(frozen=True)
class Settings:
    """Where ARM is, how to authenticate, how to find the fleet, how long a call may take.

    `mode` says whether the app may write to ARM at all (`shadow`: never; docs/shadow.md).
    """

    arm_endpoint: str = PUBLIC_ARM
    arm_audience: str = PUBLIC_AUDIENCE
    arm_ca_bundle: Path | None = None
    credential: CredentialKind = "default"
    discovery: DiscoveryKind = "resource-graph"
    static_clusters: tuple[ClusterId, ...] = ()
    arm_deadline_seconds: float = 60.0
    policy_path: Path = Path("policy.yaml")
    store: StoreKind = "tables"
    sqlite_path: Path = Path(".patchpilot/state.db")
    storage_connection: str | None = None
    table_service_uri: str | None = None
    queue_service_uri: str | None = None
    events_endpoint: str | None = None
    notice_hours: float = 24.0
    mode: Mode = "act"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Read and validate every PATCHPILOT_* variable; unset ones take their defaults."""
        _refuse_unknown(environ)
        endpoint = _endpoint(_get(environ, ARM_ENDPOINT, PUBLIC_ARM))
        credential = _choice(environ, CREDENTIAL, "default", ("default", "static"))
        if credential == "static" and not is_loopback(endpoint):
            raise _error(
                CREDENTIAL,
                "static hands out a fixed token and is for the local simulator only; "
                f"{ARM_ENDPOINT} must then be a loopback address such as https://127.0.0.1:8443, "
                f"got {endpoint}",
            )
        discovery = _choice(environ, DISCOVERY, "resource-graph", ("resource-graph", "static"))
        clusters = _clusters(_get(environ, STATIC_CLUSTERS, ""))
        if discovery == "static" and not clusters:
            raise _error(
                STATIC_CLUSTERS,
                f"{DISCOVERY}=static needs at least one managed cluster resource ID "
                "(comma-separated)",
            )
        return cls(
            arm_endpoint=endpoint,
            arm_audience=_audience(_get(environ, ARM_AUDIENCE, PUBLIC_AUDIENCE)),
            arm_ca_bundle=_ca_bundle(_get(environ, ARM_CA_BUNDLE, "")),
            credential=credential,  # type: ignore[arg-type]  # narrowed by _choice
            discovery=discovery,  # type: ignore[arg-type]  # narrowed by _choice
            static_clusters=clusters,
            arm_deadline_seconds=_deadline(_get(environ, ARM_DEADLINE_SECONDS, "60")),
            policy_path=Path(_get(environ, POLICY_PATH, "policy.yaml")),
            store=_choice(environ, STORE, "tables", ("tables", "sqlite")),  # type: ignore[arg-type]
            sqlite_path=Path(_get(environ, SQLITE_PATH, ".patchpilot/state.db")),
            **_storage(environ),
            events_endpoint=_optional_https(environ, EVENTS_ENDPOINT),
            notice_hours=_hours(_get(environ, NOTICE_HOURS, "24")),
            mode=_choice(environ, MODE, "act", ("act", "shadow")),  # type: ignore[arg-type]
        )

    def require_storage(self) -> None:
        """Azure storage must be configured when the store is Table Storage."""
        if self.store == "tables" and not (self.storage_connection or self.table_service_uri):
            raise _error(
                STORAGE,
                f"is not set: {STORE}=tables needs the Functions storage connection "
                f"({STORAGE}, or {STORAGE_ACCOUNT} for a managed identity)",
            )


def load_settings(overrides: Mapping[str, str] | None = None) -> Settings:
    """The settings of this process (the one place ``os.environ`` is read).

    `overrides` (command-line options) win over the environment.
    """
    return Settings.from_env({**os.environ, **(overrides or {})})


def process_environment() -> dict[str, str]:
    """A copy of this process's environment, for start-up code that configures a library.

    `patchpilot serve` hands it to :func:`patchpilot.telemetry.configure_telemetry`
    (the OpenTelemetry and Azure Monitor variables), so this stays the one
    module that reads ``os.environ``.
    """
    return dict(os.environ)


def platform_auth_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether App Service authentication is on for this app, as the platform says.

    Read per call (a few dictionary lookups) so tests can change the
    environment; `patchpilot serve` and the tests of its front door set the
    answer with :func:`patchpilot.api.roles.use_platform` instead.
    """
    values = os.environ if environ is None else environ
    return values.get(PLATFORM_AUTH, "").strip().lower() == "true"


def _get(environ: Mapping[str, str], name: str, default: str) -> str:
    """A variable's value, stripped; unset or blank means the default."""
    value = environ.get(name, "").strip()
    return value or default


def _refuse_unknown(environ: Mapping[str, str]) -> None:
    """A misspelt setting must not be silently ignored."""
    for name in sorted(environ):
        if name.upper().startswith(PREFIX) and name not in KNOWN:
            raise _error(name, f"is not a Patch Pilot setting; known settings: {', '.join(KNOWN)}")


def _endpoint(value: str) -> str:
    parts = urllib.parse.urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise _error(
            ARM_ENDPOINT,
            f"must be an https:// URL (bearer tokens never travel in clear), got {value!r}",
        )
    if parts.path.strip("/") or parts.query or parts.fragment or parts.username:
        raise _error(
            ARM_ENDPOINT,
            f"must be a bare origin such as {PUBLIC_ARM} (no path, query or user), got {value!r}",
        )
    return f"https://{parts.netloc}"


def _audience(value: str) -> str:
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("https", "api") or not parts.netloc:
        raise _error(
            ARM_AUDIENCE,
            f"must be a token scope such as {PUBLIC_AUDIENCE}, got {value!r}",
        )
    return value


def _ca_bundle(value: str) -> Path | None:
    if not value:
        return None
    path = Path(value)
    if not path.is_file():
        raise _error(ARM_CA_BUNDLE, f"{value!r} is not a readable PEM file")
    return path


def _choice(environ: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _get(environ, name, default).lower()
    if value not in choices:
        raise _error(name, f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def _clusters(value: str) -> tuple[ClusterId, ...]:
    entries = [entry.strip() for entry in value.split(",") if entry.strip()]
    clusters = tuple(
        parse_cluster_id(entry, source=SOURCE, path=f"{STATIC_CLUSTERS}[{index}]")
        for index, entry in enumerate(entries)
    )
    unique: dict[str, ClusterId] = {}
    for cluster in clusters:
        unique.setdefault(cluster.key, cluster)
    return tuple(unique.values())


def _deadline(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise _error(ARM_DEADLINE_SECONDS, f"must be a number of seconds, got {value!r}") from None
    if not math.isfinite(seconds) or not 1 <= seconds <= MAX_DEADLINE_SECONDS:
        raise _error(
            ARM_DEADLINE_SECONDS,
            f"must be between 1 and {MAX_DEADLINE_SECONDS:g} seconds (a Function's time limit "
            f"must leave room for the rest of the invocation), got {value}",
        )
    return seconds


def is_loopback(endpoint: str) -> bool:
    """Whether an endpoint URL names this machine (localhost or a loopback address)."""
    host = urllib.parse.urlsplit(endpoint).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _storage(environ: Mapping[str, str]) -> dict[str, str | None]:
    """The storage connection: a connection string, or service URIs for a managed identity."""
    account = _get(environ, STORAGE_ACCOUNT, "")
    tables = _get(
        environ, STORAGE_TABLES, f"https://{account}.table.core.windows.net" if account else ""
    )
    queues = _get(
        environ, STORAGE_QUEUES, f"https://{account}.queue.core.windows.net" if account else ""
    )
    return {
        "storage_connection": _get(environ, STORAGE, "") or None,
        "table_service_uri": tables or None,
        "queue_service_uri": queues or None,
    }


def _optional_https(environ: Mapping[str, str], name: str) -> str | None:
    value = _get(environ, name, "")
    if not value:
        return None
    if urllib.parse.urlsplit(value).scheme != "https":
        raise _error(name, f"must be an https:// URL, got {value!r}")
    return value


def _hours(value: str) -> float:
    try:
        hours = float(value)
    except ValueError:
        raise _error(NOTICE_HOURS, f"must be a number of hours, got {value!r}") from None
    if not math.isfinite(hours) or not 0 <= hours <= 24 * 14:
        raise _error(NOTICE_HOURS, f"must be between 0 and 336 hours, got {value}")
    return hours


def _error(name: str, message: str) -> InvalidInputError:
    return InvalidInputError(message, source=SOURCE, path=name)

"""Azure Monitor alerts: the common alert schema as a typed view, and the policy's alert rules.

`POST /api/alerts` receives what an Azure Monitor action group sends to a
webhook with the common alert schema turned on (metric, log search and
activity log alerts all share its `essentials`). :func:`parse_alert` reads
that payload into an :class:`AlertNotice`, refusing anything that is not one,
so the service layer never looks at raw JSON. :class:`AlertRules` is the
policy's `alerts:` section: which ring an alert rule pauses, and which rules
must be quiet before a ring starts (the health gate).

A firing alert becomes a pause whose `by` is ``alert:<rule>`` (see
:func:`alert_actor`); the planner names such a pause "alert <rule> firing".
Alert rules and alert IDs are Azure resource names and IDs, so they compare as
ARM compares them, ignoring ASCII case only (:func:`rule_key`,
:attr:`AlertNotice.key`): one rule for the policy's sections and the service.
Pure: no I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from patchpilot.domain.instants import parse_instant
from patchpilot.errors import InvalidInputError

SCHEMA_ID: Final = "azureMonitorCommonAlertSchema"
ALERT_PREFIX: Final = "alert:"
SOURCE: Final = "alert"
Condition = Literal["Fired", "Resolved"]
# Azure Monitor caps a common-schema alert at 256 KB; text fields are far shorter.
_MAX_TEXT: Final = 2048
_MAX_TARGETS: Final = 100
_CONDITIONS: Final[dict[str, Condition]] = {"fired": "Fired", "resolved": "Resolved"}
# ARM ignores ASCII case only: Unicode folding would make the Kelvin sign match `k`.
_ASCII_LOWER: Final = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


@dataclass(frozen=True)
class AlertNotice:
    """One alert notification: which rule, about which resources, fired or resolved, and when.

    `alert_id` names the alert instance (the same in its Fired and its
    Resolved notification); `rule` is the alert rule's name and `rule_id` its
    resource ID when Azure Monitor sends one (newer payloads do).
    """

    alert_id: str
    rule: str
    severity: str
    signal_type: str
    condition: Condition
    monitoring_service: str
    fired_at: dt.datetime
    target_ids: tuple[str, ...] = ()
    rule_id: str | None = None
    resolved_at: dt.datetime | None = None
    description: str = ""

    @property
    def fired(self) -> bool:
        """True for a Fired notification, False for a Resolved one."""
        return self.condition == "Fired"

    @property
    def key(self) -> str:
        """The instance's identity: its `alertId` (a resource ID), ignoring ASCII case."""
        return self.alert_id.translate(_ASCII_LOWER)

    @property
    def names(self) -> tuple[str, ...]:
        """The ways a policy may name this alert's rule: its name, and its ID when known."""
        return (self.rule,) if self.rule_id is None else (self.rule, self.rule_id)


def parse_alert(payload: object) -> AlertNotice:
    """Read a common-alert-schema payload; :class:`InvalidInputError` names what is wrong."""
    body = _mapping(payload, "")
    schema = body.get("schemaId")
    if schema != SCHEMA_ID:
        raise _error(
            "schemaId",
            f"must be {SCHEMA_ID!r} (turn on the common alert schema in the action group), "
            f"got {_short(schema)!r}",
        )
    essentials = _mapping(_mapping(body.get("data"), "data").get("essentials"), "data.essentials")
    read = _Essentials(essentials)
    condition = _CONDITIONS.get(read.text("monitorCondition").lower())
    if condition is None:
        raise _error("data.essentials.monitorCondition", "must be Fired or Resolved")
    return AlertNotice(
        alert_id=read.text("alertId"),
        rule=read.text("alertRule"),
        severity=read.text("severity"),
        signal_type=read.text("signalType"),
        condition=condition,
        monitoring_service=read.text("monitoringService", default=""),
        fired_at=read.instant("firedDateTime"),
        target_ids=read.targets(),
        rule_id=_rule_id(essentials),
        resolved_at=read.instant("resolvedDateTime") if condition == "Resolved" else None,
        description=read.text("description", default=""),
    )


def alert_actor(rule: str) -> str:
    """The `by` of a pause an alert made: ``alert:<rule>``."""
    return f"{ALERT_PREFIX}{rule}"


def alert_rule_of(by: str) -> str | None:
    """The alert rule behind a pause, or None when a person or Patch Pilot made it."""
    return by[len(ALERT_PREFIX) :] if by.startswith(ALERT_PREFIX) else None


def rule_key(name: str) -> str:
    """What two spellings of one alert rule (name or resource ID) share: ASCII lower case."""
    return name.translate(_ASCII_LOWER)


@dataclass(frozen=True)
class AlertRules:
    """The policy's `alerts:` section; rule names compare by :func:`rule_key`.

    `rules` maps an alert rule (name or resource ID) to the ring its firing
    pauses; `gates` maps a ring to the rules that must be quiet before it
    starts anything. Either way a firing rule pauses the ring until the alert
    resolves.
    """

    rules: Mapping[str, str] = field(default_factory=dict)
    gates: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def rings_for(self, names: Iterable[str]) -> tuple[str, ...]:
        """The rings an alert with any of these rule names pauses, sorted."""
        wanted = {rule_key(name) for name in names}
        rings = {ring for rule, ring in self.rules.items() if rule_key(rule) in wanted}
        rings.update(
            ring
            for ring, rules in self.gates.items()
            if any(rule_key(rule) in wanted for rule in rules)
        )
        return tuple(sorted(rings))


class _Essentials:
    """Reads the `essentials` fields, each error naming its path."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data

    def text(self, key: str, *, default: str | None = None) -> str:
        value = self.data.get(key)
        if value is None and default is not None:
            return default
        if not isinstance(value, str) or (default is None and not value.strip()):
            raise _error(
                f"data.essentials.{key}", f"must be a non-empty string, got {_kind(value)}"
            )
        if len(value) > _MAX_TEXT:
            raise _error(f"data.essentials.{key}", f"is longer than {_MAX_TEXT} characters")
        return value.strip()

    def instant(self, key: str) -> dt.datetime:
        path = f"data.essentials.{key}"
        text = self.text(key)
        try:
            return parse_instant(text, path=path)
        except InvalidInputError as exc:
            raise _error(path, exc.detail) from None
        except OverflowError:
            # 0001-01-01T00:00:00+05:00 is a valid ISO 8601 text but no UTC instant.
            raise _error(path, f"{_short(text)!r} is outside the years 1 to 9999 in UTC") from None

    def targets(self) -> tuple[str, ...]:
        value = self.data.get("alertTargetIDs")
        path = "data.essentials.alertTargetIDs"
        if value is None:
            return ()
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise _error(path, f"must be a list of resource IDs, got {_kind(value)}")
        if len(value) > _MAX_TARGETS:
            raise _error(path, f"names more than {_MAX_TARGETS} resources")
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item.strip() or len(item) > _MAX_TEXT:
                raise _error(f"{path}[{index}]", "must be a resource ID string")
        return tuple(item.strip() for item in value)


def _rule_id(essentials: Mapping[str, Any]) -> str | None:
    """The rule's resource ID: `alertRuleID` in the schema reference, `alertRuleId` in samples."""
    for key in ("alertRuleID", "alertRuleId"):
        value = essentials.get(key)
        if isinstance(value, str) and value.strip() and len(value) <= _MAX_TEXT:
            return value.strip()
    return None


def _mapping(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _error(path or None, f"must be a JSON object, got {_kind(value)}")
    return value


def _error(path: str | None, message: str) -> InvalidInputError:
    return InvalidInputError(message, source=SOURCE, path=path)


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "an empty string" if not value.strip() else "a string"
    if isinstance(value, Mapping):
        return "an object"
    return "a list" if isinstance(value, list | tuple) else type(value).__name__


def _short(value: object, limit: int = 80) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "..."

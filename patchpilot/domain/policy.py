"""The policy file: what a platform team allows Patch Pilot to do, validated once.

The CLI, the service layer and the planner receive a :class:`Policy` built by
:func:`parse_policy` from the already-loaded YAML mapping; an invalid file
raises one :class:`~patchpilot.errors.InvalidInputError` naming the file, the
field path and what was expected, so nothing is ever partly applied.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from patchpilot.domain.alerts import AlertRules
from patchpilot.domain.fields import Fields
from patchpilot.domain.fleet_ids import FleetId, parse_fleet_id
from patchpilot.domain.history import Kind
from patchpilot.domain.maintenance_config import parse_maintenance_window
from patchpilot.domain.node_images import parse_node_image
from patchpilot.domain.resource_ids import ClusterId, ascii_key, parse_scope
from patchpilot.domain.schedule import MaintenanceWindow
from patchpilot.domain.versions import (
    CHANNELS,
    DEFAULT_MAX_SKEW_MINORS,
    KubernetesVersion,
    UpgradeChannel,
)
from patchpilot.domain.windows import Window
from patchpilot.errors import InvalidInputError

Selection = Literal["bounded", "soaked", "latest"]
SELECTIONS: tuple[Selection, ...] = ("bounded", "soaked", "latest")
StragglerRule = Literal["release", "hold"]
_UTC = dt.UTC


@dataclass(frozen=True)
class Freeze:
    """Whole UTC days on which nothing starts, end date included."""

    start: dt.date
    end: dt.date
    reason: str

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"freeze ends ({self.end}) before it starts ({self.start})")

    @property
    def span(self) -> Window:
        """The blocked interval [start 00:00Z, day after end 00:00Z)."""
        start = dt.datetime.combine(self.start, dt.time(), _UTC)
        end = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), _UTC)
        return Window(start, end)


@dataclass(frozen=True)
class Ring:
    """A stage of the rollout; a cluster joins the first ring whose tags all match."""

    name: str
    tags: tuple[tuple[str, str], ...]
    soak_days: int

    def matches(self, cluster_tags: Mapping[str, str]) -> bool:
        """True when every tag of the ring's match is on the cluster (an empty match takes all)."""
        return all(cluster_tags.get(key) == value for key, value in self.tags)


@dataclass(frozen=True)
class KubernetesPolicy:
    """How Patch Pilot chooses Kubernetes versions."""

    channel: UpgradeChannel = "patch"
    allow_preview: bool = False
    max_skew_minors: int = DEFAULT_MAX_SKEW_MINORS


@dataclass(frozen=True)
class NodeImagePolicy:
    """How Patch Pilot chooses node images, per OS."""

    selection: Selection = "bounded"
    linux_enabled: bool = True
    windows_enabled: bool = True
    patch_tuesday_offset_days: int = 7
    # bounded: AKS's latest may be at most this many days of build newer than an
    # image the earlier ring soaked.
    max_drift_days: int = 14


@dataclass(frozen=True)
class PromotionPolicy:
    """How a ring's members hold the rings after it (README "How it decides").

    `stragglers`: "release" lets a member whose window can stay shut longer
    than `straggler_gap_days` stop holding later rings (it still upgrades in
    its own windows, and a finding names it); "hold" makes every member hold.
    `canary_days`: a later ring takes a target only once every member of the
    first ring runs it (or newer), for at least this many days; None turns
    that check off (the behaviour before it existed).
    """

    stragglers: StragglerRule = "release"
    straggler_gap_days: int = 8
    canary_days: int | None = 1

    @property
    def straggler_gap(self) -> dt.timedelta:
        """The longest a window may stay shut before its cluster stops holding later rings."""
        return dt.timedelta(days=self.straggler_gap_days)


@dataclass(frozen=True)
class Hold:
    """Keep a cluster (or one pool, or one kind of upgrade) at what it runs now."""

    cluster: str
    reason: str
    pool: str | None = None
    kind: Kind | None = None
    until: dt.date | None = None

    def covers(self, cluster: ClusterId, pool: str | None, kind: Kind, now: dt.datetime) -> bool:
        """True when this hold applies to the upgrade at `now` (until: whole UTC day included)."""
        if self.until is not None and now.astimezone(_UTC).date() > self.until:
            return False
        # ARM compares names ignoring ASCII case only (no Kelvin sign for k).
        if self.cluster not in (cluster.key, ascii_key(cluster.name)):
            return False
        return (self.pool is None or self.pool == pool) and self.kind in (None, kind)


@dataclass(frozen=True)
class Skip:
    """A version or node image that must never be a target, fleet-wide."""

    kind: Kind
    version: str
    reason: str


@dataclass(frozen=True)
class FleetGatePolicy:
    """``fleet_gates:``: the Fleet Manager fleets whose approval gates Patch Pilot may approve.

    Nothing by default: a fleet is named by its resource ID. `windows`: an
    approval also waits until every cluster behind the gate is inside its own
    allowed window (its AKS maintenance configuration for the update run's
    kind of upgrade, else ``default_window``); off, Fleet's own schedule rules.
    """

    fleets: tuple[str, ...] = ()
    windows: bool = False

    def allows(self, fleet: FleetId) -> bool:
        """True when the policy lists this fleet (IDs compare ignoring ASCII case)."""
        return str(fleet) in self.fleets


@dataclass(frozen=True)
class Policy:
    """The whole validated policy."""

    scopes: tuple[str, ...]
    rings: tuple[Ring, ...]
    default_window: MaintenanceWindow | None = None
    freezes: tuple[Freeze, ...] = ()
    kubernetes: KubernetesPolicy = KubernetesPolicy()
    node_images: NodeImagePolicy = NodeImagePolicy()
    promotion: PromotionPolicy = PromotionPolicy()
    alerts: AlertRules = field(default_factory=AlertRules)
    holds: tuple[Hold, ...] = ()
    skips: tuple[Skip, ...] = ()
    fleet_gates: FleetGatePolicy = FleetGatePolicy()

    def hold_on(
        self, cluster: ClusterId, pool: str | None, kind: Kind, now: dt.datetime
    ) -> Hold | None:
        """The first hold that keeps this upgrade from happening, if any."""
        return next((h for h in self.holds if h.covers(cluster, pool, kind, now)), None)

    def skipped(self, kind: Kind, version: str) -> Skip | None:
        """The skip entry naming this version or image, if any."""
        return next((s for s in self.skips if s.kind == kind and s.version == version), None)

    def ring_of(self, tags: Mapping[str, str]) -> Ring | None:
        """The first ring that matches the cluster's tags, or None."""
        return next((ring for ring in self.rings if ring.matches(tags)), None)

    def rings_before(self, ring: Ring | None) -> tuple[Ring, ...]:
        """Every ring ahead of `ring` (none for the first ring or for no ring)."""
        return self.rings[: self.rings.index(ring)] if ring is not None else ()

    def ring_after(self, ring: Ring) -> Ring | None:
        """The ring that waits for `ring` to soak a target before it may take it."""
        index = self.rings.index(ring)
        return self.rings[index + 1] if index + 1 < len(self.rings) else None

    @property
    def first_ring(self) -> Ring:
        """The ring every other ring's canary check looks at."""
        return self.rings[0]

    def ring_before(self, ring: Ring) -> Ring | None:
        """The ring that must soak a target before `ring` may take it."""
        index = self.rings.index(ring)
        return self.rings[index - 1] if index > 0 else None

    @property
    def freeze_spans(self) -> tuple[Window, ...]:
        """All freezes as blocked UTC intervals."""
        return tuple(freeze.span for freeze in self.freezes)


_TOP_LEVEL = (
    "scopes",
    "default_window",
    "freezes",
    "rings",
    "kubernetes",
    "node_images",
    "promotion",
    "alerts",
    "holds",
    "skip",
    "fleet_gates",
)


def parse_policy(data: object, *, source: str | None = None) -> Policy:
    """Validate a loaded policy document as a whole and build the :class:`Policy`."""
    fields = Fields.of(data, source=source).only(*_TOP_LEVEL)
    window = None
    if fields.has("default_window"):
        window = parse_maintenance_window(
            fields.raw("default_window"), source=source, path="default_window"
        )
    rings = _rings(fields)
    return Policy(
        scopes=_scopes(fields),
        rings=rings,
        default_window=window,
        freezes=tuple(_freeze(fields, path, item) for path, item in fields.items("freezes")),
        kubernetes=_kubernetes(fields.child("kubernetes", {})),
        node_images=_node_images(fields.child("node_images", {})),
        promotion=_promotion(fields.child("promotion", {})),
        alerts=_alerts(fields.child("alerts", {}), rings),
        holds=tuple(_hold(fields, path, item) for path, item in fields.items("holds")),
        skips=tuple(_skip(fields, path, item) for path, item in fields.items("skip")),
        fleet_gates=_fleet_gates(fields.child("fleet_gates", {})),
    )


def _fleet_gates(fields: Fields) -> FleetGatePolicy:
    """`fleet_gates:`: fleets by resource ID, each once, and whether windows count."""
    fields.only("fleets", "windows")
    fleets: list[str] = []
    for path, item in fields.items("fleets"):
        fleet = str(parse_fleet_id(item, source=fields.source, path=path))
        if fleet in fleets:
            raise InvalidInputError("fleet is listed twice", source=fields.source, path=path)
        fleets.append(fleet)
    return FleetGatePolicy(tuple(fleets), fields.flag("windows", False))


def _hold(fields: Fields, path: str, item: Any) -> Hold:
    hold = Fields.of(item, source=fields.source, path=path).only(
        "cluster", "pool", "kind", "reason", "until"
    )
    kind = hold.text("kind", choices=("kubernetes", "node_image")) if hold.has("kind") else None
    return Hold(
        cluster=ascii_key(hold.text("cluster")),
        reason=hold.text("reason"),
        pool=hold.text("pool") if hold.has("pool") else None,
        kind=kind,  # type: ignore[arg-type]  # narrowed by choices
        until=hold.day("until") if hold.has("until") else None,
    )


def _skip(fields: Fields, path: str, item: Any) -> Skip:
    entry = Fields.of(item, source=fields.source, path=path).only(
        "kubernetes", "node_image", "reason"
    )
    reason = entry.text("reason")
    if entry.has("kubernetes") == entry.has("node_image"):
        raise entry.error(None, "name exactly one of kubernetes (a version) or node_image")
    if entry.has("kubernetes"):
        version = KubernetesVersion.parse(
            str(entry.raw("kubernetes")), source=fields.source, path=entry.at("kubernetes")
        )
        return Skip("kubernetes", str(version), reason)
    image = parse_node_image(
        entry.text("node_image"), source=fields.source, path=entry.at("node_image")
    )
    return Skip("node_image", str(image), reason)


def _scopes(fields: Fields) -> tuple[str, ...]:
    scopes = tuple(
        parse_scope(item, source=fields.source, path=path)
        for path, item in fields.items("scopes", required=True)
    )
    if not scopes:
        raise fields.error("scopes", "must name at least one subscription or resource group")
    return scopes


def _rings(fields: Fields) -> tuple[Ring, ...]:
    rings: list[Ring] = []
    for path, item in fields.items("rings", required=True):
        ring = Fields.of(item, source=fields.source, path=path).only("name", "match", "soak_days")
        match = ring.child("match", {}).only("tags")
        name = ring.text("name")
        if any(existing.name == name for existing in rings):
            raise ring.error("name", f"ring {name!r} is defined twice")
        tags = tuple(sorted(match.string_map("tags").items()))
        rings.append(Ring(name, tags, ring.integer("soak_days", 0, low=0, high=90)))
    if not rings:
        raise fields.error("rings", "must define at least one ring")
    return tuple(rings)


def _freeze(fields: Fields, path: str, item: Any) -> Freeze:
    freeze = Fields.of(item, source=fields.source, path=path).only("start", "end", "reason")
    start, end = freeze.day("start"), freeze.day("end")
    if end < start:
        raise freeze.error("end", f"{end} is before start {start}")
    return Freeze(start, end, freeze.text("reason", "freeze"))


def _kubernetes(fields: Fields) -> KubernetesPolicy:
    fields.only("channel", "allow_preview", "max_skew_minors")
    channel = fields.text("channel", "patch", choices=CHANNELS)
    return KubernetesPolicy(
        channel=channel,  # type: ignore[arg-type]  # narrowed by choices
        allow_preview=fields.flag("allow_preview", False),
        max_skew_minors=fields.integer("max_skew_minors", DEFAULT_MAX_SKEW_MINORS, low=0, high=3),
    )


def _node_images(fields: Fields) -> NodeImagePolicy:
    fields.only("selection", "max_drift_days", "linux", "windows")
    linux = fields.child("linux", {}).only("enabled")
    windows = fields.child("windows", {}).only("enabled", "patch_tuesday_offset_days")
    selection = fields.text("selection", "bounded", choices=SELECTIONS)
    return NodeImagePolicy(
        selection=selection,  # type: ignore[arg-type]  # narrowed by choices
        linux_enabled=linux.flag("enabled", True),
        windows_enabled=windows.flag("enabled", True),
        patch_tuesday_offset_days=windows.integer("patch_tuesday_offset_days", 7, low=0, high=27),
        max_drift_days=fields.integer("max_drift_days", 14, low=0, high=90),
    )


def _promotion(fields: Fields) -> PromotionPolicy:
    fields.only("stragglers", "straggler_gap_days", "canary_days")
    stragglers = fields.text("stragglers", "release", choices=("release", "hold"))
    # An explicit null turns the canary check off; a missing key keeps the default.
    off = "canary_days" in fields.data and fields.data["canary_days"] is None
    canary = None if off else fields.integer("canary_days", 1, low=0, high=30)
    return PromotionPolicy(
        stragglers=stragglers,  # type: ignore[arg-type]  # narrowed by choices
        straggler_gap_days=fields.integer("straggler_gap_days", 8, low=1, high=90),
        canary_days=canary,
    )


def _alerts(fields: Fields, rings: tuple[Ring, ...]) -> AlertRules:
    """`alerts:`: rule -> the ring it pauses, and ring -> the rules that gate it."""
    fields.only("rules", "gates")
    names = [ring.name for ring in rings]
    rules_fields = fields.child("rules", {})
    rules: dict[str, str] = {}
    for rule in rules_fields.data:
        entry = rules_fields.child(_rule_name(rules_fields, rule)).only("ring")
        rules[rule] = entry.text("ring", choices=names)
    gates_fields = fields.child("gates", {})
    gates: dict[str, tuple[str, ...]] = {}
    for ring in gates_fields.data:
        if ring not in names:
            raise gates_fields.error(str(ring), f"is not a ring of the policy ({', '.join(names)})")
        gates[ring] = tuple(
            _rule_name(gates_fields, item, path) for path, item in gates_fields.items(ring)
        )
    return AlertRules(rules, gates)


def _rule_name(fields: Fields, value: object, path: str | None = None) -> str:
    if not isinstance(value, str) or not value.strip():
        where = path or fields.at(str(value))
        raise InvalidInputError(
            "an alert rule is named by a non-empty string (its name or resource ID)",
            source=fields.source,
            path=where,
        )
    return value

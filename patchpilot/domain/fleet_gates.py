"""Azure Kubernetes Fleet Manager approval gates: typed views, and whether Patch Pilot approves one.

A Fleet Manager update run can stop at an approval gate before or after a
stage or group; the gate (``Microsoft.ContainerService/fleets/gates``) stays
``Pending`` until someone sets its ``state`` to ``Completed``. Patch Pilot
may be that someone for the fleets its policy lists (``fleet_gates:``): it
approves a gate only when its own gates let the clusters behind it go on.

Facts, and where they come from:

- Events (MicrosoftDocs azure-docs, ``articles/event-grid/event-schema-aks-resources.md``,
  and ``articles/kubernetes-fleet/howto-configure-update-run-approval-gate-events.md``):
  ``Microsoft.ResourceNotifications.AKSResources.FleetGateCreated`` when an
  update run reaches a gate, ``...FleetGateUpdated`` when its state goes from
  Pending to Completed, ``...FleetGateDeleted`` when its update run is
  deleted. The table spells ``AKSResources``, the samples ``AksResources``:
  types compare without case. ``topic`` (Event Grid schema) or ``source``
  (CloudEvents) is the *subscription*; ``subject`` and
  ``data.resourceInfo.id`` are the gate's resource ID;
  ``data.resourceInfo.properties`` is the gate's ``properties`` as ARM
  returns them (``displayName``, ``gateType``, ``provisioningState``,
  ``state``, ``target.id`` = the update run, ``target.updateRunProperties``
  = ``name``, ``stage``, ``group`` (group gates only), ``timing``
  ``Before``/``After``). The CloudEvents sample writes ``specVersion``.
- The resource (azure-rest-api-specs,
  ``specification/containerservice/resource-manager/Microsoft.ContainerService/fleet/gate.tsp``
  and ``examples/2026-06-01/Gates_Get.json``, ``Gates_Update.json``): the
  gate's name is a GUID; ``gateType`` is ``Approval`` (a later API adds
  ``ScheduledStart``, which completes by itself); ``state`` is ``Pending``,
  ``Skipped`` or ``Completed``; only ``Gates_Update`` (PATCH
  ``{"properties": {"state": "Completed"}}``) writes it.
- The update run (``examples/2026-06-01/UpdateRuns_Get.json``):
  ``properties.status.stages[].groups[].members[]`` carry each member's
  ``clusterResourceId`` and ``status.state``; stages run in order, the groups
  of a stage side by side; ``properties.managedClusterUpdate.upgrade.type`` is
  ``Full``, ``ControlPlaneOnly`` or ``NodeImageOnly``.

Pure: no I/O and no clock; the service passes `now` and what it read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from patchpilot.domain.alerts import alert_rule_of
from patchpilot.domain.errors import UnhandledEventError
from patchpilot.domain.events import Schema, bounded_text, envelope_schema
from patchpilot.domain.fields import Fields
from patchpilot.domain.fleet import ClusterState
from patchpilot.domain.fleet_ids import FleetId, gate_id_parts, run_id_parts
from patchpilot.domain.gates import KUBERNETES
from patchpilot.domain.history import History, Kind
from patchpilot.domain.instants import parse_instant
from patchpilot.domain.plan import iso
from patchpilot.domain.planner import allowed_piece
from patchpilot.domain.policy import Policy
from patchpilot.domain.promotion import window_schedule
from patchpilot.domain.resource_ids import ascii_key, in_scopes, parse_cluster_id, resource_name

EVENT_PREFIX: Final = "Microsoft.ResourceNotifications.AKSResources."
GATE_CREATED: Final = EVENT_PREFIX + "FleetGateCreated"
GATE_UPDATED: Final = EVENT_PREFIX + "FleetGateUpdated"
GATE_DELETED: Final = EVENT_PREFIX + "FleetGateDeleted"
# The types the fleet's system topic subscription delivers (infra subscribes to exactly these).
GATE_EVENT_TYPES: Final = (GATE_CREATED, GATE_UPDATED, GATE_DELETED)
GATE_RESOURCE_TYPE: Final = "Microsoft.ContainerService/fleets/gates"
GateState = Literal["Pending", "Skipped", "Completed"]
Timing = Literal["Before", "After"]
GATE_STATES: Final[tuple[GateState, ...]] = ("Pending", "Skipped", "Completed")
TIMINGS: Final[tuple[Timing, ...]] = ("Before", "After")
# How many blocks a reason names before it says how many more there are.
SHOWN_BLOCKS: Final = 4


@dataclass(frozen=True)
class GateTarget:
    """Where in an update run the gate stands: before or after a stage, or a group of it."""

    update_run: str
    timing: Timing
    stage: str | None = None
    group: str | None = None

    def describe(self) -> str:
        """`before stage prod of update run run-1`, for reasons and the status page."""
        where = f"group {self.group} of stage {self.stage}" if self.group else f"stage {self.stage}"
        return f"{self.timing.lower()} {where} of update run {self.update_run}"


@dataclass(frozen=True)
class FleetGate:
    """One gate resource, as an event carries it or ARM returns it."""

    fleet: FleetId
    name: str
    gate_type: str
    state: str
    target: GateTarget
    display_name: str = ""
    etag: str | None = None

    @property
    def id(self) -> str:
        """The gate's resource ID (lower case: one spelling per gate)."""
        return f"{self.fleet}/gates/{self.name}"

    @property
    def pending_approval(self) -> bool:
        """True for an approval gate still waiting: the only kind Patch Pilot may complete."""
        return self.gate_type == "Approval" and self.state == "Pending"


@dataclass(frozen=True)
class GateEvent:
    """One gate event from the fleet's system topic, whichever schema it came in."""

    id: str
    type: str
    time: dt.datetime
    schema: Schema
    gate: FleetGate

    @property
    def short_type(self) -> str:
        """`FleetGateCreated` rather than the whole type name."""
        return self.type.removeprefix(EVENT_PREFIX)


def parse_gate_event(payload: object) -> GateEvent:
    """Validate a gate event's envelope and gate; InvalidInputError names what is wrong.

    Another well-formed event type raises :class:`UnhandledEventError`.
    """
    envelope = Fields.of(payload, path="event")
    schema, names = envelope_schema(envelope)
    event_type = _canonical_type(bounded_text(envelope, names[0]))
    subject = bounded_text(envelope, "subject")
    data = envelope.child("data")
    info = data.child("resourceInfo")
    gate = gate_from_resource(info.data, path="event.data.resourceInfo")
    if ascii_key(subject.rstrip("/")) != gate.id:
        raise envelope.error("subject", "is not the gate named by data.resourceInfo.id")
    scope = ascii_key(bounded_text(envelope, names[1]).rstrip("/"))
    if scope != f"/subscriptions/{gate.fleet.subscription}":
        raise envelope.error(names[1], "is not the subscription of the gate's fleet")
    return GateEvent(
        id=bounded_text(envelope, "id", limit=256),
        type=event_type,
        time=parse_instant(bounded_text(envelope, names[2]), path=f"event.{names[2]}"),
        schema=schema,
        gate=gate,
    )


def gate_from_resource(document: Mapping[str, Any], *, path: str = "gate") -> FleetGate:
    """A gate from its ARM JSON (``id``, ``name``, ``properties``; ``eTag`` when read by GET)."""
    fields = Fields.of(document, path=path)
    fleet, name = gate_id_parts(fields.raw("id"), path=fields.at("id"))
    props = fields.child("properties")
    target = props.child("target")
    run_fleet, run = run_id_parts(target.raw("id"), path=target.at("id"))
    if run_fleet != fleet:
        raise target.error("id", "names an update run of another fleet")
    where = target.child("updateRunProperties", {})
    return FleetGate(
        fleet=fleet,
        name=name,
        gate_type=bounded_text(props, "gateType", limit=64),
        state=bounded_text(props, "state", limit=64),
        target=GateTarget(
            update_run=run,
            timing=where.text("timing", choices=TIMINGS),  # type: ignore[arg-type]
            stage=_name(where, "stage"),
            group=_name(where, "group"),
        ),
        display_name=bounded_text(props, "displayName", limit=100)
        if props.has("displayName")
        else "",
        etag=str(fields.raw("eTag")) if fields.has("eTag") else None,
    )


def _canonical_type(text: str) -> str:
    for known in GATE_EVENT_TYPES:
        if known.lower() == text.lower():
            return known
    raise UnhandledEventError(f"event type {_short(text)!r} is not a Fleet gate event")


# Update runs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunMember:
    """One member cluster of an update run, and how its update stands."""

    name: str
    cluster: str
    state: str


@dataclass(frozen=True)
class RunGroup:
    """A group of a stage: its members update side by side."""

    name: str
    members: tuple[RunMember, ...]


@dataclass(frozen=True)
class RunStage:
    """A stage: its groups; stages run one after another."""

    name: str
    groups: tuple[RunGroup, ...]

    @property
    def members(self) -> tuple[RunMember, ...]:
        """Every member of every group of the stage."""
        return tuple(member for group in self.groups for member in group.members)


@dataclass(frozen=True)
class UpdateRun:
    """The parts of an update run a gate decision reads."""

    name: str
    upgrade_type: str
    stages: tuple[RunStage, ...]

    @property
    def kinds(self) -> tuple[Kind, ...]:
        """Which of Patch Pilot's kinds of upgrade the run makes (for windows)."""
        if self.upgrade_type == "NodeImageOnly":
            return ("node_image",)
        if self.upgrade_type == "ControlPlaneOnly":
            return ("kubernetes",)
        return ("kubernetes", "node_image")


def parse_update_run(document: Mapping[str, Any], *, path: str = "updateRun") -> UpdateRun:
    """An update run from its ARM JSON (``UpdateRuns_Get``), status stages and members."""
    fields = Fields.of(document, path=path)
    props = fields.child("properties")
    update = props.child("managedClusterUpdate", {}).child("upgrade", {})
    status = props.child("status", {})
    stages = tuple(_stage(status, p, item) for p, item in status.items("stages"))
    return UpdateRun(
        name=ascii_key(bounded_text(fields, "name", limit=64)),
        upgrade_type=update.text("type", "Full"),
        stages=stages,
    )


def _stage(status: Fields, path: str, item: object) -> RunStage:
    stage = Fields.of(item, path=path)
    groups = []
    for group_path, group_item in stage.items("groups"):
        group = Fields.of(group_item, path=group_path)
        members = tuple(_member(p, m) for p, m in group.items("members"))
        groups.append(RunGroup(ascii_key(bounded_text(group, "name", limit=64)), members))
    return RunStage(ascii_key(bounded_text(stage, "name", limit=64)), tuple(groups))


def _member(path: str, item: object) -> RunMember:
    member = Fields.of(item, path=path)
    cluster = parse_cluster_id(member.raw("clusterResourceId"), path=member.at("clusterResourceId"))
    state = member.child("status", {}).text("state", "NotStarted")
    return RunMember(bounded_text(member, "name", limit=64), cluster.key, state)


def clusters_behind(
    gate: FleetGate, run: UpdateRun
) -> tuple[tuple[str, ...], tuple[RunMember, ...]]:
    """The clusters the gate holds back, and the members whose update it comes after.

    Before a stage or group: that stage's or group's members wait for it.
    After one: the next stage waits for it (a group's after-gate holds its
    stage's end, so the next stage too), and the members just updated are
    the ones to check for failures. Cluster keys, in run order.
    """
    names = [stage.name for stage in run.stages]
    target = gate.target
    if target.stage not in names:
        return (), ()
    index = names.index(target.stage)
    stage = run.stages[index]
    scope = stage.members
    if target.group is not None:
        scope = next((g.members for g in stage.groups if g.name == target.group), ())
    if target.timing == "Before":
        return tuple(m.cluster for m in scope), ()
    later = run.stages[index + 1].members if index + 1 < len(run.stages) else ()
    return tuple(m.cluster for m in later), scope


# The decision ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberFacts:
    """What Patch Pilot knows of one cluster behind a gate: its last picture and its past.

    `state` None: Patch Pilot has not observed the cluster (yet). `history`
    is the cluster's own (its pauses, fleet and ring pauses included, and
    failures) with the gate sums of the rings before its own.
    """

    cluster: str
    state: ClusterState | None
    history: History = field(default_factory=History)


@dataclass(frozen=True)
class GateDecision:
    """Approve or block, and why, in words a person can act on."""

    approve: bool
    reason: str
    blocks: tuple[str, ...] = ()


def decide_gate(
    gate: FleetGate,
    run: UpdateRun,
    members: Sequence[MemberFacts],
    policy: Policy,
    now: dt.datetime,
) -> GateDecision:
    """Whether Patch Pilot's own gates let the clusters behind this gate go on at `now`.

    Fails closed: a cluster Patch Pilot does not manage or has not seen
    blocks the gate, as does a failed member of the run before it.
    """
    held, done = clusters_behind(gate, run)
    facts = {m.cluster: m for m in members}
    blocks = [f"{m.name} failed its update in this run ({m.state})" for m in done if _failed(m)]
    for cluster in held:
        blocks += _cluster_blocks(facts.get(cluster), cluster, run, policy, now)
    where = gate.target.describe()
    if blocks:
        shown = "; ".join(blocks[:SHOWN_BLOCKS])
        more = f"; and {len(blocks) - SHOWN_BLOCKS} more" if len(blocks) > SHOWN_BLOCKS else ""
        return GateDecision(False, f"blocked ({where}): {shown}{more}", tuple(blocks))
    if not held:
        return GateDecision(True, f"approved ({where}): no cluster of the run waits on it")
    windows = " and inside their windows" if policy.fleet_gates.windows else ""
    return GateDecision(
        True,
        f"approved ({where}): the {len(held)} clusters behind it have no pause, freeze, "
        f"firing alert, failed upgrade or failure in the ring before theirs{windows}",
    )


def _failed(member: RunMember) -> bool:
    return member.state.lower() == "failed"


def _cluster_blocks(
    facts: MemberFacts | None,
    cluster: str,
    run: UpdateRun,
    policy: Policy,
    now: dt.datetime,
) -> list[str]:
    """Every reason of Patch Pilot's that this cluster must not be updated now."""
    name = resource_name(cluster)
    state = facts.state if facts else None
    if state is None or facts is None:
        return [f"{name}: Patch Pilot has not observed it yet (the next sweep does)"]
    if not in_scopes(state.id, policy.scopes):
        return [f"{name}: outside the policy's scopes, so Patch Pilot cannot vouch for it"]
    ring = policy.ring_of(state.tags)
    if ring is None:
        return [f"{name}: matches no ring of the policy"]
    history = facts.history
    blocks = [f"{name}: {why}" for why in _pauses(history, cluster, ring.name, now)]
    blocks += [
        f"{name}: inside freeze {f.reason} ({f.start} to {f.end})"
        for f in policy.freezes
        if f.span.start <= now < f.span.end
    ]
    blocks += [
        f"{name}: its upgrade to {f.target} failed at {iso(f.at)}: {f.message}"
        for f in history.failures
        if f.cluster == cluster
    ]
    blocks += [f"{name}: {why}" for why in _earlier_ring(history, policy, state, ring.name)]
    if policy.fleet_gates.windows:
        blocks += [f"{name}: {why}" for why in _windows(state, policy, run, now)]
    return blocks


def _pauses(history: History, cluster: str, ring: str, now: dt.datetime) -> list[str]:
    """Pauses in force over the cluster, a firing alert said so first (as the planner does)."""
    found = []
    for pause in history.pauses:
        if not pause.covers(cluster, ring, now):
            continue
        alert = alert_rule_of(pause.by)
        if alert is not None:
            found.append(f"alert {alert} firing ({pause.scope} paused): {pause.reason}")
        else:
            until = f" until {iso(pause.until)}" if pause.until else ""
            found.append(f"{pause.scope} paused by {pause.by}{until}: {pause.reason}")
    return found


def _earlier_ring(history: History, policy: Policy, state: ClusterState, ring: str) -> list[str]:
    """Failed upgrades in the ring before this cluster's, by the stored ring gate sums."""
    earlier = policy.ring_before(next(r for r in policy.rings if r.name == ring))
    if earlier is None:
        return []
    if history.gates_hold is not None:
        return [history.gates_hold]
    subjects = [KUBERNETES, *sorted({pool.node_image.family for pool in state.pools})]
    found = []
    for subject in subjects:
        tally = (history.gates or {}).get((earlier.name, subject))
        if tally is not None and tally.failed:
            lines = "; ".join(tally.failure_lines())
            found.append(
                f"ring {earlier.name} before it has {tally.failed} failed upgrades: {lines}"
            )
    return found


def _windows(state: ClusterState, policy: Policy, run: UpdateRun, now: dt.datetime) -> list[str]:
    """The run's kinds of upgrade whose allowed window is not open at `now`."""
    found = []
    for kind in run.kinds:
        schedule, name = window_schedule(state, policy, kind)
        if schedule is None:
            found.append(f"no maintenance window ({name}) and the policy has no default_window")
        elif schedule.unusable is not None:
            found.append(schedule.unusable)
        else:
            piece = allowed_piece(schedule, policy.freeze_spans, now)
            if piece is None or piece.start > now:
                opens = f"; it opens {iso(piece.start)}" if piece else ""
                found.append(f"outside its allowed {name} window{opens}")
    return found


def _name(fields: Fields, key: str) -> str | None:
    if not fields.has(key):
        return None
    return ascii_key(bounded_text(fields, key, limit=64))


def _short(text: object) -> str:
    value = str(text)
    return value if len(value) <= 80 else value[:80] + "..."

"""The demo's Fleet gate scene, played: an alert fires, an update run waits, Patch Pilot approves.

Plays the world around the app, as :mod:`patchpilot.demo.script` does, for
:class:`~patchpilot.demo.scenario.FleetGateScene`:

- Azure Monitor fires an alert on a cluster of the last ring: its common
  alert schema notification goes to ``POST /api/alerts`` (the app's own
  webhook function), which pauses that cluster;
- half an hour later a platform engineer starts a Fleet Manager update run
  over every ring with an approval gate before the last one; the simulator
  runs the first stages and stops at the gate, emitting ``FleetGateCreated``,
  which the host delivers to ``on_fleet_gate_event``;
- the alert resolves two hours after it fired (``POST /api/alerts`` again);
  ``follow_fleet_gates`` judges the gate again on its five-minute schedule
  and approves it, and the run goes on.

Patch Pilot does all the judging and approving through its registered
functions; this module only reads the gate records the app keeps (the
status page's ``fleet_gates``) to note each change for the timeline. The
simulator marks the run's clusters updated as its stages pass (it models the
gates, not Fleet's own upgrades), so no cluster's versions change and the
demo's upgrade figures stay Patch Pilot's alone.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any, Final

from patchpilot.demo.scenario import FleetGateScene
from patchpilot.demo.script import Note
from patchpilot.domain.plan import iso
from patchpilot.domain.resource_ids import parse_cluster_id, resource_name
from patchpilot.localhost.harness import Harness
from patchpilot.service.fleet_gates import gate_status
from patchpilot.sim.fleet_gates import StageSpec, fleets_of

# Azure Monitor's common alert schema, as its action group posts it (MicrosoftDocs
# azure-monitor-docs, articles/azure-monitor/alerts/alerts-common-schema.md).
SCHEMA_ID: Final = "azureMonitorCommonAlertSchema"
ALERT_GUID: Final = "5e0d3c1a-9b7f-4c2e-8a61-3f4d2b1c0e9a"


@dataclass
class FleetGatePlay:
    """Plays one scene against a running app; `notes` are what the timeline tells."""

    app: Harness
    scene: FleetGateScene
    notes: list[Note] = field(default_factory=list)
    # The newest record of each gate the scene's run reached, as the status page shows it
    # (kept here: the store forgets a gate record 30 days after it was written).
    gates: dict[str, dict[str, Any]] = field(default_factory=dict)
    _done: set[str] = field(default_factory=set, init=False)
    _seen: set[tuple[str, str]] = field(default_factory=set, init=False)

    def attach(self) -> None:
        """Join the host's loop: called at every stop, and woken at the scene's instants.

        The fleet exists from the start (its gate list answers empty until the run).
        """
        fleets_of(self.app.sim.aks).add_fleet(self.scene.fleet)
        self.app.host.tick_hooks.append(self)
        self.app.host.wakeups.append(self.next_at)

    def next_at(self, after: dt.datetime) -> dt.datetime | None:
        """When the scene next does something, after `after`."""
        moments = (self.scene.fires, self.scene.run_starts, self.scene.resolves)
        return min((moment for moment in moments if moment > after), default=None)

    def __call__(self) -> int:
        """Do whatever is due at the clock's now; returns how many things it did."""
        now = self.app.clock.now()
        done = 0
        for step, at, act in (
            ("fire", self.scene.fires, self._fire),
            ("run", self.scene.run_starts, self._start_run),
            ("resolve", self.scene.resolves, self._resolve),
        ):
            if at <= now and step not in self._done:
                self._done.add(step)
                act(now)
                done += 1
        if "run" in self._done and "completed" not in self._done:
            self._watch_gates()
        return done

    def _fire(self, now: dt.datetime) -> None:
        answer = self._alert("Fired", now)
        text = f"Azure Monitor alert {self.scene.alert_rule} fires; POST /api/alerts: {answer}"
        self.notes.append(Note(now, "alert", text, self._alert_name))

    def _resolve(self, now: dt.datetime) -> None:
        answer = self._alert("Resolved", now)
        text = f"Azure Monitor alert {self.scene.alert_rule} resolves; POST /api/alerts: {answer}"
        self.notes.append(Note(now, "alert", text, self._alert_name))

    def _start_run(self, now: dt.datetime) -> None:
        """A person starts the Fleet update run (az fleet updaterun start)."""
        scene = self.scene
        last = len(scene.stages) - 1
        stages = [
            StageSpec(name, [(name, members)], before=scene.gate if index == last else None)
            for index, (name, members) in enumerate(scene.stages)
        ]
        fleets_of(self.app.sim.aks).create_update_run(scene.fleet, scene.run, stages, now)
        order = " -> ".join(name for name, _ in scene.stages)
        text = f"update run {scene.run} starts ({order}), approval gate {scene.gate!r}"
        self.notes.append(Note(now, "fleet", text, _fleet_name(scene.fleet)))

    def _watch_gates(self) -> None:
        """Note each new state of the scene's gate, with Patch Pilot's reason."""
        for record in gate_status(self.app.services):
            if record["update_run"] != self.scene.run:
                continue
            state, reason = str(record["state"]), str(record["reason"])
            held = self.gates.get(str(record["gate"]), {}).get("held_by")
            # What held the gate, for the summary: the first block Patch Pilot recorded.
            held = held or (reason.split(": ", 1)[-1] if state == "blocked" else None)
            self.gates[str(record["gate"])] = {**record, "held_by": held}
            if (state, reason) in self._seen:
                continue
            self._seen.add((state, reason))
            text = f"gate {record['display_name']!r} of {self.scene.run}: {reason}"
            self.notes.append(
                Note(self.app.clock.now(), "fleet", text, _fleet_name(self.scene.fleet))
            )
        run = fleets_of(self.app.sim.aks).run(self.scene.fleet, self.scene.run)
        if run is not None and run.state == "Completed" and "completed" not in self._done:
            self._done.add("completed")
            text = f"update run {self.scene.run} goes on past the gate: {run.state}"
            self.notes.append(
                Note(self.app.clock.now(), "fleet", text, _fleet_name(self.scene.fleet))
            )

    @property
    def _alert_name(self) -> str:
        return parse_cluster_id(self.scene.alert_cluster).name

    def _alert(self, condition: str, now: dt.datetime) -> str:
        """Post the alert's notification to the app's webhook; its verdict, or the error."""
        body = json.dumps(alert_payload(self.scene, condition, now)).encode()
        answer = self.app.host.http("POST", "/api/alerts", body=body)
        reply = json.loads(answer.get_body() or b"{}")
        return str(
            reply.get("verdict") or reply.get("error", {}).get("message", answer.status_code)
        )


def alert_payload(scene: FleetGateScene, condition: str, now: dt.datetime) -> dict[str, Any]:
    """A metric alert's common-schema notification on the scene's cluster."""
    cluster = parse_cluster_id(scene.alert_cluster)
    rule_id = (
        f"/subscriptions/{cluster.subscription}/resourceGroups/rg-monitor"
        f"/providers/microsoft.insights/metricAlerts/{scene.alert_rule}"
    )
    essentials: dict[str, Any] = {
        "alertId": f"/subscriptions/{cluster.subscription}/providers/Microsoft.AlertsManagement"
        f"/alerts/{ALERT_GUID}",
        "alertRule": scene.alert_rule,
        "alertRuleId": rule_id,
        "severity": "Sev2",
        "signalType": "Metric",
        "monitorCondition": condition,
        "monitoringService": "Platform",
        "alertTargetIDs": [cluster.key],
        "configurationItems": [cluster.name],
        "firedDateTime": iso(scene.fires),
        "description": "API server p99 latency over 2 s",
        "essentialsVersion": "1.0",
        "alertContextVersion": "1.0",
    }
    if condition == "Resolved":
        essentials["resolvedDateTime"] = iso(now)
    return {"schemaId": SCHEMA_ID, "data": {"essentials": essentials, "alertContext": {}}}


def _fleet_name(fleet: str) -> str:
    return resource_name(fleet.rstrip("/"))

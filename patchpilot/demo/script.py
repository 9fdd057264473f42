"""The demo's script: the scenario's faults put in force on time, and the operator who resumes.

Patch Pilot itself only ever acts through the Function App's triggers; this
module plays the world around it. It changes the simulator's fault plan when
the storm starts and ends, and plays the on-call engineer: some hours after a
cluster is paused by a failed upgrade, they fix the Pod Disruption Budget,
put the cluster right as ``az aks update`` does, retire the failed attempt
and delete the pauses (through ``DELETE /api/pauses/{id}``, signed in with
the operate role, when the app serves that route; else through the store).

Called by :mod:`patchpilot.demo.runner` between the host's runs.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Final

from patchpilot.adapters.store import Store
from patchpilot.api.principal import platform_headers
from patchpilot.api.roles import APP_ROLES, Platform, use_platform
from patchpilot.demo.scenario import Scenario
from patchpilot.domain.resource_ids import ascii_key, parse_cluster_id
from patchpilot.localhost.harness import Harness
from patchpilot.sim.arm_errors import ArmError

_log = logging.getLogger(__name__)
_PAUSE_NOTICES = frozenset({"ClusterPaused", "UpgradeFailed"})
# Who resumes: the on-call engineer, signed in with the operate app role. The app runs on a
# platform with App Service authentication on, which passes them in its identity headers, so
# each resume records their Entra object ID, name and role, as a deployed app's would.
ON_CALL_NAME: Final = "oncall@contoso.example"
ON_CALL_OBJECT_ID: Final = "6c0f3b0e-8d53-4a3e-9a0b-2f4d5e6a7b8c"
_ON_CALL_ROLE: Final = "operate"
_ON_CALL = platform_headers(ON_CALL_NAME, ON_CALL_OBJECT_ID, (APP_ROLES[_ON_CALL_ROLE],))
_SIGNED_IN: Final = Platform(auth_enabled=True)


@dataclass(frozen=True)
class Note:
    """Something that happened outside Patch Pilot, for the timeline."""

    at: dt.datetime
    kind: str
    text: str
    cluster: str | None = None


@dataclass
class Script:
    """Plays the scenario against one running app."""

    app: Harness
    scenario: Scenario
    notes: list[Note] = field(default_factory=list)
    storming: bool = False
    draining: bool = True
    _resumes: dict[str, dt.datetime] = field(default_factory=dict, init=False)
    _read: int = field(default=0, init=False)

    def attach(self) -> None:
        """Put the first fault plan in force and join the host's loop (a tick hook and a wake-up).

        The host then stops exactly when the storm starts or ends and when a
        resume is due, and calls the script there, before timers and queues.
        """
        drain = self.scenario.drain_failure
        if drain is not None:
            text = f"a Pod Disruption Budget on {drain.cluster}/{drain.pool} will block its drain"
            self.notes.append(Note(self.app.clock.now(), "fault", text, drain.cluster))
        self._apply()
        self.app.host.tick_hooks.append(self)
        self.app.host.wakeups.append(self.next_at)

    def next_at(self, after: dt.datetime) -> dt.datetime | None:
        """When the script next has something to do, after `after`."""
        moments = list(self._resumes.values())
        storm = self.scenario.storm
        if storm is not None:
            moments.extend((storm.start, storm.end))
        return min((moment for moment in moments if moment > after), default=None)

    def __call__(self) -> int:
        """Do whatever is due at the clock's now; returns how many things it did."""
        now = self.app.clock.now()
        self._watch_pauses()
        done = self._weather(now)
        for cluster, at in sorted(self._resumes.items(), key=lambda item: item[1]):
            if at <= now:
                del self._resumes[cluster]
                self._resume(cluster, now)
                done += 1
        return done

    def _weather(self, now: dt.datetime) -> int:
        storm = self.scenario.storm
        if storm is None:
            return 0
        blowing = storm.start <= now < storm.end
        if blowing == self.storming:
            return 0
        self.storming = blowing
        self._apply()
        share = f"{storm.throttle_rate:.0%}"
        text = (
            f"429 storm: ARM throttles {share} of requests (Retry-After: "
            f"{storm.retry_after_seconds} s) until {storm.end:%Y-%m-%d %H:%M}"
            if blowing
            else "429 storm over"
        )
        self.notes.append(Note(now, "fault", text))
        return 1

    def _watch_pauses(self) -> None:
        notices = self.app.publisher.notices
        fresh, self._read = notices[self._read :], len(notices)
        drain = self.scenario.drain_failure
        for notice in fresh:
            if notice.type not in _PAUSE_NOTICES or drain is None:
                continue
            cluster = ascii_key(str(notice.data.get("cluster") or notice.subject))
            if cluster not in self._resumes:
                self._resumes[cluster] = notice.time + drain.resume_after

    def _resume(self, cluster: str, now: dt.datetime) -> None:
        """What the on-call engineer does when they get to it."""
        self.draining = False
        self._apply()
        name = parse_cluster_id(cluster).name
        repaired = self._az_aks_update(name)
        retired = _retire_failures(self.app.services.store, cluster, now)
        deleted, via = self._delete_pauses(cluster, now)
        steps = ["fixed the Pod Disruption Budget"]
        if repaired:
            steps.append("ran az aks update to clear the Failed state")
        steps.append(f"retired {retired} failed attempt(s)")
        steps.append(f"deleted {deleted} pause(s) via {via}")
        self.notes.append(Note(now, "operator", "; ".join(steps), name))

    def _az_aks_update(self, name: str) -> bool:
        """A PUT of the cluster as it is: AKS reconciles a Failed cluster back to Succeeded."""
        aks = self.app.sim.aks
        try:
            with aks.transaction() as now:
                aks.put_cluster(aks.cluster(name), {}, now)
        except (ArmError, KeyError) as exc:
            # Policy: an operator's repair that AKS refuses is reported, not fatal to the demo.
            _log.warning("az aks update of %s refused: %s", name, exc)
            return False
        return True

    def _delete_pauses(self, cluster: str, now: dt.datetime) -> tuple[int, str]:
        store = self.app.services.store
        host = self.app.host
        pauses = [p for p in store.list_pauses(now) if ascii_key(p.target or "") == cluster]
        via_api = bool(pauses) and host.route("DELETE", f"/api/pauses/{pauses[0].id}") is not None
        for pause in pauses:
            answered = None
            if via_api:
                with use_platform(_SIGNED_IN):
                    answered = host.http("DELETE", f"/api/pauses/{pause.id}", headers=_ON_CALL)
            if answered is None or answered.status_code >= HTTPStatus.BAD_REQUEST:
                # Policy: the resume must happen; the store is the API's own backing.
                via_api = False
                store.delete_pause(pause.id)
        if not via_api:
            return len(pauses), "the store"
        return len(pauses), f"DELETE /api/pauses/{{id}} as {ON_CALL_NAME} ({_ON_CALL_ROLE})"

    def _apply(self) -> None:
        plan = self.scenario.faults(storming=self.storming, draining=self.draining)
        self.app.sim.set_faults(plan)


def _retire_failures(store: Store, cluster: str, now: dt.datetime) -> int:
    """Mark the cluster's failed attempts expired, so their targets may be claimed again."""
    failed = store.list_operations(cluster=cluster, states=frozenset({"failed"}))
    for operation in failed:
        store.mark_finished(operation.key, "expired", now)
    return len(failed)

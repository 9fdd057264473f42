"""`POST /api/upgrades`: safe by default, forced only past windows and freezes, never twice."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from patchpilot.adapters.store import OperationKey
from patchpilot.adapters.store.records import MAX_CLOCK_SKEW
from patchpilot.domain.policy import parse_policy
from patchpilot.sim.faults import FaultPlan
from patchpilot.telemetry.testing import InMemoryTelemetry, in_memory_telemetry
from tests.integration.http_support import (
    DEV,
    DEV2,
    LAB,
    NEXT_WINDOW,
    PROD,
    WEEKDAY,
    Api,
    actor,
    cluster_id,
    person,
    policy_doc,
    running_api,
)

ALICE = person("alice@contoso.com", "operate")
# Forcing takes a person with the force role: a function key never lifts a freeze.
ERIN = person("erin@contoso.com", "force")
GHOST = cluster_id("ghost", "rg-dev")


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with running_api(tmp_path) as running:
        yield running


@pytest.fixture
def weekday(tmp_path: Path) -> Iterator[Api]:
    with running_api(tmp_path, start=WEEKDAY) as running:
        yield running


def test_an_upgrade_inside_its_window_starts_now_and_records_who_asked(api: Api) -> None:
    before = api.upgrade_calls()
    body = {"cluster": DEV, "version": "1.33.2", "reason": "new minor"}
    answer = api.call("POST", "/api/upgrades", body, headers=ALICE)
    assert answer.status == 202
    assert answer.body["outcome"] == "started"
    alice = actor("alice@contoso.com", "operate")
    assert (answer.body["target"], answer.body["requested_by"]) == ("1.33.2", alice)
    assert api.upgrade_calls() == before + 1
    record = api.app.services.store.get(OperationKey(DEV.lower(), None, "kubernetes", "1.33.2"))
    assert record is not None
    assert (record.state, record.actor, record.reason) == ("started", alice, "new minor")


def test_a_repeated_request_is_not_a_second_upgrade(api: Api) -> None:
    body = {"cluster": DEV, "pool": "system", "kind": "node_image"}
    first = api.call("POST", "/api/upgrades", body)
    calls = api.upgrade_calls()
    again = api.call("POST", "/api/upgrades", body)
    assert (first.body["outcome"], again.body["outcome"]) == ("started", "already_started")
    assert again.status == 202
    assert again.body["target"] == first.body["target"]
    assert api.upgrade_calls() == calls


def test_an_idempotency_key_replays_the_first_answer(api: Api) -> None:
    body = {"cluster": DEV, "version": "1.33.2"}
    key = {"Idempotency-Key": "7d0c9c5e-1f0e-4a57-9f5b-6e8a1c3a9a11"}
    first = api.call("POST", "/api/upgrades", body, headers=key)
    again = api.call("POST", "/api/upgrades", body, headers=key)
    assert again.body == first.body
    assert again.headers.get("Idempotent-Replayed") == "true"
    other = api.call("POST", "/api/upgrades", {"cluster": DEV2, "version": "1.33.2"}, headers=key)
    assert (other.status, other.code) == (422, "IdempotencyKeyReused")
    assert api.call("POST", "/api/upgrades", body, headers={"Idempotency-Key": "a b"}).status == 400


def test_concurrent_duplicates_start_one_upgrade(api: Api) -> None:
    before = api.upgrade_calls()
    answers: list[int] = []
    body = json.dumps({"cluster": DEV2, "version": "1.33.2"}).encode()

    def post() -> None:
        answers.append(api.app.host.http("POST", "/api/upgrades", body=body).status_code)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(answers) <= {202, 409}
    assert 202 in answers
    assert api.upgrade_calls() == before + 1


def test_outside_its_window_an_upgrade_is_scheduled_and_starts_when_the_window_opens(
    weekday: Api,
) -> None:
    # 1.33.2 is not what the policy's patch channel would choose (1.32.9): only the request says so.
    answer = weekday.call("POST", "/api/upgrades", {"cluster": DEV2, "version": "1.33.2"})
    assert answer.status == 202
    assert answer.body["outcome"] == "scheduled"
    assert answer.body["planned_at"] == "2025-11-22T01:00:00Z"
    assert weekday.upgrade_calls() == 0
    status = weekday.call("GET", "/api/status", params={"cluster": "dev-2"})
    assert [r["target"] for r in status.body["clusters"][0]["requests"]] == ["1.33.2"]
    # The reconcile message queued for the window wakes the worker, which starts the request.
    # Opened on every clock Patch Pilot tolerates: the window's start plus the skew bound.
    weekday.app.clock.set(NEXT_WINDOW + MAX_CLOCK_SKEW + dt.timedelta(minutes=1))
    weekday.app.host.drain()
    started = [n.data for n in weekday.app.publisher.notices if n.type == "UpgradeStarted"]
    assert {"cluster": DEV2, "to": "1.33.2"}.items() <= next(
        d for d in started if d["cluster"] == DEV2 and d["pool"] is None
    ).items()
    # The ledger names who asked, as when an upgrade starts at once.
    key = OperationKey(DEV2.lower(), None, "kubernetes", "1.33.2")
    record = weekday.app.services.store.get(key)
    assert record is not None
    assert (record.actor, record.reason) == (
        "function key: api_upgrade (operate)",
        "manual upgrade",
    )


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        pytest.param({"version": "1.32.1"}, "VersionRule", "downgrade", id="downgrade"),
        pytest.param({"version": "1.32.6"}, "NothingToUpgrade", "already", id="same"),
        pytest.param({"version": "1.33.9"}, "Blocked", "does not offer", id="not-offered"),
        pytest.param({"version": "1.34.0"}, "Blocked", "preview", id="preview"),
        pytest.param(
            {"pool": "system", "version": "1.33.2"},
            "Blocked",
            "control plane first",
            id="pool-first",
        ),
    ],
)
def test_version_rules_refuse_with_the_rule_even_when_forced(
    api: Api, body: dict[str, Any], code: str, words: str
) -> None:
    for force in (False, True):
        request = {"cluster": DEV, **body, "force": force, "reason": "trying"}
        answer = api.call("POST", "/api/upgrades", request, headers=ERIN)
        assert (answer.status, answer.code) == (409, code)
        assert words in answer.body["error"]["message"]
    assert api.upgrade_calls() == 0


def test_a_minor_is_never_skipped(tmp_path: Path) -> None:
    policy = parse_policy(policy_doc(kubernetes={"channel": "patch", "allow_preview": True}))
    with running_api(tmp_path, policy=policy) as api:
        answer = api.call("POST", "/api/upgrades", {"cluster": DEV, "version": "1.34.0"})
    assert (answer.status, answer.code) == (409, "Blocked")
    assert "skip a minor" in answer.body["error"]["message"]


def test_force_needs_a_reason(weekday: Api) -> None:
    for reason in (None, "", "   "):
        body = {"cluster": DEV2, "version": "1.33.2", "force": True, "reason": reason}
        answer = weekday.call("POST", "/api/upgrades", body, headers=ERIN)
        assert (answer.status, answer.code) == (422, "InvalidValue")
    assert weekday.upgrade_calls() == 0


def test_force_lifts_the_window_and_records_its_reason(weekday: Api) -> None:
    body = {"cluster": DEV2, "version": "1.33.2", "force": True, "reason": "CVE-2025-1234"}
    answer = weekday.call("POST", "/api/upgrades", body, headers=ERIN)
    assert answer.status == 202
    assert (answer.body["outcome"], answer.body["forced"]) == ("started", True)
    assert answer.body["planned_at"] == "2025-11-20T12:00:00Z"
    assert "CVE-2025-1234" in answer.body["reason"]
    assert weekday.upgrade_calls() == 1


def test_force_lifts_a_freeze(tmp_path: Path) -> None:
    frozen = dt.datetime(2025, 12, 20, 2, 0, tzinfo=dt.UTC)  # a Saturday, in the window
    with running_api(tmp_path, start=frozen) as api:
        body: dict[str, Any] = {"cluster": DEV2, "version": "1.33.2"}
        waiting = api.call("POST", "/api/upgrades", body)
        assert waiting.body["planned_at"] == "2026-01-10T01:00:00Z"
        forced = api.call(
            "POST", "/api/upgrades", {**body, "force": True, "reason": "hotfix"}, headers=ERIN
        )
    assert forced.body["outcome"] == "started"


def test_force_does_not_lift_a_pause_or_a_ring_gate(weekday: Api) -> None:
    pause = {"scope": "cluster", "target": DEV2, "reason": "incident 42"}
    assert weekday.call("POST", "/api/pauses", pause).status == 201
    body = {"cluster": DEV2, "version": "1.33.2", "force": True, "reason": "please"}
    paused = weekday.call("POST", "/api/upgrades", body, headers=ERIN)
    assert (paused.status, paused.code) == (409, "Blocked")
    assert "incident 42" in paused.body["error"]["message"]
    gated = weekday.call("POST", "/api/upgrades", {**body, "cluster": PROD}, headers=ERIN)
    assert gated.status == 409
    assert "ring prod waits for ring staging" in gated.body["error"]["message"]
    assert weekday.upgrade_calls() == 0


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        pytest.param({"cluster": LAB}, 404, "ClusterNotInScope", id="outside-scopes"),
        pytest.param(
            {"cluster": cluster_id("ghost", "rg-dev")}, 404, "ClusterNotFound", id="ghost"
        ),
        pytest.param(
            {"cluster": DEV, "pool": "gpu", "version": "1.33.2"}, 404, "PoolNotFound", id="pool"
        ),
        pytest.param({}, 400, "BadRequest", id="no-cluster"),
        pytest.param({"cluster": DEV, "colour": "red"}, 400, "BadRequest", id="unknown-field"),
        pytest.param({"cluster": DEV, "force": "yes"}, 400, "BadRequest", id="force-not-bool"),
        pytest.param({"cluster": DEV, "version": 1.33}, 400, "BadRequest", id="version-number"),
        pytest.param({"cluster": DEV, "version": "1.33"}, 422, "InvalidValue", id="minor-only"),
        pytest.param({"cluster": DEV, "kind": "os"}, 422, "InvalidValue", id="kind"),
        pytest.param({"cluster": DEV, "kind": "node_image"}, 422, "InvalidValue", id="no-pool"),
        pytest.param({"cluster": "/subscriptions/../x"}, 422, "InvalidValue", id="crafted-id"),
        pytest.param([DEV], 400, "BadRequest", id="not-an-object"),
    ],
)
def test_bad_requests_are_refused_and_change_nothing(
    api: Api, body: Any, status: int, code: str
) -> None:
    answer = api.call("POST", "/api/upgrades", body)
    assert (answer.status, answer.code) == (status, code)
    assert api.upgrade_calls() == 0
    assert api.app.services.store.list_operations() == ()


def test_an_entra_principal_is_recorded_in_the_store_and_the_trace(tmp_path: Path) -> None:
    memory: InMemoryTelemetry = in_memory_telemetry()
    header = person("bob@contoso.com", "force", oid="oid-1")
    try:
        with running_api(tmp_path, telemetry=memory.telemetry) as api:
            body = {"cluster": DEV, "version": "1.33.2", "reason": "quarterly"}
            assert api.call("POST", "/api/upgrades", body, headers=header).status == 202
            key = OperationKey(DEV.lower(), None, "kubernetes", "1.33.2")
            record = api.app.services.store.get(key)
        span = memory.span("operator.upgrade")
    finally:
        memory.shutdown()
    assert record is not None
    # Not forced: the role used is operate, though bob holds force.
    assert record.actor == "entra:oid-1 bob@contoso.com (operate)"
    attributes = dict(span.attributes or {})
    assert attributes["enduser.id"] == "entra:oid-1 bob@contoso.com"
    assert attributes["enduser.role"] == "operate"
    assert attributes["patchpilot.operator.object_id"] == "oid-1"
    assert attributes["patchpilot.reason"] == "quarterly"


def test_a_start_aks_refuses_for_good_is_recorded_failed_and_pauses_once(api: Api) -> None:
    # AKS refuses a minor upgrade while the cluster calls removed APIs (a 400, not a wait).
    name = DEV.rsplit("/", 1)[-1]
    api.app.sim.set_faults(FaultPlan(deprecated_api=frozenset({name})))
    body = {"cluster": DEV, "version": "1.33.2", "reason": "new minor"}

    answer = api.call("POST", "/api/upgrades", body)

    assert answer.status == 409
    assert answer.body["error"]["code"] == "AksRefused"
    assert "deprecated APIs" in answer.body["error"]["message"]
    record = api.app.services.store.get(OperationKey(DEV.lower(), None, "kubernetes", "1.33.2"))
    assert record is not None
    assert record.state == "failed"
    paused = list(api.app.services.store.list_pauses(api.app.clock.now()))
    assert [p.target for p in paused] == [DEV.lower()]

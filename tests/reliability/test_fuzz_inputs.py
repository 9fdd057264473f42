"""Hostile input at every door: events, alerts and HTTP bodies change nothing they refuse.

Hypothesis generates Event Grid and CloudEvents envelopes (hostile strings,
huge numbers, wrong types, resource IDs outside the scopes or with path
tricks, instants whose UTC form overflows) for :func:`handle_event`,
common-alert-schema payloads for :func:`handle_alert`, reconcile queue
messages for :func:`handle_reconcile_message`, and HTTP bodies and `?at=`
instants for the registered HTTP functions (through the local host, as the
other HTTP tests call them). For every input: no unhandled exception, no 5xx,
and an input that is refused says why and leaves the store's pauses, ledger
and the reconcile queue as they were (DESIGN.md, invariant 8).

About 11,400 examples in all, 1.5 minutes here (two shared cores);
``pytest --soak N`` runs N times as many.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patchpilot.adapters.discovery import StaticDiscovery
from patchpilot.adapters.queues.interface import NO_DELAY, Delivery
from patchpilot.adapters.store import Store, open_sqlite_store
from patchpilot.domain.policy import parse_policy
from patchpilot.errors import PatchPilotError
from patchpilot.service.alerts import handle_alert
from patchpilot.service.deps import Services
from patchpilot.service.events import handle_event
from patchpilot.service.messages import handle_reconcile_message
from patchpilot.telemetry import Telemetry
from tests.events import load
from tests.integration.http_support import (
    DEV,
    LAB,
    PROD,
    START,
    Api,
    alert,
    policy_doc,
    running_api,
)

SOAK = max(1, int(os.environ.get("PATCHPILOT_SOAK", "1") or "1"))
SUB = "00000000-0000-0000-0000-000000000000"
NOW = START
FUZZ: dict[str, Any] = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
EVENT_TYPES = [
    f"Microsoft.ContainerService.{name}"
    for name in (
        "NewKubernetesVersionAvailable",
        "ClusterSupportEnding",
        "ClusterSupportEnded",
        "NodePoolRollingStarted",
        "NodePoolRollingSucceeded",
        "NodePoolRollingFailed",
    )
]


class RecordingQueue:
    """A reconcile queue that only keeps what was sent."""

    name = "reconcile"

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, text: str, *, now: dt.datetime, delay: dt.timedelta = NO_DELAY) -> None:
        """Keep the message."""
        self.sent.append(text)

    def receive(self, *, now: dt.datetime, limit: int, lock: dt.timedelta) -> list[Delivery]:
        """Nothing is ever received here."""
        return []

    def delete(self, delivery: Delivery) -> None:
        """Nothing to delete."""

    def count(self, *, now: dt.datetime | None = None) -> int:
        """How many were sent."""
        return len(self.sent)


class NoArm:
    """The event and alert paths never call ARM: any call is a failure of the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the gateway's {name} was called on a path that must not call ARM")


# Strategies --------------------------------------------------------------------------------

HOSTILE_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "../../etc/passwd",
            "%2e%2e%2f",
            "<script>alert(1)</script>",
            "'; DROP TABLE pauses; --",
            "${jndi:ldap://x}",
            "\u202e\u200b",
            "\uff44\uff45\uff56-1",
            "A" * 5000,
        ]
    ),
)
HUGE = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.just(10**400),
)
JSONISH = st.recursive(
    st.none() | st.booleans() | HUGE | HOSTILE_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(HOSTILE_TEXT, inner, max_size=3),
    max_leaves=8,
)


def _cluster(sub: str, group: str, name: str) -> str:
    return (
        f"/subscriptions/{sub}/resourceGroups/{group}"
        f"/providers/Microsoft.ContainerService/managedClusters/{name}"
    )


RESOURCE_IDS = st.one_of(
    st.just(DEV),
    st.just(PROD),
    st.just(LAB),
    st.builds(_cluster, st.just(SUB), HOSTILE_TEXT, HOSTILE_TEXT),
    st.builds(_cluster, st.uuids().map(str), st.just("rg-dev"), st.just("dev-1")),
    st.sampled_from(
        [
            DEV + "/../../../subscriptions/11111111-1111-1111-1111-111111111111",
            DEV + "/agentPools/system",
            DEV.upper(),
            DEV.replace("/subscriptions/", "//subscriptions/"),
            DEV + "%00",
            DEV + "\n" + LAB,
            LAB + "#" + DEV,
            "/subscriptions/" + SUB,
            f"https://management.azure.com{DEV}",
            DEV.replace("managedClusters", "managedclusters/../virtualMachines"),
        ]
    ),
    HOSTILE_TEXT,
)
FIELD = st.one_of(RESOURCE_IDS, JSONISH)
# Any offset a datetime allows, so that the UTC form of an instant near year 1 or
# year 9999 falls outside what datetime can hold.
OFFSETS = st.builds(
    dt.timezone,
    st.timedeltas(
        min_value=-dt.timedelta(hours=23, minutes=59), max_value=dt.timedelta(hours=23, minutes=59)
    ),
)
OVERFLOWING_INSTANTS = st.sampled_from(
    [
        "9999-12-31T23:00:00-02:00",
        "0001-01-01T00:00:00+05:00",
        "9999-12-31T23:59:59.999999-23:59",
        "9999-12-31T23:00Z",
        "9999-12-31",
        "0001-01-01",
    ]
)
INSTANTS = st.one_of(
    st.just("2025-11-22T01:30:00Z"),
    OVERFLOWING_INSTANTS,
    st.datetimes(timezones=OFFSETS).map(dt.datetime.isoformat),
    st.dates().map(dt.date.isoformat),
    HOSTILE_TEXT,
)


def _subjects(resource: str) -> st.SearchStrategy[str]:
    """The cluster's name (as AKS sends it) or hostile text: a matching subject lets the
    rest of the envelope, its time included, be checked at all."""
    return st.just(resource.rsplit("/", 1)[-1]) | HOSTILE_TEXT


@st.composite
def event_grid_events(draw: st.DrawFn) -> Any:
    """An Event Grid envelope with some fields hostile, or something that is not one."""
    base = dict(load("eg_node_pool_rolling_failed"))
    topic = draw(RESOURCE_IDS)
    base |= {
        "id": draw(st.uuids().map(str) | HOSTILE_TEXT),
        "topic": topic,
        "eventType": draw(st.sampled_from(EVENT_TYPES) | HOSTILE_TEXT),
        "eventTime": draw(INSTANTS),
        "subject": draw(_subjects(topic)),
        "data": draw(st.fixed_dictionaries({"nodePoolName": HOSTILE_TEXT}) | JSONISH),
    }
    for key in draw(st.lists(st.sampled_from(sorted(base)), max_size=3)):
        base[key] = draw(FIELD)
    return draw(st.just(base) | JSONISH)


@st.composite
def cloud_events(draw: st.DrawFn) -> Any:
    """A CloudEvents 1.0 envelope with some fields hostile, or something that is not one."""
    base = dict(load("ce_node_pool_rolling_failed"))
    source = draw(RESOURCE_IDS)
    base |= {
        "id": draw(st.uuids().map(str) | HOSTILE_TEXT),
        "source": source,
        "subject": draw(_subjects(source)),
        "type": draw(st.sampled_from(EVENT_TYPES) | HOSTILE_TEXT),
        "time": draw(INSTANTS),
        "specversion": draw(st.sampled_from(["1.0", "0.3", "2"]) | JSONISH),
    }
    for key in draw(st.lists(st.sampled_from(sorted(base)), max_size=3)):
        base[key] = draw(FIELD)
    return draw(st.just(base) | JSONISH)


@st.composite
def alert_payloads(draw: st.DrawFn) -> Any:
    """A common-schema alert with hostile essentials, or something that is not one."""
    targets = tuple(draw(st.lists(RESOURCE_IDS, min_size=1, max_size=3)))
    rule = draw(st.sampled_from(["prod-5xx", "dev-error-budget"]) | HOSTILE_TEXT)
    condition = draw(st.sampled_from(["Fired", "Resolved"]))
    payload = alert(rule=rule, targets=targets, condition=condition)
    essentials = payload["data"]["essentials"]
    for key in draw(st.lists(st.sampled_from(sorted(essentials)), max_size=3)):
        essentials[key] = draw(FIELD)
    if draw(st.booleans()):
        payload[draw(st.sampled_from(["schemaId", "data"]))] = draw(JSONISH)
    return draw(st.just(payload) | JSONISH)


# Event and alert paths ---------------------------------------------------------------------


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    store = open_sqlite_store(tmp_path / "state.db")
    try:
        yield Services(
            policy=parse_policy(policy_doc()),
            store=store,
            queue=RecordingQueue(),
            gateway=NoArm(),
            discovery=StaticDiscovery(()),
            telemetry=Telemetry.default(),
        )
    finally:
        store.close()


def state_of(store: Store, queued: int) -> tuple[Any, ...]:
    """What refused input must not change: pauses, the ledger, the queue."""
    pauses = tuple(
        sorted((p.id, p.scope, p.target) for p in store.list_pauses(NOW, include_expired=True))
    )
    ledger = tuple(sorted(repr(op) for op in store.list_operations()))
    return pauses, ledger, queued


def check_event(services: Services, payload: Any) -> None:
    before = state_of(services.store, services.queue.count())
    outcome = handle_event(services, payload, NOW)
    if outcome.verdict in ("refused", "ignored"):
        assert outcome.reason.strip(), f"{outcome.verdict} without a reason: {payload!r:.300}"
        assert state_of(services.store, services.queue.count()) == before
    else:
        assert outcome.verdict in ("enqueued", "duplicate"), outcome


@settings(max_examples=3300 * SOAK, **FUZZ)
@given(payload=event_grid_events())
def test_event_grid_events_never_crash_and_refusals_change_nothing(
    services: Services, payload: Any
) -> None:
    check_event(services, payload)


@settings(max_examples=3300 * SOAK, **FUZZ)
@given(payload=cloud_events())
def test_cloud_events_never_crash_and_refusals_change_nothing(
    services: Services, payload: Any
) -> None:
    check_event(services, payload)


@settings(max_examples=2600 * SOAK, **FUZZ)
@given(payload=alert_payloads())
def test_alerts_never_crash_and_refusals_change_nothing(services: Services, payload: Any) -> None:
    before = state_of(services.store, services.queue.count())
    refusal = ""
    try:
        outcome = handle_alert(services, payload, NOW)
    except PatchPilotError as exc:
        refusal = str(exc).strip() or "(empty)"
    if refusal:
        assert refusal != "(empty)", f"refused without a reason: {payload!r:.300}"
        assert state_of(services.store, services.queue.count()) == before
        return
    assert outcome.verdict in ("paused", "already_paused", "resumed", "nothing_to_lift", "stale")


def test_a_crafted_event_outside_the_scopes_is_refused_with_its_reason(
    services: Services,
) -> None:
    payload = dict(load("eg_node_pool_rolling_failed"), topic=LAB, subject="lab-1", id="x1")
    outcome = handle_event(services, payload, NOW)
    assert (outcome.verdict, outcome.reason) == (
        "refused",
        "cluster is outside the policy's scopes",
    )
    assert services.queue.count() == 0


@settings(max_examples=600 * SOAK, **FUZZ)
@given(
    requested_at=OVERFLOWING_INSTANTS | HOSTILE_TEXT.filter(lambda t: not t.strip()[:1].isdigit()),
    cluster=RESOURCE_IDS,
)
def test_queue_messages_with_a_bad_instant_are_dropped_never_raised(
    services: Services, requested_at: str, cluster: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A raise would make the host retry the message and then poison it; a bad
    # message can never become good, so it is dropped here with a log line.
    body = json.dumps({"cluster": cluster, "reason": "fuzz", "requested_at": requested_at})
    before = state_of(services.store, services.queue.count())
    caplog.clear()
    assert handle_reconcile_message(services, body, NOW) is None
    assert state_of(services.store, services.queue.count()) == before
    assert any("dropped malformed reconcile message" in r.getMessage() for r in caplog.records)


# HTTP bodies -------------------------------------------------------------------------------

ROUTES = [("POST", "/api/upgrades"), ("POST", "/api/pauses"), ("POST", "/api/alerts")]
BODY = st.one_of(
    JSONISH.map(lambda v: json.dumps(v, default=str).encode()),
    st.binary(max_size=200),
    st.fixed_dictionaries(
        {"cluster": RESOURCE_IDS, "pool": HOSTILE_TEXT | st.none(), "kind": FIELD, "target": FIELD}
    ).map(lambda v: json.dumps(v, default=str).encode()),
    st.fixed_dictionaries(
        {
            "scope": st.sampled_from(["cluster", "ring", "fleet"]) | FIELD,
            "target": FIELD,
            "reason": HOSTILE_TEXT,
        }
    ).map(lambda v: json.dumps(v, default=str).encode()),
    alert_payloads().map(lambda v: json.dumps(v, default=str).encode()),
)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with running_api(tmp_path_factory.mktemp("fuzz-http")) as running:
        yield running


def http_state(api: Api) -> tuple[Any, ...]:
    services = api.app.services
    return (*state_of(services.store, services.queue.count()), api.upgrade_calls())


@settings(max_examples=700 * SOAK, **FUZZ)
@given(route=st.sampled_from(ROUTES), body=BODY)
def test_http_bodies_never_get_a_5xx_and_refusals_change_nothing(
    api: Api, route: tuple[str, str], body: bytes
) -> None:
    method, path = route
    before = http_state(api)
    answer = api.call(method, path, raw=body, headers={"Content-Type": "application/json"})
    assert answer.status < 500, answer.body
    if answer.status >= 400:
        assert str(answer.body["error"]["message"]).strip(), answer.body
        assert http_state(api) == before


@settings(max_examples=300 * SOAK, **FUZZ)
@given(at=INSTANTS)
def test_plan_at_any_instant_answers_a_plan_or_a_4xx_naming_at(api: Api, at: str) -> None:
    answer = api.call("GET", "/api/plan", params={"at": at})
    assert answer.status in (200, 400, 422), answer.body
    if answer.status != 200:
        message = answer.body["error"]["message"]
        assert message.startswith(("at: ", "query parameter at ")), answer.body


@settings(max_examples=300 * SOAK, **FUZZ)
@given(until=INSTANTS)
def test_a_pause_until_any_instant_is_made_or_refused_naming_until(api: Api, until: str) -> None:
    before = http_state(api)
    body = {"scope": "ring", "target": "prod", "reason": "fuzz", "until": until}
    answer = api.call("POST", "/api/pauses", body)
    assert answer.status in (201, 422), answer.body
    if answer.status == 422:
        assert answer.body["error"]["message"].startswith("until: "), answer.body
        assert http_state(api) == before


@settings(max_examples=300 * SOAK, **FUZZ)
@given(pause_id=HOSTILE_TEXT.filter(lambda t: t.strip("/") and "/" not in t and "?" not in t))
def test_deleting_a_pause_by_a_hostile_id_never_gets_a_5xx(api: Api, pause_id: str) -> None:
    before = http_state(api)
    answer = api.call("DELETE", f"/api/pauses/{pause_id}")
    assert answer.status < 500, answer.body
    if answer.status >= 400:
        assert str(answer.body["error"]["message"]).strip(), answer.body
        assert http_state(api) == before

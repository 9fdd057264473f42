"""The local host delivers inputs as the Azure Functions host and Python worker do.

Each test runs the Function App's own registered functions through
:class:`~patchpilot.localhost.host.LocalHost` and checks one place where the real
host differs from a kind one (see :mod:`patchpilot.localhost.wire` for the host
and worker code each behaviour is taken from): empty query values, the
poison queue's timing, batches of queue messages at once, Event Grid
payload forms, and the trace context a function receives.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from patchpilot.domain.messages import ReconcileRequest
from patchpilot.domain.resource_ids import parse_cluster_id
from patchpilot.localhost import wire
from patchpilot.localhost.harness import Harness, running_app
from patchpilot.localhost.host import EVENT_ROUTES, HostConfig, LocalHost, event_route
from patchpilot.runtime import RECONCILE_QUEUE
from patchpilot.telemetry.testing import in_memory_telemetry
from tests.events import load, names
from tests.integration.conftest import EVENT_FIXTURES
from tests.integration.test_app_flow import FLEET, POLICY, START, aks_event

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = "dev-weu-1"
BARRIER_SECONDS = 20.0


def _cluster_id(app: Harness) -> str:
    return next(str(c.id) for c in app.sim.aks.clusters() if c.id.name == CLUSTER)


def _enqueue_reconcile(app: Harness, cluster: str) -> None:
    message = ReconcileRequest(
        cluster=parse_cluster_id(cluster), reason="test", requested_at=app.clock.now()
    )
    app.services.queue.send(message.encode(), now=app.clock.now())


def _reconcile_one(app: Harness) -> int:
    _enqueue_reconcile(app, _cluster_id(app))
    return app.host.drain()


def _replace_reconcile(host: LocalHost, call: Callable[..., None]) -> Callable[..., None]:
    """Put `call` in the reconcile function's place; returns the app's own function."""
    name = next(
        n for n, f in host.functions.items() if f.trigger.get("queueName") == RECONCILE_QUEUE
    )
    registered = host.functions[name]
    host.functions = {**host.functions, name: type(registered)(name, registered.trigger, call)}
    return registered.call


# HTTP: query values ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("cluster=", {}, id="an empty value is left out"),
        pytest.param("cluster", {}, id="a bare key is left out"),
        pytest.param("ring=dev&cluster=", {"ring": "dev"}, id="only the empty one goes"),
        pytest.param("ring=dev&ring=prod", {"ring": "dev,prod"}, id="repeats join with commas"),
        pytest.param("at=2025-11-22T01%3A30%3A00Z", {"at": "2025-11-22T01:30:00Z"}, id="decoded"),
    ],
)
def test_the_query_reaches_the_function_as_the_host_sends_it(
    query: str, expected: dict[str, str]
) -> None:
    assert wire.query_values(query) == expected


@pytest.mark.parametrize(
    ("path", "params"),
    [
        pytest.param("/api/status?cluster=", None, id="in the URL"),
        pytest.param("/api/status", {"cluster": ""}, id="split by the caller"),
    ],
)
def test_an_empty_cluster_filter_answers_the_whole_fleet(
    tmp_path: Path, path: str, params: dict[str, str] | None
) -> None:
    with running_app(FLEET, POLICY, START, tmp_path) as app:
        app.host.fire_timer("sweep")
        everyone = app.host.http("GET", "/api/status")
        empty = app.host.http("GET", path, params=params)
        unknown = app.host.http("GET", "/api/status?cluster=no-such-cluster")

    assert empty.status_code == 200
    assert json.loads(empty.get_body()) == json.loads(everyone.get_body())
    assert unknown.status_code == 404


def test_the_function_sees_the_raw_url_and_lower_cased_headers(tmp_path: Path) -> None:
    seen: list[func.HttpRequest] = []
    with running_app(FLEET, POLICY, START, tmp_path) as app:
        name = next(n for n, f in app.host.functions.items() if f.trigger.get("route") == "status")
        registered = app.host.functions[name]

        def record(req: func.HttpRequest) -> func.HttpResponse:
            seen.append(req)
            return func.HttpResponse("{}", status_code=200)

        app.host.functions = {
            **app.host.functions,
            name: type(registered)(name, registered.trigger, record),
        }
        app.host.http("GET", "/api/status?cluster=&ring=dev", headers={"X-Empty": ""})

    (request,) = seen
    assert request.url == "http://127.0.0.1/api/status?cluster=&ring=dev"
    assert dict(request.params) == {"ring": "dev"}
    assert request.headers.get("x-empty") == ""
    assert request.get_body() == b""


# Disabled functions: AzureWebJobs.<name>.Disabled ---------------------------------------


def _fired(app: Harness, name: str) -> int:
    return sum(1 for _, function, _ in app.host.invocations if function == name)


@pytest.mark.parametrize(
    ("settings", "follow_ups"),
    [
        pytest.param({}, 0, id="no fleet in the policy: the harness disables it"),
        pytest.param({"AzureWebJobs.follow_fleet_gates.Disabled": "false"}, 12, id="enabled"),
        pytest.param({"AzureWebJobs.follow_fleet_gates.Disabled": "1"}, 0, id="1 disables"),
    ],
)
def test_a_disabled_timer_does_not_fire_and_the_others_do(
    tmp_path: Path, settings: dict[str, str], follow_ups: int
) -> None:
    assert not POLICY.fleet_gates.fleets
    with running_app(FLEET, POLICY, START, tmp_path, app_settings=settings) as app:
        app.host.run_until(START + dt.timedelta(hours=1))

        assert _fired(app, "follow_fleet_gates") == follow_ups
        assert _fired(app, "sweep") == 4


def test_a_disabled_function_is_not_triggered_but_runs_by_hand(tmp_path: Path) -> None:
    disabled = {
        f"AzureWebJobs.{name}.Disabled": "True"
        for name in ("reconcile", "api_status", "on_aks_event")
    }
    with running_app(FLEET, POLICY, START, tmp_path, app_settings=disabled) as app:
        cluster = _cluster_id(app)
        _enqueue_reconcile(app, cluster)

        assert app.host.drain() == 0
        assert app.host.http("GET", "/api/status").status_code == 404
        app.host.deliver_event(aks_event("eg_node_pool_rolling_succeeded", CLUSTER, "rg-dev"))
        app.host.fire_timer("sweep")
        assert app.host.route("GET", "/api/status") is None
        assert _fired(app, "reconcile") == _fired(app, "on_aks_event") == 0
        assert _fired(app, "sweep") == 1


# Queues: poison timing and batches -------------------------------------------------------


def test_the_fifth_failure_moves_the_message_to_poison_at_once(tmp_path: Path) -> None:
    def fails(message: func.QueueMessage) -> None:
        raise RuntimeError(f"attempt {message.dequeue_count} fails")

    with running_app(FLEET, POLICY, START, tmp_path, threads=1) as app:
        config = app.host.config
        _replace_reconcile(app.host, fails)
        _enqueue_reconcile(app, _cluster_id(app))
        first = app.clock.now()
        app.host.run_until(first + 10 * config.visibility_timeout)
        attempts = [t for t, name, _ in app.host.invocations if name == "reconcile"]
        poisoned = [t for t, name, _ in app.host.invocations if name == "reconcile_poison"]
        left = app.services.queue.count()

    fifth = first + (config.max_dequeue_count - 1) * config.visibility_timeout
    assert len(attempts) == config.max_dequeue_count
    assert attempts[-1] == fifth
    # Not one visibility timeout later, when a sixth delivery would have found it.
    assert poisoned == [fifth]
    assert left == 0


def test_host_json_sets_the_batch_and_the_threshold_of_a_new_batch() -> None:
    config = HostConfig.load(ROOT / "host.json", {})
    host_json = json.loads((ROOT / "host.json").read_text())["extensions"]["queues"]

    assert config.batch_size == host_json["batchSize"]
    assert config.fetch_threshold == host_json["batchSize"] // 2
    assert config.max_dequeue_count == host_json["maxDequeueCount"]
    assert HostConfig(settings={"PYTHON_THREADPOOL_THREAD_COUNT": "3"}).worker_threads == 3


def test_two_reconciles_of_one_cluster_run_at_once_by_default(tmp_path: Path) -> None:
    together = threading.Barrier(2, timeout=BARRIER_SECONDS)
    threads: list[str] = []

    with running_app(FLEET, POLICY, START, tmp_path) as app:
        assert app.host.threads == app.host.config.worker_threads
        real = _replace_reconcile(app.host, lambda message, context: None)

        def meets_the_other(message: func.QueueMessage, context: func.Context) -> None:
            # One message after another would leave this one waiting out the timeout.
            together.wait()
            threads.append(threading.current_thread().name)
            real(message, context=context)

        _replace_reconcile(app.host, meets_the_other)
        cluster = _cluster_id(app)
        _enqueue_reconcile(app, cluster)
        _enqueue_reconcile(app, cluster)
        handled = app.host.drain()
        failures = list(app.host.failures)

    assert handled >= 2
    assert failures == []
    assert len(set(threads)) == 2
    assert all(name.startswith("functions-worker") for name in threads)


def test_a_whole_batch_runs_at_once_on_enough_threads(tmp_path: Path) -> None:
    settings = {"PYTHON_THREADPOOL_THREAD_COUNT": "16"}
    with running_app(FLEET, POLICY, START, tmp_path, app_settings=settings) as app:
        size = app.host.config.batch_size
        together = threading.Barrier(size, timeout=BARRIER_SECONDS)

        def waits_for_the_batch(message: func.QueueMessage, context: func.Context) -> None:
            together.wait()

        _replace_reconcile(app.host, waits_for_the_batch)
        for _ in range(size):
            _enqueue_reconcile(app, _cluster_id(app))
        handled = app.host.drain()
        failures = list(app.host.failures)

    assert app.host.threads == 16
    assert handled == size
    assert failures == []


# Event Grid: payload forms ---------------------------------------------------------------


def _samples() -> list[Any]:
    """Every sample event: tests/events (both schemas) and the REST spec's examples."""
    found = [pytest.param(load(name), id=name) for name in names("eg_") + names("ce_")]
    for path in sorted(EVENT_FIXTURES.rglob("*.json")):
        found.append(
            pytest.param(json.loads(path.read_text()), id=f"spec/{path.parent.name}/{path.stem}")
        )
    return found


@pytest.mark.parametrize("sample", _samples())
def test_each_sample_is_one_invocation_alone_or_in_a_batch(tmp_path: Path, sample: Any) -> None:
    with running_app(FLEET, POLICY, START, tmp_path) as app:
        app.host.deliver_event(sample)
        app.host.deliver_event([sample, sample])
        calls = [name for _, name, _ in app.host.invocations if name == event_route(sample)]
        failures = list(app.host.failures)

    assert len(calls) == 3
    # Acknowledged whatever it holds (placeholders, no type): never a failed invocation.
    assert failures == []


@pytest.mark.parametrize(
    ("sample", "function"),
    [
        pytest.param("eg_new_kubernetes_version_available", "on_aks_event", id="aks"),
        pytest.param("ce_node_pool_rolling_failed", "on_aks_event", id="aks cloudevent"),
        pytest.param("eg_fleet_gate_created", "on_fleet_gate_event", id="fleet gate"),
        pytest.param("ce_fleet_gate_deleted", "on_fleet_gate_event", id="fleet gate cloudevent"),
    ],
)
def test_each_event_reaches_the_function_its_subscription_names(sample: str, function: str) -> None:
    assert event_route(load(sample)) == function


def test_a_mixed_batch_is_split_by_type_and_a_named_function_takes_a_delivery_whole(
    tmp_path: Path,
) -> None:
    aks, gate = load("eg_node_pool_rolling_started"), load("eg_fleet_gate_created")
    with running_app(FLEET, POLICY, START, tmp_path) as app:
        app.host.deliver_event([aks, gate, aks])
        routed = [name for _, name, kind in app.host.invocations if kind == "eventGridTrigger"]
        app.host.deliver_event([aks, gate], function="on_fleet_gate_event")
        named = [name for _, name, kind in app.host.invocations if kind == "eventGridTrigger"]
        with pytest.raises(LookupError, match="no Event Grid function named 'sweep'"):
            app.host.deliver_event(aks, function="sweep")
        failures = list(app.host.failures)

    assert routed == ["on_aks_event", "on_fleet_gate_event", "on_aks_event"]
    assert named[3:] == ["on_fleet_gate_event", "on_fleet_gate_event"]
    assert failures == []  # the gate function acknowledges (ignores) the AKS event it was given
    assert set(EVENT_ROUTES.values()) <= {
        name for name, f in app.host.functions.items() if f.trigger_type == "eventGridTrigger"
    }


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param("an event", id="a string"),
        pytest.param(7, id="a number"),
        pytest.param(None, id="null"),
    ],
)
def test_a_delivery_that_is_neither_an_object_nor_an_array_is_refused(
    tmp_path: Path, payload: Any
) -> None:
    with running_app(FLEET, POLICY, START, tmp_path) as app:
        with pytest.raises(ValueError, match="JSON object or array"):
            app.host.deliver_event(payload)
        calls = [name for _, name, _ in app.host.invocations if name == "on_aks_event"]

    assert calls == []


def test_the_schema_is_the_converters_reading_of_specversion() -> None:
    cloud = load("ce_node_pool_rolling_started")
    misspelt = {k: v for k, v in cloud.items() if k != "specversion"} | {"specVersion": "1.0"}

    assert isinstance(wire.event(cloud), func.CloudEvent)
    # The REST spec's NewKubernetesVersionAvailable sample writes `specVersion`: the
    # worker reads it as an Event Grid event without a type, so Azure would ignore it.
    decoded = wire.event(misspelt)
    assert isinstance(decoded, func.EventGridEvent)
    assert decoded.event_type is None


def test_a_batch_of_both_schemas_reaches_the_app_as_each_event_alone(tmp_path: Path) -> None:
    grid = aks_event("eg_new_kubernetes_version_available", CLUSTER, "rg-dev")
    cloud = aks_event("ce_node_pool_rolling_started", CLUSTER, "rg-dev")
    (tmp_path / "alone").mkdir()
    (tmp_path / "batch").mkdir()
    with running_app(FLEET, POLICY, START, tmp_path / "alone") as one_by_one:
        one_by_one.host.deliver_event(grid)
        one_by_one.host.deliver_event(cloud)
        singles = one_by_one.services.queue.count()
    with running_app(FLEET, POLICY, START, tmp_path / "batch") as batched:
        batched.host.deliver_event([grid, cloud])
        together = batched.services.queue.count()

    assert singles >= 1
    assert together == singles


# Trace context ---------------------------------------------------------------------------


def test_an_http_function_span_is_the_child_of_the_hosts_invocation(tmp_path: Path) -> None:
    memory = in_memory_telemetry()
    caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with running_app(FLEET, POLICY, START, tmp_path, telemetry=memory.telemetry) as app:
        app.host.http("GET", "/api/status", headers={"traceparent": caller})
        (_, parent), *_ = [p for p in app.host.trace_parents if p[0] == "api_status"]

    span = memory.span("function.api_status")
    assert span.parent is not None
    assert span.context is not None
    assert f"{span.context.trace_id:032x}" == caller.split("-")[1]
    assert f"{span.parent.span_id:016x}" == parent.split("-")[2]
    assert parent.split("-")[2] != caller.split("-")[2]


@pytest.mark.parametrize(
    ("function", "act"),
    [
        pytest.param("sweep", lambda app: app.host.fire_timer("sweep"), id="timer"),
        pytest.param(
            "reconcile",
            _reconcile_one,
            id="queue",
        ),
        pytest.param(
            "on_aks_event",
            lambda app: app.host.deliver_event(
                aks_event("eg_new_kubernetes_version_available", CLUSTER, "rg-dev")
            ),
            id="event grid",
        ),
    ],
)
def test_every_trigger_passes_the_hosts_trace_parent_to_its_span(
    tmp_path: Path, function: str, act: Callable[[Harness], object]
) -> None:
    memory = in_memory_telemetry()
    with running_app(FLEET, POLICY, START, tmp_path, telemetry=memory.telemetry) as app:
        act(app)
        parents = [p for name, p in app.host.trace_parents if name == function]

    spans = [s for s in memory.spans() if s.name == f"function.{function}"]
    assert spans
    assert len(parents) >= len(spans)
    given = {(p.split("-")[1], p.split("-")[2]) for p in parents}
    for span in spans:
        assert span.parent is not None
        assert span.context is not None
        assert (f"{span.context.trace_id:032x}", f"{span.parent.span_id:016x}") in given


def test_every_registered_function_takes_the_context() -> None:
    from function_app import app
    from patchpilot.localhost.host import registered_functions

    functions = registered_functions(app)

    assert functions
    assert [name for name, f in functions.items() if not wire.wants_context(f.call)] == []

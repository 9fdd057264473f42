"""A local Functions host: runs what `function_app.py` registers, by its bindings.

No Functions Core Tools here, so this host reads the app's function metadata
(trigger type, schedule, queue name, route) and delivers inputs the way the
Azure Functions host and Python worker do: it builds each input in the wire
form the host sends and decodes it with the worker's own converters from
`azure.functions` (:mod:`patchpilot.localhost.wire` cites the host and worker code
each rule comes from):

- Event Grid: a delivery is one event (a JSON object) or a batch (an array),
  one invocation per event; anything else is refused, as the trigger
  extension refuses it; the schema is the converter's reading (`specversion`);
  each event goes to the function its subscription names (a caller's
  `function=`, else :data:`EVENT_ROUTES` by event type, as the Bicep
  subscribes each topic's types to one function);
- timer triggers fire by their NCRONTAB schedules (app-setting references
  resolved, day-of-month and day-of-week both matching) on a virtual clock;
- queue messages: the Storage extension's listener, a batch of host.json's
  `batchSize` at once and the next as soon as no more than
  `newBatchThreshold` run, on the worker's thread pool for sync functions
  (`PYTHON_THREADPOOL_THREAD_COUNT`, else Python's default size); a message
  whose `maxDequeueCount`-th attempt fails moves to `<queue>-poison` at once;
- a function disabled by its app setting ``AzureWebJobs.<name>.Disabled``
  (``true`` or ``1``) is not triggered: its timer does not fire, its queue
  is not listened to, its route answers 404 and events for it are dropped;
  :meth:`LocalHost.fire_timer` still runs it, as the admin endpoint does
  (Microsoft Learn, "How to disable functions in Azure Functions": the
  runtime ignores the events meant to trigger it, and a disabled function
  can still be run with the master key);
- HTTP requests are routed to `httpTrigger` functions by route and method;
  the query map leaves out empty values (``?cluster=`` is no filter), header
  names are lower-cased, the body is bytes;
- a function that takes `context` gets one, with the host's invocation span
  as `trace_context.trace_parent` (a child of an HTTP caller's `traceparent`).

There is no second copy of any function: what runs here is what runs in Azure.

What the host still models by hand, and why:

- routing, the function key and the body limit (the host's HTTP pipeline is
  ASP.NET, not Python: `patchpilot serve`'s front door models the key);
- the queue listener's loop (batch, threshold, poison copy): the extension
  is .NET code; the rules are its `QueueProcessor` and `QueuesOptions`;
- a failed message shows again `visibilityTimeout` after it was *received*,
  not after the failure (the queue port has no release call), and a message
  whose lock runs out on the virtual clock while it still runs is kept with
  its invocation, not run twice (Azure renews the lock), at the cost of one
  extra dequeue count;
- Event Grid's own delivery retries, and its schema checks, are not modelled;
- timers run at their instants on the virtual clock: no past-due catch-up
  after a pause, no singleton lock across instances (the harness's workers
  place timers on the first instance, as the lock would).

Time moves in jumps, not ticks: :meth:`LocalHost.run_until` sets the clock
straight to the next instant at which anything can happen (a timer firing, a
queued message becoming visible, a change a wake-up source announces, such as
the simulator's next upgrade step) and settles everything due there before
moving on. Forty-five simulated days cost a few thousand stops, not 65,000
one-minute ticks. The clock may also move during an invocation (a retry's
wait, a slow answer): the host then carries on from wherever it stands.

Invocations can be spread over several instances of the app (``placement``:
which :class:`Runtime` runs an invocation). ``threads=1`` runs one message
after another, in order, for tests that want a fixed sequence.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import re
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Protocol, cast, runtime_checkable

import azure.functions as func
from azure.functions.timer import TimerRequest

from patchpilot.adapters.queues import Delivery, MessageQueue
from patchpilot.localhost import ncrontab, wire
from patchpilot.runtime import Runtime, use_runtime
from patchpilot.sim.clock import VirtualClock

_log = logging.getLogger(__name__)
_ROUTE_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")
# A queue that cannot say when its next message shows is polled this often.
BLIND_STEP: Final = dt.timedelta(minutes=1)
# Rounds of "deliver events, drain queues" at one instant before the host calls it a loop.
MAX_ROUNDS_PER_INSTANT: Final = 1000
# The Storage extension's ceiling on host.json `batchSize` (one Get Messages call).
MAX_BATCH_SIZE: Final = 32
# The app setting that sizes the Python worker's thread pool for sync functions.
THREAD_COUNT_SETTING: Final = "PYTHON_THREADPOOL_THREAD_COUNT"
# The app setting that disables one function's trigger ("true" or "1"), by function name.
DISABLED_SETTING: Final = "AzureWebJobs.{}.Disabled"
# The shortest lock a received message gets (see LocalHost._lock_span).
MIN_LOCK: Final = dt.timedelta(seconds=1)

EVENT_GRID: Final = "eventGridTrigger"
# Which Event Grid function each event type reaches, by the longest matching prefix
# (compared without case: Fleet's samples spell ``AksResources``, its table
# ``AKSResources``): one entry per event subscription the Bicep makes
# (infra/modules/aks-events.bicep, fleet-gate-events.bicep). A new trigger adds one entry.
EVENT_ROUTES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "Microsoft.ContainerService.": "on_aks_event",
        "Microsoft.ResourceNotifications.AKSResources.": "on_fleet_gate_event",
        "Microsoft.ResourceNotifications.ContainerServiceEventResources.": (
            "on_aks_maintenance_event"
        ),
    }
)
# Where an event no route claims goes (no type, or a type nobody subscribes to). Azure
# would not deliver it at all; the host hands it to the AKS events function, which
# acknowledges and ignores it, so tests can see such deliveries refused quietly.
UNROUTED_EVENTS: Final = "on_aks_event"

# Called once per stop: delivers what happened outside the host (the simulator's
# events) and returns how many things it delivered (None counts as nothing).
TickHook = Callable[[], int | None]
# Says when a source outside the host next changes on its own, after the instant given.
Wakeup = Callable[[dt.datetime], dt.datetime | None]
# Picks the instance (its runtime) that runs one invocation of a function.
Placement = Callable[["Registered"], Runtime]


@runtime_checkable
class VisibilityForecast(Protocol):
    """A queue that can say when its next hidden message becomes visible (SQLite can)."""

    def next_visible(self, after: dt.datetime) -> dt.datetime | None:
        """The first instant after `after` at which a hidden message shows; None if none."""
        ...


@dataclass(frozen=True)
class Registered:
    """One function as the host sees it: its name, trigger binding and Python callable."""

    name: str
    trigger: Mapping[str, Any]
    call: Callable[..., Any]

    @property
    def trigger_type(self) -> str:
        return str(self.trigger["type"])


@dataclass
class HostConfig:
    """What host.json and the app settings say about triggers and the worker.

    Queue defaults are the Storage extension's (`QueuesOptions`: batchSize
    16, at most 32; newBatchThreshold half the batch on one vCPU; 5
    dequeues; a released message visible again at once). The worker's
    thread pool for sync functions has Python's default size on 3.9+
    workers (`min(32, cpu + 4)`) unless PYTHON_THREADPOOL_THREAD_COUNT says
    otherwise (Azure/azure-functions-python-worker 4.34,
    azure_functions_worker/dispatcher.py lines 949-980, `_get_sync_tp_max_workers`;
    the extension's options: QueuesOptions in the
    Microsoft.Azure.WebJobs.Extensions.Storage.Queues 5.x reference).
    """

    max_dequeue_count: int = 5
    visibility_timeout: dt.timedelta = dt.timedelta(seconds=30)
    batch_size: int = 16
    new_batch_threshold: int | None = None
    settings: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"batchSize must be 1 to {MAX_BATCH_SIZE}, got {self.batch_size}")
        if self.new_batch_threshold is not None and self.new_batch_threshold < 0:
            raise ValueError(
                f"newBatchThreshold must not be negative, got {self.new_batch_threshold}"
            )

    @classmethod
    def load(cls, host_json: Path, settings: Mapping[str, str]) -> HostConfig:
        """Read the queue extension settings of host.json (defaults as in Azure)."""
        queues = json.loads(host_json.read_text()).get("extensions", {}).get("queues", {})
        threshold = queues.get("newBatchThreshold")
        return cls(
            max_dequeue_count=int(queues.get("maxDequeueCount", 5)),
            visibility_timeout=_timespan(queues.get("visibilityTimeout", "00:00:00")),
            batch_size=int(queues.get("batchSize", 16)),
            new_batch_threshold=int(threshold) if threshold is not None else None,
            settings=dict(settings),
        )

    @property
    def fetch_threshold(self) -> int:
        """Another batch is fetched once no more than this many messages are in flight."""
        if self.new_batch_threshold is not None:
            return self.new_batch_threshold
        return self.batch_size // 2

    def disabled(self, function: str) -> bool:
        """Whether the app setting ``AzureWebJobs.<function>.Disabled`` is ``true`` or ``1``."""
        value = self.settings.get(DISABLED_SETTING.format(function), "")
        return value.strip().lower() in {"true", "1"}

    @property
    def worker_threads(self) -> int:
        """The size of the worker's thread pool for sync functions."""
        given = self.settings.get(THREAD_COUNT_SETTING, "").strip()
        if given.isdigit() and int(given) >= 1:
            return int(given)
        # ThreadPoolExecutor(max_workers=None), what the worker builds on Python 3.9+.
        return min(32, (os.cpu_count() or 1) + 4)


@functools.cache
def registered_functions(app: func.FunctionApp) -> Mapping[str, Registered]:
    """The app's functions by name, with their trigger bindings (from the function metadata).

    Memoised: `FunctionApp.get_functions()` indexes the app and refuses to run twice.
    """
    found: dict[str, Registered] = {}
    for function in app.get_functions():
        bindings = json.loads(function.get_function_json())["bindings"]
        trigger = next(b for b in bindings if str(b["type"]).endswith("Trigger"))
        name = str(function.get_function_name())
        call = function.get_user_function()
        if wire.wants_context(call):
            call = _context_filled(name, call)
        found[name] = Registered(name, trigger, call)
    return MappingProxyType(found)


def _context_filled(name: str, call: Callable[..., Any]) -> Callable[..., Any]:
    """The function with `context` optional: a caller that stands in for the host
    (a test double wrapping the app's own function) may leave it out; the host never does.
    """

    def invoke(value: Any, context: func.Context | None = None) -> Any:
        return call(value, context=context or wire.invocation_context(name, str(uuid.uuid4())))

    return invoke


class LocalHost:
    """Runs the registered functions against one runtime on a virtual clock."""

    def __init__(
        self,
        app: func.FunctionApp,
        runtime: Runtime,
        clock: VirtualClock,
        config: HostConfig,
        queues: Mapping[str, MessageQueue],
        *,
        threads: int | None = None,
    ) -> None:
        threads = config.worker_threads if threads is None else threads
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self.functions = registered_functions(app)
        # Read once, as the host reads app settings at start-up (a change restarts the app).
        self.disabled = frozenset(name for name in self.functions if config.disabled(name))
        self.runtime = runtime
        self.threads = threads
        # None: every invocation runs on `runtime`, one instance.
        self.placement: Placement | None = None
        self.clock = clock
        self.config = config
        self.queues = dict(queues)
        self.invocations: list[tuple[dt.datetime, str, str]] = []
        self.failures: list[tuple[str, str]] = []
        # (function, trace_parent) of each invocation whose function took `context`.
        self.trace_parents: list[tuple[str, str]] = []
        self._timers = {
            name: ncrontab.parse(str(f.trigger["schedule"]), config.settings)
            for name, f in self.functions.items()
            if f.trigger_type == "timerTrigger" and name not in self.disabled
        }
        self._next_fire = {name: s.next_after(clock.now()) for name, s in self._timers.items()}
        self.tick_hooks: list[TickHook] = []
        self.wakeups: list[Wakeup] = []
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        # The newest receipt of each message in flight (see _renew).
        self._held: dict[str, Delivery] = {}
        # Read once, not at every stop or invocation (a signature, a runtime protocol check
        # cost more than the stop's own work): whether each function takes `context`, and
        # whether each queue forecasts, by name, beside the object it was read from.
        self._takes_context: dict[str, tuple[Callable[..., Any], bool]] = {}
        self._forecast: dict[str, tuple[MessageQueue, bool]] = {}

    def close(self) -> None:
        """Stop the worker threads (idle ones; the host can still run inline afterwards)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    # Event Grid -------------------------------------------------------------------------

    def deliver_event(self, payload: Any, *, function: str | None = None) -> None:
        """One Event Grid delivery: an event or a batch, one invocation per event.

        In Azure each event subscription delivers to one function
        (``/runtime/webhooks/eventgrid?functionName=<function>``): `function`
        names it. Without it, the app's only Event Grid function takes the
        delivery; with several, each event goes to the function whose
        subscription would get it (:func:`event_route`). Decoded as the
        trigger extension and the worker decode it (see
        :mod:`patchpilot.localhost.wire`); a payload that is neither an object nor
        an array is refused with a ValueError, as the extension refuses it;
        a `function` that is no Event Grid trigger is a LookupError.
        """
        fixed = self._event_function(function) if function is not None else None
        grid = [f for f in self.functions.values() if f.trigger_type == EVENT_GRID]
        for element in wire.event_batch(payload):
            target = fixed or (grid[0] if len(grid) == 1 else self._routed(element))
            if target.name in self.disabled:
                # Policy: Azure does not trigger a disabled function; the event is dropped.
                _log.info("event for disabled function %s dropped", target.name)
                continue
            self._invoke(target, wire.event(element))

    def _event_function(self, name: str) -> Registered:
        found = self.functions.get(name)
        if found is None or found.trigger_type != EVENT_GRID:
            raise LookupError(f"no Event Grid function named {name!r}")
        return found

    def _routed(self, element: Any) -> Registered:
        """The function whose subscription gets this event (by its type)."""
        return self._event_function(event_route(element))

    # Timers ------------------------------------------------------------------------------

    def fire_timer(self, name: str, *, past_due: bool = False) -> None:
        """Invoke a timer trigger now (even a disabled one: an operator's manual run)."""
        self._invoke(self.functions[name], TimerRequest(past_due=past_due))

    def next_timer(self) -> tuple[dt.datetime, str] | None:
        """The next timer firing and its function."""
        due = [(when, name) for name, when in self._next_fire.items() if when is not None]
        return min(due) if due else None

    # Queues ------------------------------------------------------------------------------

    def drain(self, *, limit: int = 10_000) -> int:
        """Deliver every message visible at the clock's now; returns how many were handled."""
        handled = 0
        progress = True
        while progress and handled < limit:
            progress = False
            for name, queue in self.queues.items():
                target = self._queue_trigger(name)
                if target is None:
                    continue
                taken = self._pump(target, queue, limit - handled)
                handled += taken
                progress = progress or bool(taken)
        return handled

    def _pump(self, target: Registered, queue: MessageQueue, limit: int) -> int:
        """The queue listener: batches of `batchSize`, another once few are left in flight.

        As the Storage extension does, it fetches `batchSize` messages, runs
        them at once, and fetches the next batch as soon as no more than
        `newBatchThreshold` are still running: at most batchSize plus
        newBatchThreshold invocations at once, on the worker's `threads`.
        One thread: the same batches, one message after another.
        """
        if self.threads == 1:
            return self._pump_inline(target, queue, limit)
        running: set[Future[None]] = set()
        taken = 0
        while True:
            if len(running) <= self.config.fetch_threshold and taken < limit:
                batch = self._receive(queue, min(self.config.batch_size, limit - taken))
                taken += len(batch)
                running.update(self._submit(target, queue, d) for d in batch)
            if not running:
                return taken
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for finished in done:
                finished.result()

    def _pump_inline(self, target: Registered, queue: MessageQueue, limit: int) -> int:
        taken = 0
        while taken < limit:
            batch = self._receive(queue, min(self.config.batch_size, limit - taken))
            if not batch:
                break
            taken += len(batch)
            for delivery in batch:
                self._deliver(target, queue, delivery)
        return taken

    def _receive(self, queue: MessageQueue, count: int) -> list[Delivery]:
        """Visible messages; one still in flight here is renewed, not run twice."""
        batch = queue.receive(now=self.clock.now(), limit=count, lock=self._lock_span())
        return [delivery for delivery in batch if not self._renew(delivery)]

    def _renew(self, delivery: Delivery) -> bool:
        """True when `delivery` is a message already running (its lock ran out on the clock).

        The extension renews the lock of a message while its function runs;
        here an invocation that moves the virtual clock past the lock lets
        the queue hand the message out again. It is kept with the running
        invocation (its newer receipt replaces the old) instead of running
        twice. Harsher than Azure in one way: the queue counted a dequeue.
        """
        with self._lock:
            if delivery.id not in self._held:
                self._held[delivery.id] = delivery
                return False
            self._held[delivery.id] = delivery
            return True

    def _submit(self, target: Registered, queue: MessageQueue, delivery: Delivery) -> Future[None]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="functions-worker")
        return self._pool.submit(self._deliver_running, target, queue, delivery)

    def _deliver_running(self, target: Registered, queue: MessageQueue, delivery: Delivery) -> None:
        """On a worker thread: the clock's sleepers wait for this one to sleep or end."""
        with self.clock.running():
            self._deliver(target, queue, delivery)

    def _lock_span(self) -> dt.timedelta:
        """How long a received message stays hidden: the visibility timeout, a second at least.

        Azure hides a running message under a renewed lease and, on failure,
        releases it with host.json's `visibilityTimeout` counted from then.
        The queue port has no release, so the receive lock stands for both:
        a failed message shows again `visibilityTimeout` after it was taken
        (the same instant when the invocation took no virtual time). The
        floor of a second keeps a zero timeout from handing out a running
        message again within the same instant.
        """
        return max(self.config.visibility_timeout, MIN_LOCK)

    def _deliver(self, target: Registered, queue: MessageQueue, delivery: Delivery) -> None:
        try:
            if delivery.dequeue_count > self.config.max_dequeue_count:
                # Policy: a message already past the limit (a host that crashed) moves unrun.
                self._poison(queue, self._latest(delivery))
                return
            message = wire.queue_message(delivery, self.clock.now(), self._lock_span())
            succeeded = self._invoke(target, message)
            latest = self._latest(delivery)
            if succeeded:
                queue.delete(latest)
            elif latest.dequeue_count >= self.config.max_dequeue_count:
                # As the extension does: the maxDequeueCount-th failure moves it at once.
                self._poison(queue, latest)
        finally:
            with self._lock:
                self._held.pop(delivery.id, None)

    def _latest(self, delivery: Delivery) -> Delivery:
        with self._lock:
            return self._held.get(delivery.id, delivery)

    def _poison(self, queue: MessageQueue, delivery: Delivery) -> None:
        """Copy the message to `<queue>-poison` and delete it, as the Storage extension does."""
        poison = self.queues.get(f"{queue.name}-poison")
        if poison is not None:
            poison.send(delivery.text, now=self.clock.now())
        queue.delete(delivery)
        _log.warning(
            "message %s has reached MaxDequeueCount of %d: moved to %s-poison",
            delivery.id,
            self.config.max_dequeue_count,
            queue.name,
        )

    # Time ---------------------------------------------------------------------------------

    def run_until(self, end: dt.datetime, *, step: dt.timedelta | None = None) -> None:
        """Advance the clock to `end`, stopping wherever something can happen.

        Each stop is the earliest of: the next timer firing, the next queued
        message becoming visible, the next change a wake-up source announces,
        `end`, and `now + step` when a step is given (a cap for callers that
        want to look more often). At each stop the tick hooks run, due timers
        fire, and events and messages are delivered until the instant is quiet.
        """
        self._settle()
        while self.clock.now() < end:
            # An invocation may have moved the clock past the planned stop: never back.
            self.clock.advance_to(self._next_stop(end, step))
            self._run_hooks()
            self._fire_due_timers()
            self._settle()

    def _next_stop(self, end: dt.datetime, step: dt.timedelta | None) -> dt.datetime:
        """The earliest instant, after now and at most `end`, at which something can happen."""
        now = self.clock.now()
        later = [end]
        if step is not None:
            later.append(now + step)
        for name, queue in self.queues.items():
            if self._forecasts(name, queue):
                later.append(cast(VisibilityForecast, queue).next_visible(now) or end)
            else:
                # Policy: a queue that cannot forecast is polled, as the real host polls.
                later.append(now + BLIND_STEP)
        later.extend(moment for wake in self.wakeups if (moment := wake(now)) is not None)
        stop = min(moment for moment in later if moment > now)
        upcoming = self.next_timer()
        if upcoming is not None and upcoming[0] < stop:
            # A timer at or before now (the clock was moved by hand) fires at once.
            stop = max(upcoming[0], now)
        return stop

    def _settle(self) -> None:
        """Deliver events and messages due at this instant until nothing more happens at it."""
        for _ in range(MAX_ROUNDS_PER_INSTANT):
            if not self.drain() and not self._run_hooks():
                return
        _log.warning("still busy after %d rounds at %s", MAX_ROUNDS_PER_INSTANT, self.clock.now())

    def _run_hooks(self) -> int:
        return sum(hook() or 0 for hook in self.tick_hooks)

    def _fire_due_timers(self) -> None:
        now = self.clock.now()
        if not any(when is not None and when <= now for when in self._next_fire.values()):
            return
        for name, when in sorted(self._next_fire.items(), key=lambda item: str(item[1])):
            if when is not None and when <= now:
                self._next_fire[name] = self._timers[name].next_after(now)
                self.fire_timer(name)

    # HTTP --------------------------------------------------------------------------------

    def http(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> func.HttpResponse:
        """Route a request to the HTTP trigger whose route and method match.

        `path` may carry a query string; `params` are query values a caller
        already split. Both reach the function as the host sends them
        (:func:`patchpilot.localhost.wire.query_values`: empty values left out).
        """
        split = urllib.parse.urlsplit(path)
        found = self.route(method, split.path)
        if found is None:
            return func.HttpResponse(
                json.dumps({"error": {"code": "NotFound", "message": f"no route {method} {path}"}}),
                status_code=404,
                mimetype="application/json",
            )
        function, route_params = found
        query = "&".join(part for part in (split.query, _encode(params)) if part)
        given = dict(headers or {})
        request = wire.http_request(
            method,
            f"http://127.0.0.1/api/{split.path.removeprefix('/api/').strip('/')}"
            + (f"?{query}" if query else ""),
            headers=given,
            query=wire.query_values(query),
            route_params=route_params,
            body=body,
        )
        caller = wire.caller_traceparent(given)
        with use_runtime(self._runtime_for(function)):
            response: func.HttpResponse = self._call(function, request, caller)
        return response

    def route(self, method: str, path: str) -> tuple[Registered, dict[str, str]] | None:
        """The HTTP trigger that serves `method path`, with its route parameters; None if none."""
        route = path.removeprefix("/api/").strip("/")
        for function in self.functions.values():
            if function.trigger_type != "httpTrigger" or function.name in self.disabled:
                continue
            methods = [m.upper() for m in function.trigger.get("methods") or ["GET", "POST"]]
            route_params = _match(str(function.trigger.get("route") or function.name), route)
            if route_params is not None and method.upper() in methods:
                return function, route_params
        return None

    # Invocation ---------------------------------------------------------------------------

    def _invoke(self, target: Registered, value: Any) -> bool:
        """Call the function as the worker would; an exception is a failed invocation."""
        self.invocations.append((self.clock.now(), target.name, target.trigger_type))
        try:
            with use_runtime(self._runtime_for(target)):
                self._call(target, value)
        except Exception as exc:  # the host records any failure, as Azure's does
            _log.exception("function %s failed", target.name)
            self.failures.append((target.name, f"{type(exc).__name__}: {exc}"))
            return False
        return True

    def _call(
        self, target: Registered, value: Any, caller: tuple[str | None, str | None] = (None, None)
    ) -> Any:
        """The trigger's value, and a `context` if the function takes one, as the worker does."""
        if not self._wants_context(target):
            return target.call(value)
        context = wire.invocation_context(target.name, str(uuid.uuid4()), *caller)
        with self._lock:
            self.trace_parents.append((target.name, context.trace_context.trace_parent))
        return target.call(value, context=context)

    def _wants_context(self, target: Registered) -> bool:
        """:func:`wire.wants_context` of the function, read once per callable."""
        known = self._takes_context.get(target.name)
        if known is None or known[0] is not target.call:
            known = (target.call, wire.wants_context(target.call))
            self._takes_context[target.name] = known
        return known[1]

    def _forecasts(self, name: str, queue: MessageQueue) -> bool:
        """Whether the queue is a :class:`VisibilityForecast`, checked once per queue object."""
        known = self._forecast.get(name)
        if known is None or known[0] is not queue:
            known = (queue, isinstance(queue, VisibilityForecast))
            self._forecast[name] = known
        return known[1]

    def _runtime_for(self, target: Registered) -> Runtime:
        """The instance that runs this invocation."""
        return self.placement(target) if self.placement is not None else self.runtime

    def _queue_trigger(self, queue_name: str) -> Registered | None:
        for function in self.functions.values():
            trigger = function.trigger
            if function.name in self.disabled:
                continue
            if function.trigger_type == "queueTrigger" and trigger.get("queueName") == queue_name:
                return function
        return None


def event_route(element: Any) -> str:
    """The Event Grid function an event's subscription delivers it to (:data:`EVENT_ROUTES`)."""
    kind = ""
    if isinstance(element, Mapping):
        kind = str(element.get("eventType") or element.get("type") or "")
    folded = kind.casefold()
    claims = [prefix for prefix in EVENT_ROUTES if folded.startswith(prefix.casefold())]
    return EVENT_ROUTES[max(claims, key=len)] if claims else UNROUTED_EVENTS


def _match(route: str, path: str) -> dict[str, str] | None:
    pattern = _ROUTE_PARAM.sub(lambda m: f"(?P<{m.group(1)}>[^/]+)", route.strip("/"))
    found = re.fullmatch(pattern, path)
    return found.groupdict() if found else None


def _encode(params: Mapping[str, str] | None) -> str:
    """Query values a caller split already, back in query-string form (blanks kept)."""
    return urllib.parse.urlencode(dict(params or {}))


def _timespan(text: str) -> dt.timedelta:
    hours, minutes, seconds = (float(part) for part in text.split(":"))
    return dt.timedelta(hours=hours, minutes=minutes, seconds=seconds)

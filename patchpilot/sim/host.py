"""A local Functions host: runs what `function_app.py` registers, by its bindings.

No Functions Core Tools here, so this host reads the app's function metadata
(trigger type, schedule, queue name, route) and delivers inputs the way the
Azure Functions host and Python worker do, through the worker's own input
converters (`azure.functions.eventgrid`, `.queue`):

- Event Grid events go to the `eventGridTrigger` function, one per call;
- timer triggers fire by their NCRONTAB schedules (app-setting references
  resolved, day-of-month and day-of-week both matching) on a virtual clock;
- queue messages move to `queueTrigger` functions with visibility delays and
  dequeue counts; a message that fails `maxDequeueCount` times (host.json)
  moves to `<queue>-poison`, as the host does;
- HTTP requests are routed to `httpTrigger` functions by route and method.

There is no second copy of any function: what runs here is what runs in Azure.

Time moves in jumps, not ticks: :meth:`LocalHost.run_until` sets the clock
straight to the next instant at which anything can happen (a timer firing, a
queued message becoming visible, a change a wake-up source announces, such as
the simulator's next upgrade step) and settles everything due there before
moving on. Forty-five simulated days cost a few thousand stops, not 65,000
one-minute ticks. The clock may also move during an invocation (a retry's
wait, a slow answer): the host then carries on from wherever it stands.

As on Azure, a batch of queue messages can run at once (``threads``: the
Python worker runs sync functions on a thread pool, the queue trigger fetches
a batch), and invocations can be spread over several instances of the app
(``placement``: which :class:`Runtime` runs an invocation).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Protocol, runtime_checkable

import azure.functions as func
from azure.functions import meta
from azure.functions.eventgrid import EventGridEventInConverter
from azure.functions.queue import QueueMessageInConverter
from azure.functions.timer import TimerRequest

from patchpilot.adapters.queues import Delivery, MessageQueue
from patchpilot.runtime import Runtime, use_runtime
from patchpilot.sim import ncrontab
from patchpilot.sim.clock import VirtualClock

_log = logging.getLogger(__name__)
_ROUTE_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")
# A queue that cannot say when its next message shows is polled this often.
BLIND_STEP: Final = dt.timedelta(minutes=1)
# Rounds of "deliver events, drain queues" at one instant before the host calls it a loop.
MAX_ROUNDS_PER_INSTANT: Final = 1000

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
    """What host.json and the app settings say about triggers."""

    max_dequeue_count: int = 5
    visibility_timeout: dt.timedelta = dt.timedelta(seconds=30)
    settings: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, host_json: Path, settings: Mapping[str, str]) -> HostConfig:
        """Read the queue extension settings of host.json (defaults as in Azure)."""
        queues = json.loads(host_json.read_text()).get("extensions", {}).get("queues", {})
        return cls(
            max_dequeue_count=int(queues.get("maxDequeueCount", 5)),
            visibility_timeout=_timespan(queues.get("visibilityTimeout", "00:00:30")),
            settings=dict(settings),
        )


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
        found[name] = Registered(name, trigger, function.get_user_function())
    return MappingProxyType(found)


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
        threads: int = 1,
    ) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self.functions = registered_functions(app)
        self.runtime = runtime
        self.threads = threads
        # None: every invocation runs on `runtime`, one instance.
        self.placement: Placement | None = None
        self.clock = clock
        self.config = config
        self.queues = dict(queues)
        self.invocations: list[tuple[dt.datetime, str, str]] = []
        self.failures: list[tuple[str, str]] = []
        self._timers = {
            name: ncrontab.parse(str(f.trigger["schedule"]), config.settings)
            for name, f in self.functions.items()
            if f.trigger_type == "timerTrigger"
        }
        self._next_fire = {name: s.next_after(clock.now()) for name, s in self._timers.items()}
        self.tick_hooks: list[TickHook] = []
        self.wakeups: list[Wakeup] = []

    # Event Grid -------------------------------------------------------------------------

    def deliver_event(self, payload: Mapping[str, Any]) -> None:
        """Invoke the Event Grid trigger with one event, decoded as the worker decodes it."""
        target = self._only("eventGridTrigger")
        event = EventGridEventInConverter.decode(
            meta.Datum(json.dumps(payload), "json"), trigger_metadata={}
        )
        self._invoke(target, event)

    # Timers ------------------------------------------------------------------------------

    def fire_timer(self, name: str, *, past_due: bool = False) -> None:
        """Invoke a timer trigger now."""
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
                batch = queue.receive(
                    now=self.clock.now(), limit=16, lock=self.config.visibility_timeout
                )
                self._deliver_batch(target, queue, batch)
                handled += len(batch)
                progress = progress or bool(batch)
        return handled

    def _deliver_batch(
        self, target: Registered, queue: MessageQueue, batch: list[Delivery]
    ) -> None:
        """One after another, or at once on `threads` threads, as the worker's pool runs them."""
        if self.threads == 1 or len(batch) < 2:
            for delivery in batch:
                self._deliver(target, queue, delivery)
            return
        with ThreadPoolExecutor(self.threads, thread_name_prefix="functions-worker") as pool:
            for done in [pool.submit(self._deliver, target, queue, d) for d in batch]:
                done.result()

    def _deliver(self, target: Registered, queue: MessageQueue, delivery: Delivery) -> None:
        if delivery.dequeue_count > self.config.max_dequeue_count:
            self._poison(queue, delivery)
            return
        message = _queue_message(delivery, self.clock.now(), self.config.visibility_timeout)
        if self._invoke(target, message):
            queue.delete(delivery)

    def _poison(self, queue: MessageQueue, delivery: Delivery) -> None:
        """As the host does: after maxDequeueCount failures the message moves to `-poison`."""
        poison = self.queues.get(f"{queue.name}-poison")
        if poison is not None:
            poison.send(delivery.text, now=self.clock.now())
        queue.delete(delivery)
        _log.warning("moved message %s to %s-poison", delivery.id, queue.name)

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
        for queue in self.queues.values():
            if isinstance(queue, VisibilityForecast):
                later.append(queue.next_visible(now) or end)
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
        """Route a request to the HTTP trigger whose route and method match."""
        found = self.route(method, path)
        if found is None:
            return func.HttpResponse(
                json.dumps({"error": {"code": "NotFound", "message": f"no route {method} {path}"}}),
                status_code=404,
                mimetype="application/json",
            )
        function, route_params = found
        runtime = self._runtime_for(function)
        request = func.HttpRequest(
            method.upper(),
            f"http://127.0.0.1/api/{path.removeprefix('/api/').strip('/')}",
            headers=dict(headers or {}),
            params=dict(params or {}),
            route_params=route_params,
            body=body,
        )
        with use_runtime(runtime):
            response: func.HttpResponse = function.call(request)
        return response

    def route(self, method: str, path: str) -> tuple[Registered, dict[str, str]] | None:
        """The HTTP trigger that serves `method path`, with its route parameters; None if none."""
        route = path.removeprefix("/api/").strip("/")
        for function in self.functions.values():
            if function.trigger_type != "httpTrigger":
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
                target.call(value)
        except Exception as exc:  # the host records any failure, as Azure's does
            _log.exception("function %s failed", target.name)
            self.failures.append((target.name, f"{type(exc).__name__}: {exc}"))
            return False
        return True

    def _runtime_for(self, target: Registered) -> Runtime:
        """The instance that runs this invocation."""
        return self.placement(target) if self.placement is not None else self.runtime

    def _only(self, trigger_type: str) -> Registered:
        matches = [f for f in self.functions.values() if f.trigger_type == trigger_type]
        if len(matches) != 1:
            raise LookupError(f"expected one {trigger_type} function, found {len(matches)}")
        return matches[0]

    def _queue_trigger(self, queue_name: str) -> Registered | None:
        for function in self.functions.values():
            trigger = function.trigger
            if function.trigger_type == "queueTrigger" and trigger.get("queueName") == queue_name:
                return function
        return None


def _queue_message(delivery: Delivery, now: dt.datetime, lock: dt.timedelta) -> Any:
    """Decode through the worker's own converter, trigger metadata included."""
    metadata = {
        "Id": meta.Datum(delivery.id, "string"),
        "DequeueCount": meta.Datum(delivery.dequeue_count, "int"),
        "PopReceipt": meta.Datum(delivery.receipt, "string"),
        "InsertionTime": meta.Datum(_iso(delivery.inserted_at), "string"),
        "NextVisibleTime": meta.Datum(_iso(now + lock), "string"),
        "ExpirationTime": meta.Datum(_iso(delivery.inserted_at + dt.timedelta(days=7)), "string"),
    }
    return QueueMessageInConverter.decode(
        meta.Datum(delivery.text, "string"), trigger_metadata=metadata
    )


def _match(route: str, path: str) -> dict[str, str] | None:
    pattern = _ROUTE_PARAM.sub(lambda m: f"(?P<{m.group(1)}>[^/]+)", route.strip("/"))
    found = re.fullmatch(pattern, path)
    return found.groupdict() if found else None


def _timespan(text: str) -> dt.timedelta:
    hours, minutes, seconds = (float(part) for part in text.split(":"))
    return dt.timedelta(hours=hours, minutes=minutes, seconds=seconds)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()

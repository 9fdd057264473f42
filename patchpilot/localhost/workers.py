"""Workers that collide: reconciles of one cluster at once, on threads and on two instances.

On Azure several invocations of the reconcile function can handle the same
cluster at the same moment: the Python worker runs sync functions on a
thread pool and the queue trigger fetches a batch (threads of one instance,
one `Services`, one holder name), the scale controller runs more instances
(another `Services`, its own clock), and an operator's `POST /api/upgrades`
can arrive while a reconcile of that cluster runs. :class:`Workers` makes
those collisions happen on purpose, seeded: it stands in for the reconcile
queue's function in the local host's table and, for a share of deliveries,
runs the reconcile twice at once (two threads released by one barrier), on
one instance or on two, or beside an operator's request for the same
cluster. It also places every other invocation on one of the instances.

The harness builds it (:meth:`~patchpilot.localhost.harness.Harness.collide`);
reliability tests read what it did from :attr:`Workers.races` and
:attr:`Workers.manual_answers`.
"""

from __future__ import annotations

import dataclasses
import json
import random
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import azure.functions as func

from patchpilot.api.principal import platform_headers
from patchpilot.api.roles import APP_ROLES, Platform, use_platform
from patchpilot.domain.messages import decode, decode_sweep
from patchpilot.errors import InvalidInputError
from patchpilot.localhost.host import LocalHost, Registered
from patchpilot.runtime import RECONCILE_QUEUE, Runtime, current_runtime, use_runtime

RaceKind = Literal["threads", "instances", "manual"]
# Two racers wait this long (real seconds) for each other at the barrier.
BARRIER_SECONDS: Final = 30.0
# The racing operator: a person signed in with the operate app role, on a platform with App
# Service authentication on, so their manual upgrade records their name and role.
OPERATOR_NAME: Final = "operator@example.com"
OPERATOR_HEADERS: Final = platform_headers(
    OPERATOR_NAME, "0d8f5a8e-3c1b-4f7a-b2e9-7a6c5d4e3f21", (APP_ROLES["operate"],)
)

# The operator's request body for a cluster (a node image upgrade of a pool behind), or None.
ManualBody = Callable[[str], dict[str, Any] | None]


@dataclass(frozen=True)
class RacePlan:
    """How often reconciles collide, and how invocations spread over instances.

    Rates are shares of reconcile deliveries, rolled in this order, one
    collision at most per delivery; ``max_races`` caps each kind (every
    racer requeues its own follow-up, so collisions multiply messages).
    """

    seed: int = 0
    threads_rate: float = 0.0
    instances_rate: float = 0.0
    manual_rate: float = 0.0
    max_races: int = 6

    def __post_init__(self) -> None:
        for name in ("threads_rate", "instances_rate", "manual_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InvalidInputError(f"{name} must be between 0 and 1, got {value}")
        if self.max_races < 0:
            raise InvalidInputError(f"max_races must not be negative, got {self.max_races}")


@dataclass
class Workers:
    """Stands in for the reconcile function; see the module docstring."""

    host: LocalHost
    instances: Sequence[Runtime]
    plan: RacePlan
    manual_body: ManualBody
    races: Counter[str] = field(default_factory=Counter)
    # (race kind, holder of the instance) of each racing reconcile, as it began.
    racers: list[tuple[str, str]] = field(default_factory=list)
    manual_answers: list[tuple[int, str]] = field(default_factory=list)
    _inner: Callable[..., None] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.instances:
            raise ValueError("Workers needs at least one instance")
        self._dice = random.Random(f"{self.plan.seed}/races")  # noqa: S311  # test dice
        self._lock = threading.Lock()

    def install(self) -> Workers:
        """Take the reconcile queue function's place in the host; place every invocation."""
        name, registered = next(
            (name, f)
            for name, f in self.host.functions.items()
            if f.trigger.get("queueName") == RECONCILE_QUEUE
        )
        self._inner = registered.call
        self.host.functions = {
            **self.host.functions,
            name: dataclasses.replace(registered, call=self),
        }
        self.host.placement = self.place
        return self

    def place(self, function: Registered) -> Runtime:
        """Timers run on the first instance (Azure holds a singleton lock); the rest anywhere."""
        if function.trigger_type == "timerTrigger" or len(self.instances) == 1:
            return self.instances[0]
        with self._lock:
            return self._dice.choice(list(self.instances))

    def __call__(self, message: func.QueueMessage, context: func.Context | None = None) -> None:
        # The host placed this invocation already: the instance it chose is installed.
        runtime = current_runtime()
        # A sweep shard shares the queue but names no cluster to race on.
        kind = None if decode_sweep(message.get_body()) is not None else self._roll()
        if kind is None:
            self._reconcile(runtime, message, context)
            return
        with self._lock:
            self.races[kind] += 1
        if kind == "threads":
            first = second = runtime
        elif kind == "instances":
            first, second = self.instances[0], self.instances[1]
        else:
            cluster = str(decode(message.get_body()).cluster)
            _together(
                lambda: self._reconcile(runtime, message, context, kind),
                lambda: self._operator(cluster),
            )
            return
        _together(
            lambda: self._reconcile(first, message, context, kind),
            lambda: self._reconcile(second, message, context, kind),
        )

    def _roll(self) -> RaceKind | None:
        plan = self.plan
        wanted: tuple[tuple[RaceKind, float], ...] = (
            ("threads", plan.threads_rate),
            ("instances", plan.instances_rate if len(self.instances) > 1 else 0.0),
            ("manual", plan.manual_rate),
        )
        with self._lock:
            for kind, rate in wanted:
                # One draw per kind, always: the sequence does not depend on the caps.
                hit = self._dice.random() < rate
                if hit and self.races[kind] < plan.max_races:
                    return kind
        return None

    def _reconcile(
        self,
        runtime: Runtime,
        message: func.QueueMessage,
        context: func.Context | None,
        kind: RaceKind | None = None,
    ) -> None:
        """One reconcile through the app's own function, with the host's context if it sent one."""
        assert self._inner is not None  # install() ran
        if kind is not None:
            with self._lock:
                self.racers.append((kind, runtime.services.holder))
        with use_runtime(runtime):
            if context is None:
                self._inner(message)
            else:
                self._inner(message, context=context)

    def _operator(self, cluster: str) -> None:
        """An operator's POST /api/upgrades for the same cluster, through the HTTP function."""
        body = self.manual_body(cluster)
        if body is None:
            return
        with use_platform(Platform(auth_enabled=True)):
            response = self.host.http(
                "POST", "/api/upgrades", body=json.dumps(body).encode(), headers=OPERATOR_HEADERS
            )
        answer = json.loads(response.get_body() or b"{}")
        outcome = answer.get("outcome") or answer.get("error", {}).get("code", "")
        with self._lock:
            self.manual_answers.append((response.status_code, str(outcome)))


def _together(*calls: Callable[[], None]) -> None:
    """Run the calls on threads released at once; re-raise the first failure after all end."""
    barrier = threading.Barrier(len(calls))
    failures: list[BaseException] = []

    def run(call: Callable[[], None]) -> None:
        try:
            barrier.wait(timeout=BARRIER_SECONDS)
            call()
        except BaseException as exc:  # handed to the host as the invocation's failure
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(c,), name="racing-worker") for c in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]

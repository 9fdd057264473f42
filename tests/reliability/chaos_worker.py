"""A reconcile worker for the chaos test: one queued message, SIGKILLed at a seeded point.

`python -m tests.reliability.chaos_worker` reads a :class:`WorkerSpec` (JSON)
on stdin: the simulator's URL and CA, the `running_app` work folder (its
SQLite store and queue files), the virtual clock's `now`, the message's body
and `kill_at`. It handles the message as the queue trigger does
(`handle_reconcile_message`), with the store, the gateway, the queue and the
publisher wrapped so that just before the `kill_at`-th call that can change
something the process SIGKILLs itself: no `finally`, no lease released.

Only calls that may change something are counted: dying just before a read
leaves exactly the traces of dying just after the write before it, so
counting reads would only thin out the interesting points (before the
lease, after the claim, between ARM accepting and the ledger's
`mark_started`, before the announcement, before the follow-up is queued...).
A reconcile that changes less than that dies at its end instead, before the
host could delete the message, as a worker killed after its work does.

What the test must learn from a dead worker is appended to a journal file,
one JSON object a line, unbuffered so that the kill loses none of it: where
it died, which upgrades ARM accepted, and the notices it published (the
test hands them on to the host's recording publisher).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar, cast

from patchpilot.adapters.arm.actions import Started
from patchpilot.adapters.arm.retry import RetryPolicy
from patchpilot.adapters.publisher import Notice
from patchpilot.domain.messages import decode
from patchpilot.domain.policy import Policy
from patchpilot.service.deps import Services, Tuning
from patchpilot.service.messages import handle_reconcile_message
from tests.reliability.crash_worker import services

ROOT = Path(__file__).resolve().parents[2]
MODULE = "tests.reliability.chaos_worker"
# Where a worker that changed less than `kill_at` things dies: after its reconcile.
AT_THE_END = "end (message not deleted)"
# Methods that only read; every other method of a wrapped collaborator is a kill point.
READS = frozenset({"admit", "operation_status", "explain_failure"})
READ_PREFIXES = ("get", "list_", "count", "observe")

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker process needs, as JSON: no state but the shared files."""

    sim_url: str
    ca: str
    workdir: str
    policy: str  # "module:function" returning the Policy, importable in the worker
    tuning: dict[str, float]  # Tuning's fields, in seconds
    now: str
    body: str
    kill_at: int
    journal: str

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WorkerSpec:
        return cls(**json.loads(text))


def tuning_seconds(tuning: Tuning) -> dict[str, float]:
    """The host's Tuning as JSON, so a worker's leases and claims last exactly as long."""
    return {f.name: getattr(tuning, f.name).total_seconds() for f in dataclasses.fields(tuning)}


def policy_reference(factory: Callable[[], Policy]) -> str:
    """How a worker finds the policy: the factory's import path, not a copy of its rules."""
    return f"{factory.__module__}:{factory.__qualname__}"


# The worker ------------------------------------------------------------------------------


class Journal:
    """Append-only JSON lines through os.write: nothing sits in a buffer when SIGKILL lands."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def write(self, **entry: Any) -> None:
        os.write(self._fd, (json.dumps(entry, default=str) + "\n").encode())


class Tripwire:
    """Counts calls that may change something and kills this process before the k-th."""

    def __init__(self, kill_at: int, journal: Journal) -> None:
        self.kill_at = kill_at
        self.journal = journal
        self.changes = 0

    def wrap(self, role: str, inner: T) -> T:
        """`inner` with every changing method guarded (reads pass straight through)."""
        return cast(T, _Guarded(self, role, inner))

    def before(self, point: str) -> None:
        self.changes += 1
        if self.changes == self.kill_at:
            self.die(point)

    def die(self, point: str) -> NoReturn:
        self.journal.write(killed=point)
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable: the process is gone")


class _Guarded:
    """A collaborator seen through the tripwire; its role names the kill points."""

    def __init__(self, wire: Tripwire, role: str, inner: object) -> None:
        self._wire = wire
        self._role = role
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr) or not changes_something(name):
            return attr
        point = f"{self._role}.{name}"

        def guarded(*args: Any, **kwargs: Any) -> Any:
            self._wire.before(point)
            result = attr(*args, **kwargs)
            if isinstance(result, Started):
                self._wire.journal.write(accepted=point)
            return result

        return guarded


def changes_something(method: str) -> bool:
    """Whether a call may leave a trace a later worker sees (anything not known to read)."""
    return method not in READS and not method.startswith(READ_PREFIXES)


@dataclasses.dataclass
class JournalPublisher:
    """Publishes into the journal: the worker's notices outlive it."""

    journal: Journal

    def publish(self, notice: Notice) -> bool:
        self.journal.write(notice=_notice_json(notice))
        return True


def armed_services(spec: WorkerSpec, journal: Journal) -> Services:
    """A Function App's services on the host's files, every collaborator behind the tripwire."""
    module, _, name = spec.policy.partition(":")
    policy = getattr(importlib.import_module(module), name)()
    tuning = Tuning(**{k: dt.timedelta(seconds=v) for k, v in spec.tuning.items()})
    cluster = str(decode(spec.body).cluster)
    # As in running_app: retries wait on the virtual clock's terms, not really.
    retry = RetryPolicy(sleep=lambda seconds: None)
    built = services(
        spec.sim_url, spec.ca, Path(spec.workdir), policy, cluster, tuning=tuning, retry=retry
    )
    wire = Tripwire(spec.kill_at, journal)
    return dataclasses.replace(
        built,
        store=wire.wrap("store", built.store),
        gateway=wire.wrap("gateway", built.gateway),
        queue=wire.wrap("queue", built.queue),
        publisher=wire.wrap("publisher", JournalPublisher(journal)),
    )


def main() -> None:
    spec = WorkerSpec.from_json(sys.stdin.read())
    journal = Journal(Path(spec.journal))
    armed = armed_services(spec, journal)
    handle_reconcile_message(armed, spec.body, dt.datetime.fromisoformat(spec.now))
    Tripwire(0, journal).die(AT_THE_END)


# The test's side -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class WorkerReport:
    """What a dead worker left in its journal."""

    killed_at: str
    accepted: int
    notices: tuple[Notice, ...]


class WorkerError(RuntimeError):
    """The worker ended some other way than by its own SIGKILL: a broken test, not chaos."""


def run_killed_worker(spec: WorkerSpec, *, timeout: float = 120) -> WorkerReport:
    """Run one worker process to its death; what it did, from its journal."""
    child = subprocess.run(
        [sys.executable, "-m", MODULE],
        cwd=ROOT,
        input=spec.to_json(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if child.returncode != -signal.SIGKILL:
        raise WorkerError(f"worker exited with {child.returncode}: {child.stderr[-2000:]}")
    return read_journal(Path(spec.journal))


def read_journal(path: Path) -> WorkerReport:
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    killed = [e["killed"] for e in entries if "killed" in e]
    if len(killed) != 1:
        raise WorkerError(f"{path}: expected one kill point, found {killed}")
    return WorkerReport(
        killed_at=killed[0],
        accepted=sum("accepted" in e for e in entries),
        notices=tuple(_notice_from(e["notice"]) for e in entries if "notice" in e),
    )


def _notice_json(notice: Notice) -> dict[str, Any]:
    return {
        "type": notice.type,
        "subject": notice.subject,
        "data": dict(notice.data),
        "time": notice.time.isoformat(),
        "id": notice.id,
    }


def _notice_from(data: dict[str, Any]) -> Notice:
    return Notice(
        data["type"],
        data["subject"],
        data["data"],
        dt.datetime.fromisoformat(data["time"]),
        data["id"],
    )


if __name__ == "__main__":
    main()

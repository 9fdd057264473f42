"""A reconcile worker run as its own process, killed with SIGKILL at a chosen point.

`python -m tests.reliability.crash_worker` reads where the simulator and the
store are from the environment, runs one real reconcile, and kills itself
right after ARM accepted the upgrade but before the ledger heard of it.
:func:`services` also builds the chaos test's workers (`chaos_worker`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from patchpilot.adapters.arm.gateway import ArmGateway
from patchpilot.adapters.arm.retry import RetryPolicy
from patchpilot.adapters.discovery import StaticDiscovery
from patchpilot.adapters.publisher import RecordingPublisher
from patchpilot.adapters.queues.sqlite import SqliteQueue
from patchpilot.adapters.store import Operation, OperationKey, Store, open_sqlite_store
from patchpilot.domain.messages import ReconcileRequest
from patchpilot.domain.policy import Policy, parse_policy
from patchpilot.domain.resource_ids import parse_cluster_id
from patchpilot.service.deps import Services, Tuning
from patchpilot.service.reconcile.run import reconcile
from patchpilot.settings import Settings
from patchpilot.telemetry import Telemetry

TUNING = Tuning(lease=dt.timedelta(seconds=5), claim_ttl=dt.timedelta(seconds=5))


def services(
    sim_url: str,
    ca: str,
    workdir: Path,
    policy: Mapping[str, Any] | Policy,
    cluster: str,
    *,
    tuning: Tuning = TUNING,
    retry: RetryPolicy | None = None,
) -> Services:
    """The same services a Function App builds, pointed at the simulator and SQLite.

    The store and queue files are the ones `running_app` keeps in `workdir`, so
    a worker process shares them with the local host; the holder names this
    process, so a dead worker's lease is not mistaken for a live one's.
    """
    settings = Settings.from_env(
        {
            "PATCHPILOT_ARM_ENDPOINT": sim_url,
            "PATCHPILOT_ARM_CA_BUNDLE": ca,
            "PATCHPILOT_CREDENTIAL": "static",
        }
    )
    rules = policy if isinstance(policy, Policy) else parse_policy(policy)
    return Services(
        policy=rules,
        store=open_sqlite_store(workdir / "state.db"),
        queue=SqliteQueue(workdir / "queues.db", "reconcile"),
        gateway=ArmGateway.from_settings(settings, rules.scopes, retry=retry),
        discovery=StaticDiscovery((parse_cluster_id(cluster),)),
        telemetry=Telemetry.default(),
        publisher=RecordingPublisher(),
        tuning=tuning,
        holder=f"worker-{os.getpid()}",
    )


def _die(key: OperationKey, operation_id: str | None, now: dt.datetime, etag: str) -> Operation:
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable: the process is gone")


def main() -> None:
    spec = json.loads(os.environ["CRASH_WORKER"])
    built = services(
        spec["url"], spec["ca"], Path(spec["workdir"]), spec["policy"], spec["cluster"]
    )
    store: Store = built.store
    # The crash point: ARM has accepted the upgrade; the ledger is never told.
    store.mark_started = _die  # type: ignore[method-assign]
    now = dt.datetime.fromisoformat(spec["now"])
    reconcile(built, ReconcileRequest(parse_cluster_id(spec["cluster"]), "crash test", now), now)
    sys.exit(3)  # not reached when the upgrade was started


if __name__ == "__main__":
    main()

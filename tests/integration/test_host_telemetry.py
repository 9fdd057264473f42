"""Log records that would reach Application Insights from inside the Function App.

In Azure the Python worker sets the root logger to INFO and hands every
record to the host, and with OpenTelemetry on, the Azure Monitor distro
exports the root logger's records (azure_functions_worker/dispatcher.py).
A handler on the root logger at INFO stands for both here; a sweep and two
reconciles run through the registered functions, and only the app's own
records may reach it: the Azure SDK logs every request at INFO (measured
before the fix: 38 of 41 records in this run came from `azure.*`).
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from patchpilot.localhost.harness import running_app
from tests.integration.test_app_flow import FLEET, POLICY, START
from tests.integration.test_host_worker import _enqueue_reconcile

ROOT = Path(__file__).resolve().parents[2]


class Exporter(logging.Handler):
    """Keeps every record it is handed, as the worker's handler and the distro's would."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def exporter() -> Iterator[Exporter]:
    root = logging.getLogger()
    level = root.level
    handler = Exporter()
    root.addHandler(handler)
    root.setLevel(logging.INFO)  # what the worker sets ("Switched to gRPC logging")
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


def test_a_sweep_and_two_reconciles_export_only_the_apps_records(
    tmp_path: Path, exporter: Exporter
) -> None:
    with running_app(FLEET, POLICY, START, tmp_path, threads=1) as app:
        app.host.fire_timer("sweep")
        for cluster in [str(c.id) for c in app.sim.aks.clusters()][:2]:
            _enqueue_reconcile(app, cluster)
        app.host.drain()
        arm_calls = sum(app.sim.requests().values())

    sdk = [
        r for r in exporter.records if r.name.startswith("azure") and r.levelno < logging.WARNING
    ]
    ours = [r for r in exporter.records if r.name.startswith(("functions", "patchpilot"))]
    assert sdk == [], sorted({r.name for r in sdk})
    assert {r.name for r in ours} >= {"functions.timers", "functions.reconcile_queue"}
    # The SDK did make requests (each one an INFO record before the fix).
    assert arm_calls > 0


def test_importing_the_function_app_holds_the_sdk_loggers_at_warning() -> None:
    # A fresh interpreter, as the worker's: nothing else has set a level yet.
    code = (
        "import logging, function_app; logging.getLogger().setLevel(logging.INFO); "
        "print(*(logging.getLogger(n).getEffectiveLevel() for n in "
        "('azure', 'azure.core.pipeline.policies.http_logging_policy', 'azure.identity', "
        "'functions.timers', 'patchpilot.service')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )

    sdk, http_policy, identity, functions, ours = map(int, result.stdout.split())
    assert (sdk, http_policy, identity) == (logging.WARNING,) * 3
    # The app's own loggers follow the root logger the worker sets to INFO.
    assert (functions, ours) == (logging.INFO, logging.INFO)

"""Cold start: importing `function_app` against importing all it will eventually need.

Azure Functions pays the import cost of `function_app.py` on every cold
start. Patch Pilot defers its Azure SDKs, retries and telemetry exporters to
the code paths that use them, so the import stays small. This script times
fresh interpreters (median of N runs each) importing (a) `function_app` alone
and (b) `function_app` plus every dependency loaded eagerly, and prints the
ratio a/b (goal: at most 0.35).

Run: `.venv/bin/python bench/cold_start.py [--runs 10]`
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EAGER = [
    "function_app",
    "azure.identity",
    "azure.mgmt.containerservice",
    "azure.mgmt.resourcegraph",
    "azure.data.tables",
    "azure.storage.queue",
    "azure.eventgrid",
    "tenacity",
    "opentelemetry.sdk.trace",
    "opentelemetry.sdk.metrics",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "azure.monitor.opentelemetry",
    "patchpilot.service.reconcile.run",
    "patchpilot.service.sweep",
    "patchpilot.service.events",
]


def time_import(modules: list[str]) -> float:
    """Seconds for a fresh interpreter to import the modules and exit."""
    code = "; ".join(f"import {name}" for name in modules)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
    return time.perf_counter() - start


def median_of(modules: list[str], runs: int) -> float:
    time_import(modules)  # warm the file system cache once
    return statistics.median(time_import(modules) for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    lazy = median_of(["function_app"], args.runs)
    eager = median_of(EAGER, args.runs)
    print(f"import function_app (deferred SDKs): {lazy * 1000:7.0f} ms (median of {args.runs})")
    print(f"import everything eagerly:           {eager * 1000:7.0f} ms (median of {args.runs})")
    print(f"ratio deferred/eager = {lazy / eager:.2f} (goal <= 0.35)")


if __name__ == "__main__":
    main()

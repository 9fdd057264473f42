"""What importing the Function App costs: no simulator, no heavy SDKs at import time.

Cold start matters in Azure Functions, and the app must never depend on the
local simulator. A fresh interpreter imports `function_app` and reports which
modules came with it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Loaded only inside the code paths that need them.
HEAVY = (
    "azure.mgmt",
    "azure.identity",
    "azure.data",
    "azure.storage",
    "opentelemetry",  # even its API: the start-up log quieting must not bring it
    "tenacity",
)


def _modules_after_import() -> list[str]:
    code = "import json, sys; import function_app; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    modules: list[str] = json.loads(result.stdout)
    return modules


def test_function_app_never_imports_the_simulator() -> None:
    assert not [m for m in _modules_after_import() if m.startswith("patchpilot.sim")]


def test_function_app_defers_heavy_sdks_until_they_are_needed() -> None:
    loaded = _modules_after_import()
    assert not [m for m in loaded if m.startswith(HEAVY)]

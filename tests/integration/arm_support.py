"""Shared pieces of the ARM adapter tests: settings, a gateway and a fleet for the simulator.

The adapter is built exactly as in production, from ``Settings.from_env``,
except that the credential is the static one the simulator accepts and the
retry policy waits milliseconds instead of seconds.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from patchpilot.adapters.arm.gateway import ArmGateway
from patchpilot.adapters.arm.retry import RetryPolicy
from patchpilot.settings import Settings
from patchpilot.sim.server import SimulatorHandle
from tests.integration.conftest import LAB_SUB, SUB, fleet_doc

SCOPE = f"/subscriptions/{SUB}"
EVERY_SCOPE = (SCOPE, f"/subscriptions/{LAB_SUB}")
SKUS = {"Linux": "Ubuntu", "Windows": "Windows2022"}


def settings_for(sim: SimulatorHandle, **env: str) -> Settings:
    """Settings pointing at the simulator, as a Function App would be configured."""
    environ = {
        "PATCHPILOT_ARM_ENDPOINT": sim.url,
        "PATCHPILOT_ARM_CA_BUNDLE": str(sim.ca_path),
        "PATCHPILOT_CREDENTIAL": "static",
        **env,
    }
    return Settings.from_env(environ)


def fast_retry(sleep: Callable[[float], None] | None = None, **knobs: Any) -> RetryPolicy:
    """A retry policy with millisecond backoff (and, optionally, a recorded sleep)."""
    options: dict[str, Any] = {
        "initial_backoff_seconds": 0.001,
        "max_backoff_seconds": 0.005,
        "jitter_seconds": 0.001,
        **knobs,
    }
    if sleep is not None:
        options["sleep"] = sleep
    return RetryPolicy(**options)


def gateway_for(
    sim: SimulatorHandle,
    scopes: tuple[str, ...] = (SCOPE,),
    retry: RetryPolicy | None = None,
) -> ArmGateway:
    """A gateway on the simulator, for the given scopes."""
    return ArmGateway.from_settings(settings_for(sim), scopes, retry=retry or fast_retry())


def fleet_with_skus() -> dict[str, Any]:
    """The shared test fleet with each pool's OS SKU spelt out, as ARM always reports it."""
    document = copy.deepcopy(fleet_doc())
    for cluster in document["clusters"]:
        for pool in cluster["pools"]:
            pool.setdefault("os_sku", SKUS[pool["os"]])
    return document


def served(sim: SimulatorHandle, operation: str, status: int | None = None) -> int:
    """How many requests of one operation the simulator answered (with one status, or any)."""
    return sum(
        count
        for (name, code), count in sim.requests().items()
        if name == operation and (status is None or code == status)
    )


def total_requests(sim: SimulatorHandle) -> int:
    """Every request the simulator has counted."""
    return sum(sim.requests().values())

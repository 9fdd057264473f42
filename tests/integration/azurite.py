"""Azurite, the Azure Storage emulator, started and stopped by the tests themselves.

`npm ci` (the README's test command) installs it under `node_modules/`; an
`azurite-table` on PATH works too. Each service runs in memory on a free
127.0.0.1 port, with API version checks off so the Python SDK's newest API
version is accepted. When Azurite is missing, tests that need it are skipped
with the reason, except in CI (the `CI` variable is set), where a missing
emulator is a failure: CI must run every backend.

The account name and key below are Azurite's well-known development
credentials, published by Microsoft; they open nothing but the emulator.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
START_DEADLINE_SECONDS = 30.0
_ATTEMPTS = 3


@dataclass(frozen=True)
class Azurite:
    """Endpoints of a running Azurite, keyed by service (`table`, `queue`, `blob`)."""

    endpoints: dict[str, str]

    @property
    def connection_string(self) -> str:
        """A connection string naming every started service."""
        parts = [
            "DefaultEndpointsProtocol=http",
            f"AccountName={ACCOUNT}",
            f"AccountKey={ACCOUNT_KEY}",
        ]
        parts += [
            f"{service.capitalize()}Endpoint={url}" for service, url in self.endpoints.items()
        ]
        return ";".join(parts) + ";"


def find_binary(service: str) -> str | None:
    """`azurite-<service>` from the repo's node_modules, else from PATH."""
    local = ROOT / "node_modules" / ".bin" / f"azurite-{service}"
    if local.exists():
        return str(local)
    return shutil.which(f"azurite-{service}")


def require_binary(service: str) -> str:
    """The binary, or a skip with the reason (a failure when CI is set)."""
    binary = find_binary(service)
    if binary is not None:
        return binary
    reason = (
        f"azurite-{service} is not installed: run `npm ci` in {ROOT} "
        "(Node 20) to test the Table Storage backend"
    )
    if os.environ.get("CI"):
        pytest.fail(f"CI is set, so every backend must run: {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


def _wait_until_listening(process: subprocess.Popen[bytes], port: int) -> bool:
    """Poll the port until it answers; False when the process died (e.g. the port was taken)."""
    deadline = time.monotonic() + START_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if _answers(port):
            return True
        time.sleep(0.05)
    raise TimeoutError(f"Azurite did not listen on port {port} within {START_DEADLINE_SECONDS}s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def _service(binary: str, service: str) -> Iterator[str]:
    """One Azurite service on a free port, in memory; yields its endpoint URL."""
    for _ in range(_ATTEMPTS):
        port = _free_port()
        command = [
            binary,
            f"--{service}Host",
            "127.0.0.1",
            f"--{service}Port",
            str(port),
            "--inMemoryPersistence",
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
            "--silent",
        ]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            if _wait_until_listening(process, port):
                yield f"http://127.0.0.1:{port}/{ACCOUNT}"
                return
        finally:
            _stop(process)
    raise RuntimeError(f"azurite-{service} failed to start {_ATTEMPTS} times")


@contextmanager
def running(services: tuple[str, ...] = ("table",)) -> Iterator[Azurite]:
    """Azurite with the given services until the block ends; skips when it is missing."""
    binaries = {service: require_binary(service) for service in services}
    with ExitStack() as stack:
        endpoints = {
            service: stack.enter_context(_service(binary, service))
            for service, binary in binaries.items()
        }
        yield Azurite(endpoints)

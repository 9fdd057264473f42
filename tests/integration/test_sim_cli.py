"""``patchpilot sim`` from the command line, and the clocks it runs on."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from patchpilot.errors import InvalidInputError
from patchpilot.sim.cli import add_parser
from patchpilot.sim.clock import ShiftedClock, VirtualClock
from tests.integration.conftest import ROOT, START, SUB, fleet_doc

LAUNCHER = (
    "import argparse, sys\n"
    "from patchpilot.sim.cli import add_parser\n"
    "parser = argparse.ArgumentParser(prog='patchpilot')\n"
    "add_parser(parser.add_subparsers())\n"
    "args = parser.parse_args(sys.argv[1:])\n"
    "print(args.render(args.run(args)), flush=True)\n"
)


def parser() -> argparse.ArgumentParser:
    built = argparse.ArgumentParser(prog="patchpilot")
    add_parser(built.add_subparsers())
    return built


def read_until(process: subprocess.Popen[bytes], marker: str, seconds: float = 15) -> list[str]:
    """Lines of the process's stdout up to the one containing ``marker``, within a deadline."""
    assert process.stdout is not None
    descriptor = process.stdout.fileno()
    text = ""
    deadline = time.monotonic() + seconds
    while marker not in text and time.monotonic() < deadline:
        ready, _, _ = select.select([descriptor], [], [], 0.1)
        if ready:
            chunk = os.read(descriptor, 4096)
            if not chunk:
                break
            text += chunk.decode()
    if marker not in text:
        raise AssertionError(f"no {marker!r} in time; got {text!r}")
    return text.splitlines()


def test_sim_serves_prints_how_to_connect_and_stops_on_sigterm(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(yaml.safe_dump(fleet_doc()))
    command = [
        sys.executable,
        "-c",
        LAUNCHER,
        "sim",
        "--fleet",
        str(fleet),
        "--start-at",
        "2025-11-20T01:00Z",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    ) as process:
        try:
            lines = read_until(process, "Press Ctrl-C")
            url = next(
                line.split()[-1] for line in lines if line.startswith("AKS simulator listening on")
            )
            ca_path = next(
                line.split(": ", 1)[1] for line in lines if line.startswith("CA certificate:")
            )
            path = (
                f"/subscriptions/{SUB}/providers/Microsoft.ContainerService/managedClusters"
                "?api-version=2026-08-01"
            )
            response = requests.get(
                url + path, headers={"Authorization": "Bearer x"}, verify=ca_path, timeout=10
            )
            process.send_signal(signal.SIGTERM)
            rest, _ = process.communicate(timeout=15)
        finally:
            # SIGTERM first, so even a failing test lets the simulator delete its files.
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()

    assert url.startswith("https://127.0.0.1:")
    assert any("connection_verify=" in line for line in lines)
    assert [c["name"] for c in response.json()["value"]] == ["dev-1", "prod-1", "prod-2"]
    assert process.returncode == 0
    assert "stopped after 1 requests" in rest.decode()
    assert not Path(ca_path).exists()


def test_sim_refuses_a_bad_fault_spec_before_listening(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(yaml.safe_dump(fleet_doc()))
    args = parser().parse_args(["sim", "--fleet", str(fleet), "--faults", "429=lots"])

    with pytest.raises(InvalidInputError) as caught:
        args.run(args)

    assert "'lots' is not a number" in str(caught.value)


def test_sim_options_are_checked_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["sim", "--fleet", "f.yaml", "--port", "70000"])

    assert "--port must be between 0 and 65535" in capsys.readouterr().err


def test_a_virtual_clock_moves_only_forward() -> None:
    clock = VirtualClock(START)
    clock.advance(dt.timedelta(minutes=5))
    clock.set(START + dt.timedelta(hours=1))

    with pytest.raises(InvalidInputError):
        clock.set(START)
    with pytest.raises(InvalidInputError):
        clock.advance(dt.timedelta(seconds=-1))
    with pytest.raises(InvalidInputError):
        VirtualClock(dt.datetime(2025, 11, 20))  # naive on purpose
    assert clock.now() == START + dt.timedelta(hours=1)


def test_a_shifted_clock_runs_from_its_start_at_its_speed() -> None:
    clock = ShiftedClock(START, speed=3600)

    first = clock.now()
    deadline = time.monotonic() + 5
    while clock.now() - first < dt.timedelta(minutes=1) and time.monotonic() < deadline:
        pass

    assert START <= first < START + dt.timedelta(minutes=1)
    assert clock.now() - first >= dt.timedelta(minutes=1)

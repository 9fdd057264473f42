"""``patchpilot sim``: run the AKS simulator from the command line until Ctrl-C or SIGTERM.

``patchpilot.cli`` imports :func:`add_parser` lazily, so the simulator's
dependencies (cryptography, http.server) load only for this subcommand. The
command prints the URL, the CA certificate's path and how to point the Azure
SDK at them, then serves until interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from patchpilot.console import port_number, positive_number, wait_for_signal
from patchpilot.errors import InvalidInputError

SCHEMAS = ("EventGridSchema", "CloudEventSchemaV1_0")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``sim`` subcommand to the ``patchpilot`` parser."""
    sim = subparsers.add_parser(
        "sim",
        help="serve a simulated AKS ARM API over HTTPS for a fleet file",
        description="Serve the AKS and Resource Graph ARM API for a fleet file on 127.0.0.1 "
        "over HTTPS, with a generated certificate, until Ctrl-C or SIGTERM.",
    )
    sim.add_argument("--fleet", type=Path, required=True, help="fleet YAML file")
    sim.add_argument(
        "--port", type=port_number, default=0, help="port on 127.0.0.1 (default: any free port)"
    )
    sim.add_argument(
        "--faults",
        default="",
        help="injected faults, e.g. "
        '"429=0.2,500=0.05,drop=0.05,slow=0.1:2.5,pdb=prod-1/win22,seed=7"',
    )
    sim.add_argument(
        "--event-sink", default=None, help="URL that receives events as a JSON array per POST"
    )
    sim.add_argument(
        "--event-schema", choices=SCHEMAS, default="EventGridSchema", help="event envelope schema"
    )
    sim.add_argument(
        "--seconds-per-node",
        type=positive_number,
        default=None,
        help="clock seconds per upgrade step (default 0.4)",
    )
    sim.add_argument(
        "--start-at",
        default=None,
        help="replay from this instant (ISO 8601); time then runs from there",
    )
    sim.add_argument(
        "--speed",
        type=positive_number,
        default=1.0,
        help="with --start-at: simulated seconds per real second",
    )
    sim.set_defaults(run=run, render=render, json=False)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start the simulator, announce it, serve until a signal, stop; returns a summary."""
    from patchpilot.domain.instants import parse_instant  # keep `patchpilot --help` light
    from patchpilot.sim.clock import Clock, RealClock, ShiftedClock
    from patchpilot.sim.faults import FaultPlan
    from patchpilot.sim.pace import Pace
    from patchpilot.sim.server import start_simulator

    faults = FaultPlan.parse(args.faults)
    clock: Clock = RealClock()
    if args.start_at:
        clock = ShiftedClock(parse_instant(args.start_at, path="--start-at"), speed=args.speed)
    pace = Pace(seconds_per_node=args.seconds_per_node) if args.seconds_per_node else None
    try:
        handle = start_simulator(
            args.fleet, clock=clock, faults=faults, port=args.port, event_sink=args.event_sink,
            event_schema=args.event_schema, pace=pace,
        )  # fmt: skip
    except OSError as exc:
        raise InvalidInputError(
            f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}"
        ) from exc
    try:
        sys.stdout.write(banner(handle.url, str(handle.ca_path)))
        sys.stdout.flush()
        wait_for_signal()
    finally:
        handle.stop()
    return {"url": handle.url, "requests": sum(handle.requests().values())}


def render(summary: dict[str, Any]) -> str:
    """The line printed once the simulator has stopped."""
    return f"AKS simulator at {summary['url']} stopped after {summary['requests']} requests."


def banner(url: str, ca_path: str) -> str:
    """What a user needs to point a client at the simulator."""
    return (
        f"AKS simulator listening on {url}\n"
        f"CA certificate: {ca_path}\n"
        "Point the Azure SDK at it:\n"
        f'  ContainerServiceClient(credential, subscription_id, base_url="{url}",\n'
        f'                         connection_verify="{ca_path}")\n'
        f'  ResourceGraphClient(credential, base_url="{url}", connection_verify="{ca_path}")\n'
        "  (any bearer token is accepted; or export REQUESTS_CA_BUNDLE=" + ca_path + ")\n"
        "Press Ctrl-C to stop.\n"
    )

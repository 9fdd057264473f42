"""`patchpilot serve`: the operator's HTTP API on 127.0.0.1, run by the Function App's own code.

No second implementation: every request goes through the local Functions
host (:class:`~patchpilot.localhost.host.LocalHost`) into the HTTP triggers that
`function_app.py` registers, exactly as Azure would route it. Around them
this package adds what the Functions host adds in Azure (`front_door`, `app`):

- who may call (`--auth`, :mod:`.credentials`): with ``entra`` (the
  default) App Service authentication is modelled on, with one bearer
  token per role (read, stop, operate, force) printed at start and written
  to `<state>/tokens/`; with ``keys`` it is off, and a host key opens every
  route while identity headers are ignored. Either way the alert webhook
  has its own function key that opens nothing else;
- a body limit at the socket (413 before reading), and JSON errors for
  requests that never reach a function;
- the timers and the queue: a pump thread moves the host's clock with real
  time (or from `--start-at`, `--speed` times faster), so sweeps fire,
  scheduled manual upgrades start in their windows and running ones settle.

ARM is the simulator, started in-process on the fleet file, or the endpoint
given by `--arm-endpoint` (a separately started `patchpilot sim`, or Azure).
State is SQLite in `--state` (a temporary folder by default). `patchpilot.cli`
adds the subcommand with :func:`add_parser`; tests use :func:`serving`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from patchpilot.console import port_number, positive_number, wait_for_signal
from patchpilot.errors import InvalidInputError
from patchpilot.serve.app import LocalApi, serving
from patchpilot.serve.credentials import write_tokens
from patchpilot.serve.front_door import HOST, KEY_HEADER, KEY_PARAM

if TYPE_CHECKING:
    from patchpilot.sim.clock import Clock

__all__ = ["LocalApi", "add_parser", "banner", "render", "run", "serving"]

DEFAULT_PORT: Final = 7071  # the Functions Core Tools' port


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``serve`` subcommand to the ``patchpilot`` parser."""
    serve = subparsers.add_parser(
        "serve",
        help="run the HTTP API locally (simulator, SQLite, the registered functions)",
        description="Serve the operator's HTTP API on 127.0.0.1 through the Function App's own "
        "HTTP triggers, with the AKS simulator on the fleet file (or --arm-endpoint) and SQLite "
        "state, until Ctrl-C or SIGTERM. Prints the URL, a token per role and the keys.",
    )
    serve.add_argument("--policy", type=Path, required=True, help="policy YAML file")
    serve.add_argument(
        "--fleet", type=Path, help="fleet YAML file (required unless --arm-endpoint is given)"
    )
    serve.add_argument(
        "--port",
        type=port_number,
        default=DEFAULT_PORT,
        help=f"port (default {DEFAULT_PORT}; 0: any)",
    )
    serve.add_argument(
        "--arm-endpoint",
        help="use this ARM endpoint instead of an in-process simulator "
        "(with --fleet, only the fleet's clusters are managed)",
    )
    serve.add_argument("--ca-bundle", type=Path, help="CA certificate for --arm-endpoint")
    serve.add_argument("--state", type=Path, help="folder for the SQLite state (default: temp)")
    serve.add_argument(
        "--auth",
        choices=("entra", "keys"),
        default="entra",
        help="entra (default): App Service authentication on, a bearer token per role; "
        "keys: authentication off, a host key opens every route and identity headers are ignored",
    )
    serve.add_argument("--start-at", help="run the clock from this instant (ISO 8601)")
    serve.add_argument(
        "--speed",
        type=positive_number,
        default=1.0,
        help="with --start-at: clock seconds per second",
    )
    serve.add_argument(
        "--log-level",
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        default="WARNING",
        help="log level of the JSON log lines on stderr (default WARNING)",
    )
    serve.set_defaults(run=run, render=render, json=False)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start the API, print how to call it, serve until a signal, stop; returns a summary."""
    from patchpilot.domain.instants import parse_instant
    from patchpilot.files import load_policy, read_document
    from patchpilot.settings import process_environment
    from patchpilot.sim.clock import RealClock, ShiftedClock
    from patchpilot.telemetry import configure_logging, configure_telemetry

    if args.fleet is None and args.arm_endpoint is None:
        raise InvalidInputError("give --fleet (simulated ARM) or --arm-endpoint", path="--fleet")
    configure_logging(args.log_level)
    configure_telemetry(process_environment())
    policy = load_policy(args.policy)
    fleet = read_document(args.fleet) if args.fleet is not None else None
    source: Clock = RealClock()
    if args.start_at:
        source = ShiftedClock(parse_instant(args.start_at, path="--start-at"), speed=args.speed)
    with ExitStack() as stack:
        state = args.state or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        try:
            api = stack.enter_context(
                serving(
                    policy,
                    fleet=fleet,
                    state=state,
                    port=args.port,
                    arm_endpoint=args.arm_endpoint,
                    ca_bundle=args.ca_bundle,
                    source=source,
                    auth=args.auth,
                )
            )
        except OSError as exc:
            raise InvalidInputError(
                f"cannot listen on {HOST}:{args.port}: {exc.strerror or exc}"
            ) from exc
        write_tokens(api.credentials, api.state / "tokens")
        sys.stdout.write(banner(api))
        sys.stdout.flush()
        wait_for_signal()
        summary = {"url": api.url, "requests": api.served}
    return summary


def render(summary: dict[str, Any]) -> str:
    """The line printed once the API has stopped."""
    return f"Patch Pilot API at {summary['url']} stopped after {summary['requests']} requests."


def banner(api: LocalApi) -> str:
    """What a user needs to call the API: the tokens or keys of this run."""
    credentials = api.credentials
    lines = [f"Patch Pilot API listening on {api.url}"]
    if credentials.mode == "entra":
        lines.append("App Service authentication: on (a bearer token per role)")
        lines += [f"  {role:<8} token: {token}" for role, token in credentials.tokens.items()]
        lines += [
            f"  also in {api.state / 'tokens'}/<role>.token, e.g.",
            f'  curl -H "Authorization: Bearer $(cat {api.state}/tokens/read.token)" '
            f"{api.url}/status",
            f"  patchpilot status --app {api.url.removesuffix('/api')} "
            f"--token-file {api.state}/tokens/read.token",
        ]
    else:
        lines += [
            "App Service authentication: off (identity headers are ignored)",
            f"Host key (every route): {credentials.host_key}",
            f"  send it as the {KEY_HEADER} header or the ?{KEY_PARAM}= query parameter, e.g.",
            f'  curl -H "{KEY_HEADER}: {credentials.host_key}" {api.url}/status',
        ]
    lines += [
        f"Alert webhook key (POST /api/alerts only): {credentials.alert_key}",
        f"OpenAPI: {api.url}/openapi.json",
        f"ARM: {api.arm_endpoint}",
        f"State: {api.state}",
        "Press Ctrl-C to stop.",
    ]
    return "\n".join(lines) + "\n"

"""The `patchpilot` command: plan, windows and patch-tuesday (DESIGN.md, "CLI").

`aks-maintenance` lists what AKS announced it will run on its own (AKS
Communication Manager), from a fleet file or from the app's store.

Each subcommand reads its files, calls the pure domain and prints either a
table for people or JSON for scripts. `status`, `pause`, `resume`, `upgrade`
and `plan --app URL` talk to a deployed app (or `patchpilot serve`) with an
Entra token instead (:mod:`patchpilot.operator_client`). Bad input of any
kind, and a refusal from the API, exits 2 with one line on stderr and no
traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from patchpilot.domain.aks_maintenance import describe
from patchpilot.domain.cadence import patch_tuesdays, windows_due_from
from patchpilot.domain.critical_path import with_paths
from patchpilot.domain.history import History
from patchpilot.domain.instants import parse_instant
from patchpilot.domain.plan import Plan, iso
from patchpilot.domain.planner import plan
from patchpilot.errors import InvalidInputError
from patchpilot.files import load_fleet, load_maintenance_configuration, load_policy
from patchpilot.render import aks_maintenance_table, plan_table, tuesday_table, window_table

EXIT_BAD_INPUT = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        command: Callable[[argparse.Namespace], Any] = args.run
        output = command(args)
    except InvalidInputError as exc:
        print(f"patchpilot: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.json:
        print(json.dumps(output if not isinstance(output, Plan) else output.to_json(), indent=2))
    else:
        print(args.render(output))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="patchpilot", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    plan_cmd = commands.add_parser("plan", help="what would happen at an instant, and why")
    plan_cmd.add_argument("--policy", type=Path, help="policy YAML file (with --fleet or --live)")
    source = plan_cmd.add_mutually_exclusive_group(required=True)
    source.add_argument("--fleet", type=Path, help="fleet YAML file (offline plan)")
    source.add_argument(
        "--live", action="store_true", help="observe the clusters under the scopes through ARM"
    )
    source.add_argument(
        "--app", help="ask the deployed app's API (https://<app>.azurewebsites.net)"
    )
    plan_cmd.add_argument("--api-scope", help="with --app: token scope, api://<client id>/.default")
    plan_cmd.add_argument("--token-file", type=Path, help="with --app: the bearer token's file")
    plan_cmd.add_argument(
        "--at",
        help="instant, ISO 8601 (UTC unless an offset is given); required offline, "
        "defaults to now with --live",
    )
    plan_cmd.add_argument("--arm-endpoint", help="ARM endpoint (default: PATCHPILOT_ARM_ENDPOINT)")
    plan_cmd.add_argument(
        "--ca-bundle",
        help="CA certificate for the ARM endpoint (default: PATCHPILOT_ARM_CA_BUNDLE)",
    )
    plan_cmd.set_defaults(run=_plan, render=_plan_table)

    windows = commands.add_parser(
        "windows", help="next allowed windows of a maintenanceConfiguration"
    )
    windows.add_argument(
        "--config", type=Path, required=True, help="maintenance configuration JSON"
    )
    windows.add_argument("--after", required=True, help="instant, ISO 8601")
    windows.add_argument("--count", type=_count, default=5, help="how many windows (default 5)")
    windows.set_defaults(run=_windows, render=window_table)

    tuesday = commands.add_parser("patch-tuesday", help="the Patch Tuesdays of a year")
    tuesday.add_argument("--year", type=_year, required=True)
    tuesday.add_argument(
        "--offset-days",
        type=_offset,
        default=0,
        help="days after Patch Tuesday that Windows pools become due",
    )
    tuesday.set_defaults(run=_patch_tuesday, render=tuesday_table)

    shadow = commands.add_parser(
        "shadow-report",
        help="what shadow mode would have started, beside when pools were really patched",
    )
    shadow.add_argument("--policy", type=Path, required=True, help="policy YAML file")
    shadow.add_argument("--at", help="the report's instant, ISO 8601 (default: now)")
    shadow.set_defaults(run=_shadow_report, render=_shadow_table)

    aks = commands.add_parser(
        "aks-maintenance",
        help="AKS's own announced maintenance (Communication Manager), beside Patch Pilot's plan",
    )
    aks.add_argument("--fleet", type=Path, help="fleet YAML file (default: the app's store)")
    aks.add_argument("--at", help="instant, ISO 8601 (required with --fleet; default: now)")
    aks.set_defaults(run=_aks_maintenance, render=aks_maintenance_table)

    for sub in (plan_cmd, windows, tuesday, shadow, aks):
        sub.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_operator_client(commands)
    _add_simulator(commands)
    return parser


def _add_operator_client(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from patchpilot.operator_client import add_parsers

    add_parsers(commands)


def _add_simulator(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`patchpilot sim` and `serve` live beside the simulator, which the app never imports."""
    from patchpilot.demo.cli import add_parser as add_demo
    from patchpilot.serve import add_parser as add_serve
    from patchpilot.sim.cli import add_parser as add_sim

    add_demo(commands)
    add_sim(commands)
    add_serve(commands)


def _plan(args: argparse.Namespace) -> Plan | dict[str, Any]:
    if args.app:
        from patchpilot.operator_client import run_plan

        return run_plan(args)
    if args.policy is None:
        raise InvalidInputError("--policy is required with --fleet or --live", path="--policy")
    if args.live:
        return _live_plan(args)
    if args.at is None:
        raise InvalidInputError("--at is required when planning a fleet file", path="--at")
    at = parse_instant(args.at, path="--at")
    fleet, policy = load_fleet(args.fleet), load_policy(args.policy)
    return with_paths(plan(fleet, policy, History(), at), fleet, policy)


def _live_plan(args: argparse.Namespace) -> Plan:
    """Plan from what ARM shows now (or at --at); the instant is read once, here."""
    from patchpilot.service.survey import observe_fleet
    from patchpilot.settings import load_settings

    at = parse_instant(args.at, path="--at") if args.at else dt.datetime.now(dt.UTC)
    policy = load_policy(args.policy)
    overrides = {
        name: value
        for name, value in (
            ("PATCHPILOT_ARM_ENDPOINT", args.arm_endpoint),
            ("PATCHPILOT_ARM_CA_BUNDLE", args.ca_bundle),
        )
        if value
    }
    fleet = observe_fleet(policy, load_settings(overrides))
    return with_paths(plan(fleet, policy, History(), at), fleet, policy)


def _plan_table(output: Plan | dict[str, Any]) -> str:
    """A plan computed here, or one the API answered, as the same table."""
    if isinstance(output, Plan):
        return plan_table(output)
    from patchpilot.operator_client import plan_answer_table

    return plan_answer_table(output)


def _shadow_report(args: argparse.Namespace) -> dict[str, Any]:
    """The shadow report of the store the settings name (PATCHPILOT_STORE and its connection)."""
    from patchpilot.adapters.arm.client import build_credential
    from patchpilot.runtime import open_store
    from patchpilot.service.shadow import build_report
    from patchpilot.settings import load_settings

    at = parse_instant(args.at, path="--at") if args.at else dt.datetime.now(dt.UTC)
    policy, settings = load_policy(args.policy), load_settings()
    store = open_store(settings, build_credential(settings))
    try:
        return build_report(store, policy, at, mode=settings.mode).to_json()
    finally:
        store.close()


def _aks_maintenance(args: argparse.Namespace) -> dict[str, Any]:
    """From a fleet file's ``aks_maintenance:`` entries, or the store the settings name."""
    if args.fleet is not None:
        if args.at is None:
            raise InvalidInputError("--at is required with --fleet", path="--at")
        at = parse_instant(args.at, path="--at")
        fleet = load_fleet(args.fleet)
        entries = [
            describe(item, cluster.maintenance, at)
            for cluster in fleet.clusters
            for item in cluster.aks_maintenance
        ]
        entries.sort(key=lambda e: (e["start"], e["cluster"], e["event_id"]))
        return {"at": iso(at), "aks_maintenance": entries}
    from patchpilot.adapters.arm.client import build_credential
    from patchpilot.runtime import open_store
    from patchpilot.service.aks_maintenance import maintenance_status
    from patchpilot.settings import load_settings

    at = parse_instant(args.at, path="--at") if args.at else dt.datetime.now(dt.UTC)
    settings = load_settings()
    store = open_store(settings, build_credential(settings))
    try:
        return {"at": iso(at), "aks_maintenance": maintenance_status(store, at)}
    finally:
        store.close()


def _shadow_table(output: dict[str, Any]) -> str:
    from patchpilot.report.shadow import shadow_table

    return shadow_table(output)


def _windows(args: argparse.Namespace) -> dict[str, Any]:
    schedule = load_maintenance_configuration(args.config)
    after = parse_instant(args.after, path="--after")
    found = schedule.windows(after, args.count)
    return {
        "after": iso(after),
        "windows": [{"start": iso(w.start), "end": iso(w.end)} for w in found],
    }


def _patch_tuesday(args: argparse.Namespace) -> dict[str, Any]:
    rows = [
        {
            "month": day.month,
            "date": day.isoformat(),
            "due_from": iso(windows_due_from(day, args.offset_days)),
        }
        for day in patch_tuesdays(args.year)
    ]
    return {"year": args.year, "offset_days": args.offset_days, "patch_tuesdays": rows}


def _bounded(name: str, low: int, high: int) -> Callable[[str], int]:
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} must be a whole number, got {text!r}"
            ) from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"{name} must be between {low} and {high}, got {value}"
            )
        return value

    return convert


_count = _bounded("--count", 1, 1000)
_year = _bounded("--year", 1970, 9998)
_offset = _bounded("--offset-days", 0, 27)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

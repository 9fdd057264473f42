"""The operator's client: `patchpilot status | plan | pause | resume | upgrade --app URL`.

Talks to a deployed Patch Pilot (or `patchpilot serve`) over HTTPS with a
Microsoft Entra token, never a key: by default one from azure-identity's
`DefaultAzureCredential` for the app's scope (`--api-scope api://<client id>/.default`,
the `OPERATOR_API_SCOPE` output of `azd provision`), so `az login` is all a
person does; or a token read from a file (`--token-file`, what `patchpilot
serve` writes per role), so no secret is typed into a shell history. The
API answers with the caller's roles (401 without a token, 403 naming the
role); the client prints its answer as a table, or JSON with `--json`.
Every POST carries a fresh `Idempotency-Key`, so a retried request is one.

Called by :mod:`patchpilot.cli` (:func:`add_parsers`). azure-identity loads
only when a token is needed from it.
"""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from patchpilot.domain.resource_ids import resource_name
from patchpilot.errors import ApiRefusedError, InvalidInputError
from patchpilot.render import path_table, table

TIMEOUT_SECONDS: Final = 60.0
_MAX_ANSWER: Final = 16 * 1024 * 1024
TokenSource = Callable[[], str]
_STATUSES: Final = ("due", "scheduled", "blocked")


@dataclass(frozen=True)
class OperatorClient:
    """One deployed API (`app`: https://<app>.azurewebsites.net, or the serve URL) and a token."""

    app: str
    token: TokenSource
    timeout: float = TIMEOUT_SECONDS

    def status(self, *, ring: str | None = None, cluster: str | None = None) -> dict[str, Any]:
        """`GET /api/status` (needs the read role)."""
        return self._call("GET", "status", query={"ring": ring, "cluster": cluster})

    def plan(self, *, at: str | None = None) -> dict[str, Any]:
        """`GET /api/plan` (read)."""
        return self._call("GET", "plan", query={"at": at})

    def pause(
        self, scope: str, reason: str, *, target: str | None = None, until: str | None = None
    ) -> dict[str, Any]:
        """`POST /api/pauses` (stop)."""
        body = {"scope": scope, "target": target, "reason": reason, "until": until}
        return self._call("POST", "pauses", body=_present(body))

    def resume(self, pause_id: str, *, reason: str | None = None) -> dict[str, Any]:
        """`DELETE /api/pauses/{id}` (operate); the reason goes to the trace and the log."""
        route = f"pauses/{urllib.parse.quote(pause_id, safe='')}"
        return self._call("DELETE", route, query={"reason": reason})

    def upgrade(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """`POST /api/upgrades` (operate; `force: true` needs force)."""
        return self._call("POST", "upgrades", body=_present(request))

    def _call(
        self,
        method: str,
        route: str,
        *,
        query: Mapping[str, str | None] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        url = f"{api_base(self.app)}/{route}"
        given = {k: v for k, v in (query or {}).items() if v is not None}
        if given:
            url += "?" + urllib.parse.urlencode(given)
        headers = {"Authorization": f"Bearer {self.token()}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers |= {"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())}
        # api_base allowed only https (or http to loopback): no file: or custom schemes.
        request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
        return _send(request, self.timeout)


def api_base(app: str) -> str:
    """The API's base URL from the app's URL (with or without /api)."""
    parts = urllib.parse.urlsplit(app.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidInputError(
            f"must be the app's URL, such as https://<app>.azurewebsites.net, got {app!r}",
            path="--app",
        )
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise InvalidInputError("a token never travels in clear: use https://", path="--app")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/').removesuffix('/api')}/api"


def token_source(*, token_file: Path | None, scope: str | None) -> TokenSource:
    """Where the bearer token comes from: a file, else DefaultAzureCredential for `scope`."""
    if token_file is not None:
        return lambda: _read_token(token_file)
    if not scope:
        raise InvalidInputError(
            "give --api-scope api://<client id>/.default (azd's OPERATOR_API_SCOPE) "
            "or --token-file",
            path="--api-scope",
        )
    chosen = scope

    def from_identity() -> str:
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential().get_token(chosen).token

    return from_identity


def _read_token(path: Path) -> str:
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise InvalidInputError(f"cannot read the token: {exc.strerror}", path=str(path)) from exc
    if not token:
        raise InvalidInputError("the token file is empty", path=str(path))
    return token


def _send(request: urllib.request.Request, timeout: float) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (checked scheme)
            return _json(response.read(_MAX_ANSWER))
    except urllib.error.HTTPError as exc:
        raise _refusal(exc.code, exc.read(_MAX_ANSWER)) from None
    except urllib.error.URLError as exc:
        raise InvalidInputError(f"cannot reach the API: {exc.reason}", path="--app") from None


def _refusal(status: int, body: bytes) -> ApiRefusedError:
    try:
        error = json.loads(body)["error"]
        text = f"{error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        text = "no JSON answer (App Service authentication refused the token?)"
    hint = {401: " (sign in: az login, or a valid --token-file)", 403: ""}.get(status, "")
    return ApiRefusedError(f"the API answered {status}: {text}{hint}")


def _json(body: bytes) -> dict[str, Any]:
    value = json.loads(body or b"{}")
    return value if isinstance(value, dict) else {"items": value}


def _present(body: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None and v is not False}


# Tables ----------------------------------------------------------------------------------


def status_table(answer: Mapping[str, Any]) -> str:
    """The fleet's status: one row per cluster, then the pauses in force."""
    headers = ["CLUSTER", "RING", "VERSION", "NEXT", "REASON"]
    rows = []
    for cluster in answer.get("clusters", []):
        action = cluster.get("next_action") or {}
        rows.append(
            [
                cluster["name"],
                cluster.get("ring") or "-",
                cluster["kubernetes_version"],
                action.get("status", "-"),
                (action.get("reason") or "")[:80],
            ]
        )
    parts = [f"Status at {answer.get('at')}", table(headers, rows)]
    pauses = answer.get("pauses", [])
    if pauses:
        parts.append(pauses_table(pauses))
    return "\n\n".join(parts)


def pauses_table(pauses: list[Mapping[str, Any]]) -> str:
    """Pauses with who made them (entra:<oid> <name> (<role>), or alert:<rule>)."""
    rows = [
        [p["id"], p["scope"], p.get("target") or "-", p["by"], p.get("until") or "-", p["reason"]]
        for p in pauses
    ]
    return table(["PAUSE", "SCOPE", "TARGET", "BY", "UNTIL", "REASON"], rows)


def plan_answer_table(answer: Mapping[str, Any]) -> str:
    """The plan the API answered, as `patchpilot plan` prints a local one (`render.plan_table`).

    The same header, actions with their reasons, findings and critical path,
    line for line, so an operator reads one layout wherever the plan came from.
    """
    actions = answer.get("actions") or []
    counts = {status: sum(a["status"] == status for a in actions) for status in _STATUSES}
    parts = [
        f"Plan at {answer.get('at')}: {counts['due']} due, {counts['scheduled']} scheduled, "
        f"{counts['blocked']} blocked"
    ]
    if actions:
        parts.append(_actions_table(actions))
    findings = answer.get("findings") or []
    if findings:
        lines = (
            f"  - {resource_name(f['cluster'])}{'/' + f['pool'] if f.get('pool') else ''}: "
            f"{f['message']}"
            for f in findings
        )
        parts.append("\n".join(["Findings:", *lines]))
    if answer.get("critical_path"):
        parts.append(path_table(answer["critical_path"]))
    return "\n\n".join(parts)


def _actions_table(actions: list[Mapping[str, Any]]) -> str:
    headers = ["STATUS", "CLUSTER", "POOL", "KIND", "CURRENT -> TARGET", "NOT BEFORE (UTC)"]
    rows = [
        [
            a["status"].upper(),
            resource_name(a["cluster"]),
            a.get("pool") or "(control plane)",
            a["kind"],
            f"{_short(a['current'])} -> {_short(a.get('target') or '?')}",
            a.get("not_before") or "-",
        ]
        for a in actions
    ]
    lines = table(headers, rows).splitlines()
    out = lines[:2]
    for line, action in zip(lines[2:], actions, strict=True):
        out += [line, f"    {action['reason']}"]
    return "\n".join(out)


def _short(version: str) -> str:
    """As the local table: a node image shows its date, the family is the same on both sides."""
    return version.rsplit("-", 1)[-1] if version.startswith("AKS") else version


def change_table(answer: Mapping[str, Any]) -> str:
    """A pause made, a pause lifted, or an upgrade's answer."""
    if "outcome" in answer:
        who = answer.get("requested_by")
        return f"{answer['outcome']}: {answer['target']} ({who})\n    {answer['reason']}"
    pause = answer.get("deleted", answer)
    verb = "resumed" if "deleted" in answer else "paused"
    return f"{verb}: " + pauses_table([pause])


# Command line ----------------------------------------------------------------------------


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`status`, `pause`, `resume`, `upgrade` (and `plan --app`, added by the CLI's plan)."""
    status = commands.add_parser("status", help="the deployed fleet's status (--app)")
    _common(status)
    status.add_argument("--ring")
    status.add_argument("--cluster")
    status.set_defaults(run=_status, render=status_table)

    pause = commands.add_parser("pause", help="pause the fleet, a ring or a cluster (--app)")
    _common(pause)
    pause.add_argument("--scope", choices=("fleet", "ring", "cluster"), required=True)
    pause.add_argument("--target", help="the ring's name or the cluster's resource ID")
    pause.add_argument("--reason", required=True)
    pause.add_argument("--until", help="ISO 8601 end of the pause (default: until resumed)")
    pause.set_defaults(run=_pause, render=change_table)

    resume = commands.add_parser("resume", help="lift one pause by id (--app)")
    _common(resume)
    resume.add_argument("pause_id")
    resume.add_argument("--reason", help="why the pause may go (recorded in the trace)")
    resume.set_defaults(run=_resume, render=change_table)

    upgrade = commands.add_parser("upgrade", help="request a manual upgrade (--app)")
    _common(upgrade)
    upgrade.add_argument("--cluster", required=True)
    upgrade.add_argument("--pool")
    upgrade.add_argument("--kind", choices=("kubernetes", "node_image"))
    upgrade.add_argument("--version")
    upgrade.add_argument("--force", action="store_true", help="lift windows and freezes")
    upgrade.add_argument("--reason")
    upgrade.set_defaults(run=_upgrade, render=change_table)


def add_connection_options(parser: argparse.ArgumentParser, *, app_required: bool) -> None:
    """--app, --scope, --token-file."""
    parser.add_argument(
        "--app", required=app_required, help="the app's URL, https://<app>.azurewebsites.net"
    )
    parser.add_argument("--api-scope", help="token scope, api://<client id>/.default")
    parser.add_argument("--token-file", type=Path, help="read the bearer token from this file")


def client_of(args: argparse.Namespace) -> OperatorClient:
    """The client the options describe."""
    return OperatorClient(args.app, token_source(token_file=args.token_file, scope=args.api_scope))


def run_plan(args: argparse.Namespace) -> dict[str, Any]:
    """`patchpilot plan --app URL [--at T]`."""
    return client_of(args).plan(at=args.at)


def _common(parser: argparse.ArgumentParser) -> None:
    add_connection_options(parser, app_required=True)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _status(args: argparse.Namespace) -> dict[str, Any]:
    return client_of(args).status(ring=args.ring, cluster=args.cluster)


def _pause(args: argparse.Namespace) -> dict[str, Any]:
    return client_of(args).pause(args.scope, args.reason, target=args.target, until=args.until)


def _resume(args: argparse.Namespace) -> dict[str, Any]:
    return client_of(args).resume(args.pause_id, reason=args.reason)


def _upgrade(args: argparse.Namespace) -> dict[str, Any]:
    fields = ("cluster", "pool", "kind", "version", "force", "reason")
    return client_of(args).upgrade({name: getattr(args, name) for name in fields})

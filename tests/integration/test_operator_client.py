"""The operator client against `patchpilot serve`: tokens from files, tables, refusals exit 2."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from patchpilot.cli import EXIT_BAD_INPUT, main
from patchpilot.domain.policy import parse_policy
from patchpilot.errors import ApiRefusedError, InvalidInputError
from patchpilot.operator_client import OperatorClient, api_base, token_source
from patchpilot.serve import LocalApi, serving
from patchpilot.serve.credentials import local_person, write_tokens
from patchpilot.sim.clock import VirtualClock
from tests.integration.http_support import DEV, START, fleet_doc, policy_doc


@pytest.fixture
def api(tmp_path: Path) -> Iterator[LocalApi]:
    with serving(
        parse_policy(policy_doc()),
        fleet=fleet_doc(),
        state=tmp_path / "state",
        source=VirtualClock(START),
        pump_seconds=None,
    ) as running:
        write_tokens(running.credentials, running.state / "tokens")
        yield running


def token_file(api: LocalApi, role: str) -> Path:
    return api.state / "tokens" / f"{role}.token"


def client(api: LocalApi, role: str) -> OperatorClient:
    app = api.url.removesuffix("/api")
    return OperatorClient(app, token_source(token_file=token_file(api, role), scope=None))


def test_each_command_talks_to_the_api_with_its_roles_token(api: LocalApi) -> None:
    status = client(api, "read").status(ring="dev")
    made = client(api, "stop").pause("cluster", "incident 11", target=DEV)
    with pytest.raises(ApiRefusedError, match=r"403: Forbidden: .*operate role"):
        client(api, "stop").resume(made["id"])
    lifted = client(api, "operate").resume(made["id"], reason="incident 11 fixed")
    started = client(api, "operate").upgrade({"cluster": DEV, "version": "1.33.2"})

    assert {c["name"] for c in status["clusters"]} == {"dev-1", "dev-2"}
    stopper = local_person("stop")
    assert made["by"] == f"entra:{stopper.object_id} {stopper.name} (stop)"
    assert lifted["deleted"]["id"] == made["id"]
    assert started["outcome"] == "started"


def test_the_cli_prints_tables_or_json_and_a_refusal_exits_2(
    api: LocalApi, capsys: pytest.CaptureFixture[str]
) -> None:
    app = ["--app", api.url.removesuffix("/api"), "--token-file"]

    assert main(["status", *app, str(token_file(api, "read"))]) == 0
    table = capsys.readouterr().out
    assert main(["plan", *app, str(token_file(api, "read")), "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    pause = ["pause", *app, str(token_file(api, "read")), "--scope", "fleet", "--reason", "x"]
    refused = main(pause)
    error = capsys.readouterr().err

    assert "dev-1" in table
    assert "CLUSTER" in table
    assert "actions" in plan
    assert refused == EXIT_BAD_INPUT
    assert "403" in error
    assert "stop role" in error
    assert api.services.store.list_pauses(api.clock.now()) == ()


def test_without_a_token_the_api_says_401_and_the_client_says_how_to_sign_in(
    api: LocalApi, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.token"
    bad.write_text("not-a-token\n")
    with pytest.raises(ApiRefusedError, match=r"401.*sign in"):
        OperatorClient(api.url, token_source(token_file=bad, scope=None)).status()


@pytest.mark.parametrize(
    ("app", "base"),
    [
        pytest.param("https://pp.azurewebsites.net", "https://pp.azurewebsites.net/api", id="app"),
        pytest.param(
            "https://pp.azurewebsites.net/api/", "https://pp.azurewebsites.net/api", id="api"
        ),
        pytest.param("http://127.0.0.1:7071", "http://127.0.0.1:7071/api", id="loopback"),
    ],
)
def test_the_api_is_found_from_the_apps_url(app: str, base: str) -> None:
    assert api_base(app) == base


@pytest.mark.parametrize(
    "app", ["http://pp.azurewebsites.net", "file:///etc/passwd", "pp.azurewebsites.net"]
)
def test_a_token_never_goes_to_a_clear_or_odd_url(app: str) -> None:
    with pytest.raises(InvalidInputError):
        api_base(app)


def test_without_a_token_file_the_scope_is_required() -> None:
    with pytest.raises(InvalidInputError, match="--api-scope"):
        token_source(token_file=None, scope=None)

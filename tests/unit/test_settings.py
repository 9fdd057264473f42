"""Settings are read once from the environment; a bad value names the variable that holds it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from patchpilot.errors import InvalidInputError
from patchpilot.settings import Settings
from tests.factories import cluster_id

SIM = "https://127.0.0.1:8443"


def test_an_empty_environment_means_public_azure_and_resource_graph() -> None:
    settings = Settings.from_env({"PATH": "/usr/bin", "AZURE_CLIENT_ID": "x"})

    assert settings == Settings()
    assert (settings.arm_endpoint, settings.arm_audience) == (
        "https://management.azure.com",
        "https://management.azure.com/.default",
    )
    assert (settings.credential, settings.discovery, settings.arm_deadline_seconds) == (
        "default",
        "resource-graph",
        60.0,
    )


def test_a_sovereign_cloud_and_a_static_fleet_are_read(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = Settings.from_env(
        {
            "PATCHPILOT_ARM_ENDPOINT": "https://management.chinacloudapi.cn/",
            "PATCHPILOT_ARM_AUDIENCE": "https://management.chinacloudapi.cn/.default",
            "PATCHPILOT_ARM_CA_BUNDLE": str(bundle),
            "PATCHPILOT_DISCOVERY": "Static",
            "PATCHPILOT_STATIC_CLUSTERS": (
                f" {cluster_id('a')} ,{cluster_id('b')},,{cluster_id('A')}"
            ),
            "PATCHPILOT_ARM_DEADLINE_SECONDS": "45.5",
        }
    )

    assert settings.arm_endpoint == "https://management.chinacloudapi.cn"
    assert settings.arm_ca_bundle == bundle
    assert [c.name for c in settings.static_clusters] == ["a", "b"]  # "A" is "a" to ARM
    assert (settings.discovery, settings.arm_deadline_seconds) == ("static", 45.5)


def test_the_static_credential_is_allowed_against_a_loopback_simulator() -> None:
    settings = Settings.from_env(
        {"PATCHPILOT_ARM_ENDPOINT": SIM, "PATCHPILOT_CREDENTIAL": "static"}
    )

    assert (settings.arm_endpoint, settings.credential) == (SIM, "static")


@pytest.mark.parametrize(
    ("environ", "names", "says"),
    [
        pytest.param(
            {"PATCHPILOT_ARM_ENDPOINT": "http://management.azure.com"},
            "PATCHPILOT_ARM_ENDPOINT",
            "https://",
            id="endpoint-in-clear",
        ),
        pytest.param(
            {"PATCHPILOT_ARM_ENDPOINT": "https://management.azure.com/subscriptions"},
            "PATCHPILOT_ARM_ENDPOINT",
            "bare origin",
            id="endpoint-with-path",
        ),
        pytest.param(
            {"PATCHPILOT_ARM_AUDIENCE": "management"},
            "PATCHPILOT_ARM_AUDIENCE",
            "token scope",
            id="audience-not-a-scope",
        ),
        pytest.param(
            {"PATCHPILOT_ARM_CA_BUNDLE": "/nonexistent/ca.pem"},
            "PATCHPILOT_ARM_CA_BUNDLE",
            "not a readable PEM file",
            id="missing-ca-bundle",
        ),
        pytest.param(
            {"PATCHPILOT_CREDENTIAL": "managed-identity"},
            "PATCHPILOT_CREDENTIAL",
            "default, static",
            id="unknown-credential",
        ),
        pytest.param(
            {"PATCHPILOT_CREDENTIAL": "static"},
            "PATCHPILOT_CREDENTIAL",
            "simulator only",
            id="static-token-against-real-arm",
        ),
        pytest.param(
            {"PATCHPILOT_DISCOVERY": "arg"},
            "PATCHPILOT_DISCOVERY",
            "resource-graph, static",
            id="unknown-discovery",
        ),
        pytest.param(
            {"PATCHPILOT_DISCOVERY": "static"},
            "PATCHPILOT_STATIC_CLUSTERS",
            "at least one",
            id="static-without-clusters",
        ),
        pytest.param(
            {"PATCHPILOT_STATIC_CLUSTERS": f"{cluster_id('a')},/subscriptions/x"},
            "PATCHPILOT_STATIC_CLUSTERS[1]",
            "not a managed cluster resource ID",
            id="bad-static-cluster",
        ),
        pytest.param(
            {"PATCHPILOT_ARM_DEADLINE_SECONDS": "soon"},
            "PATCHPILOT_ARM_DEADLINE_SECONDS",
            "number of seconds",
            id="deadline-not-a-number",
        ),
        pytest.param(
            {"PATCHPILOT_ARM_DEADLINE_SECONDS": "600"},
            "PATCHPILOT_ARM_DEADLINE_SECONDS",
            "between 1 and 240",
            id="deadline-past-a-functions-limit",
        ),
        pytest.param(
            {"PATCHPILOT_ARM_DEADLINE_SECONDS": "nan"},
            "PATCHPILOT_ARM_DEADLINE_SECONDS",
            "between 1 and 240",
            id="deadline-nan",
        ),
        pytest.param(
            {"PATCHPILOT_ARM_ENDPIONT": SIM},
            "PATCHPILOT_ARM_ENDPIONT",
            "not a Patch Pilot setting",
            id="misspelt-setting",
        ),
    ],
)
def test_a_bad_setting_is_refused_naming_the_variable(
    environ: dict[str, str], names: str, says: str
) -> None:
    with pytest.raises(InvalidInputError, match=says) as refused:
        Settings.from_env(environ)

    assert (refused.value.source, refused.value.path) == ("environment", names)


def test_settings_are_frozen() -> None:
    settings = Settings()

    with pytest.raises(AttributeError):
        settings.arm_endpoint = SIM  # type: ignore[misc]


def test_reading_settings_never_loads_the_azure_sdk() -> None:
    code = (
        "import sys, patchpilot.settings; "
        "print(sorted(m for m in sys.modules if m.startswith('azure')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()

    assert loaded == "[]"

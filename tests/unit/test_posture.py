"""Security posture: each rule fires on the risk it names, with a severity and a one-line fix."""

from __future__ import annotations

from dataclasses import replace

import pytest

from patchpilot.domain.posture import (
    ClusterPosture,
    PoolPosture,
    PostureFinding,
    posture_findings,
)
from patchpilot.domain.versions import KubernetesVersion, OfferedVersion
from tests.factories import cluster_ref

CLUSTER = cluster_ref("prod-1")
LINUX = PoolPosture("system", "Linux", "Ubuntu", "Standard_D4ds_v5", "AKSUbuntu-2204gen2containerd")
WINDOWS = PoolPosture(
    "win22", "Windows", "Windows2022", "Standard_D4ds_v5", "AKSWindows-2022-containerd"
)
# A cluster with every protection on: no findings.
HARDENED = ClusterPosture(
    cluster=CLUSTER,
    kubernetes_version=KubernetesVersion.parse("1.33.2"),
    pools=(LINUX, WINDOWS),
    node_os_upgrade_channel="NodeImage",
    private_cluster=True,
    local_accounts_enabled=False,
    kms_enabled=True,
)


def offered(*versions: str, preview: tuple[str, ...] = ()) -> tuple[OfferedVersion, ...]:
    """What a region offers: GA versions, then previews."""
    return tuple(OfferedVersion(KubernetesVersion.parse(v)) for v in versions) + tuple(
        OfferedVersion(KubernetesVersion.parse(v), preview=True) for v in preview
    )


REGION = offered("1.32.9", "1.33.2", "1.34.1", preview=("1.35.0",))


def codes(found: tuple[PostureFinding, ...]) -> list[tuple[str, str | None, str]]:
    """(code, pool, severity) of each finding, in order."""
    return [(f.code, f.pool, f.severity) for f in found]


def test_a_hardened_cluster_on_a_supported_version_has_no_findings() -> None:
    assert posture_findings(HARDENED, REGION) == ()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            {"private_cluster": False},
            [("api_server_public", None, "high")],
            id="public-api-server-open-to-all",
        ),
        pytest.param(
            {"private_cluster": False, "authorized_ip_ranges": ("203.0.113.0/24",)},
            [],
            id="public-but-authorized-ranges",
        ),
        pytest.param(
            {"private_cluster": False, "authorized_ip_ranges": ("0.0.0.0/0",)},
            [("api_server_public", None, "high")],
            id="authorized-ranges-that-authorize-everyone",
        ),
        pytest.param(
            {"local_accounts_enabled": True},
            [("local_accounts_enabled", None, "medium")],
            id="local-accounts",
        ),
        pytest.param(
            {"kms_enabled": False},
            [("secrets_not_kms_encrypted", None, "medium")],
            id="no-kms",
        ),
        pytest.param(
            {"kubernetes_version": KubernetesVersion.parse("1.31.8")},
            [("kubernetes_past_support", None, "high")],
            id="minor-no-longer-offered",
        ),
        pytest.param(
            {"kubernetes_version": KubernetesVersion.parse("1.32.9")},
            [("kubernetes_near_end_of_support", None, "medium")],
            id="oldest-offered-minor",
        ),
        pytest.param(
            {"kubernetes_version": KubernetesVersion.parse("1.35.0")},
            [],
            id="preview-minor-is-not-judged",
        ),
        pytest.param(
            {"node_os_upgrade_channel": "None"},
            [("linux_reboots_not_performed", "system", "medium")],
            id="linux-channel-none",
        ),
        pytest.param(
            {"node_os_upgrade_channel": "Unmanaged"},
            [("linux_reboots_not_performed", "system", "medium")],
            id="linux-channel-unmanaged",
        ),
        pytest.param(
            {"node_os_upgrade_channel": "SecurityPatch"},
            [],
            id="linux-channel-security-patch",
        ),
        pytest.param(
            {"pools": (LINUX, replace(WINDOWS, os_sku="Windows2019"))},
            [("windows_server_2019", "win22", "high")],
            id="windows-2019-by-os-sku",
        ),
        pytest.param(
            {
                "pools": (
                    replace(WINDOWS, os_sku=None, node_image_family="AKSWindows-2019-containerd"),
                )
            },
            [("windows_server_2019", "win22", "high")],
            id="windows-2019-by-image-family",
        ),
        pytest.param(
            {"pools": (replace(LINUX, node_labels={"isolation": "true"}),)},
            [("isolation_vm_size", "system", "medium")],
            id="isolation-label-on-shared-size",
        ),
        pytest.param(
            {"pools": (replace(LINUX, tags={"Isolation": "True"}, vm_size=None),)},
            [("isolation_vm_size", "system", "medium")],
            id="isolation-tag-on-unknown-size",
        ),
        pytest.param(
            {
                "pools": (
                    replace(LINUX, node_labels={"isolation": "true"}, vm_size="standard_e104i_v5"),
                )
            },
            [],
            id="isolation-on-isolated-size",
        ),
        pytest.param(
            {"pools": (replace(LINUX, node_labels={"isolation": "false"}),)},
            [],
            id="isolation-false",
        ),
    ],
)
def test_each_rule_fires_on_its_risk_only(
    change: dict[str, object], expected: list[tuple[str, str | None, str]]
) -> None:
    posture = replace(HARDENED, **change)  # type: ignore[arg-type]

    assert codes(posture_findings(posture, REGION)) == expected


def test_linux_reboots_are_low_when_patch_pilot_replaces_the_nodes_itself() -> None:
    posture = replace(HARDENED, node_os_upgrade_channel="None")

    found = posture_findings(posture, REGION, linux_images_patched=True)

    assert codes(found) == [("linux_reboots_not_performed", "system", "low")]
    assert "Patch Pilot" in found[0].message


def test_without_a_known_support_window_no_support_finding_is_made() -> None:
    old = replace(HARDENED, kubernetes_version=KubernetesVersion.parse("1.20.0"))

    assert posture_findings(old, ()) == ()
    assert posture_findings(old, offered(preview=("1.35.0",))) == ()


def test_the_isolated_sizes_are_data() -> None:
    pool = replace(LINUX, node_labels={"isolation": "true"}, vm_size="Standard_DC4s_v3")
    posture = replace(HARDENED, pools=(pool,))

    assert posture_findings(posture, REGION, isolated_sizes=frozenset({"Standard_DC4s_v3"})) == ()


def test_cluster_findings_come_first_then_each_pool_in_order() -> None:
    exposed = replace(
        HARDENED,
        private_cluster=False,
        local_accounts_enabled=True,
        kms_enabled=False,
        node_os_upgrade_channel="None",
        kubernetes_version=KubernetesVersion.parse("1.32.9"),
        pools=(replace(WINDOWS, os_sku="Windows2019"), LINUX),
    )

    assert [(f.code, f.pool) for f in posture_findings(exposed, REGION)] == [
        ("api_server_public", None),
        ("local_accounts_enabled", None),
        ("secrets_not_kms_encrypted", None),
        ("kubernetes_near_end_of_support", None),
        ("windows_server_2019", "win22"),
        ("linux_reboots_not_performed", "system"),
    ]


def test_a_finding_carries_a_one_line_fix_and_converts_to_a_plan_finding() -> None:
    (finding,) = posture_findings(replace(HARDENED, local_accounts_enabled=True), REGION)

    plan_finding = finding.to_finding()

    assert "\n" not in finding.fix
    assert finding.fix.startswith("use Microsoft Entra ID")
    assert (plan_finding.cluster, plan_finding.pool, plan_finding.code) == (
        CLUSTER,
        None,
        "local_accounts_enabled",
    )
    assert finding.fix in plan_finding.message
    assert finding.to_json()["severity"] == "medium"

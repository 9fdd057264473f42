"""Policy and fleet files that would hang or crash the reader are refused with one clear error.

A YAML alias bomb ("billion laughs") is a few hundred bytes that expand to a
billion nodes; before, `patchpilot plan` and the app's first invocation hung
printing the expanded value in an error message. Deep nesting and numbers too
long to convert crashed with a traceback.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from patchpilot.errors import InvalidInputError
from patchpilot.files import MAX_ALIAS_NODES, read_document, read_json

ROOT = Path(__file__).resolve().parents[2]
FLEET = ROOT / "examples" / "fleet.yaml"
RINGS = "rings:\n  - name: dev\n    match: {tags: {env: dev}}\n"


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """The classic: each anchor aliases the previous one `width` times (width**levels nodes).

    The anchors sit in the first scope, the field read (and quoted) after the rings.
    """
    anchors = ["&l0 [" + ", ".join(["lol"] * width) + "]"]
    for level in range(1, levels):
        anchors.append(f"&l{level} [" + ", ".join([f"*l{level - 1}"] * width) + "]")
    return RINGS + "scopes:\n  - [" + ", ".join(anchors) + "]\n"


def test_an_alias_bomb_is_refused_before_it_is_built(tmp_path: Path) -> None:
    bomb = tmp_path / "policy.yaml"
    bomb.write_text(alias_bomb())
    assert bomb.stat().st_size < 1024
    with pytest.raises(InvalidInputError) as caught:
        read_document(bomb)
    assert str(caught.value).startswith(f"{bomb}: YAML aliases expand this document by more than")


def test_plan_on_an_alias_bomb_exits_2_with_one_line(tmp_path: Path) -> None:
    bomb = tmp_path / "policy.yaml"
    bomb.write_text(alias_bomb())
    argv = ["plan", "--policy", str(bomb), "--fleet", str(FLEET), "--at", "2025-11-22T02:00Z"]
    # The timeout only guards against the hang this test is about; the assertions are below.
    done = subprocess.run(
        [sys.executable, "-m", "patchpilot.cli", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"patchpilot: error: {bomb}: YAML aliases expand")


def test_anchors_reused_a_few_times_load_as_if_written_out(tmp_path: Path) -> None:
    reused = tmp_path / "reused.yaml"
    reused.write_text(
        "window: &w {durationHours: 6, startTime: '02:00', days: [Saturday, Sunday]}\n"
        "rings:\n"
        + "".join(f"  - {{name: r{i}, window: *w}}\n" for i in range(20))
        + "base: &b {a: 1}\nmerged: {<<: *b, c: 2}\n"
    )
    data = read_document(reused)
    assert all(ring["window"] == data["window"] for ring in data["rings"])
    assert data["merged"] == {"a": 1, "c": 2}


def test_aliases_up_to_the_bound_are_accepted_and_one_more_is_not(tmp_path: Path) -> None:
    doc = tmp_path / "doc.yaml"
    # Each alias of the anchor adds 2 nodes (the sequence and its scalar).
    within = MAX_ALIAS_NODES // 2
    doc.write_text("a: &x [1]\nb: [" + ", ".join(["*x"] * within) + "]\n")
    assert len(read_document(doc)["b"]) == within
    doc.write_text("a: &x [1]\nb: [" + ", ".join(["*x"] * (within + 1)) + "]\n")
    with pytest.raises(InvalidInputError, match="YAML aliases expand"):
        read_document(doc)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("a: &a [1, *a]\n", "an alias refers to a node that contains it", id="loop"),
        pytest.param("[" * 5000 + "]" * 5000, "nested too deeply", id="deep-nesting"),
        pytest.param("a: " + "1" * 5000 + "\n", "not valid YAML", id="5000-digit-number"),
    ],
)
def test_yaml_that_cannot_be_read_safely_is_an_input_error(
    tmp_path: Path, text: str, message: str
) -> None:
    doc = tmp_path / "doc.yaml"
    doc.write_text(text)
    with pytest.raises(InvalidInputError, match=message):
        read_document(doc)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("[" * 5000 + "]" * 5000, "nested too deeply", id="deep-nesting"),
        pytest.param('{"a": ' + "1" * 5000 + "}", "not valid JSON", id="5000-digit-number"),
    ],
)
def test_json_that_cannot_be_read_safely_is_an_input_error(
    tmp_path: Path, text: str, message: str
) -> None:
    doc = tmp_path / "doc.json"
    doc.write_text(text)
    with pytest.raises(InvalidInputError, match=message):
        read_json(doc)

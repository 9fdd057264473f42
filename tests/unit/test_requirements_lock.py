"""The deployed lock, requirements.txt, against what people wrote, requirements.in.

Azure's remote build installs requirements.txt; pip checks hashes there only when
every line has them. `make lock` (uv) writes the lock and `make lock-check`
re-resolves it against the index; these checks read only the two files, the
Makefile and pyproject.toml, so they hold offline.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
INPUT = ROOT / "requirements.in"
LOCK = ROOT / "requirements.txt"
SHA256 = re.compile(r"--hash=sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class Locked:
    """One entry of the lock: its requirement, hashes and what asked for it."""

    requirement: Requirement
    hashes: tuple[str, ...]
    options: tuple[str, ...]
    via: tuple[str, ...]


def wanted(text: str) -> dict[NormalizedName, Requirement]:
    """requirements.in's requirements by name (comments and blank lines skipped)."""
    found: dict[NormalizedName, Requirement] = {}
    for line in text.splitlines():
        spec = line.split("#", 1)[0].strip()
        if spec:
            requirement = Requirement(spec)
            found[canonicalize_name(requirement.name)] = requirement
    return found


def _annotations(comments: list[str]) -> tuple[str, ...]:
    """The names after `# via` (on its line or one per line after it)."""
    words = " ".join(c.lstrip("#").strip() for c in comments).split()
    if "via" not in words:
        return ()
    tail = words[words.index("via") + 1 :]
    return tuple(" ".join(tail).replace("-r ", "-r=").split())


def locked(text: str) -> tuple[dict[NormalizedName, Locked], list[str]]:
    """The lock's entries by name, and its lines that are neither entry nor comment.

    An entry is one logical line (backslash continuations joined) followed by its
    comment lines, which carry uv's `# via` annotation.
    """
    entries: list[tuple[str, list[str]]] = []
    stray: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if pending or (line and not line.startswith("#")):
            pending += " " + line.removesuffix("\\").strip()
            if not line.endswith("\\"):
                entries.append((pending.strip(), []))
                pending = ""
        elif line.startswith("#") and entries:
            entries[-1][1].append(line)
    found: dict[NormalizedName, Locked] = {}
    for logical, comments in entries:
        head, *rest = logical.split()
        if head.startswith("-"):
            stray.append(logical)
            continue
        requirement = Requirement(head)
        found[canonicalize_name(requirement.name)] = Locked(
            requirement=requirement,
            hashes=tuple(r for r in rest if r.startswith("--hash=")),
            options=tuple(r for r in rest if not r.startswith("--hash=")),
            via=_annotations(comments),
        )
    return found, stray


def test_every_runtime_requirement_is_locked_at_a_release_its_range_allows() -> None:
    entries, _ = locked(LOCK.read_text())
    for name, requirement in wanted(INPUT.read_text()).items():
        assert name in entries, f"{name} is in requirements.in but not in the lock"
        (pin,) = entries[name].requirement.specifier
        assert requirement.specifier.contains(pin.version, prereleases=True), (
            f"{name}=={pin.version} is outside requirements.in's {requirement.specifier}"
        )


def problems(text: str) -> list[str]:
    """What keeps a lock from being installed hash-checked and alike everywhere."""
    entries, stray = locked(text)
    found = [f"an option of one machine: {line}" for line in stray]
    for name, entry in entries.items():
        if [s.operator for s in entry.requirement.specifier] != ["=="] or entry.requirement.url:
            found.append(f"{name} is not pinned with ==")
        if not entry.hashes:
            found.append(f"{name} has no hash")
        found += [f"{name}: {h} is no sha256" for h in entry.hashes if not SHA256.fullmatch(h)]
        found += [f"{name} carries {option}" for option in entry.options]
    return found


def test_every_lock_entry_is_one_exact_pin_with_sha256_hashes_and_nothing_else() -> None:
    text = LOCK.read_text()
    entries, _ = locked(text)

    assert problems(text) == []
    assert len(entries) > len(wanted(INPUT.read_text())), "the lock holds no dependency"


HASH = "--hash=sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param(
            f"tenacity~=9.2 \\\n    {HASH}\n", "tenacity is not pinned with ==", id="a-range"
        ),
        pytest.param(
            "tenacity==9.2.1\n    # via -r requirements.in\n", "tenacity has no hash", id="no-hash"
        ),
        pytest.param(
            f"tenacity==9.2.1 \\\n    --hash=md5:{'a' * 32}\n",
            f"tenacity: --hash=md5:{'a' * 32} is no sha256",
            id="md5",
        ),
        pytest.param(
            f"--index-url https://mirror.invalid/simple\ntenacity==9.2.1 \\\n    {HASH}\n",
            "an option of one machine: --index-url https://mirror.invalid/simple",
            id="an-index",
        ),
    ],
)
def test_a_loose_unhashed_or_machine_bound_lock_is_named_as_such(text: str, problem: str) -> None:
    assert problems(text) == [problem]


def test_the_lock_is_resolved_for_the_python_and_uv_the_project_uses() -> None:
    makefile = (ROOT / "Makefile").read_text()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (lock_python,) = re.findall(r"^LOCK_PYTHON := (\S+)$", makefile, re.MULTILINE)
    (uv_requirement,) = re.findall(r"^UV_REQUIREMENT := (\S+)$", makefile, re.MULTILINE)

    # The Function App's runtime version (test_infra_contract checks it is mypy's).
    assert lock_python == pyproject["tool"]["mypy"]["python_version"]
    assert uv_requirement in pyproject["project"]["optional-dependencies"]["dev"]


def test_the_package_reads_the_ranges_and_the_deploy_ships_the_lock() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    ignored = {
        line.strip().rstrip("/")
        for line in (ROOT / ".funcignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }

    # A hashed file is no list of dependencies setuptools can read.
    assert pyproject["tool"]["setuptools"]["dynamic"]["dependencies"] == {
        "file": ["requirements.in"]
    }
    assert "requirements.txt" not in ignored
    assert "requirements.in" in ignored

"""Reading policy, fleet and maintenance files from disk for the CLI, the app and the demo.

The domain validates mappings; this module owns the I/O around it: reading the
file, parsing YAML or JSON, and turning every failure into one
:class:`~patchpilot.errors.InvalidInputError` that names the file.

YAML aliases are bounded. An alias reuses a node, so a few hundred bytes of
anchors that each alias the previous one nine times ("billion laughs") build a
document of a billion nodes: everything that walks it (validation, an error
message quoting it) never finishes. Composing the node graph is cheap (shared
nodes are composed once); before it is built into Python data,
:func:`_check_aliases` counts the nodes aliases would add and refuses more
than :data:`MAX_ALIAS_NODES`, and refuses an alias that contains itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import yaml

from patchpilot.domain.fleet import FleetState, parse_fleet
from patchpilot.domain.maintenance_config import parse_maintenance_configuration
from patchpilot.domain.policy import Policy, parse_policy
from patchpilot.domain.schedule import Schedule
from patchpilot.errors import InvalidInputError

# Far larger than any real policy or fleet; refuses a runaway file early.
MAX_FILE_BYTES = 64 * 1024 * 1024
# Nodes that aliases may add to a document: room to reuse a window in every ring
# or a pool in a thousand clusters; a billion-laughs document adds 10^9.
MAX_ALIAS_NODES: Final = 10_000
# Saturation for the count, so a deep chain of aliases never makes huge integers.
_COUNT_CAP: Final = 10**12


def read_document(path: Path) -> Any:
    """Parse a YAML (or JSON, a subset of YAML) file into plain data."""
    text = _read_text(path)
    try:
        return _load_yaml(text, str(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidInputError(f"not valid YAML: {where}{problem}", source=str(path)) from exc
    except RecursionError as exc:
        raise InvalidInputError("not valid YAML: nested too deeply", source=str(path)) from exc
    except ValueError as exc:
        if isinstance(exc, InvalidInputError):
            raise
        # PyYAML's constructors raise plain ValueError (a number of 5,000 digits).
        raise InvalidInputError(f"not valid YAML: {_first_line(exc)}", source=str(path)) from exc


def read_json(path: Path) -> Any:
    """Parse a JSON file (maintenance configurations as ARM or `az` print them)."""
    text = _read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}", source=str(path)
        ) from exc
    except RecursionError as exc:
        raise InvalidInputError("not valid JSON: nested too deeply", source=str(path)) from exc
    except ValueError as exc:
        raise InvalidInputError(f"not valid JSON: {_first_line(exc)}", source=str(path)) from exc


def load_policy(path: Path) -> Policy:
    """Load and validate a policy file as a whole."""
    return parse_policy(read_document(path), source=str(path))


def load_fleet(path: Path) -> FleetState:
    """Load and validate a fleet file as a whole."""
    return parse_fleet(read_document(path), source=str(path))


def load_maintenance_configuration(path: Path) -> Schedule:
    """Load one AKS maintenance configuration (ARM JSON or `az` JSON)."""
    return parse_maintenance_configuration(read_json(path), source=str(path))


def _load_yaml(text: str, source: str) -> Any:
    """`yaml.safe_load`, with the alias check between composing and building."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_aliases(node, source)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _check_aliases(root: yaml.Node, source: str) -> None:
    """Refuse a document whose aliases add more than MAX_ALIAS_NODES nodes, or recur."""
    expanded, distinct = _sizes(root, source)
    if expanded - distinct > MAX_ALIAS_NODES:
        raise InvalidInputError(
            f"YAML aliases expand this document by more than {MAX_ALIAS_NODES} nodes "
            "(an alias bomb?); write the repeated parts out or reuse fewer",
            source=source,
        )


def _sizes(root: yaml.Node, source: str) -> tuple[int, int]:
    """(nodes once aliases are expanded, distinct nodes) of a composed document.

    Each distinct node is visited once, iteratively (depth costs no stack), and
    its expanded size, aliases counted as often as they occur, is remembered.
    A node met again while its own children are being visited is a cycle.
    """
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            on_path.discard(key)
            sizes[key] = min(_COUNT_CAP, 1 + sum(sizes[id(child)] for child in _children(node)))
        elif key in on_path:
            line = node.start_mark.line + 1
            message = f"not valid YAML: line {line}: an alias refers to a node that contains it"
            raise InvalidInputError(message, source=source)
        elif key not in sizes:
            on_path.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    return sizes[id(root)], len(sizes)


def _children(node: yaml.Node) -> Iterator[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        yield from node.value
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield key
            yield value


def _first_line(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__).splitlines()[0][:200]


def _read_text(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InvalidInputError(f"file is larger than {MAX_FILE_BYTES} bytes", source=str(path))
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InvalidInputError("file not found", source=str(path)) from exc
    except IsADirectoryError as exc:
        raise InvalidInputError("is a directory, not a file", source=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise InvalidInputError("is not UTF-8 text", source=str(path)) from exc
    except OSError as exc:
        raise InvalidInputError(f"cannot be read: {exc.strerror}", source=str(path)) from exc

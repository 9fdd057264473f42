"""A small reader for untrusted mappings (policy and fleet files, JSON bodies).

Each accessor checks one field's type and range and, when it fails, raises an
:class:`~patchpilot.errors.InvalidInputError` that names the file and the full
field path (``rings[1].soak_days``), so the user knows exactly what to fix.
Unknown keys are refused too: a typo must not be silently ignored. Values that
validate themselves (a schedule, a version) are made through :meth:`Fields.build`,
so their errors, which name only their own field, land at the full path too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from patchpilot.errors import InvalidInputError

_MISSING = object()
_P = ParamSpec("_P")
_T = TypeVar("_T")
# How much of a bad value an error message quotes.
_EXCERPT = 40


@dataclass(frozen=True)
class Fields:
    """A mapping being read, with where it came from."""

    data: Mapping[str, Any]
    source: str | None = None
    path: str = ""

    @classmethod
    def of(cls, value: object, *, source: str | None = None, path: str = "") -> Fields:
        """Wrap a value that must be a mapping (a YAML/JSON object)."""
        if not isinstance(value, Mapping):
            raise InvalidInputError(
                f"expected a mapping, got {_kind(value)}", source=source, path=path or None
            )
        return cls(value, source, path)

    def at(self, key: str | int) -> str:
        """The path of a child field, for error messages."""
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str | int | None, message: str) -> InvalidInputError:
        """An error located at a child field (or at this mapping when key is None)."""
        return InvalidInputError(
            message,
            source=self.source,
            path=(self.at(key) if key is not None else self.path) or None,
        )

    def located(self, error: InvalidInputError) -> InvalidInputError:
        """`error`, whose path is relative to this mapping, placed under its source and path.

        Values validate themselves in their constructors and name their own
        fields (``durationHours``, ``hourSlots[0]``); read from a file they
        must name the field where it sits (``rings[1].window.durationHours``).
        """
        inner = error.path or ""
        if not self.path or not inner:
            path = self.path or inner
        else:
            path = f"{self.path}{inner}" if inner.startswith("[") else f"{self.path}.{inner}"
        return InvalidInputError(
            error.detail, source=self.source or error.source, path=path or None
        )

    def build(self, factory: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """A value made from this mapping's fields, its validation errors :meth:`located` here."""
        try:
            return factory(*args, **kwargs)
        except InvalidInputError as error:
            raise self.located(error) from None

    def only(self, *allowed: str) -> Fields:
        """Refuse keys outside `allowed`, naming the first unknown one."""
        for key in self.data:
            if key not in allowed:
                expected = ", ".join(allowed)
                raise self.error(str(key), f"unknown field; expected one of: {expected}")
        return self

    def has(self, key: str) -> bool:
        """True when the key is present and not null."""
        return self.data.get(key) is not None

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        """The value as is; a missing required field is an error."""
        value = self.data.get(key)
        if value is None:
            if default is _MISSING:
                raise self.error(key, "is required")
            return default
        return value

    def child(self, key: str, default: Mapping[str, Any] | None = None) -> Fields:
        """A nested mapping."""
        value = self.raw(key, _MISSING if default is None else default)
        return Fields.of(value, source=self.source, path=self.at(key))

    def items(self, key: str, *, required: bool = False) -> Iterator[tuple[str, Any]]:
        """Each (path, element) of a list field; an absent optional list is empty."""
        value = self.raw(key) if required else self.raw(key, [])
        if isinstance(value, str | bytes) or not isinstance(value, Sequence):
            raise self.error(key, f"expected a list, got {_kind(value)}")
        for index, element in enumerate(value):
            yield f"{self.at(key)}[{index}]", element

    def text(self, key: str, default: str | None = None, *, choices: Sequence[str] = ()) -> str:
        """A string, optionally one of `choices` (matched ignoring case, returned canonical)."""
        value = self.raw(key, _MISSING if default is None else default)
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, f"expected a non-empty string, got {_kind(value)}")
        if not choices:
            return value
        for choice in choices:
            if choice.lower() == value.lower():
                return choice
        raise self.error(key, f"expected one of {', '.join(choices)}, got {describe(value)}")

    def integer(self, key: str, default: int | None = None, *, low: int, high: int) -> int:
        """A whole number within [low, high]."""
        value = self.raw(key, _MISSING if default is None else default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected a whole number, got {_kind(value)}")
        if not low <= value <= high:
            raise self.error(key, f"must be between {low} and {high}, got {describe(value)}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        """A true/false value."""
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {_kind(value)}")
        return value

    def day(self, key: str) -> dt.date:
        """A calendar date, from YAML's date type or an ISO 8601 string."""
        value = self.raw(key)
        return as_date(value, source=self.source, path=self.at(key))

    def string_map(self, key: str) -> dict[str, str]:
        """A mapping of strings to strings (tags)."""
        nested = self.child(key, {})
        result: dict[str, str] = {}
        for name, value in nested.data.items():
            if not isinstance(name, str) or not isinstance(value, str | int | float | bool):
                raise nested.error(str(name), f"expected a string value, got {_kind(value)}")
            result[name] = str(value)
        return result


def as_date(value: object, *, source: str | None, path: str) -> dt.date:
    """A date from YAML (already a date) or text 'YYYY-MM-DD'."""
    if isinstance(value, dt.datetime):
        raise InvalidInputError(
            "expected a date (YYYY-MM-DD), not a time", source=source, path=path
        )
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidInputError(
        f"expected a date YYYY-MM-DD, got {describe(value)}", source=source, path=path
    )


def describe(value: object) -> str:
    """A value for an error message: a short quoted excerpt of text, else its type.

    Never the repr of a structure: a YAML alias or a hostile body can make one
    huge, and printing it would hang the very error that refuses it.
    """
    if isinstance(value, str):
        return repr(value if len(value) <= _EXCERPT else value[:_EXCERPT] + "...")
    if isinstance(value, bool | float) or (isinstance(value, int) and value.bit_length() <= 64):
        return str(value)
    return _kind(value)


def json_kind(value: object) -> str:
    """Name a value's type in JSON's words ("an object", "a list", "null").

    AKS maintenance configurations are JSON first, and their messages have
    always said "must be an object, got a list"; :func:`_kind` says the same
    things in YAML's words ("a mapping"). Users and tests read both.
    """
    names = {"dict": "an object", "list": "a list", "str": "a string", "NoneType": "null"}
    return names.get(type(value).__name__, type(value).__name__)


def _kind(value: object) -> str:
    """Name a value's type the way a YAML or JSON author thinks of it."""
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    if value is None:
        return "nothing"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return names.get(type(value), type(value).__name__)

"""Partition and row keys: any string in, a key every backend accepts out.

Azure Table Storage forbids ``/``, ``\\``, ``#``, ``?`` and control characters
in keys, limits them to 1 KiB, and some characters (``%``, ``'``, ``+``) are
mishandled by URL-based point operations. So every key part is escaped to a
conservative alphabet: ASCII letters, digits and ``- . _ : @`` stay as they
are, every other character becomes ``!`` and two hex digits per UTF-8 byte.
The escape is reversible (:func:`unescape`). A part that would escape to more
than :data:`MAX_PART` characters keeps a readable prefix and ends in ``!!``
and its SHA-256, which is injective in practice but not reversible: records
keep their original fields as properties and are never rebuilt from keys.

The row store (:mod:`patchpilot.adapters.store.rowstore`) calls this for both
backends, so SQLite and Tables hold identical keys.
"""

from __future__ import annotations

import functools
import hashlib
import re
import string

# Characters that pass through unchanged; `~` is absent so it can join parts.
_SAFE = frozenset(string.ascii_letters + string.digits + "-._:@")
_ESCAPED = re.compile(r"!([0-9A-F]{2})")
# Each part stays well below the 1 KiB key limit even when three are joined.
MAX_PART = 250
_HASH_MARK = "!!"
SEPARATOR = "~"


@functools.lru_cache(maxsize=65_536)
def escape(text: str) -> str:
    """The key form of one part; long parts end in a hash instead of the full text.

    Memoised: the same cluster IDs are escaped for every row of theirs.
    """
    escaped = "".join(
        char if char in _SAFE else "".join(f"!{byte:02X}" for byte in char.encode())
        for char in text
    )
    if len(escaped) <= MAX_PART:
        return escaped
    digest = hashlib.sha256(text.encode()).hexdigest()
    prefix = escaped[: MAX_PART - len(digest) - len(_HASH_MARK)]
    # Never cut an escape sequence in half: drop a trailing partial `!X`.
    prefix = re.sub(r"!.?$", "", prefix)
    return f"{prefix}{_HASH_MARK}{digest}"


def unescape(key: str) -> str:
    """The original text of an escaped part; a hashed (long) part cannot be reversed."""
    if _HASH_MARK in key:
        raise ValueError("a hashed key part cannot be reversed; read the record's fields instead")
    if SEPARATOR in key:
        raise ValueError(f"{key!r} is a joined key; split it on {SEPARATOR!r} first")
    raw = bytearray()
    position = 0
    for match in _ESCAPED.finditer(key):
        raw += key[position : match.start()].encode()
        raw.append(int(match[1], 16))
        position = match.end()
    raw += key[position:].encode()
    return raw.decode()


def join(*parts: str) -> str:
    """One key from several parts, each escaped, so `("a~b",)` and `("a", "b")` never meet."""
    return SEPARATOR.join(escape(part) for part in parts)

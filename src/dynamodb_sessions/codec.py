"""Turning session data into the bytes of the ``data`` attribute and back.

JSON only: nothing here, or anywhere in this library, ever unpickles data, so a forged or
tampered item can at worst decode to wrong values, never run code.

The first byte of the stored value names its format, so formats can be added without a
migration (a planned one is authenticated encryption)::

    b"J" + JSON text
    b"Z" + zlib(JSON text)      used when the JSON exceeds the compression threshold
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .exceptions import CorruptSessionError

PLAIN = b"J"
ZLIB = b"Z"


class Serializer(Protocol):
    """Turns a session's mapping into bytes and back (JSON, or a framework's tagged JSON)."""

    def dumps(self, data: Mapping[str, Any]) -> bytes:
        """Serialize ``data``; raise ``TypeError`` or ``ValueError`` for values it cannot hold."""
        ...

    def loads(self, raw: bytes) -> dict[str, Any]:
        """Deserialize bytes produced by :meth:`dumps`; raise ``ValueError`` if they are not."""
        ...


class JSONSerializer:
    """Compact UTF-8 JSON. Values must be JSON types (str, int, float, bool, None, list, dict)."""

    def dumps(self, data: Mapping[str, Any]) -> bytes:
        """Serialize ``data`` to compact JSON."""
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def loads(self, raw: bytes) -> dict[str, Any]:
        """Parse JSON and insist on an object at the top."""
        value = json.loads(raw)
        if not isinstance(value, dict):
            raise ValueError("session data is not a JSON object")
        return value


@dataclass(frozen=True)
class Codec:
    """Encodes a session mapping to stored bytes, compressing above ``compress_threshold``."""

    serializer: Serializer = field(default_factory=JSONSerializer)
    compress_threshold: int = 1024
    compress_level: int = 6

    def encode(self, data: Mapping[str, Any]) -> bytes:
        """Return the stored form of ``data``.

        Raises ``TypeError`` when a value cannot be serialized, naming its type.
        """
        text = self.serializer.dumps(data)
        if len(text) > self.compress_threshold:
            packed = zlib.compress(text, self.compress_level)
            if len(packed) < len(text):
                return ZLIB + packed
        return PLAIN + text

    def decode(self, blob: bytes) -> dict[str, Any]:
        """Return the mapping in ``blob``; raise :class:`CorruptSessionError` if there is none."""
        marker, body = blob[:1], blob[1:]
        try:
            if marker == ZLIB:
                body = zlib.decompress(body)
            elif marker != PLAIN:
                raise ValueError(f"unknown format marker {marker!r}")
            return self.serializer.loads(body)
        except (ValueError, zlib.error, UnicodeDecodeError) as exc:
            raise CorruptSessionError(f"stored session data cannot be decoded: {exc}") from exc

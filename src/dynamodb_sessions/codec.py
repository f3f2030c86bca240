"""Turning session data into the bytes of the ``data`` attribute and back.

JSON only: nothing here, or anywhere in this library, ever unpickles data, so a forged or
tampered item can at worst decode to wrong values, never run code.

The first byte of the stored value names its format, so formats can be added without a
migration::

    b"J" + JSON text
    b"Z" + zlib(JSON text)      used when the JSON exceeds the compression threshold
    b"E" + encrypted(b"J..." or b"Z...")   with a :class:`~dynamodb_sessions.crypto.Keyring`
                                            (see :mod:`dynamodb_sessions.crypto`)

Encryption binds each blob to the item it is stored in (``item_key``, the storage key), so
``encode`` and ``decode`` take it; without encryption it is not used. Items store each session
key's value as its own attribute (:meth:`Codec.encode_value`), in the same format, bound to the
item and to the key name (:func:`value_aad`); the whole-mapping form is that of 0.1 items.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .exceptions import CorruptSessionError, SessionDecryptionError, UnserializableSessionError

if TYPE_CHECKING:
    from .crypto import Keyring

PLAIN = b"J"
ZLIB = b"Z"
ENCRYPTED = b"E"


def value_aad(item_key: str, name: str) -> str:
    """What one key's encrypted value is bound to: its item and its key name (a NUL byte
    between them, which no storage key contains, so no two pairs give the same string)."""
    return f"{item_key}\x00{name}"


class Serializer(Protocol):
    """Turns a session's mapping into bytes and back (JSON, or a framework's tagged JSON)."""

    def dumps(self, data: Mapping[str, Any]) -> bytes:
        """Serialize ``data``; raise ``TypeError`` or ``ValueError`` for values it cannot hold."""
        ...

    def loads(self, raw: bytes) -> dict[str, Any]:
        """Deserialize bytes produced by :meth:`dumps`; raise ``ValueError`` if they are not."""
        ...


def check_json(value: Any, where: str = "session") -> None:
    """Raise :class:`~dynamodb_sessions.UnserializableSessionError` unless ``value`` comes back
    from JSON exactly as it is: ``str``, ``int``, finite ``float``, ``bool``, ``None``, and
    ``list`` and ``dict`` (with ``str`` keys) of those, at any depth.

    ``json.dumps`` alone would store ``{1: "a", "1": "b"}`` as ``{"1": "b"}``, a tuple as a
    list, an ``IntEnum`` as an int, NaN as a token no other JSON reader accepts. Subclasses of
    the JSON types are refused too: they would come back as the base type.
    """
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return
    if kind is float:
        if not math.isfinite(value):
            raise UnserializableSessionError(f"{where} is {value!r}: JSON has no NaN or infinity")
        return
    if kind is list:
        for index, item in enumerate(value):
            check_json(item, f"{where}[{index}]")
        return
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise UnserializableSessionError(
                    f"{where} has the key {key!r} ({type(key).__name__}): JSON keys are strings, "
                    "so it would come back as a string key (or overwrite one)"
                )
            check_json(item, f"{where}[{key!r}]")
        return
    raise UnserializableSessionError(
        f"{where} is a {kind.__name__}, which JSON cannot hold faithfully: store str, int, "
        "float, bool, None, and lists and dicts (with str keys) of those"
    )


class JSONSerializer:
    """Compact UTF-8 JSON. Values must be JSON types (str, int, float, bool, None, list, dict
    with str keys); anything else raises :class:`~dynamodb_sessions.UnserializableSessionError`
    rather than come back different (:func:`check_json`)."""

    def dumps(self, data: Mapping[str, Any]) -> bytes:
        """Serialize ``data`` to compact JSON, refusing what JSON would not give back as is."""
        check_json(dict(data))
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def loads(self, raw: bytes) -> dict[str, Any]:
        """Parse JSON and insist on an object at the top."""
        value = json.loads(raw)
        if not isinstance(value, dict):
            raise ValueError("session data is not a JSON object")
        return value


@dataclass(frozen=True)
class Codec:
    """Encodes a session mapping to stored bytes, compressing above ``compress_threshold``.

    With a ``keyring`` every blob is encrypted (authenticated) with its newest key, and only
    encrypted blobs are read back, unless ``accept_plaintext`` (for turning encryption on
    without ending the sessions stored before). A store adds the keyring of its configuration
    (``StoreConfig.encryption_keys``) to a codec that has none.
    """

    serializer: Serializer = field(default_factory=JSONSerializer)
    compress_threshold: int = 1024
    compress_level: int = 6
    keyring: Keyring | None = None
    accept_plaintext: bool = False
    # A bound on decompressed data, so a tampered item cannot be a zlib bomb (about 1000:1).
    max_decoded_bytes: int = 16 * 1024 * 1024

    def encode(self, data: Mapping[str, Any], *, item_key: str = "") -> bytes:
        """Return the stored form of ``data``, for the item stored under ``item_key``.

        Raises :class:`~dynamodb_sessions.UnserializableSessionError` (a ``TypeError``) when a
        value would not come back as it is, naming where it is.
        """
        return self._seal(self.serializer.dumps(data), item_key)

    def decode(self, blob: bytes, *, item_key: str = "") -> dict[str, Any]:
        """Return the mapping in ``blob``, read from the item stored under ``item_key``.

        Raises :class:`CorruptSessionError` if there is none, and its subclass
        :class:`SessionDecryptionError` if encrypted data cannot be decrypted and authenticated
        (or unencrypted data is found while encryption is on): never garbage data.
        """
        return self._open(blob, item_key)

    def encode_value(self, name: str, value: Any, *, item_key: str) -> bytes:
        """Return the stored form of one session key's ``value`` (its own attribute).

        Serialized as the one-key mapping ``{name: value}`` (so a framework's tagged JSON
        works unchanged), compressed and encrypted as :meth:`encode` does, with encryption
        bound to the item AND the key name: a value moved to another key or another session
        fails to decrypt.
        """
        return self._seal(self.serializer.dumps({name: value}), value_aad(item_key, name))

    def decode_value(self, name: str, blob: bytes, *, item_key: str) -> Any:
        """Return the value :meth:`encode_value` stored for key ``name``; raise
        :class:`CorruptSessionError` (or :class:`SessionDecryptionError`) as :meth:`decode`."""
        data = self._open(blob, value_aad(item_key, name))
        if list(data) != [name]:
            raise CorruptSessionError(f"stored value of {name!r} names other keys")
        return data[name]

    def _seal(self, text: bytes, aad: str) -> bytes:
        """Serialized ``text`` as stored: marked, compressed if worth it, encrypted for ``aad``."""
        blob = PLAIN + text
        if len(text) > self.compress_threshold:
            packed = zlib.compress(text, self.compress_level)
            if len(packed) < len(text):
                blob = ZLIB + packed
        if self.keyring is not None:
            return ENCRYPTED + self.keyring.encrypt(blob, aad)
        return blob

    def _open(self, blob: bytes, aad: str) -> dict[str, Any]:
        """The mapping :meth:`_seal` stored in ``blob`` for ``aad``."""
        marker, body = blob[:1], blob[1:]
        if marker == ENCRYPTED:
            if self.keyring is None:
                raise SessionDecryptionError(
                    "session data is encrypted, but no encryption keys are configured "
                    "(AWS_DYNAMODB_SESSION_KEYS)"
                )
            blob = self.keyring.decrypt(body, aad)
            marker, body = blob[:1], blob[1:]
        elif self.keyring is not None and not self.accept_plaintext:
            raise SessionDecryptionError(
                "session data is not encrypted, but encryption is on "
                "(accept_unencrypted allows it while migrating)"
            )
        try:
            if marker == ZLIB:
                inflater = zlib.decompressobj()
                body = inflater.decompress(body, self.max_decoded_bytes)
                if inflater.unconsumed_tail:
                    raise ValueError(f"decompresses to over {self.max_decoded_bytes} bytes")
            elif marker != PLAIN:
                raise ValueError(f"unknown format marker {marker!r}")
            return self.serializer.loads(body)
        # RecursionError: JSON nested deeper than Python's stack (only a forged item is);
        # TypeError: a tagged serializer (Flask's) fed a well-formed tag with a wrong value.
        except (ValueError, TypeError, zlib.error, RecursionError) as exc:
            raise CorruptSessionError(f"stored session data cannot be decoded: {exc}") from exc

    def is_current(self, blob: bytes) -> bool:
        """Tell whether ``blob`` is stored as this codec writes now: encrypted with the newest
        key when encryption is on. A store rewrites an outdated blob when it next refreshes
        the item, so rotated-out keys fall out of use."""
        if self.keyring is None:
            return True
        return blob[:1] == ENCRYPTED and self.keyring.is_current(blob[1:])

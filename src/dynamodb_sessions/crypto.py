"""Authenticated encryption of session data at rest (opt-in; the ``crypto`` extra).

Turned on by giving the store keys: ``StoreConfig(encryption_keys=(...))`` or the environment
variable ``AWS_DYNAMODB_SESSION_KEYS`` (comma-separated). Each key is 16, 24 or 32 random bytes
in base64 (32 recommended: ``python -c "import os,base64;print(base64.b64encode(os.urandom(32))
.decode())"``). The first key is the newest: it encrypts every write; the others only decrypt,
so keys can be rotated by putting a new one first and dropping the oldest later.

An encrypted ``data`` attribute is the codec's marker ``b"E"`` followed by::

    key id (4 bytes) | salt (16) | nonce (12) | AES-GCM ciphertext of the inner blob + tag (16)

* The inner blob is what the codec would store unencrypted (``b"J"`` JSON or ``b"Z"`` zlib), so
  compression happens before encryption (see SECURITY.md on what sizes reveal).
* Each write encrypts under its own data key, derived by HKDF-SHA256 from the configured key and
  the random salt. AES-GCM's random 96-bit nonces limit one key to about 2**32 messages; fresh
  keys per message lift that limit, so a busy site need not rotate keys for volume.
* The associated data is the item's storage key, so a blob copied into another session's item
  fails authentication instead of being adopted by that session.
* The key id is an HMAC of the key (it reveals nothing about it) and tells which configured key
  to decrypt with. A blob whose key is not configured, or that fails authentication, raises
  :class:`~dynamodb_sessions.SessionDecryptionError`: never garbage data.

:mod:`cryptography` is imported only when a :class:`Keyring` is made, so installations that do
not encrypt never load it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .exceptions import ConfigurationError, SessionDecryptionError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEYS_ENV = "AWS_DYNAMODB_SESSION_KEYS"
KEY_SIZES = (16, 24, 32)
KEY_ID_BYTES = 4
SALT_BYTES = 16
NONCE_BYTES = 12
TAG_BYTES = 16
OVERHEAD = KEY_ID_BYTES + SALT_BYTES + NONCE_BYTES + TAG_BYTES
_AAD_PREFIX = b"dynamodb-sessions/v1/data:"
_HKDF_INFO = b"dynamodb-sessions/v1/data-key"


def parse_keys(keys: Sequence[str | bytes] | str) -> list[bytes]:
    """The raw bytes of ``keys`` (base64 strings or raw bytes; a string may hold several,
    comma-separated). Raises :class:`ConfigurationError` without ever quoting a key."""
    if isinstance(keys, str):
        keys = [part for part in keys.replace("\n", ",").split(",") if part.strip()]
    raw_keys = []
    for position, key in enumerate(keys, start=1):
        raw = key if isinstance(key, bytes) else _b64decode(key.strip(), position)
        if len(raw) not in KEY_SIZES:
            raise ConfigurationError(
                f"encryption key #{position} is {len(raw)} bytes; AES needs 16, 24 or 32 "
                "(32 recommended)"
            )
        raw_keys.append(raw)
    if len(set(raw_keys)) != len(raw_keys):
        raise ConfigurationError("the same encryption key is configured twice")
    return raw_keys


def key_id(key: bytes) -> bytes:
    """The 4-byte id stored with each blob: an HMAC of the key, so it reveals nothing of it."""
    return hmac.new(key, b"dynamodb-sessions/v1/key-id", hashlib.sha256).digest()[:KEY_ID_BYTES]


class Keyring:
    """The configured keys, newest first: encrypts with the first, decrypts with any.

    ``keys`` are base64 strings or raw bytes (see :func:`parse_keys`). Raises
    :class:`ConfigurationError` for a bad key, or when :mod:`cryptography` is not installed.
    The repr shows key ids, never keys.
    """

    def __init__(self, keys: Sequence[str | bytes] | str) -> None:
        raw_keys = parse_keys(keys)
        if not raw_keys:
            raise ConfigurationError(f"encryption needs at least one key ({KEYS_ENV})")
        try:
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
            from cryptography.hazmat.primitives.kdf.hkdf import HKDF
        except ImportError:
            raise ConfigurationError(
                'encryption needs the cryptography package: pip install "dynamodb-sessions[crypto]"'
            ) from None
        self._aesgcm = AESGCM
        self._hkdf = HKDF
        self._sha256 = hashes.SHA256
        self._keys = {key_id(raw): raw for raw in raw_keys}
        if len(self._keys) != len(raw_keys):
            raise ConfigurationError("two encryption keys share a key id; generate a new key")
        self.primary_id = key_id(raw_keys[0])

    def __repr__(self) -> str:
        ids = ", ".join(kid.hex() for kid in self._keys)
        return f"Keyring(key ids: {ids}; newest first)"

    def encrypt(self, plaintext: bytes, item_key: str) -> bytes:
        """Encrypt ``plaintext`` for the item stored under ``item_key``, with the newest key."""
        salt = os.urandom(SALT_BYTES)
        nonce = os.urandom(NONCE_BYTES)
        cipher = self._cipher(self._keys[self.primary_id], salt)
        sealed = cipher.encrypt(nonce, plaintext, _AAD_PREFIX + item_key.encode())
        return self.primary_id + salt + nonce + sealed

    def decrypt(self, blob: bytes, item_key: str) -> bytes:
        """Decrypt what :meth:`encrypt` made for ``item_key``.

        Raises :class:`SessionDecryptionError` if the blob is cut short, its key is not
        configured, or it fails authentication (tampered, moved from another item, wrong key).
        """
        from cryptography.exceptions import InvalidTag

        if len(blob) < OVERHEAD:
            raise SessionDecryptionError("encrypted session data is truncated")
        kid, salt = blob[:KEY_ID_BYTES], blob[KEY_ID_BYTES : KEY_ID_BYTES + SALT_BYTES]
        nonce_end = KEY_ID_BYTES + SALT_BYTES + NONCE_BYTES
        key = self._keys.get(kid)
        if key is None:
            raise SessionDecryptionError(
                f"session data was encrypted with key id {kid.hex()}, which is not configured "
                f"({KEYS_ENV} holds {', '.join(k.hex() for k in self._keys)}); a retired key?"
            )
        try:
            return self._cipher(key, salt).decrypt(
                blob[KEY_ID_BYTES + SALT_BYTES : nonce_end],
                blob[nonce_end:],
                _AAD_PREFIX + item_key.encode(),
            )
        except InvalidTag:
            raise SessionDecryptionError(
                f"encrypted session data failed authentication with key id {kid.hex()}: "
                "tampered with, or copied from another item"
            ) from None

    def is_current(self, blob: bytes) -> bool:
        """Tell whether ``blob`` (an encrypted body) was encrypted with the newest key."""
        return blob[:KEY_ID_BYTES] == self.primary_id

    def _cipher(self, key: bytes, salt: bytes) -> AESGCM:
        data_key = self._hkdf(
            algorithm=self._sha256(), length=32, salt=salt, info=_HKDF_INFO
        ).derive(key)
        return self._aesgcm(data_key)


def _b64decode(text: str, position: int) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(
            f"encryption key #{position} is not valid base64 ({KEYS_ENV})"
        ) from None

"""Encryption at rest: AES-GCM behind the codec's format marker, keys from configuration."""

import base64
import os
import subprocess
import sys

import pytest

from dynamodb_sessions import Codec, ConfigurationError, CorruptSessionError, StoreConfig
from dynamodb_sessions.crypto import OVERHEAD, Keyring, key_id, parse_keys
from dynamodb_sessions.exceptions import SessionDecryptionError

OLD, NEW = os.urandom(32), os.urandom(32)
ITEM = "3f" * 32


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def codec(*keys: bytes, **options) -> Codec:
    return Codec(keyring=Keyring(list(keys)), compress_threshold=64, **options)


def test_round_trip_plain_and_compressed():
    for data in ({"a": 1, "ü": "ö"}, {"text": "session " * 100}):
        blob = codec(NEW).encode(data, item_key=ITEM)
        assert blob.startswith(b"E") and b"session" not in blob and b'"a"' not in blob
        assert codec(NEW).decode(blob, item_key=ITEM) == data
    assert len(codec(NEW).encode({"text": "session " * 100}, item_key=ITEM)) < 200  # zlib first


def test_each_write_is_fresh_ciphertext():
    one, two = (codec(NEW).encode({"a": 1}, item_key=ITEM) for _ in range(2))
    assert one != two and len(one) == len(two) == 1 + OVERHEAD + len(b'J{"a":1}')


def test_rotation_decrypts_with_old_keys_and_encrypts_with_the_newest():
    old_blob = codec(OLD).encode({"a": 1}, item_key=ITEM)
    rotated = codec(NEW, OLD)
    assert rotated.decode(old_blob, item_key=ITEM) == {"a": 1}
    assert not rotated.is_current(old_blob)
    new_blob = rotated.encode({"a": 1}, item_key=ITEM)
    assert new_blob[1:5] == key_id(NEW) and rotated.is_current(new_blob)


def test_a_retired_or_wrong_key_is_a_clear_error_never_data():
    blob = codec(OLD).encode({"a": 1}, item_key=ITEM)
    with pytest.raises(SessionDecryptionError, match=f"key id {key_id(OLD).hex()}.*not configured"):
        codec(NEW).decode(blob, item_key=ITEM)
    with pytest.raises(SessionDecryptionError, match="no encryption keys are configured"):
        Codec().decode(blob, item_key=ITEM)


def test_a_blob_moved_to_another_item_fails_authentication():
    blob = codec(NEW).encode({"user": "admin"}, item_key=ITEM)
    with pytest.raises(SessionDecryptionError, match="failed authentication"):
        codec(NEW).decode(blob, item_key="00" * 32)


@pytest.mark.parametrize("position", [0, 1, 5, 21, 33, -1])
def test_any_flipped_bit_fails_authentication(position):
    blob = bytearray(codec(NEW).encode({"a": 1}, item_key=ITEM))
    blob[position] ^= 0x01
    with pytest.raises(CorruptSessionError):  # a SessionDecryptionError, or an unknown marker
        codec(NEW).decode(bytes(blob), item_key=ITEM)


def test_truncated_ciphertext():
    blob = codec(NEW).encode({"a": 1}, item_key=ITEM)
    for cut in (1, 5, 20, len(blob) - 1):
        with pytest.raises(SessionDecryptionError):
            codec(NEW).decode(blob[:cut], item_key=ITEM)


def test_plaintext_is_refused_while_encrypting_unless_migrating():
    plain = Codec().encode({"a": 1})
    with pytest.raises(SessionDecryptionError, match="not encrypted"):
        codec(NEW).decode(plain, item_key=ITEM)
    migrating = codec(NEW, accept_plaintext=True)
    assert migrating.decode(plain, item_key=ITEM) == {"a": 1}
    assert not migrating.is_current(plain)


def test_keys_are_checked_at_configuration_time_and_never_quoted():
    secret = "c2VjcmV0LWJ1dC10b28tc2hvcnQ="
    with pytest.raises(ConfigurationError, match="16, 24 or 32") as info:
        StoreConfig(table="t", encryption_keys=(secret,))
    assert secret not in str(info.value)
    with pytest.raises(ConfigurationError, match="not valid base64"):
        StoreConfig(table="t", encryption_keys=("not base64 at all!",))
    with pytest.raises(ConfigurationError, match="twice"):
        StoreConfig(table="t", encryption_keys=(b64(NEW), b64(NEW)))
    with pytest.raises(ConfigurationError, match="at least one key"):
        Keyring([])


def test_keys_come_from_the_environment_newest_first_and_stay_out_of_repr():
    env = {
        "AWS_DYNAMODB_SESSION_TABLE": "t",
        "AWS_DYNAMODB_SESSION_KEYS": f" {b64(NEW)} , {base64.urlsafe_b64encode(OLD).decode()}",
    }
    config = StoreConfig.from_env(env)
    assert [parse_keys(config.encryption_keys)] == [[NEW, OLD]]
    assert b64(NEW) not in repr(config)
    ring = Keyring(config.encryption_keys)
    assert ring.primary_id == key_id(NEW) and b64(NEW) not in repr(ring)


def test_cryptography_is_imported_only_when_encryption_is_configured():
    probe = (
        "import sys, dynamodb_sessions\n"
        "from dynamodb_sessions import SessionStore, StoreConfig, Connection\n"
        "from dynamodb_sessions.integrations import wsgi\n"
        "c = Connection(endpoint_url='http://127.0.0.1:9', region='us-east-1',"
        " access_key='x', secret_key='x')\n"
        "SessionStore(StoreConfig(table='t', connection=c))\n"
        "print('cryptography' in sys.modules)\n"
        f"SessionStore(StoreConfig(table='t', connection=c, encryption_keys=({b64(NEW)!r},)))\n"
        "print('cryptography' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert out == ["False", "True"]

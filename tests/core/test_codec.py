import pickle
import zlib

import pytest

from dynamodb_sessions import Codec, CorruptSessionError


def test_round_trip_plain_json():
    codec = Codec()
    blob = codec.encode({"a": 1, "b": ["x", None], "ü": "ö"})
    assert blob.startswith(b"J")
    assert codec.decode(blob) == {"a": 1, "b": ["x", None], "ü": "ö"}


def test_compression_above_the_threshold():
    codec = Codec(compress_threshold=100)
    data = {"text": "session " * 200}
    blob = codec.encode(data)
    assert blob.startswith(b"Z")
    assert len(blob) < 200
    assert codec.decode(blob) == data


def test_incompressible_data_stays_plain():
    import os

    codec = Codec(compress_threshold=10)
    data = {"noise": os.urandom(300).hex()}
    blob = codec.encode(data)
    assert blob.startswith(b"J") or len(blob) < len(codec.serializer.dumps(data))


def test_values_json_cannot_hold_are_refused_at_encode():
    with pytest.raises(TypeError):
        Codec().encode({"when": object()})


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"J{not json",
        b"J[1, 2]",
        b"Z" + b"not zlib",
        b"Z" + zlib.compress(b"\xff\xfe"),
        b"X{}",
        pickle.dumps({"a": 1}),
    ],
)
def test_anything_else_is_corrupt_never_unpickled(blob):
    with pytest.raises(CorruptSessionError):
        Codec().decode(blob)

"""JSON never loses data silently (issue 11, item 12): a session value either comes back from
the codec exactly as it went in (same types, same keys, at every depth) or the save raises
UnserializableSessionError before anything is written."""

from __future__ import annotations

import enum
import math
from collections import OrderedDict
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynamodb_sessions import Codec, SessionError, UnserializableSessionError
from strategies import json_values


class Colour(enum.IntEnum):
    RED = 1


class Name(str):
    pass


def same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (1 == 1.0 == True for ==)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


LOSSY = {
    "an int key beside its string twin": {"ids": {1: "a", "1": "b"}},
    "an int key": {1: "a"},
    "a deep int key": {"a": [{"b": {2: "x"}}]},
    "a bool key": {"m": {True: 1}},
    "a None key": {"m": {None: 1}},
    "a tuple": {"point": (1, 2)},
    "a set": {"tags": {"a"}},
    "bytes": {"raw": b"x"},
    "NaN": {"x": float("nan")},
    "infinity": {"x": [float("inf")]},
    "an IntEnum": {"colour": Colour.RED},
    "a str subclass": {"name": Name("ada")},
    "an OrderedDict": {"o": OrderedDict(a=1)},
    "an object": {"when": object()},
}


@pytest.mark.parametrize("data", LOSSY.values(), ids=LOSSY.keys())
def test_what_json_would_change_is_refused_at_encode(data):
    with pytest.raises(UnserializableSessionError) as info:
        Codec().encode(data)
    assert isinstance(info.value, SessionError) and isinstance(info.value, TypeError)


def test_the_error_says_where_the_value_is():
    with pytest.raises(
        UnserializableSessionError, match=r"session\['a'\]\[0\]\['b'\] has the key 2"
    ):
        Codec().encode({"a": [{"b": {2: "x"}}]})


# Values JSON holds, and values it does not, nested among them.
lossy_leaves = (
    st.tuples(st.integers())
    | st.sets(st.integers(), max_size=2)
    | st.sampled_from([float("nan"), float("inf"), -float("inf")])
    | st.binary(max_size=3)
    | st.just(Colour.RED)
)
mixed_values = st.recursive(
    json_values | lossy_leaves,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.text(max_size=5) | st.integers() | st.booleans() | st.none(), children, max_size=3
        )
    ),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=10), mixed_values, max_size=4))
def test_a_value_comes_back_exactly_or_is_refused(data):
    codec = Codec(compress_threshold=64)
    try:
        blob = codec.encode(data)
    except UnserializableSessionError:
        return
    assert same(codec.decode(blob), data)


@given(st.dictionaries(st.text(max_size=10), json_values, max_size=4))
def test_every_json_value_is_accepted_and_comes_back_exactly(data):
    codec = Codec()
    assert same(codec.decode(codec.encode(data)), data)

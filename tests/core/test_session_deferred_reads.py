"""A deferred session behaves like a loaded one (issue 11, item 6): every dict read path and
every attribute loads it first, sees its data and, for the data, counts as an access. A table
over the whole dict API: a dict method missing here is a read path nobody checked."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from dynamodb_sessions import Session
from dynamodb_sessions._core.items import StoredState

STATE = StoredState(version=3, created=100, accessed=200, timeout=None, expires=300, raw=b"")
DATA = {"cart": [1], "user": "ada"}
SID = "s" * 43


def loaded() -> Session:
    return Session(dict(DATA), session_id=SID, stored=STATE)


READS: dict[str, tuple[Callable[[Session], Any], Any]] = {
    "[]": (lambda s: s["user"], "ada"),
    "in": (lambda s: "cart" in s, True),
    "iter": (lambda s: sorted(iter(s)), ["cart", "user"]),
    "len": (len, 2),
    "bool": (bool, True),
    "==": (lambda s: s == DATA, True),
    "!=": (lambda s: s != DATA, False),
    "!= {}": (lambda s: s != {}, True),
    "reversed": (lambda s: list(reversed(s)), ["user", "cart"]),
    "get": (lambda s: s.get("user"), "ada"),
    "keys": (lambda s: sorted(s.keys()), ["cart", "user"]),
    "values": (lambda s: list(s.values()), [[1], "ada"]),
    "items": (lambda s: dict(s.items()), DATA),
    "copy": (lambda s: s.copy(), DATA),
    "|": (lambda s: s | {"x": 1}, {**DATA, "x": 1}),
    "| (right)": (lambda s: {"x": 1} | s, {"x": 1, **DATA}),
    "dict()": (dict, DATA),
    "**": (lambda s: {**s}, DATA),
    "copy.copy": (lambda s: dict(copy.copy(s)), DATA),
    "setdefault (present)": (lambda s: s.setdefault("user", "x"), "ada"),
}


@pytest.mark.parametrize("read", READS.values(), ids=READS.keys())
def test_every_read_of_a_deferred_session_loads_it_and_counts_as_access(read):
    call, expected = read
    session = Session.deferred(loaded)
    assert call(session) == expected
    assert session.is_loaded and session.accessed and not session.modified


WRITES: dict[str, Callable[[Session], Any]] = {
    "[]=": lambda s: s.__setitem__("x", 1),
    "del": lambda s: s.__delitem__("cart"),
    "|=": lambda s: s.__ior__({"x": 1}),
    "update": lambda s: s.update(x=1),
    "pop": lambda s: s.pop("cart"),
    "popitem": lambda s: s.popitem(),
    "setdefault (absent)": lambda s: s.setdefault("x", 1),
    "clear": lambda s: s.clear(),
}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_every_write_to_a_deferred_session_loads_it_first(write):
    session = Session.deferred(loaded)
    expected = dict(DATA)
    write(expected_session := Session(expected))  # the same change on a plain session
    write(session)
    assert session.to_dict() == expected_session.to_dict()
    assert session.session_id == SID and session.modified


ATTRIBUTES = {
    "session_id": SID,
    "stored": STATE,
    "created": 100,
    "is_new": False,
    "stale_cookie": False,
    "timeout": None,
    "user_id": None,
}


@pytest.mark.parametrize("name", ATTRIBUTES)
def test_every_attribute_of_a_deferred_session_loads_it_first(name):
    session = Session.deferred(loaded)
    assert getattr(session, name) == ATTRIBUTES[name]
    assert session.is_loaded and not session.accessed  # bookkeeping is not a read of the data


def test_the_dict_api_is_covered():
    """A new dict method (a new Python) must be added to a table above."""
    covered = {
        "__getitem__",
        "__contains__",
        "__iter__",
        "__len__",
        "__eq__",
        "__ne__",
        "__reversed__",
        "get",
        "keys",
        "values",
        "items",
        "copy",
        "__or__",
        "__ror__",
        "setdefault",
        "__setitem__",
        "__delitem__",
        "__ior__",
        "update",
        "pop",
        "popitem",
        "clear",
        "__repr__",
    }
    inert = {  # no data read: object plumbing, or a new object (fromkeys makes a new session)
        "__class_getitem__",
        "__hash__",
        "__init__",
        "__new__",
        "__sizeof__",
        "fromkeys",
        "__getattribute__",
        "__lt__",
        "__le__",
        "__gt__",
        "__ge__",
        "__init_subclass__",
    }
    for name in set(dir(dict)) - set(dir(object)) | {"__eq__", "__ne__", "__repr__"}:
        assert name in covered | inert, name
        if name in covered:
            assert name in Session.__dict__, f"Session does not override dict.{name}"


def test_a_failed_load_fails_every_later_access_with_the_same_error():
    class Down(Exception):
        pass

    def failing() -> Session:
        raise Down("DynamoDB is down")

    session = Session.deferred(failing)
    with pytest.raises(Down) as first:
        session.get("user")
    for access in (
        lambda: session["user"],
        lambda: session.__setitem__("user", "mallory"),
        lambda: session.session_id,
        lambda: session.stored,
        lambda: len(session),
    ):
        with pytest.raises(Down) as again:
            access()
        assert again.value is first.value
    assert not session.is_loaded and session.load_error is first.value
    assert dict.__len__(session) == 0  # nothing was written into it

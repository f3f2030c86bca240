"""Saves write only what changed (issue 14), against real engines: each key its own
attribute, requests changing different keys never conflict, limits fall back to the whole
write, and items of 0.1 (one ``data`` blob) load and are converted on their next write."""

from __future__ import annotations

import base64
import os

import pytest

from dynamodb_sessions import Codec, SaveOutcome, SessionStore
from dynamodb_sessions._core.lifecycle import CookieAction
from dynamodb_sessions.crypto import Keyring
from dynamodb_sessions.ids import new_session_id, storage_key


def new_stored(store: SessionStore, data: dict) -> str:
    session = store.load(None)
    session.update(data)
    store.finish(session)
    return session.session_id


def raw_item(store: SessionStore, session_id: str) -> dict | None:
    key = {"id": {"S": storage_key(session_id, store.config.key_prefix)}}
    reply = store.client.get_item(TableName=store.config.table, Key=key, ConsistentRead=True)
    return reply.get("Item")


def put_0_1_item(store: SessionStore, data: dict, *, codec: Codec | None = None) -> str:
    """Write an item exactly as 0.1 did (one ``data`` blob, the timeout on every item),
    with botocore, not through the library's writers."""
    session_id = new_session_id()
    key = storage_key(session_id, store.config.key_prefix)
    now = int(store.clock())
    blob = (codec or Codec()).encode(data, item_key=key)
    store.client.put_item(
        TableName=store.config.table,
        Item={
            "id": {"S": key},
            "data": {"B": blob},
            "expires": {"N": str(now + 10 * store.config.timeout)},
            "accessed": {"N": str(now)},
            "created": {"N": str(now)},
            "timeout": {"N": str(store.config.timeout)},
            "version": {"N": "1"},
        },
    )
    return session_id


def test_two_requests_changing_different_keys_each_cost_one_update(store, calls):
    sid = new_stored(store, {"shared": 0})
    a, b = store.load(sid), store.load(sid)
    a["a"] = 1
    b["b"] = 2
    calls.clear()
    assert store.save(a) is SaveOutcome.SAVED
    assert store.save(b) is SaveOutcome.SAVED  # b read before a's write: no conflict anyway
    assert calls == ["UpdateItem", "UpdateItem"]
    assert dict(store.load(sid)) == {"shared": 0, "a": 1, "b": 2}
    item = raw_item(store, sid)
    assert {"s:shared", "s:a", "s:b"} <= set(item) and "data" not in item
    assert item["version"] == {"N": "3"}


def test_the_same_key_changed_by_two_requests_is_last_writer_wins(store):
    sid = new_stored(store, {"n": 0})
    a, b = store.load(sid), store.load(sid)
    a["n"] = 1
    b["n"] = 2
    store.save(a)
    store.save(b)
    assert store.load(sid)["n"] == 2


def test_an_update_never_brings_back_a_deleted_session(store):
    sid = new_stored(store, {"a": 1})
    session = store.load(sid)
    session["b"] = 2
    store.delete(sid)
    assert store.save(session) is SaveOutcome.GONE
    assert raw_item(store, sid) is None


def test_many_keys_fall_back_to_the_whole_write(store, calls):
    sid = new_stored(store, {"a": 1})
    many = store.load(sid)
    many.update({f"key{i}": i for i in range(150)})  # over MAX_DELTA_KEYS
    calls.clear()
    assert store.save(many) is SaveOutcome.SAVED
    assert calls == ["UpdateItem"]
    assert dict(store.load(sid)) == {"a": 1, **{f"key{i}": i for i in range(150)}}


@pytest.mark.engines("dynalite", reason="moto answers 500 to attribute names of 20 KB")
def test_long_key_names_fall_back_to_the_whole_write_beyond_the_budget(store):
    sid = new_stored(store, {"a": 1})
    long = store.load(sid)
    names = [c * 20_000 for c in "xyz"]  # 60 KB of names: over MAX_DELTA_NAME_BYTES
    for name in names:
        long[name] = name[:3]
    del long["a"]
    assert store.save(long) is SaveOutcome.SAVED
    loaded = store.load(sid)
    assert all(loaded[name] == name[:3] for name in names) and "a" not in loaded

    within = store.load(sid)  # 100 keys with long names: one update of what changed
    within.update({f"{i:03d}" + "k" * 200: i for i in range(100)})
    assert store.save(within) is SaveOutcome.SAVED
    assert store.load(sid)[f"{99:03d}" + "k" * 200] == 99


def test_an_item_of_0_1_loads_and_its_next_write_converts_it(store, calls):
    sid = put_0_1_item(store, {"user": "ada", "cart": [1, 2]})
    session = store.load(sid)
    assert dict(session) == {"user": "ada", "cart": [1, 2]} and not session.is_new
    session["cart"].append(3)
    session.modified = True
    calls.clear()
    assert store.finish(session).action is CookieAction.SET
    assert calls == ["UpdateItem"]
    item = raw_item(store, sid)
    assert "data" not in item and "timeout" not in item
    assert {"s:user", "s:cart"} <= set(item)
    assert dict(store.load(sid)) == {"user": "ada", "cart": [1, 2, 3]}


def test_a_refresh_of_an_unchanged_0_1_item_converts_it_too(store, clock):
    sid = put_0_1_item(store, {"a": 1})
    clock.advance(store.config.timeout * store.config.touch_after)
    session = store.load(sid)
    assert session["a"] == 1
    store.finish(session)
    item = raw_item(store, sid)
    assert "data" not in item and item["s:a"]["B"] == b'J{"a":1}'


@pytest.mark.engines("dynalite", reason="encryption happens in the codec; one engine is enough")
def test_an_encrypted_0_1_item_is_converted_to_values_bound_to_their_key_names(config, clock):
    raw = os.urandom(32)
    store = SessionStore(
        config.replace(encryption_keys=(base64.b64encode(raw).decode(),)), clock=clock
    )
    sid = put_0_1_item(store, {"role": "admin", "x": 1}, codec=Codec(keyring=Keyring([raw])))
    session = store.load(sid)
    assert dict(session) == {"role": "admin", "x": 1}
    session["x"] = 2
    store.finish(session)
    item = raw_item(store, sid)
    assert "data" not in item and item["s:role"]["B"][:1] == b"E"
    assert dict(store.load(sid)) == {"role": "admin", "x": 2}


def test_a_save_writes_every_value_changed_and_no_other(config, clock):
    # Encrypted values are new bytes on every write, so the item tells which ones were written.
    # The save decodes again only what the session may have changed since its load: values
    # changed in place (a list, a dict) or replaced are written; a value set again to an equal
    # one, or untouched, is not.
    store = SessionStore(
        config.replace(encryption_keys=(base64.b64encode(os.urandom(32)).decode(),)), clock=clock
    )
    data = {
        "big": "x" * 3000,  # compressed
        "name": "ann",
        "n": 1,
        "ratio": 0.5,
        "none": None,
        "cart": [1],
        "prefs": {"a": 1},
        "same": [1, 2],
        "flag": True,
    }
    sid = new_stored(store, data)
    before = raw_item(store, sid)
    session = store.load(sid)
    session["cart"].append(2)  # in place
    session["prefs"]["b"] = 2  # in place
    session["same"] = [1, 2]  # an equal value: nothing to write
    session["name"] = "bob"
    session["ratio"] = 0.5  # equal, another object
    session.modified = True
    assert store.save(session) is SaveOutcome.SAVED
    after = raw_item(store, sid)
    written = {name[2:] for name in after if name.startswith("s:") and after[name] != before[name]}
    assert written == {"cart", "prefs", "name"}
    expected = {**data, "cart": [1, 2], "prefs": {"a": 1, "b": 2}, "name": "bob"}
    assert dict(store.load(sid)) == expected
    # A second save in the same request (Django's can) compares with what the first wrote.
    session["name"] = "ann"
    session["big"] = "y" * 3000
    assert store.save(session) is SaveOutcome.SAVED
    assert dict(store.load(sid)) == {**expected, "name": "ann", "big": "y" * 3000}
    session["name"] = "ann"  # as the first save left it: nothing to write
    assert store.save(session) is SaveOutcome.UNCHANGED

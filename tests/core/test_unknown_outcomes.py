"""Writes whose answer was lost: botocore re-sends them, and the re-send fails its condition on
the item the first send wrote. The flows recognise their own write instead of reporting a
conflict (which would merge and write again) or an id clash (which would create a second item).
"""

from flowscript import Script

from dynamodb_sessions import Codec, SaveOutcome, Session, StoreConfig
from dynamodb_sessions._core import flows
from dynamodb_sessions._core.flows import Failed, encode_values
from dynamodb_sessions._core.items import build_item, parse_item
from dynamodb_sessions.crypto import Keyring
from dynamodb_sessions.ids import new_session_id, storage_key

CONFIG = StoreConfig(table="t", timeout=100, max_conflict_retries=2)
CONFLICT = Failed("ConditionalCheckFailedException")
KEY = b"k" * 32


def landed(steps):
    """The item as the last write left it: a GetItem reply echoing what was written."""
    params = steps[-1].params
    if "Item" in params:  # PutItem
        return {"Item": params["Item"]}
    names = params["ExpressionAttributeNames"]
    values = params["ExpressionAttributeValues"]
    item = {names["#" + k[1:]]: v for k, v in values.items() if k.startswith(":a")}
    item["id"] = params["Key"]["id"]
    return {"Item": item}


def loaded(codec, data, *, version=1):
    sid = new_session_id()
    key = storage_key(sid)
    item = build_item(
        key,
        encode_values(codec, data, key),
        now=0,
        created=0,
        timeout=100,
        version=version,
        user_id=None,
        config=CONFIG,
    )
    return Session(data, session_id=sid, stored=parse_item(item, CONFIG.attributes))


def test_a_create_that_landed_is_not_made_twice():
    for codec in (Codec(), Codec(keyring=Keyring([KEY]))):
        session = Session({"a": 1})
        first_id = session.session_id
        script = Script(flows.create(CONFIG, codec, session, now=0))
        script.run(CONFLICT, lambda steps: landed(steps[:-1]))
        assert script.operations == ["put_item", "get_item"]  # no second put under a new id
        assert session.session_id == first_id and not session.is_new


def test_a_save_that_landed_is_not_merged_and_written_again():
    """The whole-session write (here after a clear) is conditional on the version: its re-send
    fails on the item it wrote. (An update of what changed is not: its re-send just lands.)"""
    for codec in (Codec(), Codec(keyring=Keyring([KEY]))):
        session = loaded(codec, {"a": 1})
        session.clear()
        session.update({"a": 1, "b": 2})
        script = Script(flows.save(CONFIG, codec, session, now=10))
        outcome = script.run(CONFLICT, lambda steps: landed(steps[:-1]))
        assert outcome is SaveOutcome.SAVED
        assert script.operations == ["update_item", "get_item"]  # one write, then a read
        assert session.stored.version == 2 and dict(session) == {"a": 1, "b": 2}


def test_a_real_conflict_is_still_merged():
    codec = Codec(keyring=Keyring([KEY]))
    session = loaded(codec, {"a": 1})
    session["b"] = 2
    key = storage_key(session.session_id)
    other = build_item(
        key,
        encode_values(codec, {"a": 1, "c": 3}, key),
        now=5,
        created=0,
        timeout=100,
        version=2,
        user_id=None,
        config=CONFIG,
    )
    script = Script(flows.save(CONFIG, codec, session, now=10))
    assert script.run(CONFLICT, {"Item": other}, {}) is SaveOutcome.SAVED
    assert script.operations == ["update_item", "get_item", "update_item"]
    assert dict(session) == {"a": 1, "b": 2, "c": 3} and session.stored.version == 3

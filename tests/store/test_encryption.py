"""Encryption at rest through a real engine: what DynamoDB holds, rotation, and moved items."""

import base64
import logging
import os

import pytest

from dynamodb_sessions import SessionStore
from dynamodb_sessions.crypto import key_id
from dynamodb_sessions.ids import storage_key

OLD, NEW = os.urandom(32), os.urandom(32)
pytestmark = pytest.mark.engines(
    "dynalite", reason="encryption happens in the codec, before the engine; one engine is enough"
)


def keys(*raw: bytes) -> tuple[str, ...]:
    return tuple(base64.b64encode(k).decode() for k in raw)


def stored_blob(store, session_id, name):
    key = storage_key(session_id, store.config.key_prefix)
    item = store.client.get_item(TableName=store.config.table, Key={"id": {"S": key}})["Item"]
    return item["s:" + name]["B"]


def test_the_table_holds_only_ciphertext(config, clock):
    store = SessionStore(config.replace(encryption_keys=keys(NEW)), clock=clock)
    session = store.load(None)
    session["card"] = "4111 1111 1111 1111"
    store.finish(session)
    blob = stored_blob(store, session.session_id, "card")
    assert blob[:1] == b"E" and b"4111" not in blob
    assert dict(store.load(session.session_id)) == {"card": "4111 1111 1111 1111"}


def test_rotation_reads_old_sessions_and_rewrites_them_under_the_new_key(config, clock):
    before = SessionStore(config.replace(encryption_keys=keys(OLD)), clock=clock)
    session = before.load(None)
    session["a"] = 1
    before.finish(session)
    sid = session.session_id

    after = SessionStore(config.replace(encryption_keys=keys(NEW, OLD)), clock=clock)
    assert dict(after.load(sid)) == {"a": 1}  # decrypted with the old key
    assert stored_blob(after, sid, "a")[1:5] == key_id(OLD)
    clock.advance(config.timeout * config.touch_after)  # a refresh is due: it re-encrypts
    reread = after.load(sid)
    assert reread["a"] == 1
    after.finish(reread)
    assert stored_blob(after, sid, "a")[1:5] == key_id(NEW)

    retired = SessionStore(config.replace(encryption_keys=keys(NEW)), clock=clock)
    assert dict(retired.load(sid)) == {"a": 1}  # the old key is no longer needed


def test_a_blob_copied_into_another_session_is_not_adopted(config, clock, caplog):
    store = SessionStore(config.replace(encryption_keys=keys(NEW)), clock=clock)
    victim, attacker = store.load(None), store.load(None)
    victim["role"] = "admin"
    attacker["role"] = "guest"
    store.finish(victim)
    store.finish(attacker)
    # Someone with write access to the table copies the admin's data into their own item.
    key = storage_key(attacker.session_id)
    store.client.update_item(
        TableName=config.table,
        Key={"id": {"S": key}},
        UpdateExpression="SET #d = :d",
        ExpressionAttributeNames={"#d": "s:role"},
        ExpressionAttributeValues={":d": {"B": stored_blob(store, victim.session_id, "role")}},
    )
    with caplog.at_level(logging.WARNING, logger="dynamodb_sessions"):
        loaded = store.load(attacker.session_id)
    assert dict(loaded) == {} and loaded.session_id != attacker.session_id
    assert "failed authentication" in caplog.text
    assert attacker.session_id not in caplog.text


def test_a_value_moved_to_another_key_is_not_adopted(config, clock, caplog):
    """Each value is bound to its key name too: copying the ``role`` value of a session into
    its ``is_admin`` key (same item, so the item binding alone would accept it) fails."""
    store = SessionStore(config.replace(encryption_keys=keys(NEW)), clock=clock)
    session = store.load(None)
    session["role"] = True
    session["is_admin"] = False
    store.finish(session)
    key = storage_key(session.session_id)
    store.client.update_item(
        TableName=config.table,
        Key={"id": {"S": key}},
        UpdateExpression="SET #d = :d",
        ExpressionAttributeNames={"#d": "s:is_admin"},
        ExpressionAttributeValues={":d": {"B": stored_blob(store, session.session_id, "role")}},
    )
    with caplog.at_level(logging.WARNING, logger="dynamodb_sessions"):
        loaded = store.load(session.session_id)
    assert dict(loaded) == {} and loaded.stale_cookie
    assert "failed authentication" in caplog.text


def test_a_wrong_key_yields_a_new_session_never_garbage(config, clock, caplog):
    writer = SessionStore(config.replace(encryption_keys=keys(OLD)), clock=clock)
    session = writer.load(None)
    session["a"] = 1
    writer.finish(session)
    reader = SessionStore(config.replace(encryption_keys=keys(NEW)), clock=clock)
    with caplog.at_level(logging.WARNING, logger="dynamodb_sessions"):
        loaded = reader.load(session.session_id)
    assert dict(loaded) == {} and loaded.stale_cookie
    assert "not configured" in caplog.text

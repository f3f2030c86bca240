"""Writing without reading (issue 14, item 6) against both engines, calls counted where the
store makes them (either transport): a deferred session given only keys is saved by one
UpdateItem and no GetItem; the update's condition refuses what a read would have refused, and
then the session is read after all."""

from __future__ import annotations

import secrets

import pytest

from dynamodb_sessions import Session, SessionStore, SessionTooLargeError
from dynamodb_sessions._core.lifecycle import CookieAction
from dynamodb_sessions.config import LockSettings
from dynamodb_sessions.ids import storage_key


def new_stored(store: SessionStore, data: dict, *, timeout: int | None = None) -> str:
    session = store.load(None)
    session.update(data)
    session.timeout = timeout
    store.finish(session)
    return session.session_id


def deferred(store: SessionStore, sid: str) -> Session:
    """What WSGI and Flask hand a request whose cookie is ``sid``."""
    return Session.deferred(lambda: store.load(sid), session_id=sid)


def raw_item(store: SessionStore, sid: str) -> dict | None:
    key = {"id": {"S": storage_key(sid, store.config.key_prefix)}}
    reply = store.client.get_item(TableName=store.config.table, Key=key, ConsistentRead=True)
    return reply.get("Item")


def test_keys_set_and_never_read_cost_one_update_and_no_read(store, calls, clock):
    sid = new_stored(store, {"user": "ada", "theme": "light"})
    clock.advance(30)
    first, second = deferred(store, sid), deferred(store, sid)
    first["theme"] = "dark"
    second["lang"] = "en"  # another request at once, another key: both kept, no conflict
    calls.clear()
    update = store.finish(first)
    store.finish(second)
    assert calls == ["UpdateItem", "UpdateItem"]
    assert update.action is CookieAction.SET and update.value == sid
    assert first.to_dict() == {"user": "ada", "theme": "dark"}  # the item the update answered
    assert dict(store.load(sid)) == {"user": "ada", "theme": "dark", "lang": "en"}
    item = raw_item(store, sid)
    assert item["accessed"] == {"N": str(int(clock.now))} and item["version"] == {"N": "3"}


@pytest.mark.parametrize("ended", ["deleted", "expired", "absolute timeout"])
def test_a_refused_blind_write_leaves_the_old_item_alone(store, calls, clock, ended):
    if ended == "absolute timeout":
        store = SessionStore(store.config.replace(absolute_timeout=600), clock=clock)
        calls.attach(store)
    sid = new_stored(store, {"user": "ada"})
    if ended == "deleted":
        store.delete(sid)
    elif ended == "expired":
        clock.advance(store.config.timeout)
    else:  # idle for a moment only, but past the absolute timeout
        clock.advance(601)
    before = raw_item(store, sid)
    session = deferred(store, sid)
    session["theme"] = "dark"
    calls.clear()
    update = store.finish(session)
    assert calls == ["UpdateItem", "GetItem", "PutItem"]
    assert raw_item(store, sid) == before  # not written: nothing of it comes back
    assert update.value != sid and dict(store.load(update.value)) == {"theme": "dark"}


def test_a_pinned_timeout_is_read_first_and_kept(store, calls, clock):
    pinned = 3 * store.config.timeout
    sid = new_stored(store, {"user": "ada"}, timeout=pinned)
    clock.advance(2 * store.config.timeout)  # valid by its own timeout only
    session = deferred(store, sid)
    session["theme"] = "dark"
    calls.clear()
    update = store.finish(session)
    assert calls == ["UpdateItem", "GetItem", "UpdateItem"]
    assert update.value == sid and update.max_age == pinned
    loaded = store.load(sid)
    assert dict(loaded) == {"user": "ada", "theme": "dark"} and loaded.timeout == pinned


def test_over_dynamodbs_size_limit_nothing_is_written_and_the_guard_raises(store, calls):
    sid = new_stored(store, {"big": secrets.token_urlsafe(300_000)})  # random: incompressible
    before = raw_item(store, sid)
    session = deferred(store, sid)
    session["more"] = secrets.token_urlsafe(150_000)
    calls.clear()
    with pytest.raises(SessionTooLargeError):
        store.finish(session)
    # DynamoDB refused the update (ValidationException); the read gave the guard its item.
    assert calls == ["UpdateItem", "GetItem"]
    assert raw_item(store, sid) == before


@pytest.mark.engines("dynalite", reason="lock mode relies on atomic conditional writes")
def test_lock_mode_reads_first_under_the_lock(config, clock, call_log):
    store = SessionStore(config.replace(lock=LockSettings()), clock=clock)
    calls = call_log().attach(store)
    sid = new_stored(store, {"user": "ada"})
    session = deferred(store, sid)
    session["theme"] = "dark"
    calls.clear()
    store.finish(session)
    assert calls == ["UpdateItem", "UpdateItem"]  # the lock taken (item returned), then saved
    item = raw_item(store, sid)
    assert "lock_owner" not in item
    assert dict(store.load(sid)) == {"user": "ada", "theme": "dark"}

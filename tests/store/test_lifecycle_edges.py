"""The session lifecycle at its edges, through the public store API against real engines
(issue 11): a timeout change reaches stored sessions, emptying a session never erases a
concurrent writer's keys, an expired session stays expired whatever a late write tries,
rotation never extends the absolute timeout, and a deferred session is the session it names.

These are the spec that a later rewrite of the save path (per-key delta updates) must keep."""

from __future__ import annotations

import pytest

from dynamodb_sessions import Session, SessionStore
from dynamodb_sessions._core.flows import SaveOutcome
from dynamodb_sessions._core.lifecycle import CookieAction
from dynamodb_sessions.ids import storage_key

CONCURRENT = pytest.mark.engines(
    "dynalite", reason="conditional writes racing: moto is not atomic under concurrency"
)


def new_stored(store: SessionStore, data: dict, *, timeout: int | None = None) -> str:
    session = store.load(None)
    session.update(data)
    if timeout is not None:
        session.timeout = timeout
    store.finish(session)
    return session.session_id


def raw_item(store: SessionStore, session_id: str) -> dict | None:
    key = storage_key(session_id, store.config.key_prefix)
    reply = store.client.get_item(TableName=store.config.table, Key={"id": {"S": key}})
    return reply.get("Item")


def with_config(store: SessionStore, **changes: object) -> SessionStore:
    """The same table (and clock) under another configuration: a redeploy."""
    return SessionStore(store.config.replace(**changes), clock=store.clock, client=store.client)


# -- 1. a timeout change applies to stored sessions -------------------------------------------


def test_lowering_the_configured_timeout_applies_to_stored_sessions(store, clock):
    sid = new_stored(store, {"a": 1})
    assert "timeout" not in raw_item(store, sid) and "pinned_timeout" not in raw_item(store, sid)
    clock.advance(store.config.timeout // 2)
    store.finish(store.load(sid), always_save=True)  # refreshed: written again by the old config

    lowered = with_config(store, timeout=100)
    clock.advance(101)
    assert lowered.load(sid).is_new  # the new timeout is in force, not the one of the old writes


def test_a_timeout_set_for_one_session_is_kept_and_flush_forgets_it(store, clock):
    sid = new_stored(store, {"a": 1}, timeout=50_000)
    assert raw_item(store, sid)["pinned_timeout"] == {"N": "50000"}
    lowered = with_config(store, timeout=100)
    clock.advance(1000)
    session = lowered.load(sid)
    assert session == {"a": 1} and session.timeout == 50_000  # pinned: still valid

    session.flush()  # log out, and log in again in the same request
    session["user"] = "ada"
    lowered.finish(session)
    assert "pinned_timeout" not in raw_item(lowered, session.session_id)
    clock.advance(101)
    assert lowered.load(session.session_id).is_new


def test_an_item_written_by_0_1_follows_the_configured_timeout(store, clock):
    """0.1 wrote the timeout then in force into every item: it is ignored, and a save drops it."""
    sid = new_stored(store, {"a": 1})
    key = {"id": {"S": storage_key(sid)}}
    store.client.update_item(
        TableName=store.config.table,
        Key=key,
        UpdateExpression="SET #t = :t",
        ExpressionAttributeNames={"#t": "timeout"},
        ExpressionAttributeValues={":t": {"N": str(store.config.timeout)}},
    )
    lowered = with_config(store, timeout=100)
    clock.advance(50)
    session = lowered.load(sid)
    assert session.timeout is None and session["a"] == 1
    session["b"] = 2
    lowered.finish(session)
    assert "timeout" not in raw_item(lowered, sid)
    clock.advance(101)
    assert lowered.load(sid).is_new


# -- 2. emptying a session is a conditional change --------------------------------------------


@CONCURRENT
def test_popping_the_last_key_keeps_what_a_concurrent_request_saved(store):
    sid = new_stored(store, {"flash": "saved!"})
    a = store.load(sid)  # request A reads the session...
    b = store.load(sid)
    b["cart"] = [1]  # ...request B saves a cart meanwhile...
    store.finish(b)
    assert a.pop("flash") == "saved!"  # ...and A pops the flash message, its last key
    update = store.finish(a)
    assert store.load(sid) == {"cart": [1]}
    assert update.action is CookieAction.SET  # the session still has data: the cookie stays
    assert update.value == sid


@CONCURRENT
def test_an_emptied_session_is_deleted_when_the_merged_result_is_still_empty(store):
    sid = new_stored(store, {"flash": "one"})
    a, b = store.load(sid), store.load(sid)
    b["flash"] = "two"  # B changes the very key A removes: A's removal wins the merge
    store.finish(b)
    a.pop("flash")
    assert store.finish(a).action is CookieAction.DELETE
    assert raw_item(store, sid) is None


def test_an_emptied_session_is_deleted_and_its_cookie_with_it(store, calls):
    sid = new_stored(store, {"flash": "hi"})
    session = store.load(sid)
    session.pop("flash")
    calls.clear()
    assert store.finish(session).action is CookieAction.DELETE
    # The update removing the key answers with what is left (nothing), then the delete.
    assert calls == ["UpdateItem", "DeleteItem"]
    assert raw_item(store, sid) is None


def test_log_out_deletes_whatever_was_written_meanwhile(store):
    sid = new_stored(store, {"user": "ada"})
    a, b = store.load(sid), store.load(sid)
    b["cart"] = [1]
    store.finish(b)
    a.flush()  # an explicit log-out deletes the item unconditionally
    assert store.finish(a).action is CookieAction.DELETE
    assert raw_item(store, sid) is None


# -- 4. an expired session stays expired ------------------------------------------------------


@pytest.mark.parametrize("late", ["save", "touch", "empty"])
def test_a_write_after_expiry_never_revives_the_session(store, clock, late):
    sid = new_stored(store, {"a": 1, "b": 2})
    clock.advance(store.config.timeout - 10)
    session = store.load(sid)  # valid when read...
    before = raw_item(store, sid)
    if late == "save":
        session["a"] = 3
    elif late == "empty":
        session.clear()
    else:
        session.get("a")  # read only: the end of the request refreshes the expiry
    clock.advance(20)  # ...expired when written
    update = store.finish(session, always_save=True)
    assert raw_item(store, sid) == before  # not written, not deleted: left to expire
    assert store.load(sid).is_new
    assert update.action is CookieAction.DELETE  # the session is over: its cookie goes
    assert session.is_new and session.session_id != sid and dict(session) == {}


def test_a_save_after_expiry_reports_gone_and_a_second_save_revives_nothing(store, clock):
    sid = new_stored(store, {"a": 1})
    session = store.load(sid)
    before = raw_item(store, sid)
    session["a"] = 2
    clock.advance(store.config.timeout + 1)
    assert store.save(session) is SaveOutcome.GONE
    assert session.session_id != sid and dict(session) == {}  # a new, empty session now
    session["b"] = 1
    store.save(session)  # a caller that saves again stores a new session, under a new id
    assert raw_item(store, sid) == before
    assert store.load(sid).is_new
    assert store.load(session.session_id) == {"b": 1}


def test_the_absolute_timeout_holds_against_a_write_in_flight(store, clock):
    strict = with_config(store, absolute_timeout=1000)
    sid = new_stored(strict, {"a": 1})
    clock.advance(990)
    session = strict.load(sid)
    session["a"] = 2
    clock.advance(20)  # the idle timeout is far off; the absolute one passed meanwhile
    assert strict.save(session) is SaveOutcome.GONE
    assert with_config(store).load(sid)["a"] == 1  # without the limit: as it was, not written


def test_a_write_that_finds_the_session_refreshed_by_another_request_still_lands(store, clock):
    """Validity is the item's, not the reader's: a session refreshed since it was read is
    valid, so a write after the reader's copy would have expired succeeds."""
    sid = new_stored(store, {"a": 1})
    clock.advance(store.config.timeout - 10)
    slow = store.load(sid)
    store.finish(store.load(sid), always_save=True)  # another request refreshes it now
    clock.advance(20)
    slow["a"] = 2
    assert store.save(slow) is SaveOutcome.SAVED
    assert store.load(sid)["a"] == 2


# -- 5. rotation never extends the absolute timeout -------------------------------------------


def test_rotating_every_200_s_never_extends_an_absolute_timeout_of_1000_s(store, clock):
    strict = with_config(store, absolute_timeout=1000)
    sid = new_stored(strict, {"user": "ada"})
    for _ in range(4):  # at 200, 400, 600 and 800 s
        clock.advance(200)
        session = strict.load(sid)
        assert not session.is_new
        session.rotate()
        strict.finish(session)
        sid = session.session_id
    clock.advance(200)  # 1000 s after the session began
    assert strict.load(sid).is_new


# -- 6. a deferred session behaves like a loaded one ------------------------------------------


def test_an_untouched_deferred_session_is_the_one_its_cookie_names(store, calls):
    sid = new_stored(store, {"a": 1})
    session = Session.deferred(lambda: store.load(sid))
    assert session.session_id == sid  # loads first: never a placeholder id
    deferred = Session.deferred(lambda: store.load(sid))
    assert deferred.created == store.load(sid).created
    untouched = Session.deferred(lambda: store.load(sid))
    calls.clear()
    assert store.save(untouched) is SaveOutcome.UNCHANGED  # no second item under a new id
    assert calls == ["GetItem"]
    assert untouched.session_id == sid


# -- 12. JSON never loses data silently -------------------------------------------------------


def test_data_json_cannot_hold_raises_before_any_write(store, calls):
    from dynamodb_sessions import UnserializableSessionError

    sid = new_stored(store, {"a": 1})
    session = store.load(sid)
    session["ids"] = {1: "a", "1": "b"}  # JSON would keep only {"1": "b"}
    calls.clear()
    with pytest.raises(UnserializableSessionError, match="ids"):
        store.finish(session)
    assert calls == []
    assert store.load(sid) == {"a": 1}

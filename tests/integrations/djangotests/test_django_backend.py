"""The behaviours Django's own session test suite (``SessionTestsMixin``) asserts of every
backend, here against a real local engine; plus what this backend adds (versioned, merged
saves; expiry mapped to the stored timeout)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest
from django.conf import settings
from django.contrib.sessions.backends.base import CreateError, UpdateError
from django.test import override_settings
from django.utils import timezone as django_timezone

from dynamodb_sessions.ids import is_well_formed, new_session_id, storage_key
from dynamodb_sessions.integrations import django as engine_module
from dynamodb_sessions.integrations.django import SessionStore


@pytest.fixture
def session(store):
    """A new, empty Django session on this test's table."""
    return SessionStore()


@pytest.fixture
def unsaved():
    """A new Django session for tests that never reach DynamoDB (no table needed)."""
    return SessionStore()


def stored_session(**data) -> SessionStore:
    session = SessionStore()
    session.update(data)
    session.save()
    return session


def raw_item(store, session_id):
    key = {store.config.attributes.key: {"S": storage_key(session_id, store.config.key_prefix)}}
    reply = store.client.get_item(TableName=store.config.table, Key=key, ConsistentRead=True)
    return reply.get("Item")


# -- flags and mapping behaviour (SessionBase over this backend) --------------------------------


def test_a_new_session_is_neither_accessed_nor_modified(unsaved):
    assert unsaved.modified is False
    assert unsaved.accessed is False
    assert unsaved.get("cat") is None


def test_setting_marks_modified_and_pop_returns_the_value(unsaved):
    unsaved["cat"] = "dog"
    assert unsaved.modified is True
    assert unsaved.pop("cat") == "dog"
    assert unsaved.get("cat") is None


def test_pop_of_a_missing_key_reads_without_modifying(unsaved):
    assert unsaved.pop("some key", "default") == "default"
    assert unsaved.accessed is True
    assert unsaved.modified is False
    with pytest.raises(KeyError):
        unsaved.pop("some key")


def test_setdefault_and_update_modify(unsaved):
    assert unsaved.setdefault("foo", "bar") == "bar"
    assert unsaved.setdefault("foo", "baz") == "bar"
    unsaved.update({"n": 1})
    assert unsaved.accessed is True
    assert unsaved.modified is True
    assert unsaved.get("n") == 1


@pytest.mark.parametrize(
    "read",
    [
        lambda s: "x" in s,
        lambda s: list(s.keys()),
        lambda s: list(s.values()),
        lambda s: list(s.items()),
    ],
    ids=["contains", "keys", "values", "items"],
)
def test_reading_marks_accessed_only(unsaved, read):
    unsaved["x"] = 1
    unsaved.accessed = unsaved.modified = False
    read(unsaved)
    assert unsaved.accessed is True
    assert unsaved.modified is False


def test_clear_empties_and_marks_both(unsaved):
    unsaved["x"] = 1
    unsaved.accessed = unsaved.modified = False
    unsaved.clear()
    assert list(unsaved.items()) == []
    assert unsaved.accessed is True
    assert unsaved.modified is True


# -- storage ------------------------------------------------------------------------------------


def test_saved_session_exists_and_survives_a_reload(store):
    session = stored_session(a="b")
    assert is_well_formed(session.session_key)
    assert session.exists(session.session_key) is True
    assert session["a"] == "b"  # saving keeps the data in hand
    reloaded = SessionStore(session.session_key)
    assert reloaded["a"] == "b"
    assert reloaded.session_key == session.session_key


def test_delete_removes_the_record(store):
    session = stored_session(a="b")
    session.delete(session.session_key)
    assert session.exists(session.session_key) is False
    assert raw_item(store, session.session_key) is None


def test_flush_deletes_the_record_and_forgets_the_key(store):
    session = stored_session(foo="bar")
    old_key = session.session_key
    session.flush()
    assert session.exists(old_key) is False
    assert session.session_key is None
    assert session.modified is True
    assert session.accessed is True


def test_cycle_key_keeps_the_data_and_drops_the_old_record(store):
    session = stored_session(a="c", b="d")
    old_key = session.session_key
    before = list(session.items())
    session.cycle_key()
    assert session.session_key != old_key
    assert session.exists(old_key) is False
    assert list(session.items()) == before
    assert SessionStore(session.session_key).get("b") == "d"


def test_cycle_key_every_200_s_never_extends_an_absolute_timeout_of_1000_s(store, clock):
    strict = SessionStore  # Django's backend class, over a store with the absolute timeout
    engine_module.set_store(
        type(store)(store.config.replace(absolute_timeout=1000), clock=clock, client=store.client)
    )
    session = strict()
    session["user"] = "ada"
    session.save()
    for _ in range(4):  # a log-in (cycle_key) at 200, 400, 600 and 800 s
        clock.advance(200)
        session = strict(session.session_key)
        assert session["user"] == "ada"
        session.cycle_key()
    clock.advance(200)  # 1000 s after the session began
    assert strict(session.session_key).load() == {}


def test_acycle_key_keeps_the_creation_time_too(store, clock):
    from asgiref.sync import async_to_sync

    session = stored_session(user="ada")
    created = store.load(session.session_key).created
    clock.advance(200)
    again = SessionStore(session.session_key)
    async_to_sync(again.acycle_key)()
    assert again.session_key != session.session_key
    assert store.load(again.session_key).created == created


def test_cycle_key_of_a_session_not_loaded_yet(store):
    old = stored_session(a="c", b="d")
    session = SessionStore(old.session_key)
    session.cycle_key()
    assert sorted(session.items()) == [("a", "c"), ("b", "d")]
    assert session.exists(old.session_key) is False


@pytest.mark.parametrize("key", ["", "1", "1234567", "12345678", "x" * 43 + "!", "a" * 44])
def test_an_invalid_key_is_absent_and_never_reused(store, key):
    session = SessionStore(key)
    assert session.session_key is None
    assert session.get("cat") is None
    session["cat"] = "dog"
    session.save()
    assert session.session_key != key
    assert is_well_formed(session.session_key)


def test_loading_an_unknown_key_creates_no_record(store):
    unknown = new_session_id()
    session = SessionStore(unknown)
    assert session.load() == {}
    assert session.session_key is None
    assert session.exists(unknown) is False
    assert raw_item(store, unknown) is None


def test_session_key_is_read_only(unsaved):
    with pytest.raises(AttributeError):
        unsaved.session_key = new_session_id()


def test_must_create_on_an_existing_key_raises_create_error(store):
    existing = stored_session(a=1)
    clash = SessionStore(existing.session_key)
    clash["b"] = 2
    with pytest.raises(CreateError):
        clash.save(must_create=True)
    assert SessionStore(existing.session_key).load() == {"a": 1}


def test_a_session_deleted_meanwhile_is_not_resurrected(store):
    first = SessionStore()
    first["test_data"] = "value1"
    first.save(must_create=True)
    key = first.session_key
    SessionStore(key).delete()  # log out in another request
    first["test_data"] = "value2"
    with pytest.raises(UpdateError):
        first.save()
    assert first.load() == {}
    assert raw_item(store, key) is None


def test_concurrent_changes_to_different_keys_are_all_kept(store):
    key = stored_session(shared=0).session_key
    mine, theirs = SessionStore(key), SessionStore(key)
    mine["mine"] = mine["shared"] + 1  # both requests load the same version
    theirs["theirs"] = theirs["shared"] + 2
    theirs.save()
    mine.save()  # writes only "mine": no conflict with "theirs"
    assert "theirs" not in mine  # this request holds what it read and changed
    mine["again"] = True
    mine.save()  # a second save must not read "theirs" as deleted
    assert SessionStore(key).load() == {"shared": 0, "mine": 1, "theirs": 2, "again": True}


def test_a_clear_then_save_replaces_the_stored_data(store):
    key = stored_session(a=1, b=2).session_key
    session = SessionStore(key)
    session.clear()  # never loaded: the save reads the record it replaces
    session["c"] = 3
    session.save()
    assert SessionStore(key).load() == {"c": 3}


def test_clear_of_a_session_deleted_meanwhile_raises_update_error(store):
    key = stored_session(a=1).session_key
    session = SessionStore(key)
    session.clear()
    SessionStore(key).delete()
    with pytest.raises(UpdateError):
        session.save()


def test_corrupt_data_loads_as_an_empty_session_with_a_warning(store, caplog):
    key = stored_session(a=1).session_key
    names = store.config.attributes
    store.client.update_item(
        TableName=store.config.table,
        Key={names.key: {"S": storage_key(key, store.config.key_prefix)}},
        UpdateExpression="SET #d = :d",
        ExpressionAttributeNames={"#d": names.data},
        ExpressionAttributeValues={":d": {"B": b"\x00not a session"}},
    )
    with caplog.at_level(logging.WARNING, logger="dynamodb_sessions"):
        session = SessionStore(key)
        assert session.load() == {}
    assert session.session_key is None
    assert any("corrupt" in record.getMessage() for record in caplog.records)
    assert key not in caplog.text  # the id itself is never logged


def test_the_logged_in_user_is_recorded_with_the_session(store):
    session = stored_session(_auth_user_id="42")
    assert store.load(session.session_key).user_id == "42"


# -- expiry -------------------------------------------------------------------------------------


def test_default_and_zero_expiry_use_session_cookie_age(store, session):
    assert session.get_expiry_age() == settings.SESSION_COOKIE_AGE
    session.set_expiry(0)
    assert session.get_expiry_age() == settings.SESSION_COOKIE_AGE
    session.save()
    assert store.load(session.session_key).timeout is None  # the configured one, not pinned


def test_expiry_in_seconds_is_the_stored_idle_timeout(store, clock, session):
    session["a"] = 1
    session.set_expiry(10)
    assert session.get_expiry_age() == 10
    session.save()
    assert store.load(session.session_key).timeout == 10
    clock.advance(9)
    assert SessionStore(session.session_key).load() == {"a": 1, "_session_expiry": 10}
    clock.advance(1)
    assert SessionStore(session.session_key).load() == {}


def test_expiry_reset_to_none_goes_back_to_the_default(store, session):
    session.set_expiry(10)
    session.set_expiry(None)
    session["a"] = 1
    session.save()
    assert session.get_expiry_age() == settings.SESSION_COOKIE_AGE
    assert store.load(session.session_key).timeout is None  # the configured one, not pinned


def test_expiry_at_a_datetime_is_a_deadline(store, clock, session):
    deadline = datetime.fromtimestamp(clock.now + 100, tz=timezone.utc)
    session["a"] = 1
    session.set_expiry(deadline)
    assert session.get_expiry_date() == deadline
    session.save()
    assert store.load(session.session_key).timeout == 100
    clock.advance(60)
    later = SessionStore(session.session_key)
    assert later["a"] == 1
    later.save()  # saved (or refreshed) later: the deadline holds all the same
    clock.advance(40)
    assert SessionStore(session.session_key).load() == {}


def test_expiry_by_timedelta_is_a_deadline_too(store, clock, session, monkeypatch):
    # Django turns a timedelta into a datetime with its own clock: make it the test's.
    monkeypatch.setattr(
        django_timezone, "now", lambda: datetime.fromtimestamp(clock.now, timezone.utc)
    )
    session["a"] = 1
    session.set_expiry(timedelta(hours=1))
    session.save()
    assert store.load(session.session_key).timeout == 3600


@pytest.mark.parametrize("expiry", [-10, timedelta(seconds=-10)], ids=["seconds", "timedelta"])
def test_an_expiry_already_past_leaves_nothing_stored(store, clock, expiry, monkeypatch):
    # Django turns a timedelta into a datetime with its own clock: make it the test's, or a
    # loaded machine that takes 10 s to get here puts "10 s ago" in the test clock's future.
    monkeypatch.setattr(
        django_timezone, "now", lambda: datetime.fromtimestamp(clock.now, timezone.utc)
    )
    session = stored_session(foo="bar")
    session.set_expiry(expiry)
    session.save()
    assert "foo" not in SessionStore(session.session_key)
    assert raw_item(store, session.session_key) is None


def test_expire_at_browser_close_follows_the_setting_and_set_expiry(unsaved):
    for at_close in (False, True):
        with override_settings(SESSION_EXPIRE_AT_BROWSER_CLOSE=at_close):
            unsaved.set_expiry(10)
            assert unsaved.get_expire_at_browser_close() is False
            unsaved.set_expiry(0)
            assert unsaved.get_expire_at_browser_close() is True
            unsaved.set_expiry(None)
            assert unsaved.get_expire_at_browser_close() is at_close


# -- async --------------------------------------------------------------------------------------


async def _async_round_trip(store):
    session = SessionStore()
    await session.aset("a", 1)
    await session.asave()
    key = session.session_key
    assert await session.aexists(key) is True
    again = SessionStore(key)
    assert await again.aget("a") == 1
    await again.acycle_key()
    assert await again.aexists(key) is False
    assert await again.aget("a") == 1
    new_key = again.session_key
    await again.aflush()
    assert await again.aexists(new_key) is False
    created = SessionStore()
    await created.acreate()
    assert await created.aexists(created.session_key) is True
    await created.adelete()
    assert await created.aexists(created.session_key) is False


def test_async_methods(store, async_mode):
    from asgiref.sync import async_to_sync

    async_to_sync(_async_round_trip)(store)


def test_by_default_the_async_methods_never_use_the_sync_store(store, monkeypatch):
    """Issue 16, item 5: on the async store (the default, the setting left unset) the async
    methods never touch the sync store (nor a worker thread): its driver refuses every flow
    here. The async twin shares the store's
    configuration and clock, so what it writes the sync store reads back."""
    import asyncio

    from asgiref.sync import async_to_sync

    from dynamodb_sessions import AsyncSessionStore

    twin = engine_module.get_async_store()
    assert isinstance(twin, AsyncSessionStore)
    assert (twin.config, twin.clock, twin.codec) == (store.config, store.clock, store.codec)
    assert engine_module.get_async_store() is twin  # one twin per store

    def refuse(flow):
        flow.close()
        raise AssertionError("the sync store ran an async method's flow")

    loops: set = set()
    real_run = AsyncSessionStore._run

    async def on_the_loop(self, flow):
        loops.add(asyncio.get_running_loop())
        return await real_run(self, flow)

    monkeypatch.setattr(store, "_run", refuse)
    monkeypatch.setattr(AsyncSessionStore, "_run", on_the_loop)

    async def write() -> str:
        session = SessionStore()
        await session.aset("a", 1)
        await session.asave()
        assert await session.aget("a") == 1
        return session.session_key

    key = async_to_sync(write)()
    async_to_sync(_async_round_trip)(store)
    assert len(loops) >= 1
    monkeypatch.undo()
    assert store.load(key).to_dict() == {"a": 1}


@pytest.mark.parametrize("setting", [False, True], ids=["set off", "without aiobotocore"])
def test_off_or_without_aiobotocore_the_async_methods_run_the_sync_store_in_threads(
    store, monkeypatch, setting
):
    import threading

    from asgiref.sync import async_to_sync

    threads: set[str] = set()
    real_run = store._run

    def counted(flow):
        threads.add(threading.current_thread().name)
        return real_run(flow)

    if setting:  # asked for, but aiobotocore is missing: threads all the same
        monkeypatch.setattr(engine_module, "_HAS_AIOBOTOCORE", False)
    monkeypatch.setattr(store, "_run", counted)
    with override_settings(DYNAMODB_SESSIONS_ASYNC_STORE=setting):
        async_to_sync(_async_round_trip)(store)
    assert threads and threading.current_thread().name not in threads


@pytest.mark.parametrize("cycle", ["cycle_key", "acycle_key"])
def test_cycle_key_is_logged_as_a_rotation_and_flush_as_an_end(store, caplog, cycle):
    from asgiref.sync import async_to_sync

    from dynamodb_sessions.ids import log_safe
    from dynamodb_sessions.logs import security

    session = stored_session(user="ada")
    old_key = session.session_key
    with caplog.at_level(logging.INFO, logger=security.name):
        if cycle == "cycle_key":
            session.cycle_key()
        else:
            async_to_sync(session.acycle_key)()
        new_key = session.session_key
        session.flush()  # log out

    events = [(r.event, r.getMessage()) for r in caplog.records if r.name == security.name]
    assert events == [
        ("rotated", f"session {log_safe(old_key)}: rotated to {log_safe(new_key)}"),
        ("ended", f"session {log_safe(new_key)}: ended"),
    ]

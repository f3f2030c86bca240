"""DynamoDB faults injected for real: a TCP proxy on 127.0.0.1 between the store and the local
engine stalls, cuts, refuses, drops answers, or answers as a throttled DynamoDB would. The
store runs with the library's defaults (1 s timeouts, 3 attempts in botocore's standard mode),
on both transports (the lean one retries as botocore's standard mode does).

No assertion times performance; the time bounds only prove that nothing hangs."""

from __future__ import annotations

import time

import pytest

from dynamodb_sessions import BackendUnavailableError, SaveOutcome, SessionStore
from dynamodb_sessions.config import LockSettings
from dynamodb_sessions.ids import storage_key

HANG = 30.0  # far above anything the defaults allow: exceeding it means a request hung
DYNALITE = "faults are injected in the proxy, not the engine; one engine keeps the suite quick"

pytestmark = pytest.mark.transports  # each fault on botocore and on the lean transport


def saved(store: SessionStore, **data: object) -> str:
    session = store.load(None)
    session.update(data)
    store.finish(session)
    return session.session_id


def raw_item(store: SessionStore, session_id: str) -> dict:
    key = storage_key(session_id, store.config.key_prefix)
    reply = store.client.get_item(TableName=store.config.table, Key={"id": {"S": key}})
    return reply.get("Item", {})


@pytest.mark.engines("dynalite", reason=DYNALITE)
def test_throttling_is_retried_by_botocore_then_reported_unavailable(faulty_store, proxy, attempts):
    sid = saved(faulty_store, a=1)
    attempts.clear()
    proxy.rule("throttle", "GetItem")
    started = time.monotonic()
    with pytest.raises(BackendUnavailableError) as info:
        faulty_store.load(sid)
    elapsed = time.monotonic() - started
    assert info.value.code == "ProvisionedThroughputExceededException"
    assert attempts == ["GetItem"] * 3  # Connection.max_attempts: attempts in all
    assert proxy.operations("throttle") == ["GetItem"] * 3
    assert elapsed < HANG


@pytest.mark.engines("dynalite", reason=DYNALITE)
def test_throttling_that_ends_within_the_retries_is_invisible(faulty_store, proxy, attempts):
    sid = saved(faulty_store, a=1)
    attempts.clear()
    proxy.rule("throttle", "GetItem", times=2)
    assert dict(faulty_store.load(sid)) == {"a": 1}
    assert attempts == ["GetItem"] * 3


@pytest.mark.engines("dynalite", reason=DYNALITE)
def test_a_stalled_engine_cannot_hang_a_request(faulty_store, proxy, attempts):
    sid = saved(faulty_store, a=1)
    attempts.clear()
    proxy.rule("stall")
    started = time.monotonic()
    with pytest.raises(BackendUnavailableError) as info:
        faulty_store.load(sid)
    assert time.monotonic() - started < HANG
    assert info.value.code == "ReadTimeoutError"
    assert attempts == ["GetItem"] * 3
    proxy.heal()
    assert dict(faulty_store.load(sid)) == {"a": 1}  # back by itself, same store and client


@pytest.mark.engines("dynalite", reason=DYNALITE)
def test_a_refused_connection_is_unavailable_and_service_resumes(faulty_store, proxy):
    sid = saved(faulty_store, a=1)
    proxy.refuse()
    with pytest.raises(BackendUnavailableError) as info:
        faulty_store.load(sid)
    assert info.value.code == "EndpointConnectionError"
    proxy.restore()
    assert dict(faulty_store.load(sid)) == {"a": 1}


@pytest.mark.parametrize("operation", ["GetItem", "UpdateItem"])
def test_a_cut_answer_is_never_taken_for_an_empty_one(faulty_store, proxy, operation):
    # botocore alone reads an answer cut after its status line as a complete, empty one: a
    # GetItem that "found nothing" would replace the user's session with an empty one.
    sid = saved(faulty_store, a=1)
    session = faulty_store.load(sid)
    session["b"] = 2
    proxy.rule("cut", operation)
    call = (
        (lambda: faulty_store.load(sid))
        if operation == "GetItem"
        else (lambda: faulty_store.finish(session))
    )
    with pytest.raises(BackendUnavailableError) as info:
        call()
    assert info.value.code == "ConnectionClosedError"
    proxy.heal()
    assert faulty_store.load(sid)["a"] == 1


@pytest.mark.engines("dynalite", reason=DYNALITE)
def test_a_save_whose_answer_was_lost_is_saved_exactly_once(faulty_store, proxy, attempts):
    """The whole-session write (here after a clear) is conditional on the version read."""
    sid = saved(faulty_store, a=1)
    session = faulty_store.load(sid)
    session.clear()
    session.update({"a": 1, "b": 2})
    attempts.clear()
    # The engine carries the first UpdateItem out, but its answer never comes: botocore times
    # out and sends it again, and that second send fails its version condition.
    proxy.rule("drop", "UpdateItem", times=1)
    assert faulty_store.save(session) is SaveOutcome.SAVED
    assert attempts == ["UpdateItem", "UpdateItem", "GetItem"]  # no merge, no second write
    item = raw_item(faulty_store, sid)
    assert item["version"] == {"N": "2"}  # written once: version 1 -> 2, not 3
    assert dict(faulty_store.load(sid)) == {"a": 1, "b": 2}


@pytest.mark.engines("dynalite", reason=DYNALITE)
def test_an_update_of_what_changed_whose_answer_was_lost_lands_again_harmlessly(
    faulty_store, proxy, attempts
):
    """The update of only the changed keys is not conditional on the version: botocore's
    re-send lands too, setting the same keys to the same values. Nothing is merged or lost;
    only the version moves twice (it orders whole-session writes, it counts nothing)."""
    sid = saved(faulty_store, a=1)
    session = faulty_store.load(sid)
    session["b"] = 2
    attempts.clear()
    proxy.rule("drop", "UpdateItem", times=1)
    assert faulty_store.save(session) is SaveOutcome.SAVED
    assert attempts == ["UpdateItem", "UpdateItem"]  # no re-read, no merge
    assert raw_item(faulty_store, sid)["version"] == {"N": "3"}
    assert dict(faulty_store.load(sid)) == {"a": 1, "b": 2}


@pytest.mark.engines("dynalite", reason=DYNALITE)
def test_a_create_whose_answer_was_lost_makes_one_session(faulty_store, proxy, attempts):
    proxy.rule("drop", "PutItem", times=1)
    session = faulty_store.load(None)
    session["a"] = 1
    faulty_store.finish(session)
    assert attempts == ["PutItem", "PutItem", "GetItem"]  # no second item under a new id
    count = faulty_store.client.scan(TableName=faulty_store.config.table, Select="COUNT")
    assert count["Count"] == 1
    assert dict(faulty_store.load(session.session_id)) == {"a": 1}


@pytest.mark.engines("dynalite", reason=DYNALITE)
def test_a_write_whose_every_answer_is_lost_is_unavailable_not_lost(faulty_store, proxy):
    sid = saved(faulty_store, a=1)
    session = faulty_store.load(sid)
    session["b"] = 2
    proxy.rule("drop", "UpdateItem")
    with pytest.raises(BackendUnavailableError):
        faulty_store.finish(session)
    proxy.heal()
    # The outcome was unknown: the update landed (each re-send too, setting the same value:
    # the version counts every send), and nothing written before it is gone.
    assert dict(faulty_store.load(sid)) == {"a": 1, "b": 2}
    assert int(raw_item(faulty_store, sid)["version"]["N"]) >= 2


@pytest.mark.engines("dynalite", reason=DYNALITE)
def test_a_save_throttled_past_its_retries_still_gives_the_lock_back(faulty_config, proxy, clock):
    """Lock mode: the end of the request fails (503 in every adapter), and the lock it held is
    given back by the store before the error goes on, not left for its whole lease."""
    locking = faulty_config.replace(lock=LockSettings(lease=60, wait=0.0))
    with SessionStore(locking, clock=clock) as store:
        sid = saved(store, a=1)
        session = store.load(sid)
        session["a"] = 2
        proxy.rule("throttle", "UpdateItem", times=3)  # every attempt of the save
        with pytest.raises(BackendUnavailableError):
            store.finish(session)
        assert "lock_owner" not in raw_item(store, sid)  # given back
        assert store.load(sid)["a"] == 1  # the next request, which does not wait, gets it

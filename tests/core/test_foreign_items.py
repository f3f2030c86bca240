"""An answer about another item than the one asked for is a fault, never data: every keyed read
(GetItem, and the lock's UpdateItem that returns the item) checks the key it got back."""

import pytest
from flowscript import Script

from dynamodb_sessions import BackendUnavailableError, Codec, StoreConfig
from dynamodb_sessions._core import flows, lock
from dynamodb_sessions._core.flows import Failed, encode_values
from dynamodb_sessions._core.items import build_item
from dynamodb_sessions.config import LockSettings
from dynamodb_sessions.ids import new_session_id, storage_key

PLAIN = StoreConfig(table="t", timeout=100)
LOCKED = PLAIN.replace(lock=LockSettings(lease=10, wait=0.2, poll=0.1))
CODEC = Codec()
NOW = 1000


def item_of(session_id: str, data: dict) -> dict:
    return build_item(
        storage_key(session_id),
        encode_values(CODEC, data, ""),
        now=NOW,
        created=NOW,
        timeout=100,
        version=1,
        user_id=None,
        config=PLAIN,
    )


def test_a_load_answered_with_another_sessions_item_fails_as_unavailable():
    mine, theirs = new_session_id(), new_session_id()
    with pytest.raises(BackendUnavailableError) as caught:
        Script(flows.load(PLAIN, CODEC, mine, NOW)).run({"Item": item_of(theirs, {"user": "x"})})
    assert (caught.value.code, caught.value.operation) == ("ForeignItem", "get_item")


def test_an_item_without_its_key_is_no_answer_either():
    mine = new_session_id()
    keyless = item_of(mine, {})
    del keyless["id"]
    with pytest.raises(BackendUnavailableError):
        Script(flows.exists(PLAIN, mine, NOW)).run({"Item": keyless})


def test_the_own_item_still_loads():
    mine = new_session_id()
    session = Script(flows.load(PLAIN, CODEC, mine, NOW)).run({"Item": item_of(mine, {"a": 1})})
    assert dict(session) == {"a": 1}


def test_taking_a_lock_checks_the_item_the_update_returned():
    mine, theirs = new_session_id(), new_session_id()
    with pytest.raises(BackendUnavailableError) as caught:
        Script(lock.acquire(LOCKED, mine, NOW, "me"), clock=lambda: NOW).run(
            {"Attributes": item_of(theirs, {})}
        )
    assert (caught.value.code, caught.value.operation) == ("ForeignItem", "update_item")


def test_waiting_for_a_lock_checks_the_item_it_reads():
    mine, theirs = new_session_id(), new_session_id()
    held = item_of(theirs, {})
    with pytest.raises(BackendUnavailableError):
        Script(lock.acquire(LOCKED, mine, NOW, "me"), clock=lambda: NOW).run(
            Failed("ConditionalCheckFailedException"), {"Item": held}
        )


def test_the_item_an_update_of_what_changed_returns_is_checked_too():
    """Removing keys asks the update for the item it left; another item's answer would make
    this request adopt (or delete after) someone else's session."""
    mine, theirs = new_session_id(), new_session_id()
    session = Script(flows.load(PLAIN, CODEC, mine, NOW)).run(
        {"Item": item_of(mine, {"a": 1, "b": 2})}
    )
    del session["a"]
    with pytest.raises(BackendUnavailableError) as caught:
        Script(flows.save(PLAIN, CODEC, session, NOW + 1)).run({"Attributes": item_of(theirs, {})})
    assert (caught.value.code, caught.value.operation) == ("ForeignItem", "update_item")

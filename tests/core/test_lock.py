"""Lock mode, pure: the exact lock requests, and the lock flows driven by hand."""

import pytest
from flowscript import Script

from dynamodb_sessions import Codec, Session, StoreConfig
from dynamodb_sessions._core import flows, lock, requests
from dynamodb_sessions._core.flows import Call, Failed, Sleep
from dynamodb_sessions._core.items import ValidityBounds, build_item, parse_item
from dynamodb_sessions._core.lifecycle import CookieAction, Write, decide
from dynamodb_sessions.config import LockSettings
from dynamodb_sessions.exceptions import ConfigurationError, SessionError, SessionLockError
from dynamodb_sessions.ids import new_session_id, storage_key

LOCKED = StoreConfig(table="t", timeout=100, lock=LockSettings(lease=10, wait=0.2, poll=0.1))
CODEC = Codec()
CONFLICT = Failed("ConditionalCheckFailedException")
KEY = "k" * 64
NOW = 1000


def item(session_id: str, data: dict, *, owner: str | None = None, version: int = 1) -> dict:
    built = build_item(
        storage_key(session_id),
        CODEC.encode(data),
        now=NOW,
        created=NOW,
        timeout=100,
        version=version,
        user_id=None,
        config=LOCKED,
    )
    if owner is not None:
        built["lock_owner"] = {"S": owner}
        built["lock_expires"] = {"N": str(NOW + 10)}
    return built


def test_lock_settings_are_validated():
    with pytest.raises(ConfigurationError):
        LockSettings(lease=0)
    with pytest.raises(ConfigurationError):
        LockSettings(poll=0)
    assert issubclass(SessionLockError, SessionError)


def test_acquire_is_one_conditional_update_returning_the_item():
    assert requests.acquire_lock(LOCKED, KEY, owner="me", now=NOW, until=NOW + 10) == {
        "TableName": "t",
        "Key": {"id": {"S": KEY}},
        "UpdateExpression": "SET #lo = :owner, #lx = :until",
        "ConditionExpression": (
            "attribute_exists(#k) AND (attribute_not_exists(#lo) OR #lx <= :now OR #lo = :owner)"
        ),
        "ExpressionAttributeNames": {"#k": "id", "#lo": "lock_owner", "#lx": "lock_expires"},
        "ExpressionAttributeValues": {
            ":owner": {"S": "me"},
            ":until": {"N": "1010"},
            ":now": {"N": "1000"},
        },
        "ReturnValues": "ALL_NEW",
    }


def test_release_is_conditional_on_the_owner():
    assert requests.release_lock(LOCKED, KEY, "me") == {
        "TableName": "t",
        "Key": {"id": {"S": KEY}},
        "UpdateExpression": "REMOVE #lo, #lx",
        "ConditionExpression": "#lo = :owner",
        "ExpressionAttributeNames": {"#lo": "lock_owner", "#lx": "lock_expires"},
        "ExpressionAttributeValues": {":owner": {"S": "me"}},
    }


def test_save_releases_the_lock_in_the_same_write():
    built = item(new_session_id(), {"a": 1})
    bounds = ValidityBounds(now=NOW, used_after=NOW - 100, born_after=None)
    params = requests.save_session(LOCKED, built, 1, bounds=bounds, lock_owner="me")
    assert params["UpdateExpression"].endswith(" REMOVE #u, #t, #lo, #lx")  # pinned: 100 s
    assert params["ConditionExpression"] == (
        "#v = :expected AND #va > :used_after AND #ve > :valid_at AND #lo = :owner"
    )
    assert params["ExpressionAttributeNames"]["#lo"] == "lock_owner"
    assert params["ExpressionAttributeNames"]["#lx"] == "lock_expires"
    assert params["ExpressionAttributeValues"][":owner"] == {"S": "me"}


def test_touch_releases_the_lock_in_the_same_write():
    params = requests.touch_session(
        LOCKED,
        KEY,
        now=NOW,
        expires=NOW + 100,
        expected_version=3,
        bounds=ValidityBounds(now=NOW, used_after=NOW - 100, born_after=None),
        lock_owner="me",
    )
    assert params["UpdateExpression"] == "SET #a = :now, #e = :expires REMOVE #lo, #lx"
    assert params["ConditionExpression"] == (
        "#v = :expected AND #va > :used_after AND #ve > :valid_at AND #lo = :owner"
    )
    assert params["ExpressionAttributeValues"][":owner"] == {"S": "me"}


def test_load_in_lock_mode_acquires_and_reads_in_one_call():
    sid = new_session_id()
    script = Script(flows.load(LOCKED, CODEC, sid, NOW, lock_owner="me"))
    session = script.run({"Attributes": item(sid, {"a": 1}, owner="me")})
    assert script.operations == ["update_item"]
    assert script.steps[0].params["ReturnValues"] == "ALL_NEW"
    assert session == {"a": 1} and session.stored.lock_owner == "me"


def test_a_waiter_sleeps_then_gives_up_without_touching_the_holders_lock():
    sid = new_session_id()
    held = {"Item": item(sid, {"a": 1}, owner="other")}
    script = Script(lock.acquire(LOCKED, sid, NOW, "me"))
    with pytest.raises(SessionLockError, match="locked by another request"):
        script.run(CONFLICT, held, NOW + 0.1, CONFLICT, held, NOW + 0.2, CONFLICT, held)
    kinds = [type(step).__name__ for step in script.steps]
    assert kinds == ["Call", "Call", "Sleep", "Call", "Call", "Sleep", "Call", "Call"]
    assert {s.operation for s in script.steps if isinstance(s, Call)} == {"update_item", "get_item"}
    # Only acquire attempts (conditional, never a release or a delete) touched the item.
    updates = [s for s in script.steps if isinstance(s, Call) and s.operation == "update_item"]
    assert all(s.params["UpdateExpression"] == "SET #lo = :owner, #lx = :until" for s in updates)
    assert all(s == Sleep(0.1) for s in script.steps if isinstance(s, Sleep))


def test_a_waiter_gets_the_lock_when_the_holder_lets_go_and_uses_the_new_time():
    sid = new_session_id()
    script = Script(lock.acquire(LOCKED, sid, NOW, "me"))
    held = {"Item": item(sid, {}, owner="other")}
    state = script.run(CONFLICT, held, NOW + 5, {"Attributes": item(sid, {}, owner="me")})
    assert state.lock_owner == "me"
    retry = script.steps[3].params
    assert retry["ExpressionAttributeValues"][":now"] == {"N": str(NOW + 5)}
    assert retry["ExpressionAttributeValues"][":until"] == {"N": str(NOW + 15)}


def test_acquire_on_a_missing_item_creates_nothing():
    script = Script(lock.acquire(LOCKED, new_session_id(), NOW, "me"))
    assert script.run(CONFLICT, {}) is None


def test_load_releases_the_lock_of_an_expired_session():
    sid = new_session_id()
    script = Script(flows.load(LOCKED, CODEC, sid, NOW + 500, lock_owner="me"))
    session = script.run({"Attributes": item(sid, {"a": 1}, owner="me")}, {})
    assert session.stale_cookie and session.is_new
    assert script.operations == ["update_item", "update_item"]
    assert script.steps[1].params == requests.release_lock(LOCKED, storage_key(sid), "me")


def locked_session(data: dict) -> Session:
    sid = new_session_id()
    state = parse_item(item(sid, data, owner="me"), LOCKED.attributes)
    return Session(data, session_id=sid, stored=state)


def test_an_unmodified_request_releases_the_lock_only():
    session = locked_session({"a": 1})
    session.get("a")
    assert decide(session, NOW + 1, LOCKED).write is Write.RELEASE
    script = Script(flows.finish(LOCKED, CODEC, session, NOW + 1))
    update = script.run({})
    assert script.operations == ["update_item"]
    assert script.steps[0].params["UpdateExpression"] == "REMOVE #lo, #lx"
    assert update.action is CookieAction.KEEP
    assert session.stored.lock_owner is None


def test_without_lock_mode_a_lock_seen_on_an_item_is_left_alone():
    unlocked = LOCKED.replace(lock=None)
    session = locked_session({"a": 1})
    session.get("a")
    assert decide(session, NOW + 1, unlocked).write is Write.NONE


def test_a_save_that_lost_its_lease_waits_for_the_lock_and_merges():
    session = locked_session({"a": 1})
    session["mine"] = 2
    script = Script(flows.save(LOCKED, CODEC, session, NOW + 1))
    sid = session.session_id
    taken = {"Attributes": item(sid, {"a": 1, "theirs": 3}, owner="me", version=2)}
    outcome = script.run(CONFLICT, taken, {})
    assert outcome is flows.SaveOutcome.SAVED
    assert script.operations == ["update_item", "update_item", "update_item"]
    retry = script.steps[2].params
    assert retry["ConditionExpression"] == (
        "#v = :expected AND #va > :used_after AND #ve > :valid_at AND #lo = :owner"
    )
    assert retry["ExpressionAttributeValues"][":expected"] == {"N": "2"}
    assert dict(session.items()) == {"a": 1, "theirs": 3, "mine": 2}


def test_an_expired_session_is_not_waited_for():
    sid = new_session_id()
    script = Script(lock.acquire(LOCKED, sid, NOW + 500, "me"))
    state = script.run(CONFLICT, {"Item": item(sid, {}, owner="other")})
    assert state.lock_owner == "other"  # not ours: the load drops it without releasing
    assert script.operations == ["update_item", "get_item"]


def test_loading_an_expired_session_locked_by_another_costs_no_release():
    sid = new_session_id()
    script = Script(flows.load(LOCKED, CODEC, sid, NOW + 500, lock_owner="me"))
    session = script.run(CONFLICT, {"Item": item(sid, {}, owner="other")})
    assert session.is_new and script.operations == ["update_item", "get_item"]

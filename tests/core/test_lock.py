"""Lock mode, pure: the exact lock requests, and the lock flows driven by hand."""

import pytest
from flowscript import Script

from dynamodb_sessions import Codec, Session, StoreConfig
from dynamodb_sessions._core import flows, lock, requests
from dynamodb_sessions._core.flows import Call, Failed, Sleep, encode_values
from dynamodb_sessions._core.items import ValidityBounds, build_item, parse_item
from dynamodb_sessions._core.lifecycle import CookieAction, Write, decide
from dynamodb_sessions._core.steps import LockWait
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
        encode_values(CODEC, data, ""),
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
    assert requests.acquire_lock(LOCKED, KEY, owner="me", now=NOW + 0.2505, lease=10) == {
        "TableName": "t",
        "Key": {"id": {"S": KEY}},
        "UpdateExpression": "SET #lo = :owner, #lx = :until",
        "ConditionExpression": (
            "attribute_exists(#k)"
            # valid: the configured idle timeout binds the items that pin none (the flow judges
            # a pinned one on what the update returns), and expires
            " AND (attribute_exists(#vp) OR #va > :used_after) AND #ve > :valid_at"
            " AND (attribute_not_exists(#lo) OR #lx <= :now OR #lo = :owner)"
        ),
        "ExpressionAttributeNames": {
            "#k": "id",
            "#lo": "lock_owner",
            "#lx": "lock_expires",
            "#va": "accessed",
            "#ve": "expires",
            "#vp": "pinned_timeout",
        },
        "ExpressionAttributeValues": {
            ":owner": {"S": "me"},
            ":until": {"N": "1010.250"},  # to the millisecond: the lease lasts 10 s exactly
            ":now": {"N": "1000.250"},
            # whole seconds, like the attributes they bound: a > 1000.25 - 100 iff a > 900
            ":used_after": {"N": str(NOW - 100)},
            ":valid_at": {"N": str(NOW)},
        },
        "ReturnValues": "ALL_NEW",
    }


def test_lock_writes_require_the_absolute_timeout_too():
    config = LOCKED.replace(absolute_timeout=3600)
    acquire = requests.acquire_lock(config, KEY, owner="me", now=NOW + 0.5, lease=10)
    release = requests.release_lock(config, KEY, "me", now=NOW + 0.5)
    for params in (acquire, release):
        assert " AND #vc > :born_after" in params["ConditionExpression"]
        assert params["ExpressionAttributeNames"]["#vc"] == "created"
        assert params["ExpressionAttributeValues"][":born_after"] == {"N": str(NOW - 3600)}


def test_release_is_conditional_on_the_owner_and_a_valid_item():
    assert requests.release_lock(LOCKED, KEY, "me", now=NOW) == {
        "TableName": "t",
        "Key": {"id": {"S": KEY}},
        "UpdateExpression": "REMOVE #lo, #lx",
        "ConditionExpression": (
            "#lo = :owner AND (attribute_exists(#vp) OR #va > :used_after) AND #ve > :valid_at"
        ),
        "ExpressionAttributeNames": {
            "#lo": "lock_owner",
            "#lx": "lock_expires",
            "#va": "accessed",
            "#ve": "expires",
            "#vp": "pinned_timeout",
        },
        "ExpressionAttributeValues": {
            ":owner": {"S": "me"},
            ":used_after": {"N": str(NOW - 100)},
            ":valid_at": {"N": str(NOW)},
        },
    }


def test_save_releases_the_lock_in_the_same_write():
    built = item(new_session_id(), {"a": 1})
    bounds = ValidityBounds(now=NOW, used_after=NOW - 100, born_after=None)
    params = requests.save_session(LOCKED, built, 1, bounds=bounds, lock_owner="me")
    assert params["UpdateExpression"].endswith(" REMOVE #u, #t, #d, #lo, #lx")  # pinned: 100 s
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
    script = Script(flows.load(LOCKED, CODEC, sid, NOW, lock_owner="me"), clock=lambda: NOW)
    session = script.run({"Attributes": item(sid, {"a": 1}, owner="me")})
    assert script.operations == ["update_item"]
    assert script.events == [LockWait(0.0, "acquired")]  # no wait: it was free
    assert script.steps[0].params["ReturnValues"] == "ALL_NEW"
    assert session == {"a": 1} and session.stored.lock_owner == "me"


@pytest.fixture
def steady_jitter(monkeypatch):
    """The waiters' random factor fixed at 1 (jitter 0.5 of [0, 1))."""
    monkeypatch.setattr(lock, "_jitter", lambda: 0.5)


def test_a_waiter_sleeps_then_gives_up_without_touching_the_holders_lock(steady_jitter):
    sid = new_session_id()
    held = {"Item": item(sid, {"a": 1}, owner="other")}
    script = Script(lock.acquire(LOCKED, sid, NOW, "me"))
    with pytest.raises(SessionLockError, match="locked by another request"):
        # Clock readings: start, after the calls, after the sleep, after the calls again.
        script.run(NOW, CONFLICT, held, NOW + 0.01, NOW + 0.11, CONFLICT, held, NOW + 0.21)
    kinds = [type(step).__name__ for step in script.steps]
    assert kinds == ["Now", "Call", "Call", "Now", "Sleep", "Call", "Call", "Now"]
    assert script.events == [LockWait(pytest.approx(0.21), "timeout")]  # for the metrics hook
    assert {s.operation for s in script.steps if isinstance(s, Call)} == {"update_item", "get_item"}
    # Only acquire attempts (conditional, never a release or a delete) touched the item.
    updates = [s for s in script.steps if isinstance(s, Call) and s.operation == "update_item"]
    assert all(s.params["UpdateExpression"] == "SET #lo = :owner, #lx = :until" for s in updates)
    # The wait's reads are strongly consistent even when the configuration says otherwise.
    reads = [s for s in script.steps if isinstance(s, Call) and s.operation == "get_item"]
    assert all(s.params["ConsistentRead"] is True for s in reads)


def test_the_wait_counts_the_time_spent_in_calls_not_only_the_sleeps(steady_jitter):
    """0.2 s of wait: slow calls (0.15 s each) use it up after one 0.05 s sleep; counting only
    the sleeps would have gone on polling for 0.2 s of sleeping, about 0.65 s in all."""
    sid = new_session_id()
    held = {"Item": item(sid, {"a": 1}, owner="other")}
    script = Script(lock.acquire(LOCKED, sid, NOW, "me"))
    with pytest.raises(SessionLockError):
        script.run(NOW, CONFLICT, held, NOW + 0.15, NOW + 0.2, CONFLICT, held, NOW + 0.35)
    sleeps = [s for s in script.steps if isinstance(s, Sleep)]
    assert sleeps == [Sleep(pytest.approx(0.05))]  # never past the deadline either


def test_waiters_back_off_with_jitter(monkeypatch):
    settings = LockSettings(lease=10, wait=5.0, poll=0.1)
    draws = iter([0.0, 0.99, 0.5, 0.25])
    monkeypatch.setattr(lock, "_jitter", lambda: next(draws))
    delays = [lock.backoff(settings, attempt) for attempt in range(4)]
    # poll x (1, 2, 4, 4) x a random factor in [0.5, 1.5)
    assert delays == pytest.approx([0.05, 0.298, 0.4, 0.3])


def test_a_waiter_gets_the_lock_when_the_holder_lets_go_and_uses_the_new_time(steady_jitter):
    sid = new_session_id()
    script = Script(lock.acquire(LOCKED, sid, NOW, "me"))
    held = {"Item": item(sid, {}, owner="other")}
    state = script.run(
        NOW, CONFLICT, held, NOW + 0.01, NOW + 0.1234, {"Attributes": item(sid, {}, owner="me")}
    )
    assert state.lock_owner == "me"
    retry = script.steps[5].params
    assert retry["ExpressionAttributeValues"][":now"] == {"N": "1000.123"}
    assert retry["ExpressionAttributeValues"][":until"] == {"N": "1010.123"}


def test_acquire_on_a_missing_item_creates_nothing():
    script = Script(lock.acquire(LOCKED, new_session_id(), NOW, "me"), clock=lambda: NOW)
    assert script.run(CONFLICT, {}) is None


def test_load_releases_the_lock_of_an_expired_session():
    sid = new_session_id()
    script = Script(
        flows.load(LOCKED, CODEC, sid, NOW + 500, lock_owner="me"), clock=lambda: NOW + 500
    )
    session = script.run({"Attributes": item(sid, {"a": 1}, owner="me")}, {})
    assert session.stale_cookie and session.is_new
    assert script.operations == ["update_item", "update_item"]
    release = requests.release_lock(LOCKED, storage_key(sid), "me", now=NOW + 500)
    assert script.steps[1].params == release


def locked_session(data: dict) -> Session:
    sid = new_session_id()
    state = parse_item(item(sid, data, owner="me"), LOCKED.attributes)
    return Session(data, session_id=sid, stored=state)


def test_an_unmodified_request_releases_the_lock_only():
    session = locked_session({"a": 1})
    session.get("a")
    assert decide(session, NOW + 1, LOCKED).write is Write.RELEASE
    script = Script(flows.finish(LOCKED, CODEC, session, NOW + 1), clock=lambda: NOW + 1)
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
    script = Script(flows.save(LOCKED, CODEC, session, NOW + 1), clock=lambda: NOW + 1)
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
    script = Script(lock.acquire(LOCKED, sid, NOW + 500, "me"), clock=lambda: NOW + 500)
    state = script.run(CONFLICT, {"Item": item(sid, {}, owner="other")})
    assert state.lock_owner == "other"  # not ours: the load drops it without releasing
    assert script.operations == ["update_item", "get_item"]


def test_loading_an_expired_session_locked_by_another_costs_no_release():
    sid = new_session_id()
    script = Script(
        flows.load(LOCKED, CODEC, sid, NOW + 500, lock_owner="me"), clock=lambda: NOW + 500
    )
    session = script.run(CONFLICT, {"Item": item(sid, {}, owner="other")})
    assert session.is_new and script.operations == ["update_item", "get_item"]

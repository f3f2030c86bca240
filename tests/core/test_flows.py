"""The sans-IO flows driven by hand: each step checked, each reply made up."""

import pytest
from flowscript import Script

from dynamodb_sessions import Codec, SaveOutcome, Session, SessionConflictError, StoreConfig
from dynamodb_sessions._core import flows
from dynamodb_sessions._core.flows import Failed, diff, encode_values
from dynamodb_sessions._core.items import build_item, parse_item
from dynamodb_sessions._core.steps import Conflict
from dynamodb_sessions.ids import new_session_id, storage_key

CONFIG = StoreConfig(table="t", timeout=100, max_conflict_retries=2)
CODEC = Codec()
CONFLICT = Failed("ConditionalCheckFailedException")


def stored(session_id: str, data: dict, *, version: int = 1, now: int = 0) -> dict:
    item = build_item(
        storage_key(session_id),
        encode_values(CODEC, data, ""),
        now=now,
        created=now,
        timeout=100,
        version=version,
        user_id=None,
        config=CONFIG,
    )
    return {"Item": item}


def loaded(data: dict, *, version: int = 1) -> Session:
    sid = new_session_id()
    item = stored(sid, data, version=version)["Item"]
    return Session(data, session_id=sid, stored=parse_item(item, CONFIG.attributes))


@pytest.mark.parametrize("cookie", [None, "", "garbage", "x" * 5000])
def test_a_malformed_cookie_costs_no_call(cookie):
    script = Script(flows.load(CONFIG, CODEC, cookie, now=0))
    session = script.run()
    assert script.steps == []
    assert session.is_new and dict(session) == {}
    assert session.stale_cookie is bool(cookie)


def test_load_reads_once_and_checks_expiry():
    sid = new_session_id()
    script = Script(flows.load(CONFIG, CODEC, sid, now=50))
    session = script.run(stored(sid, {"a": 1}))
    assert script.operations == ["get_item"]
    assert dict(session) == {"a": 1} and session.session_id == sid and not session.is_new

    expired = Script(flows.load(CONFIG, CODEC, sid, now=100)).run(stored(sid, {"a": 1}))
    assert expired.is_new and expired.session_id != sid and expired.stale_cookie


def test_unknown_and_corrupt_items_are_new_empty_sessions(caplog):
    sid = new_session_id()
    assert Script(flows.load(CONFIG, CODEC, sid, now=0)).run({}).is_new
    bad = stored(sid, {})
    bad["Item"]["data"] = {"B": b"J{broken"}
    session = Script(flows.load(CONFIG, CODEC, sid, now=0)).run(bad)
    assert session.is_new and session.stale_cookie
    assert "corrupt" in caplog.text and sid not in caplog.text


def test_diff_records_sets_deletes_and_clears():
    assert diff({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4}, False) == flows.Changes(
        set={"b": 3, "c": 4}
    )
    assert diff({"a": 1, "b": 2}, {"a": 1}, False).deleted == {"b"}
    assert diff({"a": 1}, {"z": 1}, True) == flows.Changes(set={"z": 1}, cleared=True)
    assert not diff({"a": 1}, {"a": 1}, False)


def written(params: dict) -> dict:
    """The session keys a write sets, decoded: {key: value}."""
    names, values = params["ExpressionAttributeNames"], params["ExpressionAttributeValues"]
    return {
        names[tag][2:]: CODEC.decode_value(names[tag][2:], values[":" + tag[1:]]["B"], item_key="")
        for tag in names
        if names[tag].startswith("s:") and ":" + tag[1:] in values
    }


def removed(params: dict) -> set:
    names = params["ExpressionAttributeNames"]
    return {names[tag][2:] for tag in names if tag.startswith("#r")}


def test_a_save_writes_only_the_changed_keys_and_never_depends_on_the_version():
    session = loaded({"mine": 0, "gone": 1, "shared": "old"})
    session["mine"] = 1
    del session["gone"]
    script = Script(flows.save(CONFIG, CODEC, session, now=10))
    # The item after the update: another request changed "shared" and added "theirs".
    after = stored(session.session_id, {"mine": 1, "shared": "new", "theirs": 5}, version=3)
    outcome = script.run({"Attributes": after["Item"]})
    assert outcome is SaveOutcome.SAVED
    assert script.operations == ["update_item"]  # no read, no retry
    (update,) = script.steps
    assert written(update.params) == {"mine": 1} and removed(update.params) == {"gone"}
    assert ":expected" not in update.params["ExpressionAttributeValues"]
    assert update.params["UpdateExpression"].endswith(" ADD #v :one")
    # Keys were removed, so the item came back: the session holds what is stored now.
    assert dict(session) == {"mine": 1, "shared": "new", "theirs": 5}
    assert session.stored is not None and session.stored.version == 3


def test_a_failed_update_re_reads_and_a_session_still_valid_is_merged_and_written_whole():
    """The update fails only if the item is gone or no longer valid (or, in lock mode, its
    lock was lost). If the re-read finds it valid after all, the whole write takes over."""
    session = loaded({"mine": 0})
    session["mine"] = 1
    script = Script(flows.save(CONFIG, CODEC, session, now=10))
    fresh = stored(session.session_id, {"mine": 0, "theirs": 5}, version=2)
    assert script.run(CONFLICT, fresh, {}) is SaveOutcome.SAVED
    assert script.operations == ["update_item", "get_item", "update_item"]
    retry = script.steps[2].params
    assert retry["ExpressionAttributeValues"][":expected"] == {"N": "2"}
    assert written(retry) == {"mine": 1, "theirs": 5}


def test_too_many_changed_keys_go_through_the_whole_write():
    session = loaded({"a": 1})
    session.update({f"k{i}": i for i in range(101)})
    script = Script(flows.save(CONFIG, CODEC, session, now=10))
    assert script.run({}) is SaveOutcome.SAVED
    (write,) = script.steps
    assert write.params["ExpressionAttributeValues"][":expected"] == {"N": "1"}
    assert written(write.params) == dict(session)


def test_a_clear_wins_over_concurrent_keys():
    session = loaded({"a": 1})
    session.clear()
    session["b"] = 2
    script = Script(flows.save(CONFIG, CODEC, session, now=10))
    script.run(CONFLICT, stored(session.session_id, {"a": 1, "c": 3}, version=2), {})
    assert script.steps[0].params["ExpressionAttributeValues"][":expected"] == {"N": "1"}
    retry = script.steps[2].params
    assert written(retry) == {"b": 2} and removed(retry) == {"a", "c"}


def test_a_session_deleted_meanwhile_is_not_resurrected():
    session = loaded({"a": 1})
    session["a"] = 2
    script = Script(flows.save(CONFIG, CODEC, session, now=10))
    assert script.run(CONFLICT, {}) is SaveOutcome.GONE
    assert script.operations == ["update_item", "get_item"]


def test_conflicts_are_bounded():
    session = loaded({"a": 1})
    session["a"] = 2
    script = Script(flows.save(CONFIG, CODEC, session, now=10))
    replies = [
        CONFLICT,
        stored(session.session_id, {"a": 1}, version=2),
        CONFLICT,
        10.0,  # the time after the backoff Sleep before the second retry
        stored(session.session_id, {"a": 1}, version=3),
        CONFLICT,
    ]
    with pytest.raises(SessionConflictError):
        script.run(*replies)
    assert script.operations.count("update_item") == CONFIG.max_conflict_retries + 1
    # The metrics hook hears of each: two retried, the last given up.
    assert script.events == [
        Conflict(retried=True),
        Conflict(retried=True),
        Conflict(retried=False),
    ]


def test_an_unchanged_save_writes_nothing_until_a_touch_is_due():
    session = loaded({"a": 1})
    session["a"] = 1  # modified, but to the same value
    script = Script(flows.save(CONFIG, CODEC, session, now=5))
    assert script.run() is SaveOutcome.UNCHANGED and script.steps == []
    due = Script(flows.save(CONFIG, CODEC, session, now=50))
    assert due.run({}) is SaveOutcome.UNCHANGED and due.operations == ["update_item"]
    assert due.steps[0].params["UpdateExpression"] == "SET #a = :now, #e = :expires"


def test_create_retries_an_id_clash_with_a_new_id():
    session = Session({"a": 1})
    first_id = session.session_id
    script = Script(flows.create(CONFIG, CODEC, session, now=0))
    # The clash is checked by a read: another session's item is there, not this one's.
    script.run(CONFLICT, stored(first_id, {"someone": "else"}), {})
    assert session.session_id != first_id and not session.is_new
    assert script.operations == ["put_item", "get_item", "put_item"]
    keys = [s.params["Item"]["id"]["S"] for s in script.steps if s.operation == "put_item"]
    assert keys == [storage_key(first_id), storage_key(session.session_id)]


def test_rotate_creates_before_it_deletes():
    session = loaded({"a": 1})
    old = session.session_id
    script = Script(flows.rotate(CONFIG, CODEC, session, now=0))
    script.run({}, {})
    assert script.operations == ["put_item", "delete_item"]
    assert script.steps[1].params["Key"]["id"]["S"] == storage_key(old)
    assert session.session_id != old and dict(session) == {"a": 1}

"""The end-of-request decision, case by case (see the table in _core/lifecycle.py)."""

import pytest
from flowscript import Script

from dynamodb_sessions import BackendUnavailableError, Codec, Session, StoreConfig, StoredState
from dynamodb_sessions._core import requests
from dynamodb_sessions._core.flows import Failed, finish
from dynamodb_sessions._core.items import ValidityBounds, build_item, parse_item
from dynamodb_sessions._core.lifecycle import CookieAction, Plan, Write, decide
from dynamodb_sessions.ids import new_session_id, storage_key

CONFLICT = Failed("ConditionalCheckFailedException")

CONFIG = StoreConfig(table="t", timeout=100)
STATE = StoredState(version=1, created=0, accessed=0, timeout=None, expires=100, raw=b"J{}")


def stored(data=None, **kw) -> Session:
    return Session(data if data is not None else {"a": 1}, stored=STATE, **kw)


def test_untouched_deferred_session_does_nothing():
    assert decide(Session.deferred(lambda: stored()), 0, CONFIG) == Plan(
        Write.NONE, (), CookieAction.KEEP
    )


def test_new_session():
    session = Session()
    assert decide(session, 0, CONFIG).write is Write.NONE
    session["a"] = 1
    assert decide(session, 0, CONFIG) == Plan(Write.CREATE, (), CookieAction.SET)


def test_a_stale_cookie_is_deleted_when_nothing_is_stored():
    assert decide(Session(stale_cookie=True), 0, CONFIG).cookie is CookieAction.DELETE


def test_modified_stored_session_is_saved_or_deleted_when_emptied():
    session = stored()
    session["b"] = 2
    assert decide(session, 0, CONFIG) == Plan(Write.SAVE, (), CookieAction.SET)
    session.clear()
    assert decide(session, 0, CONFIG) == Plan(Write.DELETE, (), CookieAction.DELETE)


CODEC = Codec()
SID = new_session_id()
KEY = storage_key(SID)


def item(data: dict, version: int) -> dict:
    return build_item(
        KEY,
        CODEC.encode(data),
        now=0,
        created=0,
        timeout=None,
        version=version,
        user_id=None,
        config=CONFIG,
    )


def emptied() -> Session:
    session = Session(
        {"flash": "hi"}, session_id=SID, stored=parse_item(item({"flash": "hi"}, 1), NAMES)
    )
    session.pop("flash")
    return session


NAMES = CONFIG.attributes


def test_an_emptied_session_is_deleted_only_if_still_as_read_and_valid():
    script = Script(finish(CONFIG, CODEC, emptied(), 10))
    update = script.run({})
    assert update.action is CookieAction.DELETE
    (delete,) = script.steps
    assert delete.operation == "delete_item"
    assert delete.params == requests.delete_emptied(
        CONFIG, KEY, 1, bounds=ValidityBounds(now=10, used_after=10 - 100, born_after=None)
    )
    assert "ConditionExpression" in delete.params  # never the unconditional delete of 0.1


def test_an_emptied_session_that_lost_a_race_saves_the_merged_keys_and_keeps_its_cookie():
    session = emptied()
    script = Script(finish(CONFIG, CODEC, session, 10))
    theirs = {"Item": item({"flash": "hi", "cart": [1]}, 2)}  # another request added a cart
    update = script.run(CONFLICT, theirs, {})
    assert script.operations == ["delete_item", "get_item", "update_item"]
    assert update.action is CookieAction.SET and update.value == SID
    written = script.steps[2].params
    assert written["ExpressionAttributeValues"][":expected"] == {"N": "2"}
    assert dict(session.items()) == {"cart": [1]}


def test_an_emptied_session_still_empty_after_the_merge_is_deleted_as_re_read():
    script = Script(finish(CONFIG, CODEC, emptied(), 10))
    theirs = {"Item": item({"flash": "changed"}, 2)}  # the same key: this request's pop wins
    update = script.run(CONFLICT, theirs, {})
    assert script.operations == ["delete_item", "get_item", "delete_item"]
    assert script.steps[2].params["ExpressionAttributeValues"][":expected"] == {"N": "2"}
    assert update.action is CookieAction.DELETE


def test_read_only_session_is_touched_only_when_due():
    session = stored()
    assert session["a"] == 1
    assert decide(session, 9, CONFIG).write is Write.NONE
    assert decide(session, 10, CONFIG) == Plan(Write.TOUCH, (), CookieAction.SET)
    assert decide(stored(), 50, CONFIG).write is Write.NONE  # loaded but never used
    assert decide(stored(), 0, CONFIG, always_save=True).write is Write.TOUCH


def test_rotation_and_flush_retire_the_old_id():
    session = stored()
    old = session.session_id
    session.rotate()
    assert decide(session, 0, CONFIG) == Plan(Write.CREATE, (old,), CookieAction.SET)
    flushed = stored()
    flushed.flush()
    assert decide(flushed, 0, CONFIG) == Plan(
        Write.NONE, (flushed.retired_ids[0],), CookieAction.DELETE
    )


def test_a_failed_deferred_load_writes_nothing_and_keeps_the_cookie():
    def failing() -> Session:
        raise BackendUnavailableError("down", code="X", operation="get_item")

    session = Session.deferred(failing)
    for _ in range(2):
        with pytest.raises(BackendUnavailableError):
            session["a"] = 1
    assert decide(session, 0, CONFIG, always_save=True) == Plan(Write.NONE, (), CookieAction.KEEP)
    script = Script(finish(CONFIG, Codec(), session, 0, always_save=True))
    assert script.run().action is CookieAction.KEEP and script.steps == []

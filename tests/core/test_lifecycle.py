"""The end-of-request decision, case by case (see the table in _core/lifecycle.py)."""

import pytest
from flowscript import Script

from dynamodb_sessions import BackendUnavailableError, Codec, Session, StoreConfig, StoredState
from dynamodb_sessions._core import requests
from dynamodb_sessions._core.flows import Failed, encode_values, finish
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
        encode_values(CODEC, data, ""),
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


def after_update(data: dict, version: int) -> dict:
    """The update's answer (``ALL_NEW``): the item as the update left it."""
    return {"Attributes": item(data, version)}


def test_an_emptied_session_is_deleted_only_if_nothing_was_written_since_the_update():
    script = Script(finish(CONFIG, CODEC, emptied(), 10))
    update = script.run(after_update({}, 2), {})
    assert update.action is CookieAction.DELETE
    remove, delete = script.steps
    assert remove.operation == "update_item" and remove.params["ReturnValues"] == "ALL_NEW"
    assert remove.params["ExpressionAttributeNames"]["#r0"] == "s:flash"
    assert delete.operation == "delete_item"
    # Conditional on the version the update gave the item, and on validity.
    assert delete.params == requests.delete_emptied(
        CONFIG, KEY, 2, bounds=ValidityBounds(now=10, used_after=10 - 100, born_after=None)
    )
    assert "ConditionExpression" in delete.params  # never the unconditional delete of 0.1


def test_an_emptied_session_that_lost_a_race_keeps_the_other_keys_and_its_cookie():
    session = emptied()
    script = Script(finish(CONFIG, CODEC, session, 10))
    # Another request added a cart before the update: the update answers with it.
    update = script.run(after_update({"cart": [1]}, 3))
    assert script.operations == ["update_item"]  # nothing to delete
    assert update.action is CookieAction.SET and update.value == SID
    assert dict(session.items()) == {"cart": [1]}


def test_a_key_written_between_the_update_and_the_delete_survives():
    session = emptied()
    script = Script(finish(CONFIG, CODEC, session, 10))
    # Empty after the update; another request adds a key (bumping the version) before the
    # delete, whose condition then fails: the item and its new key stay, and the cookie.
    update = script.run(after_update({}, 2), CONFLICT)
    assert script.operations == ["update_item", "delete_item"]
    assert update.action is CookieAction.SET and update.value == SID


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

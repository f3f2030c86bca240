"""The end-of-request decision, case by case (see the table in _core/lifecycle.py)."""

from dynamodb_sessions import Session, StoreConfig, StoredState
from dynamodb_sessions._core.lifecycle import CookieAction, Plan, Write, decide

CONFIG = StoreConfig(table="t", timeout=100)
STATE = StoredState(version=1, created=0, accessed=0, timeout=100, expires=100, raw=b"J{}")


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

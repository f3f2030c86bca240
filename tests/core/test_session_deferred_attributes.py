"""A deferred session's ``user_id`` and ``timeout`` behave like its data: the first use loads it,
so a value set before any other access is kept, not overwritten by the load."""

from __future__ import annotations

from dynamodb_sessions import Session
from dynamodb_sessions._core.items import StoredState

STATE = StoredState(
    version=3, created=100, accessed=200, timeout=60, expires=300, raw=b"", user_id="ada"
)


def loaded() -> Session:
    return Session({"visits": 1}, session_id="x" * 43, stored=STATE)


def test_reading_user_id_or_timeout_loads_the_session():
    for name in ("user_id", "timeout"):
        session = Session.deferred(loaded)
        value = getattr(session, name)
        assert session.is_loaded
        assert value == getattr(STATE, name)


def test_values_set_before_any_access_survive_the_load():
    session = Session.deferred(loaded)
    session.user_id = "grace"
    session.rotate()  # the log-in recipe: set the user, then rotate
    assert session.user_id == "grace"
    assert session.to_dict() == {"visits": 1}

    session = Session.deferred(loaded)
    session.timeout = 5
    assert session.timeout == 5
    assert session.stored == STATE

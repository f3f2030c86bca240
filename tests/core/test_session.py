import pytest

from dynamodb_sessions import Session


def test_reads_mark_accessed_and_writes_mark_modified():
    session = Session({"a": 1})
    assert not session.accessed and not session.modified
    assert session["a"] == 1
    assert session.accessed and not session.modified
    session["b"] = 2
    assert session.modified


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: s.__setitem__("k", 1),
        lambda s: s.__delitem__("a"),
        lambda s: s.pop("a"),
        lambda s: s.popitem(),
        lambda s: s.setdefault("new", 1),
        lambda s: s.update({"k": 1}),
        lambda s: s.update(k=1),
        lambda s: s.__ior__({"k": 1}),
        lambda s: s.clear(),
    ],
)
def test_every_mutator_marks_modified(mutate):
    session = Session({"a": 1})
    mutate(session)
    assert session.modified and session.accessed


def test_popping_an_absent_key_changes_and_marks_nothing():
    # As Starlette's and Flask's sessions: `session.pop("user", None)` on an anonymous request
    # must not make the request write a session.
    session = Session({"a": 1})
    assert session.pop("missing", None) is None
    assert session.pop("missing", 7) == 7
    assert not session.modified and not session.accessed
    with pytest.raises(KeyError):
        session.pop("missing")
    assert not session.modified
    assert session.pop("a") == 1 and session.modified and session.accessed


def test_a_deferred_session_loads_to_pop():
    session = Session.deferred(lambda: Session({"a": 1}))
    assert session.pop("missing", None) is None and session.is_loaded
    assert session.pop("a") == 1 and session.modified


def test_mark_accessed_is_starlettes_hook():
    # Starlette's request.session calls it on every use (and so sends Vary: Cookie).
    session = Session.deferred(lambda: Session({"a": 1}))
    session.mark_accessed()
    assert session.accessed and session.is_loaded and not session.modified


def test_setdefault_on_an_existing_key_is_a_read():
    session = Session({"a": 1})
    assert session.setdefault("a", 2) == 1
    assert session.accessed and not session.modified


def test_deferred_session_loads_on_first_use_only():
    loads = []

    def loader():
        loads.append(1)
        return Session({"a": 1}, session_id="x" * 43)

    session = Session.deferred(loader)
    assert not session.is_loaded and loads == []
    assert "a" in session
    assert session["a"] == 1 and session.session_id == "x" * 43
    assert loads == [1] and session.is_loaded


def test_rotate_keeps_data_and_retires_the_stored_id():
    from dynamodb_sessions import StoredState

    state = StoredState(version=1, created=0, accessed=0, timeout=1, expires=1, raw=b"")
    session = Session({"a": 1}, session_id="y" * 43, stored=state)
    session.rotate()
    assert session.retired_ids == ["y" * 43] and session.session_id != "y" * 43
    assert dict(session) == {"a": 1} and session.is_new


def test_flush_empties_and_retires():
    from dynamodb_sessions import StoredState

    state = StoredState(version=1, created=0, accessed=0, timeout=1, expires=1, raw=b"")
    session = Session({"a": 1}, session_id="y" * 43, stored=state)
    session.user_id = "ada"
    session.flush()
    assert dict(session) == {} and session.retired_ids == ["y" * 43]
    assert session.user_id is None


def test_sessions_are_not_hashable_like_dicts():
    with pytest.raises(TypeError):
        hash(Session())

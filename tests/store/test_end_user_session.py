"""Ending one of a user's sessions (issue 11, item 11), by the key the listing shows."""

from dynamodb_sessions import SessionStore
from dynamodb_sessions.ids import storage_key


def log_in(store: SessionStore, user: str) -> str:
    session = store.load(None)
    session["n"] = 1
    session.user_id = user
    store.finish(session)
    return session.session_id


def test_end_one_listed_session_and_keep_the_others(store, caplog):
    caplog.set_level("INFO", logger="dynamodb_sessions.security")
    phone, laptop = log_in(store, "ada"), log_in(store, "ada")
    log_in(store, "bob")
    listed = {s.key for s in store.list_user_sessions("ada")}
    assert listed == {storage_key(phone), storage_key(laptop)}  # hashes, never the ids

    assert store.end_user_session("ada", storage_key(phone)) is True
    assert store.load(phone).is_new  # that device is logged out
    assert store.load(laptop)["n"] == 1  # the other one is not
    assert [s.key for s in store.list_user_sessions("ada")] == [storage_key(laptop)]
    assert store.end_user_session("ada", storage_key(phone)) is False  # already gone
    events = [getattr(r, "event", "") for r in caplog.records]
    assert [e for e in events if e.startswith("ended")] == ["ended_listed"]
    assert "ada" not in caplog.text and storage_key(phone) not in caplog.text


def test_another_users_session_or_a_raw_id_is_never_ended(store):
    bobs = log_in(store, "bob")
    assert store.end_user_session("ada", storage_key(bobs)) is False
    assert store.end_user_session("bob", bobs) is False  # the id itself is not a reference
    assert store.load(bobs)["n"] == 1

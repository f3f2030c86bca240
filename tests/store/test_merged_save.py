"""Concurrent saves of different keys keep every key, and a second save of a session keeps
the keys other requests wrote (it writes only what it changed)."""

from __future__ import annotations

from dynamodb_sessions import SaveOutcome, Session


def test_a_merged_save_leaves_the_session_holding_the_stored_data(store):
    original = Session({"shared": 0})
    store.create(original)
    mine, theirs = store.load(original.session_id), store.load(original.session_id)
    theirs["theirs"] = 1
    assert store.save(theirs) is SaveOutcome.SAVED
    mine["mine"] = 2
    assert store.save(mine) is SaveOutcome.SAVED  # only "mine": no conflict with "theirs"
    assert mine.to_dict() == {"shared": 0, "mine": 2}
    # A second save of the same session (Django's engine can make one) keeps "theirs".
    mine["again"] = 3
    assert store.save(mine) is SaveOutcome.SAVED
    assert store.load(original.session_id).to_dict() == {
        "shared": 0,
        "theirs": 1,
        "mine": 2,
        "again": 3,
    }

from dynamodb_sessions import SessionStore


def test_roundtrip(store: SessionStore, engine):
    s = store.load(None)
    s["a"] = 1
    store.finish(s)
    assert dict(store.load(s.session_id)) == {"a": 1}
    print(engine.name, store.check_table())

"""The user index holds keys only, so saves and expiry refreshes never write it; a table made
with 0.1's index (projecting the validity attributes) keeps working, and ``check`` says so."""

from __future__ import annotations

import uuid

from test_gc_users_lock import new_session

from dynamodb_sessions import SessionStore, StoreConfig
from dynamodb_sessions._core import requests


def test_create_table_makes_a_keys_only_index(store, config):
    table = store.client.describe_table(TableName=config.table)["Table"]
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert not any("projects" in note for note in store.check_table().notes)


def test_a_table_with_the_old_projection_keeps_working(engine, clock):
    config = StoreConfig(table=f"old-{uuid.uuid4().hex[:12]}", connection=engine.connection())
    params = requests.create_table(config)
    params["GlobalSecondaryIndexes"][0]["Projection"] = {  # as 0.1 made it
        "ProjectionType": "INCLUDE",
        "NonKeyAttributes": ["created", "accessed", "pinned_timeout", "expires"],
    }
    store = SessionStore(config, clock=clock)
    store.client.create_table(**params)
    try:
        report = store.check_table()
        assert report.ok
        assert any("projects INCLUDE" in note for note in report.notes)
        ids = [new_session(store, "alice") for _ in range(2)]
        listed = store.list_user_sessions("alice")
        assert len(listed) == 2 and all(s.active and s.accessed for s in listed)
        assert store.revoke_user("alice") == 2
        assert all(store.load(sid).is_new for sid in ids)
    finally:
        store.client.delete_table(TableName=config.table)

"""Configuration from the environment and the DYNAMODB_SESSIONS setting, and the manage.py
commands: createsessiontable, checksessiontable, clearsessions."""

from __future__ import annotations

import uuid
from io import StringIO

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.test import Client, override_settings

from dynamodb_sessions import SessionStore as Store
from dynamodb_sessions.ids import storage_key
from dynamodb_sessions.integrations.django import SessionStore, get_store, set_store


@pytest.fixture
def from_settings():
    """The engine builds its store from the settings (no store set in code)."""
    set_store(None)
    yield
    set_store(None)


def engine_settings(config, **extra):
    connection = config.connection
    return {
        "table": config.table,
        "endpoint_url": connection.endpoint_url,
        "region": connection.region,
        "access_key": connection.access_key,
        "secret_key": connection.secret_key,
        # The fixtures' patient timeouts (tests/conftest.py: ENGINE_TIMEOUTS): with the library's
        # 1 s, a loaded machine made botocore send DeleteTable again after it had landed.
        "connect_timeout": connection.connect_timeout,
        "read_timeout": connection.read_timeout,
        **extra,
    }


def test_configured_from_the_environment(config, from_settings, monkeypatch):
    connection = config.connection
    monkeypatch.setenv("AWS_DYNAMODB_SESSION_TABLE", config.table)
    monkeypatch.setenv("AWS_DYNAMODB_ENDPOINT", connection.endpoint_url)
    monkeypatch.setenv("AWS_REGION_NAME", connection.region)
    monkeypatch.setenv("AWS_ACCESS_KEY", connection.access_key)
    monkeypatch.setenv("AWS_SECRET_KEY", connection.secret_key)
    monkeypatch.setenv("AWS_DYNAMODB_SESSION_LIFETIME", "7200")
    with override_settings(SESSION_COOKIE_AGE=3600):
        store = get_store()
        assert store.config.table == config.table
        assert store.config.timeout == 3600
        assert store.config.gc_lifetime == 7200
        assert get_store() is store  # one store (one client) per process
        client = Client()
        client.get("/set/a/b")
        assert client.get("/get/a").json()["value"] == "b"


def test_the_setting_overrides_the_environment(config, from_settings, monkeypatch):
    monkeypatch.setenv("AWS_DYNAMODB_SESSION_TABLE", "not-this-one")
    with override_settings(DYNAMODB_SESSIONS=engine_settings(config, key_prefix="app1:")):
        store = get_store()
        assert store.config.table == config.table
        assert store.config.key_prefix == "app1:"
        session = SessionStore()
        session["a"] = 1
        session.save()
        key = {"id": {"S": storage_key(session.session_key, "app1:")}}
        assert "Item" in store.client.get_item(TableName=config.table, Key=key)
    with override_settings(DYNAMODB_SESSIONS=engine_settings(config)):
        assert get_store() is not store  # rebuilt when the settings change


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"table": "t", "timeout": 60}, "SESSION_COOKIE_AGE"),
        ({"table": "t", "tabel": "typo"}, "unknown keys: tabel"),
        ({"table": "t", "region": "us-east-1", "gc_lifetime": 60}, "shorter than the session"),
        ({"region": "us-east-1"}, "AWS_DYNAMODB_SESSION_TABLE"),
    ],
    ids=["timeout", "unknown", "lifetime", "no-table"],
)
def test_bad_settings_are_improperly_configured(from_settings, options, message):
    with (
        override_settings(DYNAMODB_SESSIONS=options),
        pytest.raises(ImproperlyConfigured, match=message),
    ):
        get_store()


def test_createsessiontable_and_checksessiontable(engine, from_settings):
    table = f"sessions-{uuid.uuid4().hex[:12]}"
    options = engine_settings(_config_for(engine, table))
    with override_settings(DYNAMODB_SESSIONS=options):
        with pytest.raises(CommandError, match="does not exist"):
            call_command("checksessiontable", stdout=StringIO())
        out = StringIO()
        call_command("createsessiontable", "--wait", "30", stdout=out)
        assert f"table '{table}' created" in out.getvalue()
        out = StringIO()
        call_command("createsessiontable", "--wait", "30", stdout=out)
        assert f"table '{table}' exists" in out.getvalue()
        out = StringIO()
        call_command("checksessiontable", stdout=out)
        assert "is fit for sessions" in out.getvalue()
        with pytest.raises(CommandError, match="together"):
            call_command("createsessiontable", "--read-capacity", "5", stdout=StringIO())
        get_store().client.delete_table(TableName=table)


def _config_for(engine, table):
    from dynamodb_sessions import StoreConfig

    return StoreConfig(table=table, connection=engine.connection())


@override_settings(SESSION_COOKIE_AGE=120)
def test_clearsessions_collects_expired_sessions(config, clock):
    store = Store(config.replace(timeout=120), clock=clock)
    set_store(store)
    short = SessionStore()
    short["a"] = 1
    short.set_expiry(60)
    short.save()
    long = SessionStore()
    long["b"] = 2
    long.save()
    clock.advance(100)
    alive = SessionStore(long.session_key)
    alive["c"] = 3  # active: its item's expiry moves on
    alive.save()
    clock.advance(30)  # past the short one's item expiry (last write + 120 s)
    call_command("clearsessions")
    assert _item(store, short.session_key) is None
    assert _item(store, long.session_key) is not None
    set_store(None)


def _item(store: Store, session_id: str):
    key = {"id": {"S": storage_key(session_id, store.config.key_prefix)}}
    return store.client.get_item(TableName=store.config.table, Key=key).get("Item")

"""The Flask integration beyond the shared scenario: Flask's value types, its cookie settings,
permanent sessions, the extension's configuration. Against the real local engines."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timezone

import pytest
from flask import Flask, session
from markupsafe import Markup

from dynamodb_sessions import Codec, ConfigurationError, SessionStore, StoreConfig
from dynamodb_sessions.crypto import Keyring
from dynamodb_sessions.integrations.flask import DynamoDBSessions, FlaskSession, TaggedJSON


@pytest.fixture
def flask_store(config, clock):
    with SessionStore(config, codec=Codec(serializer=TaggedJSON()), clock=clock) as store:
        yield store


def make_app(store: SessionStore, **settings: object) -> Flask:
    app = Flask(__name__)
    app.config.update(PERMANENT_SESSION_LIFETIME=store.config.timeout, **settings)
    DynamoDBSessions(app, store=store)

    @app.get("/set/<key>/<value>")
    def set_value(key: str, value: str) -> str:
        session[key] = value
        return "ok"

    @app.get("/permanent")
    def make_permanent() -> str:
        session.permanent = True
        return "ok"

    @app.get("/read")
    def read() -> dict[str, object]:
        return {"data": session.to_dict(), "new": session.new}

    return app


def session_cookie(response, name="session"):
    return [c for c in response.headers.getlist("Set-Cookie") if c.startswith(f"{name}=")]


def test_flasks_tagged_json_types_round_trip(flask_store):
    app = make_app(flask_store)
    when = datetime(2026, 11, 26, 12, 30, 15, tzinfo=timezone.utc)
    values = {
        "tuple": (1, "two", 3.0),
        "bytes": b"\x00\xffraw",
        "when": when,
        "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "markup": Markup("<b>bold</b>"),
        "nested": {" t": ["a tag-like key"], "list": [(1, 2)]},
    }

    @app.get("/put")
    def put() -> str:
        session.update(values)
        return "ok"

    @app.get("/check")
    def check() -> str:
        for key, value in values.items():
            assert session[key] == value and type(session[key]) is type(value), key
        return "same"

    client = app.test_client()
    client.get("/put")
    assert client.get("/check").text == "same"


def test_a_permanent_session_gets_a_lasting_cookie_others_a_browser_session_one(flask_store):
    client = make_app(flask_store).test_client()
    (cookie,) = session_cookie(client.get("/set/a/1"))
    assert "Expires" not in cookie and "Max-Age" not in cookie
    (cookie,) = session_cookie(client.get("/permanent"))
    assert f"Max-Age={flask_store.config.timeout}" in cookie and "Expires=" in cookie
    assert client.get("/read").json == {"data": {"a": "1", "_permanent": True}, "new": False}


def test_flasks_cookie_settings_shape_the_cookie(flask_store):
    app = make_app(
        flask_store,
        SESSION_COOKIE_NAME="sid",
        SESSION_COOKIE_DOMAIN="example.org",
        SESSION_COOKIE_PATH="/app",
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=False,
        SESSION_COOKIE_SAMESITE="Strict",
    )
    (cookie,) = session_cookie(app.test_client().get("/set/a/1"), "sid")
    assert "Domain=example.org" in cookie and "Path=/app" in cookie
    assert "Secure" in cookie and "SameSite=Strict" in cookie and "HttpOnly" not in cookie


def test_a_new_session_says_so_and_in_place_changes_need_modified(flask_store):
    app = make_app(flask_store)

    @app.get("/cart")
    def cart() -> str:
        session.setdefault("cart", [])
        session["cart"].append("apple")  # invisible to the session...
        session.modified = True  # ...so the view says it, as in Flask
        return "ok"

    client = app.test_client()
    assert client.get("/read").json == {"data": {}, "new": True}
    client.get("/cart")
    client.get("/cart")
    assert client.get("/read").json == {"data": {"cart": ["apple", "apple"]}, "new": False}


def test_a_read_only_session_is_refreshed_once_touch_after_has_passed(flask_store, clock, call_log):
    app = make_app(flask_store)
    client = app.test_client()
    client.get("/set/a/1")
    client.get("/permanent")
    calls = call_log().attach(flask_store)
    response = client.get("/read")
    assert calls == ["GetItem"] and session_cookie(response) == []
    calls.clear()
    clock.advance(flask_store.config.timeout * flask_store.config.touch_after)
    response = client.get("/read")
    assert calls == ["GetItem", "UpdateItem"]  # a small update, not a rewrite
    (cookie,) = session_cookie(response)  # the cookie's expiry slides with it
    assert f"Max-Age={flask_store.config.timeout}" in cookie


def test_the_extension_builds_a_store_per_app_from_env_and_app_config(engine, monkeypatch):
    monkeypatch.setenv("AWS_DYNAMODB_SESSION_TABLE", "from-env")
    monkeypatch.setenv("AWS_DYNAMODB_ENDPOINT", engine.endpoint)
    monkeypatch.setenv("AWS_REGION_NAME", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY", "local")
    monkeypatch.setenv("AWS_SECRET_KEY", "local")
    sessions = DynamoDBSessions()
    one, two = Flask("one"), Flask("two")
    one.config["PERMANENT_SESSION_LIFETIME"] = 3600
    two.config.update(
        SESSION_REFRESH_EACH_REQUEST=False,
        DYNAMODB_SESSIONS={"table": "from-app-config", "key_prefix": "two:"},
    )
    sessions.init_app(one)
    sessions.init_app(two)
    first, second = one.extensions["dynamodb_sessions"], two.extensions["dynamodb_sessions"]
    with first, second:
        assert (first.config.table, first.config.timeout) == ("from-env", 3600)
        assert first.config.touch_after == StoreConfig(table="t").touch_after
        assert first.config.connection.endpoint_url == engine.endpoint
        assert (second.config.table, second.config.key_prefix) == ("from-app-config", "two:")
        assert second.config.timeout == 31 * 24 * 3600  # Flask's default lifetime
        # SESSION_REFRESH_EACH_REQUEST is read per request, not baked into the store.
        assert second.config.touch_after == first.config.touch_after
        assert isinstance(second.codec.serializer, TaggedJSON)
        assert first.client is not second.client


def test_the_extension_refuses_a_second_timeout(flask_store, monkeypatch):
    app = Flask(__name__)  # PERMANENT_SESSION_LIFETIME: 31 days; the store's timeout: 14
    with pytest.raises(ConfigurationError, match="PERMANENT_SESSION_LIFETIME"):
        DynamoDBSessions(app, store=flask_store)
    monkeypatch.setenv("AWS_DYNAMODB_SESSION_TABLE", "t")
    app.config["DYNAMODB_SESSIONS"] = {"timeout": 60}
    with pytest.raises(ConfigurationError, match="PERMANENT_SESSION_LIFETIME"):
        DynamoDBSessions(app)


def test_the_session_is_flasks_kind_of_session(flask_store):
    app = make_app(flask_store)
    with app.test_request_context("/"):
        app.preprocess_request()
        assert isinstance(session._get_current_object(), FlaskSession)
        assert not session.is_loaded  # opened, not yet loaded


# -- issue 11, item 10 ------------------------------------------------------------------------


def count_items(store: SessionStore) -> int:
    pages = store.client.get_paginator("scan").paginate(
        TableName=store.config.table, Select="COUNT"
    )
    return sum(page["Count"] for page in pages)


def test_permanent_alone_creates_no_item_and_no_cookie(flask_store):
    app = make_app(flask_store)

    @app.before_request
    def every_session_permanent() -> None:
        session.permanent = True  # the common recipe

    @app.get("/")
    def home() -> str:
        return "hello"

    client = app.test_client(use_cookies=False)
    for _ in range(200):  # anonymous visitors
        assert session_cookie(client.get("/")) == []
    assert count_items(flask_store) == 0
    # The flag still goes with the first real change: a lasting cookie, and stored.
    (cookie,) = session_cookie(client.get("/set/a/1"))
    assert f"Max-Age={flask_store.config.timeout}" in cookie
    sid = cookie.split(";")[0].partition("=")[2]
    assert count_items(flask_store) == 1
    reply = client.get("/read", headers={"Cookie": f"session={sid}"})
    assert reply.json == {"data": {"a": "1", "_permanent": True}, "new": False}
    assert session_cookie(reply) == []  # permanent already: nothing to store


def test_refresh_each_request_is_read_per_request_with_a_store_passed_in(
    flask_store, clock, call_log
):
    app = make_app(flask_store)
    client = app.test_client()
    client.get("/set/a/1")
    client.get("/permanent")
    calls = call_log().attach(flask_store)
    clock.advance(flask_store.config.timeout * flask_store.config.touch_after)
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False  # changed after set-up, as Flask allows
    response = client.get("/read")
    assert calls == ["GetItem"] and session_cookie(response) == []  # reads do not refresh
    calls.clear()
    app.config["SESSION_REFRESH_EACH_REQUEST"] = True
    response = client.get("/read")
    assert calls == ["GetItem", "UpdateItem"]
    (cookie,) = session_cookie(response)
    assert f"Max-Age={flask_store.config.timeout}" in cookie


def test_an_injected_codec_never_silently_overrides_the_configuration(config):
    tagged = Codec(serializer=TaggedJSON())
    with pytest.raises(ConfigurationError, match="compress_threshold"):
        SessionStore(config.replace(compress_threshold=64), codec=tagged)
    key = base64.b64encode(bytes(range(32))).decode()
    migrating = config.replace(encryption_keys=(key,), accept_unencrypted=True)
    with pytest.raises(ConfigurationError, match="accept_unencrypted"):
        SessionStore(migrating, codec=Codec(serializer=TaggedJSON(), keyring=Keyring([key])))
    # Where the codec leaves it to the configuration, the configuration applies.
    with SessionStore(migrating, codec=tagged) as store:
        assert store.codec.keyring is not None and store.codec.accept_plaintext
    with SessionStore(config.replace(compress_threshold=64), codec=Codec(compress_threshold=64)):
        pass


def test_app_config_that_a_store_passed_in_would_ignore_is_refused(flask_store):
    app = Flask(__name__)
    app.config.update(
        PERMANENT_SESSION_LIFETIME=flask_store.config.timeout,
        DYNAMODB_SESSIONS={"compress_threshold": 64, "table": flask_store.config.table},
    )
    with pytest.raises(ConfigurationError, match="compress_threshold"):
        DynamoDBSessions(app, store=flask_store)
    app.config["DYNAMODB_SESSIONS"] = {"table": flask_store.config.table}  # agrees: fine
    DynamoDBSessions(app, store=flask_store)


@pytest.mark.parametrize(
    "settings",
    [
        {
            "SESSION_COOKIE_NAME": "__Host-session",
            "SESSION_COOKIE_SECURE": True,
            "SESSION_COOKIE_DOMAIN": "example.org",
        },
        {
            "SESSION_COOKIE_NAME": "__Host-session",
            "SESSION_COOKIE_SECURE": True,
            "APPLICATION_ROOT": "/app",
        },  # the cookie's path when SESSION_COOKIE_PATH is unset
        {"SESSION_COOKIE_NAME": "__Host-session"},
        {"SESSION_COOKIE_NAME": "__Secure-session"},
        {"SESSION_COOKIE_SAMESITE": "None"},
        {"SESSION_COOKIE_PARTITIONED": True},
        {"SESSION_COOKIE_SAMESITE": "sometimes"},
    ],
)
def test_cookie_settings_browsers_refuse_are_refused_by_init_app(flask_store, settings):
    app = Flask(__name__)
    app.config.update(PERMANENT_SESSION_LIFETIME=flask_store.config.timeout, **settings)
    with pytest.raises(ConfigurationError, match="SESSION_COOKIE_"):
        DynamoDBSessions(app, store=flask_store)


def test_a_host_prefixed_cookie_that_can_work_is_accepted(flask_store):
    app = make_app(flask_store, SESSION_COOKIE_NAME="__Host-session", SESSION_COOKIE_SECURE=True)
    response = app.test_client().get("/set/a/1", base_url="https://localhost")
    (cookie,) = session_cookie(response, "__Host-session")
    assert "Secure" in cookie and "Domain" not in cookie and "Path=/" in cookie

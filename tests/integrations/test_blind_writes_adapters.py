"""Writing without reading through the lazy adapters (issue 14, item 6): with an existing cookie,
a request that only sets keys costs exactly one UpdateItem and no GetItem, in WSGI and in
Flask (their own test clients, real engines); it never brings back a session that expired or
was deleted before it; a request that reads after setting still loads, and sees the stored
keys with its own over them."""

from __future__ import annotations

import json

import pytest
from flask import Flask, session
from werkzeug.test import Client

from dynamodb_sessions import Codec, SessionStore
from dynamodb_sessions.ids import storage_key
from dynamodb_sessions.integrations.flask import DynamoDBSessions, TaggedJSON
from dynamodb_sessions.integrations.wsgi import ENVIRON_KEY, SessionMiddleware
from faults.proxy import FaultProxy, failing_fast_through


def wsgi_app(environ, start_response):
    """/set/k/v only sets; /setread/k/v sets, then reads; /read reads."""
    parts = environ["PATH_INFO"].strip("/").split("/")
    current = environ[ENVIRON_KEY]
    body = b"ok"
    if parts[0] in ("set", "setread"):
        current[parts[1]] = parts[2]
    if parts[0] in ("read", "setread"):
        body = json.dumps(dict(current)).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def flask_app(store: SessionStore) -> Flask:
    app = Flask(__name__)
    app.config["PERMANENT_SESSION_LIFETIME"] = store.config.timeout
    DynamoDBSessions(app, store=store)

    @app.get("/set/<key>/<value>")
    def set_value(key: str, value: str) -> str:
        session[key] = value
        return "ok"

    @app.get("/setread/<key>/<value>")
    def set_then_read(key: str, value: str) -> dict[str, object]:
        session[key] = value
        return dict(session)

    @app.get("/read")
    def read() -> dict[str, object]:
        return dict(session)

    @app.get("/permanent")
    def permanent() -> str:
        session.permanent = True
        return "ok"

    return app


@pytest.fixture(params=["wsgi", "flask"])
def web(request, config, clock, call_log):
    """(test client, store, calls) for one adapter on a table of its own."""
    if request.param == "wsgi":
        store = SessionStore(config, clock=clock)
        client = Client(SessionMiddleware(wsgi_app, store))
    else:
        store = SessionStore(config, codec=Codec(serializer=TaggedJSON()), clock=clock)
        client = flask_app(store).test_client()
    with store:
        yield client, store, call_log().attach(store)


def cookie_of(client) -> str:
    return client.get_cookie("session").value


def read(client) -> dict:
    return json.loads(client.get("/read").get_data())


def stored_item(store: SessionStore, sid: str) -> dict | None:
    key = {"id": {"S": storage_key(sid, store.config.key_prefix)}}
    answer = store.client.get_item(TableName=store.config.table, Key=key, ConsistentRead=True)
    return answer.get("Item")


def set_cookies(response) -> list[str]:
    return [h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")]


def test_a_set_only_request_costs_one_update_and_no_read(web, clock):
    client, store, calls = web
    client.get("/set/user/ada")
    sid = cookie_of(client)
    clock.advance(60)
    calls.clear()
    response = client.get("/set/theme/dark")
    assert calls == ["UpdateItem"]
    (cookie,) = set_cookies(response)  # the same id, its Max-Age slid as on any save
    assert cookie.startswith(f"session={sid};")
    assert response.headers["Vary"] == "Cookie"
    assert read(client) == {"user": "ada", "theme": "dark"}
    item = stored_item(store, sid)
    assert item["accessed"] == {"N": str(int(clock.now))}
    assert item["version"] == {"N": "2"}


def test_a_blind_write_never_brings_back_an_expired_session(web, clock):
    client, store, calls = web
    client.get("/set/user/ada")
    old = cookie_of(client)
    before = stored_item(store, old)
    clock.advance(store.config.timeout)  # expired between the two requests
    calls.clear()
    client.get("/set/theme/dark")
    # Refused, then read as the first set would have read it: a new session with only this
    # request's key, under a new id; the old item is left as it was, to expire.
    assert calls == ["UpdateItem", "GetItem", "PutItem"]
    assert cookie_of(client) != old
    assert stored_item(store, old) == before
    calls.clear()
    assert read(client) == {"theme": "dark"}


def test_a_blind_write_never_brings_back_a_deleted_session(web):
    client, store, calls = web
    client.get("/set/user/ada")
    old = cookie_of(client)
    store.delete(old)  # logged out elsewhere, or revoked, between the two requests
    calls.clear()
    client.get("/set/theme/dark")
    assert calls == ["UpdateItem", "GetItem", "PutItem"]
    assert stored_item(store, old) is None and cookie_of(client) != old
    assert read(client) == {"theme": "dark"}


def test_a_request_that_reads_after_setting_loads_and_its_own_keys_win(web):
    client, _, calls = web
    client.get("/set/user/ada")
    client.get("/set/theme/light")
    calls.clear()
    response = client.get("/setread/theme/dark")
    assert json.loads(response.get_data()) == {"user": "ada", "theme": "dark"}
    assert calls == ["GetItem", "UpdateItem"]
    assert read(client) == {"user": "ada", "theme": "dark"}


def test_flask_a_blind_write_keeps_a_permanent_sessions_cookie_persistent(config, clock):
    # The cookie's Max-Age depends on the stored data (Flask's _permanent): the update answers
    # with the item, so no read is needed to know it.
    store = SessionStore(config, codec=Codec(serializer=TaggedJSON()), clock=clock)
    client = flask_app(store).test_client()
    client.get("/set/user/ada")
    assert "Max-Age" not in set_cookies(client.get("/set/a/1"))[0]  # not permanent: none
    client.get("/permanent")
    (cookie,) = set_cookies(client.get("/set/b/2"))
    assert f"Max-Age={store.config.timeout}" in cookie
    store.close()


def flask_app_permanent_everywhere(store: SessionStore) -> Flask:
    """The adapter's test app with Flask's common recipe: every request sets
    ``session.permanent = True`` before its view; ``/fail`` raises."""
    app = flask_app(store)

    @app.before_request
    def every_session_permanent() -> None:
        session.permanent = True

    @app.get("/unused")
    def unused() -> str:
        return "ok"

    @app.get("/fail")
    def fail() -> str:
        raise RuntimeError("the view failed")

    return app


@pytest.fixture
def permanent_app(config, clock, call_log):
    """(test client, store, calls) for the recipe's app on a table of its own."""
    store = SessionStore(config, codec=Codec(serializer=TaggedJSON()), clock=clock)
    with store:
        yield flask_app_permanent_everywhere(store).test_client(), store, call_log().attach(store)


def test_flask_the_permanent_recipe_keeps_a_set_only_request_a_blind_write(permanent_app):
    # ``session.permanent = True`` before every view used to read the session: a set-only
    # request paid a GetItem before its update. The flag now goes with the blind write.
    client, store, calls = permanent_app
    client.get("/set/user/ada")  # the recipe's first request: stored, permanent
    sid = cookie_of(client)
    calls.clear()
    (cookie,) = set_cookies(client.get("/set/theme/dark"))
    assert calls == ["UpdateItem"]
    assert f"Max-Age={store.config.timeout}" in cookie
    calls.clear()
    assert read(client) == {"user": "ada", "theme": "dark", "_permanent": True}
    assert calls == ["GetItem"]  # a read: nothing to store, the flag is already there
    assert cookie_of(client) == sid


def test_flask_the_permanent_recipe_on_a_session_stored_without_the_flag(config, clock, call_log):
    store = SessionStore(config, codec=Codec(serializer=TaggedJSON()), clock=clock)
    with store:
        plain = flask_app(store).test_client()
        plain.get("/set/user/ada")  # stored before the recipe came: not permanent
        plain.get("/set/x/1")
        sid = cookie_of(plain)
        calls = call_log().attach(store)
        client = flask_app_permanent_everywhere(store).test_client()
        client.set_cookie("session", sid)

        # A set-only request: the flag rides with the keys in the one update.
        (cookie,) = set_cookies(client.get("/set/theme/dark"))
        assert calls == ["UpdateItem"]
        assert f"Max-Age={store.config.timeout}" in cookie
        assert json.loads(stored_json(store, sid))["_permanent"] is True

        # A request that never touches its session: the flag is decided against the stored
        # one at the end (one read, which the setter used to make first); unchanged, so nothing
        # is written and the cookie stays as it is.
        calls.clear()
        assert set_cookies(client.get("/unused")) == []
        assert calls == ["GetItem"]

        # The same on the other session still stored without the flag: it is stored now.
        other = flask_app(store).test_client()
        other.get("/set/user/bob")
        calls.clear()
        client.set_cookie("session", cookie_of(other))
        (cookie,) = set_cookies(client.get("/unused"))
        assert calls == ["GetItem", "UpdateItem"]
        assert f"Max-Age={store.config.timeout}" in cookie
        assert json.loads(stored_json(store, cookie_of(other)))["_permanent"] is True

        # A failed request writes nothing, so it needs no read to decide the flag either.
        calls.clear()
        assert client.get("/fail").status_code == 500
        assert calls == []


def stored_json(store: SessionStore, sid: str) -> str:
    """The stored session's data as the Flask app sees it (its ``/read``)."""
    client = flask_app(store).test_client()
    client.set_cookie("session", sid)
    return client.get("/read").get_data(as_text=True)


@pytest.mark.engines("dynalite", reason="the fault is the proxy's; one engine is enough")
def test_flask_the_permanent_recipe_in_an_outage(engine, config, clock):
    # The flag alone needs its read at the end of the request; if DynamoDB is down then, the
    # answer is 503 with the cookie kept, as for a failed save (the flag may be the request's
    # one change), whether the view read the session or not.
    with FaultProxy(engine.endpoint) as proxy:
        store = SessionStore(
            failing_fast_through(config, proxy), codec=Codec(serializer=TaggedJSON()), clock=clock
        )
        with store:
            client = flask_app_permanent_everywhere(store).test_client()
            client.get("/set/user/ada")
            sid = cookie_of(client)
            proxy.refuse()
            reply = client.get("/unused")
            assert (reply.status_code, set_cookies(reply)) == (503, [])
            reply = client.get("/read")
            assert (reply.status_code, set_cookies(reply)) == (503, [])
            proxy.restore()
            assert read(client) == {"user": "ada", "_permanent": True}
            assert cookie_of(client) == sid

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

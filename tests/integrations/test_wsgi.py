"""The WSGI middleware through werkzeug's test client, against a real local engine."""

import json
import socket

import pytest
from werkzeug.test import Client

from dynamodb_sessions import Connection, CookieSettings, SessionStore, StoreConfig
from dynamodb_sessions.integrations.wsgi import ENVIRON_KEY, SessionMiddleware


def app(environ, start_response):
    """/ does not touch the session; /get reads it; /set?k=v writes; /clear empties it."""
    path, query = environ["PATH_INFO"], environ.get("QUERY_STRING", "")
    session = environ[ENVIRON_KEY]
    body = b"hello"
    if path == "/get":
        body = json.dumps(dict(session)).encode()
    elif path == "/set":
        key, _, value = query.partition("=")
        session[key] = value
    elif path == "/clear":
        session.clear()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


@pytest.fixture
def client(store):
    return Client(SessionMiddleware(app, store))


def session_cookie(response):
    return [h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")]


def test_a_request_that_never_touches_its_session_costs_nothing(client, calls):
    response = client.get("/")
    assert response.status_code == 200 and session_cookie(response) == []
    assert "Vary" not in response.headers
    assert calls == []


def test_create_read_modify(client, calls):
    response = client.get("/set?user=ada")
    (cookie,) = session_cookie(response)
    assert "httponly" in cookie and "samesite=lax" in cookie and "Max-Age=" in cookie
    assert "secure" not in cookie
    assert response.headers["Vary"] == "Cookie"
    assert calls == ["PutItem"]  # a new session: no read at all

    calls.clear()
    assert client.get("/get").json == {"user": "ada"}
    assert calls == ["GetItem"]

    calls.clear()
    client.get("/set?n=1")
    assert calls == ["UpdateItem"]  # only set, never read: written without a read
    assert client.get("/get").json == {"user": "ada", "n": "1"}


def test_an_unused_session_with_a_cookie_is_not_loaded(client, calls):
    client.get("/set?a=1")
    calls.clear()
    response = client.get("/")
    assert calls == [] and session_cookie(response) == []


def test_a_garbage_cookie_is_a_new_session_without_a_call(client, calls):
    client.set_cookie("session", "garbage")
    response = client.get("/get")
    assert response.json == {}
    assert calls == []
    (cookie,) = session_cookie(response)
    assert "Max-Age=0" in cookie  # the stale cookie is removed


def test_clear_deletes_item_and_cookie(client, store):
    client.get("/set?a=1")
    sid = client.get_cookie("session").value
    response = client.get("/clear")
    (cookie,) = session_cookie(response)
    assert "Max-Age=0" in cookie
    assert not store.exists(sid)


def test_expired_session_starts_over(client, clock, store):
    client.get("/set?a=1")
    old = client.get_cookie("session").value
    clock.advance(store.config.timeout)
    assert client.get("/get").json == {}
    client.get("/set?b=2")
    assert client.get_cookie("session").value != old


def test_secure_cookie_settings(store):
    settings = CookieSettings(name="sid", secure=True, samesite="strict", domain="example.org")
    client = Client(SessionMiddleware(app, store, cookie=settings))
    response = client.get("/set?a=1")
    (cookie,) = response.headers.getlist("Set-Cookie")
    assert cookie.startswith("sid=")
    assert "secure" in cookie and "samesite=strict" in cookie and "domain=example.org" in cookie


@pytest.mark.engines("moto", reason="one engine is enough to show an outage")
def test_an_outage_answers_503_and_keeps_the_cookie(config):
    working = Client(SessionMiddleware(app, SessionStore(config)))
    working.get("/set?a=1")
    sid = working.get_cookie("session").value

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    down = config.replace(
        connection=Connection(
            endpoint_url=dead, region="us-east-1", access_key="x", secret_key="x", max_attempts=1
        )
    )
    broken = Client(SessionMiddleware(app, SessionStore(down)))
    broken.set_cookie("session", sid)
    for path in ("/get", "/set?a=2"):
        response = broken.get(path)
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        assert session_cookie(response) == []
    assert StoreConfig  # the data written before the outage is intact:
    assert working.get("/get").json == {"a": "1"}


def failing_app(environ, start_response):
    """/fail changes the session, then fails; /fail-page answers an error page with exc_info."""
    session = environ[ENVIRON_KEY]
    if environ["PATH_INFO"] == "/fail":
        session["lost"] = True
        raise RuntimeError("the app failed")
    if environ["PATH_INFO"] == "/fail-page":
        session["lost"] = True
        try:
            raise RuntimeError("the app failed")
        except RuntimeError:
            import sys

            start_response("500 Internal Server Error", [], sys.exc_info())
            return [b"sorry"]
    return app(environ, start_response)


@pytest.mark.engines("dynalite", reason="lock mode relies on atomic conditional writes")
@pytest.mark.parametrize("path", ["/fail", "/fail-page"])
def test_a_failing_request_lets_go_of_the_lock_at_once(config, clock, path):
    from dynamodb_sessions.config import LockSettings

    locking = SessionStore(config.replace(lock=LockSettings(lease=60, wait=0.0)), clock=clock)
    client = Client(SessionMiddleware(failing_app, locking))
    client.get("/set?a=1")
    with pytest.raises(RuntimeError):  # werkzeug's client re-raises an error page's exc_info
        client.get(path)
    # Without the release the lock would be held for its 60 s lease, and this request, which
    # does not wait for it, would be answered 503.
    response = client.get("/get")
    assert response.status_code == 200 and response.json == {"a": "1"}

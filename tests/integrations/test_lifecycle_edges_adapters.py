"""Issue 11 through the frameworks' own test clients (werkzeug's for WSGI, Flask's), against a
real engine: a failed load never becomes an empty session (real faults from the fault proxy),
an expired session is not revived by a slow request, Flask's tagged JSON still holds its types
and refuses what it cannot hold."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask, session
from werkzeug.test import Client

from dynamodb_sessions import (
    BackendUnavailableError,
    Codec,
    SessionStore,
    StoreConfig,
    UnserializableSessionError,
)
from dynamodb_sessions.ids import storage_key
from dynamodb_sessions.integrations.flask import DynamoDBSessions, TaggedJSON
from dynamodb_sessions.integrations.wsgi import ENVIRON_KEY, SessionMiddleware
from faults.proxy import FaultProxy, failing_fast_through

FAULTS = pytest.mark.engines("dynalite", reason="the faults are the proxy's; one engine is enough")


def set_cookies(response) -> list[str]:
    return response.headers.getlist("Set-Cookie")


def raw_item(store: SessionStore, session_id: str) -> dict | None:
    key = {"id": {"S": storage_key(session_id)}}
    return store.client.get_item(TableName=store.config.table, Key=key).get("Item")


@pytest.fixture
def proxied(engine, config: StoreConfig, clock) -> Iterator[tuple[FaultProxy, SessionStore]]:
    """A store that reaches the engine through a fault proxy, failing fast."""
    with FaultProxy(engine.endpoint) as proxy:
        through = failing_fast_through(config, proxy)
        with SessionStore(through, codec=Codec(serializer=TaggedJSON()), clock=clock) as store:
            yield proxy, store


def stored(store: SessionStore, data: dict) -> str:
    session = store.load(None)
    session.update(data)
    store.finish(session)
    return session.session_id


# -- 3. a failed load never becomes an empty session ------------------------------------------


def inject(proxy: FaultProxy, fault: str) -> None:
    if fault == "refuse":
        proxy.refuse()
    else:  # only the reads fail: a write after a failed load would go through
        proxy.rule("throttle", "GetItem")


def forgiving_wsgi_app(environ, start_response):
    """An app that catches the session error and carries on writing (as apps do)."""
    session = environ[ENVIRON_KEY]
    failures = []
    for attempt in (lambda: session["user"], lambda: session.update(user="mallory")):
        try:
            attempt()
        except BackendUnavailableError as exc:
            failures.append(exc)
    assert len(failures) == 2  # every access fails again: never an empty session
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"carried on"]


def forgiving_generator_app(environ, start_response):
    """The same, as a generator: it calls start_response only once it is iterated."""
    yield from forgiving_wsgi_app(environ, start_response)


@FAULTS
@pytest.mark.parametrize("app", [forgiving_wsgi_app, forgiving_generator_app])
@pytest.mark.parametrize("fault", ["refuse", "throttle-reads"])
def test_wsgi_a_failed_load_answers_503_even_when_the_app_carried_on(proxied, fault, app):
    proxy, store = proxied
    sid = stored(store, {"user": "ada"})
    client = Client(SessionMiddleware(app, store))
    client.set_cookie("session", sid)
    inject(proxy, fault)
    response = client.get("/")
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert response.get_data() == b"The session store is unavailable; please try again shortly.\n"
    assert set_cookies(response) == []  # the user keeps their cookie
    proxy.heal()
    proxy.restore()
    assert store.load(sid) == {"user": "ada"}  # nothing was written over it


def flask_app(store: SessionStore) -> Flask:
    app = Flask(__name__)
    app.config.update(PERMANENT_SESSION_LIFETIME=store.config.timeout)
    DynamoDBSessions(app, store=store)

    @app.get("/forgiving")
    def forgiving() -> str:
        failures = 0
        for attempt in (lambda: session.get("user"), lambda: session.update(user="mallory")):
            try:
                attempt()
            except BackendUnavailableError:
                failures += 1
        return f"carried on after {failures} failures"

    @app.get("/put")
    def put() -> str:
        session["values"] = {"pair": (1, "two"), "raw": b"\x00"}
        return "ok"

    @app.get("/check")
    def check() -> str:
        assert session["values"] == {"pair": (1, "two"), "raw": b"\x00"}
        assert type(session["values"]["pair"]) is tuple
        return "same"

    @app.get("/lossy")
    def lossy() -> str:
        session["ids"] = {1: "a", "1": "b"}
        return "ok"

    return app


@FAULTS
@pytest.mark.parametrize("fault", ["refuse", "throttle-reads"])
def test_flask_a_failed_load_answers_503_even_when_the_view_carried_on(proxied, fault):
    proxy, store = proxied
    sid = stored(store, {"user": "ada"})
    client = flask_app(store).test_client()
    client.set_cookie("session", sid)
    inject(proxy, fault)
    response = client.get("/forgiving")
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert set_cookies(response) == []
    proxy.heal()
    proxy.restore()
    assert store.load(sid) == {"user": "ada"}
    assert client.get("/forgiving").text == "carried on after 0 failures"


# -- 4. a slow request does not revive an expired session ---------------------------------------


def test_wsgi_a_request_that_outlives_its_session_does_not_revive_it(store, clock):
    sid = stored(store, {"user": "ada"})
    clock.advance(store.config.timeout - 5)

    def slow_app(environ, start_response):
        session = environ[ENVIRON_KEY]
        assert session["user"] == "ada"  # valid when read
        clock.advance(10)  # a long request: expired before it writes
        session["cart"] = [1]
        start_response("200 OK", [])
        return [b"ok"]

    before = raw_item(store, sid)
    client = Client(SessionMiddleware(slow_app, store))
    client.set_cookie("session", sid)
    response = client.get("/")
    assert raw_item(store, sid) == before  # not written
    (cookie,) = set_cookies(response)
    assert cookie.startswith("session=;") or "Max-Age=0" in cookie  # the dead cookie goes
    assert store.load(sid).is_new


# -- 12. Flask's tagged JSON keeps its types and refuses what it cannot hold --------------------


def test_flask_tagged_json_still_holds_tuples_and_bytes_and_refuses_int_keys(config, clock):
    with SessionStore(config, codec=Codec(serializer=TaggedJSON()), clock=clock) as store:
        app = flask_app(store)
        app.testing = True  # the save's error reaches the test instead of a logged 500
        client = app.test_client()
        client.get("/put")
        assert client.get("/check").text == "same"
        with pytest.raises(UnserializableSessionError, match="has the key 1"):
            client.get("/lossy")
        assert client.get("/check").text == "same"  # nothing of the lossy request was written


# -- 1, 2 and 6 through the adapters ------------------------------------------------------------


def lifetime_app(store: SessionStore, lifetime: int) -> Flask:
    app = Flask(__name__)
    app.config.update(PERMANENT_SESSION_LIFETIME=lifetime)
    DynamoDBSessions(app, store=store)

    @app.get("/login")
    def login() -> str:
        session["user"] = "ada"
        return "ok"

    @app.get("/whoami")
    def whoami() -> str:
        return str(session.get("user"))

    return app


def test_flask_lowering_the_lifetime_applies_to_sessions_already_stored(config, clock):
    long = config.replace(timeout=10_000)
    codec = Codec(serializer=TaggedJSON())
    with SessionStore(long, codec=codec, clock=clock) as store:
        client = lifetime_app(store, 10_000).test_client()
        client.get("/login")
        clock.advance(5000)
        assert client.get("/whoami").text == "ada"  # refreshed: rewritten by the old setting
    with SessionStore(config.replace(timeout=100), codec=codec, clock=clock) as lowered:
        redeployed = lifetime_app(lowered, 100).test_client()
        # The same browser, after the redeploy.
        redeployed.set_cookie("session", client.get_cookie("session").value)
        clock.advance(101)
        assert redeployed.get("/whoami").text == "None"


@pytest.mark.engines("dynalite", reason="conditional writes racing: moto is not atomic")
def test_wsgi_popping_a_flash_keeps_a_cart_saved_by_a_concurrent_request(store):
    sid = stored(store, {"flash": "welcome"})

    def app(environ, start_response):
        session = environ[ENVIRON_KEY]
        if environ["PATH_INFO"] == "/flash":
            message = session.pop("flash")
            # Another tab's request lands between this request's read and its write.
            other = store.load(sid)
            other["cart"] = [1]
            store.finish(other)
        else:
            message = repr(dict(session))
        start_response("200 OK", [])
        return [message.encode()]

    client = Client(SessionMiddleware(app, store))
    client.set_cookie("session", sid)
    response = client.get("/flash")
    assert response.get_data() == b"welcome"
    (cookie,) = set_cookies(response)
    assert cookie.startswith(f"session={sid};")  # set again, never deleted: data remains
    assert client.get("/").get_data() == b"{'cart': [1]}"


def test_wsgi_the_session_id_is_the_cookies_before_any_other_access(store):
    sid = stored(store, {"a": 1})

    def app(environ, start_response):
        session = environ[ENVIRON_KEY]
        start_response("200 OK", [])
        return [f"{session.session_id} {session.created is not None}".encode()]

    client = Client(SessionMiddleware(app, store))
    client.set_cookie("session", sid)
    assert client.get("/").get_data() == f"{sid} True".encode()

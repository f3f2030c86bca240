"""One HTTP scenario, run against every adapter through its framework's own test client: the WSGI
middleware and Flask (werkzeug's client), Starlette and FastAPI (Starlette's TestClient, httpx),
each against the real local engines. The DynamoDB calls of every request are counted by the
store's metrics hook (tests/conftest.py's CallLog), whichever transport carries them."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import pytest
from fastapi import FastAPI, Request
from flask import Flask
from flask import session as flask_session
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from werkzeug.test import Client

from dynamodb_sessions import (
    AsyncSessionStore,
    BackendUnavailableError,
    Codec,
    Connection,
    SessionStore,
)
from dynamodb_sessions.integrations import starlette as asgi
from dynamodb_sessions.integrations import wsgi
from dynamodb_sessions.integrations.flask import DynamoDBSessions, TaggedJSON

ADAPTERS = ("wsgi", "flask", "starlette", "fastapi")
EAGER = {"starlette", "fastapi"}  # ASGI loads the session when a well-formed cookie comes in


def act(path: str, query: dict[str, str], session: MutableMapping[str, Any]) -> dict[str, Any]:
    """The app of every adapter: / leaves the session alone; /get reads it; /set?k=v writes;
    /clear empties it."""
    if path == "/get":
        return dict(session)
    if path == "/set":
        session.update(query)
    elif path == "/clear":
        session.clear()
    return {"ok": True}


@dataclass
class Reply:
    status: int
    body: Any
    set_cookies: list[str]
    vary: str | None
    retry_after: str | None


@dataclass
class Web:
    """One adapter under test: its test client and the DynamoDB calls its store made."""

    name: str
    get: Callable[[str], Reply]
    set_cookie: Callable[[str], None]
    cookie: Callable[[], str | None]
    store: SessionStore | AsyncSessionStore
    calls: list[str]  # a CallLog (tests/conftest.py)


# -- the adapters ----------------------------------------------------------------------------


def werkzeug_web(name: str, wsgi_app: Any, store: SessionStore, calls: Any) -> Web:
    client = Client(wsgi_app)

    def get(path: str) -> Reply:
        response = client.get(path)
        return Reply(
            response.status_code,
            response.get_json(silent=True),
            response.headers.getlist("Set-Cookie"),
            response.headers.get("Vary"),
            response.headers.get("Retry-After"),
        )

    def cookie() -> str | None:
        found = client.get_cookie("session")
        return None if found is None else found.value

    def set_cookie(value: str) -> None:
        client.set_cookie("session", value)

    return Web(name, get, set_cookie, cookie, store, calls.attach(store))


@contextmanager
def wsgi_web(store: SessionStore, calls: Any) -> Iterator[Web]:
    def app(environ, start_response):
        query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
        body = act(environ["PATH_INFO"], query, environ[wsgi.ENVIRON_KEY])
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]

    yield werkzeug_web("wsgi", wsgi.SessionMiddleware(app, store), store, calls)


def flask_app(store: SessionStore) -> Flask:
    app = Flask(__name__)
    app.config["PERMANENT_SESSION_LIFETIME"] = store.config.timeout
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"  # Flask's default is None; the others' Lax
    DynamoDBSessions(app, store=store)

    @app.get("/")
    @app.get("/<action>")
    def view(action: str = "") -> dict[str, Any]:
        from flask import request

        if action:  # the index route must not even look at flask.session
            return act(request.path, request.args.to_dict(), flask_session)
        return {"ok": True}

    return app


@contextmanager
def flask_web(store: SessionStore, calls: Any) -> Iterator[Web]:
    yield werkzeug_web("flask", flask_app(store), store, calls)


def starlette_app(store: AsyncSessionStore, calls: Any, **options: Any) -> Starlette:
    async def endpoint(request: Any) -> JSONResponse:
        if request.url.path == "/":
            return JSONResponse({"ok": True})
        query = dict(request.query_params)
        return JSONResponse(act(request.url.path, query, request.session))

    return Starlette(
        routes=[Route(path, endpoint) for path in ("/", "/get", "/set", "/clear")],
        middleware=[Middleware(asgi.SessionMiddleware, store=store, **options)],
        lifespan=counting_lifespan(store, calls),
    )


def fastapi_app(store: AsyncSessionStore, calls: Any) -> FastAPI:
    app = FastAPI(lifespan=counting_lifespan(store, calls))
    app.add_middleware(asgi.SessionMiddleware, store=store)

    @app.get("/")
    async def index() -> dict[str, Any]:
        return {"ok": True}

    @app.get("/{action}")
    async def view(action: str, request: Request) -> dict[str, Any]:
        return act(request.url.path, dict(request.query_params), request.session)

    return app


def counting_lifespan(store: AsyncSessionStore, calls: Any) -> Any:
    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        async with store:  # the client opens (and closes) in the app's own event loop
            calls.attach(store)
            yield

    return lifespan


@contextmanager
def asgi_web(name: str, store: AsyncSessionStore, calls: Any) -> Iterator[Web]:
    app = fastapi_app(store, calls) if name == "fastapi" else starlette_app(store, calls)
    with TestClient(app) as client:

        def get(path: str) -> Reply:
            response = client.get(path)
            try:
                body = response.json()
            except ValueError:
                body = None
            return Reply(
                response.status_code,
                body,
                response.headers.get_list("set-cookie"),
                response.headers.get("vary"),
                response.headers.get("retry-after"),
            )

        def set_cookie(value: str) -> None:
            client.cookies.set("session", value, domain="testserver.local")

        yield Web(name, get, set_cookie, lambda: client.cookies.get("session"), store, calls)


@contextmanager
def build(name: str, config: Any, clock: Any, calls: Any) -> Iterator[Web]:
    """The app of adapter ``name`` on a store of ``config``; ``calls`` (a CallLog) counts."""
    if name in EAGER:
        with asgi_web(name, AsyncSessionStore(config, clock=clock), calls) as web:
            yield web
        return
    store = SessionStore(config, codec=Codec(serializer=TaggedJSON()), clock=clock)
    with store, (flask_web if name == "flask" else wsgi_web)(store, calls) as web:
        yield web


@pytest.fixture(params=ADAPTERS)
def web(request, config, clock, call_log) -> Iterator[Web]:
    with build(request.param, config, clock, call_log()) as web:
        yield web


def session_cookies(reply: Reply) -> list[str]:
    return [c for c in reply.set_cookies if c.startswith("session=")]


def is_deletion(cookie: str) -> bool:
    lowered = cookie.lower()
    return "max-age=0" in lowered or "1970" in lowered


# -- the scenario ----------------------------------------------------------------------------


def test_a_request_that_never_touches_its_session_costs_nothing(web):
    reply = web.get("/")
    assert reply.status == 200 and reply.set_cookies == []
    assert reply.vary is None
    assert web.calls == []


def test_create_read_modify(web):
    reply = web.get("/set?user=ada")
    (cookie,) = session_cookies(reply)
    lowered = cookie.lower()
    assert "httponly" in lowered and "samesite=lax" in lowered and "path=/" in lowered
    assert "secure" not in lowered
    if web.name == "flask":  # not session.permanent: a browser-session cookie, as Flask makes
        assert "max-age" not in lowered and "expires" not in lowered
    else:
        assert f"max-age={web.store.config.timeout}" in lowered
    assert "Cookie" in reply.vary
    assert web.calls == ["PutItem"]  # a new session: no read at all

    web.calls.clear()
    reply = web.get("/get")
    assert reply.body == {"user": "ada"}
    assert session_cookies(reply) == [] and "Cookie" in reply.vary
    assert web.calls == ["GetItem"]  # read-only: one read, no write

    web.calls.clear()
    web.get("/set?n=1")
    # Only a set: WSGI and Flask write it without a read (a blind write); ASGI loaded first.
    assert web.calls == (["GetItem", "UpdateItem"] if web.name in EAGER else ["UpdateItem"])
    assert web.get("/get").body == {"user": "ada", "n": "1"}


def test_an_unused_session_with_a_cookie(web):
    web.get("/set?a=1")
    web.calls.clear()
    reply = web.get("/")
    assert reply.status == 200 and reply.set_cookies == []
    # WSGI and Flask load on first use; an ASGI app reads request.session without await, so the
    # session is loaded before the app runs when the request carries a well-formed cookie.
    assert web.calls == (["GetItem"] if web.name in EAGER else [])


def test_clear_deletes_the_item_and_the_cookie(web, config):
    web.get("/set?a=1")
    sid = web.cookie()
    web.calls.clear()
    reply = web.get("/clear")
    (cookie,) = session_cookies(reply)
    assert is_deletion(cookie)
    assert web.calls == ["GetItem", "DeleteItem"]
    assert web.cookie() is None
    with SessionStore(config) as store:
        assert not store.exists(sid)


def test_an_expired_session_starts_over(web, clock):
    web.get("/set?a=1")
    old = web.cookie()
    clock.advance(web.store.config.timeout)
    reply = web.get("/get")
    assert reply.body == {}
    (cookie,) = session_cookies(reply)
    assert is_deletion(cookie)  # the cookie named a session that is no more
    web.get("/set?b=2")
    assert web.cookie() not in (None, old)
    assert web.get("/get").body == {"b": "2"}


def test_a_garbage_cookie_is_a_new_session_without_a_call(web):
    web.set_cookie("garbage")
    reply = web.get("/get")
    assert reply.status == 200 and reply.body == {}
    assert web.calls == []
    (cookie,) = session_cookies(reply)
    assert is_deletion(cookie)


@pytest.mark.engines("moto", reason="one engine is enough to show an outage")
@pytest.mark.parametrize("name", ADAPTERS)
def test_an_outage_answers_503_and_keeps_the_cookie(name, config, clock, call_log):
    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    down = config.replace(
        connection=Connection(
            endpoint_url=dead, region="us-east-1", access_key="x", secret_key="x", max_attempts=1
        )
    )
    with build(name, config, clock, call_log()) as working:
        working.get("/set?a=1")
        sid = working.cookie()
        with build(name, down, clock, call_log()) as broken:
            broken.set_cookie(sid)
            for path in ("/get", "/set?a=2"):
                reply = broken.get(path)
                assert reply.status == 503 and reply.retry_after == "5"
                assert session_cookies(reply) == []
        assert working.get("/get").body == {"a": "1"}  # nothing was lost or replaced


@pytest.mark.engines("moto", reason="the failure is injected; any engine will do")
def test_a_failed_save_answers_503_without_a_cookie(web, monkeypatch):
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise BackendUnavailableError("down", code="ServiceUnavailable", operation="put_item")

    async def fail_async(*args: Any, **kwargs: Any) -> Any:
        fail()

    monkeypatch.setattr(web.store, "finish", fail_async if web.name in EAGER else fail)
    reply = web.get("/set?a=1")
    assert reply.status == 503 and reply.retry_after == "5"
    assert session_cookies(reply) == []

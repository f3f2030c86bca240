"""The HTTP layer as its specs have it, through each framework's own test client: PEP 3333's
lazy bodies, ``start_response`` called from the body and ``exc_info``; ASGI's optional
``headers``; and the caching headers every response carrying the session cookie needs
(``Vary: Cookie``, ``Cache-Control: private`` unless the app chose its own)."""

from __future__ import annotations

import socket
import sys
from contextlib import asynccontextmanager
from typing import Any

import pytest
from flask import Flask, session
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from werkzeug.test import Client

from dynamodb_sessions import (
    AsyncSessionStore,
    Codec,
    Connection,
    SessionStore,
    StoreConfig,
)
from dynamodb_sessions.config import LockSettings
from dynamodb_sessions.integrations import starlette as starlette_adapter
from dynamodb_sessions.integrations import wsgi
from dynamodb_sessions.integrations.flask import DynamoDBSessions, TaggedJSON


def session_cookie(response: Any, name: str = "session") -> list[str]:
    headers = response.headers
    values = (
        headers.getlist("Set-Cookie")
        if hasattr(headers, "getlist")
        else headers.get_list("set-cookie")
    )
    return [c for c in values if c.startswith(f"{name}=")]


def unreachable(config: StoreConfig) -> StoreConfig:
    """``config`` pointed at a port nothing listens on: every call is a connection error."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    connection = Connection(
        endpoint_url=dead, region="us-east-1", access_key="x", secret_key="x", max_attempts=1
    )
    return config.replace(connection=connection)


# -- WSGI: the body is wrapped -------------------------------------------------------------


def generator_app(environ: dict[str, Any], start_response: Any) -> Any:
    """Calls ``start_response`` and uses the session only once the server iterates the body
    (the way streaming apps and frameworks built on generators do)."""
    session = environ[wsgi.ENVIRON_KEY]
    path = environ["PATH_INFO"]
    if path == "/fail":
        session["half"] = "done"
        raise RuntimeError("the body failed before its first chunk")
    if path == "/set":
        session["user"] = "ada"
    user = str(session.get("user"))
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"user="
    yield user.encode()


def lazy(app: Any) -> Any:
    """``app`` as a generator: nothing of it runs until the server iterates the body."""

    def lazy_app(environ: dict[str, Any], start_response: Any) -> Any:
        yield from app(environ, start_response)

    return lazy_app


@pytest.mark.engines("moto", reason="one engine is enough to show an outage")
def test_an_outage_met_inside_a_lazy_body_answers_503(config):
    client = Client(wsgi.SessionMiddleware(lazy(generator_app), SessionStore(unreachable(config))))
    client.set_cookie("session", "a" * 43)  # a well-formed id: the session must be read
    response = client.get("/get")
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert session_cookie(response) == [] and response.data.startswith(b"The session store")


@pytest.mark.engines("moto", reason="one engine is enough to show an outage")
def test_an_outage_at_a_lazy_start_response_answers_503(config, store):
    # The app changes the session and calls start_response from its body: the save fails.
    client = Client(wsgi.SessionMiddleware(lazy(generator_app), SessionStore(unreachable(config))))
    response = client.get("/set")
    assert response.status_code == 503 and session_cookie(response) == []


def test_a_lazy_body_gets_the_session_cookie_and_keeps_it(store):
    client = Client(wsgi.SessionMiddleware(lazy(generator_app), store))
    response = client.get("/set")
    assert response.data == b"user=ada"
    assert len(session_cookie(response)) == 1
    assert client.get("/get").data == b"user=ada"


@pytest.mark.engines("dynalite", reason="lock mode relies on atomic conditional writes")
def test_a_body_failing_before_its_first_chunk_lets_go_of_the_lock(config, clock):
    locking = SessionStore(config.replace(lock=LockSettings(lease=60, wait=0.0)), clock=clock)
    client = Client(wsgi.SessionMiddleware(lazy(generator_app), locking))
    client.get("/set")
    with pytest.raises(RuntimeError, match="before its first chunk"):
        client.get("/fail")
    # Without the release the lock would be held for its 60 s lease, and this request, which
    # does not wait for it, would be answered 503.
    response = client.get("/get")
    assert response.status_code == 200 and response.data == b"user=ada"
    assert "half" not in SessionStore(config).load(client.get_cookie("session").value)


def error_page_app(environ: dict[str, Any], start_response: Any) -> Any:
    """Starts a 200, then fails before any body and replaces it by an error page (exc_info)."""
    session = environ[wsgi.ENVIRON_KEY]
    session["user"] = "ada"
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        raise ValueError("rendering failed")
    except ValueError:
        start_response(
            "500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info()
        )
    return [b"sorry"]


def test_an_error_page_after_start_response_saves_no_session(store, calls):
    client = Client(wsgi.SessionMiddleware(error_page_app, store))
    # werkzeug's client re-raises the exc_info an error page is started with.
    with pytest.raises(ValueError, match="rendering failed"):
        client.get("/")
    assert calls == []  # no session was created for an answer that never carried its cookie


def test_start_response_with_exc_info_once_sent_reaches_the_server(store):
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        environ[wsgi.ENVIRON_KEY]["user"] = "ada"
        write = start_response("200 OK", [])
        write(b"partial")  # the headers (with the cookie) leave with the first write
        try:
            raise ValueError("too late")
        except ValueError:
            start_response("500 Internal Server Error", [], sys.exc_info())
        return [b"never"]

    client = Client(wsgi.SessionMiddleware(app, store))
    with pytest.raises(ValueError, match="too late"):  # PEP 3333: the server re-raises
        client.get("/")


def test_the_legacy_write_callable_carries_the_cookie(store):
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        environ[wsgi.ENVIRON_KEY]["user"] = "ada"
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written, ")
        return [b"then returned"]

    response = Client(wsgi.SessionMiddleware(app, store)).get("/")
    assert response.data == b"written, then returned"
    assert len(session_cookie(response)) == 1 and response.headers["Vary"] == "Cookie"


def test_the_apps_close_is_called(store):
    closed = []

    class Body:
        def __iter__(self) -> Any:
            return iter([b"body"])

        def close(self) -> None:
            closed.append(True)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        environ[wsgi.ENVIRON_KEY]["user"] = "ada"
        start_response("200 OK", [])
        return Body()

    response = Client(wsgi.SessionMiddleware(app, store)).get("/")
    response.close()
    assert response.data == b"body" and closed == [True]


# -- WSGI: caching headers ---------------------------------------------------------------------


def headers_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """``/set`` writes the session; ``?vary=`` and ``?cache=`` set the app's own headers;
    ``/peek`` only asks whether the session is new (which loads it without reading it)."""
    session = environ[wsgi.ENVIRON_KEY]
    query = dict(p.partition("=")[::2] for p in environ.get("QUERY_STRING", "").split("&") if p)
    if environ["PATH_INFO"] == "/set":
        session["user"] = "ada"
    elif environ["PATH_INFO"] == "/peek":
        assert not session.is_new
    headers = [("Content-Type", "text/plain")]
    if "vary" in query:
        headers.append(("Vary", query["vary"]))
    if "cache" in query:
        headers.append(("Cache-Control", query["cache"]))
    start_response("200 OK", headers)
    return [b"ok"]


def test_wsgi_a_set_cookie_is_private_and_varies_by_cookie(store):
    client = Client(wsgi.SessionMiddleware(headers_app, store))
    response = client.get("/set?vary=Accept-Encoding")
    assert len(session_cookie(response)) == 1
    assert response.headers.getlist("Vary") == ["Accept-Encoding, Cookie"]
    assert response.headers["Cache-Control"] == "private"
    own = client.get("/set?cache=no-store")
    assert own.headers["Cache-Control"] == "no-store"  # the app's own choice stands


def test_wsgi_always_save_sets_the_cookie_with_vary_even_unread(store):
    client = Client(wsgi.SessionMiddleware(headers_app, store, always_save=True))
    client.get("/set")
    response = client.get("/peek")  # loaded, not read: the refresh still sends the cookie
    assert len(session_cookie(response)) == 1
    assert response.headers["Vary"] == "Cookie" and response.headers["Cache-Control"] == "private"


def test_wsgi_a_response_that_never_touches_the_session_is_left_alone(store):
    response = Client(wsgi.SessionMiddleware(headers_app, store)).get("/")
    assert "Vary" not in response.headers and "Cache-Control" not in response.headers


# -- ASGI ----------------------------------------------------------------------------------


async def set_user(request: Any) -> PlainTextResponse:
    request.session["user"] = "ada"
    return PlainTextResponse("ok")


async def untouched(request: Any) -> PlainTextResponse:
    return PlainTextResponse("the app never looks at request.session")


async def own_cache(request: Any) -> PlainTextResponse:
    request.session["user"] = "ada"
    return PlainTextResponse("ok", headers={"Cache-Control": "no-store", "Vary": "Accept"})


def starlette_app(store: AsyncSessionStore, **options: Any) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        yield
        await store.close()  # a store given to the middleware is the app's to close

    routes = [Route("/set", set_user), Route("/untouched", untouched), Route("/own", own_cache)]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(starlette_adapter.SessionMiddleware, store=store, **options)
    return app


def test_asgi_always_save_refreshes_with_vary_and_private(config):
    with TestClient(starlette_app(AsyncSessionStore(config), always_save=True)) as client:
        client.get("/set")
        response = client.get("/untouched")  # the session is loaded, never read
        assert len(session_cookie(response)) == 1
        assert response.headers["vary"] == "Cookie"
        assert response.headers["cache-control"] == "private"


def test_asgi_the_apps_own_caching_headers_are_kept(config):
    with TestClient(starlette_app(AsyncSessionStore(config))) as client:
        response = client.get("/own")
        assert len(session_cookie(response)) == 1
        assert response.headers["cache-control"] == "no-store"
        assert response.headers.get_list("vary") == ["Accept, Cookie"]


def test_asgi_a_start_message_without_headers_is_legal(config):
    store = AsyncSessionStore(config)

    async def bare(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            assert (await receive())["type"] == "lifespan.startup"
            await send({"type": "lifespan.startup.complete"})
            assert (await receive())["type"] == "lifespan.shutdown"
            await store.close()
            await send({"type": "lifespan.shutdown.complete"})
            return
        scope["session"]["user"] = "ada"
        await send({"type": "http.response.start", "status": 200})  # "headers" is optional
        await send({"type": "http.response.body", "body": b"ok"})

    with TestClient(starlette_adapter.SessionMiddleware(bare, store)) as client:
        response = client.get("/")
        assert response.status_code == 200 and response.text == "ok"
        assert len(session_cookie(response)) == 1 and response.headers["vary"] == "Cookie"


# -- Flask ---------------------------------------------------------------------------------


def test_flask_a_set_cookie_is_private_unless_the_view_chose(config):
    store = SessionStore(config.replace(timeout=3600), codec=Codec(serializer=TaggedJSON()))
    app = Flask(__name__)
    app.config["PERMANENT_SESSION_LIFETIME"] = 3600
    DynamoDBSessions(app, store=store)

    @app.get("/set")
    def set_value() -> str:
        session["user"] = "ada"
        return "ok"

    @app.get("/own")
    def own() -> Any:
        session["user"] = "grace"
        return "ok", 200, {"Cache-Control": "no-cache"}

    client = app.test_client()
    response = client.get("/set")
    assert len(session_cookie(response)) == 1
    assert response.headers["Vary"] == "Cookie" and response.headers["Cache-Control"] == "private"
    assert client.get("/own").headers["Cache-Control"] == "no-cache"
    store.close()

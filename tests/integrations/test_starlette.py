"""The Starlette/FastAPI middleware beyond the shared scenario: Starlette's parameters, scopes
other than HTTP, the store's lifecycle, failures inside the app. Against the real local engines."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient

from dynamodb_sessions import (
    AsyncSessionStore,
    BackendUnavailableError,
    ConfigurationError,
    SessionStore,
)
from dynamodb_sessions.config import LockSettings
from dynamodb_sessions.integrations.starlette import SessionMiddleware


async def set_value(request: Any) -> PlainTextResponse:
    request.session.update(request.query_params)
    return PlainTextResponse("ok")


async def read(request: Any) -> JSONResponse:
    return JSONResponse(dict(request.session))


async def fail(request: Any) -> PlainTextResponse:
    request.session["half"] = "done"
    raise RuntimeError("the view failed")


async def outage(request: Any) -> PlainTextResponse:
    raise BackendUnavailableError("down", code="ServiceUnavailable", operation="get_item")


async def chat(websocket: Any) -> None:
    await websocket.accept()
    await websocket.send_json(dict(websocket.session))
    websocket.session["changed"] = "in a websocket"  # not saved: there is no response to carry it
    await websocket.close()


ROUTES = [
    Route("/set", set_value),
    Route("/read", read),
    Route("/fail", fail),
    Route("/outage", outage),
    WebSocketRoute("/ws", chat),
]


def app_with(store: AsyncSessionStore | None = None, **options: Any) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        yield
        if store is not None:
            await store.close()  # a store given to the middleware is the app's to close

    return Starlette(
        routes=ROUTES,
        middleware=[Middleware(SessionMiddleware, store=store, **options)],
        lifespan=lifespan,
    )


def session_cookie(response, name="session"):
    return [c for c in response.headers.get_list("set-cookie") if c.startswith(f"{name}=")]


def test_starlettes_parameters_shape_the_cookie(config, clock):
    app = app_with(
        AsyncSessionStore(config, clock=clock),
        session_cookie="sid",
        path="/",
        same_site="strict",
        https_only=True,
        domain="testserver.local",
    )
    with TestClient(app, base_url="https://testserver.local") as client:
        (cookie,) = session_cookie(client.get("/set?a=1"), "sid")
        # Spelled as Starlette's own middleware spells them.
        assert f"; path=/; Max-Age={config.timeout}; " in cookie
        assert "; httponly; samesite=strict; secure; domain=testserver.local" in cookie
        assert client.get("/read").json() == {"a": "1"}


def test_max_age_none_is_a_browser_session_cookie(config, clock):
    with TestClient(app_with(AsyncSessionStore(config, clock=clock), max_age=None)) as client:
        (cookie,) = session_cookie(client.get("/set?a=1"))
        assert "Max-Age" not in cookie and "expires" not in cookie
        assert client.get("/read").json() == {"a": "1"}


def test_max_age_must_agree_with_a_given_store(config):
    store = AsyncSessionStore(config.replace(timeout=3600))
    with pytest.raises(ConfigurationError, match="max_age"):
        SessionMiddleware(PlainTextResponse("x"), store=store)  # max_age: 14 days by default
    SessionMiddleware(PlainTextResponse("x"), store=store, max_age=3600)
    SessionMiddleware(PlainTextResponse("x"), store=store, max_age=None)


def test_a_websocket_sees_the_session_read_only(config, clock):
    with TestClient(app_with(AsyncSessionStore(config, clock=clock))) as client:
        client.get("/set?user=ada")
        with client.websocket_connect("/ws") as websocket:
            assert websocket.receive_json() == {"user": "ada"}
        assert client.get("/read").json() == {"user": "ada"}


def test_other_scopes_pass_through_untouched(config):
    seen: list[dict[str, Any]] = []

    async def app(scope, receive, send):
        seen.append(dict(scope))
        if scope["type"] == "lifespan":
            assert (await receive())["type"] == "lifespan.startup"
            await send({"type": "lifespan.startup.complete"})
            assert (await receive())["type"] == "lifespan.shutdown"
            await send({"type": "lifespan.shutdown.complete"})

    store = AsyncSessionStore(config)
    with TestClient(SessionMiddleware(app, store=store)):
        pass
    assert [scope["type"] for scope in seen] == ["lifespan"]
    assert "session" not in seen[0]


def test_a_store_made_by_the_middleware_closes_at_shutdown(engine, config, monkeypatch):
    monkeypatch.setenv("AWS_DYNAMODB_SESSION_TABLE", config.table)
    monkeypatch.setenv("AWS_DYNAMODB_ENDPOINT", engine.endpoint)
    monkeypatch.setenv("AWS_REGION_NAME", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY", "local")
    monkeypatch.setenv("AWS_SECRET_KEY", "local")
    middleware = SessionMiddleware(Starlette(routes=ROUTES), max_age=3600)
    assert middleware.store.config.timeout == 3600
    with TestClient(middleware) as client:
        (cookie,) = session_cookie(client.get("/set?a=1"))
        assert "Max-Age=3600" in cookie
        assert middleware.store.client is not None
    assert middleware.store.client is None  # closed when the app shut down


def test_a_store_error_raised_by_the_app_answers_503(config, clock):
    with TestClient(app_with(AsyncSessionStore(config, clock=clock))) as client:
        response = client.get("/outage")
        assert response.status_code == 503 and response.headers["retry-after"] == "5"
        assert session_cookie(response) == []


@pytest.mark.engines("dynalite", reason="lock mode relies on atomic conditional writes")
def test_a_failing_view_lets_go_of_the_lock_at_once(config, clock):
    locking = config.replace(lock=LockSettings(lease=60, wait=0.0))
    with TestClient(
        app_with(AsyncSessionStore(locking, clock=clock)), raise_server_exceptions=False
    ) as client:
        client.get("/set?a=1")
        assert client.get("/fail").status_code == 500
        # Without the release the lock would be held for its 60 s lease, and this request,
        # which does not wait, would be refused with 503.
        response = client.get("/read")
        assert response.status_code == 200 and response.json() == {"a": "1"}
    with SessionStore(config) as store:  # the failed view's change was not saved
        assert dict(store.load(client.cookies["session"])) == {"a": "1"}


@pytest.mark.parametrize(
    "options",
    [
        {"session_cookie": "__Host-sid", "https_only": True, "domain": "example.org"},
        {"session_cookie": "__Host-sid", "https_only": True, "path": "/app"},
        {"session_cookie": "__Host-sid"},
        {"session_cookie": "__Secure-sid"},
        {"partitioned": True},
    ],
)
def test_cookie_settings_browsers_refuse_stop_the_app_at_start_up(config, options):
    app = Starlette(
        routes=ROUTES,
        middleware=[Middleware(SessionMiddleware, store=AsyncSessionStore(config), **options)],
    )
    with pytest.raises(ConfigurationError, match="must"), TestClient(app):
        pass  # Starlette builds its middleware at start-up: the app never serves a request


def test_starlettes_partitioned_cookie(config, clock):
    app = app_with(AsyncSessionStore(config, clock=clock), https_only=True, partitioned=True)
    with TestClient(app, base_url="https://testserver") as client:
        (cookie,) = session_cookie(client.get("/set?a=1"))
        assert cookie.endswith("; secure; partitioned")
        assert client.get("/read").json() == {"a": "1"}


@pytest.mark.parametrize("max_age", [0, -1])
def test_a_max_age_of_zero_or_less_keeps_nothing(config, clock, max_age):
    # As with Starlette's: the browser drops the cookie at once, so the session lasts one
    # request, and nothing is written to the store (nor read from it).
    with TestClient(app_with(AsyncSessionStore(config, clock=clock), max_age=max_age)) as client:
        response = client.get("/set?a=1")
        (cookie,) = session_cookie(response)
        assert f"; Max-Age={max_age}; " in cookie
        sid = cookie.split(";")[0].removeprefix("session=")
        client.cookies.set("session", sid)
        assert client.get("/read").json() == {}
    with SessionStore(config) as store:
        assert store.client.scan(TableName=config.table)["Count"] == 0

"""One small app per adapter (WSGI, Flask, Starlette) with views that fail the ways the error
policy (503 only for outages) and the failed-request rule (a failed request saves nothing) are
about, each driven through its framework's own test client with raw Cookie headers.

An exception the app lets through is caught where the framework's test client hands it over
(werkzeug's and Starlette's clients re-raise it; Flask, outside testing mode, answers 500 and
reports it with its ``got_request_exception`` signal) and returned as ``Reply.error`` with
status 500, what a server answers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask, got_request_exception
from flask import session as flask_session
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from werkzeug.test import Client

from dynamodb_sessions import AsyncSessionStore, Codec, SessionStore, StoreConfig
from dynamodb_sessions.integrations import starlette as asgi
from dynamodb_sessions.integrations import wsgi
from dynamodb_sessions.integrations.flask import DynamoDBSessions, TaggedJSON

ADAPTERS = ("wsgi", "flask", "starlette")
PATHS = ("/get", "/set", "/debit", "/debit-500", "/bad-user")


class PaymentFailed(Exception):
    """What the failing view raises after changing the session."""


def act(path: str, session: Any) -> tuple[int, dict[str, Any]]:
    """Every app's view: (status, JSON body)."""
    if path == "/get":
        return 200, dict(session)
    if path == "/set":
        session["a"] = "1"
    elif path in ("/debit", "/debit-500"):
        session["balance"] = "debited"
        if path == "/debit":
            raise PaymentFailed("the payment failed after the session was changed")
        return 500, {"error": "payment failed"}
    elif path == "/bad-user":
        session["a"] = "1"
        session.user_id = 42  # a bug: user ids are strings
    return 200, {"ok": True}


@dataclass
class Reply:
    status: int
    body: Any
    set_cookies: list[str]
    retry_after: str | None
    error: BaseException | None = None

    @property
    def issued(self) -> str | None:
        for header in self.set_cookies:
            name, _, rest = header.partition("=")
            value = rest.split(";")[0]
            if name == "session" and value and "max-age=0" not in header.lower():
                return value
        return None


Send = Callable[..., Reply]


def _wsgi(store: SessionStore, options: dict[str, Any]) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        import json

        status, body = act(environ["PATH_INFO"], environ[wsgi.ENVIRON_KEY])
        phrase = "OK" if status == 200 else "Internal Server Error"
        start_response(f"{status} {phrase}", [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]

    return wsgi.SessionMiddleware(app, store, **options)


def _flask(store: SessionStore, options: dict[str, Any], errors: list[BaseException]) -> Flask:
    app = Flask(__name__)
    app.config["PERMANENT_SESSION_LIFETIME"] = store.config.timeout
    DynamoDBSessions(app, store=store, **options)

    def view() -> tuple[dict[str, Any], int]:
        from flask import request

        status, body = act(request.path, flask_session)
        return body, status

    for path in PATHS:
        app.add_url_rule(path, path, view)

    def record(sender: Flask, exception: BaseException, **_: Any) -> None:
        errors.append(exception)

    got_request_exception.connect(record, app, weak=False)
    return app


def _starlette(store: AsyncSessionStore, options: dict[str, Any]) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        async with store:
            yield

    async def endpoint(request: Request) -> JSONResponse:
        status, body = act(request.url.path, request.session)
        return JSONResponse(body, status_code=status)

    return Starlette(
        routes=[Route(path, endpoint) for path in PATHS],
        middleware=[Middleware(asgi.SessionMiddleware, store=store, max_age=None, **options)],
        lifespan=lifespan,
    )


@contextmanager
def build(name: str, config: StoreConfig, clock: Any, **options: Any) -> Iterator[Send]:
    """Adapter ``name`` on a store of ``config``; yields ``send(path, cookie=None) -> Reply``."""
    if name == "starlette":
        store = AsyncSessionStore(config, clock=clock)
        with TestClient(_starlette(store, options), raise_server_exceptions=True) as client:

            def send_asgi(path: str, cookie: str | None = None) -> Reply:
                client.cookies.clear()
                headers = {} if cookie is None else {"cookie": cookie}
                try:
                    response = client.get(path, headers=headers)
                except Exception as exc:  # what the server turns into a 500
                    return Reply(500, None, [], None, exc)
                return Reply(
                    response.status_code,
                    _json(response),
                    response.headers.get_list("set-cookie"),
                    response.headers.get("retry-after"),
                )

            yield send_asgi
        return
    sync_store = SessionStore(config, codec=Codec(serializer=TaggedJSON()), clock=clock)
    errors: list[BaseException] = []
    app = _flask(sync_store, options, errors) if name == "flask" else _wsgi(sync_store, options)
    client = Client(app, use_cookies=False)

    def send(path: str, cookie: str | None = None) -> Reply:
        errors.clear()
        headers = {} if cookie is None else {"Cookie": cookie}
        try:
            response = client.get(path, headers=headers)
        except Exception as exc:  # werkzeug's client hands the WSGI app's exception over
            return Reply(500, None, [], None, exc)
        return Reply(
            response.status_code,
            response.get_json(silent=True),
            response.headers.getlist("Set-Cookie"),
            response.headers.get("Retry-After"),
            errors[0] if errors else None,
        )

    with sync_store:
        yield send


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def count_items(config: StoreConfig) -> int:
    """How many items the table holds (a Scan: the truth, whatever the adapters said)."""
    with SessionStore(config) as store:
        pages = store.client.get_paginator("scan").paginate(TableName=config.table, Select="COUNT")
        return sum(page["Count"] for page in pages)

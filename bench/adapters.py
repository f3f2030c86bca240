"""The four adapters under test, each driven in-process (a direct WSGI or ASGI call, no socket),
and, for each, the same framework's bare app whose one view makes one raw GetItem.

Every adapter app has the same routes: ``/unused`` (never looks at the session), ``/read``
(reads one key), ``/write`` (changes a key; a new session gets 2 KB of data), ``/rotate`` (moves
the session to a new id, as a log-in does), and ``/bare`` on the bare app.
"""

from __future__ import annotations

import asyncio
import io
import time
from contextlib import AsyncExitStack
from typing import Any

from bench import views
from bench._common import Clock, Meter, Unmetered
from dynamodb_sessions import AsyncSessionStore, Session, SessionStore, StoreConfig
from dynamodb_sessions.ids import storage_key
from dynamodb_sessions.store import make_async_client, make_client

Headers = list[tuple[str, str]]


def _environ(path: str, cookie_header: str | None) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if cookie_header:
        environ["HTTP_COOKIE"] = cookie_header
    return environ


def call_wsgi(app: Any, path: str, cookie_header: str | None) -> tuple[int, Headers]:
    answer: list[Any] = []

    def start_response(status: str, headers: Headers, exc_info: Any = None) -> Any:
        answer[:] = [int(status.split()[0]), headers]
        return lambda _: None

    body = app(_environ(path, cookie_header), start_response)
    try:
        for _ in body:
            pass
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return answer[0], answer[1]


class SyncAdapter:
    """An adapter on the sync store, called as a WSGI app."""

    name = ""
    cookie_name = "session"
    store: SessionStore
    app: Any
    bare_app: Any

    def __init__(self, cfg: StoreConfig, meter: Meter | Unmetered, clock: Clock) -> None:
        self.cfg = cfg
        self.meter = meter
        self.clock = clock
        self.raw = make_client(cfg.connection)  # the bare app's client: same configuration

    def _store(self, **kwargs: Any) -> SessionStore:
        store = SessionStore(self.cfg, clock=self.clock, **kwargs)
        self.meter.attach_store(store)
        return store

    def cookie(self, session_id: str | None) -> str | None:
        return f"{self.cookie_name}={session_id}" if session_id else None

    def request(self, path: str, session_id: str | None) -> tuple[int, Headers]:
        return call_wsgi(self.app, path, self.cookie(session_id))

    def create(self, data: dict[str, Any]) -> str:
        """Store a session directly (unmetered); return its id."""
        session = Session(data)
        with self.meter.pause():
            self.store.create(session)
        return session.session_id

    def point_bare_at(self, session_id: str) -> None:
        self.bare_key = storage_key(session_id, self.cfg.key_prefix)

    def timed(self, path: str, session_id: str | None, n: int) -> float:
        app, cookie = self.app, self.cookie(session_id)
        start = time.perf_counter()
        for _ in range(n):
            call_wsgi(app, path, cookie)
        return time.perf_counter() - start

    def timed_bare(self, n: int) -> float:
        app = self.bare_app
        start = time.perf_counter()
        for _ in range(n):
            call_wsgi(app, "/bare", None)
        return time.perf_counter() - start

    def close(self) -> None:
        self.store.close()
        self.raw.close()


class WSGIAdapter(SyncAdapter):
    name = "WSGI"

    def __init__(self, cfg: StoreConfig, meter: Meter | Unmetered, clock: Clock) -> None:
        from dynamodb_sessions.integrations.wsgi import ENVIRON_KEY, SessionMiddleware

        super().__init__(cfg, meter, clock)
        self.store = self._store()

        def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            session = environ[ENVIRON_KEY]
            path = environ["PATH_INFO"]
            body = b"ok"
            if path == "/read":
                body = str(session.get("user")).encode()
            elif path == "/write":
                views.write(session)
            elif path == "/set":
                views.set_only(session)
            elif path == "/rotate":
                session.rotate()
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [body]

        def bare(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            body = views.raw_get(self.raw, cfg.table, self.bare_key).encode()
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [body]

        self.app = SessionMiddleware(app, self.store)
        self.bare_app = bare


class FlaskAdapter(SyncAdapter):
    name = "Flask"

    def __init__(self, cfg: StoreConfig, meter: Meter | Unmetered, clock: Clock) -> None:
        from flask import Flask, session

        from dynamodb_sessions import Codec
        from dynamodb_sessions.integrations.flask import DynamoDBSessions, TaggedJSON

        super().__init__(cfg, meter, clock)
        codec = Codec(serializer=TaggedJSON(), compress_threshold=cfg.compress_threshold)
        self.store = self._store(codec=codec)
        app = Flask("bench_flask")
        app.config["PERMANENT_SESSION_LIFETIME"] = cfg.timeout
        DynamoDBSessions(app, store=self.store)
        views.flask_routes(app, session)

        @app.get("/set")
        def set_only() -> str:
            views.set_only(session)
            return "ok"

        @app.get("/rotate")
        def rotate() -> str:
            session.rotate()  # type: ignore[attr-defined]
            return "ok"

        bare_app = Flask("bench_flask_bare")

        @bare_app.get("/bare")
        def bare() -> str:
            return views.raw_get(self.raw, cfg.table, self.bare_key)

        self.app = app.wsgi_app
        self.bare_app = bare_app.wsgi_app


class DjangoAdapter(SyncAdapter):
    name = "Django"
    cookie_name = "sessionid"

    def __init__(self, cfg: StoreConfig, meter: Meter | Unmetered, clock: Clock) -> None:
        configure_django("dynamodb_sessions.integrations.django")
        from django.conf import settings
        from django.core.handlers.wsgi import WSGIHandler
        from django.test.utils import override_settings

        from bench import django_urls
        from dynamodb_sessions.integrations import django as engine

        super().__init__(cfg, meter, clock)
        settings.SESSION_COOKIE_AGE = cfg.timeout  # the engine's timeout must match the store's
        self.store = self._store()
        engine.set_store(self.store)
        self.app = WSGIHandler()
        with override_settings(MIDDLEWARE=[]):
            self.bare_app = WSGIHandler()  # the middleware chain is built here, without sessions
        django_urls.RAW.update(client=self.raw, table=cfg.table)
        self._urls = django_urls

    def point_bare_at(self, session_id: str) -> None:
        super().point_bare_at(session_id)
        self._urls.RAW["key"] = self.bare_key

    def close(self) -> None:
        from dynamodb_sessions.integrations import django as engine

        engine.set_store(None)
        super().close()


def configure_django(engine: str, **extra: Any) -> None:
    """Django's settings for the benchmark app (once per process), with ``engine`` as the
    ``SESSION_ENGINE``."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="bench-only",
            ALLOWED_HOSTS=["*"],
            INSTALLED_APPS=[],
            MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware"],
            SESSION_ENGINE=engine,
            ROOT_URLCONF="bench.django_urls",
            USE_TZ=True,
            LOGGING_CONFIG=None,
            **extra,
        )
        django.setup()


class StarletteAdapter:
    """The ASGI middleware on the async store, called as an ASGI app on one event loop."""

    name = "Starlette"
    cookie_name = "session"

    def __init__(self, cfg: StoreConfig, meter: Meter | Unmetered, clock: Clock) -> None:
        from starlette.applications import Starlette
        from starlette.middleware import Middleware
        from starlette.requests import Request
        from starlette.responses import PlainTextResponse
        from starlette.routing import Route

        from dynamodb_sessions.integrations.starlette import SessionMiddleware

        self.cfg, self.meter, self.clock = cfg, meter, clock
        self.loop = asyncio.new_event_loop()
        self.stack = AsyncExitStack()
        self.raw = self.run(self.stack.enter_async_context(make_async_client(cfg.connection)))
        # The store makes its own client (and, by default, its lean transport) in this loop,
        # as an application's does; an injected client would carry every call on aiobotocore.
        self.store = AsyncSessionStore(cfg, clock=clock)
        self.run(self.stack.enter_async_context(self.store))
        meter.attach_store(self.store)

        async def read(request: Request) -> PlainTextResponse:
            return PlainTextResponse(str(request.session.get("user")))

        async def write(request: Request) -> PlainTextResponse:
            views.write(request.session)
            return PlainTextResponse("ok")

        async def set_only(request: Request) -> PlainTextResponse:
            views.set_only(request.session)
            return PlainTextResponse("ok")

        async def rotate(request: Request) -> PlainTextResponse:
            request.session.rotate()
            return PlainTextResponse("ok")

        async def unused(request: Request) -> PlainTextResponse:
            return PlainTextResponse("ok")

        async def bare(request: Request) -> PlainTextResponse:
            return PlainTextResponse(await views.araw_get(self.raw, cfg.table, self.bare_key))

        routes = [Route(f"/{f.__name__}", f) for f in (read, write, rotate, unused)]
        routes.append(Route("/set", set_only))
        self.app = Starlette(
            routes=routes,
            middleware=[Middleware(SessionMiddleware, store=self.store, max_age=cfg.timeout)],
        )
        self.bare_app = Starlette(routes=[Route("/bare", bare)])

    def run(self, awaitable: Any) -> Any:
        return self.loop.run_until_complete(awaitable)

    async def call(self, app: Any, path: str, session_id: str | None) -> tuple[int, Headers]:
        headers = [(b"cookie", f"{self.cookie_name}={session_id}".encode())] if session_id else []
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
        }
        answer: list[Any] = [0, []]

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answer[0] = message["status"]
                answer[1] = [(k.decode(), v.decode()) for k, v in message.get("headers", [])]

        await app(scope, receive, send)
        return answer[0], answer[1]

    def request(self, path: str, session_id: str | None) -> tuple[int, Headers]:
        return self.run(self.call(self.app, path, session_id))  # type: ignore[no-any-return]

    def create(self, data: dict[str, Any]) -> str:
        session = Session(data)
        with self.meter.pause():
            self.run(self.store.create(session))
        return session.session_id

    def point_bare_at(self, session_id: str) -> None:
        self.bare_key = storage_key(session_id, self.cfg.key_prefix)

    async def _many(self, app: Any, path: str, session_id: str | None, n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            await self.call(app, path, session_id)
        return time.perf_counter() - start

    def timed(self, path: str, session_id: str | None, n: int) -> float:
        return self.run(self._many(self.app, path, session_id, n))  # type: ignore[no-any-return]

    def timed_bare(self, n: int) -> float:
        return self.run(self._many(self.bare_app, "/bare", None, n))  # type: ignore[no-any-return]

    def close(self) -> None:
        self.run(self.store.close())
        self.run(self.stack.aclose())
        self.loop.close()


ADAPTERS: dict[str, type[Any]] = {
    "WSGI": WSGIAdapter,
    "Flask": FlaskAdapter,
    "Django": DjangoAdapter,
    "Starlette": StarletteAdapter,
}

"""One counter app per adapter, each behind a real server on 127.0.0.1 (a port of its own), and
the HTTP clients that hammer one session of it. The tests in this folder and the benchmark
(``bench/concurrency.py``, which imports this module) both use it.

Every app answers ``/inc?KEY`` by adding one to ``session[KEY]`` and ``/get`` with the session
as JSON. Servers: WSGI, Flask and Django run in a threaded ``wsgiref`` server (a thread per
connection, as a threaded production server runs them); Starlette in uvicorn (one event loop).
Each adapter is set up as the guide says: Flask's store has Flask's tagged JSON codec, Django
runs our session middleware and engine.

Every wait is bounded (``SECONDS``, a safety bound, never a timed assertion).
"""

from __future__ import annotations

import asyncio
import dataclasses
import http.client
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import quote
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path

from dynamodb_sessions import AsyncSessionStore, Codec, SessionStore, StoreConfig
from dynamodb_sessions.integrations.wsgi import ENVIRON_KEY

ADAPTERS = ("WSGI", "Flask", "Django", "Starlette")
SECONDS = 120.0  # a safety bound for a run that normally takes a few seconds
BACKLOG = 128  # a burst of 64 clients connecting at once waits, never refused


# -- the apps ----------------------------------------------------------------------------------


def _increment(session: Any, key: str) -> None:
    session[key] = session.get(key, 0) + 1


def counter_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """The plain WSGI app (behind the WSGI middleware)."""
    session = environ[ENVIRON_KEY]
    if environ["PATH_INFO"] == "/inc":
        _increment(session, environ["QUERY_STRING"])
        body = b"ok"
    else:
        body = json.dumps(dict(session)).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def _wsgi(config: StoreConfig, stack: ExitStack) -> Any:
    from dynamodb_sessions.integrations.wsgi import SessionMiddleware

    return SessionMiddleware(counter_app, stack.enter_context(SessionStore(config)))


def _flask(config: StoreConfig, stack: ExitStack) -> Any:
    from flask import Flask, request, session

    from dynamodb_sessions.integrations.flask import DynamoDBSessions, TaggedJSON

    codec = Codec(serializer=TaggedJSON(), compress_threshold=config.compress_threshold)
    store = stack.enter_context(SessionStore(config, codec=codec))
    app = Flask("counters")
    app.config["PERMANENT_SESSION_LIFETIME"] = config.timeout
    DynamoDBSessions(app, store=store)

    @app.get("/inc")
    def inc() -> str:
        _increment(session, request.query_string.decode())
        return "ok"

    @app.get("/get")
    def get() -> dict[str, Any]:
        return dict(session)

    return app


def _django(config: StoreConfig, stack: ExitStack) -> Any:
    import django
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.test.utils import override_settings

    from dynamodb_sessions.integrations import django as engine

    if not settings.configured:  # else: the settings of the tests or the benchmark running
        settings.configure(SECRET_KEY="only-for-tests", USE_TZ=True)
        django.setup()
    stack.enter_context(
        override_settings(
            ALLOWED_HOSTS=["127.0.0.1"],
            ROOT_URLCONF=__name__,
            MIDDLEWARE=["dynamodb_sessions.integrations.django.middleware.SessionMiddleware"],
            SESSION_ENGINE="dynamodb_sessions.integrations.django",
            SESSION_COOKIE_AGE=config.timeout,
        )
    )
    engine.set_store(stack.enter_context(SessionStore(config)))
    stack.callback(engine.set_store, None)
    return WSGIHandler()  # builds its middleware chain now, with the settings above


def _django_inc(request: HttpRequest) -> HttpResponse:
    _increment(request.session, request.META["QUERY_STRING"])
    return HttpResponse("ok")


def _django_get(request: HttpRequest) -> JsonResponse:
    return JsonResponse(dict(request.session.items()))


urlpatterns = [path("inc", _django_inc), path("get", _django_get)]  # ROOT_URLCONF is this module


def _starlette(config: StoreConfig, stack: ExitStack) -> Any:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    from dynamodb_sessions.integrations.starlette import SessionMiddleware

    async def inc(request: Request) -> PlainTextResponse:
        _increment(request.session, request.url.query)
        return PlainTextResponse("ok")

    async def get(request: Request) -> JSONResponse:
        return JSONResponse(dict(request.session))

    # Its client opens in the server's event loop and closes when that loop shuts down.
    store = AsyncSessionStore(config)
    middleware = Middleware(SessionMiddleware, store=store, max_age=config.timeout)
    return Starlette(routes=[Route("/inc", inc), Route("/get", get)], middleware=[middleware])


APPS: dict[str, Callable[[StoreConfig, ExitStack], Any]] = {
    "WSGI": _wsgi,
    "Flask": _flask,
    "Django": _django,
    "Starlette": _starlette,
}


# -- the servers -------------------------------------------------------------------------------


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = BACKLOG


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def _wsgi_server(app: Any) -> Iterator[int]:
    server = make_server(
        "127.0.0.1", 0, app, server_class=ThreadingServer, handler_class=QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextmanager
def _asgi_server(app: Any) -> Iterator[int]:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(BACKLOG)
    config = uvicorn.Config(
        app, lifespan="off", log_level="warning", access_log=False, loop="asyncio", http="h11"
    )
    server = uvicorn.Server(config)
    # asyncio.run: the loop's shutdown_asyncgens closes the store's client (AsyncSessionStore).
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + SECONDS
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def serving(adapter: str, config: StoreConfig) -> Iterator[int]:
    """Serve ``adapter``'s counter app, its store on ``config``; yield the server's port."""
    with ExitStack() as stack:
        app = APPS[adapter](config, stack)
        server = _asgi_server if adapter == "Starlette" else _wsgi_server
        yield stack.enter_context(server(app))


# -- the clients -------------------------------------------------------------------------------


def get(port: int, path: str, cookie: str | None = None) -> tuple[int, str, bytes]:
    """One GET on a connection of its own: status, ``Set-Cookie`` and body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = connection.getresponse()
        return response.status, response.getheader("Set-Cookie") or "", response.read()
    finally:
        connection.close()


def open_session(port: int) -> str:
    """Create a session (its one key ``setup`` at 1); return its cookie (``name=value``)."""
    status, set_cookie, _ = get(port, "/inc?setup")
    assert status == 200, status
    return set_cookie.split(";")[0]


def read_session(port: int, cookie: str) -> dict[str, int]:
    """The session's keys but ``setup``, read by one request."""
    status, _, body = get(port, "/get", cookie)
    assert status == 200, status
    data: dict[str, int] = json.loads(body)
    data.pop("setup")
    return data


def own_key(index: int) -> str:
    return f"thread-{index}"


@dataclasses.dataclass
class Burst:
    """What ``threads`` x ``requests`` increments on one session came to."""

    threads: int
    requests: int
    statuses: Counter[int]  # the answers' HTTP statuses
    seconds: float

    @property
    def total(self) -> int:
        return self.threads * self.requests


def hammer(
    port: int,
    cookie: str,
    *,
    threads: int,
    requests: int,
    key_of_thread: Callable[[int], str] = own_key,
) -> Burst:
    """``threads`` clients at once, each sending ``requests`` increments of its key (one
    connection per request) on the session of ``cookie``."""
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(threads + 1, timeout=60)

    def client(index: int) -> None:
        path = f"/inc?{quote(key_of_thread(index))}"
        start.wait()
        for _ in range(requests):
            status, _, _ = get(port, path, cookie)
            with lock:
                statuses[status] += 1

    clients = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(threads)]
    for thread in clients:
        thread.start()
    start.wait()
    began = time.perf_counter()
    deadline = time.monotonic() + SECONDS
    for thread in clients:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    seconds = time.perf_counter() - began
    assert not any(thread.is_alive() for thread in clients), "clients did not finish in time"
    return Burst(threads, requests, statuses, seconds)


@dataclasses.dataclass
class Counted:
    """A burst of increments on each thread's own key, counted at the wire."""

    burst: Burst
    kept: int  # increments found in the session afterwards
    lost_keys: dict[str, int]  # keys whose count is not ``requests``, with their count
    setup_calls: list[str]  # the DynamoDB operations of the session's creation
    calls: Counter[str]  # the operations of the increments
    final_calls: list[str]  # the operations of the read that checks the session


def counted_burst(port: int, proxy: Any, *, threads: int, requests: int) -> Counted:
    """``threads`` x ``requests`` increments on a new session of the app served on ``port``,
    whose store reaches the engine through ``proxy`` (a ``faults.proxy.FaultProxy``, which
    counts every request by its ``X-Amz-Target``; see ``faults.proxy.through``)."""
    seen = len(proxy.operations())
    cookie = open_session(port)  # the save ends before the answer: its call is in
    opened = len(proxy.operations())
    burst = hammer(port, cookie, threads=threads, requests=requests)
    done = len(proxy.operations())
    data = read_session(port, cookie)
    operations = proxy.operations()
    wanted = [own_key(i) for i in range(threads)]
    return Counted(
        burst,
        kept=sum(data.values()),
        lost_keys={k: data.get(k, 0) for k in wanted if data.get(k) != requests},
        setup_calls=operations[seen:opened],
        calls=Counter(operations[opened:done]),
        final_calls=operations[done:],
    )

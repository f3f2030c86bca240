"""Concurrent requests on one session through a real threaded HTTP server, and GC racing
refreshes. dynalite only: its conditional writes are atomic by themselves, as DynamoDB's are;
moto's are only because the fixture's engine serialises every call, which would hide a race.

Bounded: 8 client threads x 50 requests per test; every wait has a timeout (a safety bound,
never a timed assertion). Only 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import threading
from collections import Counter
from collections.abc import Iterator
from socketserver import ThreadingMixIn
from urllib.parse import quote
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from dynamodb_sessions import SaveOutcome, SessionStore
from dynamodb_sessions.config import LockSettings
from dynamodb_sessions.ids import storage_key
from dynamodb_sessions.integrations.wsgi import ENVIRON_KEY, SessionMiddleware
from faults.proxy import FaultProxy

pytestmark = [
    pytest.mark.engines(
        "dynalite", reason="moto is atomic only because the fixture serialises its calls"
    ),
    pytest.mark.transports,
]

THREADS, REQUESTS = 8, 50
JOIN_SECONDS = 120.0  # a safety bound for a run that normally takes a few seconds


def counter_app(environ, start_response):
    """``/inc?KEY`` adds one to ``session[KEY]``; ``/get`` answers the session as JSON."""
    session = environ[ENVIRON_KEY]
    if environ["PATH_INFO"] == "/inc":
        key = environ["QUERY_STRING"]
        session[key] = session.get(key, 0) + 1
        body = b"ok"
    else:
        body = json.dumps(dict(session)).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128  # a burst of 64 clients connecting at once waits, never refused


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def serve(config) -> Iterator:
    """Start the counter app behind the middleware on 127.0.0.1, port 0; yield a starter."""
    servers = []

    def start(store: SessionStore) -> int:
        app = SessionMiddleware(counter_app, store)
        server = make_server(
            "127.0.0.1", 0, app, server_class=ThreadingServer, handler_class=QuietHandler
        )
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return server.server_address[1]

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def get(port: int, path: str, cookie: str | None = None) -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = connection.getresponse()
        return response.status, response.getheader("Set-Cookie") or "", response.read()
    finally:
        connection.close()


def hammer(
    port: int,
    key_of_thread,
    *,
    threads: int = THREADS,
    requests: int = REQUESTS,
    opened: threading.Event | None = None,
) -> tuple[dict, list[int]]:
    """Open a session, then ``threads`` x ``requests`` increments on it; return the session
    and the failures. ``opened`` is set once the session exists, before the increments."""
    status, set_cookie, _ = get(port, "/inc?setup")
    assert status == 200
    cookie = set_cookie.split(";")[0]
    if opened is not None:
        opened.set()
    failures: list[int] = []
    start = threading.Barrier(threads, timeout=60)

    def client(index: int) -> None:
        start.wait()
        for _ in range(requests):
            status, _, _ = get(port, f"/inc?{quote(key_of_thread(index))}", cookie)
            if status != 200:
                failures.append(status)

    clients = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(threads)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join(timeout=JOIN_SECONDS)
    assert not any(thread.is_alive() for thread in clients), "clients did not finish in time"
    status, _, body = get(port, "/get", cookie)
    assert status == 200
    data = json.loads(body)
    data.pop("setup")
    return data, failures


def test_different_keys_lose_nothing(config, serve):
    port = serve(SessionStore(config))
    data, failures = hammer(port, lambda i: f"thread-{i}")
    print(f"\ndifferent keys, updates of what changed: {sum(data.values())} of 400")
    assert failures == []
    assert data == {f"thread-{i}": REQUESTS for i in range(THREADS)}


def test_different_keys_cost_one_read_and_one_update_each_counted_at_the_wire(
    engine, config, serve
):
    """Issue 14, item 8: counted at a TCP proxy between the library and the engine (so a
    retry by botocore, a re-read after a conflict or a second write would all show), each of
    the 400 requests is exactly one GetItem and one UpdateItem."""
    with FaultProxy(engine.endpoint) as proxy:
        # The engine's own patient timeouts: a slow answer under load is waited for, not
        # re-sent, so every extra request at the proxy is one the library chose to make.
        through = config.replace(
            connection=dataclasses.replace(config.connection, endpoint_url=proxy.endpoint)
        )
        port = serve(SessionStore(through))
        opened = threading.Event()
        before: list[str] = []
        watcher = threading.Thread(
            target=lambda: (opened.wait(30), before.extend(proxy.operations())), daemon=True
        )
        watcher.start()
        data, failures = hammer(port, lambda i: f"thread-{i}", opened=opened)
        watcher.join(timeout=30)
        seen = proxy.operations()
    assert failures == []
    assert data == {f"thread-{i}": REQUESTS for i in range(THREADS)}
    assert before == ["PutItem"]  # the session's creation, before any increment
    counts = Counter(seen[len(before) :])
    print(f"\nat the wire, {THREADS * REQUESTS} increments and one read: {dict(counts)}")
    # 400 increments: a read and an update each; then the final /get: one read.
    assert counts == {"GetItem": THREADS * REQUESTS + 1, "UpdateItem": THREADS * REQUESTS}


def test_64_threads_on_different_keys_get_no_503(config, serve):
    port = serve(SessionStore(config))
    data, failures = hammer(port, lambda i: f"thread-{i}", threads=64, requests=20)
    print(f"\n64 threads x 20, different keys: {sum(data.values())} of 1280")
    assert failures == []
    assert data == {f"thread-{i}": 20 for i in range(64)}


def test_one_key_without_the_lock_is_last_writer_wins(config, serve):
    """The documented policy (docs/concurrency.md): without lock mode, concurrent changes of
    the same key are not merged; the last writer's value stands. Nothing fails, but some
    increments are overwritten."""
    port = serve(SessionStore(config))
    data, failures = hammer(port, lambda i: "shared")
    print(f"\none key, optimistic merge (last writer wins per key): {data['shared']} of 400")
    assert failures == []
    assert 1 <= data["shared"] <= THREADS * REQUESTS


def test_one_key_with_the_lock_loses_nothing(config, serve):
    locked = config.replace(lock=LockSettings(lease=10, wait=30.0, poll=0.01))
    port = serve(SessionStore(locked))
    data, failures = hammer(port, lambda i: "shared")
    print(f"\none key, lock mode: {data['shared']} of 400")
    assert failures == []
    assert data == {"shared": THREADS * REQUESTS}


def test_gc_racing_refreshes_deletes_no_live_session(config):
    """200 sessions at the edge of expiry: GC (4 segments) sees them all expired while 4
    threads refresh them (half by a save, half by a small touch) from a server whose clock is a
    moment behind. Every refresh that succeeded must survive; the rest are collected."""
    timeout, total = 1000, 200
    t0 = 1_800_000_000
    cfg = config.replace(timeout=timeout, touch_after=0.0)
    creator = SessionStore(cfg, clock=lambda: t0)
    ids = []
    for i in range(total):
        session = creator.load(None)
        session["i"] = i
        creator.finish(session)
        ids.append(session.session_id)
    refresher = SessionStore(cfg, clock=lambda: t0 + timeout - 1)  # still valid here
    collector = SessionStore(cfg, clock=lambda: t0 + timeout + 1)  # all expired here
    refreshed: list[str] = []
    lost: list[str] = []
    start = threading.Barrier(5, timeout=30)
    lock = threading.Lock()

    def refresh(part: list[str]) -> None:
        start.wait()
        for n, sid in enumerate(part):
            session = refresher.load(sid)
            if session.is_new:
                continue  # GC was first: it is gone for this request too
            if n % 2:
                session["seen"] = True
                ok = refresher.save(session) is SaveOutcome.SAVED
            else:
                refresher.touch(session)
                ok = session.stored.accessed == t0 + timeout - 1
            with lock:
                (refreshed if ok else lost).append(sid)

    reports = []

    def collect() -> None:
        start.wait()
        reports.append(collector.gc(segments=4))

    parts = [ids[i::4] for i in range(4)]
    threads = [threading.Thread(target=refresh, args=(p,), daemon=True) for p in parts]
    threads.append(threading.Thread(target=collect, daemon=True))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_SECONDS)
    assert not any(thread.is_alive() for thread in threads)

    (report,) = reports
    survivors = {sid for sid in ids if _exists(creator, sid)}
    print(
        f"\nGC race: {len(refreshed)} refreshed, {report.deleted} deleted, "
        f"{report.kept} kept by the delete condition, {len(survivors)} survive"
    )
    assert set(refreshed) <= survivors  # zero live sessions deleted
    assert len(survivors) + report.deleted == total


def _exists(store: SessionStore, session_id: str) -> bool:
    key = {"id": {"S": storage_key(session_id, store.config.key_prefix)}}
    reply = store.client.get_item(TableName=store.config.table, Key=key, ConsistentRead=True)
    return "Item" in reply

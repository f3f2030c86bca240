"""The demo's server holds a burst: 50 connections opened at once to the server that
``dynamodb-sessions demo`` runs (on 127.0.0.1), all taken in by the kernel before the server
accepts any, then all answered, every session stored.

Each connection is a browser of its own (its own new session): the demo's burst button sends 20
requests of one session, which the browser test clicks; 50 writers of one session at once is
the whole-session save's conflict limit (docs/design.md, Concurrency), not the server's."""

from __future__ import annotations

import json
import selectors
import socket
import threading
import uuid
from collections.abc import Iterator

import pytest

from dynamodb_sessions import SessionStore, StoreConfig
from dynamodb_sessions.demo import demo_app, demo_server

CONNECTIONS = 50
SECONDS = 30.0  # a safety bound on every wait, never a timed assertion


@pytest.fixture
def store(moto_engine) -> Iterator[SessionStore]:
    """The demo's store, as ``demo`` makes it: the embedded engine, a table with its index."""
    config = StoreConfig(table=f"demo-{uuid.uuid4().hex[:12]}", connection=moto_engine.connection())
    with SessionStore(config) as store:
        assert store.create_table(wait_seconds=30).ok
        yield store
        store.client.delete_table(TableName=config.table)


def exchange(sock: socket.socket, request: bytes) -> bytes:
    """Send one HTTP/1.0 request on a connected socket; the whole answer (the server closes)."""
    sock.settimeout(SECONDS)
    sock.sendall(request)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def post(path: str, cookie: str, body: str) -> bytes:
    return (
        f"POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


def cookie_of(answer: bytes) -> str:
    """The ``name=value`` of the session cookie an answer sets."""
    head = answer.split(b"\r\n\r\n", 1)[0].decode()
    (value,) = (
        line.split(":", 1)[1].split(";")[0].strip()
        for line in head.split("\r\n")
        if line.lower().startswith("set-cookie:")
    )
    return value


def get(path: str, cookie: str = "") -> bytes:
    return f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\r\n".encode()


def test_fifty_connections_at_once_are_all_held_answered_and_stored(store):
    server = demo_server(demo_app(store, "test"), "127.0.0.1", 0)
    address = server.server_address[:2]
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    sockets: list[socket.socket] = []
    try:
        # 50 connections opened at once, before the server accepts any: the kernel must hold
        # them all in the listen queue (with http.server's queue of 5 it drops the rest, and
        # they stay unconnected while it does not accept).
        with selectors.DefaultSelector() as selector:
            for _ in range(CONNECTIONS):
                sock = socket.socket()
                sock.setblocking(False)
                sock.connect_ex(address)
                sockets.append(sock)
                selector.register(sock, selectors.EVENT_WRITE)
            connected = 0
            while connected < CONNECTIONS and (ready := selector.select(timeout=SECONDS)):
                for key, _ in ready:
                    assert key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
                    selector.unregister(key.fileobj)
                    connected += 1
        assert connected == CONNECTIONS, f"only {connected} connections were taken in"

        serving.start()
        answers: dict[int, bytes | str] = {}

        def client(index: int) -> None:
            body = f"key=parallel-{index:02d}&value=burst"
            try:
                answers[index] = exchange(sockets[index], post("/api/set", "", body))
            except OSError as exc:
                answers[index] = repr(exc)

        clients = [threading.Thread(target=client, args=(i,)) for i in range(CONNECTIONS)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join(timeout=SECONDS)
        assert not any(thread.is_alive() for thread in clients)
        bad = {i: a for i, a in answers.items() if not isinstance(a, bytes) or b" 200 " not in a}
        assert len(answers) == CONNECTIONS and not bad, bad

        for index, answer in answers.items():  # each its own session, holding its own key
            assert isinstance(answer, bytes)
            with socket.create_connection(address, timeout=SECONDS) as sock:
                state = exchange(sock, get("/api/session", cookie_of(answer)))
            contents = json.loads(state.split(b"\r\n\r\n", 1)[1])["contents"]
            assert contents == {f"parallel-{index:02d}": "burst"}
    finally:
        for sock in sockets:
            sock.close()
        if serving.is_alive():
            server.shutdown()
        server.server_close()

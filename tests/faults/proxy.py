"""A fault-injecting HTTP proxy on 127.0.0.1 in front of a local DynamoDB engine.

It relays botocore's HTTP/1.1 requests one at a time (Content-Length or chunked bodies), so it can
act per request, by DynamoDB operation::

    pass       forward the request, relay the answer
    stall      read the request, never answer (the client's read timeout fires)
    cut        forward, then send half of the answer and close the connection
    drop       forward (the engine carries the request out), then never answer: an
               "unknown outcome" write
    throttle   answer HTTP 400 ProvisionedThroughputExceededException without forwarding
    replay     forward, then answer with the previous answer to the same operation (what a
               connection shared by two processes does: each reads the other's answer)
    refuse     (not per request) stop listening and cut every open connection; new
               connections are refused until restore()

Rules are tried in order; the first that matches the operation and has uses left decides,
else the request passes. Every wait is bounded (``bound`` seconds), and close() ends all of it.

``delay`` models the network: every request that is forwarded waits half of it before it
reaches the engine and its answer the other half before it is relayed, so each call (not each
connection: botocore keeps connections alive across many calls) takes that much longer. Each
connection has its own thread, so calls in flight on different connections wait side by side,
as they would on a network. The benchmarks run it in a process of its own (bench/latency.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MODES = ("pass", "stall", "cut", "drop", "throttle", "replay")
THROTTLED = json.dumps(
    {
        "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "message": "The level of configured provisioned throughput for the table was exceeded.",
    }
).encode()


@dataclass
class Rule:
    mode: str
    operation: str | None  # e.g. "UpdateItem"; None: every operation
    left: int | None  # uses left; None: unlimited


class Disconnected(Exception):
    """The peer closed the connection (or it timed out) before a whole message arrived."""


class FaultProxy:
    """A threaded proxy to ``upstream`` (``"http://127.0.0.1:port"``) on 127.0.0.1, port 0."""

    def __init__(self, upstream: str, *, bound: float = 30.0, delay: float = 0.0) -> None:
        host, _, port = upstream.removeprefix("http://").partition(":")
        self.upstream = (host, int(port))
        self.bound = bound
        self.delay = delay  # seconds added to every forwarded call's round trip
        self.seen: list[tuple[str, str]] = []  # (operation, mode) of every request received
        self._rules: list[Rule] = []
        self._answers: dict[str, bytes] = {}  # the last answer relayed, per operation
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conns: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None
        # Called with each request and the engine's answer; returns the answer to relay (a
        # test engine that answers differently, such as tests/faults/stale.py).
        self.rewrite: Callable[[bytes, bytes], bytes] | None = None
        self.port = 0
        self._listen()

    # -- control -------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rule(self, mode: str, operation: str | None = None, times: int | None = None) -> None:
        """Add a rule: ``mode`` for ``operation`` (all if None), ``times`` uses (None: always)."""
        assert mode in MODES, mode
        with self._lock:
            self._rules.append(Rule(mode, operation, times))

    def heal(self) -> None:
        """Drop every rule and release stalled connections: everything passes again."""
        with self._lock:
            self._rules.clear()
        self._cut_all()

    def refuse(self) -> None:
        """Stop listening and cut every open connection (the engine looks down)."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        self._cut_all()

    def restore(self) -> None:
        """Listen again on the same port (the engine is back)."""
        if self._listener is None:
            self._listen(self.port)

    def operations(self, mode: str | None = None) -> list[str]:
        """The operations received so far (those handled in ``mode`` only, if given)."""
        with self._lock:
            return [op for op, m in self.seen if mode is None or m == mode]

    def close(self) -> None:
        self._stop.set()
        self.refuse()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- serving -------------------------------------------------------------------------

    def _listen(self, port: int = 0) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(1024)  # a benchmark opens hundreds of connections at once
        listener.settimeout(0.1)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._spawn(self._accept_loop, listener)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stop.is_set() and self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed by refuse()
                return
            client.settimeout(self.bound)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._conns.add(client)
            self._spawn(self._serve, client)

    def _cut_all(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _mode_for(self, operation: str) -> str:
        with self._lock:
            for rule in self._rules:
                if rule.operation in (None, operation) and rule.left != 0:
                    if rule.left is not None:
                        rule.left -= 1
                    mode = rule.mode
                    break
            else:
                mode = "pass"
            self.seen.append((operation, mode))
        return mode

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            while not self._stop.is_set():
                try:
                    request = read_message(client, self.bound)
                except Disconnected:
                    return
                operation = operation_of(request)
                mode = self._mode_for(operation)
                if mode == "stall":
                    self._hold(client)
                    return
                if mode == "throttle":
                    client.sendall(http_response(400, THROTTLED))
                    continue
                if upstream is None:
                    upstream = socket.create_connection(self.upstream, timeout=self.bound)
                    upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    with self._lock:
                        self._conns.add(upstream)
                arrived = time.monotonic()
                if self.delay:
                    _sleep_until(arrived + self.delay / 2)  # the request on its way
                upstream.sendall(request)
                response = read_message(upstream, self.bound)
                if self.delay:
                    _sleep_until(arrived + self.delay)  # the answer on its way back
                if self.rewrite is not None:
                    response = self.rewrite(request, response)
                if mode == "drop":
                    self._hold(client)
                    return
                if mode == "cut":
                    client.sendall(response[: len(response) // 2])
                    return
                with self._lock:
                    previous = self._answers.get(operation, response)
                    self._answers[operation] = response
                client.sendall(previous if mode == "replay" else response)
        except (OSError, ValueError, Disconnected):  # ValueError: a socket closed by refuse()
            return
        finally:
            for conn in (client, upstream):
                if conn is not None:
                    with self._lock:
                        self._conns.discard(conn)
                    conn.close()

    def _hold(self, client: socket.socket) -> None:
        """Answer nothing until the client gives up, heal()/close(), or ``bound`` seconds."""
        deadline = time.monotonic() + self.bound
        while not self._stop.is_set() and time.monotonic() < deadline:
            with self._lock:
                if client not in self._conns:
                    return
            try:
                readable, _, _ = select.select([client], [], [], 0.05)
                if readable and not client.recv(65536):
                    return
            except (OSError, ValueError):  # closed meanwhile by heal(), refuse() or close()
                return


def _sleep_until(deadline: float) -> None:
    # Against a deadline, so the sleeps' overshoot (a millisecond or two on a loaded machine)
    # does not add up over the two halves of a round trip.
    left = deadline - time.monotonic()
    if left > 0:
        time.sleep(left)


def through(config: Any, proxy: FaultProxy, **connection: Any) -> Any:
    """``config`` (a StoreConfig) reaching its engine through ``proxy``; ``connection``: other
    fields of its Connection to change."""
    return config.replace(
        connection=dataclasses.replace(config.connection, endpoint_url=proxy.endpoint, **connection)
    )


def failing_fast_through(config: Any, proxy: FaultProxy) -> Any:
    """``config`` reaching its engine through ``proxy``, with short timeouts and one retry, so
    an injected fault becomes an outage within a second."""
    return through(config, proxy, connect_timeout=0.25, read_timeout=0.25, max_attempts=2)


def operation_of(request: bytes) -> str:
    """The DynamoDB operation named by a request's ``X-Amz-Target`` header."""
    head = request.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "x-amz-target":
            return value.strip().rpartition(".")[2]
    return ""


def http_response(status: int, body: bytes) -> bytes:
    reason = {400: "Bad Request"}.get(status, "OK")
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Content-Type: application/x-amz-json-1.0\r\n"
        "x-amzn-RequestId: fault-proxy\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def read_message(sock: socket.socket, bound: float) -> bytes:
    """One whole HTTP/1.1 message (head and body) from ``sock``, as raw bytes."""
    deadline = time.monotonic() + bound
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        buffer += _recv(sock, deadline)
    head, _, body = buffer.partition(b"\r\n\r\n")
    headers = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while not body.endswith(b"0\r\n\r\n"):
            body += _recv(sock, deadline)
    else:
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            body += _recv(sock, deadline)
    return head + b"\r\n\r\n" + body


def _recv(sock: socket.socket, deadline: float) -> bytes:
    if time.monotonic() > deadline:
        raise Disconnected("message took too long")
    try:
        chunk = sock.recv(65536)
    except (TimeoutError, OSError) as exc:
        raise Disconnected(str(exc)) from exc
    if not chunk:
        raise Disconnected("closed")
    return chunk

"""The lean transport: the store's item operations sent without botocore's per-call machinery.

botocore spends most of a small call's CPU on what a session store does not need per call:
endpoint rules evaluated again, event hooks, model-driven serialising and parsing. Here the
request dicts of ``_core/requests.py`` go out as DynamoDB JSON over a pooled connection
(keep-alive connections of its own speaking ``_core/http.py``: sockets for :class:`Transport`,
asyncio protocols for :class:`AsyncTransport`; through a proxy, urllib3 and aiohttp), signed
and parsed by ``_core/wire.py``,
retried by its :func:`~._core.wire.exchange` (botocore's ``standard`` mode).

botocore keeps what it does well: the credential chain (read frozen on every call, so a refresh
applies), the endpoint (resolved once, by the botocore client the store makes anyway: region,
FIPS, dual-stack or a custom URL), and the HTTP settings (proxies, CA bundle, timeouts, pool
size). Failures become botocore's own exceptions (``ClientError`` with the same ``Error`` and
``ResponseMetadata``, ``EndpointConnectionError``, ``ReadTimeoutError``...), so the store maps
both transports' errors with one function (``store.step_failure``).

A transport belongs to one process (sync) or one event loop (async), as the client does.
"""

from __future__ import annotations

import asyncio
import random
import select
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import urllib3
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    NoCredentialsError,
    ReadTimeoutError,
)
from botocore.httpsession import get_cert_path
from botocore.utils import get_environ_proxies
from botocore.validate import validate_parameters

from ._core import http, wire
from ._core.steps import Sleep
from .config import Connection


def user_agent() -> str:
    """The lean transport's fixed ``User-Agent``: this library and Python by version, and the
    transport (what CloudTrail's ``userAgent`` shows; the botocore client's names botocore)."""
    import platform

    from . import __version__

    return f"dynamodb-sessions/{__version__} Python/{platform.python_version()} transport/lean"


class _Endpoint:
    """What both transports take from the botocore client once: where to send, how to sign,
    which retries, and botocore's validator for a request it would refuse."""

    def __init__(self, client: Any, connection: Connection, ca_bundle: str | None) -> None:
        self.url = client.meta.endpoint_url
        parts = urlsplit(self.url)
        host = parts.netloc
        if parts.port == {"http": 80, "https": 443}.get(parts.scheme):
            host = host.rpartition(":")[0]  # as botocore signs it, and as HTTP clients send it
        self.signer = wire.Signer(client.meta.region_name, host)
        # botocore's verify=True: its CA bundle (certifi's), unless one is configured.
        self.ca_certs = (ca_bundle or get_cert_path(True)) if parts.scheme == "https" else None
        self.proxy = (client.meta.config.proxies or get_environ_proxies(self.url)).get(parts.scheme)
        self.max_attempts = connection.max_attempts
        self.quota = wire.RetryQuota()
        self.user_agent = user_agent()
        self._model = client.meta.service_model

    def begin(self, method: str, params: Mapping[str, Any]) -> tuple[str, bytes, wire.Exchange]:
        """The operation named by ``method``, the body, and the exchange that sends it."""
        operation = wire.OPERATIONS[method]
        body = self.body(operation, params)
        return operation, body, wire.exchange(self.max_attempts, self.quota, random.random)

    def headers(
        self, operation: str, body: bytes, credentials: Any, attempt: int
    ) -> dict[str, str]:
        """The headers of one attempt: signed now, with the (unsigned) attempt count."""
        headers = self.signer.headers(operation, body, credentials, datetime.now(timezone.utc))
        headers["User-Agent"] = self.user_agent
        headers["amz-sdk-request"] = f"attempt={attempt}; max={self.max_attempts}"
        return headers

    def body(self, operation: str, params: Mapping[str, Any]) -> bytes:
        """``params`` as sent; a request botocore would refuse raises its
        ``ParamValidationError`` here, before anything is sent."""
        try:
            if wire.well_typed(params):
                return wire.encode(params)
        except TypeError:
            pass
        validate_parameters(params, self._model.operation_model(operation).input_shape)
        raise TypeError(f"{operation}: a value DynamoDB JSON cannot carry")  # pragma: no cover

    def result(self, operation: str, outcome: wire.Outcome, attempts: int) -> dict[str, Any]:
        """The response dict, or the exception botocore would raise for ``outcome``, after
        ``attempts`` attempts (retried ones say so in ``ResponseMetadata.RetryAttempts``, as
        botocore's do: the metrics hook counts them)."""
        if isinstance(outcome, dict):
            if attempts > 1:
                outcome["ResponseMetadata"] = {"RetryAttempts": attempts - 1}
            return outcome
        if isinstance(outcome, wire.Lost):
            raise outcome.error
        if isinstance(outcome, wire.Incomplete):
            raise ConnectionClosedError(endpoint_url=self.url)
        metadata: dict[str, Any] = {"HTTPStatusCode": outcome.status, "RetryAttempts": attempts - 1}
        if outcome.request_id:
            metadata["RequestId"] = outcome.request_id
        response: Any = {
            "Error": {"Code": outcome.code, "Message": outcome.message},
            "ResponseMetadata": metadata,
        }
        raise ClientError(response, operation)


def _frozen(credentials: Any) -> Any:
    if credentials is None:
        raise NoCredentialsError()
    return credentials


C = TypeVar("C")


class _Pool(Generic[C]):
    """Keep-alive HTTP/1.1 connections straight to the endpoint (``http`` or ``https``), the
    protocol in ``_core/http.py``: the pool and the failures both drivers share (sockets for
    :class:`_Direct`, asyncio connections for :class:`_AsyncDirect`).

    The pool is urllib3's non-blocking one: a call takes an idle connection, or opens one
    when all are busy; at most ``max_pool_connections`` idle ones are kept, the last used
    first. A connection that failed, or that the server said it closes, is never kept; an idle
    one the server closed meanwhile is noticed (readable before a request) and replaced.
    """

    def __init__(self, endpoint: _Endpoint, connection: Connection) -> None:
        parts = urlsplit(endpoint.url)
        self._url = endpoint.url
        self._address = (
            parts.hostname or "",
            parts.port or (443 if parts.scheme == "https" else 80),
        )
        self._host = endpoint.signer.host
        self._connect_timeout = connection.connect_timeout
        self._read_timeout = connection.read_timeout
        self._maxsize = connection.max_pool_connections
        self._idle: list[C] = []
        self._lock = threading.Lock()
        self._closed = False
        self.opened = 0
        """How many connections it has opened (the tests read it)."""
        self._tls: ssl.SSLContext | None = None
        if endpoint.ca_certs is not None:
            # As urllib3 for botocore: the CA bundle, the host name checked, HTTP/1.1 by ALPN.
            self._tls = ssl.create_default_context(cafile=endpoint.ca_certs)
            self._tls.set_alpn_protocols(["http/1.1"])

    def _take(self) -> C | None:
        """An idle connection the server has not closed, if there is one."""
        while True:
            with self._lock:
                if not self._idle:
                    return None
                conn = self._idle.pop()
            if self._usable(conn):
                return conn
            self._discard(conn)

    def _give(self, conn: C) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self._maxsize:
                self._idle.append(conn)
                return
        self._discard(conn)

    def _usable(self, conn: C) -> bool:
        raise NotImplementedError

    def _discard(self, conn: C) -> None:
        raise NotImplementedError

    def _unreached(self, exc: OSError) -> wire.Lost:
        """How opening a connection failed, as urllib3 (so botocore) reports it."""
        if isinstance(exc, socket.gaierror):
            return wire.Lost(EndpointConnectionError(endpoint_url=self._url, error=exc))
        if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
            return wire.Lost(ConnectTimeoutError(endpoint_url=self._url, error=exc), timeout=True)
        if isinstance(exc, ssl.SSLError):  # the certificate refused, as urllib3's SSLError
            return wire.Lost(HTTPClientError(error=exc))
        return wire.Lost(EndpointConnectionError(endpoint_url=self._url, error=exc))

    def _lost(self, exc: OSError | http.Malformed) -> wire.Lost:
        """How an exchange on an open connection failed."""
        if isinstance(exc, TimeoutError):
            return wire.Lost(ReadTimeoutError(endpoint_url=self._url, error=exc), timeout=True)
        return wire.Lost(ConnectionClosedError(endpoint_url=self._url, error=exc))


class _Direct(_Pool[socket.socket]):
    """:class:`_Pool` on sockets: each request goes out in one ``sendall`` (head and body in
    one TCP segment, with ``TCP_NODELAY``), its answer is read with bytes operations: a lean
    call costs about 40% of the CPU it did on urllib3 and http.client (docs/design.md)."""

    def __init__(self, endpoint: _Endpoint, connection: Connection) -> None:
        super().__init__(endpoint, connection)
        # A store dropped unclosed closes its idle connections when collected, as urllib3's
        # pools do (the list is kept, never replaced, for this).
        weakref.finalize(self, _close_all, self._idle)

    def send(self, body: bytes, headers: dict[str, str]) -> wire.Answer | wire.Lost:
        """One exchange: the answer, or how the connection failed (botocore's exception)."""
        data = http.request(self._host, headers, body)
        sock = self._take()
        if sock is None:
            try:
                sock = self._open()
            except OSError as exc:
                return self._unreached(exc)
        try:
            sock.sendall(data)
            answer, keep = _receive(sock)
        except (OSError, http.Malformed) as exc:
            sock.close()
            return self._lost(exc)
        if keep:
            self._give(sock)
        else:
            sock.close()
        return answer

    def _usable(self, conn: socket.socket) -> bool:
        # Readable while idle: the server closed it (or sent what nobody asked for).
        return not _readable(conn)

    def _discard(self, conn: socket.socket) -> None:
        conn.close()

    def _open(self) -> socket.socket:
        sock = socket.create_connection(self._address, timeout=self._connect_timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=self._address[0])
            sock.settimeout(self._read_timeout)
        except BaseException:
            sock.close()
            raise
        with self._lock:
            self.opened += 1
        return sock

    def close(self) -> None:
        """Close the idle connections, and each busy one when its call ends."""
        with self._lock:
            self._closed = True
        _close_all(self._idle)


def _readable(sock: Any) -> bool:
    """Whether ``sock`` has something to read now (poll where there is one, as urllib3 does:
    ``select`` fails on descriptors above 1023; Windows has only ``select``)."""
    if hasattr(select, "poll"):
        poll = select.poll()
        poll.register(sock, select.POLLIN)
        return bool(poll.poll(0))
    return bool(select.select([sock], [], [], 0)[0])  # pragma: no cover (Windows)


def _close_all(sockets: list[socket.socket]) -> None:
    while True:
        try:
            sock = sockets.pop()  # (one at a time: a call may be taking one meanwhile)
        except IndexError:
            return
        sock.close()


def _receive(sock: socket.socket) -> tuple[wire.Answer, bool]:
    """Read one answer from ``sock``; tell whether it may carry another request."""
    reader = http.Reader()
    while True:
        data = sock.recv(65536)
        if data:
            if reader.feed(data):
                break
        elif reader.ended():
            break
        else:
            raise ConnectionResetError("the server closed the connection mid-answer")
    head = reader.head
    assert head is not None
    return wire.Answer(head.status, head.headers, reader.body), reader.keep_alive


class _Connection(asyncio.Protocol):
    """One connection of :class:`_AsyncDirect`: :meth:`exchange` writes a request and waits
    for its answer, read by :class:`~._core.http.Reader` as the loop hands over the bytes.
    The read timeout is the longest silence, as a socket's timeout is for :class:`_Direct`
    (one timer per request, moved on only when it fires)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, read_timeout: float) -> None:
        self._loop = loop
        self._timeout = read_timeout
        self.transport: Any = None
        self.socket: Any = None
        self.usable = True
        """False once the server closed it, or sent what nobody asked for."""
        self.lost: asyncio.Future[None] = loop.create_future()
        self._reader = http.Reader()
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._heard = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.socket = transport.get_extra_info("socket")

    async def exchange(self, data: bytes) -> http.Reader:
        """Send ``data``; the answer (an ``OSError`` or ``Malformed`` if it fails)."""
        loop = self._loop
        reader = self._reader = http.Reader()
        waiter = self._waiter = loop.create_future()
        self._heard = loop.time()
        self._timer = loop.call_at(self._heard + self._timeout, self._expire)
        self.transport.write(data)
        try:
            await waiter
        finally:
            self._timer.cancel()
            self._waiter = None
        return reader

    def _expire(self) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        deadline = self._heard + self._timeout
        if deadline > self._loop.time():  # bytes came meanwhile: silent for less than that
            self._timer = self._loop.call_at(deadline, self._expire)
            return
        waiter.set_exception(TimeoutError("no answer within the read timeout"))

    def data_received(self, data: bytes) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            self.usable = False  # nobody asked
            return
        self._heard = self._loop.time()
        try:
            if self._reader.feed(data):
                waiter.set_result(None)
        except http.Malformed as exc:
            waiter.set_exception(exc)

    def eof_received(self) -> None:
        self._ended(None)  # (returns None: the transport closes itself)

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended(exc)
        if not self.lost.done():
            self.lost.set_result(None)

    def _ended(self, exc: Exception | None) -> None:
        self.usable = False
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if exc is None and self._reader.ended():
            waiter.set_result(None)
        else:
            waiter.set_exception(
                exc or ConnectionResetError("the server closed the connection mid-answer")
            )


class _AsyncDirect(_Pool[_Connection]):
    """:class:`_Pool` on asyncio connections of one event loop (``loop.create_connection``
    and a :class:`_Connection` protocol): the request in one ``write``, the answer parsed as
    it arrives, no stream objects in between."""

    def __init__(self, endpoint: _Endpoint, connection: Connection) -> None:
        super().__init__(endpoint, connection)
        self._ending: set[asyncio.Future[None]] = set()  # closed, not yet released

    async def send(self, body: bytes, headers: dict[str, str]) -> wire.Answer | wire.Lost:
        """One exchange: the answer, or how the connection failed (botocore's exception)."""
        data = http.request(self._host, headers, body)
        conn = self._take()
        if conn is None:
            try:
                conn = await self._open()
            except OSError as exc:
                return self._unreached(exc)
            except asyncio.TimeoutError as exc:  # (Python 3.10: not yet a TimeoutError)
                return self._unreached(TimeoutError(str(exc)))
        try:
            reader = await conn.exchange(data)
        except (OSError, http.Malformed) as exc:
            self._discard(conn)
            return self._lost(exc)
        except BaseException:  # cancelled mid-answer: the rest of it would be read as the next
            self._discard(conn)
            raise
        if reader.keep_alive and conn.usable:
            self._give(conn)
        else:
            self._discard(conn)
        head = reader.head
        assert head is not None
        return wire.Answer(head.status, head.headers, reader.body)

    def _usable(self, conn: _Connection) -> bool:
        return conn.usable and not _readable(conn.socket)

    def _discard(self, conn: _Connection) -> None:
        # abort, not close: nothing is left to flush, and a TLS goodbye could wait on the server.
        conn.transport.abort()
        if not conn.lost.done():
            self._ending.add(conn.lost)
            conn.lost.add_done_callback(self._ending.discard)

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        host, port = self._address
        _, conn = await asyncio.wait_for(
            loop.create_connection(
                lambda: _Connection(loop, self._read_timeout),
                host,
                port,
                ssl=self._tls,
                server_hostname=host if self._tls is not None else None,
            ),
            self._connect_timeout,
        )
        self.opened += 1  # (one loop: no lock needed)
        return conn

    async def close(self) -> None:
        """Close the idle connections, and each busy one when its call ends; wait (briefly)
        until the loop has released them, so none is left for a closed loop."""
        with self._lock:
            self._closed = True
            idle, self._idle[:] = self._idle[:], []
        for conn in idle:
            self._discard(conn)
        if self._ending:
            await asyncio.wait(set(self._ending), timeout=self._connect_timeout)


class _Urllib3:
    """Through an HTTP(S) proxy (the client's ``proxies`` or the environment's): a urllib3
    ``ProxyManager`` (:func:`_proxied`), which does what proxies need (CONNECT tunnels for
    ``https``, proxy authentication in the URL, TLS to the proxy) as botocore itself does it.
    ``pool`` may be any urllib3 pool; ``target`` what it is asked for (a proxy takes the URL)."""

    def __init__(self, pool: Any, target: str, url: str) -> None:
        self.pool = pool
        self._target = target
        self._url = url

    def send(self, body: bytes, headers: dict[str, str]) -> wire.Answer | wire.Lost:
        """One exchange: the answer, or how the connection failed (botocore's exception)."""
        url = self._url
        try:
            response = self.pool.urlopen(
                "POST", self._target, body=body, headers=headers, redirect=False
            )
        except (urllib3.exceptions.NewConnectionError, socket.gaierror) as exc:
            # Before ConnectTimeoutError, which urllib3 makes NewConnectionError's base.
            return wire.Lost(EndpointConnectionError(endpoint_url=url, error=exc))
        except urllib3.exceptions.ConnectTimeoutError as exc:
            return wire.Lost(ConnectTimeoutError(endpoint_url=url, error=exc), timeout=True)
        except urllib3.exceptions.ReadTimeoutError as exc:
            return wire.Lost(ReadTimeoutError(endpoint_url=url, error=exc), timeout=True)
        except urllib3.exceptions.ProtocolError as exc:
            return wire.Lost(ConnectionClosedError(endpoint_url=url, error=exc))
        except urllib3.exceptions.HTTPError as exc:
            return wire.Lost(HTTPClientError(error=exc))
        return wire.Answer(response.status, response.headers, response.data)

    def close(self) -> None:
        """Close the pooled connections."""
        if isinstance(self.pool, urllib3.PoolManager):
            self.pool.clear()
        else:
            self.pool.close()


def urllib3_options(endpoint: _Endpoint, connection: Connection) -> dict[str, Any]:
    """The settings of a urllib3 pool for ``endpoint``: botocore's pool size, timeouts and CA
    bundle, and no retries (:func:`wire.exchange` retries)."""
    options: dict[str, Any] = {
        "maxsize": connection.max_pool_connections,
        "timeout": urllib3.Timeout(
            connect=connection.connect_timeout, read=connection.read_timeout
        ),
        "retries": False,
    }
    if endpoint.ca_certs is not None:
        options["ca_certs"] = endpoint.ca_certs
    return options


def _proxied(proxy: str, endpoint: _Endpoint, connection: Connection) -> _Urllib3:
    pool = urllib3.ProxyManager(proxy, **urllib3_options(endpoint, connection))
    return _Urllib3(pool, endpoint.url, endpoint.url)


class Transport:
    """The lean transport of a :class:`~dynamodb_sessions.SessionStore` (one per process):
    ``call(operation, params)`` returns what the botocore client's method would."""

    def __init__(
        self, client: Any, credentials: Any, connection: Connection, ca_bundle: str | None
    ) -> None:
        self._endpoint = endpoint = _Endpoint(client, connection, ca_bundle)
        self._credentials = credentials
        self._sender: _Direct | _Urllib3
        if endpoint.proxy:
            self._sender = _proxied(endpoint.proxy, endpoint, connection)
        else:
            self._sender = _Direct(endpoint, connection)

    def call(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Send ``method`` (a botocore method name in :data:`wire.OPERATIONS`) with ``params``."""
        endpoint = self._endpoint
        operation, body, flow = endpoint.begin(method, params)
        reply: Any = None
        attempt = 0
        while True:
            try:
                step = flow.send(reply)
            except StopIteration as done:
                return endpoint.result(operation, done.value, attempt)
            if isinstance(step, Sleep):
                time.sleep(step.seconds)
                reply = None
                continue
            attempt = step.attempt
            credentials = _frozen(self._credentials).get_frozen_credentials()
            reply = self._send(body, endpoint.headers(operation, body, credentials, step.attempt))

    def _send(self, body: bytes, headers: dict[str, str]) -> wire.Answer | wire.Lost:
        return self._sender.send(body, headers)

    def close(self) -> None:
        """Close the pooled connections."""
        self._sender.close()


class _Aiohttp:
    """Through an HTTP(S) proxy, the async way: an aiohttp session, which does what proxies
    need (CONNECT tunnels for ``https``, proxy credentials in the URL), as :class:`_Urllib3`
    does for :class:`Transport` (``proxy`` None: straight to the endpoint, as the benchmarks
    compare it)."""

    def __init__(self, endpoint: _Endpoint, connection: Connection, proxy: str | None) -> None:
        import aiohttp

        self._url = endpoint.url
        self._proxy = proxy
        tls: Any = True
        if endpoint.ca_certs is not None:
            tls = ssl.create_default_context(cafile=endpoint.ca_certs)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connection.max_pool_connections, ssl=tls),
            timeout=aiohttp.ClientTimeout(
                sock_connect=connection.connect_timeout, sock_read=connection.read_timeout
            ),
            auto_decompress=False,
            skip_auto_headers=("Accept-Encoding", "Accept", "User-Agent"),
        )
        self._errors = aiohttp

    async def send(self, body: bytes, headers: dict[str, str]) -> wire.Answer | wire.Lost:
        """One exchange: the answer, or how the connection failed (botocore's exception)."""
        url, errors = self._url, self._errors
        try:
            async with self._session.post(
                url, data=body, headers=headers, proxy=self._proxy, allow_redirects=False
            ) as response:
                return wire.Answer(response.status, response.headers, await response.read())
        except errors.ConnectionTimeoutError as exc:  # a ServerTimeoutError: first
            return wire.Lost(ConnectTimeoutError(endpoint_url=url, error=exc), timeout=True)
        except errors.ServerTimeoutError as exc:
            return wire.Lost(ReadTimeoutError(endpoint_url=url, error=exc), timeout=True)
        except errors.ClientConnectorError as exc:
            return wire.Lost(EndpointConnectionError(endpoint_url=url, error=exc))
        except (errors.ServerDisconnectedError, errors.ClientPayloadError) as exc:
            return wire.Lost(ConnectionClosedError(endpoint_url=url, error=exc))
        except (errors.ClientError, asyncio.TimeoutError) as exc:
            return wire.Lost(HTTPClientError(error=exc))

    async def close(self) -> None:
        """Close the connections (in the loop that opened them)."""
        await self._session.close()


class AsyncTransport:
    """:class:`Transport` for one event loop of an :class:`~dynamodb_sessions.AsyncSessionStore`:
    asyncio connections of its own (aiohttp through a proxy). ``credentials`` are
    aiobotocore's (their frozen reading is awaited, so a refresh does not block the loop)."""

    def __init__(
        self, client: Any, credentials: Any, connection: Connection, ca_bundle: str | None
    ) -> None:
        self._endpoint = endpoint = _Endpoint(client, connection, ca_bundle)
        self._credentials = credentials
        self._sender: _AsyncDirect | _Aiohttp
        if endpoint.proxy:
            self._sender = _Aiohttp(endpoint, connection, endpoint.proxy)
        else:
            self._sender = _AsyncDirect(endpoint, connection)

    async def call(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Send ``method`` with ``params``: :meth:`Transport.call`, awaited."""
        endpoint = self._endpoint
        operation, body, flow = endpoint.begin(method, params)
        reply: Any = None
        attempt = 0
        while True:
            try:
                step = flow.send(reply)
            except StopIteration as done:
                return endpoint.result(operation, done.value, attempt)
            if isinstance(step, Sleep):
                await asyncio.sleep(step.seconds)
                reply = None
                continue
            attempt = step.attempt
            credentials = await _frozen(self._credentials).get_frozen_credentials()
            reply = await self._send(
                body, endpoint.headers(operation, body, credentials, step.attempt)
            )

    async def _send(self, body: bytes, headers: dict[str, str]) -> wire.Answer | wire.Lost:
        return await self._sender.send(body, headers)

    async def close(self) -> None:
        """Close the connections (in the loop that opened them)."""
        await self._sender.close()

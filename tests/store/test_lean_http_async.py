"""The async lean transport's own HTTP/1.1 connections (asyncio protocols of one event loop),
attacked through the real AsyncSessionStore as test_lean_http.py attacks the sync ones: an
engine's real answers relayed reshaped (dribbled, chunked, ``Connection: close``, truncated,
over TLS), idle connections the server closes, a stalled or absent server, a pool smaller
than the tasks using it; then what no engine sends, from a raw server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable

import pytest
import test_lean_http  # the sync suite of this folder: its relay, shapes and test CA
from botocore.exceptions import (
    ConnectionClosedError,
    EndpointConnectionError,
    HTTPClientError,
    ReadTimeoutError,
)
from test_lean_http import (
    REFUSALS,
    chunk,
    closing,
    lean_through,
    refusable,
    relay,
    split,
    truncating,
)

from dynamodb_sessions import AsyncSessionStore, Session, SessionStore, StoreConfig
from dynamodb_sessions._core import wire
from dynamodb_sessions.config import Connection
from dynamodb_sessions.exceptions import BackendUnavailableError
from dynamodb_sessions.transport import AsyncTransport, _AsyncDirect
from faults.proxy import FaultProxy, through
from leaks import no_resource_warnings

authority = test_lean_http.authority  # the module's test CA, as a fixture here too
connections = test_lean_http.connections


def run(config: StoreConfig, work: Callable[[AsyncSessionStore], Awaitable[object]]) -> object:
    """``work`` on a new AsyncSessionStore in a new event loop, the store closed after it,
    and nothing left unclosed."""

    async def main() -> object:
        async with AsyncSessionStore(config) as store:
            return await work(store)

    with no_resource_warnings():
        return asyncio.run(main())


async def round_trips(store: AsyncSessionStore, n: int) -> None:
    """``n`` sessions written and read back through ``store``, each checked."""
    for i in range(n):
        session = Session({"i": i, "pad": "x" * 300})
        await store.create(session)
        assert (await store.load(session.session_id))["i"] == i


def sender(store: AsyncSessionStore) -> _AsyncDirect:
    assert isinstance(store.transport, AsyncTransport)
    direct = store.transport._sender
    assert isinstance(direct, _AsyncDirect)
    return direct


def opened_after(n: int) -> Callable[[AsyncSessionStore], Awaitable[tuple[int, int]]]:
    """Work: ``n`` round trips; then how many connections were opened, and how many are idle."""

    async def work(store: AsyncSessionStore) -> tuple[int, int]:
        await round_trips(store, n)
        return sender(store).opened, len(sender(store)._idle)

    return work


def test_an_answer_dribbled_in_tiny_segments(engine, config):
    with relay(engine.endpoint, lambda a: (split(a, 7), False)) as server:
        opened, _ = run(lean_through(config, server.endpoint), opened_after(2))  # type: ignore[misc]
        assert opened == connections(engine, 4)
    assert server.operations == ["PutItem", "GetItem"] * 2  # no retry


def test_a_chunked_answer(engine, config):
    with relay(engine.endpoint, lambda a: (split(chunk(a), 11), False)) as server:
        opened, _ = run(lean_through(config, server.endpoint), opened_after(2))  # type: ignore[misc]
        assert opened == connections(engine, 4)
    assert server.operations == ["PutItem", "GetItem"] * 2


def test_connection_close_is_honoured(engine, config):
    with relay(engine.endpoint, closing) as server:
        assert run(lean_through(config, server.endpoint), opened_after(2)) == (4, 0)
    assert server.operations == ["PutItem", "GetItem"] * 2  # never sent on a closed one
    assert server.accepted == 4


def counting(store: AsyncSessionStore) -> list[bytes]:
    """The bodies the transport sends from now on, an item per attempt."""
    transport = store.transport
    assert isinstance(transport, AsyncTransport)
    sent: list[bytes] = []
    send = transport._send

    async def record(body: bytes, headers: dict[str, str]) -> object:
        sent.append(body)
        return await send(body, headers)

    transport._send = record  # type: ignore[method-assign,assignment]
    return sent


@pytest.mark.engines("dynalite", reason="moto's server closes every connection itself")
def test_an_idle_connection_the_server_closed_is_not_used_again(engine, config):
    with FaultProxy(engine.endpoint) as proxy:

        async def work(store: AsyncSessionStore) -> None:
            sent = counting(store)
            await round_trips(store, 1)
            proxy.heal()  # closes every connection, the idle one included, behind the loop
            await round_trips(store, 1)
            assert sender(store).opened == 2
            assert len(sent) == 4  # not sent on the closed connection: no retry was needed

        run(lean_through(config, proxy.endpoint), work)
        assert proxy.operations() == ["PutItem", "GetItem"] * 2


def test_a_truncated_body_is_retried_on_a_new_connection(engine, config):
    with relay(engine.endpoint, truncating(1)) as server:
        opened, _ = run(lean_through(config, server.endpoint), opened_after(1))  # type: ignore[misc]
        assert opened == 1 + connections(engine, 2)  # + the one cut
    assert server.operations == ["PutItem", "GetItem", "GetItem"]


def test_a_truncated_body_is_a_closed_connection_when_not_retried(engine, config):
    session = Session({"a": 1})
    SessionStore(config).create(session)

    async def work(store: AsyncSessionStore) -> None:
        with pytest.raises(BackendUnavailableError) as raised:
            await store.load(session.session_id)
        assert isinstance(raised.value.__cause__, ConnectionClosedError)
        assert sender(store)._idle == []  # the failed connection is not kept
        assert (await store.load(session.session_id))["a"] == 1

    with relay(engine.endpoint, truncating(1)) as server:
        run(lean_through(config, server.endpoint, max_attempts=1), work)


@pytest.mark.engines("dynalite", reason="about the client's pool; one engine is enough")
def test_a_pool_of_two_shared_by_eight_tasks(engine, config):
    idle: list[int] = []

    async def task(store: AsyncSessionStore, worker: int) -> None:
        for i in range(6):
            session = Session({"worker": worker, "i": i})
            await store.create(session)
            assert dict(await store.load(session.session_id)) == {"worker": worker, "i": i}
            idle.append(len(sender(store)._idle))

    async def work(store: AsyncSessionStore) -> int:
        await asyncio.gather(*(task(store, w) for w in range(8)))
        return sender(store).opened

    # Each call 20 ms longer (a network), so the eight tasks' calls overlap.
    with FaultProxy(engine.endpoint, delay=0.02) as proxy:
        opened = run(lean_through(config, proxy.endpoint, max_pool_connections=2), work)
    assert len(idle) == 48
    assert max(idle) <= 2  # never more than two kept...
    assert opened > 2  # type: ignore[operator]  # ...though more were open at once


@pytest.mark.engines("dynalite", reason="about the client's timeout; one engine is enough")
def test_the_read_timeout(engine, config):
    session = Session({"a": 1})
    SessionStore(config).create(session)
    with FaultProxy(engine.endpoint) as proxy:

        async def work(store: AsyncSessionStore) -> None:
            proxy.rule("stall", "GetItem", times=1)
            with pytest.raises(BackendUnavailableError) as raised:
                await store.load(session.session_id)
            assert isinstance(raised.value.__cause__, ReadTimeoutError)
            assert sender(store)._idle == []
            assert (await store.load(session.session_id))["a"] == 1

        run(through(config, proxy, transport="lean", read_timeout=0.2, max_attempts=1), work)


def test_a_refused_connection(config):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]  # closed below: nothing listens there

    async def work(store: AsyncSessionStore) -> None:
        with pytest.raises(BackendUnavailableError) as raised:
            await store.exists("0" * 43)
        assert isinstance(raised.value.__cause__, EndpointConnectionError)

    run(lean_through(config, f"http://127.0.0.1:{port}", max_attempts=1), work)


@pytest.mark.engines("dynalite", reason="about the client's TLS; one engine is enough")
def test_a_round_trip_over_tls_with_the_configured_ca_bundle(
    engine, config, authority, monkeypatch
):
    monkeypatch.setenv("AWS_CA_BUNDLE", str(authority.ca))
    with relay(engine.endpoint, tls=authority.server) as server:
        assert run(lean_through(config, server.endpoint), opened_after(2)) == (1, 1)
    assert server.operations == ["PutItem", "GetItem"] * 2


@pytest.mark.engines("dynalite", reason="about the client's TLS; one engine is enough")
@pytest.mark.parametrize("fault", REFUSALS)
def test_a_certificate_not_for_this_endpoint_is_refused(
    engine, config, authority, monkeypatch, fault
):
    served = refusable(authority, monkeypatch, fault)

    async def work(store: AsyncSessionStore) -> None:
        with pytest.raises(BackendUnavailableError) as raised:
            await store.exists("0" * 43)
        cause = raised.value.__cause__
        assert isinstance(cause, HTTPClientError)
        assert isinstance(cause.kwargs["error"], ssl.SSLCertVerificationError)

    with relay(engine.endpoint, tls=served) as server:
        run(lean_through(config, server.endpoint, max_attempts=1), work)
    assert server.operations == []  # nothing was sent


# -- what no engine sends: answers from a raw server on 127.0.0.1 ------------------------------


class Endpoint:
    """What :class:`_AsyncDirect` takes from the botocore client, for a raw server."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.signer = wire.Signer("us-east-1", f"127.0.0.1:{port}")
        self.ca_certs = None


def answered(answers: list[bytes], close: bool = True, read_timeout: float = 5.0):
    """What the async sender makes of each of ``answers``, sent by a raw server one per
    request on one connection (closing after the last if ``close``); and how many
    connections it opened."""

    async def main() -> tuple[list[wire.Answer | wire.Lost], int]:
        queue = list(answers)

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while queue:
                    await reader.readuntil(b"\r\n\r\n{}")
                    writer.write(queue.pop(0))
                    await writer.drain()
                if close:
                    writer.close()
                else:
                    await reader.read()  # until the client goes
            except (ConnectionError, asyncio.IncompleteReadError):
                pass  # the client dropped this connection (and opened another)
            finally:
                writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        endpoint: object = Endpoint(port)
        direct = _AsyncDirect(endpoint, Connection(read_timeout=read_timeout))  # type: ignore[arg-type]
        results = []
        try:
            for _ in answers:
                results.append(await direct.send(b"{}", {}))
        finally:
            await direct.close()
            server.close()
            await server.wait_closed()
        return results, direct.opened

    with no_resource_warnings():
        return asyncio.run(main())


def test_an_interim_answer_is_skipped_and_the_connection_kept():
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    results, opened = answered([b"HTTP/1.1 100 Continue\r\n\r\n" + ok, ok], close=False)
    assert [(a.status, a.body) for a in results] == [(200, b"{}")] * 2  # type: ignore[union-attr]
    assert opened == 1


def test_an_answer_without_length_is_read_until_the_close():
    (answer,), _ = answered([b"HTTP/1.1 200 OK\r\nContent-Type: x\r\n\r\n{}"])
    assert isinstance(answer, wire.Answer)
    assert answer.body == b"{}"
    assert not wire.framed(answer.headers, answer.body)  # the store never reads it as data


def test_bytes_after_the_announced_body_end_the_connection():
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    results, opened = answered([ok + b"junk", ok], close=False)
    assert [a.body for a in results] == [b"{}", b"{}"]  # type: ignore[union-attr]
    assert opened == 2


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}",  # a short body
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n",  # no last chunk
        b"HTTP/1.1 200 OK\r\nContent-Le",  # a head cut short
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",  # not HTTP
    ],
)
def test_an_answer_cut_short_or_not_http_is_a_closed_connection(data):
    (lost,), _ = answered([data])
    assert isinstance(lost, wire.Lost)
    assert isinstance(lost.error, ConnectionClosedError)
    assert not lost.timeout


def test_a_silent_server_is_a_read_timeout():
    (lost,), _ = answered([b""], close=False, read_timeout=0.1)
    assert isinstance(lost, wire.Lost)
    assert isinstance(lost.error, ReadTimeoutError)
    assert lost.timeout


def test_a_call_cancelled_mid_answer_leaves_no_connection_behind():
    async def main() -> int:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()  # never answers; until the client goes
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        endpoint: object = Endpoint(server.sockets[0].getsockname()[1])
        direct = _AsyncDirect(endpoint, Connection())  # type: ignore[arg-type]
        try:
            call = asyncio.ensure_future(direct.send(b"{}", {}))
            await asyncio.sleep(0.05)
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            return len(direct._idle)  # its half-read answer would be the next call's
        finally:
            await direct.close()
            server.close()
            await server.wait_closed()

    with no_resource_warnings():
        assert asyncio.run(main()) == 0

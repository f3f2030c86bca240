"""The lean transport's own HTTP/1.1 connections, attacked through the real store: an engine's
real answers relayed by a small server on 127.0.0.1 that reshapes them (dribbled in tiny
segments, chunked, ``Connection: close``, truncated, over TLS), idle connections the server
closes, a stalled or absent server, and a pool smaller than the threads using it."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from botocore.exceptions import (
    ConnectionClosedError,
    EndpointConnectionError,
    HTTPClientError,
    ReadTimeoutError,
)

from dynamodb_sessions import Session, SessionStore, StoreConfig
from dynamodb_sessions._core import wire
from dynamodb_sessions._core.http import Malformed
from dynamodb_sessions.exceptions import BackendUnavailableError
from dynamodb_sessions.transport import Transport, _receive
from faults.proxy import FaultProxy, operation_of, read_message, through

# An answer as relayed: the pieces to send (each its own sendall), and whether to close after.
Shape = Callable[[bytes], tuple[list[bytes], bool]]


def as_is(answer: bytes) -> tuple[list[bytes], bool]:
    return [answer], False


class Relay:
    """A threaded server on 127.0.0.1 that forwards each request to ``upstream`` and sends
    the answer as ``shape`` says, over TLS if given a server context. Bounded: every socket
    times out after ``bound`` seconds, close() joins every thread."""

    def __init__(self, upstream: str, shape: Shape = as_is, tls: ssl.SSLContext | None = None):
        host, _, port = upstream.removeprefix("http://").partition(":")
        self.upstream = (host, int(port))
        self.shape = shape
        self.tls = tls
        self.accepted = 0
        self.operations: list[str] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    @property
    def endpoint(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._listener.getsockname()[1]}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed by close()
                return
            self.accepted += 1
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        upstream = None
        try:
            client.settimeout(10)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls is not None:
                client = self.tls.wrap_socket(client, server_side=True)
            upstream = socket.create_connection(self.upstream, timeout=10)
            while not self._stop.is_set():
                request = read_message(client, 10)
                self.operations.append(operation_of(request))
                upstream.sendall(request)
                pieces, close = self.shape(read_message(upstream, 10))
                for i, piece in enumerate(pieces):
                    if i:
                        time.sleep(0.0005)  # each piece its own TCP segment
                    client.sendall(piece)
                if close:
                    return
        except Exception:  # the client went away, or refused the handshake
            return
        finally:
            client.close()
            if upstream is not None:
                upstream.close()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=15)


@contextlib.contextmanager
def relay(
    upstream: str, shape: Shape = as_is, tls: ssl.SSLContext | None = None
) -> Iterator[Relay]:
    server = Relay(upstream, shape, tls)
    try:
        yield server
    finally:
        server.close()


def lean_through(config: StoreConfig, endpoint: str, **connection: object) -> StoreConfig:
    return config.replace(
        connection=dataclasses.replace(
            config.connection, transport="lean", endpoint_url=endpoint, **connection
        )
    )


def round_trips(store: SessionStore, n: int) -> None:
    """``n`` sessions written and read back through ``store``, each checked."""
    for i in range(n):
        session = Session({"i": i, "pad": "x" * 300})
        store.create(session)
        assert store.load(session.session_id)["i"] == i


def sender(store: SessionStore):  # the transport's connections (their counts)
    assert isinstance(store.transport, Transport)
    return store.transport._sender


def connections(engine, calls: int) -> int:
    """The connections ``calls`` calls take: moto's server (Werkzeug) answers every call with
    ``Connection: close``, dynalite keeps the connection alive."""
    return 1 if engine.name == "dynalite" else calls


def attempts(store: SessionStore) -> list[bytes]:
    """The bodies the transport sends from now on, an item per attempt."""
    assert isinstance(store.transport, Transport)
    sent: list[bytes] = []
    send = store.transport._send

    def record(body: bytes, headers: dict[str, str]) -> object:
        sent.append(body)
        return send(body, headers)

    store.transport._send = record  # type: ignore[method-assign]
    return sent


def split(answer: bytes, size: int) -> list[bytes]:
    return [answer[i : i + size] for i in range(0, len(answer), size)]


def test_an_answer_dribbled_in_tiny_segments(engine, config):
    with (
        relay(engine.endpoint, lambda a: (split(a, 7), False)) as server,
        SessionStore(lean_through(config, server.endpoint)) as store,
    ):
        round_trips(store, 2)
        assert sender(store).opened == connections(engine, 4)
    assert server.operations == ["PutItem", "GetItem"] * 2  # no retry


def chunk(answer: bytes) -> bytes:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"content-length")]
    pieces = [b"%x;n=1\r\n%s\r\n" % (len(p), p) for p in split(body, 50)]
    return (
        b"\r\n".join([*lines, b"Transfer-Encoding: chunked"])
        + b"\r\n\r\n"
        + b"".join(pieces)
        + b"0\r\nX-Trailer: t\r\n\r\n"
    )


def test_a_chunked_answer(engine, config):
    with (
        relay(engine.endpoint, lambda a: (split(chunk(a), 11), False)) as server,
        SessionStore(lean_through(config, server.endpoint)) as store,
    ):
        round_trips(store, 2)
        assert sender(store).opened == connections(engine, 4)
    assert server.operations == ["PutItem", "GetItem"] * 2


def closing(answer: bytes) -> tuple[list[bytes], bool]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return [head + b"\r\nConnection: close\r\n\r\n" + body], True


def test_connection_close_is_honoured(engine, config):
    with (
        relay(engine.endpoint, closing) as server,
        SessionStore(lean_through(config, server.endpoint)) as store,
    ):
        round_trips(store, 2)
        assert (sender(store).opened, sender(store)._idle) == (4, [])
    assert server.operations == ["PutItem", "GetItem"] * 2  # never sent on a closed one
    assert server.accepted == 4


@pytest.mark.engines("dynalite", reason="moto's server closes every connection itself")
def test_an_idle_connection_the_server_closed_is_not_used_again(engine, config):
    with FaultProxy(engine.endpoint) as proxy:
        with SessionStore(lean_through(config, proxy.endpoint)) as store:
            sent = attempts(store)
            round_trips(store, 1)
            proxy.heal()  # closes every connection, the idle one included
            round_trips(store, 1)
            assert sender(store).opened == 2
        assert proxy.operations() == ["PutItem", "GetItem"] * 2
        assert len(sent) == 4  # not sent on the closed connection: no retry was needed


def truncating(times: int) -> Shape:
    left = [times]

    def shape(answer: bytes) -> tuple[list[bytes], bool]:
        if left[0] and b'"Item"' in answer:  # a GetItem's answer
            left[0] -= 1
            head, _, body = answer.partition(b"\r\n\r\n")
            return [head + b"\r\n\r\n" + body[: len(body) // 2]], True
        return [answer], False

    return shape


def test_a_truncated_body_is_retried_on_a_new_connection(engine, config):
    with (
        relay(engine.endpoint, truncating(1)) as server,
        SessionStore(lean_through(config, server.endpoint)) as store,
    ):
        round_trips(store, 1)
        assert sender(store).opened == 1 + connections(engine, 2)  # + the one cut
    assert server.operations == ["PutItem", "GetItem", "GetItem"]


def test_a_truncated_body_is_a_closed_connection_when_not_retried(engine, config):
    session = Session({"a": 1})
    SessionStore(config).create(session)
    with (
        relay(engine.endpoint, truncating(1)) as server,
        SessionStore(lean_through(config, server.endpoint, max_attempts=1)) as store,
    ):
        with pytest.raises(BackendUnavailableError) as raised:
            store.load(session.session_id)
        assert isinstance(raised.value.__cause__, ConnectionClosedError)
        assert sender(store)._idle == []  # the failed connection is not kept
        assert store.load(session.session_id)["a"] == 1


@pytest.mark.engines("dynalite", reason="about the client's pool; one engine is enough")
def test_a_pool_of_two_shared_by_eight_threads(engine, config):
    idle: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8, timeout=30)

    def work(store: SessionStore, worker: int) -> None:
        try:
            start.wait()
            for i in range(6):
                session = Session({"worker": worker, "i": i})
                store.create(session)
                assert dict(store.load(session.session_id)) == {"worker": worker, "i": i}
                idle.append(len(sender(store)._idle))
        except BaseException as exc:
            errors.append(exc)

    # Each call 20 ms longer (a network), so the eight threads' calls overlap.
    with (
        FaultProxy(engine.endpoint, delay=0.02) as proxy,
        SessionStore(lean_through(config, proxy.endpoint, max_pool_connections=2)) as store,
    ):
        threads = [threading.Thread(target=work, args=(store, w)) for w in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        assert len(idle) == 48
        assert max(idle) <= 2  # never more than two kept...
        assert sender(store).opened > 2  # ...though more were open at once


@pytest.mark.engines("dynalite", reason="about the client's timeout; one engine is enough")
def test_the_read_timeout(engine, config):
    session = Session({"a": 1})
    SessionStore(config).create(session)
    with FaultProxy(engine.endpoint) as proxy:
        cfg = through(config, proxy, transport="lean", read_timeout=0.2, max_attempts=1)
        with SessionStore(cfg) as store:
            proxy.rule("stall", "GetItem", times=1)
            with pytest.raises(BackendUnavailableError) as raised:
                store.load(session.session_id)
            assert isinstance(raised.value.__cause__, ReadTimeoutError)
            assert sender(store)._idle == []
            assert store.load(session.session_id)["a"] == 1


def test_a_refused_connection(config):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]  # closed below: nothing listens there
    with (
        SessionStore(lean_through(config, f"http://127.0.0.1:{port}", max_attempts=1)) as store,
        pytest.raises(BackendUnavailableError) as raised,
    ):
        store.exists("0" * 43)
    assert isinstance(raised.value.__cause__, EndpointConnectionError)


# -- TLS: a CA and a certificate made for the test (cryptography, the `crypto` extra) --------


@dataclasses.dataclass
class Authority:
    ca: Path  # the CA's certificate (PEM), as a CA bundle
    server: ssl.SSLContext  # serving a certificate it signed for 127.0.0.1
    elsewhere: ssl.SSLContext  # serving one it signed for another host


@pytest.fixture(scope="module")
def authority(tmp_path_factory) -> Authority:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))

    def context(name: str, alt: x509.GeneralName) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        pem = folder / f"{name}.pem"
        pem.write_bytes(
            cert.public_bytes(serialization.Encoding.PEM)
            + key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server.load_cert_chain(pem)
        return server

    return Authority(
        folder / "ca.pem",
        context("loopback", x509.IPAddress(ipaddress.ip_address("127.0.0.1"))),
        context("elsewhere", x509.DNSName("elsewhere.example")),
    )


@pytest.mark.engines("dynalite", reason="about the client's TLS; one engine is enough")
def test_a_round_trip_over_tls_with_the_configured_ca_bundle(
    engine, config, authority, monkeypatch
):
    monkeypatch.setenv("AWS_CA_BUNDLE", str(authority.ca))
    with (
        relay(engine.endpoint, tls=authority.server) as server,
        SessionStore(lean_through(config, server.endpoint)) as store,
    ):
        round_trips(store, 2)
        assert sender(store).opened == 1
    assert server.operations == ["PutItem", "GetItem"] * 2


REFUSALS = ["another host's certificate", "an unknown CA"]


def refusable(authority: Authority, monkeypatch, fault: str) -> ssl.SSLContext:
    """What the server serves (and the client trusts) for ``fault``, one of ``REFUSALS``."""
    if fault == "another host's certificate":
        monkeypatch.setenv("AWS_CA_BUNDLE", str(authority.ca))
        return authority.elsewhere
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)  # botocore's own bundle
    return authority.server


@pytest.mark.engines("dynalite", reason="about the client's TLS; one engine is enough")
@pytest.mark.parametrize("fault", REFUSALS)
def test_a_certificate_not_for_this_endpoint_is_refused(
    engine, config, authority, monkeypatch, fault
):
    with (
        relay(engine.endpoint, tls=refusable(authority, monkeypatch, fault)) as server,
        SessionStore(lean_through(config, server.endpoint, max_attempts=1)) as store,
        pytest.raises(BackendUnavailableError) as raised,
    ):
        store.exists("0" * 43)
    cause = raised.value.__cause__
    assert isinstance(cause, HTTPClientError)
    assert isinstance(cause.kwargs["error"], ssl.SSLCertVerificationError)
    assert server.operations == []  # nothing was sent


# -- what no engine sends: answers read from a socket pair ------------------------------------


def received(answer: bytes, close: bool = True):
    """What the transport reads of ``answer`` from a socket (the sender closing after it)."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.settimeout(5)
        theirs.sendall(answer)
        if close:
            theirs.shutdown(socket.SHUT_WR)
        return _receive(ours)


def test_an_interim_answer_is_skipped():
    answer, keep = received(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
        close=False,
    )
    assert (answer.status, answer.body, keep) == (200, b"{}", True)


def test_an_answer_without_length_is_read_until_the_close_and_not_taken_as_framed():
    answer, keep = received(b"HTTP/1.1 200 OK\r\nContent-Type: x\r\n\r\n{}")
    assert (answer.body, keep) == (b"{}", False)
    assert not wire.framed(answer.headers, answer.body)  # the store never reads it as data


def test_bytes_after_the_announced_body_end_the_connection():
    answer, keep = received(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}junk", close=False)
    assert (answer.body, keep) == (b"{}", False)


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}",  # a short body
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n",  # no last chunk
        b"HTTP/1.1 200 OK\r\nContent-Le",  # a head cut short
    ],
)
def test_an_answer_cut_short_is_a_closed_connection(data):
    with pytest.raises(ConnectionResetError):
        received(data)


def test_what_is_not_http_is_malformed():
    with pytest.raises(Malformed):
        received(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")

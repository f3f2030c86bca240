"""The lean transport's HTTP layer, before and after: its own connections (``_core/http.py``)
against the urllib3 pool it used before (still its path through a proxy), with botocore's
client for scale; the same for async (its own asyncio connections against the aiohttp session
it used before, with aiobotocore's client), side by side in one run on one dynalite process.
Then the answer parsers alone: ``_core/http.py``, http.client (what urllib3 reads with), h11
and httptools (each if installed).

1. client CPU per call: ``time.process_time`` over ``n`` strongly consistent GetItems of a
   1,500-byte item, the median of ``rounds`` rounds (interleaved, the order alternating), sync
   then async;
2. CPU per answer parsed (status, headers by name, body by its length), from bytes in memory,
   the median of ``rounds`` rounds of ``10 * n`` parses.

    PYTHONPATH=src:. .venv/bin/python -m bench.http_layer [--rounds 5] [--n 300]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import http.client
import io
from collections.abc import Callable
from typing import Any

from bench._common import dynalite, median, new_table
from bench.transport import async_interleaved, interleaved, on, stored_item
from dynamodb_sessions import AsyncSessionStore, SessionStore
from dynamodb_sessions._core import http as lean_http
from dynamodb_sessions.config import Connection
from dynamodb_sessions.store import make_async_client, make_client
from dynamodb_sessions.transport import Transport, _Aiohttp, _Urllib3, urllib3_options


def on_urllib3(transport: Transport, connection: Connection) -> Transport:
    """``transport`` sending through a urllib3 pool, as it did before its own connections."""
    import urllib3

    endpoint = transport._endpoint
    pool = urllib3.connection_from_url(endpoint.url, **urllib3_options(endpoint, connection))
    transport._sender.close()
    transport._sender = _Urllib3(pool, "/", endpoint.url)
    return transport


def cpu_per_call(endpoint: str, rounds: int, n: int) -> dict[str, float]:
    """Client CPU (ms) per GetItem, median of ``rounds``: botocore, lean on urllib3, lean."""
    cfg = new_table(endpoint, "http-layer")
    params = stored_item(cfg)
    client = make_client(cfg.connection)
    stores = [SessionStore(on(cfg, "lean")) for _ in range(2)]
    lean, old = (store.transport for store in stores)
    assert lean is not None
    assert old is not None
    on_urllib3(old, cfg.connection)
    calls: dict[str, Callable[[], Any]] = {
        "botocore": lambda: client.get_item(**params),
        "lean on urllib3 (before)": lambda: old.call("get_item", params),
        "lean on its own connections": lambda: lean.call("get_item", params),
    }
    assert old.call("get_item", params) == lean.call("get_item", params)
    times: dict[str, list[float]] = {name: [] for name in calls}
    interleaved(calls, rounds, n, times)
    client.close()
    for store in stores:
        store.close()
    return {name: median(values) for name, values in times.items()}


async def async_cpu_per_call(endpoint: str, rounds: int, n: int) -> dict[str, float]:
    """Client CPU (ms) per GetItem, median of ``rounds``: aiobotocore, lean on aiohttp, lean."""
    cfg = new_table(endpoint, "http-layer-async")
    params = stored_item(cfg)
    times: dict[str, list[float]] = {}
    async with make_async_client(cfg.connection) as client:
        stores = [AsyncSessionStore(on(cfg, "lean")) for _ in range(2)]
        for store in stores:
            await store.exists("0" * 43)  # opens its transport in this loop
        lean, old = (store.transport for store in stores)
        assert lean is not None
        assert old is not None
        await old._sender.close()
        old._sender = _Aiohttp(old._endpoint, cfg.connection, None)
        calls: dict[str, Callable[[], Any]] = {
            "aiobotocore": lambda: client.get_item(**params),
            "lean async on aiohttp (before)": lambda: old.call("get_item", params),
            "lean async on its own connections": lambda: lean.call("get_item", params),
        }
        assert await old.call("get_item", params) == await lean.call("get_item", params)
        await async_interleaved(calls, rounds, n, times)
        for store in stores:
            await store.close()
    return {name: median(values) for name, values in times.items()}


def answer_bytes(body: bytes) -> bytes:
    """An answer as dynalite sends a GetItem's (its headers), carrying ``body``."""
    return (
        b"HTTP/1.1 200 OK\r\nx-amzn-RequestId: 6ZBJMJ0BP1FWY0ZV8AMT6NCKWRIEJ8KDKV9EV0LW8GJVQ13AEH7P"
        b"\r\nx-amz-crc32: 3316279545\r\nContent-Type: application/x-amz-json-1.0\r\n"
        b"Content-Length: %d\r\nDate: Wed, 02 Dec 2026 04:40:00 GMT\r\n"
        b"Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n%s" % (len(body), body)
    )


def parsers() -> dict[str, Callable[[bytes], tuple[int, Any, bytes]]]:
    """Each parser: answer bytes -> (status, headers by lower-case name, body)."""

    def ours(data: bytes) -> tuple[int, Any, bytes]:
        end = data.find(b"\r\n\r\n")
        head = lean_http.head(data[:end])
        return head.status, head.headers, data[end + 4 : end + 4 + (head.length or 0)]

    class Socket:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def makefile(self, mode: str) -> io.BytesIO:
            return io.BytesIO(self.data)

    def stdlib(data: bytes) -> tuple[int, Any, bytes]:
        response = http.client.HTTPResponse(Socket(data))  # type: ignore[arg-type]
        response.begin()
        return response.status, response.headers, response.read()

    found = {"_core/http.py": ours, "http.client": stdlib}
    try:
        import h11
    except ImportError:
        pass
    else:

        def with_h11(data: bytes) -> tuple[int, Any, bytes]:
            conn = h11.Connection(h11.CLIENT)
            conn.send(h11.Request(method="POST", target="/", headers=[("Host", "x")]))
            conn.receive_data(data)
            response = conn.next_event()
            body = conn.next_event()
            headers = {k.decode(): v.decode() for k, v in response.headers}  # type: ignore[union-attr]
            return response.status_code, headers, body.data  # type: ignore[union-attr]

        found["h11"] = with_h11
    try:
        import httptools
    except ImportError:
        pass
    else:

        class Answer:
            def __init__(self) -> None:
                self.headers: dict[str, str] = {}
                self.body = b""

            def on_header(self, name: bytes, value: bytes) -> None:
                self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

            def on_body(self, body: bytes) -> None:
                self.body += body

        def with_httptools(data: bytes) -> tuple[int, Any, bytes]:
            answer = Answer()
            parser = httptools.HttpResponseParser(answer)
            parser.feed_data(data)
            return parser.get_status_code(), answer.headers, answer.body

        found["httptools"] = with_httptools
    return found


def cpu_per_parse(rounds: int, n: int) -> dict[str, float]:
    """CPU (microseconds) per answer parsed, median of ``rounds`` rounds of ``n`` parses."""
    item = b'{"Item": {"data": {"B": "' + b"x" * 1500 + b'"}}}'
    data = answer_bytes(item)
    found = parsers()
    for name, parse in found.items():
        status, headers, body = parse(data)
        assert (status, headers["x-amz-crc32"], len(body)) == (200, "3316279545", len(item)), name
    calls = {name: functools.partial(parse, data) for name, parse in found.items()}
    times: dict[str, list[float]] = {name: [] for name in calls}
    interleaved(calls, rounds, n, times, scale=1e6)
    return {name: median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()
    with dynalite() as endpoint:
        cpu = cpu_per_call(endpoint, args.rounds, args.n)
        async_cpu = asyncio.run(async_cpu_per_call(endpoint, args.rounds, args.n))
    print("| Client | CPU per GetItem (ms) | vs botocore's (aiobotocore's) |")
    print("| --- | ---: | ---: |")
    for name, ms in cpu.items():
        print(f"| {name} | {ms:.3f} | {ms / cpu['botocore']:.2f}x |")
    for name, ms in async_cpu.items():
        print(f"| {name} | {ms:.3f} | {ms / async_cpu['aiobotocore']:.2f}x |")
    parse = cpu_per_parse(args.rounds, 10 * args.n)
    print()
    print("| Parser | CPU per answer (us) | vs _core/http.py |")
    print("| --- | ---: | ---: |")
    for name, us in parse.items():
        print(f"| {name} | {us:.1f} | {us / parse['_core/http.py']:.2f}x |")


if __name__ == "__main__":
    main()

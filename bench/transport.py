"""botocore against the lean transport, side by side in one run on one dynalite process:

``python -m bench`` runs it as section 10 of docs/benchmarks.md; on its own:

1. client CPU per call: ``time.process_time`` over ``n`` strongly consistent GetItems of a
   1,500-byte item, the median of ``rounds`` rounds, for botocore's client, the lean transport,
   aiobotocore's client and the lean transport on aiohttp (the rounds interleaved);
2. read-only requests per second through each adapter on each transport (a valid cookie, the
   view reads a key; in-process calls, no socket), the median of ``rounds`` rounds.

    .venv/bin/python -m bench.transport [--rounds 5] [--n 300] [--adapters WSGI,Flask]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench._common import Clock, Unmetered, dynalite, median, new_table, session_data, sizer_client
from bench.adapters import ADAPTERS
from dynamodb_sessions import AsyncSessionStore, Session, SessionStore, StoreConfig
from dynamodb_sessions._core import requests
from dynamodb_sessions.ids import storage_key
from dynamodb_sessions.store import make_async_client, make_client

ITEM_BYTES = 1500
TRANSPORTS = ("botocore", "lean")


def on(cfg: StoreConfig, transport: str) -> StoreConfig:
    return cfg.replace(connection=dataclasses.replace(cfg.connection, transport=transport))


def stored_item(cfg: StoreConfig) -> dict[str, Any]:
    """Store a session of about ``ITEM_BYTES``; the GetItem params that read it."""
    session = Session(session_data(ITEM_BYTES))
    with SessionStore(cfg) as store:
        store.create(session)
    key = storage_key(session.session_id, cfg.key_prefix)
    return requests.get_session(cfg, key, consistent=True)


def cpu_per_call(cfg: StoreConfig, rounds: int, n: int) -> dict[str, float]:
    """Client CPU (ms) per GetItem, median of ``rounds``; sync and async, both transports."""
    params = stored_item(cfg)
    client = make_client(cfg.connection)
    lean_store = SessionStore(on(cfg, "lean"))
    lean = lean_store.transport
    assert lean is not None
    sync: dict[str, Callable[[], Any]] = {
        "botocore": lambda: client.get_item(**params),
        "lean": lambda: lean.call("get_item", params),
    }
    times: dict[str, list[float]] = {name: [] for name in (*sync, "aiobotocore", "lean async")}
    interleaved(sync, rounds, n, times)
    asyncio.run(_async_cpu(cfg, params, rounds, n, times))
    client.close()
    lean_store.close()
    return {name: median(values) for name, values in times.items()}


def interleaved(
    calls: dict[str, Callable[[], Any]],
    rounds: int,
    n: int,
    times: dict[str, list[float]],
    scale: float = 1000.0,
) -> None:
    """Append to ``times`` the CPU per call of each of ``calls`` (in ms; ``scale`` 1e6: us),
    ``rounds`` rounds of ``n`` calls each, the order alternating, after a warm-up."""
    for call in calls.values():
        for _ in range(n // 5):
            call()
    for r in range(rounds):
        for name in sorted(calls, reverse=r % 2 == 1):
            start = time.process_time()
            for _ in range(n):
                calls[name]()
            times.setdefault(name, []).append(scale * (time.process_time() - start) / n)


async def _async_cpu(
    cfg: StoreConfig, params: dict[str, Any], rounds: int, n: int, times: dict[str, list[float]]
) -> None:
    async with make_async_client(cfg.connection) as client:
        store = AsyncSessionStore(on(cfg, "lean"))
        await store.exists("0" * 43)  # opens its transport in this loop
        lean = store.transport
        assert lean is not None
        calls: dict[str, Callable[[], Awaitable[Any]]] = {
            "aiobotocore": lambda: client.get_item(**params),
            "lean async": lambda: lean.call("get_item", params),
        }
        await async_interleaved(calls, rounds, n, times)
        await store.close()


async def async_interleaved(
    calls: dict[str, Callable[[], Awaitable[Any]]],
    rounds: int,
    n: int,
    times: dict[str, list[float]],
) -> None:
    """:func:`interleaved` for coroutines (ms per call), in the running event loop."""
    for call in calls.values():
        for _ in range(n // 5):
            await call()
    for r in range(rounds):
        for name in sorted(calls, reverse=r % 2 == 1):
            start = time.process_time()
            for _ in range(n):
                await calls[name]()
            times.setdefault(name, []).append(1000 * (time.process_time() - start) / n)


def adapters_per_second(
    endpoint: str, sizer: Any, names: list[str], rounds: int, n: int
) -> dict[str, dict[str, float]]:
    """Read-only requests per second through each adapter, per transport (median of rounds)."""
    results: dict[str, dict[str, float]] = {}
    for name in names:
        cfg = new_table(endpoint, f"transport-{name.lower()}")
        per_second: dict[str, list[float]] = {t: [] for t in TRANSPORTS}
        for r in range(rounds):
            for transport in sorted(TRANSPORTS, reverse=r % 2 == 1):
                adapter = ADAPTERS[name](on(cfg, transport), Unmetered(), Clock())
                try:
                    session_id = adapter.create(session_data(ITEM_BYTES))
                    adapter.timed("/read", session_id, max(1, n // 5))  # warm up
                    seconds = adapter.timed("/read", session_id, n)
                finally:
                    adapter.close()
                per_second[transport].append(n / seconds)
        results[name] = {t: median(v) for t, v in per_second.items()}
    return results


@dataclasses.dataclass
class TransportResult:
    cpu_ms: dict[str, float]  # client -> CPU ms per GetItem
    per_second: dict[str, dict[str, float]]  # adapter -> transport -> read-only requests/s
    rounds: int
    n: int


def measure(endpoint: str, sizer: Any, adapters: list[str], rounds: int, n: int) -> TransportResult:
    """Both measurements of this module, side by side in one run."""
    cpu = cpu_per_call(new_table(endpoint, "transport-cpu"), rounds, n)
    return TransportResult(
        cpu, adapters_per_second(endpoint, sizer, adapters, rounds, n), rounds, n
    )


def table(result: TransportResult) -> list[str]:
    """The two tables of the report (Markdown lines)."""
    cpu, rps = result.cpu_ms, result.per_second
    lines = [
        "| Client | CPU per GetItem (ms) | vs botocore's |",
        "| --- | ---: | ---: |",
    ]
    base = {"botocore": "botocore", "lean": "botocore", "aiobotocore": "aiobotocore"}
    base["lean async"] = "aiobotocore"
    for name, ms in cpu.items():
        lines.append(f"| {name} | {ms:.3f} | {ms / cpu[base[name]]:.2f}x |")
    lines += [
        "",
        "| Adapter | read-only req/s, botocore | lean | lean / botocore |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, values in rps.items():
        ratio = values["lean"] / values["botocore"]
        lines.append(f"| {name} | {values['botocore']:.0f} | {values['lean']:.0f} | {ratio:.2f}x |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.transport", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--adapters", default="WSGI,Flask,Django,Starlette")
    args = parser.parse_args(argv)
    with dynalite() as endpoint:
        result = measure(
            endpoint, sizer_client(endpoint), args.adapters.split(","), args.rounds, args.n
        )
    print("\n".join(table(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

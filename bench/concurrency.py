"""Sync vs async: throughput with one request in flight and with ``concurrency``; and one
session under many requests at once through every adapter in a real server, counted at the wire.

* async: the Starlette middleware on ``AsyncSessionStore`` (aiobotocore), one event loop,
  ``concurrency`` tasks each sending its requests one after another (direct ASGI calls);
* sync: the WSGI middleware on ``SessionStore`` (botocore) in a pool of ``concurrency``
  threads, as a threaded WSGI server would run it (direct WSGI calls).

Each worker has a session of its own (2 KB); both clients keep botocore's default pool of 10
connections. Rounds alternate which goes first; the ratio is async/sync requests per second.

:func:`measure_wire` runs the counter apps, servers and clients of the concurrency tests
(``tests/concurrency/counters.py``) with the fault proxy of the tests counting the calls.
"""

from __future__ import annotations

import asyncio
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from bench._common import ROOT, Clock, Unmetered, drop_table, median, new_table, session_data
from bench.adapters import StarletteAdapter, WSGIAdapter, call_wsgi

sys.path.insert(0, str(ROOT / "tests"))

from concurrency.counters import ADAPTERS, counted_burst, serving
from faults.proxy import FaultProxy, through

PATHS = {"read-only": "/read", "modified": "/write"}


@dataclass
class ConcurrencyResult:
    kind: str
    concurrency: int
    sync_rps: float
    async_rps: float
    ratio: float
    ratios: list[float]


def run_sync(adapter: WSGIAdapter, ids: list[str], path: str, per_worker: int) -> float:
    def worker(session_id: str) -> None:
        for _ in range(per_worker):
            status, _ = call_wsgi(adapter.app, path, f"session={session_id}")
            assert status == 200, status

    with ThreadPoolExecutor(len(ids)) as pool:
        start = time.perf_counter()
        list(pool.map(worker, ids))
        return time.perf_counter() - start


def run_async(adapter: StarletteAdapter, ids: list[str], path: str, per_worker: int) -> float:
    async def worker(session_id: str) -> None:
        for _ in range(per_worker):
            status, _ = await adapter.call(adapter.app, path, session_id)
            assert status == 200, status

    async def all_workers() -> float:
        start = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in ids))
        return time.perf_counter() - start

    return adapter.run(all_workers())  # type: ignore[no-any-return]


def measure(
    endpoint: str, sizer: Any, concurrency: int, per_worker: int, rounds: int
) -> list[ConcurrencyResult]:
    """At 1 request in flight (each call waits on dynalite) and at ``concurrency``."""
    results = []
    cfg = new_table(endpoint, "conc")
    sync = WSGIAdapter(cfg, Unmetered(), Clock())
    asyn = StarletteAdapter(cfg, Unmetered(), Clock())
    try:
        for kind, path in PATHS.items():
            for level in (1, concurrency):
                count = level * per_worker if level > 1 else 4 * per_worker
                sync_ids = [sync.create(session_data(2048, seed=i)) for i in range(level)]
                async_ids = [asyn.create(session_data(2048, seed=i)) for i in range(level)]
                run_sync(sync, sync_ids, path, 2)  # warm up (pools, connections)
                run_async(asyn, async_ids, path, 2)
                ratios, sync_rps, async_rps = [], [], []
                each = count // level
                for round_ in range(rounds):
                    if round_ % 2 == 0:
                        s = run_sync(sync, sync_ids, path, each)
                        a = run_async(asyn, async_ids, path, each)
                    else:
                        a = run_async(asyn, async_ids, path, each)
                        s = run_sync(sync, sync_ids, path, each)
                    sync_rps.append(level * each / s)
                    async_rps.append(level * each / a)
                    ratios.append(s / a)
                results.append(
                    ConcurrencyResult(
                        kind, level, median(sync_rps), median(async_rps), median(ratios), ratios
                    )
                )
    finally:
        sync.close()
        asyn.close()
    return results


@dataclass
class WireResult:
    adapter: str
    threads: int
    requests: int  # per thread
    total: int
    kept: int  # increments found in the session afterwards
    get_items: float  # per request, counted at the proxy
    update_items: float
    other_calls: int  # any other operation during the increments
    unavailable: int  # answers 503
    rps: float


def measure_wire(endpoint: str, shapes: list[tuple[int, int]]) -> list[WireResult]:
    """For each adapter (one server) and ``(threads, requests)``: ``threads`` clients at once
    on one new session, each sending ``requests`` increments of its own key, one connection
    per request."""
    cfg = new_table(endpoint, "wire")
    results = []
    try:
        for adapter in ADAPTERS:
            # Patient timeouts, as in the tests: a slow answer of a loaded engine is waited
            # for, never sent again by botocore, so every call counted is one the library made.
            with (
                FaultProxy(endpoint) as proxy,
                serving(
                    adapter, through(cfg, proxy, connect_timeout=30.0, read_timeout=30.0)
                ) as port,
            ):
                for threads, requests in shapes:
                    run = counted_burst(port, proxy, threads=threads, requests=requests)
                    total, calls = run.burst.total, run.calls
                    results.append(
                        WireResult(
                            adapter,
                            threads,
                            requests,
                            total,
                            run.kept,
                            calls["GetItem"] / total,
                            calls["UpdateItem"] / total,
                            sum(calls.values()) - calls["GetItem"] - calls["UpdateItem"],
                            run.burst.statuses[503],
                            total / run.burst.seconds,
                        )
                    )
    finally:
        drop_table(cfg)
    results.sort(key=lambda w: shapes.index((w.threads, w.requests)))  # by shape, then adapter
    return results

"""Sync and async at a real latency: throughput and memory with 1, 16 and 256 requests in
flight, every DynamoDB call taking a modelled round trip (bench/latency.py, 5 ms by default).

* sync: the WSGI middleware on ``SessionStore`` (the default lean transport) in a pool of one
  thread per request
  in flight, as a threaded WSGI server runs it (direct WSGI calls);
* async: the Starlette middleware on ``AsyncSessionStore`` (the lean transport on aiohttp) on one
  event loop, one
  task per request in flight (direct ASGI calls).

Each worker (thread or task) sends its requests one after another on a session of its own
(2 KB). Both clients get a connection pool as large as the requests in flight, so neither
waits for a connection. Every run is a fresh process, so its memory is its own: the figures
are the process's peak resident set (``VmHWM`` in /proc/self/status: Python, the clients and
their connections, the threads' stacks) and its growth over the resident set after the set-up
(app built, sessions stored, one request served). Rounds alternate which variant goes first.
Connect and read timeouts are 30 s here (the library's are 1 s): the proxy, one Python
process, accepts a burst of 256 new connections slower than that on a loaded machine.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from bench._common import ROOT, Clock, median, new_table, session_data
from bench.latency import latency_proxy

PATHS = {"read-only": "/read", "modified": "/write"}


@dataclass
class InFlightResult:
    kind: str
    in_flight: int
    rtt_ms: float
    rps: dict[str, float]  # "sync" / "async" -> median requests per second
    peak_mb: dict[str, float]  # median peak RSS of the run's process
    growth_mb: dict[str, float]  # median growth of the RSS over the set-up's
    ratio: float  # async / sync requests per second, median of the per-round ratios
    ratios: list[float]


def measure(
    endpoint: str,
    rtt_ms: float,
    levels: list[int],
    requests: int,
    rounds: int,
    kinds: tuple[str, ...] = tuple(PATHS),
    least: int = 4,
) -> list[InFlightResult]:
    """For each kind and number in flight, ``rounds`` rounds of one sync and one async run of
    about ``requests`` requests (at least ``least`` per worker)."""
    cfg = new_table(endpoint, "inflight")
    results = []
    with latency_proxy(endpoint, rtt_ms) as target:
        for kind in kinds:
            for level in levels:
                each = max(least, requests // level)
                runs: dict[str, list[dict[str, float]]] = {"sync": [], "async": []}
                for round_ in range(rounds):
                    order = ["sync", "async"] if round_ % 2 == 0 else ["async", "sync"]
                    for variant in order:
                        runs[variant].append(_run(variant, target, cfg.table, kind, level, each))
                ratios = [
                    a["rps"] / s["rps"] for s, a in zip(runs["sync"], runs["async"], strict=True)
                ]
                results.append(
                    InFlightResult(
                        kind=kind,
                        in_flight=level,
                        rtt_ms=rtt_ms,
                        rps={v: median([r["rps"] for r in rs]) for v, rs in runs.items()},
                        peak_mb={v: median([r["peak_mb"] for r in rs]) for v, rs in runs.items()},
                        growth_mb={
                            v: median([r["peak_mb"] - r["base_mb"] for r in rs])
                            for v, rs in runs.items()
                        },
                        ratio=median(ratios),
                        ratios=ratios,
                    )
                )
    return results


def _run(variant: str, endpoint: str, table: str, kind: str, level: int, each: int) -> Any:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    args = [variant, endpoint, table, kind, str(level), str(each)]
    done = subprocess.run(
        [sys.executable, "-m", "bench.inflight", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.inflight {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report_lines(results: list[InFlightResult], sizes: dict[str, Any]) -> list[str]:
    """The section of docs/benchmarks.md on sync and async at a modelled latency."""
    if not results:
        return []
    rtt = results[0].rtt_ms
    lines = [
        f"## 8. Sync vs async at a modelled {rtt:g} ms",
        "",
        "`bench/inflight.py`: every DynamoDB call held "
        f"{rtt:g} ms by the latency proxy (section 7), and",
        "so many requests in flight at once:",
        "",
        "- **sync**: the WSGI middleware on `SessionStore` (the default lean transport) in a",
        "  pool of one thread",
        "  per request in flight, as a threaded WSGI server runs it;",
        "- **async**: the Starlette middleware on `AsyncSessionStore` (the lean transport on",
        "  aiohttp) on one event",
        "  loop, one task per request in flight.",
        "",
        "Each thread or task sends its requests one after another on a session of its own",
        f"(2 KB), about {sizes['requests']} requests a run (at least "
        f"{sizes.get('least', 4)} per worker). Both clients",
        "get a connection pool as large as the requests in flight. Every run is a fresh",
        "process: *peak RSS* is its `VmHWM` (the most memory it ever held resident), *growth*",
        "the peak less the resident set after the set-up (app built, sessions stored, one",
        "request served), which is what the requests in flight cost. Medians of "
        f"{sizes['rounds']} rounds,",
        "alternating which variant goes first; connect and read timeouts 30 s (a Python proxy",
        "accepts a burst of 256 connections slowly).",
        "",
        "| requests | in flight | sync | async | async / sync | peak RSS sync / async "
        "| growth sync / async |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.kind} | {r.in_flight} | {r.rps['sync']:.0f} req/s | "
            f"{r.rps['async']:.0f} req/s | {r.ratio:.2f} | "
            f"{r.peak_mb['sync']:.0f} / {r.peak_mb['async']:.0f} MB | "
            f"{r.growth_mb['sync']:.1f} / {r.growth_mb['async']:.1f} MB |"
        )
    lines += [
        "",
        "Per-round async/sync ratios: "
        + "; ".join(
            f"{r.kind} x{r.in_flight}: " + ", ".join(f"{x:.2f}" for x in r.ratios) for r in results
        )
        + ".",
        "",
    ]
    ratios = [r.ratio for r in results]
    at_rest = [
        r.peak_mb["async"] - r.growth_mb["async"] - r.peak_mb["sync"] + r.growth_mb["sync"]
        for r in results
    ]
    most = max(results, key=lambda r: r.in_flight)
    lines += [
        f"Here async/sync ranged from {min(ratios):.2f} to {max(ratios):.2f}. With one request",
        "in flight both wait on the round trip; with more, the event loop runs all the Python",
        "of every request in flight (Starlette, aiohttp's per-call work, this library) on one",
        "thread, while the threads overlap their waits with each other's work, dynalite's",
        "and the proxy's. On two shared CPUs a few dozen requests in flight already use all",
        "the CPU there is, so 256 add only contention to either. Memory: the async process is",
        f"larger at rest (aiobotocore for the table operations, aiohttp, Starlette: "
        f"{median(at_rest):+.0f} MB), and what",
        f"the requests in flight add is of the same order for both ({most.in_flight} in flight,",
        f"{most.kind}: {most.growth_mb['sync']:.1f} MB with threads, "
        f"{most.growth_mb['async']:.1f} MB on the loop): a",
        "thread's stack is reserved address space, of which only the touched pages are",
        "resident. So at a DynamoDB-like latency the async store is for async frameworks, not",
        "for throughput or memory; a threaded WSGI server keeps up with what its CPUs can do.",
        "",
    ]
    return lines


# -- one run, in its own process --------------------------------------------------------------


def _memory_mb(field: str) -> float:
    """A ``Vm*`` figure of /proc/self/status, in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _serve(variant: str, endpoint: str, table: str, kind: str, level: int, each: int) -> None:
    from bench._common import Unmetered, connection
    from bench.adapters import StarletteAdapter, WSGIAdapter
    from bench.concurrency import run_async, run_sync
    from dynamodb_sessions import StoreConfig

    # Long timeouts: the proxy accepts a burst of hundreds of new connections slower than
    # the library's 1 s connect timeout allows on a loaded machine (DynamoDB would not).
    link = dataclasses.replace(
        connection(endpoint),
        max_pool_connections=max(10, level),
        connect_timeout=30.0,
        read_timeout=30.0,
    )
    cfg = StoreConfig(table=table, connection=link, timeout=3600)
    adapter = (WSGIAdapter if variant == "sync" else StarletteAdapter)(
        cfg,
        Unmetered(),  # type: ignore[arg-type]
        Clock(),
    )
    run = run_sync if variant == "sync" else run_async
    try:
        ids = [adapter.create(session_data(2048, seed=i)) for i in range(level)]
        run(adapter, ids[:1], PATHS[kind], 1)  # one request served: the set-up is complete
        base = _memory_mb("VmRSS")
        seconds = run(adapter, ids, PATHS[kind], each)
    finally:
        adapter.close()
    peak = _memory_mb("VmHWM")
    print(json.dumps({"rps": level * each / seconds, "base_mb": base, "peak_mb": peak}))


if __name__ == "__main__":
    name, url, table_name, kind_name, level_text, each_text = sys.argv[1:7]
    _serve(name, url, table_name, kind_name, int(level_text), int(each_text))

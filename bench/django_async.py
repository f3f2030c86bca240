"""Django's async session methods: on the async store (aiobotocore, the engine's default) or
on the sync store in worker threads (``sync_to_async``, the engine's fallback without
aiobotocore, as Django's own engines run them), side by side in one run on one dynalite.

    .venv/bin/python -m bench.django_async [--rounds 5] [--per-task 20] [--latency-ms 10]

``tasks`` coroutines on one event loop each use a session of their own (2 KB), one request
after another: ``aget`` (read-only: one GetItem) or ``aget``, ``aset`` and ``asave``
(modified: one GetItem and one UpdateItem). Rounds alternate which variant goes first; the
ratio is the median of the per-round ratios. Each is measured against dynalite directly and
through the tests' TCP proxy (tests/faults/proxy.py) holding every answer ``--latency-ms``
before relaying it, as a network to DynamoDB does: a local engine answers at once, which no
deployment sees. Results go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench._common import ROOT, drop_table, dynalite, new_table, session_data
from bench.report import replace_section

sys.path.insert(0, str(ROOT / "tests"))

from faults.proxy import FaultProxy


def configure_django() -> None:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            SECRET_KEY="bench-only",
            INSTALLED_APPS=[],
            SESSION_ENGINE="dynamodb_sessions.integrations.django",
            USE_TZ=True,
            LOGGING_CONFIG=None,
        )
        django.setup()


async def run(tasks: int, per_task: int, ids: list[str], modified: bool) -> float:
    """Requests per second of ``tasks`` coroutines, ``per_task`` requests each."""
    from dynamodb_sessions.integrations.django import SessionStore

    async def one(session_id: str) -> None:
        for n in range(per_task):
            session = SessionStore(session_id)
            await session.aget("user")
            if modified:
                await session.aset("visits", n)
                await session.asave()

    start = time.perf_counter()
    await asyncio.gather(*(one(session_id) for session_id in ids[:tasks]))
    return tasks * per_task / (time.perf_counter() - start)


async def measure(
    rounds: int, per_task: int, ids: list[str], latency: float
) -> list[dict[str, object]]:
    from django.conf import settings

    rows = []
    for modified in (False, True):
        for tasks in (1, 16):
            rates: dict[bool, list[float]] = {True: [], False: []}
            for round_ in range(rounds):
                for native in (True, False) if round_ % 2 == 0 else (False, True):
                    settings.DYNAMODB_SESSIONS_ASYNC_STORE = native
                    await run(tasks, 2, ids, modified)  # warm: clients, connections, threads
                    rates[native].append(await run(tasks, per_task, ids, modified))
            ratios = [a / t for a, t in zip(rates[True], rates[False], strict=True)]
            rows.append(
                {
                    "latency": latency,
                    "kind": "modified" if modified else "read-only",
                    "tasks": tasks,
                    "threads": statistics.median(rates[False]),
                    "native": statistics.median(rates[True]),
                    "ratio": statistics.median(ratios),
                    "ratios": ratios,
                }
            )
    settings.DYNAMODB_SESSIONS_ASYNC_STORE = False
    return rows


SECTION = "django-async"


def markdown(rows: list[dict[str, Any]], command: str, latency_ms: float, load: float) -> list[str]:
    """The section of docs/benchmarks.md: the table, the per-round ratios, the verdict."""
    lines = [
        "## Django's async methods: async store or threads",
        "",
        f"`{command}`: `tasks` coroutines on one event loop, each on a session of its own",
        "(2 KB), one request after another: `aget` (read-only: one GetItem) or `aget`, `aset`",
        "and `asave` (modified: one GetItem and one UpdateItem), with the async methods on the",
        "async store (the default with aiobotocore installed; the lean transport) or on the sync",
        "store (the lean transport) in worker threads (`sync_to_async`,",
        "`DYNAMODB_SESSIONS_ASYNC_STORE = False`), against dynalite directly and through",
        f"a TCP proxy that holds each answer {latency_ms:.0f} ms (a network's round trip).",
        "Rounds alternate which goes first; the ratio is the median of the per-round ratios.",
        "",
        "| latency | requests | in flight | threads | async store | async store / threads |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['latency'] * 1000:.0f} ms | {row['kind']} | {row['tasks']} | "
            f"{row['threads']:.0f} req/s | {row['native']:.0f} req/s | {row['ratio']:.2f} |"
        )
    lines += ["", "Per-round ratios:", ""]
    for row in rows:
        shown = ", ".join(f"{r:.2f}" for r in row["ratios"])
        lines.append(f"- {row['latency'] * 1000:.0f} ms, {row['kind']} x{row['tasks']}: {shown}")
    slower = all(row["ratio"] < 1 for row in rows)
    lines += [
        "",
        f"The machine's load average at the end of the run was {load:.1f} on "
        f"{os.cpu_count()} CPUs (other work shared it): absolute rates are low, and only the "
        "ratios, measured side by side, carry over.",
        "",
        (
            "The async store was slower in every row, with latency too: the engine's default "
            "(the async store) should go back to the threads."
            if slower
            else (
                "The async store was as fast or faster in every row, so it is the engine's "
                "default for the async methods (issue 16's rule: unless measured worse than the "
                "thread pool); `DYNAMODB_SESSIONS_ASYNC_STORE = False` runs them in worker threads."
                if all(row["ratio"] >= 0.95 for row in rows)
                else "The async store was slower in some rows: see the per-round ratios before "
                "keeping it the engine's default."
            )
        ),
    ]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-task", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=10.0)
    parser.add_argument("--out", default=str(ROOT / "docs/benchmarks.md"))
    args = parser.parse_args()
    configure_django()
    from dynamodb_sessions import Session, SessionStore
    from dynamodb_sessions.integrations import django as engine

    rows = []
    # Idle keep-alive connections stay open for the whole run (the proxy's default bound, 30 s,
    # would close them under a client about to reuse them).
    with dynalite() as endpoint, FaultProxy(endpoint, bound=3600) as proxy:
        latency = args.latency_ms / 1000
        proxy.rewrite = lambda request, response: (time.sleep(latency), response)[1]
        cfg = new_table(endpoint, "django-async")
        seeder = SessionStore(cfg)
        ids = []
        for seed in range(16):
            session = Session(session_data(seed=seed))
            seeder.create(session)
            ids.append(session.session_id)
        seeder.close()
        try:
            for delay, url in ((0.0, endpoint), (latency, proxy.endpoint)):
                connection = dataclasses.replace(cfg.connection, endpoint_url=url)
                store = SessionStore(cfg.replace(connection=connection))
                engine.set_store(store)
                rows += asyncio.run(measure(args.rounds, args.per_task, ids, delay))
                store.close()
        finally:
            engine.set_store(None)
            drop_table(cfg)
    command = f"python -m bench.django_async --rounds {args.rounds} --per-task {args.per_task}"
    lines = markdown(rows, command, args.latency_ms, os.getloadavg()[0])
    print("\n".join(lines))
    replace_section(Path(args.out), SECTION, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

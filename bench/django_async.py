"""Django's async session methods: on the async store (aiobotocore, the engine's default) or
on the sync store in worker threads (``sync_to_async``, the engine's fallback without
aiobotocore, as Django's own engines run them), side by side in one run on one dynalite.

    .venv/bin/python -m bench.django_async [--rounds 5] [--per-task 25]

``tasks`` coroutines on one event loop each use a session of their own (2 KB), one request
after another: ``aget`` (read-only: one GetItem) or ``aget``, ``aset`` and ``asave``
(modified: one GetItem and one UpdateItem). Rounds alternate which variant goes first; the
ratio is the median of the per-round ratios. Results go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from bench._common import drop_table, dynalite, new_table, session_data


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


async def measure(rounds: int, per_task: int, ids: list[str]) -> list[dict[str, object]]:
    from dynamodb_sessions.integrations import django as engine

    rows = []
    for modified in (False, True):
        for tasks in (1, 16):
            rates: dict[bool, list[float]] = {True: [], False: []}
            for round_ in range(rounds):
                for native in (True, False) if round_ % 2 == 0 else (False, True):
                    engine.NATIVE_ASYNC = native
                    await run(tasks, 2, ids, modified)  # warm: clients, connections, threads
                    rates[native].append(await run(tasks, per_task, ids, modified))
            ratios = [a / t for a, t in zip(rates[True], rates[False], strict=True)]
            rows.append(
                {
                    "kind": "modified" if modified else "read-only",
                    "tasks": tasks,
                    "threads": statistics.median(rates[False]),
                    "native": statistics.median(rates[True]),
                    "ratio": statistics.median(ratios),
                    "ratios": ratios,
                }
            )
    engine.NATIVE_ASYNC = True
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-task", type=int, default=25)
    args = parser.parse_args()
    configure_django()
    from dynamodb_sessions import Session, SessionStore
    from dynamodb_sessions.integrations import django as engine

    with dynalite() as endpoint:
        cfg = new_table(endpoint, "django-async")
        store = SessionStore(cfg)
        engine.set_store(store)
        ids = []
        for seed in range(16):
            session = Session(session_data(seed=seed))
            store.create(session)
            ids.append(session.session_id)
        try:
            rows = asyncio.run(measure(args.rounds, args.per_task, ids))
        finally:
            engine.set_store(None)
            store.close()
            drop_table(cfg)
    print("| requests | in flight | sync store in threads | async store | async / threads |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['kind']} | {row['tasks']} | {row['threads']:.0f} req/s | "
            f"{row['native']:.0f} req/s | {row['ratio']:.2f} |"
        )
    for row in rows:
        shown = ", ".join(f"{r:.2f}" for r in row["ratios"])  # type: ignore[attr-defined]
        print(f"per-round ratios, {row['kind']} x{row['tasks']}: {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""One AsyncSessionStore used from many event loops, the way apps and their tests run it:
``asyncio.run()`` again and again, a new loop per test, loops shut down by hand. Each loop gets
a client of its own, closed when the loop shuts down, and nothing is left unclosed."""

from __future__ import annotations

import asyncio
import gc
import warnings

import pytest

from dynamodb_sessions import AsyncSessionStore
from dynamodb_sessions.ids import new_session_id
from leaks import no_resource_warnings


async def count_visit(store: AsyncSessionStore, session_id: str | None) -> tuple[str, int]:
    session = await store.load(session_id)
    session["visits"] = session.get("visits", 0) + 1
    await store.finish(session)
    return session.session_id, session["visits"]


def test_asyncio_run_again_and_again_with_one_store(config):
    with no_resource_warnings():
        store = AsyncSessionStore(config)
        session_id = None
        for expected in (1, 2, 3, 4):
            session_id, visits = asyncio.run(count_visit(store, session_id))
            assert visits == expected
        del store


def test_a_new_loop_per_test_shut_down_the_way_test_runners_do(config):
    """asyncio.Runner (what pytest-asyncio >= 0.23 and anyio use) and a loop run and shut down
    by hand (older pytest-asyncio: shutdown_asyncgens, then close)."""
    with no_resource_warnings():
        store = AsyncSessionStore(config)
        with asyncio.Runner() as runner:
            session_id, _ = runner.run(count_visit(store, None))
        with asyncio.Runner() as runner:
            assert runner.run(count_visit(store, session_id))[1] == 2
        loop = asyncio.new_event_loop()
        try:
            assert loop.run_until_complete(count_visit(store, session_id))[1] == 3
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
        assert asyncio.run(count_visit(store, session_id))[1] == 4
        del store, loop


@pytest.mark.engines(
    "dynalite", reason="moto's server closes every connection: the lean one has nothing open"
)
def test_the_leak_check_sees_a_client_its_loop_could_not_close(config):
    """The check the tests above rely on: a loop closed without shutdown_asyncgens() cannot
    close its client, and the collection then reports its unclosed connection (the lean
    transport's asyncio transport, or aiohttp's session on botocore)."""

    def use_and_close_the_loop_bare() -> None:
        store, loop = AsyncSessionStore(config), asyncio.new_event_loop()
        loop.run_until_complete(store.exists(new_session_id()))
        loop.close()

    with warnings.catch_warnings():
        # What the deliberate leak leaves for a later collection (aiohttp's connector after its
        # session) must not surface after the check, where warnings are errors again.
        warnings.simplefilter("ignore", ResourceWarning)
        # asyncio's "unclosed transport" (the lean transport's connection) or aiohttp's
        # "Unclosed client session" / "Unclosed connector", among the leaks in the order the
        # collection found them.
        leaked = "left unclosed: (.*; )?(Unclosed|unclosed transport)"
        with pytest.raises(AssertionError, match=leaked), no_resource_warnings():
            use_and_close_the_loop_bare()
        for _ in range(3):
            gc.collect()


def test_each_running_loop_has_its_own_client_and_close_closes_this_loops(config):
    store = AsyncSessionStore(config)

    transports = []

    async def client_in_use():
        assert await store.exists(new_session_id()) is False
        transports.append(store.transport)
        return store.client

    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        one = first.run_until_complete(client_in_use())
        two = second.run_until_complete(client_in_use())
        assert one is not None and two is not None and one is not two
        # The lean transport (the default) too: one per loop, beside that loop's client.
        assert None not in transports and transports[0] is not transports[1]
        assert first.run_until_complete(client_in_use()) is one  # kept for the loop's life
        assert store.client is None  # outside any running loop, with two loops' clients open
        first.run_until_complete(store.close())
        assert store.client is two  # outside any loop: the one loop's client still open
        assert second.run_until_complete(client_in_use()) is two  # the other loop's stays
        assert first.run_until_complete(client_in_use()) not in (one, None)  # reopened
    finally:
        for loop in (first, second):
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()


def test_concurrent_first_calls_in_a_new_loop_share_one_client(config):
    store = AsyncSessionStore(config)

    async def scenario():
        results = await asyncio.gather(*(store.exists(new_session_id()) for _ in range(8)))
        assert results == [False] * 8
        return store.client

    with no_resource_warnings():
        first, second = asyncio.run(scenario()), asyncio.run(scenario())
        assert first is not second
        del first, second


def test_a_caller_cancelled_while_the_client_opens_does_not_break_the_loops_client(config):
    store = AsyncSessionStore(config)

    async def scenario():
        first = asyncio.ensure_future(store.exists(new_session_id()))
        await asyncio.sleep(0)  # the first call starts opening the client
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert await store.exists(new_session_id()) is False

    with no_resource_warnings():
        asyncio.run(scenario())


@pytest.mark.engines("dynalite", reason="many segments at once")
def test_gc_runs_no_more_segments_at_once_than_the_client_has_connections(config, clock):
    narrow = config.replace(
        connection=config.connection.__class__(
            **{**vars(config.connection), "max_pool_connections": 3}
        )
    )
    store = AsyncSessionStore(narrow, clock=clock)
    in_flight = peak = 0

    call = store._call

    async def counted(step):  # around the driver's one call site: alike on either transport
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            return await call(step)
        finally:
            in_flight -= 1

    async def scenario():
        for _ in range(30):
            await count_visit(store, None)
        clock.advance(config.timeout + 1)
        assert await store.exists(new_session_id()) is False
        store._call = counted
        report = await store.gc(segments=12)
        assert (report.expired, report.deleted) == (30, 30)

    with no_resource_warnings():
        asyncio.run(scenario())
    assert 1 <= peak <= 3
    assert in_flight == 0

"""Lock mode under Starlette: a request that ends without a response (cancelled because the
client went away, or an app that answers nothing) gives the session's lock back at once, rather
than making the user's next requests wait out the lease. Driven as an ASGI server drives the
middleware, against dynalite (lock mode needs atomic conditional writes)."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import pytest
from tests.faults.proxy import FaultProxy, through

from dynamodb_sessions import AsyncSessionStore, SessionLockError, SessionStore
from dynamodb_sessions.config import LockSettings
from dynamodb_sessions.integrations.starlette import SessionMiddleware

pytestmark = pytest.mark.engines("dynalite", reason="lock mode relies on atomic conditional writes")


@pytest.fixture
def locking(config):
    return config.replace(lock=LockSettings(lease=60, wait=0.0))  # nobody waits for a lock


@pytest.fixture
def proxy(engine):
    with FaultProxy(engine.endpoint) as proxy:
        yield proxy


@pytest.fixture
def session_id(locking, clock):
    with SessionStore(locking, clock=clock) as store:
        session = store.load(None)
        session["cart"] = [1, 2]
        store.create(session)
        store.release(session)
        return session.session_id


def http_scope(session_id: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"cookie", f"session={session_id}".encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }


async def receive() -> dict[str, Any]:
    await anyio.sleep_forever()
    raise AssertionError("unreachable")


def lock_is_free(locking, clock, session_id: str) -> bool:
    with SessionStore(locking, clock=clock) as store:
        try:
            session = store.load(session_id)
        except SessionLockError:
            return False
        store.release(session)
        assert session["cart"] == [1, 2]  # nothing was lost either
        return True


def middleware(
    locking, clock, inside: anyio.Event, app_ends: str, proxy: FaultProxy | None = None
) -> SessionMiddleware:
    """The middleware around an app that loads its session, then (``app_ends``) returns "at
    once" without answering or waits "never" ending. Through ``proxy``, if given."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert scope["session"]["cart"] == [1, 2]  # loaded: this request holds the lock
        inside.set()
        if app_ends == "never":
            await anyio.sleep_forever()

    if proxy is not None:
        locking = through(locking, proxy)
    return SessionMiddleware(app, store=AsyncSessionStore(locking, clock=clock))


def cancel_soon_after_connections_cut(proxy: FaultProxy) -> None:
    """Cut the store's open connections first: its release must then connect anew, which
    waits, so an unshielded release is cancelled before it sends anything (over an open
    connection the request would leave before the first wait, and land anyway)."""
    proxy.heal()


async def never_send(message: Any) -> None:
    raise AssertionError(f"nothing is sent: {message}")


def test_a_request_cancelled_by_anyio_lets_go_of_the_lock(locking, clock, session_id, proxy):
    # anyio (Starlette's TaskGroups, servers built on it) cancels again at every await inside
    # a cancelled scope, so the release must be shielded to get through.
    async def scenario() -> None:
        inside = anyio.Event()
        mw = middleware(locking, clock, inside, app_ends="never", proxy=proxy)
        async with anyio.create_task_group() as group:
            group.start_soon(mw, http_scope(session_id), receive, never_send)
            await inside.wait()
            assert not lock_is_free(locking, clock, session_id)  # held while the app runs
            cancel_soon_after_connections_cut(proxy)
            group.cancel_scope.cancel()
        await mw.store.close()

    anyio.run(scenario)
    assert lock_is_free(locking, clock, session_id)


def test_a_request_task_cancelled_by_asyncio_lets_go_of_the_lock(locking, clock, session_id, proxy):
    async def scenario() -> None:
        inside = anyio.Event()
        mw = middleware(locking, clock, inside, app_ends="never", proxy=proxy)
        task = asyncio.ensure_future(mw(http_scope(session_id), receive, never_send))
        await inside.wait()
        cancel_soon_after_connections_cut(proxy)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await mw.store.close()

    asyncio.run(scenario())
    assert lock_is_free(locking, clock, session_id)


def test_an_app_that_answers_nothing_lets_go_of_the_lock(locking, clock, session_id):
    async def scenario() -> None:
        inside = anyio.Event()
        mw = middleware(locking, clock, inside, app_ends="at once")
        await mw(http_scope(session_id), receive, never_send)
        assert inside.is_set()
        await mw.store.close()

    asyncio.run(scenario())
    assert lock_is_free(locking, clock, session_id)

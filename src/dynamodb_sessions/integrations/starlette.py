"""Sessions for Starlette and FastAPI: ``request.session`` kept in DynamoDB.

A drop-in for ``starlette.middleware.sessions.SessionMiddleware`` (the same parameter names,
less ``secret_key``: nothing is signed, the cookie holds only a random id)::

    app.add_middleware(SessionMiddleware, max_age=3600, https_only=True)  # table from the env
    app.add_middleware(SessionMiddleware, store=store, max_age=store.config.timeout)

``max_age`` is the session timeout (validity and the cookie's Max-Age); ``None`` sends a
browser-session cookie, the server still ending the session after the store's timeout. As with
Starlette, ``max_age <= 0`` makes a cookie the browser drops at once: the session lasts one
request, and nothing is read or stored. Cookie settings a browser would refuse (a ``__Host-``
cookie that is not Secure, Partitioned without Secure...) are refused here.

An ASGI app reads ``request.session`` as a plain dict, without ``await``, so the session cannot
load on first use as it does under WSGI and Flask: the middleware loads it before the app runs
when the request carries a well-formed session cookie (one read). A request without one costs no
call. The end of the request is decided by the core and carried out when the response starts.
If DynamoDB is unavailable the answer is 503 with ``Retry-After`` and the cookie is left alone.

WebSocket connections get the session as it was at the handshake, read-only (changes are not
saved, as with Starlette's middleware). Other scopes pass through; the only thing watched there
is lifespan shutdown, to close a store the middleware made itself. A store given to it is
yours to close (``await store.close()`` in the app's lifespan).
"""

from __future__ import annotations

import time
from contextlib import suppress
from typing import Literal

try:
    from anyio import CancelScope  # Starlette's own dependency
    from starlette.datastructures import Headers, MutableHeaders
    from starlette.types import ASGIApp, Message, Receive, Scope, Send
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "the Starlette/FastAPI integration needs Starlette: "
        'pip install "dynamodb-sessions[starlette]"'
    ) from exc

from .._core.cookies import caching_headers, ephemeral_update, read_cookie, set_cookie_header
from .._core.lifecycle import (
    RETRY_LATER,
    UNAVAILABLE_BODY,
    CookieAction,
    CookieUpdate,
    request_failed,
    unavailable_headers,
)
from ..config import TWO_WEEKS, CookieSettings
from ..exceptions import ConfigurationError, SessionError
from ..metrics import report_unavailable
from ..session import Session
from ..store import AsyncSessionStore

__all__ = ["SessionMiddleware"]


class SessionMiddleware:
    """Pure ASGI middleware giving each HTTP request a DynamoDB-backed ``scope["session"]``.

    ``store`` defaults to :meth:`AsyncSessionStore.from_env` with ``max_age`` as its timeout.
    ``always_save`` refreshes a used session's expiry on every request (a small update).
    A request that raises or answers 5xx writes nothing and sets no cookie, unless
    ``save_on_server_error`` (then 5xx answers save as any other).
    """

    def __init__(
        self,
        app: ASGIApp,
        store: AsyncSessionStore | None = None,
        session_cookie: str = "session",
        max_age: int | None = TWO_WEEKS,
        path: str = "/",
        same_site: Literal["lax", "strict", "none"] = "lax",
        https_only: bool = False,
        domain: str | None = None,
        partitioned: bool = False,
        *,
        always_save: bool = False,
        save_on_server_error: bool = False,
    ) -> None:
        # Checked first: a cookie no browser would keep is refused before any store is made.
        self.cookie = CookieSettings(
            name=session_cookie,
            path=path,
            domain=domain,
            secure=https_only,
            samesite=same_site,
            persistent=max_age is not None,
            partitioned=partitioned,
        )
        self.ephemeral = max_age is not None and max_age <= 0
        timeout = None if max_age is None or self.ephemeral else max_age
        self.owns_store = store is None
        if store is None:
            store = AsyncSessionStore.from_env(**({} if timeout is None else {"timeout": timeout}))
        elif timeout is not None and timeout != store.config.timeout:
            raise ConfigurationError(
                f"max_age ({max_age} s) differs from the store's timeout "
                f"({store.config.timeout} s): pass max_age={store.config.timeout} (or None)"
            )
        self.app = app
        self.store = store
        self.max_age = max_age
        self.always_save = always_save
        self.save_on_server_error = save_on_server_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, self._closing(send) if self.owns_store else send)
            return
        cookie = read_cookie(Headers(scope=scope).get("cookie"), self.cookie.name)
        try:
            session = Session() if self.ephemeral else await self.store.load(cookie)
            if scope["type"] == "websocket":  # a snapshot: never hold a lock for a connection
                await self.store.release(session)
        except RETRY_LATER as exc:
            report_unavailable(self.store.metrics, exc, "ASGI")
            await unavailable(scope, send)
            return
        scope["session"] = session
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        started = replaced = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started, replaced
            if replaced:  # the app's own answer gave way to a 503
                return
            if message["type"] == "http.response.start":
                started = True
                failed = request_failed(
                    message["status"], save_on_server_error=self.save_on_server_error
                )
                try:
                    update = await self._finish(session, failed)
                except RETRY_LATER as exc:
                    report_unavailable(self.store.metrics, exc, "ASGI")
                    replaced = True
                    await unavailable(scope, send)
                    return
                message.setdefault("headers", [])  # optional in an ASGI start message
                headers = MutableHeaders(scope=message)
                for name, replacement in caching_headers(
                    sends_cookie=update.action is not CookieAction.KEEP,
                    accessed=session.accessed,
                    vary=", ".join(headers.getlist("vary")) or None,
                    cache_control=headers.get("cache-control"),
                ):
                    headers[name] = replacement
                if value := set_cookie_header(self.cookie, update, time.time()):
                    headers.append("Set-Cookie", value)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            if started:
                raise
            await self._let_go(session)
            if not isinstance(exc, RETRY_LATER):
                raise
            report_unavailable(self.store.metrics, exc, "ASGI")
            await unavailable(scope, send)
        except BaseException:  # cancelled (the client went away) before the response started
            if not started:
                await self._let_go(session)
            raise
        else:
            if not started:  # the app answered nothing: the server will say 500
                await self._let_go(session)

    async def _let_go(self, session: Session) -> None:
        """Lock mode: a request that ends without a response gives its lock back at once,
        rather than making the user's next requests wait out the lease. Shielded, because a
        cancelled request (anyio cancels again at every ``await`` in a cancelled scope) must
        still get this one call through."""
        with CancelScope(shield=True), suppress(SessionError):
            await self.store.release(session)

    async def _finish(self, session: Session, failed: bool) -> CookieUpdate:
        if self.ephemeral:
            assert self.max_age is not None  # ephemeral means max_age <= 0
            return ephemeral_update(session, self.max_age, self.store.config, failed=failed)
        return await self.store.finish(session, always_save=self.always_save, failed=failed)

    def _closing(self, send: Send) -> Send:
        async def closing_send(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                await self.store.close()
            await send(message)

        return closing_send


async def unavailable(scope: Scope, send: Send) -> None:
    """Answer 503 with ``Retry-After``, setting no cookie (a WebSocket handshake is refused)."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1013})  # "try again later"
        return
    headers = [(name.lower().encode(), value.encode()) for name, value in unavailable_headers()]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": UNAVAILABLE_BODY})

"""Sessions for any WSGI application.

::

    app = SessionMiddleware(app, SessionStore.from_env(timeout=3600))

The session is ``environ["dynamodb_sessions.session"]``, a :class:`~dynamodb_sessions.Session`
that is loaded on first use: a request that never touches it costs no DynamoDB call, and one
that only sets keys (never reads) costs one UpdateItem and no read. The end of
the request is decided by the core (``_core/lifecycle.py``) and carried out when the response's
headers leave, which PEP 3333 puts at the first body chunk (or ``write()``), not at
``start_response``: until then the application may still replace its answer by an error page
(``start_response(..., exc_info)``), and then nothing is saved. The body the application
returns is wrapped, as werkzeug's ``ClosingIterator`` does, so generator applications and
applications that call ``start_response`` from inside their body get the same handling.

A request that raises or answers 5xx writes nothing and sets no cookie
(``save_on_server_error=True`` saves on 5xx answers). If DynamoDB is unavailable the answer is
503 with ``Retry-After`` and the user's cookie is left alone; other store errors (a missing
table, denied access) propagate to the server as 500s. In lock mode a request that fails, or
whose answer never leaves, gives its lock back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from types import TracebackType
from typing import Any

from .._core.cookies import caching_headers, read_cookie, set_cookie_header
from .._core.lifecycle import (
    RETRY_LATER,
    UNAVAILABLE_BODY,
    CookieAction,
    request_failed,
    unavailable_headers,
)
from ..config import CookieSettings
from ..exceptions import SessionError
from ..metrics import report_unavailable
from ..session import Session
from ..store import SessionStore

ENVIRON_KEY = "dynamodb_sessions.session"

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
Headers = list[tuple[str, str]]
Write = Callable[[bytes], object]
StartResponse = Callable[..., Write]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class SessionMiddleware:
    """WSGI middleware that gives each request a DynamoDB-backed session.

    ``always_save`` refreshes a used session's expiry on every request (a small update, never a
    data rewrite) instead of only after ``touch_after`` of its timeout has passed.
    ``save_on_server_error`` saves the session of a request answered 5xx too.
    """

    def __init__(
        self,
        app: WSGIApp,
        store: SessionStore,
        *,
        cookie: CookieSettings | None = None,
        always_save: bool = False,
        save_on_server_error: bool = False,
    ) -> None:
        self.app = app
        self.store = store
        self.cookie = cookie or CookieSettings()
        self.always_save = always_save
        self.save_on_server_error = save_on_server_error

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        cookie_value = read_cookie(environ.get("HTTP_COOKIE"), self.cookie.name)
        session = Session.deferred(lambda: self.store.load(cookie_value), session_id=cookie_value)
        environ[ENVIRON_KEY] = session
        response = _Response(self, session, start_response)
        try:
            body = self.app(environ, response.start_response)
        except Exception as exc:
            if not response.fail(exc):
                raise
            return [UNAVAILABLE_BODY]
        return _Body(response, body)

    def session_headers(self, session: Session, status: str, headers: Headers) -> Headers:
        """Finish ``session`` and return ``headers`` with its cookie and caching headers."""
        code = int(status.split(None, 1)[0])
        failed = request_failed(code, save_on_server_error=self.save_on_server_error)
        update = self.store.finish(session, always_save=self.always_save, failed=failed)
        changes = caching_headers(
            sends_cookie=update.action is not CookieAction.KEEP,
            accessed=session.accessed,
            vary=", ".join(value for name, value in headers if name.lower() == "vary") or None,
            cache_control=next((v for n, v in headers if n.lower() == "cache-control"), None),
        )
        replaced = {name.lower() for name, _ in changes}
        headers = [header for header in headers if header[0].lower() not in replaced] + changes
        if value := set_cookie_header(self.cookie, update, time.time()):
            headers.append(("Set-Cookie", value))
        return headers


class _Response:
    """One response on its way out: holds the application's ``start_response`` call until the
    headers really leave (:meth:`commit`), then finishes the session into them."""

    def __init__(
        self, middleware: SessionMiddleware, session: Session, start: StartResponse
    ) -> None:
        self.middleware = middleware
        self.session = session
        self.server_start_response = start
        self.pending: tuple[str, Headers, ExcInfo | None] | None = None
        self.error_page = False  # the app replaced its answer (exc_info): save nothing
        self.sent = False  # the server's start_response was called
        self.replaced = False  # a 503 stands in for the app's answer
        self.released = False
        self.server_write: Write | None = None

    def start_response(
        self, status: str, headers: Headers, exc_info: ExcInfo | None = None
    ) -> Write:
        if exc_info is not None:
            if self.sent:  # too late to change anything: the server re-raises exc_info
                return self.server_start_response(status, headers, exc_info)
            self.error_page = True
            self.let_go()
        self.pending = (status, list(headers), exc_info)
        return self.write

    def commit(self) -> None:
        """Send the headers: the session is finished now, or a 503 takes the answer's place."""
        if self.sent or self.pending is None:
            return
        status, headers, exc_info = self.pending
        self.sent = True
        failure = self.session.load_error
        if isinstance(failure, RETRY_LATER):
            # The session could not be read, and the app answered anyway (it caught the error):
            # that answer was made without the user's session. 503 instead, nothing written.
            report_unavailable(self.middleware.store.metrics, failure, "WSGI")
            self.replaced = True
            status, headers, exc_info = "503 Service Unavailable", unavailable_headers(), None
        elif not self.error_page:
            try:
                headers = self.middleware.session_headers(self.session, status, headers)
            except RETRY_LATER as exc:
                report_unavailable(self.middleware.store.metrics, exc, "WSGI")
                self.replaced = True
                status, headers, exc_info = "503 Service Unavailable", unavailable_headers(), None
        self.server_write = self.server_start_response(status, headers, exc_info)

    def write(self, data: bytes) -> None:
        """The legacy ``write()`` callable: the headers leave with the first write."""
        self.commit()
        if not self.replaced and self.server_write is not None:
            self.server_write(data)

    def fail(self, exc: Exception) -> bool:
        """The app failed before its headers left: let go of the session, and answer 503 if the
        store is to blame (true); any other error is the caller's to re-raise (false)."""
        self.let_go()
        if not isinstance(exc, RETRY_LATER):
            return False
        report_unavailable(self.middleware.store.metrics, exc, "WSGI")
        self.sent = self.replaced = True
        self.server_start_response("503 Service Unavailable", unavailable_headers())
        return True

    def let_go(self) -> None:
        """Lock mode: a failed request gives the session's lock back at once (best effort: if
        DynamoDB is down too, the lease runs out by itself; the request's own error is the one
        to report)."""
        if not self.released:
            self.released = True
            with suppress(SessionError):
                self.middleware.store.release(self.session)


class _Body:
    """The application's body, passed through; its first chunk (or its end) sends the headers,
    and ``close()`` is the application's (as werkzeug's ``ClosingIterator``)."""

    def __init__(self, response: _Response, body: Iterable[bytes]) -> None:
        self.response = response
        self.body = body
        self.chunks: Iterator[bytes] | None = None
        self.done = False

    def __iter__(self) -> _Body:
        return self

    def __next__(self) -> bytes:
        if self.done:
            raise StopIteration
        response = self.response
        if not response.replaced:
            try:
                if self.chunks is None:
                    self.chunks = iter(self.body)
                chunk = next(self.chunks)
            except StopIteration:
                response.commit()  # an empty body: the headers leave now
                if not response.replaced:
                    self.done = True
                    raise
            except Exception as exc:
                # Before the headers left this is the app failing (the lock given back, an
                # outage answered 503); after, the server can only cut the answer short.
                if response.sent or not response.fail(exc):
                    self.done = True
                    raise
            else:
                response.commit()
                if not response.replaced:
                    return chunk
        self.done = True  # the 503's body takes the place of the app's
        return UNAVAILABLE_BODY

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            if not self.response.sent:  # the answer never left: the request failed
                self.response.let_go()

"""Sessions for any WSGI application.

::

    app = SessionMiddleware(app, SessionStore.from_env(timeout=3600))

The session is ``environ["dynamodb_sessions.session"]``, a :class:`~dynamodb_sessions.Session`
that is loaded on first use: a request that never touches it costs no DynamoDB call. The end of
the request is decided by the core (``_core/lifecycle.py``) and carried out when the application
calls ``start_response``. A request that raises or answers 5xx writes nothing and sets no
cookie (``save_on_server_error=True`` saves on 5xx answers). If DynamoDB is unavailable the answer
is 503 with ``Retry-After`` and the user's cookie is left alone; other store errors (a missing
table, denied access) propagate to the server as 500s.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from types import TracebackType
from typing import Any

from .. import logs
from .._core.cookies import read_cookie, set_cookie_header
from .._core.lifecycle import RETRY_LATER, UNAVAILABLE_BODY, request_failed, unavailable_headers
from ..config import CookieSettings
from ..exceptions import SessionError
from ..session import Session
from ..store import SessionStore

ENVIRON_KEY = "dynamodb_sessions.session"

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
StartResponse = Callable[..., Callable[[bytes], object]]
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
        session = Session.deferred(lambda: self.store.load(cookie_value))
        environ[ENVIRON_KEY] = session

        def finishing_start_response(
            status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
        ) -> Callable[[bytes], object]:
            if exc_info is None:
                headers = [*headers, *self._session_headers(session, status)]
            else:  # an error page writes nothing, but must not keep the session locked
                self._let_go(session)
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, finishing_start_response)
        except Exception as exc:
            self._let_go(session)
            if not isinstance(exc, RETRY_LATER):
                raise
            logs.unavailable(exc, "WSGI")
            return unavailable(start_response)

    def _let_go(self, session: Session) -> None:
        """Lock mode: a failed request gives the session's lock back at once (best effort:
        if DynamoDB is down too, the lease runs out by itself; the request's own error is the
        one to report)."""
        with suppress(SessionError):
            self.store.release(session)

    def _session_headers(self, session: Session, status: str) -> list[tuple[str, str]]:
        code = int(status.split(None, 1)[0])
        failed = request_failed(code, save_on_server_error=self.save_on_server_error)
        update = self.store.finish(session, always_save=self.always_save, failed=failed)
        headers = []
        if session.accessed:
            headers.append(("Vary", "Cookie"))
        if value := set_cookie_header(self.cookie, update, time.time()):
            headers.append(("Set-Cookie", value))
        return headers


def unavailable(start_response: StartResponse) -> list[bytes]:
    """Answer 503 with ``Retry-After``, setting no cookie, so the user keeps theirs."""
    start_response("503 Service Unavailable", unavailable_headers())
    return [UNAVAILABLE_BODY]

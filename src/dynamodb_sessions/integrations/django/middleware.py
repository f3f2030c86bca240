"""Django's ``SessionMiddleware``, answering 503 when the session store is unavailable.

Use it in ``MIDDLEWARE`` in place of Django's own
(``"django.contrib.sessions.middleware.SessionMiddleware"``)::

    MIDDLEWARE = [
        ...,
        "dynamodb_sessions.integrations.django.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        ...,
    ]

It behaves as Django's, with two differences. A response that sets or deletes the session
cookie also varies by ``Cookie`` and is ``Cache-Control: private`` unless the view chose its own
caching (Django's own leaves a shared cache free to store a ``Set-Cookie``). And when DynamoDB is
down, slow or throttling past botocore's retries (or the session is too busy: conflicts, lock
wait), the answer is 503 with ``Retry-After`` and no ``Set-Cookie``, so the user keeps their
cookie and their session; with Django's own middleware the same failure is a 500. A failure
while loading (in the view, on first use of ``request.session``) and while saving (after the
view) are both covered.

It also makes lock mode possible (``DYNAMODB_SESSIONS = {"lock": ...}``): Django tells a
backend nothing about the end of a request that saves nothing (a read, a failed view, a 5xx
answer), so this middleware gives the session's lock back at the end of every request,
whatever happened; a save has usually given it back already, in the same write.
"""

from __future__ import annotations

from contextlib import suppress

from django.conf import settings
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpRequest, HttpResponse

from ..._core.cookies import caching_headers
from ..._core.lifecycle import RETRY_LATER, UNAVAILABLE_BODY, unavailable_headers
from ...exceptions import SessionError
from ...metrics import report_unavailable
from . import SessionStore, get_store

__all__ = ["SessionMiddleware", "unavailable"]

_FAILED = "_dynamodb_sessions_unavailable"


class SessionMiddleware(DjangoSessionMiddleware):
    """Django's session middleware with the store's outages answered by 503."""

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        """Save the session as Django does; a store outage turns the answer into a 503. In
        lock mode the session's lock is given back, whatever happened."""
        try:
            return self._save(request, response)
        finally:
            session = getattr(request, "session", None)
            if isinstance(session, SessionStore):
                # Best effort: if DynamoDB is down too, the lease runs out by itself, and the
                # request's own error is the one to report.
                with suppress(SessionError):
                    session.release_lock()

    def _save(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if getattr(request, _FAILED, False):
            return response  # the 503 of process_exception: nothing to save, no cookie to set
        try:
            response = super().process_response(request, response)
        except RETRY_LATER as exc:
            report_unavailable(get_store().metrics, exc, "Django")
            return unavailable()
        for header, value in caching_headers(
            # Django varies by Cookie when the session was read; whatever sets or deletes
            # the cookie (SESSION_SAVE_EVERY_REQUEST needs no read) varies too, and is private.
            sends_cookie=settings.SESSION_COOKIE_NAME in response.cookies,
            accessed=False,
            vary=response.get("Vary"),
            cache_control=response.get("Cache-Control"),
        ):
            response[header] = value
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """A store outage while the view used the session: 503 (others: Django's handling)."""
        if isinstance(exception, RETRY_LATER):
            setattr(request, _FAILED, True)
            report_unavailable(get_store().metrics, exception, "Django")
            return unavailable()
        return None


def unavailable() -> HttpResponse:
    """A 503 with ``Retry-After``, setting no cookie."""
    response = HttpResponse(UNAVAILABLE_BODY, status=503)
    for name, value in unavailable_headers():
        response[name] = value
    return response

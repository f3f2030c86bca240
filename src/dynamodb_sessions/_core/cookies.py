"""The session cookie and the caching headers that go with it. Pure, so the WSGI and ASGI
adapters share it (Flask and Django write cookies with their frameworks' own tools)."""

from __future__ import annotations

from email.utils import formatdate

from ..config import CookieSettings, StoreConfig
from ..session import Session
from .lifecycle import CookieAction, CookieUpdate, decide

# Far enough in the past that every browser drops the cookie.
_EPOCH = "Thu, 01 Jan 1970 00:00:00 GMT"


def read_cookie(header: str | None, name: str) -> str | None:
    """The value of the first cookie called ``name`` in a ``Cookie`` header, if any.

    Lenient on purpose: one malformed pair must not hide the session cookie. The value is not
    trusted here; the store checks it is a well-formed id before it goes anywhere.
    """
    if not header:
        return None
    for pair in header.split(";"):
        key, sep, value = pair.partition("=")
        if sep and key.strip() == name:
            return value.strip().strip('"')
    return None


def set_cookie_header(settings: CookieSettings, update: CookieUpdate, now: float) -> str | None:
    """The ``Set-Cookie`` value for ``update``, or ``None`` when the cookie stays as it is.

    Attributes are spelled as Starlette's ``SessionMiddleware`` spells them (``path=``,
    ``Max-Age=``, ``httponly``...; browsers ignore their case), so that code and tests written
    against Starlette's header keep working with ours.
    """
    if update.action is CookieAction.KEEP:
        return None
    parts = [f"{settings.name}={update.value}", f"path={settings.path}"]
    if update.action is CookieAction.DELETE:
        parts += ["Max-Age=0", f"expires={_EPOCH}"]
    elif settings.persistent and update.persistent:
        expires = formatdate(now + update.max_age, usegmt=True)
        parts += [f"Max-Age={update.max_age}", f"expires={expires}"]
    if settings.httponly:
        parts.append("httponly")
    if settings.samesite:
        parts.append(f"samesite={settings.samesite}")
    if settings.secure:
        parts.append("secure")
    if settings.domain:
        parts.append(f"domain={settings.domain}")
    if settings.partitioned:
        parts.append("partitioned")
    return "; ".join(parts)


def caching_headers(
    *, sends_cookie: bool, accessed: bool, vary: str | None, cache_control: str | None
) -> list[tuple[str, str]]:
    """The headers to set (each replacing any of its name) on a response.

    A response that depends on the session (it was read) or that sets or deletes the session
    cookie (``sends_cookie``) varies by ``Cookie``; one that carries the cookie is also kept
    out of shared caches (``Cache-Control: private``) unless the application chose its own
    caching: a cached ``Set-Cookie`` would hand one user's session to the next. ``vary`` and
    ``cache_control`` are the response's current values (several ``Vary`` headers joined by
    commas).
    """
    headers = []
    if accessed or sends_cookie:
        varied = vary_cookie(vary)
        if varied != vary:
            headers.append(("Vary", varied))
    if sends_cookie and cache_control is None:
        headers.append(("Cache-Control", "private"))
    return headers


def vary_cookie(vary: str | None) -> str:
    """``vary`` with ``Cookie`` added, once (``*`` already covers it)."""
    fields = [field.strip().lower() for field in (vary or "").split(",")]
    if "cookie" in fields or "*" in fields:
        return vary or ""
    return f"{vary}, Cookie" if vary and vary.strip() else "Cookie"


def ephemeral_update(
    session: Session, max_age: int, config: StoreConfig, *, failed: bool = False
) -> CookieUpdate:
    """The cookie change when ``max_age <= 0``, which Starlette accepts: the browser drops such
    a cookie at once, so the session lives for one request and is never read or stored; a
    session the application filled still gets its cookie, with that Max-Age, as Starlette's
    (unless the request ``failed``, see :func:`~.lifecycle.request_failed`)."""
    if decide(session, 0, config, failed=failed).cookie is CookieAction.SET:
        return CookieUpdate(CookieAction.SET, session.session_id, max_age)
    return CookieUpdate(CookieAction.KEEP)

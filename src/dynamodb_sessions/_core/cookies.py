"""Reading the session cookie from a request and writing the one a response sends. Pure, so the
WSGI and ASGI adapters share it."""

from __future__ import annotations

from email.utils import formatdate

from ..config import CookieSettings
from .lifecycle import CookieAction, CookieUpdate

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
    """The ``Set-Cookie`` value for ``update``, or ``None`` when the cookie stays as it is."""
    if update.action is CookieAction.KEEP:
        return None
    parts = [f"{settings.name}={update.value}", f"Path={settings.path}"]
    if update.action is CookieAction.DELETE:
        parts += ["Max-Age=0", f"Expires={_EPOCH}"]
    elif settings.persistent and update.persistent:
        expires = formatdate(now + update.max_age, usegmt=True)
        parts += [f"Max-Age={update.max_age}", f"Expires={expires}"]
    if settings.domain:
        parts.append(f"Domain={settings.domain}")
    if settings.secure:
        parts.append("Secure")
    if settings.httponly:
        parts.append("HttpOnly")
    if settings.samesite:
        parts.append(f"SameSite={settings.samesite.capitalize()}")
    return "; ".join(parts)

"""The end of a request: what to write, and what to do with the cookie. Decided once, here;
every adapter (WSGI, Flask, ASGI, Django) only carries the decision out.

::

    session never touched (still deferred) ......... nothing, cookie untouched
    new, modified or forced, has data .............. CREATE, set cookie
    new, nothing to store .......................... nothing; delete a stale cookie
    stored, modified, has data ..................... SAVE (merged on conflict), set cookie
    stored, modified, now empty .................... DELETE, delete cookie
    stored, unmodified, forced or refresh due ...... TOUCH, set cookie (slides its Max-Age)
    stored, unmodified, refresh not due ............ nothing, cookie untouched
                        (lock mode, lock held) ..... RELEASE the lock only, cookie untouched

A new ``user_id`` or ``timeout`` counts as a modification. In lock mode SAVE and TOUCH release
the lock in the same write, and DELETE removes it with the item.

Items a rotation or flush replaced (``retired_ids``) are deleted after the write, so a request
that fails half way leaves the old session usable rather than losing it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..config import StoreConfig
from ..exceptions import BackendError, SessionConflictError, SessionLockError
from ..session import Session
from .items import touch_due


class Write(enum.Enum):
    """The one write a request ends with, if any."""

    NONE = "none"
    CREATE = "create"
    SAVE = "save"
    TOUCH = "touch"
    DELETE = "delete"
    RELEASE = "release"  # lock mode: only give the session's lock back


class CookieAction(enum.Enum):
    """What the response does with the session cookie."""

    KEEP = "keep"
    SET = "set"
    DELETE = "delete"


@dataclass(frozen=True)
class Plan:
    """The decision for one request."""

    write: Write
    retire: tuple[str, ...]
    cookie: CookieAction


@dataclass(frozen=True)
class CookieUpdate:
    """The cookie change an adapter makes: set ``value`` for ``max_age`` s, delete, or keep.

    ``persistent`` is false for a browser-session cookie (sent without Max-Age/Expires, as for
    a Flask session that is not ``permanent``); the server still ends it after ``max_age`` idle.
    """

    action: CookieAction
    value: str = ""
    max_age: int = 0
    persistent: bool = True


def decide(session: Session, now: int, config: StoreConfig, *, always_save: bool = False) -> Plan:
    """Decide the end of a request for ``session`` (``always_save``: refresh even if unchanged)."""
    if not session.is_loaded:
        return Plan(Write.NONE, (), CookieAction.KEEP)
    retire = tuple(session.retired_ids)
    has_data = dict.__len__(session) > 0  # no copy, and not a read by the app
    if session.stored is None:
        if has_data and (session.modified or always_save):
            return Plan(Write.CREATE, retire, CookieAction.SET)
        stale = session.stale_cookie or bool(retire)
        return Plan(Write.NONE, retire, CookieAction.DELETE if stale else CookieAction.KEEP)
    stored = session.stored
    if (
        session.modified
        or session.user_id != stored.user_id
        or (session.timeout or config.timeout) != stored.timeout
    ):
        if has_data:
            return Plan(Write.SAVE, retire, CookieAction.SET)
        return Plan(Write.DELETE, retire, CookieAction.DELETE)
    if always_save or (session.accessed and touch_due(stored, now, config)):
        return Plan(Write.TOUCH, retire, CookieAction.SET)
    if config.lock is not None and stored.lock_owner is not None:
        return Plan(Write.RELEASE, retire, CookieAction.KEEP)
    return Plan(Write.NONE, retire, CookieAction.KEEP)


def cookie_update(session: Session, action: CookieAction, config: StoreConfig) -> CookieUpdate:
    """The cookie change for ``action``, with the session's id and idle timeout as Max-Age."""
    if action is CookieAction.SET:
        return CookieUpdate(
            action,
            session.session_id,
            session.timeout or config.timeout,
            persistent=session.persistent_cookie,
        )
    return CookieUpdate(action)


RETRY_AFTER_SECONDS = 5
"""What a 503 answer's ``Retry-After`` says when the session store is unavailable."""

RETRY_LATER: tuple[type[Exception], ...] = (BackendError, SessionConflictError, SessionLockError)
"""The errors an adapter answers with 503 and ``Retry-After``, leaving the user's cookie alone:
DynamoDB is down or slow, or the session is too busy (conflicts, lock wait) to serve now."""

UNAVAILABLE_BODY = b"The session store is unavailable; please try again shortly.\n"


def unavailable_headers() -> list[tuple[str, str]]:
    """The headers of that 503 answer (which sets no cookie)."""
    return [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(UNAVAILABLE_BODY))),
        ("Retry-After", str(RETRY_AFTER_SECONDS)),
        ("Cache-Control", "no-store"),
    ]

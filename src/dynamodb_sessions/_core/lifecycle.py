"""The end of a request: what to write, and what to do with the cookie. Decided once, here;
every adapter (WSGI, Flask, ASGI, Django) only carries the decision out.

::

    session never touched (still deferred) ......... nothing, cookie untouched
    keys only set, never read (still deferred) ..... BLIND: one update of those keys if the
                                                     item is still valid, set cookie; else
                                                     read now, keys laid over, decide again
    its deferred load failed ....................... nothing, cookie untouched
    the request failed (raised, or answered 5xx) ... nothing, cookie untouched
                        (lock mode, lock held) ..... RELEASE the lock only
    new, modified or forced, has data .............. CREATE, set cookie
    new, nothing to store .......................... nothing; delete a stale cookie
    stored, modified, has data ..................... SAVE (merged on conflict), set cookie
    stored, modified, now empty .................... DELETE if still as read (else merged:
                                                     delete if still empty, else SAVE, set
                                                     cookie), delete cookie
    stored, unmodified, forced or refresh due ...... TOUCH, set cookie (slides its Max-Age)
                        (``refresh`` off: reads never refresh; only ``always_save`` does)
    stored, unmodified, refresh not due ............ nothing, cookie untouched
                        (lock mode, lock held) ..... RELEASE the lock only, cookie untouched

A failed request writes nothing, as with Django: the changes of a view that set
``balance="debited"`` and then failed are not the user's new state, and a cookieless visitor who
got an error page gets no item. :func:`request_failed` tells a failed request by its status.

A new ``user_id`` or ``timeout`` counts as a modification. Every SAVE, TOUCH and DELETE
is conditional on the session still being valid when it is written (TOUCH, DELETE and the
whole-session write also on the version read): one that expired meanwhile stays expired, and
its cookie is deleted. A BLIND write is conditional on the same validity; one the item refuses
writes nothing, and the session is read then, as it would have been at the first key set: an
ended session is never revived (at most a new one starts, under a new id, with only this
request's keys, as it did before blind writes). In lock mode SAVE and TOUCH
release the lock in the same write, and DELETE removes it with the item. Log-out (``flush``)
deletes the old item unconditionally, as a retired id.

Items a rotation or flush replaced (``retired_ids``) are deleted after the write, so a request
that fails half way leaves the old session usable rather than losing it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ..config import StoreConfig
from ..exceptions import BackendUnavailableError, SessionConflictError, SessionLockError
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
    BLIND = "blind"  # keys set on a session never read: written without reading it


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
    value: str = field(default="", repr=False)  # the session id: never in a repr (logs)
    max_age: int = 0
    persistent: bool = True


def request_failed(
    status: int, *, raised: bool = False, save_on_server_error: bool = False
) -> bool:
    """Tell whether a request failed, so that it must write nothing: it ``raised`` (an error
    page stands in for the app's answer), or it answered ``status`` 5xx, unless the application
    opted into saving those (``save_on_server_error``; a raising request never saves)."""
    return raised or (status >= 500 and not save_on_server_error)


def decide(
    session: Session,
    now: int,
    config: StoreConfig,
    *,
    always_save: bool = False,
    refresh: bool = True,
    failed: bool = False,
) -> Plan:
    """Decide the end of a request for ``session``.

    ``always_save``: refresh even if unchanged. ``refresh=False``: reads never refresh the
    expiry (Flask's ``SESSION_REFRESH_EACH_REQUEST`` off). ``failed``: the request raised or
    answered with a server error (:func:`request_failed`): nothing is written and the cookie is
    left alone; in lock mode the lock is given back.
    """
    if not session.is_loaded:
        if session.blind_writes and not failed:  # keys set, nothing read: no read needed
            return Plan(Write.BLIND, (), CookieAction.SET)
        # Never used, or its load failed: nothing to decide from (and no lock taken).
        return Plan(Write.NONE, (), CookieAction.KEEP)
    if failed:
        read = session.stored
        held = config.lock is not None and read is not None and read.lock_owner is not None
        return Plan(Write.RELEASE if held else Write.NONE, (), CookieAction.KEEP)
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
        or session.timeout != stored.timeout  # pinned (or unpinned) for this session
    ):
        if has_data:
            return Plan(Write.SAVE, retire, CookieAction.SET)
        return Plan(Write.DELETE, retire, CookieAction.DELETE)
    if always_save or (refresh and session.accessed and touch_due(stored, now, config)):
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

RETRY_LATER: tuple[type[Exception], ...] = (
    BackendUnavailableError,
    SessionConflictError,
    SessionLockError,
)
"""The errors an adapter answers with 503 and ``Retry-After``, leaving the user's cookie alone:
what retrying can cure. DynamoDB is down, slow, throttling or failing past botocore's retries,
or the session is too busy (conflicts, lock wait) to serve now. Every other error (a missing
table, denied access, an invalid request, missing credentials) is a 500: it propagates to the
framework with a message naming the cause, since answering "try again shortly" would hide a
fault that no retry cures."""

UNAVAILABLE_BODY = b"The session store is unavailable; please try again shortly.\n"


def unavailable_headers() -> list[tuple[str, str]]:
    """The headers of that 503 answer (which sets no cookie)."""
    return [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(UNAVAILABLE_BODY))),
        ("Retry-After", str(RETRY_AFTER_SECONDS)),
        ("Cache-Control", "no-store"),
    ]

"""Log out everywhere: list and revoke every session of a user, or end one of them.

Sessions carry an optional user identity (``Session.user_id``, attribute ``user_id``). A sparse
global secondary index on it (``StoreConfig.user_index``, ``user_id-index`` by default; made by
``create-table``; keys only, so saves and refreshes never write it) finds a user's items.
Revoking deletes them by storage key, each delete conditional on the item still belonging to
that user. The next request of a revoked session
reads no item and gets a new empty session, on any server; a request in flight cannot bring it
back, because its write is conditional on the version it read.

The index is eventually consistent: a session logged in a moment before (or while) the query
runs may not be listed. A revocation closes that window with a mark and a second sweep::

    revoke:  mark "refuse log-ins up to now + HOLD" ─> sweep the index ─> sleep SETTLE
             ─> renew the mark ─> sweep again ─> mark "refuse log-ins up to end + AFTER"
    log-in:  write the session (with its user) ─> read the mark (strongly consistent)
             ─> at or before the mark: delete it again, SessionRevokedError

A log-in that reads the mark before it was set wrote its session before the mark too, so the
sweeps (the second one ``SETTLE`` seconds later) find it in the index; one that reads it after
sees the mark and undoes itself. What is left: a session whose index entry takes longer than
``SETTLE`` to appear, and clock skew between servers beyond ``AFTER`` (docs/concurrency.md).
The cost: one strongly consistent read of a small item per log-in, and nothing per request.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from .. import logs
from ..config import StoreConfig
from ..exceptions import ConfigurationError, SessionRevokedError
from . import requests
from .items import Item, expires_at, idle_timeout
from .steps import Call, Failed, Flow, Now, Sleep

REVOKE_HOLD = 30.0  # a revocation refuses log-ins while it runs, for this long per step at most
REVOKE_SETTLE = 1.0  # seconds between the two sweeps: time for the index to show new sessions
REVOKE_AFTER = 1.0  # log-ins refused this long after a revocation ends (clock skew, latency)
_STORAGE_KEY = re.compile(r"[0-9a-f]{64}")

_CONFLICT = frozenset({requests.CONDITION_FAILED})


@dataclass(frozen=True)
class UserSession:
    """One stored session of a user, as the user index shows it.

    ``key`` is the storage key (the hash of the session id; the id itself is never stored).
    ``active`` tells whether the session was still valid at the time of listing.
    """

    key: str
    created: int | None
    accessed: int | None
    expires: int | None
    active: bool


def index_name(config: StoreConfig) -> str:
    """The user index; a :class:`ConfigurationError` if the configuration has none."""
    if config.user_index is None:
        raise ConfigurationError(
            "listing and revoking a user's sessions needs the user index (StoreConfig.user_index)"
        )
    return config.user_index


def list_sessions(config: StoreConfig, user_id: str, now: int) -> Flow[list[UserSession]]:
    """Every stored session of ``user_id``, expired ones included (``active`` tells).

    The index holds keys only (see :func:`requests.user_index`), so each listed session is
    read from the table: one GetItem each, which also leaves out an item that is gone or
    belongs to someone else by now (the index lags the table).
    """
    found: list[UserSession] = []
    for key in (yield from session_keys(config, user_id)):
        reply = yield Call("get_item", requests.get_listed_session(config, key))
        item = reply.get("Item")
        if item is not None and item.get(config.attributes.user) == {"S": user_id}:
            found.append(_user_session(item, config, now))
    return found


def session_keys(config: StoreConfig, user_id: str) -> Flow[list[str]]:
    """The storage keys the user index lists for ``user_id``."""
    index = index_name(config)
    keys: list[str] = []
    start_key: dict[str, Any] | None = None
    while True:
        params = requests.query_user_sessions(config, index, user_id, start_key)
        reply = yield Call("query", params)
        keys += (item[config.attributes.key]["S"] for item in reply.get("Items", []))
        start_key = reply.get("LastEvaluatedKey")
        if not start_key:
            return keys


def revoke(config: StoreConfig, user_id: str, now: int) -> Flow[int]:
    """Delete every stored session of ``user_id``, including one logged in while this runs;
    return how many were deleted."""
    index_name(config)  # no mark is set unless the sweeps can run
    key = revocation_key(config, user_id)
    started = max(float(now), (yield Now()))
    until = yield from _mark(config, key, started + REVOKE_HOLD, None)
    deleted = yield from _sweep(config, user_id)
    yield Sleep(REVOKE_SETTLE)
    until = yield from _mark(config, key, (yield Now()) + REVOKE_HOLD, until)
    deleted += yield from _sweep(config, user_id)
    yield from _mark(config, key, (yield Now()) + REVOKE_AFTER, until)
    logs.revoked_user(user_id, deleted)
    return deleted


def confirm_login(config: StoreConfig, key: str, user_id: str, now: int) -> Flow[None]:
    """After a write gave the session stored under ``key`` to ``user_id`` at ``now``: undo it
    and raise :class:`SessionRevokedError` if a revocation of that user covers that time."""
    reply = yield Call("get_item", requests.get_revocation(config, revocation_key(config, user_id)))
    mark = reply.get("Item", {}).get(requests.REVOKED)
    if mark is None or now > float(mark["N"]):
        return
    yield Call("delete_item", requests.delete_user_session(config, key, user_id), _CONFLICT)
    logs.revoked_login(user_id)
    raise SessionRevokedError(
        "this user's sessions are being revoked; the log-in was not kept (try again shortly)"
    )


def end_session(config: StoreConfig, user_id: str, key: str) -> Flow[bool]:
    """End one session of ``user_id``, named by its storage key as :func:`list_sessions` shows
    it; ``False`` if there is no such session of that user (anything else, malformed or
    another user's, is left alone)."""
    index_name(config)
    if not (
        key.startswith(config.key_prefix) and _STORAGE_KEY.fullmatch(key[len(config.key_prefix) :])
    ):
        return False
    params = requests.delete_user_session(config, key, user_id)
    reply = yield Call("delete_item", params, _CONFLICT)
    if isinstance(reply, Failed):
        return False
    logs.ended_listed(user_id)
    return True


def revocation_key(config: StoreConfig, user_id: str) -> str:
    """The key of ``user_id``'s revocation mark: never a session's (those are plain hashes)."""
    return f"{config.key_prefix}user#{hashlib.sha256(user_id.encode()).hexdigest()}"


def _mark(config: StoreConfig, key: str, until: float, ours: float | None) -> Flow[float | None]:
    """Set the mark to ``until`` (replacing ``ours``); the mark in force if it stays ours."""
    expires = expires_at(int(until) + 1, config.timeout, config)
    params = requests.mark_revoked(config, key, until=until, expires=expires, replacing=ours)
    reply = yield Call("update_item", params, _CONFLICT)
    # A failed condition: a later revocation of the same user set its own mark; it stays.
    return None if isinstance(reply, Failed) else until


def _sweep(config: StoreConfig, user_id: str) -> Flow[int]:
    deleted = 0
    for key in (yield from session_keys(config, user_id)):
        params = requests.delete_user_session(config, key, user_id)
        reply = yield Call("delete_item", params, _CONFLICT)
        # A failed condition: the session was deleted meanwhile, or no longer is this user's.
        deleted += not isinstance(reply, Failed)
    return deleted


def _user_session(item: Item, config: StoreConfig, now: int) -> UserSession:
    names = config.attributes

    def number(name: str) -> int | None:
        value = item.get(name)
        return int(value["N"]) if value else None

    created, accessed = number(names.created), number(names.accessed)
    expires = number(names.expires)
    timeout = idle_timeout(number(names.pinned_timeout), config)
    active = (
        expires is not None
        and now < expires
        and (accessed is None or now < accessed + timeout)
        and (
            config.absolute_timeout is None
            or created is None
            or now < created + config.absolute_timeout
        )
    )
    return UserSession(item[names.key]["S"], created, accessed, expires, active)

"""Log out everywhere: list and revoke every session of a user.

Sessions carry an optional user identity (``Session.user_id``, attribute ``user_id``). A sparse
global secondary index on it (``StoreConfig.user_index``, ``user_id-index`` by default; made by
``create-table``) finds a user's items. Revoking deletes them by storage key, each delete
conditional on the item still belonging to that user. The next request of a revoked session
reads no item (reads are strongly consistent) and gets a new empty session, on any server; a
request in flight cannot bring it back, because its write is conditional on the version it read.

The index is eventually consistent: a session created (or given its user) a moment before the
query may not be listed yet. Revoke after the change that motivates it (a password reset), and
sessions created afterwards are not affected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import logs
from ..config import StoreConfig
from ..exceptions import ConfigurationError
from . import requests
from .items import Item, idle_timeout
from .steps import Call, Failed, Flow

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
    """Every stored session of ``user_id``, expired ones included (``active`` tells)."""
    index = index_name(config)
    found: list[UserSession] = []
    start_key: dict[str, Any] | None = None
    while True:
        params = requests.query_user_sessions(config, index, user_id, start_key)
        reply = yield Call("query", params)
        found += (_user_session(item, config, now) for item in reply.get("Items", []))
        start_key = reply.get("LastEvaluatedKey")
        if not start_key:
            return found


def revoke(config: StoreConfig, user_id: str, now: int) -> Flow[int]:
    """Delete every stored session of ``user_id``; return how many were deleted."""
    sessions = yield from list_sessions(config, user_id, now)
    deleted = 0
    for session in sessions:
        params = requests.delete_user_session(config, session.key, user_id)
        reply = yield Call("delete_item", params, _CONFLICT)
        # A failed condition: the session was deleted meanwhile, or no longer is this user's.
        deleted += not isinstance(reply, Failed)
    logs.revoked_user(user_id, deleted)
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

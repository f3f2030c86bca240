"""Lock mode: a lease lock that serialises the requests of one session.

::

    load ──acquire (UpdateItem, ALL_NEW)──> held ──save / touch / release──> free
      │                                       │        (folded into the write,
      │ held by another, lease running        │         conditional on owner)
      └─> Sleep(poll), try again ... > wait: SessionLockError      lease runs out
                                                (crashed holder) ──────────> free

The item carries the holder (``lock_owner``, a random token per request) and the end of the
lease (``lock_expires``, epoch seconds). Taking the lock is one conditional UpdateItem that also
returns the item, so acquiring costs no extra read. Every write that releases the lock is
conditional on the owner, so a request never removes a lock it does not hold: a waiter that
gives up leaves the holder's lock alone, and a holder whose lease ran out (and was taken over)
cannot release its successor's.
"""

from __future__ import annotations

import secrets

from .. import logs
from ..config import LockSettings, StoreConfig
from ..exceptions import SessionLockError
from ..ids import log_safe, storage_key
from . import requests
from .items import StoredState, is_valid, own_item, parse_item
from .steps import Call, Failed, Flow, Sleep

_CONFLICT = frozenset({requests.CONDITION_FAILED})


def new_owner() -> str:
    """A random token naming the request that holds a lock."""
    return secrets.token_hex(16)


def settings(config: StoreConfig) -> LockSettings:
    """The lock settings in force; only called in lock mode."""
    assert config.lock is not None, "lock flows run only when StoreConfig.lock is set"
    return config.lock


def acquire(config: StoreConfig, session_id: str, now: int, owner: str) -> Flow[StoredState | None]:
    """Take the lock of ``session_id``'s item for ``owner`` and return the item as it is now.

    ``None`` if there is no item (nothing to lock: a new session is created only-if-absent);
    an expired session's item is returned at once, unlocked by this request.
    While another request holds an unexpired lease it polls, and raises
    :class:`SessionLockError` once ``wait`` seconds of sleeping have passed.
    """
    lock = settings(config)
    key = storage_key(session_id, config.key_prefix)
    names = config.attributes
    waited = 0.0
    while True:
        params = requests.acquire_lock(config, key, owner=owner, now=now, until=now + lock.lease)
        reply = yield Call("update_item", params, _CONFLICT)
        if not isinstance(reply, Failed):
            return parse_item(own_item(reply["Attributes"], key, names, "update_item"), names)
        # Held by someone else, or absent: only a read tells which.
        current = yield Call("get_item", requests.get_session(config, key))
        if "Item" not in current:
            return None
        state = parse_item(own_item(current["Item"], key, names, "get_item"), names)
        if not is_valid(state, now, config):
            return state  # an expired session is not worth waiting for: the caller drops it
        if waited >= lock.wait:
            logs.lock_timeout(session_id, waited)
            raise SessionLockError(
                f"session {log_safe(session_id)} stayed locked by another request for "
                f"{waited:.2f} s (lock wait {lock.wait} s)"
            )
        # Counting the sleeps (not the clock) bounds the wait even if the clock stands still.
        now = int((yield Sleep(lock.poll)))
        waited += lock.poll


def release(config: StoreConfig, session_id: str, owner: str) -> Flow[bool]:
    """Drop ``owner``'s lock; ``False`` if it was no longer held (expired and taken, deleted)."""
    params = requests.release_lock(config, storage_key(session_id, config.key_prefix), owner)
    reply = yield Call("update_item", params, _CONFLICT)
    return not isinstance(reply, Failed)

"""Lock mode: a lease lock that serialises the requests of one session.

::

    load ──acquire (UpdateItem, ALL_NEW)──> held ──save / touch / release──> free
      │                                       │        (folded into the write,
      │ held by another, lease running        │         conditional on owner)
      └─> Sleep(backoff), try again ... > wait: SessionLockError   lease runs out
                                                (crashed holder) ──────────> free

The item carries the holder (``lock_owner``, a random token per request) and the end of the
lease (``lock_expires``, epoch seconds to the millisecond, e.g. ``1800000010.250``). Taking the
lock is one conditional UpdateItem that also returns the item, so acquiring costs no extra read.
Every write that releases the lock is conditional on the owner, so a request never removes a
lock it does not hold: a waiter that gives up leaves the holder's lock alone, and a holder whose
lease ran out (and was taken over) cannot release its successor's.

Time here is read from the driver's clock (:class:`Now`, :class:`Sleep`) rather than the whole
seconds a request starts with: the lease is exact to the millisecond, and the ``wait`` bound
counts the real time spent, the calls included, not only the sleeps.

No lock write touches an expired session: taking and giving back the lock are conditional on
the item's ``expires`` and on the absolute timeout at write time, and an item the acquire
returns expired by its idle timeout is given back at once by the load (:func:`flows.load`).
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable

from .. import logs
from ..config import LockSettings, StoreConfig
from ..exceptions import SessionLockError
from ..ids import log_safe, storage_key
from . import requests
from .items import StoredState, is_valid, own_item, parse_item
from .steps import Call, Failed, Flow, LockWait, Now, Sleep

_CONFLICT = frozenset({requests.CONDITION_FAILED})
_jitter: Callable[[], float] = random.random  # a module attribute so tests can fix it
BACKOFF_GROWTH_CAP = 4  # a waiter's sleeps grow to at most 4 x poll (times jitter)


def new_owner() -> str:
    """A random token naming the request that holds a lock."""
    return secrets.token_hex(16)


def settings(config: StoreConfig) -> LockSettings:
    """The lock settings in force; only called in lock mode."""
    assert config.lock is not None, "lock flows run only when StoreConfig.lock is set"
    return config.lock


def backoff(lock: LockSettings, attempt: int) -> float:
    """Seconds a waiter sleeps after its ``attempt``-th failed try (0, 1, ...).

    Growing from ``poll`` to ``4 x poll``, each time scaled by a random factor in [0.5, 1.5):
    waiters that started together do not come back together, and a long wait costs fewer
    calls than polling at a fixed rate.
    """
    return lock.poll * min(2.0**attempt, BACKOFF_GROWTH_CAP) * (0.5 + _jitter())


def max_attempts(lock: LockSettings) -> int:
    """A bound on the tries of one acquire, whatever the clock says (a stopped test clock)."""
    return int(lock.wait / (lock.poll * 0.5)) + 2


def acquire(config: StoreConfig, session_id: str, now: int, owner: str) -> Flow[StoredState | None]:
    """Take the lock of ``session_id``'s item for ``owner`` and return the item as it is now.

    ``None`` if there is no item (nothing to lock: a new session is created only-if-absent);
    an expired session's item is returned at once, unlocked by this request. While another
    request holds an unexpired lease it backs off and tries again, and raises
    :class:`SessionLockError` once ``wait`` seconds have passed since the first try (by the
    clock, calls included). ``now`` is the request's time: the clock is never read as earlier.
    """
    lock = settings(config)
    key = storage_key(session_id, config.key_prefix)
    names = config.attributes
    clock = max(float(now), (yield Now()))
    started = clock
    deadline = started + lock.wait
    for attempt in range(max_attempts(lock)):
        params = requests.acquire_lock(config, key, owner=owner, now=clock, lease=lock.lease)
        reply = yield Call("update_item", params, _CONFLICT)
        if not isinstance(reply, Failed):
            yield LockWait(clock - started, "acquired")
            # The condition bound the idle timeout only for items on the configured one: a
            # timeout pinned on the item is judged here (the caller drops an expired state).
            return parse_item(own_item(reply["Attributes"], key, names, "update_item"), names)
        # Held by someone else, expired, or absent: only a read tells which. Strongly
        # consistent whatever the configuration: a stale "absent" would end the session.
        current = yield Call("get_item", requests.get_session(config, key, consistent=True))
        if "Item" not in current:
            yield LockWait(clock - started, "absent")
            return None
        state = parse_item(own_item(current["Item"], key, names, "get_item"), names)
        clock = max(clock, (yield Now()))
        if not is_valid(state, clock, config):
            yield LockWait(clock - started, "absent")
            return state  # an expired session is not worth waiting for: the caller drops it
        left = deadline - clock
        if left <= 0:
            break
        clock = max(clock, (yield Sleep(min(backoff(lock, attempt), left))))
    waited = clock - started
    yield LockWait(waited, "timeout")
    logs.lock_timeout(session_id, waited)
    raise SessionLockError(
        f"session {log_safe(session_id)} stayed locked by another request for "
        f"{waited:.2f} s (lock wait {lock.wait} s)"
    )


def release(config: StoreConfig, session_id: str, owner: str) -> Flow[bool]:
    """Drop ``owner``'s lock; ``False`` if it was no longer held (expired and taken, deleted),
    or the session expired meanwhile (an expired item is left as it is, lock and all)."""
    now = yield Now()
    params = requests.release_lock(
        config, storage_key(session_id, config.key_prefix), owner, now=now
    )
    reply = yield Call("update_item", params, _CONFLICT)
    return not isinstance(reply, Failed)

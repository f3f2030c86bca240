"""Generator flows: every store operation written once, free of I/O.

A flow yields :class:`Call` steps (one botocore client call each) and :class:`Sleep` steps, and
receives each call's reply: the response dict, or :class:`Failed` when DynamoDB answered with an
error code the step said it handles. A sync and an async driver in ``store.py`` run the same
flows, so no decision is written twice. ``now`` (epoch seconds) is always passed in.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from .. import logs
from ..codec import Codec
from ..config import DYNAMODB_ITEM_LIMIT, VALUE_PREFIX, StoreConfig
from ..exceptions import (
    CorruptSessionError,
    SessionConflictError,
    SessionExistsError,
    SessionRevokedError,
    SessionTooLargeError,
)
from ..ids import is_well_formed, log_safe, new_session_id, storage_key
from ..session import Session
from . import lock, requests, users
from .items import (
    StoredState,
    build_item,
    expires_at,
    idle_timeout,
    is_valid,
    item_size,
    own_item,
    parse_item,
    surely_fits,
    touch_due,
    unread_bounds,
    validity_bounds,
    value_attribute,
)
from .lifecycle import CookieAction, CookieUpdate, Write, cookie_update, decide

# The step types live in steps.py (shared by every flow module); re-exported here.
from .steps import Call as Call
from .steps import Conflict
from .steps import Failed as Failed
from .steps import Flow as Flow
from .steps import Reply as Reply
from .steps import Sleep as Sleep
from .steps import Step as Step

logger = logging.getLogger("dynamodb_sessions")

T = TypeVar("T")


_CONFLICT = frozenset({requests.CONDITION_FAILED})


class SaveOutcome(enum.Enum):
    """How a save ended."""

    SAVED = "saved"
    UNCHANGED = "unchanged"  # nothing differed from what was read; no data write was needed
    DELETED = "deleted"  # the session was emptied, and so was the stored one (no key lost)
    GONE = "gone"  # the item was deleted (or expired) meanwhile; it is not brought back


@dataclass(frozen=True)
class Changes:
    """What one request did to a session's data, to re-apply on a fresher copy after a conflict."""

    set: dict[str, Any] = field(default_factory=dict)
    deleted: frozenset[str] = frozenset()
    cleared: bool = False

    def __bool__(self) -> bool:
        return bool(self.set or self.deleted or self.cleared)

    def apply(self, base: Mapping[str, Any]) -> dict[str, Any]:
        """Return ``base`` with these changes made."""
        merged = {} if self.cleared else {k: v for k, v in base.items() if k not in self.deleted}
        merged.update(self.set)
        return merged


def diff(original: Mapping[str, Any], current: Mapping[str, Any], cleared: bool) -> Changes:
    """The changes that turn ``original`` into ``current`` (everything, after a clear)."""
    if cleared:
        return Changes(set=dict(current), cleared=True)
    return Changes(
        set={k: v for k, v in current.items() if k not in original or original[k] != v},
        deleted=frozenset(original.keys() - current.keys()),
    )


# -- reading -------------------------------------------------------------------------------


def read_item(
    config: StoreConfig, session_id: str, *, consistent: bool = True
) -> Flow[StoredState | None]:
    """Read the item of ``session_id``; ``None`` if absent. Does not judge validity.

    Strongly consistent unless ``consistent`` is false: every read that decides a write (the
    re-read after a conflict, the check of an unknown outcome) must see the latest item. An
    answer about another item raises (see :func:`~._core.items.own_item`).
    """
    key = _key(config, session_id)
    reply = yield Call("get_item", requests.get_session(config, key, consistent=consistent))
    item = reply.get("Item")
    if not item:
        return None
    return parse_item(own_item(item, key, config.attributes, "get_item"), config.attributes)


def read_confirmed(config: StoreConfig, session_id: str, now: int) -> Flow[StoredState | None]:
    """The read that starts a request: consistent as configured (``consistent_read``).

    An eventually consistent read may answer from before the latest write: no item yet (just
    created or rotated) or an older copy that looks expired (refreshed since). Ending the
    session on such an answer would log the user out, so it is confirmed by one strongly
    consistent read first; a valid answer is used as it is (a save conditional on its version
    finds out if it was old, and re-reads strongly then).
    """
    state = yield from read_item(config, session_id, consistent=config.consistent_read)
    if config.consistent_read or (state is not None and is_valid(state, now, config)):
        return state
    return (yield from read_item(config, session_id))


def load(
    config: StoreConfig,
    codec: Codec,
    session_id: str | None,
    now: int,
    *,
    lock_owner: str | None = None,
) -> Flow[Session]:
    """Load the session a cookie names, or a new empty one.

    An id that is malformed never reaches DynamoDB; an unknown, expired or corrupt one yields a
    new empty session (with a new id) flagged ``stale_cookie`` so the cookie gets replaced.
    In lock mode the load takes the session's lock (``lock_owner``, else a new token) and
    returns with it held; the end of the request (:func:`finish`) releases it.
    """
    if not is_well_formed(session_id):
        return Session(stale_cookie=bool(session_id))
    assert session_id is not None  # is_well_formed() said so; this tells the type checker
    owner = None
    if config.lock is not None:
        owner = lock_owner or lock.new_owner()
    try:
        if owner is None:
            state = yield from read_confirmed(config, session_id, now)
        else:
            state = yield from lock.acquire(config, session_id, now, owner)
        if state is None:
            logs.unknown_id(session_id)
        if state is None or not is_valid(state, now, config):
            if state is not None and owner is not None and state.lock_owner == owner:
                yield from lock.release(config, session_id, owner)
            return Session(stale_cookie=True)
        data = decode_state(codec, state, _key(config, session_id))
    except CorruptSessionError as exc:
        logs.corrupt_item(session_id, exc)
        if owner is not None:
            yield from lock.release(config, session_id, owner)
        return Session(stale_cookie=True)
    return Session(data, session_id=session_id, stored=state)


def exists(config: StoreConfig, session_id: str, now: int) -> Flow[bool]:
    """Tell whether ``session_id`` names a valid stored session."""
    if not is_well_formed(session_id):
        return False
    try:
        state = yield from read_confirmed(config, session_id, now)
    except CorruptSessionError:
        return False
    return state is not None and is_valid(state, now, config)


# -- writing -------------------------------------------------------------------------------


def create(
    config: StoreConfig, codec: Codec, session: Session, now: int, *, keep_id: bool = False
) -> Flow[None]:
    """Store a new session with a create-only-if-absent write.

    An id clash (practically impossible with 256-bit ids, but never an overwrite) retries with a
    new id, or raises :class:`SessionExistsError` when ``keep_id`` insists on this id.

    A create whose answer was lost (a timeout after sending) is re-sent by botocore and then
    fails its condition on the item it created itself: the item is read, and if it holds exactly
    the bytes this request wrote the create succeeded; no second session is made.
    """
    data = session.to_dict()
    timeout = session.timeout  # pinned on the item only if set for this session
    # A rotated session keeps its creation time, so rotating never extends the absolute timeout.
    created = now if session.created is None else session.created
    for _ in range(3):
        key = _key(config, session.session_id)
        values = encode_values(codec, data, key)  # per id: encryption binds each value to its item
        item = build_item(
            key,
            values,
            now=now,
            created=created,
            timeout=timeout,
            version=1,
            user_id=session.user_id,
            config=config,
        )
        reply = yield Call("put_item", requests.create_session(config, item), _CONFLICT)
        if not isinstance(reply, Failed):
            session.stored = parse_item(item, config.attributes)
            session.created = created
            yield from _confirm_login(config, session, None, now)
            return
        existing = yield from _read_if_intact(config, session.session_id)
        if existing is not None and _is_own_write(existing, values, 1):
            session.stored = existing
            session.created = created
            yield from _confirm_login(config, session, None, now)
            return
        if keep_id:
            raise SessionExistsError("a session with this id already exists")
        session.session_id = new_session_id()
    raise SessionConflictError("could not find a free session id")


def save(config: StoreConfig, codec: Codec, session: Session, now: int) -> Flow[SaveOutcome]:
    """Write a stored session's changes, conditional on the item still being valid now (an
    expired, revoked or deleted session is never brought back: ``GONE``).

    The changes are one update of only the keys this request set or removed
    (:func:`~._core.requests.update_values`), not conditional on the version: requests that
    change different keys never conflict, and for one key the last writer wins. When the
    request removed keys and nothing is left of the session, the item is deleted, only if no
    other request wrote it meanwhile (its version).

    A clear, an item of 0.1 and a change set too big for one expression go through a whole-
    session write conditional on the version read; on a conflict the item is read again and
    only this request's own changes are applied to the fresh copy; an emptied session is
    deleted only if the merged result is still empty. Bounded by ``max_conflict_retries``;
    from the second retry on it first sleeps a random, growing while (:func:`conflict_backoff`).
    """
    state = session.stored
    if state is None:
        yield from create(config, codec, session, now)
        return SaveOutcome.SAVED
    key = _key(config, session.session_id)
    data = session.to_dict()
    # After a clear everything is written: what was stored does not matter.
    stored = {} if session.cleared else _stored_data(codec, state, key, data)
    changes = diff(stored, data, session.cleared)
    # An unchanged session is not rewritten, unless its data is under a retired key (then the
    # refresh re-encrypts it, so old keys fall out of use).
    if (
        data
        and not changes
        and session.timeout == state.timeout
        and session.user_id == state.user_id
        and is_current(codec, state)
    ):
        if touch_due(state, now, config):
            touched = yield from touch(config, session, now)
            return SaveOutcome.GONE if touched is SaveOutcome.GONE else SaveOutcome.UNCHANGED
        yield from release(config, session)
        return SaveOutcome.UNCHANGED
    return (yield from _write(config, codec, session, now, data, changes))


_BLIND_REFUSED = frozenset({requests.CONDITION_FAILED, requests.INVALID})


def save_blind(config: StoreConfig, codec: Codec, session: Session, now: int) -> Flow[bool]:
    """Write the keys set on a deferred session that was never read (``blind_writes``) without
    reading it: one update (:func:`~._core.requests.update_blind`) of only those keys, on the
    condition that the item exists, is valid now, pins no timeout and is not of 0.1. The session
    is then loaded from the item the update answers with; true.

    Otherwise the session is read now and the keys are laid over what was read, as if it had
    been read at the first of them; false, for the caller to decide the write again. That is so
    when the item refuses the update (gone, expired, revoked, a pinned timeout, 0.1's format),
    when it would exceed DynamoDB's size limit (``ValidationException``: nothing is written, and
    the read path's size guard raises :class:`SessionTooLargeError`), and where the size guard
    needs the item before the write (:func:`_blind_params`). The update writes only keys this
    request set, so a session that ended is never revived: at most a new one starts, under a
    new id, with only those keys, exactly as when the first key set loaded the session.
    """
    session_id = session.blind_id
    assert session_id is not None  # decide() chose BLIND for a session with blind writes
    key = _key(config, session_id)
    params = _blind_params(config, codec, session.blind_writes, key, now)
    if params is not None:
        reply = yield Call("update_item", params, _BLIND_REFUSED)
        if not isinstance(reply, Failed):
            names = config.attributes
            try:
                state = parse_item(own_item(reply["Attributes"], key, names, "update_item"), names)
                session.adopt(
                    Session(decode_state(codec, state, key), session_id=session_id, stored=state)
                )
            except CorruptSessionError as exc:
                # The keys went into an item no read can use (tampered, or its keys retired):
                # as a load would have, start a new session with them.
                logs.corrupt_item(session_id, exc)
                session.adopt(Session(stale_cookie=True))
                return False
            return True
    session.adopt((yield from load(config, codec, session_id, now)))
    return False


def _blind_params(
    config: StoreConfig, codec: Codec, written: Mapping[str, Any], key: str, now: int
) -> requests.Params | None:
    """The blind update of the keys ``written``, or ``None`` where it must read first: in lock
    mode (the size guard keeps room for the lock's attributes, which only the item tells) and
    under a ``max_item_bytes`` below DynamoDB's own limit, the only one a write can be held to
    without the item; and for a change set too big for one expression.

    Raises :class:`SessionTooLargeError` before any write if the keys alone exceed the limit
    (the item will hold them at least)."""
    if config.lock is not None or config.max_item_bytes < DYNAMODB_ITEM_LIMIT:
        return None
    values = encode_values(codec, written, key)
    least = {value_attribute(name): {"B": blob} for name, blob in values.items()}
    size = item_size({config.attributes.key: {"S": key}, **least})
    if size > config.max_item_bytes:
        raise SessionTooLargeError(size, config.max_item_bytes)
    return requests.update_blind(
        config,
        key,
        values=values,
        now=now,
        expires=expires_at(now, config.timeout, config),  # no pinned timeout: the condition
        bounds=unread_bounds(now, config),
    )


def _write(
    config: StoreConfig,
    codec: Codec,
    session: Session,
    now: int,
    data: dict[str, Any],
    changes: Changes,
) -> Flow[SaveOutcome]:
    """The write of :func:`save`: the update of what changed when it can be, else the whole
    session (a delete when ``data`` is empty), merged and retried after a conflict.

    A failed update of what changed means the item is gone or no longer valid (or, in lock
    mode, the lock was lost): the re-read after it tells which, as after a conflict.
    """
    state = session.stored
    assert state is not None  # save() wrote a new session with create()
    key = _key(config, session.session_id)
    owner = _held_lock(config, state)
    merged = False
    user_before = state.user_id
    for attempt in range(config.max_conflict_retries + 1):
        blob: dict[str, bytes] | None = None
        landed: StoredState | Literal[False] | None
        delta = None
        # A clear replaces everything; an item of 0.1, or one with values under a retired
        # encryption key, is rewritten whole in the current format.
        if attempt == 0 and not changes.cleared and is_current(codec, state):
            delta = _delta_params(config, codec, session, state, changes, now, owner)
        if delta is not None:
            landed, stored_data = yield from _update(
                config, codec, session, state, delta, now, owner
            )
            if stored_data is not None:
                data, merged = stored_data, True  # the session now holds what the item holds
        else:
            landed, blob = yield from _attempt(config, codec, session, state, data, now, owner)
        if landed is not None:
            _saved(session, landed or None, data, merged)
            if not landed:
                return SaveOutcome.DELETED
            yield from _confirm_login(config, session, user_before, now)
            return SaveOutcome.SAVED
        yield Conflict(retried=attempt < config.max_conflict_retries)
        if attempt == config.max_conflict_retries:
            break
        if config.lock is not None:
            # The lease ran out and another request took the lock (or this session was never
            # locked): the re-read waits for the lock again, as this new owner if need be.
            owner = owner or lock.new_owner()
        fresh = yield from _reread(config, session.session_id, now, owner, attempt)
        if fresh is not None and blob is not None and _is_own_write(fresh, blob, state.version + 1):
            # This very write landed but its answer was lost (a timeout after sending), and
            # botocore's re-send failed its condition on it: saved once, nothing lost.
            if owner is not None and fresh.lock_owner == owner:  # re-taken just now: let go
                yield from lock.release(config, session.session_id, owner)
            _saved(session, dataclasses.replace(fresh, lock_owner=None), data, merged)
            yield from _confirm_login(config, session, user_before, now)
            return SaveOutcome.SAVED
        if fresh is None or not is_valid(fresh, now, config):
            if fresh is not None and owner is not None and fresh.lock_owner == owner:
                yield from lock.release(config, session.session_id, owner)
            _ended(session, expired=fresh is not None)
            return SaveOutcome.GONE
        state = fresh
        data = changes.apply(_decode_or_empty(codec, fresh, key))
        merged = True
    if owner is not None and state.lock_owner == owner:
        yield from lock.release(config, session.session_id, owner)
    logs.conflict(session.session_id, config.max_conflict_retries + 1)
    raise SessionConflictError(
        f"session {log_safe(session.session_id)} changed under {config.max_conflict_retries + 1} "
        "attempts to save it"
    )


def _attempt(
    config: StoreConfig,
    codec: Codec,
    session: Session,
    state: StoredState,
    data: dict[str, Any],
    now: int,
    owner: str | None,
) -> Flow[tuple[StoredState | Literal[False] | None, dict[str, bytes] | None]]:
    """One conditional write of ``data`` over the item read as ``state``: an update, or a
    delete when ``data`` is empty. Returns what is stored now (``False``: nothing, it was
    deleted; ``None``: the condition failed) and the values it sent, if any."""
    key = _key(config, session.session_id)
    bounds = validity_bounds(state, now, config)
    if not data:
        params = requests.delete_emptied(
            config, key, state.version, bounds=bounds, lock_owner=owner
        )
        reply = yield Call("delete_item", params, _CONFLICT)
        return (None if isinstance(reply, Failed) else False), None
    blob = encode_values(codec, data, key)
    item = build_item(
        key,
        blob,
        now=now,
        created=state.created,
        timeout=session.timeout,
        version=state.version + 1,
        user_id=session.user_id,
        config=config,
    )
    # In lock mode the write also releases the lock, and only while this request holds it.
    dropped = [name for name in state.values if name not in data]
    params = requests.save_session(
        config, item, state.version, bounds=bounds, lock_owner=owner, dropped=dropped
    )
    reply = yield Call("update_item", params, _CONFLICT)
    return (None if isinstance(reply, Failed) else parse_item(item, config.attributes)), blob


def _delta_params(
    config: StoreConfig,
    codec: Codec,
    session: Session,
    state: StoredState,
    changes: Changes,
    now: int,
    owner: str | None,
) -> requests.Params | None:
    """The update of only what ``changes`` changed, or ``None`` if it does not fit one
    expression. Raises :class:`SessionTooLargeError` if the item would exceed DynamoDB's size
    limit once changed (as read, with these changes applied), before anything is written."""
    key = _key(config, session.session_id)
    values = encode_values(codec, changes.set, key)
    timeout = session.timeout
    user_id = session.user_id
    expires = expires_at(now, idle_timeout(timeout, config), config)
    largest = max(expires, state.version + 1)  # the item's other numbers are below these
    if not surely_fits(key, (state.values, values), user_id, largest, config):
        kept = {name: blob for name, blob in state.values.items() if name not in changes.deleted}
        build_item(  # the size guard: the item as it will be
            key,
            {**kept, **values},
            now=now,
            created=state.created,
            timeout=timeout,
            version=state.version + 1,
            user_id=user_id,
            config=config,
        )
    return requests.update_values(
        config,
        key,
        values=values,
        removed=sorted(changes.deleted),
        now=now,
        expires=expires,
        timeout=timeout,
        user_id=user_id,
        bounds=validity_bounds(state, now, config),
        lock_owner=owner,
        # Removing keys may empty the session; its delete must still hold the lock.
        keep_lock=bool(changes.deleted),
    )


def _update(
    config: StoreConfig,
    codec: Codec,
    session: Session,
    state: StoredState,
    params: requests.Params,
    now: int,
    owner: str | None,
) -> Flow[tuple[StoredState | Literal[False] | None, dict[str, Any] | None]]:
    """Send the update of what changed. Returns what is stored now as :func:`_attempt` does
    and, when the update answered with the item (keys were removed), the data it holds.

    If the update left no key (this request removed the last ones and nobody added any), the
    item is deleted, only if it still has the version the update gave it: a key another
    request saves meanwhile survives, with the item."""
    reply = yield Call("update_item", params, _CONFLICT)
    if isinstance(reply, Failed):
        return None, None
    names = config.attributes
    if "Attributes" not in reply:
        values = params["ExpressionAttributeValues"]
        placeholders = params["ExpressionAttributeNames"]
        written = {
            placeholders[tag][len(VALUE_PREFIX) :]: values[":" + tag[1:]]["B"]
            for tag in placeholders
            if tag.startswith("#s")
        }
        landed = _touched(
            state,
            now,
            config,
            version=state.version + 1,  # at least: others may have bumped it too
            timeout=session.timeout,
            user_id=session.user_id,
            values={**state.values, **written},
        )
        return landed, None
    key = _key(config, session.session_id)
    fresh = parse_item(own_item(reply["Attributes"], key, names, "update_item"), names)
    if fresh.values or fresh.raw is not None:
        if owner is not None:
            yield from lock.release(config, session.session_id, owner)
        return dataclasses.replace(fresh, lock_owner=None), _decode_or_empty(codec, fresh, key)
    bounds = validity_bounds(fresh, now, config)
    params = requests.delete_emptied(config, key, fresh.version, bounds=bounds, lock_owner=owner)
    deleted = yield Call("delete_item", params, _CONFLICT)
    if not isinstance(deleted, Failed):
        return False, {}
    # Written meanwhile (a key added, or the lock taken over): what is there stays.
    if owner is not None:
        yield from lock.release(config, session.session_id, owner)
    return dataclasses.replace(fresh, lock_owner=None), {}


def _reread(
    config: StoreConfig, session_id: str, now: int, owner: str | None, attempt: int
) -> Flow[StoredState | None]:
    """Read the item again after a conflicted write (in lock mode, taking the lock)."""
    if owner is not None:
        return (yield from lock.acquire(config, session_id, now, owner))
    if attempt:
        # Writers that keep colliding on one item would otherwise retry in lockstep,
        # and some would lose every round; random waits spread them out.
        yield Sleep(conflict_backoff(attempt))
    return (yield from read_item(config, session_id))


CONFLICT_BACKOFF_BASE = 0.01
CONFLICT_BACKOFF_CAP = 0.2
_jitter: Callable[[], float] = random.random  # a module attribute so tests can fix it


def conflict_backoff(attempt: int) -> float:
    """Seconds to wait before retry ``attempt`` (1, 2, ...) of a conflicted save.

    "Full jitter": uniform in [0, min(cap, base * 2**attempt)]: 0.2 s at most per retry, and
    only sessions that many requests change at once ever get that far.
    """
    return _jitter() * min(CONFLICT_BACKOFF_CAP, CONFLICT_BACKOFF_BASE * 2.0**attempt)


def touch(config: StoreConfig, session: Session, now: int) -> Flow[SaveOutcome]:
    """Record activity on an unmodified session without rewriting its data.

    Conditional on the version read and on the item still being valid now. A failed
    condition means another request wrote the item meanwhile (refreshing it), or deleted it:
    nothing left to do (``UNCHANGED``); or that the session expired since it was read: it
    stays expired and this session ends (``GONE``; a new one starts on the next request).
    """
    state = session.stored
    if state is None:
        return SaveOutcome.UNCHANGED
    owner = _held_lock(config, state)
    params = requests.touch_session(
        config,
        _key(config, session.session_id),
        now=now,
        expires=expires_at(now, idle_timeout(state.timeout, config), config),
        expected_version=state.version,
        bounds=validity_bounds(state, now, config),
        lock_owner=owner,
    )
    reply = yield Call("update_item", params, _CONFLICT)
    if not isinstance(reply, Failed):
        session.stored = _touched(state, now, config)
        return SaveOutcome.SAVED
    if owner is not None:
        yield from release(config, session)  # a no-op unless this request still holds it
    if is_valid(state, now, config):
        return SaveOutcome.UNCHANGED  # what was read is valid now: others wrote, not expiry
    # Expired as read; but another request may have refreshed it meanwhile: ask the item.
    fresh = yield from _read_if_intact(config, session.session_id)
    if fresh is not None and is_valid(fresh, now, config):
        return SaveOutcome.UNCHANGED
    _ended(session, expired=fresh is not None)
    return SaveOutcome.GONE


def release(config: StoreConfig, session: Session) -> Flow[None]:
    """Lock mode: give up the lock this request holds on ``session``, writing nothing else.

    Conditional on the owner, so a lock taken over after this request's lease ran out stays.
    """
    if not session.is_loaded:  # never loaded (or the load failed): nothing is held
        return
    state = session.stored
    owner = None if state is None else _held_lock(config, state)
    if state is None or owner is None:
        return
    yield from lock.release(config, session.session_id, owner)
    session.stored = dataclasses.replace(state, lock_owner=None)


def delete(config: StoreConfig, session_id: str) -> Flow[None]:
    """Delete the item of ``session_id`` (a malformed id has none)."""
    if is_well_formed(session_id):
        yield Call("delete_item", requests.delete_session(config, _key(config, session_id)))


def end(config: StoreConfig, session_id: str, rotated_to: str | None = None) -> Flow[None]:
    """End the session ``session_id`` on purpose: delete its item, log the event (log out, or
    the last step of a rotation to ``rotated_to`` done by the caller, as Django's does)."""
    if is_well_formed(session_id):
        if rotated_to is None:
            logs.ended(session_id)
        else:
            logs.rotated(session_id, rotated_to)
    yield from delete(config, session_id)


def rotate(config: StoreConfig, codec: Codec, session: Session, now: int) -> Flow[None]:
    """Move a session to a new id now: store the data under the new id, then drop the old item.

    Written in that order so that a failure half way leaves the old session usable.
    """
    session.rotate()
    yield from create(config, codec, session, now)
    yield from _retire(config, session, session.retired_ids)


def finish(
    config: StoreConfig,
    codec: Codec,
    session: Session,
    now: int,
    *,
    always_save: bool = False,
    refresh: bool = True,
    failed: bool = False,
) -> Flow[CookieUpdate]:
    """Carry out the end-of-request :func:`~._core.lifecycle.decide` decision (its keywords are
    decide's); say what to do with the cookie."""
    plan = decide(session, now, config, always_save=always_save, refresh=refresh, failed=failed)
    if plan.write is Write.BLIND:
        if (yield from save_blind(config, codec, session, now)):
            return cookie_update(session, plan.cookie, config)
        # Read after all, the keys set laid over what was read: decide as for any session.
        plan = decide(session, now, config, always_save=always_save, refresh=refresh)
    cookie = plan.cookie
    if plan.write is Write.CREATE:
        yield from create(config, codec, session, now)
    elif plan.write in (Write.SAVE, Write.DELETE):
        # An emptied session is a conditional delete inside save(): a merge with a concurrent
        # writer's keys may leave data to save after all, and then the cookie stays.
        cookie = _cookie_after(session, (yield from save(config, codec, session, now)))
    elif plan.write is Write.TOUCH:
        stored = session.stored
        if stored is not None and not is_current(codec, stored):
            # Under a retired encryption key: the refresh rewrites it under the newest one.
            outcome = yield from save(config, codec, session, now)
        else:
            outcome = yield from touch(config, session, now)
        if outcome is SaveOutcome.GONE:
            cookie = _cookie_after(session, outcome)
    elif plan.write is Write.RELEASE:
        yield from release(config, session)
    yield from _retire(config, session, plan.retire)
    return cookie_update(session, cookie, config)


def _retire(config: StoreConfig, session: Session, old_ids: Sequence[str]) -> Flow[None]:
    """Delete the items a rotation or flush replaced; the security log says which it was."""
    for old in old_ids:
        yield from delete(config, old)
        if session.stored is not None:
            logs.rotated(old, session.session_id)
        else:  # flushed (log out): nothing lives on under a new id
            logs.ended(old)
    session.retired_ids.clear()


def releasing(config: StoreConfig, session: Session, flow: Flow[T]) -> Flow[T]:
    """Run ``flow`` (the end of a request); if it fails, give back the lock this request holds.

    Whatever the failure: an error raised here (a session too large to store) or one the
    driver raises at a step (throttling, a timeout). Otherwise the lock would stay held until
    its lease ran out, and every other request of the session would wait for it.
    """
    try:
        return (yield from flow)
    except Exception:
        with contextlib.suppress(Exception):  # the first error is the one to report
            yield from release(config, session)
        raise


def _confirm_login(
    config: StoreConfig, session: Session, user_before: str | None, now: int
) -> Flow[None]:
    """A write that gave the session a user is a log-in: it must not outlive a revocation of
    that user running meanwhile (see :mod:`._core.users`). One read, only at log-in."""
    user = session.user_id
    if user is None or user == user_before or config.user_index is None:
        return
    try:
        yield from users.confirm_login(config, _key(config, session.session_id), user, now)
    except SessionRevokedError:
        session.stored = None
        raise


def _cookie_after(session: Session, outcome: SaveOutcome) -> CookieAction:
    """What the cookie does after a save ended with ``outcome``."""
    if outcome is SaveOutcome.DELETED:
        return CookieAction.DELETE
    if outcome is SaveOutcome.GONE:
        # Expired: the session is over, its cookie goes (a new session starts on the next
        # request). Deleted or rotated away meanwhile: keep the cookie rather than delete it,
        # since a concurrent rotation (log-in) may just have set a new one, which a deletion
        # here could overwrite; a dead cookie is replaced on its next request.
        return CookieAction.DELETE if session.stale_cookie else CookieAction.KEEP
    return CookieAction.SET


def _ended(session: Session, *, expired: bool) -> None:
    """Turn ``session`` into a new empty one: its stored item was deleted or expired under it,
    and nothing of it may be written back (under its id or, with its data, under another)."""
    dict.clear(session)
    session.session_id = new_session_id()
    session.stored = None
    session.created = None
    session.timeout = None
    session.user_id = None
    session.cleared = session.modified = False
    session.stale_cookie = expired


def _key(config: StoreConfig, session_id: str) -> str:
    return storage_key(session_id, config.key_prefix)


def _saved(
    session: Session, stored: StoredState | None, data: dict[str, Any], merged: bool
) -> None:
    """Record a successful save of ``data`` as ``stored`` (``None``: emptied and deleted)."""
    session.stored = stored
    if merged:
        # The session now holds what was written, other requests' keys included, so that a
        # second save of it (Django's can) does not read those keys as deleted.
        dict.clear(session)
        dict.update(session, data)
    session.cleared = False  # the clear is stored; a later save merges again


def _is_own_write(state: StoredState, values: Mapping[str, bytes], version: int) -> bool:
    """Tell whether the stored item is the one this request wrote: the version it wrote and
    the very bytes (encrypted blobs are unique per write; plain ones equal means same data)."""
    return state.version == version and state.raw is None and dict(state.values) == values


def _read_if_intact(config: StoreConfig, session_id: str) -> Flow[StoredState | None]:
    try:
        return (yield from read_item(config, session_id))
    except CorruptSessionError:
        return None


def decode_state(codec: Codec, state: StoredState, key: str) -> dict[str, Any]:
    """The session data of the item read as ``state`` (stored under ``key``): its keys' values,
    or the ``data`` blob of an item of 0.1. Raises :class:`CorruptSessionError` on any value
    that cannot be decoded. Kept on ``state`` (``decoded``) for :func:`_stored_data`."""
    data = {} if state.raw is None else codec.decode(state.raw, item_key=key)
    for name, blob in state.values.items():
        data[name] = codec.decode_value(name, blob, item_key=key)
    # A cache of a frozen record, set once, as dataclasses sets the fields of one.
    object.__setattr__(state, "decoded", (codec, state.values, dict(data)))
    return data


# Types whose values nothing changes in place: a session still holding the very object its
# load decoded holds the value that is stored (a float unless NaN, which differs from itself).
_IMMUTABLE = frozenset({str, int, bool, float, bytes, type(None)})
_ABSENT: Any = object()


def _stored_data(
    codec: Codec, state: StoredState, key: str, current: Mapping[str, Any]
) -> dict[str, Any]:
    """:func:`_decode_or_empty` of ``state``, for a save of ``current``: a value the load of
    ``state`` decoded (:func:`decode_state`) that ``current`` still holds, the very object, of
    a type nothing changes in place, is not decoded again (on the most common save, which
    changes a key or two, most values and the largest ones are such)."""
    memo = state.decoded
    if memo is None or memo[0] is not codec or memo[1] is not state.values or state.raw is not None:
        return _decode_or_empty(codec, state, key)
    as_read = memo[2]
    data: dict[str, Any] = {}
    for name, blob in state.values.items():
        value = current.get(name, _ABSENT)
        if value is as_read.get(name, _ABSENT) and type(value) in _IMMUTABLE and value == value:
            data[name] = value
            continue
        try:
            data[name] = codec.decode_value(name, blob, item_key=key)
        except CorruptSessionError:
            continue
    return data


def is_current(codec: Codec, state: StoredState) -> bool:
    """Tell whether the item read as ``state`` is stored as this library writes now: not in
    0.1's format, every value under the newest encryption key. A refresh rewrites it if not."""
    return state.raw is None and all(codec.is_current(blob) for blob in state.values.values())


def encode_values(codec: Codec, data: Mapping[str, Any], key: str) -> dict[str, bytes]:
    """Each value of ``data`` in its stored form, for the item stored under ``key``."""
    return {name: codec.encode_value(name, value, item_key=key) for name, value in data.items()}


def _decode_or_empty(codec: Codec, state: StoredState, key: str) -> dict[str, Any]:
    """The data of ``state``; a value that no longer decodes (keys changed mid-request) counts
    as absent, so this request's value for that key is written."""
    data: dict[str, Any] = {}
    if state.raw is not None:
        with contextlib.suppress(CorruptSessionError):
            data = codec.decode(state.raw, item_key=key)
    for name, blob in state.values.items():
        try:
            data[name] = codec.decode_value(name, blob, item_key=key)
        except CorruptSessionError:
            continue
    return data


def _touched(state: StoredState, now: int, config: StoreConfig, **changes: Any) -> StoredState:
    """``state`` as a write at ``now`` leaves it, with ``changes`` (one copy): the expiry
    follows the ``timeout`` among them, else the one read."""
    expires = expires_at(now, idle_timeout(changes.get("timeout") or state.timeout, config), config)
    return dataclasses.replace(state, accessed=now, expires=expires, lock_owner=None, **changes)


def _held_lock(config: StoreConfig, state: StoredState) -> str | None:
    """The lock this request holds on the item it read (lock mode only).

    Outside lock mode a lock seen on an item is not this request's and is never released.
    """
    return state.lock_owner if config.lock is not None else None

"""Generator flows: every store operation written once, free of I/O.

A flow yields :class:`Call` steps (one botocore client call each) and :class:`Sleep` steps, and
receives each call's reply: the response dict, or :class:`Failed` when DynamoDB answered with an
error code the step said it handles. A sync and an async driver in ``store.py`` run the same
flows, so no decision is written twice. ``now`` (epoch seconds) is always passed in.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..codec import Codec
from ..config import StoreConfig
from ..exceptions import CorruptSessionError, SessionConflictError, SessionExistsError
from ..ids import is_well_formed, log_safe, new_session_id, storage_key
from ..session import Session
from . import requests
from .items import StoredState, build_item, expires_at, is_valid, parse_item, touch_due
from .lifecycle import CookieAction, CookieUpdate, Write, cookie_update, decide

logger = logging.getLogger("dynamodb_sessions")

T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    """Call ``operation`` (a botocore client method name) with ``params``.

    ``handles`` names the AWS error codes the flow deals with itself; the driver sends those
    back as :class:`Failed` and raises any other error.
    """

    operation: str
    params: dict[str, Any]
    handles: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Sleep:
    """Wait ``seconds``; the driver replies with the time afterwards (epoch seconds)."""

    seconds: float


@dataclass(frozen=True)
class Failed:
    """DynamoDB answered a :class:`Call` with an error code the call handles."""

    code: str


Step = Call | Sleep
Reply = Any  # a response dict, a Failed, or (after a Sleep) the current time
Flow = Generator[Step, Reply, T]

_CONFLICT = frozenset({requests.CONDITION_FAILED})


class SaveOutcome(enum.Enum):
    """How a save ended."""

    SAVED = "saved"
    UNCHANGED = "unchanged"  # nothing differed from what was read; no data write was needed
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


def read_item(config: StoreConfig, session_id: str) -> Flow[StoredState | None]:
    """Read the item of ``session_id``; ``None`` if absent. Does not judge validity."""
    reply = yield Call("get_item", requests.get_session(config, _key(config, session_id)))
    item = reply.get("Item")
    return parse_item(item, config.attributes) if item else None


def load(config: StoreConfig, codec: Codec, session_id: str | None, now: int) -> Flow[Session]:
    """Load the session a cookie names, or a new empty one.

    An id that is malformed never reaches DynamoDB; an unknown, expired or corrupt one yields a
    new empty session (with a new id) flagged ``stale_cookie`` so the cookie gets replaced.
    """
    if not is_well_formed(session_id):
        return Session(stale_cookie=bool(session_id))
    assert session_id is not None  # is_well_formed() said so; this tells the type checker
    try:
        state = yield from read_item(config, session_id)
        if state is None or not is_valid(state, now, config):
            return Session(stale_cookie=True)
        data = codec.decode(state.raw)
    except CorruptSessionError as exc:
        logger.warning("session %s: discarding corrupt item: %s", log_safe(session_id), exc)
        return Session(stale_cookie=True)
    return Session(data, session_id=session_id, stored=state)


def exists(config: StoreConfig, session_id: str, now: int) -> Flow[bool]:
    """Tell whether ``session_id`` names a valid stored session."""
    if not is_well_formed(session_id):
        return False
    try:
        state = yield from read_item(config, session_id)
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
    """
    blob = codec.encode(session.to_dict())
    timeout = session.timeout or config.timeout
    for _ in range(3):
        item = build_item(
            _key(config, session.session_id),
            blob,
            now=now,
            created=now,
            timeout=timeout,
            version=1,
            user_id=session.user_id,
            config=config,
        )
        reply = yield Call("put_item", requests.create_session(config, item), _CONFLICT)
        if not isinstance(reply, Failed):
            session.stored = parse_item(item, config.attributes)
            return
        if keep_id:
            raise SessionExistsError("a session with this id already exists")
        session.session_id = new_session_id()
    raise SessionConflictError("could not find a free session id")


def save(config: StoreConfig, codec: Codec, session: Session, now: int) -> Flow[SaveOutcome]:
    """Write a stored session's changes, conditional on the version this request read.

    On a conflict the item is read again and only this request's own changes (keys set, keys
    deleted, a clear) are applied to the fresh copy, so concurrent requests that change
    different keys never lose each other's updates. Bounded by ``max_conflict_retries``.
    """
    state = session.stored
    if state is None:
        yield from create(config, codec, session, now)
        return SaveOutcome.SAVED
    data = session.to_dict()
    changes = diff(_decode_or_empty(codec, state.raw), data, session.cleared)
    timeout = session.timeout or config.timeout
    if not changes and timeout == state.timeout and session.user_id == state.user_id:
        if touch_due(state, now, config):
            yield from touch(config, session, now)
        return SaveOutcome.UNCHANGED
    key = _key(config, session.session_id)
    for _ in range(config.max_conflict_retries + 1):
        item = build_item(
            key,
            codec.encode(data),
            now=now,
            created=state.created,
            timeout=timeout,
            version=state.version + 1,
            user_id=session.user_id,
            config=config,
        )
        params = requests.save_session(config, item, state.version)
        reply = yield Call("update_item", params, _CONFLICT)
        if not isinstance(reply, Failed):
            session.stored = parse_item(item, config.attributes)
            return SaveOutcome.SAVED
        fresh = yield from read_item(config, session.session_id)
        if fresh is None or not is_valid(fresh, now, config):
            session.stored = None
            return SaveOutcome.GONE
        state = fresh
        data = changes.apply(_decode_or_empty(codec, fresh.raw))
    raise SessionConflictError(
        f"session {log_safe(session.session_id)} changed under {config.max_conflict_retries + 1} "
        "attempts to save it"
    )


def touch(config: StoreConfig, session: Session, now: int) -> Flow[None]:
    """Record activity on an unmodified session without rewriting its data.

    A conflict means another request wrote the item meanwhile (refreshing it) or deleted it;
    either way there is nothing left to do.
    """
    state = session.stored
    if state is None:
        return
    params = requests.touch_session(
        config,
        _key(config, session.session_id),
        now=now,
        expires=expires_at(now, state.timeout, config),
        expected_version=state.version,
    )
    reply = yield Call("update_item", params, _CONFLICT)
    if not isinstance(reply, Failed):
        session.stored = _touched(state, now, config)


def delete(config: StoreConfig, session_id: str) -> Flow[None]:
    """Delete the item of ``session_id`` (a malformed id has none)."""
    if is_well_formed(session_id):
        yield Call("delete_item", requests.delete_session(config, _key(config, session_id)))


def rotate(config: StoreConfig, codec: Codec, session: Session, now: int) -> Flow[None]:
    """Move a session to a new id now: store the data under the new id, then drop the old item.

    Written in that order so that a failure half way leaves the old session usable.
    """
    session.rotate()
    yield from create(config, codec, session, now)
    for old in session.retired_ids:
        yield from delete(config, old)
    session.retired_ids.clear()


def finish(
    config: StoreConfig, codec: Codec, session: Session, now: int, *, always_save: bool = False
) -> Flow[CookieUpdate]:
    """Carry out the end-of-request :func:`~._core.lifecycle.decide` decision; say what to do
    with the cookie."""
    plan = decide(session, now, config, always_save=always_save)
    cookie = plan.cookie
    if plan.write is Write.CREATE:
        yield from create(config, codec, session, now)
    elif plan.write is Write.SAVE:
        if (yield from save(config, codec, session, now)) is SaveOutcome.GONE:
            cookie = CookieAction.DELETE
    elif plan.write is Write.TOUCH:
        yield from touch(config, session, now)
    elif plan.write is Write.DELETE:
        yield from delete(config, session.session_id)
        session.stored = None
    for old in plan.retire:
        yield from delete(config, old)
    session.retired_ids.clear()
    return cookie_update(session, cookie, config)


def _key(config: StoreConfig, session_id: str) -> str:
    return storage_key(session_id, config.key_prefix)


def _decode_or_empty(codec: Codec, raw: bytes) -> dict[str, Any]:
    try:
        return codec.decode(raw)
    except CorruptSessionError:
        return {}


def _touched(state: StoredState, now: int, config: StoreConfig) -> StoredState:
    return dataclasses.replace(state, accessed=now, expires=expires_at(now, state.timeout, config))

"""Session records as DynamoDB items, and the arithmetic of expiry. Pure: ``now`` is passed in."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..config import VALUE_PREFIX, Attributes, StoreConfig
from ..exceptions import BackendUnavailableError, CorruptSessionError, SessionTooLargeError

Item = dict[str, dict[str, Any]]
"""A DynamoDB item in wire format: ``{"id": {"S": "..."}, "version": {"N": "3"}, ...}``."""


@dataclass(frozen=True)
class StoredState:
    """What a load read about a stored session, besides its data.

    ``values`` holds each session key's stored value as read (its own attribute, still encoded):
    a save decodes them again to learn which keys this request changed, so a read-only request
    never pays for that. ``raw`` is the ``data`` blob of an item written by 0.1 (the whole
    session in one attribute), ``None`` on items of this format; its next write converts it.
    ``timeout`` is the idle timeout pinned on this one session (Django's ``set_expiry(n)``),
    or ``None``: then the configured timeout is in force, whatever it was when the item was
    written (:func:`idle_timeout`).
    """

    version: int
    created: int
    accessed: int
    timeout: int | None
    expires: int
    raw: bytes | None = None
    user_id: str | None = None
    lock_owner: str | None = None  # lock mode: the lease this request holds on the item
    values: Mapping[str, bytes] = field(default_factory=dict)
    # What the load decoded of ``values`` (``flows.decode_state``): (codec, values, data). Set
    # once, by that decoding; a save need not decode again what the session still holds as read.
    decoded: tuple[Any, Mapping[str, bytes], Mapping[str, Any]] | None = field(
        default=None, init=False, compare=False, repr=False
    )


def value_attribute(name: str) -> str:
    """The attribute that stores session key ``name``."""
    return VALUE_PREFIX + name


def idle_timeout(pinned: int | None, config: StoreConfig) -> int:
    """The idle timeout in force: the one pinned on the session, else the configured one."""
    return config.timeout if pinned is None else pinned


def expires_at(now: int, timeout: int, config: StoreConfig) -> int:
    """When an item last active at ``now`` may be deleted: never before its session is invalid."""
    return now + max(config.effective_gc_lifetime, timeout)


def is_valid(state: StoredState, now: float, config: StoreConfig) -> bool:
    """Tell whether a stored session may still be used at ``now``.

    Checked on every read: DynamoDB's TTL deletes expired items late (often days late). Every
    write repeats the same test in its condition (:func:`validity_bounds`), so a session that
    expires between a request's read and its write is never brought back.
    """
    if now >= state.accessed + idle_timeout(state.timeout, config) or now >= state.expires:
        return False
    return config.absolute_timeout is None or now < state.created + config.absolute_timeout


@dataclass(frozen=True)
class ValidityBounds:
    """:func:`is_valid` as bounds a condition expression can test (it has no arithmetic):
    the item is valid at ``now`` iff ``accessed > used_after``, ``expires > now`` and, with
    an absolute timeout, ``created > born_after``."""

    now: int
    used_after: int
    born_after: int | None


def validity_bounds(state: StoredState, now: int, config: StoreConfig) -> ValidityBounds:
    """The bounds of a write conditional on the item read as ``state`` being valid at ``now``.

    The idle timeout is the one ``state`` says is in force. The whole-session write is also
    conditional on the version read, so the timeout cannot have changed under it; an update of
    what changed is not (two requests that change different keys never conflict), so a timeout
    another request pinned after this one read is not seen: the update writes the timeout this
    request holds, the pinned timeout being last writer wins like any key.
    """
    return _bounds(now, idle_timeout(state.timeout, config), config)


def unread_bounds(now: float, config: StoreConfig) -> ValidityBounds:
    """The bounds of a write that has not read the item (the lock's): with the configured idle
    timeout, which binds only items that pin none (``requests._valid_condition``).

    ``now`` may have a fraction: the bounds take its whole second, which is exact since the
    attributes they bound are whole seconds (``a > x`` iff ``a > floor(x)`` for a whole ``a``).
    """
    return _bounds(math.floor(now), config.timeout, config)


def _bounds(now: int, timeout: int, config: StoreConfig) -> ValidityBounds:
    absolute = config.absolute_timeout
    return ValidityBounds(
        now=now,
        used_after=now - timeout,
        born_after=None if absolute is None else now - absolute,
    )


def touch_due(state: StoredState, now: int, config: StoreConfig) -> bool:
    """Tell whether enough of the idle timeout has passed to refresh an unmodified session."""
    return now - state.accessed >= config.touch_after * idle_timeout(state.timeout, config)


def build_item(
    key: str,
    values: Mapping[str, bytes],
    *,
    now: int,
    created: int,
    timeout: int | None,
    version: int,
    user_id: str | None,
    config: StoreConfig,
) -> Item:
    """Return the full item for a session written at ``now``, checking DynamoDB's size limit.

    ``values`` are the session's keys, each encoded on its own (``Codec.encode_value``).
    ``timeout`` is stored only when pinned on this session (``None``: the configured one), so
    a change of the configured timeout applies to stored sessions on their next read.
    """
    names = config.attributes
    item: Item = {
        names.key: {"S": key},
        names.expires: {"N": str(expires_at(now, idle_timeout(timeout, config), config))},
        names.accessed: {"N": str(now)},
        names.created: {"N": str(created)},
        names.version: {"N": str(version)},
    }
    for name, blob in values.items():
        item[value_attribute(name)] = {"B": blob}
    if timeout is not None:
        item[names.pinned_timeout] = {"N": str(timeout)}
    if user_id is not None:
        item[names.user] = {"S": user_id}
    size = item_size(item) + lock_reserve(config)
    if size > config.max_item_bytes:
        raise SessionTooLargeError(size, config.max_item_bytes)
    return item


def surely_fits(
    key: str,
    values: Iterable[Mapping[str, bytes]],
    user_id: str | None,
    largest: int,
    config: StoreConfig,
) -> bool:
    """Tell, cheaply, whether the item :func:`build_item` would make of ``key``, the session
    keys of all ``values``, ``user_id`` and numbers up to ``largest`` is sure to pass
    its size guard, by an upper bound on its size: every character of a name or string 4
    bytes (UTF-8's most), every number :data:`MAX_NUMBER_BYTES`, a key in several of
    ``values`` counted in each. A write far below the limit (most are) need not build the
    item to measure it exactly."""
    if largest >= _NUMBER_BOUND:
        return False
    size = _fixed_bound(config.attributes) + 4 * len(key) + lock_reserve(config)
    if user_id is not None:
        size += 4 * len(user_id)
    for mapping in values:
        size += sum(map(len, mapping.values())) + 4 * sum(map(len, mapping))
        size += len(VALUE_PREFIX) * len(mapping)
    return size <= config.max_item_bytes


@functools.cache
def _fixed_bound(names: Attributes) -> int:
    """The most that the attributes of every session item but its key's value and the session
    keys take: their names, the numbers' values, a pinned timeout's included."""
    fixed = (names.key, names.expires, names.accessed, names.created, names.version)
    numbers = 5  # expires, accessed, created, version, the pinned timeout
    return sum(len(name.encode()) for name in (*fixed, names.pinned_timeout, names.user)) + (
        numbers * MAX_NUMBER_BYTES
    )


LOCK_OWNER_CHARS = 32  # lock.new_owner(): 16 random bytes in hex
MAX_NUMBER_BYTES = 21  # DynamoDB's largest number (38 digits), as stored
_NUMBER_BOUND = 10**40  # a whole number below it takes MAX_NUMBER_BYTES at most (item_size)


def lock_reserve(config: StoreConfig) -> int:
    """Lock mode: the bytes the lock attributes add to an item while a request holds it.

    Kept free by the size guard: an item that fits only without them could be written but
    never locked again, so every later load of it would fail.
    """
    if config.lock is None:
        return 0
    names = config.attributes
    return (
        len(names.lock_owner.encode())
        + LOCK_OWNER_CHARS
        + len(names.lock_expires.encode())
        + MAX_NUMBER_BYTES
    )


def parse_item(item: Item, names: Attributes) -> StoredState:
    """Read a stored item; raise :class:`CorruptSessionError` if it lacks what a session needs.

    The ``timeout`` attribute of items written by 0.1 (which stored the timeout then in force
    on every item, pinned or not) is ignored: the configured timeout applies to them.
    """
    try:
        user = item.get(names.user)
        owner = item.get(names.lock_owner)
        pinned = item.get(names.pinned_timeout)
        legacy = item.get(names.data)
        return StoredState(
            version=int(item[names.version]["N"]),
            created=int(item[names.created]["N"]),
            accessed=int(item[names.accessed]["N"]),
            timeout=None if pinned is None else int(pinned["N"]),
            expires=int(item[names.expires]["N"]),
            raw=bytes(legacy["B"]) if legacy else None,
            user_id=user["S"] if user else None,
            lock_owner=owner["S"] if owner else None,
            values={
                name[len(VALUE_PREFIX) :]: bytes(value["B"])
                for name, value in item.items()
                if name.startswith(VALUE_PREFIX)
            },
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptSessionError(f"stored item is missing or has a bad attribute: {exc}") from exc


FOREIGN_ITEM = "ForeignItem"
"""The error code of an answer that carries another item than the one asked for."""


def own_item(item: Item, key: str, names: Attributes, operation: str) -> Item:
    """Return ``item``, the answer to a request about the item of ``key``, if it is that item.

    An answer about another item is a fault, never data: it was meant for another request (a
    connection shared by two processes after a fork, a confused proxy), and reading it would
    hand this user another user's session. It raises :class:`BackendUnavailableError` (code
    ``ForeignItem``): a retry, on connections of this process, can cure it.
    """
    found = item.get(names.key)
    if not isinstance(found, dict) or found.get("S") != key:
        raise BackendUnavailableError(
            "DynamoDB answered with another item than the one asked for (a connection shared "
            "by two processes?); the answer was discarded",
            code=FOREIGN_ITEM,
            operation=operation,
        )
    return item


def item_size(item: Item) -> int:
    """The item's size by DynamoDB's rules (names + values), as billed and as limited to 400 KB."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "B":
        return len(inner)
    if kind == "N":
        # Numbers take about one byte per two significant digits, plus one.
        digits = str(inner).lstrip("-").replace(".", "").strip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    return len(str(inner).encode())  # not used for session items; a safe over-estimate

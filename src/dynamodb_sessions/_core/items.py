"""Session records as DynamoDB items, and the arithmetic of expiry. Pure: ``now`` is passed in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import Attributes, StoreConfig
from ..exceptions import CorruptSessionError, SessionTooLargeError

Item = dict[str, dict[str, Any]]
"""A DynamoDB item in wire format: ``{"id": {"S": "..."}, "version": {"N": "3"}, ...}``."""


@dataclass(frozen=True)
class StoredState:
    """What a load read about a stored session, besides its data.

    ``raw`` is the stored ``data`` blob as read: a save decodes it again to learn which keys this
    request changed, so a read-only request never pays for that.
    """

    version: int
    created: int
    accessed: int
    timeout: int
    expires: int
    raw: bytes
    user_id: str | None = None
    lock_owner: str | None = None  # lock mode: the lease this request holds on the item


def expires_at(now: int, timeout: int, config: StoreConfig) -> int:
    """When an item last active at ``now`` may be deleted: never before its session is invalid."""
    return now + max(config.effective_gc_lifetime, timeout)


def is_valid(state: StoredState, now: float, config: StoreConfig) -> bool:
    """Tell whether a stored session may still be used at ``now``.

    Checked on every read: DynamoDB's TTL deletes expired items late (often days late).
    """
    if now >= state.accessed + state.timeout or now >= state.expires:
        return False
    return config.absolute_timeout is None or now < state.created + config.absolute_timeout


def touch_due(state: StoredState, now: int, config: StoreConfig) -> bool:
    """Tell whether enough of the idle timeout has passed to refresh an unmodified session."""
    return now - state.accessed >= config.touch_after * state.timeout


def build_item(
    key: str,
    blob: bytes,
    *,
    now: int,
    created: int,
    timeout: int,
    version: int,
    user_id: str | None,
    config: StoreConfig,
) -> Item:
    """Return the full item for a session written at ``now``, checking DynamoDB's size limit."""
    names = config.attributes
    item: Item = {
        names.key: {"S": key},
        names.data: {"B": blob},
        names.expires: {"N": str(expires_at(now, timeout, config))},
        names.accessed: {"N": str(now)},
        names.created: {"N": str(created)},
        names.timeout: {"N": str(timeout)},
        names.version: {"N": str(version)},
    }
    if user_id is not None:
        item[names.user] = {"S": user_id}
    size = item_size(item) + lock_reserve(config)
    if size > config.max_item_bytes:
        raise SessionTooLargeError(size, config.max_item_bytes)
    return item


LOCK_OWNER_CHARS = 32  # lock.new_owner(): 16 random bytes in hex
MAX_NUMBER_BYTES = 21  # DynamoDB's largest number (38 digits), as stored


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
    """Read a stored item; raise :class:`CorruptSessionError` if it lacks what a session needs."""
    try:
        user = item.get(names.user)
        owner = item.get(names.lock_owner)
        return StoredState(
            version=int(item[names.version]["N"]),
            created=int(item[names.created]["N"]),
            accessed=int(item[names.accessed]["N"]),
            timeout=int(item[names.timeout]["N"]),
            expires=int(item[names.expires]["N"]),
            raw=bytes(item[names.data]["B"]),
            user_id=user["S"] if user else None,
            lock_owner=owner["S"] if owner else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptSessionError(f"stored item is missing or has a bad attribute: {exc}") from exc


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

"""What is in the session table: counts, sizes and formats from a parallel scan (``stats``).

Each segment's flow reads whole items page by page and counts them into a :class:`Census` of its
own (no lock: one flow runs in one place at a time); the driver merges the segments' censuses
once at the end, and :func:`summarize` turns the result into :class:`TableStats`. Memory is
bounded by the distinct item sizes (at most 400 KB of them) and the distinct users, never by the
number of items, and the percentiles are exact.

Nothing here decrypts or decodes a value: a value's format is its first byte (``codec``), so an
encrypted value's compression is not visible, and the command needs no encryption key. No
session id (the table never holds one), table key or user id leaves this module: users are
counted, never named.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..codec import ENCRYPTED, ZLIB
from ..config import VALUE_PREFIX, StoreConfig
from . import requests
from .items import Item, item_size
from .scan import check_segments
from .steps import Call, Flow

PERCENTILES = (50, 90, 99)


@dataclass(frozen=True)
class ScanProgress:
    """How far a scan has got: the running total a progress display sees."""

    segments: int = 1
    segments_done: int = 0
    scanned: int = 0

    def __add__(self, other: ScanProgress) -> ScanProgress:
        return ScanProgress(
            segments=max(self.segments, other.segments),
            segments_done=self.segments_done + other.segments_done,
            scanned=self.scanned + other.scanned,
        )


ProgressHook = Callable[[ScanProgress], None]
"""Called after each scanned page (by a store: with the running total of every segment)."""


@dataclass
class Census:
    """What the scan of some segments counted (mutable while one segment's flow counts)."""

    scanned: int = 0
    sessions: int = 0
    expired: int = 0
    oldest_expiry: int | None = None  # the earliest ``expires`` among the expired items
    revocation_marks: int = 0
    compressed: int = 0
    encrypted: int = 0
    sizes: Counter[int] = field(default_factory=Counter)
    per_user: Counter[str] = field(default_factory=Counter)

    def count(self, item: Item, now: int, config: StoreConfig) -> None:
        """Count one scanned item: a session, or a user's revocation mark."""
        names = config.attributes
        if requests.REVOKED in item:
            self.revocation_marks += 1
            return
        self.sessions += 1
        self.sizes[item_size(item)] += 1
        expires = _number(item.get(names.expires))
        if expires is not None and expires < now:  # as gc judges it (and TTL)
            self.expired += 1
            if self.oldest_expiry is None or expires < self.oldest_expiry:
                self.oldest_expiry = expires
        formats = {
            bytes(value["B"][:1])
            for name, value in item.items()
            if (name.startswith(VALUE_PREFIX) or name == names.data) and "B" in value
        }
        self.compressed += ZLIB in formats
        self.encrypted += ENCRYPTED in formats
        user = item.get(names.user, {}).get("S")
        if user is not None:
            self.per_user[user] += 1

    def merge(self, other: Census) -> None:
        """Add ``other``'s counts to these."""
        self.scanned += other.scanned
        self.sessions += other.sessions
        self.expired += other.expired
        if other.oldest_expiry is not None and (
            self.oldest_expiry is None or other.oldest_expiry < self.oldest_expiry
        ):
            self.oldest_expiry = other.oldest_expiry
        self.revocation_marks += other.revocation_marks
        self.compressed += other.compressed
        self.encrypted += other.encrypted
        self.sizes.update(other.sizes)
        self.per_user.update(other.per_user)


def _number(value: dict[str, Any] | None) -> int | None:
    try:
        return None if value is None else int(value["N"])
    except (KeyError, TypeError, ValueError):
        return None  # a malformed item is still counted, just not as expired


def census_segment(
    config: StoreConfig, now: int, segment: int, total: int, *, on_page: ProgressHook | None
) -> Flow[Census]:
    """Scan segment ``segment`` of ``total`` and count what it holds at ``now``."""
    census = Census()
    start_key: dict[str, Any] | None = None
    while True:
        params = requests.scan_items(
            config, segment=segment, total_segments=total, start_key=start_key
        )
        reply = yield Call("scan", params)
        items = reply.get("Items", [])
        for item in items:
            census.count(item, now, config)
        scanned = int(reply.get("ScannedCount", len(items)))
        census.scanned += scanned
        start_key = reply.get("LastEvaluatedKey")
        if on_page is not None:
            on_page(ScanProgress(total, segments_done=0 if start_key else 1, scanned=scanned))
        if not start_key:
            return census


def segment_flows(
    config: StoreConfig, now: int, segments: int, *, on_page: ProgressHook | None
) -> list[Flow[Census]]:
    """One :func:`census_segment` flow per segment, for a driver to run concurrently."""
    check_segments(segments)
    return [
        census_segment(config, now, segment, segments, on_page=on_page)
        for segment in range(segments)
    ]


@dataclass(frozen=True)
class TableStats:
    """What ``dynamodb-sessions stats`` reports about the table (this app's key prefix only).

    ``sessions`` counts the session items present, expired ones included; ``expired`` those
    whose ``expires`` (the TTL attribute) has passed but which are still there, the oldest for
    ``oldest_expired_seconds`` (TTL's lag, or no TTL and no ``gc``). Item sizes are by
    DynamoDB's rules, as billed, with nearest-rank percentiles (``size_percentiles``: 50, 90,
    99 and 100 to bytes; empty without sessions). ``compressed`` and ``encrypted`` count the
    sessions with at least one value stored so (an encrypted value's compression is hidden).
    ``sessions_per_user`` maps a number of sessions to how many users have that many;
    ``revocation_marks`` are the items "log out everywhere" leaves for a while.
    """

    segments: int
    scanned: int
    sessions: int
    expired: int
    oldest_expired_seconds: int | None
    revocation_marks: int
    size_percentiles: dict[int, int]
    compressed: int
    encrypted: int
    users: int
    sessions_with_user: int
    sessions_per_user: dict[int, int]

    def share(self, count: int) -> float:
        """``count`` as a part of :attr:`sessions` (0 when there are none), to 4 places."""
        return round(count / self.sessions, 4) if self.sessions else 0.0

    def to_json(self) -> dict[str, Any]:
        """The stats as plain JSON values, for scripts (``stats --json``)."""
        return {
            "segments": self.segments,
            "scanned": self.scanned,
            "sessions": self.sessions,
            "expired": self.expired,
            "oldest_expired_seconds": self.oldest_expired_seconds,
            "revocation_marks": self.revocation_marks,
            "size_bytes": {_percentile_name(p): size for p, size in self.size_percentiles.items()},
            "compressed": self.compressed,
            "compressed_share": self.share(self.compressed),
            "encrypted": self.encrypted,
            "encrypted_share": self.share(self.encrypted),
            "users": self.users,
            "sessions_with_user": self.sessions_with_user,
            "sessions_per_user": {str(n): users for n, users in self.sessions_per_user.items()},
        }

    def lines(self) -> list[str]:
        """The stats for people, one fact a line."""
        out = [
            f"sessions: {self.sessions} (scanned {self.scanned} items in {self.segments} segments)"
        ]
        lag = (
            ""
            if self.oldest_expired_seconds is None
            else f" (the oldest expired {_duration(self.oldest_expired_seconds)} ago)"
        )
        out.append(f"expired but still present: {self.expired}{lag}")
        if self.size_percentiles:
            sizes = ", ".join(
                f"{_percentile_name(p)} {size}" for p, size in self.size_percentiles.items()
            )
            out.append(f"item size (bytes): {sizes}")
        out.append(
            f"compressed: {self.compressed} ({self.share(self.compressed):.1%}), "
            f"encrypted: {self.encrypted} ({self.share(self.encrypted):.1%})"
        )
        out.append(
            f"users: {self.users}, with {self.sessions_with_user} sessions; "
            f"{self.sessions - self.sessions_with_user} sessions without a user"
        )
        if self.sessions_per_user:
            spread = ", ".join(f"{users} with {n}" for n, users in self.sessions_per_user.items())
            out.append(f"users by sessions held: {spread}")
        out.append(f"revocation marks: {self.revocation_marks}")
        return out


def summarize(censuses: Iterable[Census], now: int, segments: int) -> TableStats:
    """The :class:`TableStats` of a scan at ``now`` whose segments counted ``censuses``."""
    total = Census()
    for census in censuses:
        total.merge(census)
    by_count = Counter(total.per_user.values())
    return TableStats(
        segments=segments,
        scanned=total.scanned,
        sessions=total.sessions,
        expired=total.expired,
        oldest_expired_seconds=None if total.oldest_expiry is None else now - total.oldest_expiry,
        revocation_marks=total.revocation_marks,
        size_percentiles=percentiles(total.sizes, (*PERCENTILES, 100)),
        compressed=total.compressed,
        encrypted=total.encrypted,
        users=len(total.per_user),
        sessions_with_user=sum(total.per_user.values()),
        sessions_per_user=dict(sorted(by_count.items())),
    )


def percentiles(counts: Counter[int], wanted: Iterable[int]) -> dict[int, int]:
    """Nearest-rank percentiles of the values ``counts`` counts: the ``p``-th is the smallest
    value at least ``p`` % of them do not exceed (so always one of the values). Empty when
    there are no values."""
    n = sum(counts.values())
    if not n:
        return {}
    ordered = sorted(counts.items())
    found = {}
    for p in wanted:
        rank, seen = max(1, math.ceil(p / 100 * n)), 0
        for value, times in ordered:
            seen += times
            if seen >= rank:
                found[p] = value
                break
    return found


def _percentile_name(p: int) -> str:
    return "max" if p == 100 else f"p{p}"


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"

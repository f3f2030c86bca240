"""Garbage collection of expired session items, for tables without TTL (or to be prompt).

The table is scanned in ``total`` parallel segments, one flow per segment; the driver runs the
flows concurrently. Each page of a segment is filtered to items whose ``expires`` has passed and
projects only the key, ``expires`` and ``version``. Each such item is then deleted by its own
DeleteItem, conditional on it still being expired and unchanged::

    scan sees item (expires < now) ──> a request refreshes it ──> delete: condition fails, kept
    scan sees item (expires < now) ──────────────────────────────> delete: gone

BatchWriteItem would cut the calls 25-fold but takes no condition, so a batched delete would
remove a session that a request refreshed between the scan and the delete. GC therefore never
batches deletes; its parallelism comes from the segments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..config import StoreConfig
from . import requests
from .scan import check_segments
from .steps import Call, Failed, Flow

_CONFLICT = frozenset({requests.CONDITION_FAILED})


@dataclass(frozen=True)
class GCReport:
    """What a garbage collection found and did (also the running total a progress hook sees).

    ``scanned`` items were read by the scan, ``expired`` of them had expired, ``deleted`` were
    removed, and ``kept`` were refreshed (or deleted by someone else) between the scan and the
    delete, so they stayed. With ``dry_run`` nothing is deleted and ``deleted`` is 0.
    """

    segments: int = 1
    scanned: int = 0
    expired: int = 0
    deleted: int = 0
    kept: int = 0
    segments_done: int = 0
    dry_run: bool = False

    def __add__(self, other: GCReport) -> GCReport:
        return GCReport(
            segments=max(self.segments, other.segments),
            scanned=self.scanned + other.scanned,
            expired=self.expired + other.expired,
            deleted=self.deleted + other.deleted,
            kept=self.kept + other.kept,
            segments_done=self.segments_done + other.segments_done,
            dry_run=self.dry_run or other.dry_run,
        )

    def summary(self) -> str:
        """One line for people: what was scanned, found and removed."""
        if self.dry_run:
            return (
                f"dry run: scanned {self.scanned} items in {self.segments} segments, "
                f"{self.expired} expired (nothing deleted)"
            )
        return (
            f"scanned {self.scanned} items in {self.segments} segments: {self.expired} expired, "
            f"{self.deleted} deleted, {self.kept} kept (refreshed meanwhile)"
        )


PageHook = Callable[[GCReport], None]
"""Called after each scanned page with that page's counts (not a running total)."""


def collect_segment(
    config: StoreConfig,
    now: int,
    segment: int,
    total: int,
    *,
    dry_run: bool = False,
    on_page: PageHook | None = None,
) -> Flow[GCReport]:
    """Scan segment ``segment`` of ``total`` and delete what expired before ``now``."""
    names = config.attributes
    report = GCReport(segments=total, dry_run=dry_run)
    start_key: dict[str, Any] | None = None
    while True:
        params = requests.scan_expired(
            config, now=now, segment=segment, total_segments=total, start_key=start_key
        )
        reply = yield Call("scan", params)
        items = reply.get("Items", [])
        deleted = kept = 0
        for item in [] if dry_run else items:
            version = item.get(names.version, {}).get("N")
            delete = requests.delete_expired(
                config,
                item[names.key]["S"],
                now=now,
                version=None if version is None else int(version),
            )
            outcome = yield Call("delete_item", delete, _CONFLICT)
            if isinstance(outcome, Failed):
                kept += 1
            else:
                deleted += 1
        start_key = reply.get("LastEvaluatedKey")
        page = GCReport(
            segments=total,
            scanned=int(reply.get("ScannedCount", len(items))),
            expired=len(items),
            deleted=deleted,
            kept=kept,
            segments_done=0 if start_key else 1,
            dry_run=dry_run,
        )
        report += page
        if on_page is not None:
            on_page(page)
        if not start_key:
            return report


def segment_flows(
    config: StoreConfig, now: int, segments: int, *, dry_run: bool, on_page: PageHook | None
) -> list[Flow[GCReport]]:
    """One :func:`collect_segment` flow per segment, for a driver to run concurrently."""
    check_segments(segments)
    return [
        collect_segment(config, now, segment, segments, dry_run=dry_run, on_page=on_page)
        for segment in range(segments)
    ]

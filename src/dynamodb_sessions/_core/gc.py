"""Garbage collection of expired session items, for tables without TTL (or to be prompt).

The table is scanned in ``total`` parallel segments, one flow per segment; the driver runs the
flows concurrently. Each page of a segment is filtered to items whose ``expires`` has passed and
projects only the key, ``expires`` and ``version``. What is then done with an expired item
depends on how long ago it expired, measured against the margin (``StoreConfig.gc_margin``,
an hour by default)::

    expired within the margin:  DeleteItem conditional on it still being expired and unchanged
        scan sees it (expires < now) ──> a request refreshes it ──> delete: condition fails, kept
    expired before now - margin: BatchWriteItem, 25 at a time, unconditional

Every write of a session is conditional on ``expires`` being after the writer's clock
(``requests._valid_condition``), and a create never overwrites an item. So once ``expires`` is
more than the margin behind GC's clock, no server whose clock is within the margin of GC's can
write the item again, and no request in flight longer than the margin exists (reads, lock waits
and retries are bounded by seconds): nothing can refresh it between the scan and the batch.
Revocation marks (``users.revocation_key``) can be set again after they expired, so they, and
any item whose key is not a session's, always take the conditional path.

Throttling (``ProvisionedThroughputExceededException`` and its kin past botocore's own retries)
and a batch's ``UnprocessedItems`` are retried here with growing, jittered waits, up to
:data:`THROTTLE_RETRIES` times in a row. A segment reports where it is after every page
(:class:`GCCheckpoint`), so a run that stops can go on from there.
"""

from __future__ import annotations

import functools
import json
import random
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..config import StoreConfig
from ..exceptions import BackendUnavailableError, ConfigurationError
from . import requests
from .scan import check_segments
from .steps import Call, Failed, Flow, Sleep

_CONFLICT = frozenset({requests.CONDITION_FAILED})
THROTTLED = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)
BATCH_SIZE = 25  # DynamoDB's most requests in one BatchWriteItem
THROTTLE_RETRIES = 10  # tries in a row that may be throttled before the run gives up
THROTTLE_BACKOFF_BASE = 0.05
THROTTLE_BACKOFF_CAP = 5.0
_jitter: Callable[[], float] = random.random  # a module attribute so tests can fix it
_SESSION_KEY = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class GCReport:
    """What a garbage collection found and did (also the running total a progress hook sees).

    ``scanned`` items were read by the scan, ``expired`` of them had expired, ``deleted`` were
    removed (``batched`` of them by BatchWriteItem, having expired longer ago than the margin),
    and ``kept`` were refreshed (or deleted by someone else) between the scan and their
    conditional delete, so they stayed. ``throttled`` counts the waits throttling (or a batch's
    unprocessed items) caused. With ``dry_run`` nothing is deleted and ``deleted`` is 0.
    """

    segments: int = 1
    scanned: int = 0
    expired: int = 0
    deleted: int = 0
    kept: int = 0
    segments_done: int = 0
    dry_run: bool = False
    batched: int = 0
    throttled: int = 0

    def __add__(self, other: GCReport) -> GCReport:
        return GCReport(
            segments=max(self.segments, other.segments),
            scanned=self.scanned + other.scanned,
            expired=self.expired + other.expired,
            deleted=self.deleted + other.deleted,
            kept=self.kept + other.kept,
            segments_done=self.segments_done + other.segments_done,
            dry_run=self.dry_run or other.dry_run,
            batched=self.batched + other.batched,
            throttled=self.throttled + other.throttled,
        )

    def summary(self) -> str:
        """One line for people: what was scanned, found and removed."""
        if self.dry_run:
            return (
                f"dry run: scanned {self.scanned} items in {self.segments} segments, "
                f"{self.expired} expired (nothing deleted)"
            )
        line = (
            f"scanned {self.scanned} items in {self.segments} segments: {self.expired} expired, "
            f"{self.deleted} deleted, {self.kept} kept (refreshed meanwhile); "
            f"{self.batched} of the deletes in batches"
        )
        return line + (f", {self.throttled} waits for throttling" if self.throttled else "")


PageHook = Callable[[GCReport], None]
"""Called with the running total after each scanned page."""


@dataclass
class GCCheckpoint:
    """Where a run is: for each segment of ``segments``, done, or the key its next page starts
    after (``ExclusiveStartKey``). A segment in neither has not finished a page yet.

    Saved as JSON (:meth:`dumps`, :meth:`loads`; never pickle) by ``gc --checkpoint FILE``, and
    given back to ``gc(resume=...)`` to go on where a stopped run was: done segments are
    skipped, the others rescan at most the page they were in (deleting again is harmless).
    """

    table: str
    segments: int
    done: set[int] = field(default_factory=set)
    next_keys: dict[int, dict[str, Any]] = field(default_factory=dict)

    def copy(self) -> GCCheckpoint:
        """A checkpoint of its own, equal to this one."""
        return GCCheckpoint(self.table, self.segments, set(self.done), dict(self.next_keys))

    @property
    def finished(self) -> bool:
        """Every segment is done."""
        return len(self.done) == self.segments

    def dumps(self) -> str:
        """The checkpoint as JSON text."""
        return json.dumps(
            {
                "table": self.table,
                "segments": self.segments,
                "done": sorted(self.done),
                "next": {str(segment): key for segment, key in sorted(self.next_keys.items())},
            }
        )

    @classmethod
    def loads(cls, text: str, config: StoreConfig) -> GCCheckpoint:
        """Read a checkpoint written by :meth:`dumps` for ``config``'s table.

        Raises :class:`ConfigurationError` for anything else (another table, a malformed file):
        resuming from a wrong position would skip items.
        """
        try:
            raw = json.loads(text)
            checkpoint = cls(
                table=str(raw["table"]),
                segments=int(raw["segments"]),
                done={int(segment) for segment in raw["done"]},
                next_keys={int(segment): key for segment, key in raw["next"].items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigurationError(f"not a GC checkpoint: {exc}") from None
        if checkpoint.table != config.table:
            raise ConfigurationError(
                f"the GC checkpoint is of table {checkpoint.table!r}, not {config.table!r}"
            )
        check_segments(checkpoint.segments)
        name = config.attributes.key
        for segment, key in checkpoint.next_keys.items():
            if not (
                0 <= segment < checkpoint.segments
                and isinstance(key, dict)
                and set(key) == {name}
                and isinstance(key[name], dict)
                and set(key[name]) == {"S"}
                and isinstance(key[name]["S"], str)
            ):
                raise ConfigurationError(f"the GC checkpoint's position {segment} is malformed")
        if not all(0 <= segment < checkpoint.segments for segment in checkpoint.done):
            raise ConfigurationError("the GC checkpoint names segments that do not exist")
        return checkpoint


CheckpointHook = Callable[[GCCheckpoint], None]
"""Called with a copy of the checkpoint after each page (from one thread at a time)."""


def throttle_backoff(attempt: int) -> float:
    """Seconds to wait before try ``attempt`` (1, 2, ...) of a throttled call: full jitter,
    uniform in [0, min(cap, base * 2**attempt)], so many segments do not retry in lockstep."""
    return _jitter() * min(THROTTLE_BACKOFF_CAP, THROTTLE_BACKOFF_BASE * 2.0**attempt)


Tracker = Callable[[GCReport, "dict[str, Any] | None"], None]
"""What a segment tells its run after each page: the page's counts and where it goes on."""


def collect_segment(
    config: StoreConfig,
    now: int,
    segment: int,
    total: int,
    *,
    dry_run: bool = False,
    on_page: Tracker | None = None,
    start_key: dict[str, Any] | None = None,
    page_size: int | None = None,
) -> Flow[GCReport]:
    """Scan segment ``segment`` of ``total`` from ``start_key`` and delete what expired before
    ``now``: by batches what expired before ``now - config.gc_margin``, the rest one by one,
    conditionally.
    """
    report = GCReport(segments=total, dry_run=dry_run)
    while True:
        params = requests.scan_expired(
            config, now=now, segment=segment, total_segments=total, start_key=start_key
        )
        if page_size is not None:
            params["Limit"] = page_size
        waits = _Waits()
        reply = yield from _patiently(Call("scan", params), waits)
        items = reply.get("Items", [])
        page = GCReport(
            segments=total,
            scanned=int(reply.get("ScannedCount", len(items))),
            expired=len(items),
            dry_run=dry_run,
        )
        if not dry_run:
            page += yield from _delete_expired(config, items, now, waits)
        start_key = reply.get("LastEvaluatedKey")
        page += GCReport(segments=total, throttled=waits.count)
        if not start_key:
            page += GCReport(segments=total, segments_done=1)
        report += page
        if on_page is not None:
            on_page(page, start_key)
        if not start_key:
            return report


def _delete_expired(
    config: StoreConfig, items: list[dict[str, Any]], now: int, waits: _Waits
) -> Flow[GCReport]:
    """Delete the expired ``items`` of one page: in batches those expired before the margin,
    the others one by one, conditionally."""
    before = now - config.gc_margin
    key = config.attributes.key
    old = [item for item in items if _batchable(config, item, before)]
    done = GCReport()
    for i in range(0, len(old), BATCH_SIZE):
        keys = [{key: item[key]} for item in old[i : i + BATCH_SIZE]]
        done += yield from _delete_batch(config, keys, waits)
    for item in items:
        if not _batchable(config, item, before):
            done += yield from _delete_one(config, item, now, waits)
    return done


def _batchable(config: StoreConfig, item: dict[str, Any], before: int) -> bool:
    """Whether ``item`` may go in a batch: a session's item, expired before ``before``."""
    names = config.attributes
    key = item[names.key]["S"]
    expires = item.get(names.expires, {}).get("N")
    return (
        expires is not None
        and float(expires) < before
        and key.startswith(config.key_prefix)
        and _SESSION_KEY.fullmatch(key[len(config.key_prefix) :]) is not None
    )


@dataclass
class _Waits:
    """The waits for throttling one page of a segment took (``count``), and how many calls in
    a row were throttled or left items unprocessed (``streak``: each wait is longer)."""

    count: int = 0
    streak: int = 0


def _delete_one(
    config: StoreConfig, item: dict[str, Any], now: int, waits: _Waits
) -> Flow[GCReport]:
    names = config.attributes
    version = item.get(names.version, {}).get("N")
    params = requests.delete_expired(
        config, item[names.key]["S"], now=now, version=None if version is None else int(version)
    )
    outcome = yield from _patiently(Call("delete_item", params, _CONFLICT), waits)
    if isinstance(outcome, Failed):
        return GCReport(kept=1)
    return GCReport(deleted=1)


def _delete_batch(config: StoreConfig, keys: list[dict[str, Any]], waits: _Waits) -> Flow[GCReport]:
    """BatchWriteItem deleting ``keys``; what DynamoDB leaves unprocessed (it does so when
    throttled) is sent again after a growing wait, until everything went."""
    pending: list[dict[str, Any]] = [{"DeleteRequest": {"Key": key}} for key in keys]
    while pending:
        params = {"RequestItems": {config.table: pending}}
        reply = yield from _patiently(Call("batch_write_item", params), waits)
        pending = reply.get("UnprocessedItems", {}).get(config.table, [])
        if pending:
            yield from _wait("batch_write_item", "UnprocessedItems", waits)
    count = len(keys)
    return GCReport(deleted=count, batched=count)


def _patiently(step: Call, waits: _Waits) -> Flow[Any]:
    """Make ``step``; when DynamoDB throttles it, wait longer and longer and make it again."""
    call = Call(step.operation, step.params, step.handles | THROTTLED)
    while True:
        reply = yield call
        if isinstance(reply, Failed) and reply.code in THROTTLED:
            yield from _wait(step.operation, reply.code, waits)
            continue
        if isinstance(reply, Failed) or not reply.get("UnprocessedItems"):
            waits.streak = 0  # a call that went through: the next trouble waits briefly again
        return reply


def _wait(operation: str, code: str, waits: _Waits) -> Flow[None]:
    waits.streak += 1
    if waits.streak > THROTTLE_RETRIES:
        raise BackendUnavailableError(
            f"still throttled after {THROTTLE_RETRIES} waits; run gc again later (with "
            "--checkpoint it goes on where it stopped), or with fewer segments",
            code=code,
            operation=operation,
        )
    waits.count += 1
    yield Sleep(throttle_backoff(waits.streak))


class Run:
    """One garbage collection: its segment flows, its running total and its checkpoint.

    Shared by the drivers' threads or tasks: pages are counted under a lock, and once
    :meth:`stop` is called (a segment failed, or the run was interrupted) every flow ends at
    its next step, so one failure does not leave the others running.
    """

    def __init__(
        self,
        config: StoreConfig,
        now: int,
        segments: int,
        *,
        dry_run: bool = False,
        margin: int | None = None,
        page_size: int | None = None,
        progress: PageHook | None = None,
        resume: GCCheckpoint | None = None,
        checkpoint: CheckpointHook | None = None,
    ) -> None:
        if resume is not None:
            if resume.table != config.table:
                raise ConfigurationError(
                    f"the GC checkpoint is of table {resume.table!r}, not {config.table!r}"
                )
            segments = resume.segments
        check_segments(segments)
        if margin is not None:
            config = config.replace(gc_margin=margin)
        if page_size is not None and page_size < 1:
            raise ConfigurationError(f"page_size must be at least 1, not {page_size}")
        self.config, self.now, self.segments = config, now, segments
        self.dry_run, self.page_size = dry_run, page_size
        self.position = resume.copy() if resume else GCCheckpoint(config.table, segments)
        self.total = GCReport(
            segments=segments, dry_run=dry_run, segments_done=len(self.position.done)
        )
        self._progress, self._checkpoint = progress, checkpoint
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def flows(self) -> Iterator[Flow[GCReport]]:
        """A flow for each segment not done yet, each ending early once the run stops."""
        for segment in range(self.segments):
            if segment in self.position.done:
                continue
            flow = collect_segment(
                self.config,
                self.now,
                segment,
                self.segments,
                dry_run=self.dry_run,
                on_page=functools.partial(self._page, segment),
                start_key=self.position.next_keys.get(segment),
                page_size=self.page_size,
            )
            yield self._until_stopped(flow)

    @property
    def width(self) -> int:
        """How many segments are left to run."""
        return self.segments - len(self.position.done)

    def stop(self) -> None:
        """End every flow of this run at its next step."""
        self._stopped.set()

    def _until_stopped(self, flow: Flow[GCReport]) -> Flow[GCReport]:
        # ``yield from`` with a look at the flag before each step: errors the driver throws
        # in go on to the segment's flow, and a stopped run closes it.
        reply: Any = None
        error: Exception | None = None
        while True:
            if self._stopped.is_set():
                flow.close()
                return GCReport(segments=self.segments)
            try:
                step = flow.send(reply) if error is None else flow.throw(error)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            error = None
            try:
                reply = yield step
            except Exception as exc:
                error = exc

    def _page(self, segment: int, page: GCReport, next_key: dict[str, Any] | None) -> None:
        with self._lock:
            self.total += page
            if next_key is None:
                self.position.done.add(segment)
                self.position.next_keys.pop(segment, None)
            else:
                self.position.next_keys[segment] = next_key
            if self._progress is not None:
                self._progress(self.total)
            if self._checkpoint is not None:
                self._checkpoint(self.position.copy())

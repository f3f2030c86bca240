"""What a parallel scan of the table needs, whoever scans: ``gc`` and ``stats``.

The table is read in ``total`` segments, one flow per segment, and a driver runs the flows at
once (no more of them than its client has pooled connections). Each flow hands every page it
read to a :class:`Tally`, which adds the pages of all segments into a running total for a
progress display. The total is of a small frozen record with ``+`` (:class:`GCReport`,
``stats.ScanProgress``), so the tally does not care what is counted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from ..exceptions import ConfigurationError

MAX_SEGMENTS = 1_000_000  # DynamoDB's limit on TotalSegments


class Addable(Protocol):
    """A page's counts, added to a running total."""

    def __add__(self: A, other: A, /) -> A: ...


A = TypeVar("A", bound=Addable)


def check_segments(segments: int) -> None:
    """Reject a segment count DynamoDB would refuse."""
    if not 1 <= segments <= MAX_SEGMENTS:
        raise ConfigurationError(f"segments must be in 1..{MAX_SEGMENTS}, not {segments}")


class Tally(Generic[A]):
    """Adds up the pages of concurrently running segments and reports the running total.

    Safe to call from several driver threads at once (the sync store runs segments in threads).
    """

    def __init__(self, start: A, progress: Callable[[A], None] | None) -> None:
        self.total = start
        self._progress = progress
        self._lock = threading.Lock()

    def add(self, page: A) -> None:
        """Count ``page`` and tell the progress hook the new total."""
        with self._lock:
            self.total += page
            if self._progress is not None:
                self._progress(self.total)

"""A check that nothing was left unclosed: sockets, transports, aiohttp sessions and connectors
warn with ResourceWarning only when the garbage collector finds them, so the check collects."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_resource_warnings() -> Iterator[None]:
    """Fail if anything created in the block (and unreachable at its end) was left unclosed.

    Drop the block's references (``del``) before it ends, so the collection can find them.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        yield
        gc.collect()
        gc.collect()  # a second pass for what the first one's finalizers released
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaks, "left unclosed: " + "; ".join(leaks)

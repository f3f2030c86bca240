"""Overhead against the limit: a read-only request through each adapter, over the same
framework's bare request whose view makes one raw GetItem of a session item of the same size.

Both are called in-process (a direct WSGI or ASGI call, no socket). Each round times ``n``
requests of one, then ``n`` of the other, the order alternating between rounds; the result is
the median of the per-round ratios (the machine is shared and noisy)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench._common import Clock, Unmetered, median, new_table, session_data
from bench.adapters import ADAPTERS

GOAL = 1.15


@dataclass
class OverheadResult:
    adapter: str
    ratio: float
    ratios: list[float]
    adapter_ms: float
    bare_ms: float


def measure(
    endpoint: str, sizer: Any, adapters: list[str], rounds: int, n: int
) -> list[OverheadResult]:
    """``rounds`` rounds of ``n`` pairs each: one request through the adapter and one bare
    request, alternating which goes first; per round, the ratio of the median times."""
    results = []
    for name in adapters:
        cfg = new_table(endpoint, f"ovh-{name.lower()}")
        adapter = ADAPTERS[name](cfg, Unmetered(), Clock())
        try:
            session_id = adapter.create(session_data(2048))
            adapter.point_bare_at(session_id)
            status, _ = adapter.request("/read", session_id)
            assert status == 200, status
            adapter.timed("/read", session_id, max(1, n // 5))  # warm up both
            adapter.timed_bare(max(1, n // 5))
            ratios, ours, bare = [], [], []
            for _ in range(rounds):
                a_times, b_times = [], []
                for pair in range(n):
                    if pair % 2 == 0:
                        a_times.append(adapter.timed("/read", session_id, 1))
                        b_times.append(adapter.timed_bare(1))
                    else:
                        b_times.append(adapter.timed_bare(1))
                        a_times.append(adapter.timed("/read", session_id, 1))
                a, b = median(a_times), median(b_times)
                ratios.append(a / b)
                ours.append(1000 * a)
                bare.append(1000 * b)
            results.append(OverheadResult(name, median(ratios), ratios, median(ours), median(bare)))
        finally:
            adapter.close()
    return results

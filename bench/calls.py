"""DynamoDB calls and capacity units per request, by adapter and request kind, counted at the
client (botocore events on the store's own client, so on ``transport="botocore"``: the calls
are the core's, alike on either transport)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench._common import TIMEOUT, Clock, Meter, metered, new_table, session_data
from bench.adapters import ADAPTERS

# kind -> (path, what the cookie names, what the app does)
KINDS: dict[str, str] = {
    "no cookie, unused": "no cookie; the view never looks at the session",
    "cookie, unused": "a valid cookie; the view never looks at the session",
    "read-only": "a valid cookie; the view reads a key",
    "read-only, refresh due": "as read-only, a tenth of the timeout after the last write",
    "modified": "a valid cookie; the view changes a key",
    "set only": "a valid cookie; the view sets a key and reads nothing",
    "new": "no cookie; the view stores 2 KB of data",
    "expired": "a cookie of a session idle longer than the timeout; the view reads a key",
    "rotation": "a valid cookie; the view rotates the id (log-in)",
}
FLOOR = {"no cookie, unused": [], "read-only": ["GetItem"], "modified": ["GetItem", "UpdateItem"]}


@dataclass
class Row:
    adapter: str
    kind: str
    operations: list[str]
    status: int
    rcu: float
    wcu: float
    reported: float | None
    agrees: bool


def _one(adapter: Any, clock: Clock, kind: str) -> tuple[int, list[Any]]:
    session_id = None
    if kind not in ("no cookie, unused", "new"):
        session_id = adapter.create(session_data(2048))
    if kind == "read-only, refresh due":
        clock.advance(adapter.cfg.touch_after * TIMEOUT + 1)
    elif kind == "expired":
        clock.advance(TIMEOUT + 1)
    path = {
        "no cookie, unused": "/unused",
        "cookie, unused": "/unused",
        "modified": "/write",
        "set only": "/set",
        "new": "/write",
        "rotation": "/rotate",
    }.get(kind, "/read")
    mark = adapter.meter.mark()
    status, _ = adapter.request(path, session_id)
    return status, adapter.meter.since(mark)


def measure(endpoint: str, sizer: Any, adapters: list[str]) -> list[Row]:
    rows = []
    for name in adapters:
        # Counted at botocore's client; the calls are the core's, alike on either transport.
        cfg = metered(new_table(endpoint, f"calls-{name.lower()}"))
        meter, clock = Meter(sizer), Clock()
        adapter = ADAPTERS[name](cfg, meter, clock)
        try:
            for kind in KINDS:
                status, records = _one(adapter, clock, kind)
                computed = [r.computed for r in records]
                reported = [r.reported for r in records]
                rows.append(
                    Row(
                        adapter=name,
                        kind=kind,
                        operations=[r.operation for r in records],
                        status=status,
                        rcu=sum(r.computed or 0 for r in records if r.read),
                        wcu=sum(r.computed or 0 for r in records if not r.read),
                        reported=None if None in reported else sum(reported),  # type: ignore[arg-type]
                        agrees=all(c == p for c, p in zip(computed, reported, strict=True))
                        if None not in reported
                        else False,
                    )
                )
        finally:
            adapter.close()
    return rows

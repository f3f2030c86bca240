"""A test engine whose eventually consistent reads are stale, in front of a real one.

:class:`StaleReads` hooks a :class:`~faults.proxy.FaultProxy` (real TCP, botocore's real signed
requests): every request is carried out by the engine, but a GetItem with ``ConsistentRead``
false (or absent) of an item written less than ``lag`` seconds ago is answered as a lagging
replica would: with the item as the proxy last saw it before that write, or "no item" if it
never saw it (just created). Strongly consistent reads, and every write, see the truth.

It learns what the item looked like from the answers of GetItem calls passing through it, so a
test that wants a particular old copy served reads it once (any consistency) before the write.

With ``index_lag``, a Query (of a global secondary index: eventually consistent by nature)
leaves out the items written less than ``index_lag`` seconds ago, as a lagging index would.
"""

from __future__ import annotations

import json
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

from faults.proxy import FaultProxy, operation_of

WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})


@dataclass
class _History:
    written: float = float("-inf")  # when the item was last written through the proxy
    seen: list[tuple[float, Any]] = field(default_factory=list)  # (when, answer body) of reads


class StaleReads:
    """Make ``proxy`` serve stale eventually consistent reads for ``lag`` seconds after writes."""

    def __init__(
        self, proxy: FaultProxy, lag: float = 60.0, key_name: str = "id", index_lag: float = 0.0
    ) -> None:
        self.lag = lag
        self.index_lag = index_lag
        self.hidden = 0  # how many items Query answers left out
        self.key_name = key_name
        self.stale_answers = 0  # how many reads were answered stale
        self.reads: list[bool] = []  # ConsistentRead of every GetItem, in order
        self._items: dict[str, _History] = {}
        self._lock = threading.Lock()
        proxy.rewrite = self.rewrite

    def rewrite(self, request: bytes, response: bytes) -> bytes:
        operation = operation_of(request)
        if operation == "Query":
            return self._lagging_index(json.loads(_body(request)), response)
        if operation != "GetItem" and operation not in WRITES:
            return response
        params = json.loads(_body(request) or b"{}")
        item_key = params.get("Key") or {self.key_name: params.get("Item", {}).get(self.key_name)}
        key = json.dumps([params.get("TableName"), item_key], sort_keys=True)
        now = time.monotonic()
        with self._lock:
            history = self._items.setdefault(key, _History())
            if operation in WRITES:
                history.written = now
                return response
            if not response.startswith(b"HTTP/1.1 200"):
                return response
            consistent = bool(params.get("ConsistentRead"))
            self.reads.append(consistent)
            if consistent or now - history.written >= self.lag:
                history.seen.append((now, json.loads(_body(response))))
                return response
            before = [answer for when, answer in history.seen if when < history.written]
            self.stale_answers += 1
            return _with_body(response, json.dumps(before[-1] if before else {}).encode())

    def _lagging_index(self, params: dict[str, Any], response: bytes) -> bytes:
        if not self.index_lag or not response.startswith(b"HTTP/1.1 200"):
            return response
        answer = json.loads(_body(response))
        now = time.monotonic()
        with self._lock:

            def fresh(item: dict[str, Any]) -> bool:
                key = json.dumps(
                    [params.get("TableName"), {self.key_name: item.get(self.key_name)}],
                    sort_keys=True,
                )
                history = self._items.get(key)
                return history is not None and now - history.written < self.index_lag

            shown = [item for item in answer.get("Items", []) if not fresh(item)]
            self.hidden += len(answer.get("Items", [])) - len(shown)
        answer["Items"], answer["Count"] = shown, len(shown)
        return _with_body(response, json.dumps(answer).encode())


def _body(message: bytes) -> bytes:
    return message.partition(b"\r\n\r\n")[2]


def _with_body(response: bytes, body: bytes) -> bytes:
    """``response`` with another body: its length and botocore's CRC32 check made to match."""
    head = response.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    kept = [line for line in head if line.partition(":")[0].strip().lower() not in _RECOMPUTED]
    kept += [f"Content-Length: {len(body)}", f"x-amz-crc32: {zlib.crc32(body)}"]
    return "\r\n".join(kept).encode("latin-1") + b"\r\n\r\n" + body


_RECOMPUTED = frozenset({"content-length", "x-amz-crc32"})

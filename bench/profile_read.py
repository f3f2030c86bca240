"""Profile of the read path: where a read-only request through the WSGI adapter spends its time.

Two views:

* pyinstrument (if installed) over ``n`` read-only requests against dynalite: the share of the
  request spent inside the DynamoDB call (the store's transport: the lean one by default, or
  botocore's client) versus in this library's own code;
* the library's own CPU time per read-only request, the DynamoDB client replaced by a stub that
  returns the recorded GetItem answer (no network), for the library as it is and with the
  pre-fix session merge (see docs/benchmarks.md), interleaved in rounds.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bench._common import Clock, Unmetered, median, new_table, session_data
from bench.adapters import WSGIAdapter, call_wsgi
from dynamodb_sessions.ids import storage_key
from dynamodb_sessions.session import Session


@dataclass
class ProfileResult:
    requests: int
    wall_ms: float
    call_share: float | None  # of the request's time, inside the DynamoDB call (the transport)
    library_share: float | None  # in this library's code, the adapter and the app (the rest)
    text: str
    cpu_us: dict[str, float]  # variant -> our CPU time per request (stubbed client)
    merge_us: dict[str, float]  # variant -> a deferred session's load alone (20 keys)


def _old_ensure_loaded(self: Session) -> None:
    # The merge as it was before the profile: dict.update() on a Session goes through its
    # overridden keys() and __getitem__ (each marking it accessed), one Python call per key.
    if self._loader is None:
        return
    loader, self._loader = self._loader, None
    loaded = loader()
    dict.update(self, loaded)
    self.session_id = loaded.session_id
    self.stored = loaded.stored
    self._timeout = loaded.timeout
    self._user_id = loaded.user_id
    self.created = loaded.created
    self.stale_cookie = loaded.stale_cookie


@contextmanager
def _before_fix() -> Iterator[None]:
    current = Session._ensure_loaded
    Session._ensure_loaded = _old_ensure_loaded  # type: ignore[method-assign]
    try:
        yield
    finally:
        Session._ensure_loaded = current  # type: ignore[method-assign]


class _Stub:
    """A client that answers every GetItem with one recorded reply (no network)."""

    def __init__(self, reply: dict[str, Any], meta: Any) -> None:
        self.reply, self.meta = reply, meta

    def get_item(self, **_: Any) -> dict[str, Any]:
        return self.reply


def _pyinstrument(call: Callable[[], Any], n: int) -> tuple[float | None, float | None, str]:
    try:
        from pyinstrument import Profiler
    except ImportError:
        return None, None, "(pyinstrument is not installed: pip install --group bench)"
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for _ in range(n):
        call()
    session = profiler.stop()
    total = session.duration or 1.0
    inside = 0.0

    def walk(frame: Any) -> None:
        # The call is the lean transport's ``call`` (signing, the HTTP exchange, parsing) or,
        # on the botocore transport, botocore's own frames.
        nonlocal inside
        path = frame.file_path or ""
        lean_call = path.endswith("dynamodb_sessions/transport.py") and frame.function == "call"
        if lean_call or ("botocore" in path and "dynamodb_sessions" not in path):
            inside += frame.time
            return
        for child in frame.children:
            walk(child)

    root = session.root_frame()
    if root is not None:
        walk(root)
    text = profiler.output_text(unicode=False, color=False)
    library = max(0.0, 1.0 - inside / total)
    return inside / total, library, text


def measure(endpoint: str, sizer: Any, n: int, rounds: int, profile: bool = True) -> ProfileResult:
    cfg = new_table(endpoint, "profile")
    adapter = WSGIAdapter(cfg, Unmetered(), Clock())
    try:
        data = session_data(2048)
        data.update({f"key{i}": f"value {i}" for i in range(16)})  # 20 keys, as apps keep
        session_id = adapter.create(data)
        cookie = f"session={session_id}"

        def read() -> Any:
            return call_wsgi(adapter.app, "/read", cookie)

        read()
        start = time.perf_counter()
        for _ in range(n):
            read()
        wall_ms = 1000 * (time.perf_counter() - start) / n
        call_share = library_share = None
        text = ""
        if profile:
            call_share, library_share, text = _pyinstrument(read, n)
        key = storage_key(session_id, cfg.key_prefix)
        reply = adapter.store.client.get_item(
            TableName=cfg.table, Key={"id": {"S": key}}, ConsistentRead=True
        )
        # The store's client is a per-process property (fork safety): swap what it holds.
        real = adapter.store._held
        adapter.store._held = (os.getpid(), _Stub(reply, adapter.store.client.meta), None)
        try:
            cpu: dict[str, list[float]] = {"before": [], "after": []}
            for round_ in range(rounds):
                order = ["before", "after"] if round_ % 2 == 0 else ["after", "before"]
                for variant in order:
                    with _before_fix() if variant == "before" else _nothing():
                        start = time.perf_counter()
                        for _ in range(n):
                            read()
                        cpu[variant].append(1e6 * (time.perf_counter() - start) / n)
        finally:
            adapter.store._held = real
        merge = _merge_times(data, rounds)
        return ProfileResult(
            merge_us=merge,
            requests=n,
            wall_ms=wall_ms,
            call_share=call_share,
            library_share=library_share,
            text=text,
            cpu_us={k: median(v) for k, v in cpu.items()},
        )
    finally:
        adapter.close()


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _merge_times(data: dict[str, Any], rounds: int, number: int = 2000) -> dict[str, float]:
    """Microseconds for a deferred session to take in a loaded one (the changed step alone,
    without the request around it, whose noise on a shared machine is larger than the gain)."""
    loaded = Session(data)
    times: dict[str, list[float]] = {"before": [], "after": []}
    for round_ in range(max(rounds, 3) * 3):
        order = ["before", "after"] if round_ % 2 == 0 else ["after", "before"]
        for variant in order:
            with _before_fix() if variant == "before" else _nothing():
                start = time.perf_counter()
                for _ in range(number):
                    Session.deferred(lambda: loaded)._ensure_loaded()
                times[variant].append(1e6 * (time.perf_counter() - start) / number)
    return {k: median(v) for k, v in times.items()}

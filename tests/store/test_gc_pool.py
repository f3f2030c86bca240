"""GC's parallel scan fits the client's connection pool: never more segments at once than
pooled connections, so urllib3 (botocore's pool) never opens connections it then has to throw
away; on either transport, never more calls in flight than the pool holds (the lean
transport's own pool: tests/store/test_lean_transport.py)."""

from __future__ import annotations

import dataclasses
import logging
import threading

import pytest

from dynamodb_sessions import Connection, SessionStore, StoreConfig
from dynamodb_sessions.store import make_client


def expired_sessions(store: SessionStore, clock, count: int) -> None:
    for _ in range(count):
        session = store.load(None)
        session["n"] = 1
        store.finish(session)
    clock.advance(store.config.timeout + 1)


class InFlight:
    """The most DynamoDB calls a store had in flight at once, and the threads that made them:
    counted around the driver's one call site (``_call``), so alike on either transport."""

    def __init__(self, store: SessionStore) -> None:
        self.now = self.peak = 0
        self.threads: set[int] = set()
        self._lock = threading.Lock()
        call = store._call

        def counted(step):
            self._sent()
            try:
                return call(step)
            finally:
                self._answered()

        store._call = counted  # type: ignore[method-assign]

    def _sent(self) -> None:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.threads.add(threading.get_ident())

    def _answered(self) -> None:
        with self._lock:
            self.now -= 1


@pytest.mark.engines("dynalite", reason="segments run concurrently")
@pytest.mark.transports  # urllib3's "pool is full" is botocore's pool; the calls in flight, both
def test_24_segments_on_the_default_pool_open_no_throwaway_connections(store, clock, caplog):
    expired_sessions(store, clock, 120)  # about 5 per segment: every segment has work
    calls = InFlight(store)
    with caplog.at_level(logging.WARNING, logger="urllib3.connectionpool"):
        report = store.gc(segments=24)
    assert (report.expired, report.deleted) == (120, 120)
    assert [r.getMessage() for r in caplog.records if "pool is full" in r.getMessage()] == []
    assert 1 <= calls.peak <= 10 and len(calls.threads) <= 10
    assert calls.now == 0


@pytest.mark.engines("dynalite", reason="segments run concurrently")
@pytest.mark.transports
def test_the_pool_size_is_configurable_and_bounds_gc(store, clock, caplog):
    narrow = store.config.replace(
        connection=dataclasses.replace(store.config.connection, max_pool_connections=2)
    )
    small = SessionStore(narrow, clock=clock)
    assert small.client.meta.config.max_pool_connections == 2
    expired_sessions(small, clock, 40)
    calls = InFlight(small)
    with caplog.at_level(logging.WARNING, logger="urllib3.connectionpool"):
        assert small.gc(segments=8).deleted == 40
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]
    assert 1 <= calls.peak <= 2 and len(calls.threads) <= 2
    small.close()


def test_an_injected_clients_own_pool_bounds_gc(store, clock):
    """An injected client's pool is what counts, whatever the configuration says."""
    one = dataclasses.replace(store.config.connection, max_pool_connections=1)
    client = make_client(one)
    injected = SessionStore(store.config, client=client, clock=clock)
    expired_sessions(injected, clock, 6)
    calls = InFlight(injected)
    assert injected.gc(segments=4).deleted == 6
    assert calls.peak == 1 and len(calls.threads) == 1
    client.close()


def test_the_pool_size_is_validated():
    from dynamodb_sessions import ConfigurationError

    with pytest.raises(ConfigurationError, match="max_pool_connections"):
        Connection(max_pool_connections=0)
    assert StoreConfig(table="t").connection.max_pool_connections == 10  # botocore's default

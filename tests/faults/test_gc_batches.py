"""GC against real engines: batches beyond the margin, conditional deletes within it, throttling
answered by a real TCP proxy, and a run stopped by an outage that resumes from its checkpoint."""

from __future__ import annotations

import asyncio
import json

import pytest

from dynamodb_sessions import AsyncSessionStore, GCCheckpoint, SessionStore
from dynamodb_sessions._core import gc
from dynamodb_sessions.exceptions import BackendUnavailableError
from dynamodb_sessions.ids import storage_key
from faults.proxy import FaultProxy, operation_of, through
from faults.stale import _body, _with_body


def new_sessions(store: SessionStore, count: int) -> list[str]:
    ids = []
    for i in range(count):
        session = store.load(None)
        session["n"] = i
        store.finish(session)
        ids.append(session.session_id)
    return ids


def stored(store: SessionStore, session_id: str) -> bool:
    key = {"id": {"S": storage_key(session_id)}}
    return "Item" in store.client.get_item(
        TableName=store.config.table, Key=key, ConsistentRead=True
    )


def through_unretried(config, proxy: FaultProxy):
    """``config`` reaching its engine through ``proxy``; botocore retries nothing (``max_attempts``
    1), so every throttling answer reaches GC's own backoff."""
    return through(config, proxy, max_attempts=1)


@pytest.fixture
def no_waits(monkeypatch):
    monkeypatch.setattr(gc, "_jitter", lambda: 0.0)


def test_the_margin_is_taken_from_the_call_or_the_configuration(store, clock, config, calls):
    old = new_sessions(store, 3)
    clock.advance(config.timeout + 600)
    assert store.gc(margin=3600).batched == 0  # within an hour: one conditional delete each
    assert calls.count("DeleteItem") == 3 and "BatchWriteItem" not in calls
    old = new_sessions(store, 3)
    clock.advance(config.timeout + 600)
    assert store.gc(margin=300).batched == 3
    assert not any(stored(store, sid) for sid in old)


def test_throttled_scans_and_batches_are_waited_out(engine, config, clock, no_waits):
    with FaultProxy(engine.endpoint) as proxy:
        store = SessionStore(through_unretried(config, proxy), clock=clock)
        ids = new_sessions(store, 5)
        clock.advance(config.timeout + config.gc_margin + 1)
        proxy.rule("throttle", "Scan", times=1)
        proxy.rule("throttle", "BatchWriteItem", times=2)
        report = store.gc(segments=1)
        assert (report.deleted, report.batched, report.throttled) == (5, 5, 3)
        assert proxy.operations()[-5:] == ["Scan", "Scan"] + ["BatchWriteItem"] * 3
        assert proxy.operations("throttle") == ["Scan", "BatchWriteItem", "BatchWriteItem"]
        assert not any(stored(store, sid) for sid in ids)
        store.close()


def test_unprocessed_items_are_sent_again(engine, config, clock, no_waits):
    sent: list[list[str]] = []

    def leave_some(request: bytes, response: bytes) -> bytes:
        # As DynamoDB does under load: the answer names requests it did not carry out (the
        # engine did; deleting them again is harmless).
        if operation_of(request) != "BatchWriteItem":
            return response
        requests = json.loads(_body(request))["RequestItems"][config.table]
        sent.append([r["DeleteRequest"]["Key"]["id"]["S"] for r in requests])
        if len(sent) > 1:
            return response
        return _with_body(
            response, json.dumps({"UnprocessedItems": {config.table: requests[-3:]}}).encode()
        )

    with FaultProxy(engine.endpoint) as proxy:
        proxy.rewrite = leave_some
        store = SessionStore(through_unretried(config, proxy), clock=clock)
        new_sessions(store, 8)
        clock.advance(config.timeout + config.gc_margin + 1)
        report = store.gc(segments=1)
        assert (report.deleted, report.batched, report.throttled) == (8, 8, 1)
        assert [len(keys) for keys in sent] == [8, 3] and sent[1] == sent[0][-3:]
        store.close()


def test_a_run_stopped_by_an_outage_resumes_from_its_checkpoint(engine, config, clock, no_waits):
    with FaultProxy(engine.endpoint) as proxy:
        store = SessionStore(through_unretried(config, proxy), clock=clock)
        ids = new_sessions(store, 12)
        clock.advance(config.timeout + config.gc_margin + 1)
        saved: list[GCCheckpoint] = []
        proxy.rule("pass", "Scan", times=3)
        proxy.rule("cut", "Scan")  # the fourth page never comes: the run stops
        with pytest.raises(BackendUnavailableError):
            store.gc(segments=2, page_size=2, checkpoint=saved.append)
        assert saved, "no page was recorded before the outage"
        where = GCCheckpoint.loads(saved[-1].dumps(), store.config)
        assert not where.finished and where.next_keys
        left = sum(stored(store, sid) for sid in ids)
        assert 0 < left < 12

        proxy.heal()
        scans: list[dict] = []

        def seen(request: bytes, answer: bytes) -> bytes:  # the Scans as sent, on the wire
            if operation_of(request) == "Scan":
                scans.append(json.loads(_body(request)))
            return answer

        proxy.rewrite = seen
        report = store.gc(resume=where, page_size=2)
        assert report.deleted == left and not any(stored(store, sid) for sid in ids)
        firsts = {}
        for params in scans:
            firsts.setdefault(params["Segment"], params.get("ExclusiveStartKey"))
        # Done segments are not scanned again; the others start where the checkpoint says.
        assert set(firsts) == set(range(2)) - where.done
        assert all(firsts[s] == where.next_keys.get(s) for s in firsts)
        store.close()


@pytest.mark.engines("dynalite", reason="segments run concurrently")
def test_the_first_failing_segment_stops_the_others_async(engine, config, clock, no_waits):
    with FaultProxy(engine.endpoint) as proxy:
        cfg = through_unretried(config, proxy)
        new_sessions(SessionStore(cfg, clock=clock), 40)
        clock.advance(config.timeout + config.gc_margin + 1)
        proxy.rule("pass", "Scan", times=4)
        proxy.rule("cut", "Scan", times=1)
        pages: list[gc.GCReport] = []

        async def collect() -> None:
            async with AsyncSessionStore(cfg, clock=clock) as store:
                with pytest.raises(BackendUnavailableError):
                    await store.gc(segments=4, page_size=1, progress=pages.append)

        asyncio.run(collect())
        # The other three segments stopped at their next step: of 44 one-item pages (and their
        # deletes) only a few were read.
        assert proxy.operations().count("Scan") < 20


@pytest.mark.engines("dynalite", reason="segments run concurrently")
def test_the_first_failing_segment_stops_the_others_sync(engine, config, clock, no_waits):
    with FaultProxy(engine.endpoint) as proxy:
        store = SessionStore(through_unretried(config, proxy), clock=clock)
        new_sessions(store, 40)
        clock.advance(config.timeout + config.gc_margin + 1)
        proxy.rule("pass", "Scan", times=4)
        proxy.rule("cut", "Scan", times=1)
        with pytest.raises(BackendUnavailableError):
            store.gc(segments=4, page_size=1)
        assert proxy.operations().count("Scan") < 20
        store.close()

"""Lock mode is exact (issue 11, items 7 and 4) against dynalite: a one-second lease excludes, a
session the size guard lets through can always be locked again, and no lock write touches an
expired session."""

from __future__ import annotations

import threading
import time

import pytest

from dynamodb_sessions import SessionStore, SessionTooLargeError
from dynamodb_sessions._core.items import build_item, item_size, lock_reserve
from dynamodb_sessions.config import DYNAMODB_ITEM_LIMIT, LockSettings
from dynamodb_sessions.exceptions import SessionLockError
from dynamodb_sessions.ids import storage_key

pytestmark = pytest.mark.engines(
    "dynalite", reason="lock mode relies on atomic conditional writes and the exact 400 KB limit"
)


def raw_item(store: SessionStore, sid: str) -> dict | None:
    key = {"id": {"S": storage_key(sid)}}
    reply = store.client.get_item(TableName=store.config.table, Key=key, ConsistentRead=True)
    return reply.get("Item")


def test_a_one_second_lease_gives_mutual_exclusion(config):
    """Two threads take turns on one session, each holding the lock 0.3 s. With the lease cut
    to whole seconds (the old ``int(now) + lease``) a lock taken late in a second ended at the
    next whole second, and the other thread walked in: about one hand-over in three."""
    locking = config.replace(lock=LockSettings(lease=1, wait=10.0, poll=0.01))
    sections: list[tuple[float, float, float]] = []  # (load started, loaded, finishing)
    with SessionStore(locking) as store:  # the real clock: the lease is real time
        seed = store.load(None)
        seed["n"] = 0
        store.finish(seed)
        sid = seed.session_id

        def worker() -> None:
            for _ in range(8):
                started = time.time()
                session = store.load(sid)
                loaded = time.time()
                count = session["n"]
                time.sleep(0.3)
                session["n"] = count + 1
                sections.append((started, loaded, time.time()))
                store.finish(session)

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in threads)
        # The promise holds within the lease: a section that (on a stalled machine) outlived
        # it may be overtaken. Any overlap of two sections shorter than the lease is a breach.
        within = [s for s in sections if s[2] - s[0] < 1.0]
        for a in within:
            for b in within:
                assert a is b or not (a[1] <= b[1] < a[2]), "two requests held one lock"
        if len(within) == len(sections):
            assert store.load(sid)["n"] == 16


def fill_to(store: SessionStore, size: int) -> tuple[SessionStore, object]:
    """A new session whose item (lock attributes aside) is exactly ``size`` bytes."""
    session = store.load(None)
    key = storage_key(session.session_id)
    plain = store.config.replace(lock=None)
    blob = {"x": store.codec.encode_value("x", "", item_key=key)}
    now = int(store.clock())
    base = build_item(
        key, blob, now=now, created=now, timeout=plain.timeout, version=1, user_id=None,
        config=plain.replace(max_item_bytes=DYNAMODB_ITEM_LIMIT),
    )  # fmt: skip
    session["x"] = "y" * (size - item_size(base))
    return store, session


def test_a_session_the_guard_lets_through_can_always_be_locked_again(config, clock):
    """dynalite enforces the exact 400 KB limit, lock attributes included. Without the reserve a
    session a few bytes under the limit was stored, then every load failed to take its lock."""
    locking = config.replace(lock=LockSettings(lease=10, wait=0.5), compress_threshold=10**6)
    with SessionStore(locking, clock=clock) as store:
        reserve = lock_reserve(locking)
        assert reserve > 0
        _, too_big = fill_to(store, DYNAMODB_ITEM_LIMIT - 10)
        with pytest.raises(SessionTooLargeError):
            store.finish(too_big)

        _, biggest = fill_to(store, DYNAMODB_ITEM_LIMIT - reserve)
        store.finish(biggest)
        for round_ in range(2):  # loaded (locked) and saved again, twice
            session = store.load(biggest.session_id)
            assert not session.is_new and session.stored.lock_owner is not None
            session["x"] = session["x"][:-1] + str(round_)
            store.finish(session)
        assert raw_item(store, biggest.session_id).get("lock_owner") is None


def test_no_lock_write_touches_an_expired_session(config, clock):
    """A crashed request left its lock on a session that has since expired. A later request
    neither takes that lock nor removes it: the expired item is left exactly as it was."""
    locking = config.replace(lock=LockSettings(lease=5, wait=0.2, poll=0.05))
    with SessionStore(locking, clock=clock) as store:
        session = store.load(None)
        session["a"] = 1
        store.finish(session)
        crashed = store.load(session.session_id)  # takes the lock, never finishes
        assert crashed.stored.lock_owner is not None
        clock.advance(locking.timeout + 1)  # the session and the lease are both over
        before = raw_item(store, session.session_id)
        later = store.load(session.session_id)
        assert later.is_new and later.stale_cookie
        assert raw_item(store, session.session_id) == before


class SlowClock:
    """A clock that moves 0.4 s each time it is read: as if every call took that long."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        self.now += 0.4
        return self.now


def test_the_wait_bounds_the_time_spent_calls_included(config, call_log):
    """wait=1 s with calls taking 0.4 s: the waiter gives up after about a second by the
    clock, a handful of tries. Counting only its sleeps (0.05 s each) it made 21 tries: some
    17 s by the clock."""
    locking = config.replace(lock=LockSettings(lease=60, wait=1.0, poll=0.05))
    with SessionStore(locking) as holder_store:
        session = holder_store.load(None)
        session["a"] = 1
        holder_store.finish(session)
        holder = holder_store.load(session.session_id)
        assert holder.stored.lock_owner is not None
        with SessionStore(locking, clock=SlowClock()) as waiter:
            calls = call_log().attach(waiter)
            with pytest.raises(SessionLockError):
                waiter.load(session.session_id)
        assert 1 <= calls.count("UpdateItem") <= 3
        holder_store.finish(holder)


def test_no_lock_write_touches_a_session_past_its_idle_timeout(config, clock):
    """The idle timeout ran out while the item's TTL (``gc_lifetime``) and a crashed request's
    lease have not and have: the lock writes must refuse it on the idle timeout itself. Before,
    only ``expires`` and the absolute timeout bound them: the later request took the lock of
    the dead session and gave it back, rewriting the item."""
    locking = config.replace(
        timeout=60, gc_lifetime=3600, lock=LockSettings(lease=5, wait=0.2, poll=0.05)
    )
    with SessionStore(locking, clock=clock) as store:
        session = store.load(None)
        session["a"] = 1
        store.finish(session)
        crashed = store.load(session.session_id)  # takes the lock, never finishes
        assert crashed.stored.lock_owner is not None
        clock.advance(61)  # idle timeout and lease over; the item's TTL is an hour away
        before = raw_item(store, session.session_id)
        assert int(before["expires"]["N"]) > clock()
        later = store.load(session.session_id)
        assert later.is_new and later.stale_cookie
        assert raw_item(store, session.session_id) == before
        store.release(crashed)  # the crashed request's release is refused as well
        assert raw_item(store, session.session_id) == before


def test_the_lock_judges_a_pinned_timeout_on_the_item_it_took(config, clock):
    """A timeout pinned on the session (longer or shorter than the configured one) cannot be
    added up in a condition: the lock write lets pinned items through on the idle timeout and
    the load judges the item the write returned. A longer pin keeps the session; a shorter one
    has ended it, and the request does not keep its lock."""
    locking = config.replace(
        timeout=60, gc_lifetime=3600, lock=LockSettings(lease=5, wait=0.2, poll=0.05)
    )
    with SessionStore(locking, clock=clock) as store:
        long_pin, short_pin = store.load(None), store.load(None)
        for session, pinned in ((long_pin, 600), (short_pin, 30)):
            session["a"] = 1
            session.timeout = pinned
            store.finish(session)
        clock.advance(45)  # past the short pin, inside the configured timeout
        gone = store.load(short_pin.session_id)
        assert gone.is_new and gone.stale_cookie
        assert raw_item(store, short_pin.session_id).get("lock_owner") is None
        clock.advance(100)  # past the configured timeout, inside the long pin
        kept = store.load(long_pin.session_id)
        assert not kept.is_new and kept["a"] == 1 and kept.stored.lock_owner is not None
        store.finish(kept)
        assert raw_item(store, long_pin.session_id).get("lock_owner") is None

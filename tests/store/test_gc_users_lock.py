"""Issue 5 against real engines: garbage collection, log out everywhere, lock mode."""

import uuid

import pytest
from test_expiry_and_rotation import raw_item

from dynamodb_sessions import SessionStore
from dynamodb_sessions._core import gc
from dynamodb_sessions.config import LockSettings
from dynamodb_sessions.exceptions import SessionLockError
from dynamodb_sessions.ids import storage_key


def new_session(store: SessionStore, user: str | None = None, **data) -> str:
    session = store.load(None)
    session.update(data or {"n": 1})
    session.user_id = user
    store.finish(session)
    return session.session_id


# -- garbage collection ----------------------------------------------------------------------


def test_gc_deletes_expired_items_only(store, clock, config):
    old = [new_session(store) for _ in range(5)]
    clock.advance(config.timeout + 1)
    young = [new_session(store) for _ in range(3)]
    pages = []

    assert store.gc(segments=3, dry_run=True).expired == 5
    assert all(raw_item(store, sid) for sid in old)  # a dry run deletes nothing

    report = store.gc(segments=3, progress=pages.append)
    assert (report.expired, report.deleted, report.kept) == (5, 5, 0)
    assert report.scanned == 8 and report.segments_done == 3
    assert pages and pages[-1] == report
    assert not any(raw_item(store, sid) for sid in old)
    assert all(raw_item(store, sid) for sid in young)
    assert store.gc().expired == 0


def test_gc_keeps_a_session_refreshed_between_its_scan_and_its_delete(store, clock, config):
    """The scan and the deletes of one segment, interleaved by hand with a refresh."""
    doomed, refreshed = new_session(store), new_session(store)
    clock.advance(config.timeout - 1)
    request = store.load(refreshed)  # a request that still finds it valid...
    request["n"] = 2

    # GC's clock runs 2 s ahead (the sessions are expired to it) while the request saves on
    # time: a save after expiry would not revive the session (test_expiry_and_rotation.py).
    flow = gc.collect_segment(store.config, store._now() + 2, 0, 1)
    step = next(flow)
    assert step.operation == "scan"
    scanned = store._call(step)
    assert len(scanned["Items"]) == 2  # GC saw both expired

    store.finish(request)  # ...saves after the scan saw it expired

    report = go_on(store, flow, scanned)
    assert (report.deleted, report.kept) == (1, 1)
    assert raw_item(store, doomed) is None
    assert store.load(refreshed)["n"] == 2


def test_old_items_go_in_batches_and_a_session_refreshed_within_the_margin_survives(
    store, clock, config, calls
):
    margin = config.gc_margin
    old = [new_session(store) for _ in range(30)]
    clock.advance(margin + 10)
    doomed, refreshed = new_session(store), new_session(store)
    clock.advance(config.timeout - 1)
    request = store.load(refreshed)  # a request that still finds it valid...
    request["n"] = "kept"
    del calls[:]

    # GC's clock runs 2 s ahead: to it the two recent sessions expired (within the margin) and
    # the 30 old ones more than the margin ago. The request saves after the scan saw it.
    flow = gc.collect_segment(store.config, store._now() + 2, 0, 1)
    step = next(flow)
    scanned = store._call(step)
    assert len(scanned["Items"]) == 32
    store.finish(request)
    report = go_on(store, flow, scanned)

    # Counted where the store calls (either transport): 2 batches for 30 items, and one
    # conditional DeleteItem for each of the two recent ones, of which the refreshed one stays.
    assert calls == ["Scan", "UpdateItem", "BatchWriteItem", "BatchWriteItem"] + ["DeleteItem"] * 2
    assert (report.deleted, report.batched, report.kept) == (31, 30, 1)
    assert not any(raw_item(store, sid) for sid in [*old, doomed])
    assert store.load(refreshed)["n"] == "kept"


def go_on(store: SessionStore, flow, reply) -> gc.GCReport:
    """Drive a GC segment's flow to its end from ``reply`` (its scan's answer)."""
    while True:
        try:
            step = flow.send(reply)
        except StopIteration as done:
            return done.value
        reply = store._call(step)


# -- log out everywhere ----------------------------------------------------------------------


def test_list_and_revoke_every_session_of_a_user(store):
    alice = [new_session(store, "alice") for _ in range(3)]
    bob = new_session(store, "bob")
    anonymous = new_session(store)

    listed = store.list_user_sessions("alice")
    assert sorted(s.key for s in listed) == sorted(storage_key(sid) for sid in alice)
    assert all(s.active for s in listed)

    in_flight = store.load(alice[0])  # a request of a revoked session, already running
    assert store.revoke_user("alice") == 3
    assert store.list_user_sessions("alice") == []
    for sid in alice:
        revoked = store.load(sid)  # the very next request: a new, empty session
        assert revoked.is_new and revoked.stale_cookie
    in_flight["more"] = 1
    store.finish(in_flight)  # its save is conditional: the session does not come back
    assert raw_item(store, alice[0]) is None
    assert store.load(bob).user_id == "bob" and not store.load(anonymous).is_new
    assert store.revoke_user("alice") == 0


def test_a_log_out_leaves_the_user_index(store):
    sid = new_session(store, "carol")
    session = store.load(sid)
    session.user_id = None  # logged out, data kept
    store.finish(session)
    assert store.list_user_sessions("carol") == []
    assert store.load(sid) == {"n": 1}


def test_create_table_adds_the_index_to_an_existing_table(engine, config):
    bare = config.replace(table=f"bare-{uuid.uuid4().hex[:12]}", user_index=None)
    store = SessionStore(bare)
    try:
        assert store.create_table(wait_seconds=30).ok
        indexed = SessionStore(bare.replace(user_index="user_id-index"))
        report = indexed.check_table()
        assert not report.ok and "user_id-index" in report.problems[0]
        report = indexed.create_table(wait_seconds=30)
        if engine.name == "dynalite":
            # dynalite makes indexes only with the table: the gap is reported, not hidden.
            assert not report.ok
            assert any("refused to add index" in note for note in report.notes)
        else:
            assert report.ok, report
            assert report.user_index_status == "ACTIVE"
            assert indexed.check_table().ok
    finally:
        store.client.delete_table(TableName=bare.table)


# -- lock mode -------------------------------------------------------------------------------


@pytest.fixture
def locking(store, clock):
    settings = LockSettings(lease=5, wait=0.2, poll=0.05)
    return SessionStore(store.config.replace(lock=settings), client=store.client, clock=clock)


def lock_of(store, sid):
    item = raw_item(store, sid) or {}
    return item.get("lock_owner", {}).get("S")


@pytest.mark.parametrize("change", ["none", "modify", "touch", "empty"])
def test_every_end_of_request_gives_the_lock_back(locking, clock, change):
    sid = new_session(locking)
    session = locking.load(sid)
    assert lock_of(locking, sid) == session.stored.lock_owner is not None
    if change == "modify":
        session["m"] = 1
    elif change == "touch":
        clock.advance(locking.config.timeout)  # past touch_after, within the timeout
        clock.advance(-1)
        session.get("n")
    elif change == "empty":
        session.clear()
    else:
        session.get("n")
    locking.finish(session)
    assert lock_of(locking, sid) is None
    if change == "empty":
        assert raw_item(locking, sid) is None


def test_a_waiter_gives_up_and_leaves_the_holders_lock(locking):
    sid = new_session(locking)
    holder = locking.load(sid)
    with pytest.raises(SessionLockError):
        locking.load(sid)
    assert lock_of(locking, sid) == holder.stored.lock_owner
    holder["done"] = True
    locking.finish(holder)
    assert locking.load(sid)["done"] is True


def test_a_crashed_holders_lock_expires_by_itself(locking, clock):
    sid = new_session(locking)
    crashed = locking.load(sid)  # never finishes
    clock.advance(5)  # the lease
    survivor = locking.load(sid)
    assert survivor.stored.lock_owner != crashed.stored.lock_owner
    survivor["after"] = 1
    locking.finish(survivor)
    crashed["late"] = 1
    locking.finish(crashed)  # its lease was taken over: it waits for the lock, then merges
    assert locking.load(sid) == {"n": 1, "after": 1, "late": 1}


def test_release_frees_the_lock_of_a_failed_request(locking):
    sid = new_session(locking)
    failed = locking.load(sid)
    locking.release(failed)
    assert lock_of(locking, sid) is None
    assert locking.load(sid) == {"n": 1}

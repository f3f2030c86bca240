"""Issue 5 against real engines: cheap expiry refresh, absolute timeout, atomic rotation."""

from collections.abc import Iterator

import pytest

from dynamodb_sessions import BackendUnavailableError, SessionStore
from dynamodb_sessions.ids import storage_key
from faults.proxy import FaultProxy, through


def raw_item(store: SessionStore, session_id: str) -> dict | None:
    key = {store.config.attributes.key: {"S": storage_key(session_id, store.config.key_prefix)}}
    reply = store.client.get_item(TableName=store.config.table, Key=key, ConsistentRead=True)
    return reply.get("Item")


def request(store: SessionStore, session_id: str | None, **changes):
    """One request: load, read (and optionally change) the session, finish."""
    session = store.load(session_id)
    session.get("n")
    session.update(changes) if changes else None
    store.finish(session)
    return session


@pytest.fixture
def short(store, clock):
    """A store on the same table: 1000 s idle timeout, refresh after half of it."""
    return SessionStore(store.config.replace(timeout=1000, touch_after=0.5), clock=clock)


def test_an_unmodified_session_costs_no_write_until_half_its_lifetime(short, clock, call_log):
    calls = call_log().attach(short)
    sid = request(short, None, n=1).session_id
    before = raw_item(short, sid)
    calls.clear()
    for _ in range(3):
        clock.advance(166)  # 498 s in all: below the 500 s refresh point
        request(short, sid)
    assert calls == ["GetItem"] * 3
    assert raw_item(short, sid) == before

    calls.clear()
    clock.advance(2)  # 500 s: the refresh is due
    request(short, sid)
    assert calls == ["GetItem", "UpdateItem"]
    after = raw_item(short, sid)
    # A small update: activity and TTL moved, data and version untouched.
    assert after["s:n"] == before["s:n"] and after["version"] == before["version"]
    assert int(after["accessed"]["N"]) == int(before["accessed"]["N"]) + 500
    assert int(after["expires"]["N"]) == int(before["expires"]["N"]) + 500

    calls.clear()
    clock.advance(10)
    request(short, sid)
    assert calls == ["GetItem"]  # refreshed just now: no write again


def test_the_refresh_keeps_a_session_alive_past_its_first_timeout(short, clock):
    sid = request(short, None, n=1).session_id
    for _ in range(4):
        clock.advance(600)  # each step within the idle timeout, each one refreshes
        assert request(short, sid)["n"] == 1
    clock.advance(1000)
    assert short.load(sid).is_new


def test_the_absolute_timeout_ends_even_an_active_session(store, clock):
    capped = SessionStore(
        store.config.replace(timeout=200, absolute_timeout=500, touch_after=0.1),
        client=store.client,
        clock=clock,
    )
    sid = request(capped, None, n=1).session_id
    for _ in range(4):
        clock.advance(100)
        assert not capped.load(sid).is_new
        request(capped, sid)
    clock.advance(99)  # 499 s after creation
    assert request(capped, sid, n=2)["n"] == 2
    clock.advance(1)  # 500 s: over, however recently used
    expired = capped.load(sid)
    assert expired.is_new and expired.stale_cookie


def test_rotation_moves_the_data_and_the_old_id_stops_working(store, clock):
    session = request(store, None, cart=[1, 2])
    session.user_id = "alice"
    store.finish(session)
    old = session.session_id
    created = session.stored.created
    clock.advance(30)

    store.rotate(session)

    assert session.session_id != old
    assert store.load(old).is_new  # the old id names nothing any more
    assert raw_item(store, old) is None
    moved = store.load(session.session_id)
    assert moved == {"cart": [1, 2]} and moved.user_id == "alice"
    # A move, not a renewal: the absolute timeout still counts from the first creation.
    assert moved.stored.created == created


def test_rotation_inside_a_request_happens_at_its_end(store):
    session = request(store, None, cart=[1])
    old = session.session_id
    session = store.load(old)
    session.rotate()
    session["user"] = "alice"
    assert raw_item(store, old) is not None  # nothing written before the end
    store.finish(session)
    assert store.load(old).is_new
    assert store.load(session.session_id) == {"cart": [1], "user": "alice"}


@pytest.fixture
def proxied(config, clock) -> Iterator[tuple[SessionStore, FaultProxy]]:
    """A store reaching the test's table through a fault proxy, without retries."""
    with (
        FaultProxy(config.connection.endpoint_url) as proxy,
        SessionStore(through(config, proxy, max_attempts=1), clock=clock) as store,
    ):
        yield store, proxy


def test_a_rotation_failing_before_the_delete_loses_nothing(proxied):
    store, proxy = proxied
    session = request(store, None, cart=[1])
    old = session.session_id
    proxy.rule("throttle", "DeleteItem")
    with pytest.raises(BackendUnavailableError):
        store.rotate(session)
    # The user's cookie still names the old id, which still works with all its data.
    assert store.load(old) == {"cart": [1]}


def test_a_rotation_failing_at_the_create_loses_nothing(proxied):
    store, proxy = proxied
    session = request(store, None, cart=[1])
    old = session.session_id
    proxy.rule("throttle", "PutItem")
    with pytest.raises(BackendUnavailableError):
        store.rotate(session)
    assert store.load(old) == {"cart": [1]}

"""Eventual consistency never logs anyone out (issue 11, item 8).

With ``consistent_read=False`` the store reads through a test engine whose eventually consistent
reads lag a minute behind the writes (``faults/stale.py``: a real TCP proxy in front of the
engine, botocore signing every request). A miss or an old copy is confirmed by one strongly
consistent read before the session is given up; the re-read after a conflict and the lock's
reads are always strongly consistent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from werkzeug.test import Client

from dynamodb_sessions import SessionStore, StoreConfig
from dynamodb_sessions.config import LockSettings
from dynamodb_sessions.exceptions import SessionLockError
from dynamodb_sessions.integrations.wsgi import ENVIRON_KEY, SessionMiddleware
from faults.proxy import FaultProxy
from faults.stale import StaleReads


@pytest.fixture
def stale(proxy: FaultProxy) -> StaleReads:
    return StaleReads(proxy, lag=60.0)


@pytest.fixture
def eventual(config: StoreConfig, proxy: FaultProxy, stale: StaleReads) -> StoreConfig:
    """The test's table through the stale engine, read eventually consistently."""
    return config.replace(
        consistent_read=False,
        connection=dataclasses.replace(config.connection, endpoint_url=proxy.endpoint),
    )


@pytest.fixture
def store(eventual: StoreConfig, clock) -> Iterator[SessionStore]:
    with SessionStore(eventual, clock=clock) as store:
        yield store


def test_a_session_read_just_after_it_was_created_is_found(store, stale):
    session = store.load(None)
    session["user"] = "ada"
    store.finish(session)
    loaded = store.load(session.session_id)  # the replica has not seen the item yet
    assert not loaded.stale_cookie and loaded == {"user": "ada"}
    assert stale.stale_answers == 1 and stale.reads == [False, True]


def test_a_refreshed_session_that_looks_expired_on_a_replica_is_kept(store, stale, clock):
    session = store.load(None)
    session["user"] = "ada"
    store.finish(session)
    store.load(session.session_id)  # the proxy sees the item as first written
    clock.advance(store.config.timeout - 1)
    active = store.load(session.session_id)
    active.get("user")
    store.finish(active)  # refreshes it (the touch is due): valid for another timeout
    clock.advance(2)  # the copy from before the refresh is expired by now
    reads = len(stale.reads)
    loaded = store.load(session.session_id)
    assert not loaded.stale_cookie and loaded == {"user": "ada"}
    assert stale.reads[reads:] == [False, True]  # the old copy was confirmed, not believed


def test_a_save_that_conflicts_re_reads_strongly_and_merges(store, config, clock):
    """An eventually consistent re-read would serve the version this request already lost to,
    every time: the save would conflict until it gave up."""
    seed = store.load(None)
    seed["n"] = 0
    store.finish(seed)
    sid = seed.session_id
    first = store.load(sid)  # both read version 1 (confirmed)
    second = store.load(sid)
    second["theirs"] = 1
    store.finish(second)  # version 2
    first["mine"] = 1
    store.finish(first)  # conflicts on version 1; the re-read must see version 2
    with SessionStore(config, clock=clock) as direct:  # the truth, read strongly
        assert dict(direct.load(sid)) == {"n": 0, "theirs": 1, "mine": 1}


@pytest.mark.engines("dynalite", reason="lock mode relies on atomic conditional writes")
def test_the_lock_reads_strongly(store, eventual, clock):
    """A waiter that read "no item" from a replica would give the session up (a log-out)."""
    locking = SessionStore(
        eventual.replace(lock=LockSettings(lease=10, wait=0.0)), client=store.client, clock=clock
    )
    session = locking.load(None)
    session["user"] = "ada"
    locking.finish(session)
    holder = locking.load(session.session_id)
    with pytest.raises(SessionLockError):
        locking.load(session.session_id)
    locking.finish(holder)
    assert locking.load(session.session_id) == {"user": "ada"}


def app(environ, start_response):
    session = environ[ENVIRON_KEY]
    if environ["PATH_INFO"] == "/login":
        session["user"] = "ada"
    body = str(session.get("user")).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


def test_a_wsgi_user_is_not_logged_out_by_a_lagging_replica(store):
    client = Client(SessionMiddleware(app, store))
    assert client.get("/login").text == "ada"
    response = client.get("/")  # the very next request, served by a replica that lags
    assert response.text == "ada"
    assert not any("session=;" in h for h in response.headers.getlist("Set-Cookie"))

"""Log out everywhere closes its window (issue 11, item 11), on dynalite behind a proxy whose
user index lags: a Query leaves out the sessions written in the last 0.8 s, as DynamoDB's
eventually consistent index can. Log-ins run in threads while the revocation runs."""

from __future__ import annotations

import dataclasses
import threading

import pytest
from werkzeug.test import Client

from dynamodb_sessions import SessionRevokedError, SessionStore, StoreConfig
from dynamodb_sessions._core import users
from dynamodb_sessions.integrations.wsgi import ENVIRON_KEY, SessionMiddleware
from faults.proxy import FaultProxy
from faults.stale import StaleReads

pytestmark = pytest.mark.engines(
    "dynalite", reason="threads racing on conditional writes; one engine is enough"
)


@pytest.fixture
def lagging(config: StoreConfig, proxy: FaultProxy) -> tuple[StoreConfig, StaleReads]:
    # Less than the second sweep's delay (users.REVOKE_SETTLE): a lag the revocation covers.
    index = StaleReads(proxy, lag=0.0, index_lag=0.8)
    assert index.index_lag < users.REVOKE_SETTLE
    through = config.replace(
        connection=dataclasses.replace(config.connection, endpoint_url=proxy.endpoint)
    )
    return through, index


def log_in(store: SessionStore, user: str) -> str:
    session = store.load(None)
    session["cart"] = "full"
    session.user_id = user
    store.finish(session)
    return session.session_id


def test_no_session_logged_in_while_the_revocation_runs_survives(lagging, clock):
    config, index = lagging
    kept: list[str] = []
    refused = 0
    stop = threading.Event()
    revoking = threading.Event()
    attempts_after: list[int] = [0, 0]
    with SessionStore(config, clock=clock) as store:
        before = [log_in(store, "ada") for _ in range(3)]

        def worker(n: int) -> None:
            nonlocal refused
            while not stop.is_set():
                try:
                    kept.append(log_in(store, "ada"))
                except SessionRevokedError:
                    refused += 1
                if revoking.is_set():
                    attempts_after[n] += 1

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        while len(kept) < 6:  # logging in by now, some of it too fresh for the index
            stop.wait(0.01)
        revoking.set()
        just_before = log_in(store, "ada")  # not in the index before the first sweep
        store.revoke_user("ada")
        done = list(attempts_after)
        while any(a <= d for a, d in zip(attempts_after, done, strict=True)):
            stop.wait(0.01)  # each thread tried again after the revocation returned
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        assert index.hidden > 0  # the index really lagged behind some log-ins
        # Every session logged in before, during, or at the same clock time after the
        # revocation is gone: none was kept by a lagging index or a log-in racing the sweep.
        assert store.list_user_sessions("ada") == []
        assert all(store.load(sid).is_new for sid in [*before, just_before, *kept])
        assert refused > 0  # log-ins after the mark were turned away, not silently kept

        clock.advance(users.REVOKE_AFTER + 1)  # later log-ins are not affected
        later = log_in(store, "ada")
        assert store.load(later).user_id == "ada"


def login_app(environ, start_response):
    session = environ[ENVIRON_KEY]
    session.user_id = "ada"
    session["cart"] = "full"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"welcome"]


def test_a_wsgi_log_in_during_a_revocation_answers_503_and_keeps_nothing(store, clock, caplog):
    caplog.set_level("INFO", logger="dynamodb_sessions.security")
    store.revoke_user("ada")  # just now: log-ins at this time are covered by it
    client = Client(SessionMiddleware(login_app, store))
    response = client.get("/login")
    assert response.status_code == 503 and "Retry-After" in response.headers
    assert not response.headers.getlist("Set-Cookie")
    assert store.list_user_sessions("ada") == []
    events = [getattr(record, "event", None) for record in caplog.records]
    assert events.count("revoked_user") == 1 and events.count("revoked_login") == 1
    assert "ada" not in caplog.text
    clock.advance(users.REVOKE_AFTER + 1)
    response = client.get("/login")
    assert response.status_code == 200 and response.headers.getlist("Set-Cookie")
    assert len(store.list_user_sessions("ada")) == 1

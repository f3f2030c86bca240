"""A failed request saves nothing (issue 11, item 9): at every adapter, a view that changes the
session and then raises, or answers 500, leaves the stored session as it was and sets no
cookie; a cookieless visitor who got an error page gets no item. ``save_on_server_error`` turns
saving on for 5xx answers. In lock mode the failed request still gives the lock back. Django's
own SessionMiddleware already skips the save of a 5xx answer (and raising views end as 5xx)."""

from __future__ import annotations

import pytest
from failing_apps import ADAPTERS, PaymentFailed, build, count_items

from dynamodb_sessions.config import LockSettings

ONE_ENGINE = "adapter behaviour does not depend on the engine; one keeps the suite quick"


def stored(send) -> str:
    sid = send("/set").issued
    assert sid is not None
    return sid


@pytest.mark.engines("dynalite", reason=ONE_ENGINE)
@pytest.mark.parametrize("path", ["/debit", "/debit-500"])
@pytest.mark.parametrize("name", ADAPTERS)
def test_a_failed_request_leaves_the_session_as_it_was(name, path, config, clock):
    with build(name, config, clock) as send:
        sid = stored(send)
        reply = send(path, f"session={sid}")
        assert reply.status == 500 and reply.set_cookies == []
        if path == "/debit":
            assert isinstance(reply.error, PaymentFailed)
        assert send("/get", f"session={sid}").body == {"a": "1"}  # not debited


@pytest.mark.engines("dynalite", reason=ONE_ENGINE)
@pytest.mark.parametrize("path", ["/debit", "/debit-500"])
@pytest.mark.parametrize("name", ADAPTERS)
def test_a_cookieless_visitor_who_got_an_error_gets_no_item_and_no_cookie(
    name, path, config, clock
):
    with build(name, config, clock) as send:
        for _ in range(3):
            reply = send(path)
            assert reply.status == 500 and reply.set_cookies == []
    assert count_items(config) == 0


@pytest.mark.engines("dynalite", reason=ONE_ENGINE)
@pytest.mark.parametrize("name", ADAPTERS)
def test_save_on_server_error_saves_5xx_answers_but_never_a_raising_view(name, config, clock):
    with build(name, config, clock, save_on_server_error=True) as send:
        sid = stored(send)
        assert send("/debit", f"session={sid}").status == 500
        assert send("/get", f"session={sid}").body == {"a": "1"}
        reply = send("/debit-500", f"session={sid}")
        assert reply.status == 500
        assert send("/get", f"session={sid}").body == {"a": "1", "balance": "debited"}


@pytest.mark.engines("dynalite", reason="lock mode relies on atomic conditional writes")
@pytest.mark.parametrize("path", ["/debit", "/debit-500"])
@pytest.mark.parametrize("name", ADAPTERS)
def test_in_lock_mode_a_failed_request_still_gives_the_lock_back(name, path, config, clock):
    # A lease far longer than the wait: had the failed request kept the lock, the next
    # request would wait 0.2 s and answer 503.
    locking = config.replace(lock=LockSettings(lease=60, wait=0.2, poll=0.05))
    with build(name, locking, clock) as send:
        sid = stored(send)
        assert send(path, f"session={sid}").status == 500
        reply = send("/get", f"session={sid}")
        assert (reply.status, reply.body) == (200, {"a": "1"})


@pytest.mark.engines("dynalite", reason="lock mode relies on atomic conditional writes")
def test_flask_gives_the_lock_back_when_the_exception_propagates(config, clock):
    # In testing mode (PROPAGATE_EXCEPTIONS) Flask skips save_session for a raising view.
    from flask import Flask, session

    from dynamodb_sessions import Codec, SessionStore
    from dynamodb_sessions.integrations.flask import DynamoDBSessions, TaggedJSON

    locking = config.replace(lock=LockSettings(lease=60, wait=0.2, poll=0.05))
    with SessionStore(locking, codec=Codec(serializer=TaggedJSON()), clock=clock) as store:
        app = Flask(__name__)
        app.config.update(PERMANENT_SESSION_LIFETIME=store.config.timeout, TESTING=True)
        DynamoDBSessions(app, store=store)

        @app.get("/set")
        def set_value() -> str:
            session["a"] = "1"
            return "ok"

        @app.get("/debit")
        def debit() -> str:
            session["balance"] = "debited"
            raise PaymentFailed("after the session was changed")

        @app.get("/get")
        def get() -> dict[str, str]:
            return dict(session)

        client = app.test_client()
        client.get("/set")
        with pytest.raises(PaymentFailed):
            client.get("/debit")
        reply = client.get("/get")
        assert (reply.status_code, reply.json) == (200, {"a": "1"})

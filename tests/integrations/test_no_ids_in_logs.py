"""Session ids never reach logs or error messages: every error path is driven, with every logger
(botocore's included) at DEBUG, and the captured text is searched for each id used. Ids appear
only as a short hash (``ids.log_safe``)."""

from __future__ import annotations

import base64
import dataclasses
import logging
import os

import pytest
from werkzeug.test import Client

from dynamodb_sessions import SessionError, SessionStore
from dynamodb_sessions.config import LockSettings
from dynamodb_sessions.ids import log_safe, new_session_id, storage_key
from dynamodb_sessions.integrations.wsgi import ENVIRON_KEY, SessionMiddleware
from faults.proxy import FaultProxy


def app(environ, start_response):
    session = environ[ENVIRON_KEY]
    session["n"] = session.get("n", 0) + 1
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def saved(store: SessionStore, **data: object) -> str:
    session = store.load(None)
    session.update(data)
    store.finish(session)
    return session.session_id


@pytest.mark.engines("dynalite", reason="the paths are the library's; one engine is enough")
def test_no_error_path_logs_a_session_id(engine, config, clock, caplog):
    ids: list[str] = []
    errors: list[str] = []

    def attempt(action) -> None:
        try:
            action()
        except SessionError as exc:
            errors.append(f"{exc!r} {exc} {exc.__cause__!r}")

    key = base64.b64encode(os.urandom(32)).decode()
    with FaultProxy(engine.endpoint) as proxy, caplog.at_level(logging.DEBUG):
        through = config.replace(
            connection=dataclasses.replace(
                config.connection, endpoint_url=proxy.endpoint, read_timeout=0.25, max_attempts=2
            )
        )
        store = SessionStore(through, clock=clock)
        web = Client(SessionMiddleware(app, store), use_cookies=False)

        # Cookies never issued: malformed, and of the right shape.
        for cookie in ("garbage", new_session_id()):
            ids.append(cookie)
            web.get("/", headers={"Cookie": f"session={cookie}"})

        # A corrupt item, and one encrypted with a key this store does not have.
        corrupt = saved(store, a=1)
        ids.append(corrupt)
        store.client.update_item(
            TableName=config.table,
            Key={"id": {"S": storage_key(corrupt)}},
            UpdateExpression="SET #d = :d",
            ExpressionAttributeNames={"#d": "data"},
            ExpressionAttributeValues={":d": {"B": b"J{broken"}},
        )
        web.get("/", headers={"Cookie": f"session={corrupt}"})
        foreign = saved(SessionStore(through.replace(encryption_keys=(key,))), a=1)
        ids.append(foreign)
        web.get("/", headers={"Cookie": f"session={foreign}"})

        # Conflicts past the retries.
        strict = SessionStore(through.replace(max_conflict_retries=0), clock=clock)
        contested = saved(strict, a=1)
        ids.append(contested)
        one, two = strict.load(contested), strict.load(contested)
        one["a"], two["a"] = 2, 3
        strict.finish(one)
        attempt(lambda: strict.finish(two))

        # Lock mode: a session held by another request past the wait.
        locking = SessionStore(through.replace(lock=LockSettings(wait=0.1, poll=0.05)), clock=clock)
        held = saved(locking, a=1)
        ids.append(held)
        locking.load(held)
        attempt(lambda: locking.load(held))

        # Outages: refused, stalled, cut, throttled; during loads and saves.
        victim = saved(store, a=1)
        ids.append(victim)
        for fault in ("stall", "cut", "throttle"):
            proxy.rule(fault)
            web.get("/", headers={"Cookie": f"session={victim}"})
            attempt(lambda: store.load(victim))
            proxy.heal()
        session = store.load(victim)
        session["b"] = 2
        proxy.refuse()
        attempt(lambda: store.finish(session))
        web.get("/", headers={"Cookie": f"session={victim}"})
        proxy.restore()

    assert len(errors) >= 5, errors
    text = caplog.text + "\n".join(errors)
    assert "discarding corrupt item" in text  # the corrupt items were logged, by hash
    assert log_safe(corrupt) in text
    for sid in ids:
        assert sid not in text, f"a session id leaked: {sid[:6]}..."

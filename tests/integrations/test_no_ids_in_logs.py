"""Session ids never reach logs or error messages: every error path is driven, with every logger
(botocore's and urllib3's included) at DEBUG, on both transports, and the captured text is
searched for each id used. Ids appear only as a short keyed tag (``ids.log_safe``), and the
security events are logged on ``dynamodb_sessions.security``; no repr shows a secret."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import logging
import os

import pytest
from werkzeug.test import Client

from dynamodb_sessions import (
    Connection,
    SessionConflictError,
    SessionError,
    SessionStore,
    StoreConfig,
)
from dynamodb_sessions._core.lifecycle import CookieAction, CookieUpdate
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
@pytest.mark.transports  # what botocore logs at DEBUG, and what the lean path (urllib3) logs
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
        # Replacing everything (a clear) is the write conditional on the version read.
        one["a"] = 2
        two.clear()
        two["a"] = 3
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


# -- the security log (issue 12, item 5) -------------------------------------------------------

SECURITY = "dynamodb_sessions.security"


def account_app(environ, start_response):
    """/login stores a user's session under a new id; /logout flushes it; /n counts."""
    session = environ[ENVIRON_KEY]
    path = environ["PATH_INFO"]
    if path == "/login":
        session.rotate()
        session["user"] = "ada"
        session.user_id = "ada@example.org"
    elif path == "/logout":
        session.flush()
    else:
        session["n"] = session.get("n", 0) + 1
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def issued(response) -> str:
    (header,) = response.headers.getlist("Set-Cookie")
    return header.split(";")[0].partition("=")[2]


@pytest.mark.engines("dynalite", reason="the events are the library's; one engine is enough")
def test_every_security_event_is_logged_by_tag_only(config, clock, caplog):
    ids: list[str] = []
    key = base64.b64encode(os.urandom(32)).decode()
    with caplog.at_level(logging.DEBUG):
        store = SessionStore(config, clock=clock)
        web = Client(SessionMiddleware(account_app, store), use_cookies=False)

        unknown = new_session_id()  # well-formed, never issued
        web.get("/", headers={"Cookie": f"session={unknown}"})

        corrupt = saved(store, a=1)
        store.client.update_item(
            TableName=config.table,
            Key={"id": {"S": storage_key(corrupt)}},
            UpdateExpression="SET #d = :d",
            ExpressionAttributeNames={"#d": "data"},
            ExpressionAttributeValues={":d": {"B": b"J{broken"}},
        )
        web.get("/", headers={"Cookie": f"session={corrupt}"})
        tampered = saved(SessionStore(config.replace(encryption_keys=(key,)), clock=clock), a=1)
        web.get("/", headers={"Cookie": f"session={tampered}"})

        before = issued(web.get("/"))
        after = issued(web.get("/login", headers={"Cookie": f"session={before}"}))
        ended = issued(web.get("/login", headers={"Cookie": f"session={after}"}))
        web.get("/logout", headers={"Cookie": f"session={ended}"})
        other = issued(web.get("/login"))
        assert store.revoke_user("ada@example.org") >= 1

        strict = SessionStore(config.replace(max_conflict_retries=0), clock=clock)
        contested = saved(strict, a=1)
        one, two = strict.load(contested), strict.load(contested)
        # Replacing everything (a clear) is the write conditional on the version read.
        one["a"] = 2
        two.clear()
        two["a"] = 3
        strict.finish(one)
        with pytest.raises(SessionConflictError):
            strict.finish(two)

        locking = SessionStore(config.replace(lock=LockSettings(wait=0.1, poll=0.05)), clock=clock)
        held = saved(locking, a=1)
        locking.load(held)
        locked_web = Client(SessionMiddleware(account_app, locking), use_cookies=False)
        assert locked_web.get("/", headers={"Cookie": f"session={held}"}).status_code == 503
        ids += [unknown, corrupt, tampered, before, after, ended, other, contested, held]

    events = {}
    for record in caplog.records:
        if record.name == SECURITY:
            events.setdefault(record.event, []).append(record.getMessage())
    assert log_safe(unknown) in " ".join(events["unknown_id"])
    corrupted = " ".join(events["corrupt_item"])
    assert log_safe(corrupt) in corrupted and log_safe(tampered) in corrupted
    rotated = " ".join(events["rotated"])
    assert f"{log_safe(before)}: rotated to {log_safe(after)}" in rotated
    assert f"{log_safe(after)}: rotated to {log_safe(ended)}" in rotated
    assert log_safe(ended) in " ".join(events["ended"])
    assert "1 sessions revoked" in " ".join(events["revoked_user"])
    assert log_safe(contested) in " ".join(events["conflict"])
    assert log_safe(held) in " ".join(events["lock_timeout"])
    ours = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith("dynamodb_sessions")
    )
    assert "ada@example.org" not in ours
    for sid in ids:
        assert sid not in caplog.text, f"a session id leaked: {sid[:6]}..."
        # Not the table key either, nor its prefix: a tag cannot be joined with an item.
        assert storage_key(sid) not in ours and storage_key(sid)[:12] not in ours


def test_a_log_tag_is_keyed_not_a_hash_of_the_id():
    sid = new_session_id()
    assert log_safe(sid) == log_safe(sid) and len(log_safe(sid)) == 12
    assert log_safe(sid) != hashlib.sha256(sid.encode()).hexdigest()[:12]
    assert not storage_key(sid).startswith(log_safe(sid))


def test_no_secret_in_a_repr():
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    key = base64.b64encode(os.urandom(32)).decode()
    connection = Connection(
        region="us-east-1", endpoint_url="http://127.0.0.1:9", access_key="AKID", secret_key=secret
    )
    config = StoreConfig(table="t", connection=connection, encryption_keys=(key,))
    store = SessionStore(config)
    session = store.load(None)
    session["a"] = 1
    update = CookieUpdate(CookieAction.SET, session.session_id, 60)
    shown = " ".join(
        repr(thing) for thing in (connection, config, store, store.codec, session, update)
    )
    assert secret not in shown and key not in shown
    assert session.session_id not in shown
    store.close()

"""Payloads at and beyond the item size limit: at the limit the session is stored; one byte over,
SessionTooLargeError is raised before any write (the stored session stays as it was), with and
without encryption (whose overhead counts). The real 400 KB limit against dynalite's own is in
test_contract.py."""

from __future__ import annotations

import base64
import os

import pytest
from werkzeug.test import Client

from dynamodb_sessions import SessionStore, SessionTooLargeError
from dynamodb_sessions._core.items import build_item, item_size
from dynamodb_sessions.ids import storage_key
from dynamodb_sessions.integrations.wsgi import ENVIRON_KEY, SessionMiddleware

LIMIT = 4000
pytestmark = pytest.mark.engines(
    "dynalite", reason="the codec and the size guard act before the engine; one engine is enough"
)
KEY = base64.b64encode(os.urandom(32)).decode()


def filler_for(store: SessionStore, session_id: str, spare: int) -> str:
    """A value that makes the session's new item exactly ``LIMIT - spare`` bytes."""
    key = storage_key(session_id)
    unlimited = store.config.replace(max_item_bytes=400 * 1024)
    now = int(store.clock())
    blob = store.codec.encode_value("x", "", item_key=key)
    item = build_item(
        key,
        {"x": blob},
        now=now,
        created=now,
        timeout=None,  # the configured timeout: not stored on the item
        version=1,
        user_id=None,
        config=unlimited,
    )
    return "y" * (LIMIT - spare - item_size(item))


@pytest.fixture(params=["plain", "encrypted"])
def limited(request, config, clock):
    extra = {"encryption_keys": (KEY,)} if request.param == "encrypted" else {}
    # No compression: the size is then exactly what the test makes it.
    limited = config.replace(max_item_bytes=LIMIT, compress_threshold=10**6, **extra)
    with SessionStore(limited, clock=clock) as store:
        yield store


def test_a_session_exactly_at_the_limit_is_stored(limited):
    session = limited.load(None)
    session["x"] = filler_for(limited, session.session_id, spare=0)
    limited.finish(session)
    assert limited.load(session.session_id)["x"] == session["x"]


def test_one_byte_over_raises_before_any_write(limited, call_log):
    calls = call_log().attach(limited)
    session = limited.load(None)
    session["x"] = filler_for(limited, session.session_id, spare=-1)
    with pytest.raises(SessionTooLargeError) as info:
        limited.finish(session)
    assert info.value.size == LIMIT + 1 and info.value.limit == LIMIT
    assert calls == []


def test_an_update_over_the_limit_leaves_the_stored_session_as_it_was(limited, call_log):
    session = limited.load(None)
    session["x"] = "small"
    limited.finish(session)
    calls = call_log().attach(limited)
    again = limited.load(session.session_id)
    again["x"] = filler_for(limited, session.session_id, spare=-1)
    with pytest.raises(SessionTooLargeError):
        limited.finish(again)
    assert calls == ["GetItem"]  # the read; no write was attempted
    assert dict(limited.load(session.session_id)) == {"x": "small"}


def test_at_the_wsgi_adapter_too_much_data_is_the_apps_error_and_nothing_is_written(limited):
    def app(environ, start_response):
        environ[ENVIRON_KEY]["x"] = environ.get("QUERY_STRING") or "small"
        start_response("200 OK", [])
        return [b"ok"]

    web = Client(SessionMiddleware(app, limited))
    web.get("/")
    sid = web.get_cookie("session").value
    with pytest.raises(SessionTooLargeError):  # the app stored too much: its failure, clearly
        web.get("/?" + "y" * LIMIT)
    assert dict(limited.load(sid)) == {"x": "small"}


def test_the_guard_counts_the_keys_already_stored_when_one_key_changes(limited, call_log):
    """A save writes only the changed key, but the guard sizes the item as it will be: the
    stored keys plus the change. A small new key on a session near the limit is refused."""
    session = limited.load(None)
    session["x"] = filler_for(limited, session.session_id, spare=20)
    limited.finish(session)
    calls = call_log().attach(limited)
    again = limited.load(session.session_id)
    again["z"] = "a value that needs more than twenty bytes once stored"
    with pytest.raises(SessionTooLargeError):
        limited.finish(again)
    assert calls == ["GetItem"]  # refused before the update
    assert set(limited.load(session.session_id)) == {"x"}

"""Hostile input at every adapter (WSGI, Flask, Starlette, FastAPI; Django has its own module):
malformed, empty, huge, non-ASCII and duplicated session cookies, ids of the right shape that
were never issued, tampered stored items, and random cookies and contents (hypothesis). Each
gets a defined outcome: a new empty session, with no DynamoDB call for a malformed id, and never
a 500. Also session fixation: an id the server did not issue is never adopted; rotate and flush
retire the old id server-side."""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import pytest
from fastapi import FastAPI, Request
from flask import Flask
from flask import request as flask_request
from flask import session as flask_session
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from werkzeug.test import Client

from dynamodb_sessions import AsyncSessionStore, Codec, SessionStore
from dynamodb_sessions.ids import is_well_formed, new_session_id, storage_key
from dynamodb_sessions.integrations import starlette as asgi
from dynamodb_sessions.integrations import wsgi
from dynamodb_sessions.integrations.flask import DynamoDBSessions, TaggedJSON
from strategies import json_values

ADAPTERS = ("wsgi", "flask", "starlette", "fastapi")
ASGI = {"starlette", "fastapi"}
ONE_ENGINE = "adapter behaviour does not depend on the engine; one keeps the suite quick"


def act(path: str, query: dict[str, str], body: bytes, session: Any) -> dict[str, Any]:
    """Every adapter's app: /get reads, /set?k=v and /put (a JSON object) write, /rotate moves
    the session to a new id (log in), /logout flushes it, / leaves it alone."""
    if path == "/get":
        return dict(session)
    if path == "/set":
        session.update(query)
    elif path == "/put":
        session.update(json.loads(body))
    elif path == "/rotate":
        session.rotate()
    elif path == "/logout":
        session.flush()
    return {"ok": True}


@dataclass
class Reply:
    status: int
    body: Any
    set_cookies: list[str]
    retry_after: str | None

    @property
    def issued(self) -> str | None:
        """The session id a Set-Cookie gives, if it sets (not deletes) one."""
        for header in self.set_cookies:
            name, _, rest = header.partition("=")
            value = rest.split(";")[0].strip('"')
            if name == "session" and value and "max-age=0" not in header.lower():
                return value
        return None


class Web:
    """One adapter, driven with raw Cookie headers (no cookie jar)."""

    def __init__(self, name: str, store: Any, send: Any) -> None:
        self.name, self.store, self.send = name, store, send

    def get(self, path: str, cookie: str | None = None, body: bytes = b"") -> Reply:
        return self.send(path, cookie, body)


def wsgi_app(store: SessionStore) -> Any:
    def app(environ, start_response):
        query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = act(
            environ["PATH_INFO"],
            query,
            environ["wsgi.input"].read(length),
            environ[wsgi.ENVIRON_KEY],
        )
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]

    return wsgi.SessionMiddleware(app, store)


def flask_app(store: SessionStore) -> Flask:
    app = Flask(__name__)
    app.config["PERMANENT_SESSION_LIFETIME"] = store.config.timeout
    DynamoDBSessions(app, store=store)

    @app.route("/<action>", methods=["GET", "POST"])
    def view(action: str) -> dict[str, Any]:
        return act(
            flask_request.path,
            flask_request.args.to_dict(),
            flask_request.get_data(),
            flask_session,
        )

    return app


def asgi_app(name: str, store: AsyncSessionStore) -> Any:
    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        async with store:
            yield

    async def endpoint(request: Any) -> JSONResponse:
        query = dict(request.query_params)
        return JSONResponse(act(request.url.path, query, await request.body(), request.session))

    paths = ("/", "/get", "/set", "/put", "/rotate", "/logout")
    if name == "starlette":
        return Starlette(
            routes=[Route(path, endpoint, methods=["GET", "POST"]) for path in paths],
            middleware=[Middleware(asgi.SessionMiddleware, store=store)],
            lifespan=lifespan,
        )
    app = FastAPI(lifespan=lifespan)
    app.add_middleware(asgi.SessionMiddleware, store=store)

    @app.api_route("/{action}", methods=["GET", "POST"])
    async def view(action: str, request: Request) -> dict[str, Any]:
        return act(
            request.url.path, dict(request.query_params), await request.body(), request.session
        )

    return app


@contextmanager
def build(name: str, config: Any, clock: Any) -> Iterator[Web]:
    """Adapter ``name`` on a store of ``config``."""
    if name in ASGI:
        store = AsyncSessionStore(config, clock=clock)
        with TestClient(asgi_app(name, store), raise_server_exceptions=False) as client:

            def send(path: str, cookie: str | None, body: bytes) -> Reply:
                client.cookies.clear()
                headers = {} if cookie is None else {"cookie": cookie.encode("latin-1")}
                response = client.request(
                    "POST" if body else "GET", path, headers=headers, content=body
                )
                try:
                    parsed = response.json()
                except ValueError:
                    parsed = None
                return Reply(
                    response.status_code,
                    parsed,
                    response.headers.get_list("set-cookie"),
                    response.headers.get("retry-after"),
                )

            yield Web(name, store, send)
        return
    store = SessionStore(config, codec=Codec(serializer=TaggedJSON()), clock=clock)
    app = flask_app(store) if name == "flask" else wsgi_app(store)
    client = Client(app, use_cookies=False)

    def send(path: str, cookie: str | None, body: bytes) -> Reply:
        headers = {} if cookie is None else {"Cookie": cookie}
        response = client.open(path, method="POST" if body else "GET", headers=headers, data=body)
        return Reply(
            response.status_code,
            response.get_json(silent=True),
            response.headers.getlist("Set-Cookie"),
            response.headers.get("Retry-After"),
        )

    with store:
        yield Web(name, store, send)


@pytest.fixture(params=ADAPTERS)
def web(request, config, clock) -> Iterator[Web]:
    with build(request.param, config, clock) as web:
        yield web


@pytest.fixture
def calls(web, call_log):
    """The DynamoDB calls of the adapter's store, from now on."""
    return call_log().attach(web.store)


def stored(web: Web, data: str = "a=1") -> str:
    sid = web.get(f"/set?{data}").issued
    assert sid is not None and is_well_formed(sid)
    return sid


# -- malformed cookies: a new empty session, no DynamoDB call ---------------------------------

MALFORMED = {
    "empty": "session=",
    "garbage": "session=garbage",
    "one short": "session=" + "a" * 42,
    "one long": "session=" + "a" * 44,
    "padding": "session=" + "a" * 42 + "=",
    "quotes": 'session="' + "a" * 41 + '"x',
    "non-ascii": "session=" + "é" * 43,
    "sql-ish": "session=' OR 1=1 --",
    "1 MB": "session=" + "A" * (1024 * 1024),
    "no value": "session",
    "only separators": ";;; ;=;=",
}


@pytest.mark.engines("dynalite", reason=ONE_ENGINE)
def test_a_malformed_cookie_is_a_new_session_without_a_call(web, calls):
    for name, cookie in MALFORMED.items():
        calls.clear()
        reply = web.get("/get", cookie)
        assert (reply.status, reply.body, calls) == (200, {}, []), name
        reply = web.get("/set?a=1", cookie)
        assert reply.status == 200 and is_well_formed(reply.issued), name
        assert calls == ["PutItem"], name


@pytest.mark.engines("dynalite", reason=ONE_ENGINE)
def test_a_well_formed_id_never_issued_is_not_adopted(web, calls):
    planted = new_session_id()  # an attacker's id, planted in the victim's browser
    reply = web.get("/get", f"session={planted}")
    assert reply.status == 200 and reply.body == {}
    assert calls == ["GetItem"]  # looked up once, found nothing
    reply = web.get("/set?user=victim", f"session={planted}")
    assert reply.issued not in (None, planted)
    with SessionStore(web.store.config) as store:
        assert not store.exists(planted)
        assert store.exists(reply.issued)


@pytest.mark.engines("dynalite", reason=ONE_ENGINE)
def test_duplicated_cookies_never_fail_and_never_mix_sessions(web):
    mine, other = stored(web, "who=me"), stored(web, "who=other")
    for header in (
        f"session={mine}; session={other}",
        f"session=garbage; session={mine}",
        f"session={mine}; session=garbage",
    ):
        reply = web.get("/get", header)
        assert reply.status == 200
        # Frameworks differ in which duplicate wins (first or last); either way the session
        # is exactly one of them, or new.
        assert reply.body in ({"who": "me"}, {"who": "other"}, {})


@pytest.mark.engines("dynalite", reason=ONE_ENGINE)
def test_a_session_cookie_among_many_others_is_found(web):
    sid = stored(web)
    header = "; ".join([*(f"c{i}=v{i}" for i in range(200)), f"session={sid}", "x=1"])
    assert web.get("/get", header).body == {"a": "1"}


@pytest.mark.engines("dynalite", reason=ONE_ENGINE)
def test_a_tampered_item_is_a_new_session_not_an_error(web):
    sid = stored(web)
    with SessionStore(web.store.config) as store:
        store.client.update_item(
            TableName=store.config.table,
            Key={"id": {"S": storage_key(sid)}},
            UpdateExpression="SET #d = :d, #v = :v",
            ExpressionAttributeNames={"#d": "data", "#v": "version"},
            ExpressionAttributeValues={":d": {"B": b"Z\x78\x9cnot zlib"}, ":v": {"S": "x"}},
        )
    reply = web.get("/get", f"session={sid}")
    assert reply.status == 200 and reply.body == {}


# -- fixation: rotate on privilege change, logout invalidates server-side ---------------------


@pytest.mark.engines("dynalite", reason=ONE_ENGINE)
def test_rotate_moves_the_session_and_retires_the_old_id(web):
    before = stored(web, "cart=3")
    reply = web.get("/rotate", f"session={before}")
    after = reply.issued
    assert reply.status == 200 and after not in (None, before)
    assert web.get("/get", f"session={after}").body == {"cart": "3"}
    assert web.get("/get", f"session={before}").body == {}  # the old id is dead server-side


@pytest.mark.engines("dynalite", reason=ONE_ENGINE)
def test_logout_invalidates_the_session_server_side(web):
    sid = stored(web, "user=ada")
    reply = web.get("/logout", f"session={sid}")
    assert reply.status == 200
    assert all("max-age=0" in c.lower() for c in reply.set_cookies)
    # Replaying the old cookie (a copy kept by an attacker) finds nothing.
    assert web.get("/get", f"session={sid}").body == {}
    with SessionStore(web.store.config) as store:
        assert not store.exists(sid)


# -- random cookies and contents --------------------------------------------------------------

URLSAFE = string.ascii_letters + string.digits + "-_"
HEADER_CHARS = st.characters(codec="latin-1", exclude_categories=("Cc",), exclude_characters="\x7f")
cookie_values = st.one_of(
    st.text(HEADER_CHARS, max_size=80),
    st.text(URLSAFE, min_size=42, max_size=44),  # ids of about the right shape, never issued
    st.just("A" * 20_000),
)
cookie_headers = st.builds(
    lambda before, value, after, repeat: "; ".join(
        [*before, f"session={value}", *([f"session={value}x"] if repeat else []), *after]
    ),
    st.lists(st.text(HEADER_CHARS, max_size=20), max_size=3),
    cookie_values,
    st.lists(st.text(HEADER_CHARS, max_size=20), max_size=3),
    st.booleans(),
) | st.text(HEADER_CHARS, max_size=200)
contents = st.dictionaries(st.text(max_size=20), json_values, max_size=6)


@pytest.mark.engines("dynalite", reason=ONE_ENGINE)
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(header=cookie_headers, data=contents)
def test_random_cookies_and_contents_never_fail(web, header, data):
    reply = web.get("/get", header)
    assert reply.status == 200 and reply.body == {}
    reply = web.get("/put", header, json.dumps(data).encode())
    assert reply.status == 200
    if not data:
        assert reply.issued is None  # nothing to store: no session is made
        return
    sid = reply.issued
    assert sid is not None and is_well_formed(sid) and sid not in header
    assert web.get("/get", f"session={sid}").body == data

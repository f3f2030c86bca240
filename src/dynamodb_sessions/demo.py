"""``dynamodb-sessions demo``: a small web app that shows what the library does.

One page (plain HTML, a little JavaScript) on the WSGI :class:`SessionMiddleware`:

- a visit counter, the session's contents, and forms to set a key or clear the session;
- the session's item as DynamoDB holds it, read back with ``GetItem`` after this request's own
  write (hashed key, size, expiry, version);
- log in (``session.user_id = name; session.rotate()``: the key changes) and log out
  (``session.flush()``);
- the logged-in user's sessions (``store.list_user_sessions``) and "log out everywhere"
  (``store.revoke_user``);
- a burst of concurrent requests, each setting its own key, and how many landed;
- expiry: the idle timeout in force, and a 5-second one to watch the server refuse a session.

It runs on the embedded local engine (moto's server on 127.0.0.1) unless the environment names
an endpoint (``AWS_DYNAMODB_ENDPOINT``) or a table (``AWS_DYNAMODB_SESSION_TABLE``), in which
case it uses those (creating the table, with its user index, if needed).
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import Any, TextIO
from urllib.parse import parse_qs, quote
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from . import config as env_names
from .config import VALUE_PREFIX, Connection, CookieSettings, StoreConfig
from .ids import storage_key
from .integrations.wsgi import ENVIRON_KEY, SessionMiddleware, StartResponse
from .local import LOCAL_CREDENTIALS, local_engine
from .session import Session
from .store import SessionStore

DEMO_TABLE = "dynamodb-sessions-demo"
DEMO_TIMEOUT = 30 * 60
SHORT_TIMEOUT = 5  # "expire after 5 s idle"
BURST = 20  # concurrent requests of the burst button (a browser sends 6 at a time per host)
# Connections the server's listen queue holds before it accepts them: http.server's default of
# 5 makes the kernel drop (Linux; other systems reset) the rest of a burst.
LISTEN_QUEUE = 128
EMBEDDED_READ_TIMEOUT = 10.0  # seconds; see demo_config
# A browser-session cookie (no Max-Age): the browser keeps sending an expired session's id, so
# the page shows the server refusing it rather than the browser forgetting it.
DEMO_COOKIE = CookieSettings(name="demo_session", persistent=False)


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a request still running does not hold up Ctrl-C
    request_queue_size = LISTEN_QUEUE


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


STYLE = """
body{font:16px/1.5 system-ui,sans-serif;max-width:52rem;margin:1.5rem auto;padding:0 1rem;
color:#222} h1{font-size:1.5rem;margin-bottom:.2rem} h2{font-size:1.15rem;margin-top:1.8rem}
table{border-collapse:collapse;width:100%} td,th{border-bottom:1px solid #ddd;
padding:.25rem .5rem;text-align:left;vertical-align:top} th{font-weight:600}
code{font-size:.85em;word-break:break-all} form{display:inline-block;margin:.3rem .3rem .3rem 0}
.count{font-size:2rem;font-weight:600} .note{color:#555;font-size:.9rem}
.notice{background:#fff6d6;border:1px solid #e8d27c;padding:.5rem .8rem;border-radius:4px}
.mine{font-weight:600} .expired{color:#a33}
"""

SCRIPT = """
history.replaceState(null, '', '/');  // a reload should not repeat the notice above
const burst = document.getElementById('burst');
burst.onclick = async () => {
  const out = document.getElementById('burst-result');
  const n = Number(burst.dataset.n), run = Math.random().toString(36).slice(2, 10);
  out.textContent = 'sending ' + n + ' requests at once...';
  const state = async () => (await fetch('/api/session')).json();
  const before = await state();
  const replies = await Promise.all(Array.from({length: n}, (_, i) => fetch('/api/set', {
    method: 'POST',
    body: new URLSearchParams({key: 'parallel-' + String(i + 1).padStart(2, '0'), value: run}),
  })));
  const after = await state();
  const landed = Object.entries(after.contents)
    .filter(([k, v]) => k.startsWith('parallel-') && v === run).length;
  const failed = replies.filter((r) => !r.ok).length;
  out.dataset.landed = landed;
  out.textContent = landed + ' of ' + n + ' concurrent updates landed (version ' +
    before.version + ' \\u2192 ' + after.version + (failed ? ', ' + failed + ' failed' : '') +
    '). Reload to see them in the contents.';
};
const countdown = document.getElementById('countdown');
const deadline = Date.now() + 1000 * Number(countdown.dataset.seconds);
const tick = () => {
  const left = Math.ceil((deadline - Date.now()) / 1000);
  countdown.textContent = left > 0 ? 'expires in ' + left + ' s unless used'
    : 'expired: the next request gets a new, empty session';
};
tick(); setInterval(tick, 250);
"""


def demo_app(store: SessionStore, engine: str = "") -> SessionMiddleware:
    """The demo WSGI app, wrapped in the session middleware. ``engine`` names where it runs."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        session: Session = environ[ENVIRON_KEY]
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/")
        if method == "POST" and path in ACTIONS:
            location = ACTIONS[path](store, session, _form(environ))
            start_response("303 See Other", [("Location", location), ("Content-Length", "0")])
            return [b""]
        if method == "POST" and path == "/api/set":  # one request of the concurrent burst
            form = _form(environ)
            session[form.get("key", "parallel")[:40]] = form.get("value", "")[:40]
            return _json(start_response, {"ok": True})
        if path == "/api/session":
            contents = session.to_dict()  # loads the session (and with it ``stored``)
            stored = session.stored
            state = {"contents": contents, "version": stored.version if stored else 0}
            return _json(start_response, state)
        if path != "/":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        session["visits"] = int(session.get("visits", 0)) + 1  # loads the session
        refused = session.stale_cookie  # the cookie named an expired or deleted session
        start_response(
            "200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")]
        )
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        return _after_headers(lambda: _page(store, session, engine, query, refused).encode())

    return SessionMiddleware(app, store, cookie=DEMO_COOKIE)


def _after_headers(render: Callable[[], bytes]) -> Iterator[bytes]:
    # The middleware writes the session as the headers leave, with the first chunk: an empty
    # chunk goes first, so the page rendered after it shows the item as this request stored it.
    yield b""
    yield render()


# -- actions: each changes the session and names the page to go back to ------------------------


def _set(store: SessionStore, session: Session, form: dict[str, str]) -> str:
    if key := form.get("key", "").strip()[:80]:
        session[key] = form.get("value", "")[:1000]
    return "/"


def _clear(store: SessionStore, session: Session, form: dict[str, str]) -> str:
    session.clear()  # an empty session is deleted, and its cookie with it
    return "/"


def _login(store: SessionStore, session: Session, form: dict[str, str]) -> str:
    name = form.get("name", "").strip()[:64]
    if not name:
        return "/"
    before = _key(store, session) if not session.is_new else ""
    session["user"] = name
    session.user_id = name  # listed under this name by the user index
    session.rotate()  # a new id on log-in: an id planted before cannot be used after
    return "/?rotated=" + quote(before)


def _logout(store: SessionStore, session: Session, form: dict[str, str]) -> str:
    session.flush()  # empty, new id, the stored item deleted
    return "/?notice=logged-out"


def _logout_everywhere(store: SessionStore, session: Session, form: dict[str, str]) -> str:
    revoked = store.revoke_user(session.user_id) if session.user_id else 0
    session.flush()
    return f"/?revoked={revoked}"


def _expire_soon(store: SessionStore, session: Session, form: dict[str, str]) -> str:
    session.timeout = SHORT_TIMEOUT  # this session's own idle timeout, stored with its item
    return "/"


ACTIONS = {
    "/set": _set,
    "/clear": _clear,
    "/login": _login,
    "/logout": _logout,
    "/logout-everywhere": _logout_everywhere,
    "/expire-soon": _expire_soon,
}


# -- rendering -----------------------------------------------------------------------------------


def _page(
    store: SessionStore, session: Session, engine: str, query: dict[str, str], refused: bool
) -> str:
    key = _key(store, session)
    item = _read_item(store, key)
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>dynamodb-sessions demo</title><style>",
        STYLE,
        "</style></head><body><h1>dynamodb-sessions demo</h1>",
        f"<p class='note'>Sessions in table <code>{_e(store.config.table)}</code> on "
        f"{_e(engine or 'DynamoDB')}. The cookie holds a random 256-bit id; the table holds "
        "only its SHA-256.</p>",
        _notices(query, refused),
        f'<p>Visits in this session: <span class="count" id="visits">{session["visits"]}</span>'
        "</p>",
        _account(store, session, key),
        "<h2>Session contents</h2><table id='contents'><tr><th>key</th><th>value (JSON)</th></tr>",
        *(
            f"<tr><td>{_e(k)}</td><td><code>{_e(json.dumps(v))}</code></td></tr>"
            for k, v in session.to_dict().items()
        ),
        "</table><form method='post' action='/set'><input name='key' placeholder='key' required>"
        " <input name='value' placeholder='value'> <button id='set'>Set</button></form>"
        "<form method='post' action='/clear'><button id='clear'>Clear session</button></form>",
        _item_table(store, item),
        _concurrency(),
        _expiry(store, session, item),
        f"<script>{SCRIPT}</script></body></html>",
    ]
    return "".join(parts)


def _notices(query: dict[str, str], refused: bool) -> str:
    notes = []
    if refused:
        notes.append(
            "Your browser sent a session cookie, but the session it names is no longer valid "
            "(it expired, or was logged out elsewhere): this is a new, empty session."
        )
    if "rotated" in query:
        before = query["rotated"]
        moved = f" from <code>{_e(before[:16])}…</code>" if before else ""
        notes.append(
            f"Logged in: the session moved to a new id (its key changed{moved}); the old item "
            "was deleted, so an id planted before log-in is useless now."
        )
    if query.get("notice") == "logged-out":
        notes.append("Logged out: the session was emptied, its item deleted, its cookie removed.")
    if "revoked" in query:
        notes.append(
            f"Logged out everywhere: {_e(query['revoked'])} session(s) deleted. Every other "
            "browser of this user gets a new, empty session on its next request."
        )
    if not notes:
        return ""
    return "<div id='notice'>" + "".join(f"<p class='notice'>{n}</p>" for n in notes) + "</div>"


def _account(store: SessionStore, session: Session, key: str) -> str:
    if session.user_id is None:
        return (
            "<h2>Log in</h2><form method='post' action='/login'>"
            "<input name='name' id='name' placeholder='any name' required> "
            "<button id='login'>Log in</button></form>"
            "<p class='note'>Log-in stores the name as the session's user id and rotates the "
            "session id (watch the key below change).</p>"
        )
    rows = []
    for other in store.list_user_sessions(session.user_id):
        mine = other.key == key
        state = "active" if other.active else "<span class='expired'>expired</span>"
        rows.append(
            f"<tr class='{'mine' if mine else ''}'><td><code>{_e(other.key[:16])}…</code></td>"
            f"<td>{_time(other.created)}</td><td>{_time(other.accessed)}</td>"
            f"<td>{state}{' (this browser)' if mine else ''}</td></tr>"
        )
    return (
        f"<p>Logged in as <strong id='user'>{_e(session.user_id)}</strong>.</p>"
        "<form method='post' action='/logout'><button id='logout'>Log out</button></form>"
        "<form method='post' action='/logout-everywhere'>"
        "<button id='logout-everywhere'>Log out everywhere</button></form>"
        f"<h2>Sessions of {_e(session.user_id)}</h2>"
        "<table id='sessions'><tr><th>key</th><th>created</th><th>last used</th>"
        f"<th>state</th></tr>{''.join(rows)}</table>"
        "<p class='note'>From the table's user index (<code>store.list_user_sessions</code>). "
        "Log in with the same name in another browser or a private window to see two; "
        "<em>Log out everywhere</em> (<code>store.revoke_user</code>) deletes them all. The "
        "index is eventually consistent on DynamoDB: a session may take a moment to appear."
        "</p>"
    )


def _item_table(store: SessionStore, item: dict[str, Any] | None) -> str:
    head = "<h2>The item as DynamoDB holds it</h2>"
    if item is None:
        return head + "<p id='item'>No item: an empty session is not stored.</p>"
    names = store.config.attributes
    notes = {
        names.key: "partition key: SHA-256 of the session id (the id itself is never stored)",
        names.data: "the whole session as 0.1 stored it; converted on the next write",
        names.expires: "TTL attribute: when DynamoDB may delete the item",
        names.accessed: "last activity (idle timeout counts from here)",
        names.created: "creation (kept across log-in rotation)",
        names.pinned_timeout: "idle timeout set for this session alone, in seconds",
        names.version: "bumped by every data write; a clear's whole rewrite is conditional on it",
        names.user: "user id, for the user index",
    }
    rows = []
    for name, value in item.items():
        kind, raw = next(iter(value.items()))
        if kind == "B":
            shown = f"{len(raw)} bytes"
        elif name in (names.expires, names.accessed, names.created):
            shown = f"{raw} ({_time(int(raw))})"
        else:
            shown = str(raw)
        rows.append(
            f"<tr id='attr-{_e(name)}'><th>{_e(name)}</th><td>{kind}</td>"
            f"<td><code>{_e(shown)}</code></td><td class='note'>{_e(_note(notes, name))}</td></tr>"
        )
    return (
        f"{head}<p class='note'>Read with <code>GetItem</code> after this request's write.</p>"
        f"<table id='item'><tr><th>attribute</th><th>type</th><th>value</th><th></th></tr>"
        f"{''.join(rows)}</table>"
    )


def _note(notes: dict[str, str], name: str) -> str:
    if name.startswith(VALUE_PREFIX):
        return (
            f"session key {name[len(VALUE_PREFIX) :]!r}, encoded on its own (JSON; compressed "
            "above 1 KB; encrypted if keys are set): a save writes only the keys it changed"
        )
    return notes.get(name, "")


def _concurrency() -> str:
    return (
        "<h2>Concurrent requests</h2>"
        f"<button id='burst' data-n='{BURST}'>Send {BURST} requests at once</button> "
        "<span id='burst-result'></span>"
        f"<p class='note'>Each of {BURST} simultaneous requests sets its own key "
        "(<code>parallel-01</code>...). Each key is its own attribute and a save updates only "
        "the keys it changed, so requests changing different keys never conflict and none is "
        "lost (two tabs of one user behave the same). They only set a key, so none of them "
        "even reads the session first: one UpdateItem each. Requests that change the "
        "<em>same</em> key still race: last write wins, or use lock mode.</p>"
    )


def _expiry(store: SessionStore, session: Session, item: dict[str, Any] | None) -> str:
    timeout = session.timeout or store.config.timeout
    names = store.config.attributes
    accessed = int(item[names.accessed]["N"]) if item else int(store.clock())
    left = max(0, accessed + timeout - int(store.clock()))
    return (
        "<h2>Expiry</h2>"
        f"<p>Idle timeout: <strong id='timeout'>{timeout} s</strong>; this session "
        f"<span id='countdown' data-seconds='{left}'></span>.</p>"
        "<form method='post' action='/expire-soon'>"
        f"<button id='expire-soon'>Expire after {SHORT_TIMEOUT} s idle</button></form>"
        f"<p class='note'>Gives this session a {SHORT_TIMEOUT}-second idle timeout (a real one, "
        "stored with the item; nothing is simulated). Wait, then reload: the server refuses the "
        "expired session and starts a new one. Every read checks expiry itself, because "
        "DynamoDB's TTL deletes expired items late; the item stays in the table until TTL or "
        "<code>dynamodb-sessions gc</code> removes it. (The demo's cookie is a browser-session "
        "cookie so you see the server's check; normally its Max-Age ends it in the browser too.)"
        "</p>"
    )


def _read_item(store: SessionStore, key: str) -> dict[str, Any] | None:
    names = store.config.attributes
    reply = store.client.get_item(
        TableName=store.config.table, Key={names.key: {"S": key}}, ConsistentRead=True
    )
    return reply.get("Item")


def _key(store: SessionStore, session: Session) -> str:
    return storage_key(session.session_id, store.config.key_prefix)


def _json(start_response: StartResponse, value: object) -> list[bytes]:
    body = json.dumps(value).encode()
    start_response(
        "200 OK",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ],
    )
    return [body]


def _form(environ: dict[str, Any]) -> dict[str, str]:
    length = min(int(environ.get("CONTENT_LENGTH") or 0), 64 * 1024)
    fields = parse_qs(environ["wsgi.input"].read(length).decode("utf-8", "replace"))
    return {name: values[0] for name, values in fields.items()}


def _time(epoch: int | None) -> str:
    return "—" if epoch is None else time.strftime("%H:%M:%S UTC", time.gmtime(epoch))


def _e(text: str) -> str:
    return html.escape(text)


@contextlib.contextmanager
def demo_config() -> Iterator[StoreConfig]:
    """The configured table, or the embedded local engine for the demo's lifetime."""
    configured = any(os.environ.get(name) for name in env_names.ENDPOINT_ENVS)
    if configured or env_names.is_enabled():
        table = os.environ.get(env_names.TABLE_ENV) or DEMO_TABLE
        yield StoreConfig.from_env(table=table, timeout=DEMO_TIMEOUT)
        return
    with local_engine() as endpoint:
        # The embedded engine answers one call at a time, so in a burst a call waits behind the
        # others: with the 1 s meant for DynamoDB, waiting would turn into botocore re-sending.
        connection = Connection(
            endpoint_url=endpoint,
            read_timeout=EMBEDDED_READ_TIMEOUT,
            **LOCAL_CREDENTIALS,  # type: ignore[arg-type]
        )
        yield StoreConfig(table=DEMO_TABLE, connection=connection, timeout=DEMO_TIMEOUT)


def engine_label(config: StoreConfig, embedded: bool) -> str:
    """Where the demo's sessions live, for people."""
    if embedded:
        return "the embedded local engine (moto's server, in memory: gone when the demo stops)"
    if config.connection.endpoint_url:
        return f"the endpoint {config.connection.endpoint_url}"
    return f"Amazon DynamoDB ({config.connection.region or 'default region'})"


def demo_server(app: SessionMiddleware, host: str = "127.0.0.1", port: int = 0) -> WSGIServer:
    """The demo's HTTP server, bound and listening (a thread per request); not serving yet."""
    return make_server(host, port, app, _ThreadingServer, _QuietHandler)


def serve(host: str = "127.0.0.1", port: int = 8000, out: TextIO | None = None) -> int:
    """Run the demo until interrupted (Ctrl-C); return the exit code."""
    embedded = not (
        any(os.environ.get(name) for name in env_names.ENDPOINT_ENVS) or env_names.is_enabled()
    )
    with demo_config() as config:
        store = SessionStore(config)
        report = store.create_table(wait_seconds=120)
        if not report.ok:
            print(f"the table is not usable: {'; '.join(report.problems)}", file=out)
            return 1
        app = demo_app(store, engine_label(config, embedded))
        try:
            server = demo_server(app, host, port)
        except OSError:  # the default port is taken: any free one will do for a demo
            server = demo_server(app, host, 0)
        bound_port = server.server_address[1]
        print(
            f"dynamodb-sessions demo: http://{host}:{bound_port}/  (Ctrl-C stops it)",
            file=out,
            flush=True,
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            # A second Ctrl-C while the engine shuts down would only leave a traceback behind.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        finally:
            server.server_close()
        print("stopped", file=out, flush=True)
    return 0

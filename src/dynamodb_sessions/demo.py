"""``dynamodb-sessions demo``: a small web app that shows sessions at work.

It runs on the embedded local engine (moto's server on 127.0.0.1) unless the environment names
an endpoint (``AWS_DYNAMODB_ENDPOINT``) or a table (``AWS_DYNAMODB_SESSION_TABLE``), in which
case it uses those (creating the table if needed).
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import signal
import time
from collections.abc import Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import Any, TextIO
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from . import config as env_names
from .config import Connection, StoreConfig
from .ids import storage_key
from .integrations.wsgi import ENVIRON_KEY, SessionMiddleware, StartResponse
from .local import LOCAL_CREDENTIALS, local_engine
from .session import Session
from .store import SessionStore

DEMO_TABLE = "dynamodb-sessions-demo"
DEMO_TIMEOUT = 30 * 60


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dynamodb-sessions demo</title>
<style>
body{{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}}
h1{{font-size:1.5rem}} table{{border-collapse:collapse;width:100%}}
td,th{{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}}
code{{font-size:.85em;word-break:break-all}} form{{display:inline-block;margin:.3rem 0}}
.count{{font-size:2rem;font-weight:600}}
</style></head><body>
<h1>dynamodb-sessions demo</h1>
<p>Visits in this session: <span class="count" id="visits">{visits}</span></p>
<h2>Session contents</h2>
<table id="contents"><tr><th>key</th><th>value (JSON)</th></tr>{rows}</table>
<form method="post" action="/set">
  <input name="key" placeholder="key" required> <input name="value" placeholder="value">
  <button id="set">Set</button></form>
<form method="post" action="/clear"><button id="clear">Clear session</button></form>
<h2>The item as DynamoDB holds it</h2>
<table id="item">{item}</table>
<p><small>Table <code>{table}</code> on <code>{endpoint}</code>. The cookie holds the session id;
the table holds only its SHA-256.</small></p>
</body></html>
"""


def demo_app(store: SessionStore) -> SessionMiddleware:
    """The demo WSGI app, wrapped in the session middleware."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        session: Session = environ[ENVIRON_KEY]
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/")
        if method == "POST" and path in ("/set", "/clear"):
            if path == "/clear":
                session.clear()
            else:
                form = _form(environ)
                if key := form.get("key", "").strip():
                    session[key] = form.get("value", "")
            start_response("303 See Other", [("Location", "/"), ("Content-Length", "0")])
            return [b""]
        if path != "/":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        session["visits"] = int(session.get("visits", 0)) + 1
        body = _page(store, session).encode()
        start_response(
            "200 OK",
            [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))],
        )
        return [body]

    return SessionMiddleware(app, store)


def _form(environ: dict[str, Any]) -> dict[str, str]:
    length = min(int(environ.get("CONTENT_LENGTH") or 0), 64 * 1024)
    fields = parse_qs(environ["wsgi.input"].read(length).decode("utf-8", "replace"))
    return {name: values[0] for name, values in fields.items()}


def _page(store: SessionStore, session: Session) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td><code>{html.escape(json.dumps(v))}</code></td></tr>"
        for k, v in session.to_dict().items()
    )
    stored = session.stored
    if stored is None:
        item = (
            "<tr><td colspan=2>not stored yet (it is written at the end of this request)</td></tr>"
        )
    else:
        cells = {
            "id (SHA-256 of the session id)": storage_key(
                session.session_id, store.config.key_prefix
            ),
            "version": stored.version,
            "data size": f"{len(stored.raw)} bytes",
            "expires (TTL)": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(stored.expires)),
            "last activity": time.strftime("%H:%M:%S UTC", time.gmtime(stored.accessed)),
        }
        item = "".join(
            f"<tr><th>{html.escape(k)}</th><td><code>{html.escape(str(v))}</code></td></tr>"
            for k, v in cells.items()
        )
    return PAGE.format(
        visits=session["visits"],
        rows=rows,
        item=item,
        table=html.escape(store.config.table),
        endpoint=html.escape(store.config.connection.endpoint_url or "AWS"),
    )


@contextlib.contextmanager
def demo_config() -> Iterator[StoreConfig]:
    """The configured table, or the embedded local engine for the demo's lifetime."""
    configured = any(os.environ.get(name) for name in env_names.ENDPOINT_ENVS)
    if configured or env_names.is_enabled():
        table = os.environ.get(env_names.TABLE_ENV) or DEMO_TABLE
        yield StoreConfig.from_env(table=table, timeout=DEMO_TIMEOUT)
        return
    with local_engine() as endpoint:
        connection = Connection(endpoint_url=endpoint, **LOCAL_CREDENTIALS)  # type: ignore[arg-type]
        yield StoreConfig(table=DEMO_TABLE, connection=connection, timeout=DEMO_TIMEOUT)


def serve(host: str = "127.0.0.1", port: int = 8000, out: TextIO | None = None) -> int:
    """Run the demo until interrupted (Ctrl-C); return the exit code."""
    with demo_config() as config:
        store = SessionStore(config)
        report = store.create_table(wait_seconds=120)
        if not report.ok:
            print(f"the table is not usable: {'; '.join(report.problems)}", file=out)
            return 1
        try:
            server = make_server(host, port, demo_app(store), _ThreadingServer, _QuietHandler)
        except OSError:  # the default port is taken: any free one will do for a demo
            server = make_server(host, 0, demo_app(store), _ThreadingServer, _QuietHandler)
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

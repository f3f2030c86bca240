"""A real pre-fork WSGI server (one listening socket, worker processes forked from a parent that
already served requests through the store, as gunicorn ``--preload`` and uWSGI do): every
answer carries the requesting user's own session, never another's."""

from __future__ import annotations

import http.client
import os
import signal
import threading
from collections.abc import Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer
from wsgiref.util import setup_testing_defaults

import pytest

from dynamodb_sessions import SessionStore
from dynamodb_sessions.integrations.wsgi import SessionMiddleware

WORKERS = 4
USERS = ("ada", "bob", "cyd", "dee")
REQUESTS = 60  # per user, all users at once

pytestmark = [
    pytest.mark.engines("dynalite", reason="the workers' requests run concurrently"),
    # Python 3.12+ warns when a process with threads forks (the session's engines may run in
    # threads); the workers only serve requests through their own store.
    pytest.mark.filterwarnings(
        "ignore:This process .* is multi-threaded, use of fork:DeprecationWarning"
    ),
]


def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    session = environ["dynamodb_sessions.session"]
    if environ["PATH_INFO"] == "/login":
        session["user"] = environ["QUERY_STRING"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(session.get("user")).encode()]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def log_in(wsgi: SessionMiddleware, user: str) -> str:
    """Serve a log-in in this (the parent) process; return the session cookie it set."""
    environ: dict[str, Any] = {"PATH_INFO": "/login", "QUERY_STRING": user}
    setup_testing_defaults(environ)
    headers: list[tuple[str, str]] = []
    body = b"".join(wsgi(environ, lambda status, h, exc_info=None: headers.extend(h)))
    assert body == user.encode()
    (cookie,) = [v for k, v in headers if k == "Set-Cookie"]
    return cookie.split(";")[0]


def test_forked_workers_answer_each_user_with_their_own_session(config):
    wsgi = SessionMiddleware(app, SessionStore(config))  # built "at import", before the fork
    cookies = {user: log_in(wsgi, user) for user in USERS}  # the parent used the store

    server = WSGIServer(("127.0.0.1", 0), QuietHandler)
    server.set_app(wsgi)
    port = server.server_address[1]
    workers = []
    for _ in range(WORKERS):
        pid = os.fork()
        if pid == 0:  # a worker: serve until killed (SIGTERM ends it without Python cleanup)
            try:
                server.serve_forever(poll_interval=0.05)
            finally:
                os._exit(1)
        workers.append(pid)
    server.server_close()  # the parent serves nothing itself

    answers: dict[str, list[tuple[int, bytes]]] = {user: [] for user in USERS}

    def browse(user: str) -> None:
        for _ in range(REQUESTS):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("GET", "/", headers={"Cookie": cookies[user]})
            response = connection.getresponse()
            answers[user].append((response.status, response.read()))
            connection.close()

    try:
        browsers = [threading.Thread(target=browse, args=(user,)) for user in USERS]
        for browser in browsers:
            browser.start()
        for browser in browsers:
            browser.join(timeout=300)
        assert not any(browser.is_alive() for browser in browsers)
    finally:
        for pid in workers:
            os.kill(pid, signal.SIGTERM)
        for pid in workers:
            os.waitpid(pid, 0)
    for user in USERS:
        wrong = [answer for answer in answers[user] if answer != (200, user.encode())]
        assert (user, len(answers[user]), wrong) == (user, REQUESTS, [])

"""Starlette's TestClient used without ``with`` (the way most tests are written) runs every
request in an event loop of its own: one store must serve them all, and leave nothing open."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from dynamodb_sessions import AsyncSessionStore
from dynamodb_sessions.integrations.starlette import SessionMiddleware
from leaks import no_resource_warnings


async def count(request: Any) -> PlainTextResponse:
    request.session["visits"] = request.session.get("visits", 0) + 1
    return PlainTextResponse(str(request.session["visits"]))


def test_requests_each_in_a_new_loop_all_succeed(config):
    def visit_four_times() -> list[tuple[int, str]]:
        app = Starlette(routes=[Route("/", count)])
        client = TestClient(SessionMiddleware(app, store=AsyncSessionStore(config)))
        answers = []
        for _ in range(4):
            response = client.get("/")
            answers.append((response.status_code, response.text))
        return answers

    with no_resource_warnings():
        assert visit_four_times() == [(200, "1"), (200, "2"), (200, "3"), (200, "4")]


def test_the_client_opened_in_the_apps_loop_is_closed_with_it(config):
    store = AsyncSessionStore(config)
    app = SessionMiddleware(Starlette(routes=[Route("/", count)]), store=store)

    def serve() -> None:
        with TestClient(app) as client:
            assert client.get("/").status_code == 200
            opened = client.portal.call(lambda: store.client)  # in the app's loop
            assert opened is not None and store.client is opened  # the one loop's, seen here
        assert store.client is None  # closed when the app's loop shut down

    with no_resource_warnings():
        serve()
        serve()

"""The clients the stores make send a fixed ``User-Agent`` naming this library (botocore would
otherwise rebuild its own twice per call: see store.client_config), sync and async alike."""

from __future__ import annotations

import asyncio

import botocore
import pytest

from dynamodb_sessions import AsyncSessionStore, SessionStore, make_async_client
from dynamodb_sessions.ids import new_session_id
from dynamodb_sessions.store import user_agent


class SentAgents(list[str]):
    """The ``User-Agent`` header of every HTTP request a client sent."""

    def attach(self, client: object) -> SentAgents:
        def sent(request: object, **_: object) -> None:
            self.append(request.headers["User-Agent"].decode())  # type: ignore[attr-defined]

        client.meta.events.register("before-send.dynamodb", sent)  # type: ignore[attr-defined]
        return self


def test_the_user_agent_names_the_library_botocore_and_python():
    agent = user_agent()
    assert agent.startswith("dynamodb-sessions/")
    assert f"Botocore/{botocore.__version__}" in agent
    assert " Python/3." in agent


@pytest.mark.engines("dynalite", reason="a header the client sends: one engine says it")
def test_the_sync_store_sends_it_on_every_call(config, clock):
    store = SessionStore(config, clock=clock)
    agents = SentAgents().attach(store.client)
    session = store.load(None)
    session["n"] = 1
    store.finish(session)
    store.load(session.session_id)
    assert agents == [user_agent()] * 2  # the PutItem and the GetItem


@pytest.mark.engines("dynalite", reason="a header the client sends: one engine says it")
def test_the_async_store_sends_it_too(config, clock):
    async def run() -> list[str]:
        async with make_async_client(config.connection) as client:
            store = AsyncSessionStore(config, client=client, clock=clock)
            agents = SentAgents().attach(client)
            await store.load(new_session_id())
            return agents

    (agent,) = asyncio.run(run())  # the GetItem
    assert agent.startswith(user_agent())  # aiobotocore's session appends its botocore's version

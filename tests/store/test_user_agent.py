"""The clients the stores make send a fixed ``User-Agent`` naming this library (botocore would
otherwise rebuild its own twice per call: see store.client_config), sync and async alike, and
the lean transport one of its own naming this library too."""

from __future__ import annotations

import asyncio

import botocore
import pytest

from dynamodb_sessions import AsyncSessionStore, SessionStore, __version__, make_async_client
from dynamodb_sessions.ids import new_session_id
from dynamodb_sessions.store import user_agent
from dynamodb_sessions.transport import user_agent as lean_user_agent
from faults.proxy import FaultProxy, through


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


def agents_on_the_wire(proxy: FaultProxy) -> list[str]:
    """The ``User-Agent`` of every request ``proxy`` relays from now on, as sent."""
    agents: list[str] = []

    def record(request: bytes, answer: bytes) -> bytes:
        head = request.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")[1:]
        agents.extend(
            v.strip() for n, _, v in (h.partition(":") for h in head) if n.lower() == "user-agent"
        )
        return answer

    proxy.rewrite = record
    return agents


@pytest.mark.engines("dynalite", reason="a header the client sends: one engine says it")
@pytest.mark.transports
def test_the_sync_store_sends_it_on_every_call(config, clock, transport):
    with FaultProxy(config.connection.endpoint_url) as proxy:
        agents = agents_on_the_wire(proxy)
        with SessionStore(through(config, proxy), clock=clock) as store:
            session = store.load(None)
            session["n"] = 1
            store.finish(session)
            store.load(session.session_id)
    expected = lean_user_agent() if transport == "lean" else user_agent()
    assert agents == [expected] * 2  # the PutItem and the GetItem
    assert expected.startswith(f"dynamodb-sessions/{__version__} ")


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


@pytest.mark.engines("dynalite", reason="a header the client sends: one engine says it")
def test_the_async_stores_lean_transport_sends_its_own(config, clock):
    async def run(store: AsyncSessionStore) -> None:
        async with store:
            await store.load(new_session_id())

    with FaultProxy(config.connection.endpoint_url) as proxy:
        agents = agents_on_the_wire(proxy)
        asyncio.run(run(AsyncSessionStore(through(config, proxy, transport="lean"), clock=clock)))
    assert agents == [lean_user_agent()]  # the GetItem

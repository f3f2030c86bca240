"""What the lean transport keeps of botocore: the credential chain with its refresh, the pool
size, the choice between the transports (and the escape hatch back to botocore)."""

from __future__ import annotations

import asyncio
import dataclasses
import sys

import pytest
from botocore.exceptions import ClientError

from dynamodb_sessions import AsyncSessionStore, Connection, SessionStore, StoreConfig
from dynamodb_sessions.config import TRANSPORT_ENV
from dynamodb_sessions.exceptions import ConfigurationError
from dynamodb_sessions.store import make_client
from dynamodb_sessions.transport import AsyncTransport, Transport
from faults.proxy import FaultProxy

pytestmark = pytest.mark.engines("dynalite", reason="about the client side; one engine is enough")


def lean(config: StoreConfig, **changes: object) -> StoreConfig:
    return config.replace(
        connection=dataclasses.replace(config.connection, transport="lean", **changes)
    )


PROCESS = """
import json, pathlib, sys, datetime
counter = pathlib.Path(sys.argv[1])
n = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(n))
soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=5)
print(json.dumps({"Version": 1, "AccessKeyId": f"AKIDREFRESH{n}", "SecretAccessKey": "s",
                  "SessionToken": f"token{n}", "Expiration": soon.isoformat()}))
"""


def test_credentials_are_botocores_chain_read_fresh_on_every_call(
    engine, config, clock, tmp_path, monkeypatch
):
    """A ``credential_process`` profile whose credentials expire within botocore's refresh
    window: botocore refreshes them on each reading, and each lean call signs with the new
    ones, session token included."""
    script = tmp_path / "credentials.py"
    script.write_text(PROCESS)
    (tmp_path / "no-aws-config").write_text(
        f"[default]\ncredential_process = {sys.executable} {script} {tmp_path / 'n'}\n"
    )
    seen: list[tuple[str, str]] = []

    def record(request: bytes, response: bytes) -> bytes:
        head = request.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
        key = head.split("credential=", 1)[1].split("/", 1)[0]
        token = head.split("x-amz-security-token:", 1)[1].split("\r\n", 1)[0].strip()
        seen.append((key, token))
        return response

    with FaultProxy(engine.endpoint) as proxy:
        proxy.rewrite = record
        chained = lean(config, endpoint_url=proxy.endpoint, access_key=None, secret_key=None)
        with SessionStore(chained, clock=clock) as store:
            for _ in range(3):
                store.load(None).get("x")  # a new session: no call
                store.exists("0" * 43)  # one GetItem
    keys = [key for key, _ in seen]
    assert len(keys) == 3 and len(set(keys)) == 3, keys  # a new key for every call
    assert all(key.startswith("akidrefresh") for key in keys)
    assert [token.removeprefix("token") for _, token in seen] == [
        key.removeprefix("akidrefresh") for key in keys
    ]


def test_the_pool_has_max_pool_connections_and_gc_never_overflows_it(config, clock):
    store = SessionStore(lean(config, max_pool_connections=3), clock=clock)
    for _ in range(24):
        session = store.load(None)
        session["n"] = 1
        store.finish(session)
    clock.advance(config.timeout + 1)
    assert isinstance(store.transport, Transport)
    report = store.gc(segments=12)
    assert (report.expired, report.deleted) == (24, 24)
    # gc runs at most the pool's size of segments at once, so no call waits for, or opens, a
    # fourth connection (dynalite keeps connections alive, so each one opened stays pooled).
    assert store.transport._sender.opened <= 3
    store.close()


def test_the_async_pool_has_max_pool_connections_and_gc_never_overflows_it(config, clock):
    async def main() -> int:
        async with AsyncSessionStore(lean(config, max_pool_connections=3), clock=clock) as store:
            for _ in range(24):
                session = await store.load(None)
                session["n"] = 1
                await store.finish(session)
            clock.advance(config.timeout + 1)
            report = await store.gc(segments=12)
            assert (report.expired, report.deleted) == (24, 24)
            assert isinstance(store.transport, AsyncTransport)
            return store.transport._sender.opened

    # As the sync store's: never a fourth connection (dynalite keeps each one opened pooled).
    assert asyncio.run(main()) <= 3


def test_the_transport_is_chosen_by_the_connection_or_the_environment():
    assert Connection().transport == "lean"  # the default
    assert StoreConfig.from_env({}, table="t").connection.transport == "lean"
    hatch = StoreConfig.from_env({TRANSPORT_ENV: "botocore"}, table="t")
    assert hatch.connection.transport == "botocore"
    chosen = StoreConfig.from_env({TRANSPORT_ENV: "botocore"}, table="t", transport="lean")
    assert chosen.connection.transport == "lean"  # a keyword overrides the environment
    with pytest.raises(ConfigurationError, match=TRANSPORT_ENV):
        StoreConfig.from_env({TRANSPORT_ENV: "fast"}, table="t")


class CarriedByBotocore(list[str]):
    """The operations a botocore client carried (its ``before-call`` event)."""

    def attach(self, client: object) -> CarriedByBotocore:
        def record(model: object, **_: object) -> None:
            self.append(model.name)  # type: ignore[attr-defined]

        client.meta.events.register("before-call.dynamodb", record)  # type: ignore[attr-defined]
        return self


def a_user_journey(store: SessionStore) -> tuple[object, ...]:
    """Every item operation a request makes, and what each returned."""
    session = store.load(None)
    session["cart"] = [1, 2]
    session.user_id = "alice"
    store.finish(session)
    loaded = store.load(session.session_id)
    loaded["n"] = 1
    store.finish(loaded)
    listed = store.list_user_sessions("alice")
    again = dict(store.load(session.session_id))
    store.delete(session.session_id)
    return again, len(listed), store.exists(session.session_id)


@pytest.mark.engines("moto", "dynalite")
def test_lean_is_the_default_and_botocore_the_escape_hatch_with_the_same_results(
    engine, config, clock, monkeypatch
):
    """Counted twice: on the wire (the proxy sees every request, whichever way it went) and at
    the store's botocore client (its ``before-call``: what botocore itself carried)."""
    journeys = {}
    with FaultProxy(engine.endpoint) as proxy:
        default = config.replace(connection=engine.connection(endpoint_url=proxy.endpoint))
        by_argument = config.replace(
            connection=engine.connection(endpoint_url=proxy.endpoint, transport="botocore")
        )
        monkeypatch.setenv(TRANSPORT_ENV, "botocore")
        by_environment = StoreConfig.from_env(
            table=config.table,
            endpoint_url=proxy.endpoint,
            region=default.connection.region,
            access_key=default.connection.access_key,
            secret_key=default.connection.secret_key,
            read_timeout=default.connection.read_timeout,
        )
        assert (default.connection.transport, by_environment.connection.transport) == (
            "lean",
            "botocore",
        )
        for name, cfg in (("default", default), ("argument", by_argument), ("env", by_environment)):
            with SessionStore(cfg, clock=clock) as store:
                carried = CarriedByBotocore().attach(store.client)
                sent = len(proxy.operations())
                result = a_user_journey(store)
                on_the_wire = proxy.operations()[sent:]
                journeys[name] = (result, on_the_wire, carried, store.transport is not None)
    result, on_the_wire, carried, lean_used = journeys["default"]
    assert result == ({"cart": [1, 2], "n": 1}, 1, False)
    # What the core decides (the log-in's check of a revocation mark, the delete's read), sent
    # alike whichever transport carries it.
    assert on_the_wire == [
        *("PutItem", "GetItem", "GetItem", "UpdateItem", "Query"),
        *("GetItem", "GetItem", "DeleteItem", "GetItem"),
    ]
    assert lean_used and carried == []  # none through botocore's client
    for hatch in ("argument", "env"):
        assert journeys[hatch] == (result, on_the_wire, on_the_wire, False)  # all of them


@pytest.mark.engines("moto", "dynalite")
def test_the_async_store_has_the_same_default_and_escape_hatch(engine, config, clock):
    async def transport_of(cfg: StoreConfig) -> object:
        async with AsyncSessionStore(cfg, clock=clock) as store:
            assert await store.exists("0" * 43) is False
            return store.transport

    assert isinstance(
        asyncio.run(transport_of(config.replace(connection=engine.connection()))), AsyncTransport
    )
    hatch = config.replace(connection=engine.connection(transport="botocore"))
    assert asyncio.run(transport_of(hatch)) is None  # aiobotocore carries every call


def test_an_injected_client_carries_every_call_itself(config):
    """The escape hatch for a client with hooks of its own: the store uses it as given."""
    client = make_client(lean(config).connection)
    sent: list[str] = []
    client.meta.events.register("before-call.dynamodb", lambda model, **_: sent.append(model.name))
    store = SessionStore(lean(config), client=client)
    assert store.transport is None
    store.exists("0" * 43)
    assert sent == ["GetItem"]


def test_the_lean_transport_refuses_what_botocore_refuses_before_sending(config, clock):
    with FaultProxy(config.connection.endpoint_url) as proxy:
        with SessionStore(lean(config, endpoint_url=proxy.endpoint), clock=clock) as store:
            session = store.load(None)
            session["a"] = 1
            session.user_id = 7  # type: ignore[assignment]
            with pytest.raises(Exception, match="ParamValidationError") as caught:
                store.finish(session)
            assert "Item.user_id.S" in str(caught.value.__cause__)
        assert "PutItem" not in proxy.operations()


@pytest.mark.parametrize("transport", ["botocore", "lean"])
def test_a_proxy_in_the_environment_is_used_as_botocore_uses_it(
    engine, config, transport, monkeypatch
):
    chosen = config.replace(connection=dataclasses.replace(config.connection, transport=transport))
    with FaultProxy(engine.endpoint) as proxy, monkeypatch.context() as env:
        env.setenv("HTTP_PROXY", proxy.endpoint)  # (only until the proxy closes)
        env.delenv("NO_PROXY", raising=False)
        env.delenv("no_proxy", raising=False)
        with SessionStore(chosen) as store:
            assert store.exists("0" * 43) is False
        assert proxy.operations() == ["GetItem"]


@pytest.mark.engines("dynalite", "moto")
def test_a_refusal_carries_the_request_id_as_botocores_does(config):
    # AWS support asks for the request id of a failed call; botocore's ClientError has it in
    # ResponseMetadata, and so does the lean path's, read from the same answer header.
    params = {"TableName": f"{config.table}-missing", "Key": {"id": {"S": "k"}}}
    client = make_client(config.connection)
    with SessionStore(lean(config)) as store:
        assert store.transport is not None
        ids = {}
        for name, call in (
            ("botocore", lambda: client.get_item(**params)),
            ("lean", lambda: store.transport.call("get_item", params)),
        ):
            with pytest.raises(ClientError) as refused:
                call()
            assert refused.value.response["Error"]["Code"] == "ResourceNotFoundException"
            ids[name] = refused.value.response["ResponseMetadata"].get("RequestId", "")
    client.close()
    assert ids["lean"] and ids["botocore"] and ids["lean"] != ids["botocore"], ids

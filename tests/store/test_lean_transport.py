"""What the lean transport keeps of botocore: the credential chain with its refresh, the pool
size, the choice between the transports (and the escape hatch back to botocore)."""

from __future__ import annotations

import asyncio
import dataclasses
import sys

import pytest

from dynamodb_sessions import AsyncSessionStore, SessionStore, StoreConfig
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


def test_the_async_pool_has_max_pool_connections(config, clock):
    async def main() -> int:
        async with AsyncSessionStore(lean(config, max_pool_connections=4), clock=clock) as store:
            assert isinstance(store.transport, AsyncTransport)
            await store.exists("0" * 43)
            return store.transport._session.connector.limit

    assert asyncio.run(main()) == 4


def test_the_transport_is_chosen_by_the_connection_or_the_environment(config):
    assert StoreConfig.from_env({}, table="t").connection.transport == "botocore"
    chosen = StoreConfig.from_env({TRANSPORT_ENV: "lean"}, table="t")
    assert chosen.connection.transport == "lean"
    hatch = StoreConfig.from_env({TRANSPORT_ENV: "lean"}, table="t", transport="botocore")
    assert hatch.connection.transport == "botocore"  # a keyword overrides the environment
    with pytest.raises(ConfigurationError, match=TRANSPORT_ENV):
        StoreConfig.from_env({TRANSPORT_ENV: "fast"}, table="t")
    with SessionStore(config) as store:
        assert store.transport is None  # botocore carries every call
        assert store.exists("0" * 43) is False
    with SessionStore(lean(config)) as store:
        assert isinstance(store.transport, Transport)
        assert store.exists("0" * 43) is False


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

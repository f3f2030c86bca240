"""Fixtures of the fault tests: a fault proxy in front of the test's engine, and a store that
reaches the engine only through it, with the library's default timeouts and retries."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from dynamodb_sessions import Connection, SessionStore, StoreConfig
from faults.proxy import FaultProxy


@pytest.fixture
def proxy(engine) -> Iterator[FaultProxy]:
    with FaultProxy(engine.endpoint) as proxy:
        yield proxy


@pytest.fixture
def faulty_config(config: StoreConfig, proxy: FaultProxy) -> StoreConfig:
    """The test's table, reached through ``proxy``; timeouts and retries are the defaults."""
    defaults = Connection()
    return config.replace(
        connection=dataclasses.replace(
            config.connection,
            endpoint_url=proxy.endpoint,
            connect_timeout=defaults.connect_timeout,
            read_timeout=defaults.read_timeout,
            max_attempts=defaults.max_attempts,
        )
    )


@pytest.fixture
def faulty_store(faulty_config: StoreConfig, clock) -> Iterator[SessionStore]:
    with SessionStore(faulty_config, clock=clock) as store:
        yield store


class Attempts(list[str]):
    """Every HTTP attempt a store sends, retries included: at botocore's ``before-send``, and
    where its lean transport (if it has one) sends."""

    def attach(self, store: SessionStore) -> Attempts:
        def record(request, **_):
            target = request.headers["X-Amz-Target"]
            target = target.decode() if isinstance(target, bytes) else target
            self.append(target.rpartition(".")[2])

        lean = store.transport
        if lean is not None:
            send = lean._send

            def record_and_send(body, headers):
                self.append(headers["X-Amz-Target"].rpartition(".")[2])
                return send(body, headers)

            lean._send = record_and_send
        store.client.meta.events.register("before-send.dynamodb", record)
        return self


@pytest.fixture
def attempts(faulty_store: SessionStore) -> Attempts:
    return Attempts().attach(faulty_store)

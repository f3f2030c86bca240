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


class Attempts:
    """Every HTTP request the fault proxy received since the last :meth:`clear` (retries
    included), by operation: counted on the wire, so alike whichever transport sent them.
    Compares equal to the list of those operations."""

    def __init__(self, proxy: FaultProxy) -> None:
        self._proxy = proxy
        self._start = len(proxy.operations())

    def sent(self) -> list[str]:
        return self._proxy.operations()[self._start :]

    def clear(self) -> None:
        self._start = len(self._proxy.operations())

    def __eq__(self, other: object) -> bool:
        return self.sent() == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self.sent())


@pytest.fixture
def attempts(faulty_store: SessionStore, proxy: FaultProxy) -> Attempts:
    """The attempts of ``faulty_store`` (the only client of ``proxy``)."""
    return Attempts(proxy)

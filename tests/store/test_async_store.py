"""The async store: the same public methods as the sync one, and the whole store contract run
through it (each test of test_contract.py that takes ``store`` runs here again with an
AsyncSessionStore behind a blocking facade)."""

from __future__ import annotations

import asyncio
import inspect
import socket
import subprocess
import sys

import pytest
import test_contract  # the contract suite of this folder

from dynamodb_sessions import (
    AsyncSessionStore,
    BackendUnavailableError,
    ConfigurationError,
    Connection,
    SessionStore,
    StoreConfig,
    make_async_client,
)
from dynamodb_sessions.ids import new_session_id
from dynamodb_sessions.local import LOCAL_CREDENTIALS
from dynamodb_sessions.metrics import Metrics


def public_methods(cls: type) -> dict[str, object]:
    return {
        name: member
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") and callable(member)
    }


def test_both_stores_have_the_same_public_methods_and_signatures():
    sync, async_ = public_methods(SessionStore), public_methods(AsyncSessionStore)
    assert sorted(sync) == sorted(async_)
    for name, method in sync.items():
        mirror = async_[name]
        sync_sig, async_sig = inspect.signature(method), inspect.signature(mirror)
        assert sync_sig == async_sig, name  # names, kinds, defaults, annotations, return type
        constructs = inspect.ismethod(method)  # bound to the class: a classmethod (from_env)
        assert inspect.iscoroutinefunction(mirror) is not constructs, name
        assert not inspect.iscoroutinefunction(method), name
    # The constructors differ only in the client's type (botocore's or aiobotocore's).
    sync_init = inspect.signature(SessionStore.__init__).parameters
    async_init = inspect.signature(AsyncSessionStore.__init__).parameters
    assert [(p.name, p.kind, p.default) for p in sync_init.values()] == [
        (p.name, p.kind, p.default) for p in async_init.values()
    ]


@pytest.mark.parametrize(
    "module",
    [
        "dynamodb_sessions",
        # The pytest plugin: loaded in every pytest run where the package is installed.
        "dynamodb_sessions.testing",
    ],
)
def test_importing_the_package_imports_nothing_heavy(module):
    code = (
        f"import sys, {module}\n"
        "heavy = {'botocore', 'aiobotocore', 'aiohttp', 'moto', 'flask', 'starlette', 'fastapi',"
        " 'django'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


class Blocking:
    """An AsyncSessionStore seen through a blocking facade, for the sync contract tests.

    Each coroutine method runs to completion on this facade's own event loop; ``client`` runs
    the aiobotocore client's calls the same way, and its ``meta`` (event hooks) is the real one.
    """

    def __init__(self, store: AsyncSessionStore) -> None:
        self._store = store
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(store.__aenter__())
        self.client = BlockingClient(store.client, self._loop)
        self.transport = store.transport  # the lean one of this loop, or None

    @property
    def metrics(self) -> Metrics:
        return self._store.metrics

    @metrics.setter
    def metrics(self, hook: Metrics) -> None:  # the store's own (tests count calls with it)
        self._store.metrics = hook

    def __getattr__(self, name: str) -> object:
        member = getattr(self._store, name)
        if not inspect.iscoroutinefunction(member):
            return member
        return lambda *args, **kwargs: self._loop.run_until_complete(member(*args, **kwargs))

    def close_all(self) -> None:
        self._loop.run_until_complete(self._store.close())
        self._loop.close()


class BlockingClient:
    def __init__(self, client: object, loop: asyncio.AbstractEventLoop) -> None:
        self._client = client
        self._loop = loop
        self.meta = client.meta  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        method = getattr(self._client, name)
        return lambda **params: self._loop.run_until_complete(method(**params))


@pytest.fixture
def store(config, clock):
    """Overrides the sync ``store`` fixture for the contract tests collected below."""
    facade = Blocking(AsyncSessionStore(config, clock=clock))
    yield facade
    facade.close_all()


# The contract, again: every test of it that works through the ``store`` fixture, on both
# transports.
for _name, _test in vars(test_contract).items():
    if _name.startswith("test_") and "store" in inspect.signature(_test).parameters:
        globals()[f"{_name}_async"] = pytest.mark.transports(_test)


def test_the_client_opens_on_first_use_and_reopens_after_close(config):
    async def scenario():
        store = AsyncSessionStore(config)
        assert store.client is None
        session = await store.load(None)
        session["a"] = 1
        await store.finish(session)
        first = store.client
        assert first is not None
        await store.close()
        assert store.client is None
        assert dict(await store.load(session.session_id)) == {"a": 1}
        assert store.client is not None and store.client is not first
        await store.close()

    asyncio.run(scenario())


def test_concurrent_first_requests_share_one_client(config):
    async def scenario():
        async with AsyncSessionStore(config) as store:
            opened = store.client
            await store.close()
            results = await asyncio.gather(*(store.exists(new_session_id()) for _ in range(5)))
            assert results == [False] * 5
            assert store.client is not opened
            one = store.client
            await asyncio.gather(*(store.exists(new_session_id()) for _ in range(5)))
            assert store.client is one

    asyncio.run(scenario())


def test_an_injected_client_is_the_callers_to_close(config):
    async def scenario():
        async with make_async_client(config.connection) as client:
            store = AsyncSessionStore(config, client=client)
            async with store:
                assert await store.exists(new_session_id()) is False
            assert store.client is client
            assert (await store.check_table()).ok  # still open

    asyncio.run(scenario())


def test_an_unreachable_engine_is_unavailable():
    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    connection = Connection(endpoint_url=dead, max_attempts=1, **LOCAL_CREDENTIALS)

    async def scenario():
        async with AsyncSessionStore(StoreConfig(table="t", connection=connection)) as store:
            with pytest.raises(BackendUnavailableError) as caught:
                await store.load(new_session_id())
        assert caught.value.code == "EndpointConnectionError"
        assert caught.value.__cause__ is not None

    asyncio.run(scenario())


def test_no_region_is_a_configuration_error():
    store = AsyncSessionStore(
        StoreConfig(table="t", connection=Connection(access_key="x", secret_key="y"))
    )
    with pytest.raises(ConfigurationError, match="AWS_REGION_NAME"):
        asyncio.run(store.load(new_session_id()))

"""Fixtures: real DynamoDB-API servers on 127.0.0.1 (moto's server mode and dynalite), a table per
test, a controllable clock, and an AWS environment isolated from the machine's."""

from __future__ import annotations

import functools
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.loaders
import botocore.session
import hypothesis
import pytest

from dynamodb_sessions import Connection, SessionStore, StoreConfig
from dynamodb_sessions.local import DYNALITE_PACKAGE, LOCAL_CREDENTIALS, local_engine
from dynamodb_sessions.local import dynalite_engine as dynalite_engine_at
from dynamodb_sessions.metrics import Metrics

ROOT = Path(__file__).resolve().parent.parent

# Property tests check behaviour, never speed: no per-example deadline and no "generation is
# slow" health check, both of which fail on a loaded machine for reasons outside the code.
hypothesis.settings.register_profile(
    "suite", deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow]
)
hypothesis.settings.load_profile("suite")
ENGINES = ("moto", "dynalite")
TRANSPORTS = ("botocore", "lean")


# The library's timeouts (1 s) are made for DynamoDB. A local engine on a loaded 2-core machine
# sometimes answers later than that, and botocore then sends the call again: a DeleteTable sent
# again after the first one landed answers ResourceNotFoundException, a flake that says nothing
# about the library. The tests of timeouts and retries (tests/faults, the adapters' fault tests)
# set the library's defaults, or shorter ones, themselves.
ENGINE_TIMEOUTS = {"connect_timeout": 30.0, "read_timeout": 30.0}


def share_botocores_data_loader() -> None:
    """One botocore data loader per process instead of one per botocore session.

    Every store makes its client in a botocore session of its own, and a new session parses
    botocore's JSON models (DynamoDB's, the endpoints) again: about 50 ms of CPU per client,
    minutes over the suite's thousands of stores. The loader only reads botocore's own data
    files and caches what it parsed (a session already hands the same parsed models to each
    of its clients), so sharing it changes no client's behaviour. Tests only: an application
    makes its store, and so its client, once.
    """
    # Where botocore.session looks the factory up; fails loudly if a botocore release moves it.
    assert botocore.session.create_loader is botocore.loaders.create_loader  # type: ignore[attr-defined]
    create_loader = functools.cache(botocore.loaders.create_loader)
    botocore.session.create_loader = create_loader  # type: ignore[attr-defined]


share_botocores_data_loader()


@pytest.fixture
def patient_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """``StoreConfig.from_env`` gives ``ENGINE_TIMEOUTS`` unless told otherwise: for tests of
    code that configures itself from the environment (the CLI, the guide's samples), which
    would otherwise reach a local engine with the library's 1 s timeouts."""
    from_env = StoreConfig.from_env.__func__  # type: ignore[attr-defined]

    def patient(cls: type[StoreConfig], environ: object = None, **overrides: object) -> object:
        return from_env(cls, environ, **{**ENGINE_TIMEOUTS, **overrides})

    monkeypatch.setattr(StoreConfig, "from_env", classmethod(patient))


@dataclass(frozen=True)
class Engine:
    """A running DynamoDB-API server."""

    name: str
    endpoint: str

    def connection(self, **overrides: object) -> Connection:
        """A connection to this engine: its keys, patient timeouts (``ENGINE_TIMEOUTS``);
        ``overrides`` may change any field (the endpoint: a proxy in front of the engine)."""
        return Connection(
            **{  # type: ignore[arg-type]
                "endpoint_url": self.endpoint,
                **LOCAL_CREDENTIALS,
                **ENGINE_TIMEOUTS,
                **overrides,
            }
        )


class Clock:
    """A clock the test moves by hand (epoch seconds)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def isolate_aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the machine's AWS settings or credentials."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def dynalite_cli() -> Path:
    configured = os.environ.get("DYNALITE_CLI")
    path = Path(configured) if configured else ROOT / ".tools/node_modules/dynalite/cli.js"
    if not path.exists() or shutil.which("node") is None:
        pytest.fail(
            f"dynalite needs Node.js (>= 20) and {path}: run `npm install --prefix .tools "
            f"{DYNALITE_PACKAGE}` (scripts/test does this) or set DYNALITE_CLI"
        )
    return path


@pytest.fixture(scope="session")
def moto_engine() -> Iterator[Engine]:
    with local_engine() as endpoint:
        yield Engine("moto", endpoint)


@pytest.fixture(scope="session")
def dynalite_engine() -> Iterator[Engine]:
    with dynalite_engine_at(dynalite_cli()) as endpoint:
        yield Engine("dynalite", endpoint)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that takes ``engine`` once per engine.

    ``@pytest.mark.engines("dynalite", reason=...)`` limits a test to some engines; on the others
    it is skipped with the reason shown (``-ra`` prints it), never left out silently.
    """
    if "engine" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("engines")
    wanted = marker.args if marker else ENGINES
    reason = marker.kwargs.get("reason", "") if marker else ""
    params = [
        name
        if name in wanted
        else pytest.param(
            name,
            marks=pytest.mark.skip(
                reason=f"runs on {', '.join(wanted)} only{': ' + reason if reason else ''}"
            ),
        )
        for name in ENGINES
    ]
    metafunc.parametrize("engine", params, indirect=True)
    if (
        metafunc.definition.get_closest_marker("transports")
        and "transport" in metafunc.fixturenames
    ):
        metafunc.parametrize("transport", TRANSPORTS, indirect=True)


@pytest.fixture
def transport(request: pytest.FixtureRequest) -> str:
    """The store's transport: both, in tests marked ``@pytest.mark.transports`` that use it
    (through ``config`` or directly); else the library's default (``Connection().transport``)."""
    return getattr(request, "param", Connection().transport)


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> Engine:
    return request.getfixturevalue(f"{request.param}_engine")  # type: ignore[no-any-return]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def config(engine: Engine, transport: str) -> Iterator[StoreConfig]:
    """A fresh, empty table of this test's own on ``engine``, reached by ``transport``."""
    cfg = StoreConfig(
        table=f"sessions-{uuid.uuid4().hex[:12]}",
        connection=engine.connection(transport=transport),
    )
    report = SessionStore(cfg).create_table(wait_seconds=30)
    assert report.ok, report
    yield cfg
    SessionStore(cfg).client.delete_table(TableName=cfg.table)


@pytest.fixture
def store(config: StoreConfig, clock: Clock) -> SessionStore:
    return SessionStore(config, clock=clock)


class CallLog(list[str]):
    """The DynamoDB operations a store made, in order, whichever transport carried them.

    Counted through the store's metrics hook (``Metrics.call``, which both drivers call once
    per operation, answered or failed, as botocore's ``before-call`` event fires once per
    operation, retries not counted): the store's own hook goes on hearing every event.
    """

    def attach(self, store: object) -> CallLog:
        """Count the calls of ``store`` (a store, or a facade of one with its ``metrics``)."""
        hook = getattr(store, "metrics", None)
        if not isinstance(hook, Metrics):
            # A botocore client's events see none of the lean transport's calls: a count
            # taken there would pass by counting nothing.
            raise TypeError(f"count the calls of a store, not of {type(store).__name__}")
        store.metrics = _Counting(hook, self)  # type: ignore[attr-defined]
        return self


class _Counting(Metrics):
    """A metrics hook that records each call's operation in ``log``, then tells ``inner``."""

    def __init__(self, inner: Metrics, log: list[str]) -> None:
        self._inner, self._log = inner, log

    @property  # type: ignore[override]
    def capacity(self) -> bool:  # what the store asks DynamoDB for stays the inner hook's
        return self._inner.capacity

    def call(self, operation: str, outcome: str, **figures: Any) -> None:
        self._log.append(operation)
        self._inner.call(operation, outcome, **figures)

    def conflict(self, *, retried: bool) -> None:
        self._inner.conflict(retried=retried)

    def lock_wait(self, seconds: float, *, outcome: str) -> None:
        self._inner.lock_wait(seconds, outcome=outcome)

    def gc(self, *, deleted: int, kept: int) -> None:
        self._inner.gc(deleted=deleted, kept=kept)

    def unavailable(self, adapter: str, *, error: str) -> None:
        self._inner.unavailable(adapter, error=error)


@pytest.fixture
def calls(store: SessionStore) -> CallLog:
    """Every DynamoDB call the ``store`` fixture makes from now on (either transport)."""
    return CallLog().attach(store)


@pytest.fixture
def call_log() -> type[CallLog]:
    """:class:`CallLog` itself, for tests counting the calls of stores of their own (importing
    it from ``conftest`` would be ambiguous: tests/integrations/djangotests has one too)."""
    return CallLog

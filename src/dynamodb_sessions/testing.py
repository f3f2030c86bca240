"""A pytest plugin for testing an app that keeps its sessions with dynamodb-sessions.

``pip install "dynamodb-sessions[testing]"`` registers it (the ``pytest11`` entry point); without
the install, ``-p dynamodb_sessions.testing`` loads it. Loading costs nothing more than this
module: no fixture runs, no engine starts and neither botocore nor any framework is imported
until a test asks for a fixture. The fixtures, all named ``dynamodb_session*`` so that they do not
take the name of an app's own fixtures::

    dynamodb_sessions_engine       (per test session) a local DynamoDB-API engine on 127.0.0.1
    dynamodb_sessions_config       a StoreConfig for a fresh, empty table of this test's own
    dynamodb_sessions_env          the environment names pointing at that table (for an app
                                   whose store is made from the environment)
    dynamodb_sessions_store        a SessionStore on the table
    dynamodb_sessions_async_store  an AsyncSessionStore on the table
    dynamodb_session               make a stored session (data, user); returns its id, and
                                   puts it in a test client's cookie when given one
    dynamodb_sessions_django       Django's session engine pointed at the table for this test

The engine (``--dynamodb-sessions-engine``, or the ini option ``dynamodb_sessions_engine``):
``embedded`` is moto's server in the test process (the ``local`` extra); ``dynalite`` is the
Node.js server (npm ``dynalite``), found as ``$DYNALITE_CLI`` (the path of its ``cli.js``) or as
``dynalite`` on ``PATH``, with ``node`` on ``PATH``; ``auto`` (the default) takes dynalite when it
is found and the embedded engine otherwise. dynalite is the stricter of the two (the exact 400 KB
item limit, atomic conditional writes under real concurrency).

A table per test rather than a key prefix per test: nothing one test stores can be seen by the
next (a ``stats`` or ``gc`` call sees only its test's items), and it is cheap, because every
test's store shares one client: about 40 ms (dynalite) to 80 ms (embedded) per test, where a
new client would cost 200 ms.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import pytest

if TYPE_CHECKING:
    from . import AsyncSessionStore, Connection, SessionStore, StoreConfig

ENGINES = ("auto", "embedded", "dynalite")
OPTION = "--dynamodb-sessions-engine"
INI = "dynamodb_sessions_engine"

# Patient timeouts towards a local engine: the library's 1 s is made for DynamoDB, and on a
# loaded CI machine a local engine can answer later, after which botocore would send the call
# again (a DeleteTable re-sent after it landed fails).
ENGINE_TIMEOUTS = {"connect_timeout": 30.0, "read_timeout": 30.0}


def pytest_addoption(parser: pytest.Parser) -> None:
    """The engine option and its ini twin."""
    group = parser.getgroup("dynamodb-sessions")
    group.addoption(
        OPTION,
        choices=ENGINES,
        default=None,
        help="local engine of the dynamodb_sessions_* fixtures: auto (dynalite when found, "
        "else embedded), embedded (moto's server) or dynalite",
    )
    parser.addini(INI, "default of " + OPTION, default="auto")


@dataclass(frozen=True)
class LocalEngine:
    """A running local DynamoDB-API engine: ``name`` (``embedded`` or ``dynalite``) and its
    ``endpoint`` URL on 127.0.0.1."""

    name: str
    endpoint: str

    def connection(self, **overrides: Any) -> Connection:
        """A :class:`Connection` to this engine: its keys and patient timeouts."""
        from .config import Connection
        from .local import LOCAL_CREDENTIALS

        return Connection(
            endpoint_url=self.endpoint, **{**LOCAL_CREDENTIALS, **ENGINE_TIMEOUTS, **overrides}
        )


def dynalite_cli() -> str | None:
    """Where dynalite is: ``$DYNALITE_CLI``, else ``dynalite`` on ``PATH``; ``None`` when it is
    not there or ``node`` is not on ``PATH``."""
    if shutil.which("node") is None:
        return None
    configured = os.environ.get("DYNALITE_CLI")
    if configured:
        return configured if os.path.exists(configured) else None
    return shutil.which("dynalite")


def chosen_engine(config: pytest.Config) -> str:
    """``embedded`` or ``dynalite``, from the option, else the ini, else ``auto``."""
    choice = config.getoption(OPTION) or config.getini(INI)
    if choice not in ENGINES:
        raise pytest.UsageError(f"{INI} = {choice!r}: choose one of {', '.join(ENGINES)}")
    if choice == "auto":
        return "dynalite" if dynalite_cli() else "embedded"
    return str(choice)


@pytest.fixture(scope="session")
def dynamodb_sessions_engine(pytestconfig: pytest.Config) -> Iterator[LocalEngine]:
    """A local DynamoDB-API engine on 127.0.0.1, started once per test session (per xdist
    worker) and stopped at its end."""
    from .local import dynalite_engine, local_engine

    name = chosen_engine(pytestconfig)
    if name == "dynalite":
        cli = dynalite_cli()
        if cli is None:
            raise pytest.UsageError(
                "dynalite was asked for but not found: set DYNALITE_CLI to its cli.js or put "
                "`dynalite` on PATH (npm install -g dynalite), with Node.js"
            )
        with dynalite_engine(cli) as endpoint:
            yield LocalEngine(name, endpoint)
    else:
        with local_engine() as endpoint:
            yield LocalEngine(name, endpoint)


@pytest.fixture(scope="session")
def _dynamodb_sessions_client(dynamodb_sessions_engine: LocalEngine) -> Iterator[Any]:
    # One botocore client for every test's sync store: making one costs more than a table.
    from .store import make_client

    client = make_client(dynamodb_sessions_engine.connection())
    yield client
    client.close()


@pytest.fixture
def dynamodb_sessions_config(
    dynamodb_sessions_engine: LocalEngine, _dynamodb_sessions_client: Any
) -> Iterator[StoreConfig]:
    """A :class:`StoreConfig` for a fresh, empty table of this test's own (made as
    ``create-table`` makes it: TTL, the user index), deleted after the test."""
    from .config import StoreConfig
    from .store import SessionStore

    config = StoreConfig(
        table=f"sessions-{uuid.uuid4().hex[:12]}", connection=dynamodb_sessions_engine.connection()
    )
    report = SessionStore(config, client=_dynamodb_sessions_client).create_table(wait_seconds=30)
    assert report.ok, report.problems
    yield config
    _dynamodb_sessions_client.delete_table(TableName=config.table)


@pytest.fixture
def dynamodb_sessions_env(
    dynamodb_sessions_config: StoreConfig, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The environment names (``AWS_DYNAMODB_SESSION_TABLE``, the endpoint, region and keys)
    set to this test's table, for an app that makes its store from the environment; returns
    them. Make the app (or its store) after this fixture, not at import."""
    from .local import local_environment

    endpoint = dynamodb_sessions_config.connection.endpoint_url
    assert endpoint is not None
    names = local_environment(endpoint, dynamodb_sessions_config.table)
    for name, value in names.items():
        monkeypatch.setenv(name, value)
    return names


@pytest.fixture
def dynamodb_sessions_store(
    dynamodb_sessions_config: StoreConfig, _dynamodb_sessions_client: Any
) -> SessionStore:
    """A :class:`SessionStore` on this test's table."""
    from .store import SessionStore

    return SessionStore(dynamodb_sessions_config, client=_dynamodb_sessions_client)


@pytest.fixture
def dynamodb_sessions_async_store(dynamodb_sessions_config: StoreConfig) -> AsyncSessionStore:
    """An :class:`AsyncSessionStore` on this test's table (a client per event loop, closed
    with its loop)."""
    from .store import AsyncSessionStore

    return AsyncSessionStore(dynamodb_sessions_config)


class MakeSession(Protocol):
    """The ``dynamodb_session`` fixture: stores a session and returns its id."""

    def __call__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        user_id: str | None = None,
        client: Any = None,
        store: SessionStore | None = None,
    ) -> str: ...


@pytest.fixture
def dynamodb_session(dynamodb_sessions_store: SessionStore) -> MakeSession:
    """Make a stored session holding ``data`` (JSON values), belonging to ``user_id`` if given;
    return its id, the session cookie's value. With ``client`` (Flask's, Starlette's or
    Django's test client), the cookie is set on it (:func:`set_session_cookie`). ``store``: the
    app's own store, when it is not ``dynamodb_sessions_store`` (another codec, Flask's tagged
    JSON for tuples or datetimes; another key prefix)."""

    def make(
        data: Mapping[str, Any] | None = None,
        *,
        user_id: str | None = None,
        client: Any = None,
        store: SessionStore | None = None,
    ) -> str:
        target = store or dynamodb_sessions_store
        session = target.load(None)
        session.update(data or {})
        session.user_id = user_id
        target.create(session)
        if client is not None:
            set_session_cookie(client, session.session_id)
        return session.session_id

    return make


@pytest.fixture
def dynamodb_sessions_django(
    dynamodb_sessions_env: dict[str, str], _dynamodb_sessions_client: Any
) -> Iterator[SessionStore]:
    """Django's session engine on this test's table (configured as in production: the
    environment, ``DYNAMODB_SESSIONS``, ``SESSION_COOKIE_AGE``); returns the store it uses, and
    puts back the one in force before after the test. ``client.force_login(user)`` and
    ``client.session`` then work as with Django's own engines."""
    from .integrations import django as engine
    from .store import SessionStore

    before = engine._given
    store = SessionStore(engine.store_config(), client=_dynamodb_sessions_client)
    engine.set_store(store)
    yield store
    engine.set_store(before)


def set_session_cookie(client: Any, session_id: str, *, name: str | None = None) -> None:
    """Put ``session_id`` in the session cookie of a test client: Flask's (``app.test_client()``),
    Starlette's ``TestClient`` (FastAPI's too) or Django's ``Client``. ``name`` defaults to the
    app's session cookie name (Flask's ``SESSION_COOKIE_NAME``; the Starlette middleware's
    ``session_cookie``; Django's ``SESSION_COOKIE_NAME``)."""
    application = getattr(client, "application", None)
    if application is not None and hasattr(application, "session_interface"):  # Flask
        interface = application.session_interface
        host = (application.config.get("SERVER_NAME") or "localhost").split(":")[0]
        client.set_cookie(
            name or interface.get_cookie_name(application),
            session_id,
            domain=host,
            path=interface.get_cookie_path(application),
        )
    elif hasattr(client, "app") and hasattr(client, "cookies"):  # Starlette's TestClient
        client.cookies.set(name or _starlette_cookie_name(client.app), session_id)
    elif hasattr(client, "cookies") and hasattr(client, "force_login"):  # Django
        from django.conf import settings

        client.cookies[name or settings.SESSION_COOKIE_NAME] = session_id
    else:
        raise TypeError(
            f"not a test client of Flask, Starlette or Django: {type(client).__name__} "
            "(set the session cookie to the id yourself)"
        )


def _starlette_cookie_name(app: Any) -> str:
    from .integrations.starlette import SessionMiddleware

    for middleware in getattr(app, "user_middleware", ()):
        if getattr(middleware, "cls", None) is SessionMiddleware:
            return str(middleware.kwargs.get("session_cookie", "session"))
    return "session"

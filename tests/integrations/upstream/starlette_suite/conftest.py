"""Starlette's own ``tests/conftest.py`` (its ``test_client_factory``), and the shim that runs
its session tests against our middleware: the only changes are the secret key dropped and a
store added."""

from __future__ import annotations

from typing import Any

import pytest
from upstream_suites import fixtures_of, import_tests

from dynamodb_sessions import AsyncSessionStore, StoreConfig
from dynamodb_sessions.integrations.starlette import SessionMiddleware
from dynamodb_sessions.session import Session

upstream_conftest, upstream_sessions = import_tests(
    "starlette", "conftest", "middleware.test_session", siblings=("types",)
)
globals().update(fixtures_of(upstream_conftest))


@pytest.fixture(autouse=True)
def our_middleware(monkeypatch: pytest.MonkeyPatch, config: StoreConfig) -> None:
    """Starlette's ``SessionMiddleware`` and ``Session``, as the upstream module names them,
    are ours: the middleware without ``secret_key`` (nothing is signed) and with a store on
    this test's table."""
    store = AsyncSessionStore(config)

    class WithoutSecretKey(SessionMiddleware):
        def __init__(self, app: Any, secret_key: object, **options: Any) -> None:
            super().__init__(app, store, **options)

    monkeypatch.setattr(upstream_sessions, "SessionMiddleware", WithoutSecretKey)
    monkeypatch.setattr(upstream_sessions, "Session", Session)

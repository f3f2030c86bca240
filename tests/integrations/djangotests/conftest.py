"""Django configured for the session engine's tests: Django's own SessionMiddleware and auth,
an SQLite test database for users, and the engine's store pointed at a fresh table per test."""

from __future__ import annotations

import time
from collections.abc import Iterator

import django
import pytest
from django.conf import settings

from dynamodb_sessions import SessionStore, StoreConfig
from dynamodb_sessions.integrations import django as engine_module

if not settings.configured:
    settings.configure(
        SECRET_KEY="only-for-tests",
        ALLOWED_HOSTS=["testserver"],
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "django.contrib.sessions",  # for its clearsessions command
            "dynamodb_sessions.integrations.django",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
        ],
        SESSION_ENGINE="dynamodb_sessions.integrations.django",
        ROOT_URLCONF="django_views",
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        USE_TZ=True,
    )
    django.setup()


@pytest.fixture(scope="session", autouse=True)
def django_test_environment() -> Iterator[None]:
    """Django's test environment and a migrated test database, with one user, ``ada``."""
    from django.contrib.auth.models import User
    from django.test.utils import (
        setup_databases,
        setup_test_environment,
        teardown_databases,
        teardown_test_environment,
    )

    setup_test_environment()
    databases = setup_databases(verbosity=0, interactive=False)
    User.objects.create_user("ada", password="lovelace")
    yield
    teardown_databases(databases, verbosity=0)
    teardown_test_environment()


@pytest.fixture
def clock(clock):
    """The shared controllable clock, started at the real time: cookie dates that Django
    computes with its own clock then fall within the sessions' lifetimes."""
    clock.now = float(int(time.time()))
    return clock


@pytest.fixture
def store(config: StoreConfig, clock) -> Iterator[SessionStore]:
    """The store the session engine uses in this test (a fresh table, the test's clock)."""
    store = SessionStore(config, clock=clock)
    engine_module.set_store(store)
    yield store
    engine_module.set_store(None)


@pytest.fixture(params=["threads", "async store"])
def async_mode(request) -> Iterator[str]:
    """Django's async methods both ways: the sync store in worker threads
    (``DYNAMODB_SESSIONS_ASYNC_STORE = False``), and the async store (the default)."""
    from django.test import override_settings

    with override_settings(DYNAMODB_SESSIONS_ASYNC_STORE=request.param == "async store"):
        yield request.param

"""Flask's own session tests (those of ``tests/test_basic.py`` about sessions and flashing,
from the sdist of the installed Flask) against our session interface. The shim is the ``app``
fixture below: Flask's own, without its secret key and with our extension on this test's table.

What differs on purpose is skipped by name with the reason (and told in docs/guide.md).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from upstream_suites import import_tests, skip, upstream_tests

from dynamodb_sessions import StoreConfig
from dynamodb_sessions.integrations.flask import SETTING, DynamoDBSessions

pytestmark = pytest.mark.engines(
    "moto", reason="HTTP behaviour, the same on any engine; the store's contract runs on both"
)

(upstream,) = import_tests("flask", "test_basic")
TESTS = {
    name: test
    for name, test in upstream_tests(upstream).items()
    if "session" in name or "flash" in name
}

NO_SECRET_KEY = (
    "differs on purpose: nothing is signed, so sessions need no SECRET_KEY (and have no "
    "NullSession without one, and no key rotation)"
)
REFRESHED_EVERY_TOUCH_AFTER = (
    "differs on purpose: an unchanged permanent session's expiry (and cookie) is refreshed "
    "once touch_after of PERMANENT_SESSION_LIFETIME has passed, not on every request, and a "
    "request that never touches the session is not refreshed at all (it costs no DynamoDB call)"
)
SKIPPED = {
    "test_missing_session": NO_SECRET_KEY,
    "test_session_secret_key_fallbacks": NO_SECRET_KEY,
    "test_session_cookie_setting": REFRESHED_EVERY_TOUCH_AFTER,
    "test_session_refresh_vary": REFRESHED_EVERY_TOUCH_AFTER,
}

skip(TESTS, SKIPPED)
globals().update(TESTS)


@pytest.fixture
def app(app: Flask, config: StoreConfig) -> Iterator[Flask]:
    """Flask's ``app`` fixture with our sessions: its secret key removed, and the extension
    configured (as an application would be) for this test's table."""
    app.config["SECRET_KEY"] = None
    connection = config.connection
    app.config[SETTING] = {
        "table": config.table,
        "endpoint_url": connection.endpoint_url,
        "region": connection.region,
        "access_key": connection.access_key,
        "secret_key": connection.secret_key,
    }
    DynamoDBSessions(app)
    yield app
    app.extensions["dynamodb_sessions"].close()

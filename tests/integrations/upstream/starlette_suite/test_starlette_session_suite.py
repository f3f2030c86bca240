"""Starlette's own session tests (``tests/middleware/test_session.py`` from the sdist of the
installed Starlette) against our ``SessionMiddleware``: drop-in parity, shown by Starlette's
tests rather than by ours. The shim is in this directory's ``conftest.py``."""

from __future__ import annotations

import pytest
from upstream_suites import import_tests, skip, upstream_tests

pytestmark = pytest.mark.engines(
    "moto", reason="HTTP behaviour, the same on any engine; the store's contract runs on both"
)

(upstream,) = import_tests("starlette", "middleware.test_session", siblings=("types",))
TESTS = upstream_tests(upstream)

# Tests that cannot apply to a store-backed session, by name, with the reason. None does
# today: no test looks inside Starlette's signed cookie.
SKIPPED: dict[str, str] = {}

skip(TESTS, SKIPPED)
globals().update(TESTS)

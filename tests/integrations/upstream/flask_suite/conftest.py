"""Flask's own ``tests/conftest.py`` (its ``app``, ``client``, ``req_ctx`` fixtures, its
environment reset and request-context leak detector), for its session tests."""

from __future__ import annotations

import _pytest.monkeypatch
from upstream_suites import fixtures_of, import_tests

# Flask's conftest names pytest's private "not set" marker by its name before pytest 9
# (``notset``); the object is the same, only the name moved.
if not hasattr(_pytest.monkeypatch, "notset"):
    _pytest.monkeypatch.notset = _pytest.monkeypatch.NOTSET  # type: ignore[attr-defined]

(upstream_conftest,) = import_tests("flask", "conftest")
globals().update(fixtures_of(upstream_conftest))

"""Frameworks' own session tests, run against our adapters (see ``upstream_suites``).

Nothing here but the directory itself: pytest puts it on ``sys.path`` for this conftest, so
the suites below can import ``upstream_suites``.
"""

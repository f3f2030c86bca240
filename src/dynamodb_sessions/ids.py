"""Session ids: how they are made, recognised, and turned into storage keys.

A session id is 32 random bytes from :mod:`secrets` (256 bits), URL-safe base64 without padding:
43 characters. The table never holds the id itself, only its SHA-256, so someone who can read the
table cannot take over a session.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable

ID_BYTES = 32
_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")

IdFactory = Callable[[], str]
"""Makes a new session id; injected where tests need determinism."""


def new_session_id() -> str:
    """Return a new random session id (256 bits from :mod:`secrets`)."""
    return secrets.token_urlsafe(ID_BYTES)


def is_well_formed(value: object) -> bool:
    """Tell whether ``value`` has the exact shape of an id this library issues.

    Anything else (empty, too long, other characters) never reaches DynamoDB.
    """
    return isinstance(value, str) and _ID_PATTERN.fullmatch(value) is not None


def storage_key(session_id: str, prefix: str = "") -> str:
    """Return the table's partition key for ``session_id``: ``prefix`` + hex SHA-256 of the id."""
    return prefix + hashlib.sha256(session_id.encode("ascii")).hexdigest()


# The key of log tags: random per process, never stored or logged. A plain SHA-256 prefix of
# the id would be the prefix of the table's partition key (storage_key), linking every log line
# to its item for anyone who can read both; keyed, a tag links log lines of one process only.
_LOG_KEY = secrets.token_bytes(32)


def log_safe(session_id: str) -> str:
    """Return a short tag of an id for log lines (never log the id itself).

    An HMAC-SHA256 of the id under a random per-process key, cut to 12 hex digits: it tells
    log lines of one session apart within a process, yet reveals neither the id nor its
    storage key (so a log line cannot be joined with a table item), and the same id gets a
    different tag in another process (a worker restarted, another worker of a pre-fork server).
    """
    digest = hmac.new(_LOG_KEY, session_id.encode("utf-8", "replace"), hashlib.sha256)
    return digest.hexdigest()[:12]

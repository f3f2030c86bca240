"""What the library logs, and where.

Two loggers, so that operations and security monitoring can route them apart (the way Django
uses ``django.security``):

``dynamodb_sessions``
    operational: each error a web adapter turns into a 503 answer, logged once at WARNING with
    the DynamoDB operation and error code.
``dynamodb_sessions.security``
    security events, each with ``extra={"event": name}`` for filters and structured handlers:

    ==================  =======  ==========================================================
    ``unknown_id``      INFO     a well-formed cookie names no stored session (never issued,
                                 or deleted: a guessed or planted id looks like this)
    ``corrupt_item``    WARNING  a stored item cannot be decoded or authenticated (tampered,
                                 copied between items, or under a retired key)
    ``rotated``         INFO     a session moved to a new id (log in); old and new tags
    ``ended``           INFO     a session was ended on purpose (log out: flush, delete)
    ``revoked_user``    INFO     every session of one user was ended (log out everywhere)
    ``ended_listed``    INFO     one session of a user was ended by its listed key
    ``revoked_login``   WARNING  a log-in raced a revocation of its user and was undone
    ``lock_timeout``    WARNING  lock mode: another request held the session past the wait
    ``conflict``        WARNING  a save gave up after its bounded retries against writers
    ==================  =======  ==========================================================

No record ever holds a session id or its storage key: only :func:`~dynamodb_sessions.ids.log_safe`
tags, keyed per process. A user id is tagged the same way (it may be an e-mail address).
"""

from __future__ import annotations

import logging

from .ids import log_safe

__all__ = ["logger", "security", "unavailable"]

logger = logging.getLogger("dynamodb_sessions")
"""Operational records (see the module docstring)."""

security = logging.getLogger("dynamodb_sessions.security")
"""Security events (see the module docstring)."""


def unavailable(exc: Exception, where: str) -> None:
    """Record that the adapter ``where`` answered 503 because of ``exc`` (call it once)."""
    # A BackendError's message starts with the operation and the AWS error code. No exception
    # of this library names a session id other than by its tag.
    logger.warning(
        "%s answered 503 (session store unavailable): %s: %s", where, type(exc).__name__, exc
    )


def event(name: str, level: int, message: str, *args: object) -> None:
    """Log security event ``name`` (ids passed in ``args`` must already be tags)."""
    security.log(level, message, *args, extra={"event": name})


def unknown_id(session_id: str) -> None:
    """A well-formed id named no stored session."""
    event("unknown_id", logging.INFO, "session %s: unknown id", log_safe(session_id))


def corrupt_item(session_id: str, exc: Exception) -> None:
    """A stored item could not be decoded; it is discarded for a new empty session."""
    event(
        "corrupt_item",
        logging.WARNING,
        "session %s: discarding corrupt item: %s",
        log_safe(session_id),
        exc,
    )


def rotated(old_id: str, new_id: str) -> None:
    """The session ``old_id`` now lives on as ``new_id``; the old id no longer works."""
    event("rotated", logging.INFO, "session %s: rotated to %s", log_safe(old_id), log_safe(new_id))


def ended(session_id: str) -> None:
    """The session was ended on purpose (log out)."""
    event("ended", logging.INFO, "session %s: ended", log_safe(session_id))


def revoked_user(user_id: str, count: int) -> None:
    """Every session of ``user_id`` was ended (``count`` of them)."""
    event("revoked_user", logging.INFO, "user %s: %d sessions revoked", log_safe(user_id), count)


def ended_listed(user_id: str) -> None:
    """One session of ``user_id`` was ended by the key its listing showed."""
    event("ended_listed", logging.INFO, "user %s: one session ended", log_safe(user_id))


def revoked_login(user_id: str) -> None:
    """A log-in of ``user_id`` ran while (or just before) their sessions were revoked."""
    event(
        "revoked_login",
        logging.WARNING,
        "user %s: a log-in during a revocation was undone",
        log_safe(user_id),
    )


def lock_timeout(session_id: str, waited: float) -> None:
    """Lock mode: the session stayed locked by another request for ``waited`` seconds."""
    event(
        "lock_timeout",
        logging.WARNING,
        "session %s: still locked by another request after %.2f s",
        log_safe(session_id),
        waited,
    )


def conflict(session_id: str, attempts: int) -> None:
    """A save lost ``attempts`` attempts to concurrent writers and gave up."""
    event(
        "conflict",
        logging.WARNING,
        "session %s: save gave up after %d conflicting attempts",
        log_safe(session_id),
        attempts,
    )

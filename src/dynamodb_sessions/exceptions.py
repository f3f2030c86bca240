"""Exceptions raised by dynamodb-sessions.

Every exception derives from :class:`SessionError`::

    SessionError
    ├── ConfigurationError        bad settings or environment (also a ValueError)
    ├── SessionTooLargeError      the encoded session cannot fit a DynamoDB item
    ├── UnserializableSessionError  a value JSON cannot hold faithfully (also a TypeError)
    ├── CorruptSessionError       a stored item cannot be decoded (logged, never shown to users)
    │   └── SessionDecryptionError    encrypted data: key not configured, or authentication failed
    ├── SessionConflictError      a save lost every bounded retry against concurrent writers
    │   └── SessionRevokedError       a log-in raced a log-out-everywhere of its user: not kept
    ├── SessionExistsError        a create insisted on an id that is already stored
    ├── SessionLockError          lock mode: another request held the session past the wait
    └── BackendError              DynamoDB refused a request: permissions, credentials, an
        │                         invalid request (a bug), ... (a 500: retrying cannot cure it)
        ├── BackendUnavailableError   connection refused or cut, timeout, throttled or a
        │                             server error past botocore's retries (a 503)
        └── TableNotFoundError        the configured table does not exist

Errors that come from DynamoDB keep the AWS error code in ``code`` and chain the botocore
exception as ``__cause__``.

Which errors a web adapter answers with 503 and ``Retry-After`` (only those retrying can cure:
:class:`BackendUnavailableError`, :class:`SessionConflictError`, :class:`SessionLockError`) is
decided in one place, ``_core.lifecycle.RETRY_LATER``; every other error propagates to the
framework, which answers 500 and logs it.
"""

from __future__ import annotations


class SessionError(Exception):
    """Base class of every error raised by this library."""


class ConfigurationError(SessionError, ValueError):
    """A setting or environment variable has a value the library cannot use."""


class SessionTooLargeError(SessionError):
    """The session, once encoded (and compressed), would exceed DynamoDB's item size limit."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"session item would be {size} bytes, over the limit of {limit} bytes; "
            "store large data elsewhere and keep a reference in the session"
        )
        self.size = size
        self.limit = limit


class UnserializableSessionError(SessionError, TypeError):
    """A session value cannot be stored as JSON without coming back different: a key that is
    not a string (``{1: "a"}`` would come back as ``{"1": "a"}``, and ``{1: "a", "1": "b"}``
    would lose a value), a tuple, set or other non-JSON type, NaN or infinity.

    Raised by the save, before any write; the message names where the value is.
    """


class CorruptSessionError(SessionError):
    """A stored item could not be decoded into a session."""


class SessionDecryptionError(CorruptSessionError):
    """Encrypted session data could not be decrypted: its key is not configured (retired, or
    a wrong key), or it failed authentication (tampered with, or copied from another item).

    A corrupt item, so a load logs it and starts a new empty session; it never yields data.
    """


class SessionConflictError(SessionError):
    """Concurrent writers kept changing the session; the save gave up after bounded retries."""


class SessionRevokedError(SessionConflictError):
    """A write that gave a session to a user (a log-in) ran while that user's sessions were
    being revoked (``revoke_user``), or just before: the session was deleted again.

    A conflict like any other: web adapters answer 503 with ``Retry-After``, and a log-in
    tried again once the revocation is over is kept.
    """


class SessionExistsError(SessionError):
    """An item already exists under the id a caller insisted on creating."""


class SessionLockError(SessionError):
    """Lock mode: another request held the session's lock for longer than the configured wait.

    The waiter gave up without touching the other request's lock; the request should fail
    (a web adapter answers 503 with ``Retry-After``).
    """


class BackendError(SessionError):
    """DynamoDB could not carry out a request.

    ``code`` is the AWS error code (for example ``ValidationException``) or the name of the
    botocore exception for errors that never reached DynamoDB.
    """

    def __init__(self, message: str, *, code: str, operation: str) -> None:
        super().__init__(f"{operation}: {code}: {message}")
        self.code = code
        self.operation = operation


class BackendUnavailableError(BackendError):
    """DynamoDB is unreachable, too slow, throttling, or failing (5xx) past botocore's retries.

    Web adapters answer 503 with ``Retry-After`` and keep the user's cookie.
    """


class TableNotFoundError(BackendError):
    """The configured table does not exist (run ``dynamodb-sessions create-table``)."""

"""Web sessions in Amazon DynamoDB for Django, Flask, Starlette/FastAPI and any WSGI app.

The Python successor of the PHP module silverstripe/silverstripe-dynamodb: the same environment
names and table key, with conditional writes that lose no concurrent update, expiry checked on
every read, and session ids hashed at rest. This module imports no web framework.
"""

from ._core.flows import SaveOutcome
from ._core.gc import GCCheckpoint, GCReport
from ._core.items import StoredState
from ._core.lifecycle import CookieAction, CookieUpdate
from ._core.table import TableReport
from ._core.users import UserSession
from .codec import Codec, JSONSerializer, Serializer
from .config import (
    Attributes,
    Connection,
    CookieSettings,
    LockSettings,
    StoreConfig,
    is_enabled,
)
from .exceptions import (
    BackendError,
    BackendUnavailableError,
    ConfigurationError,
    CorruptSessionError,
    SessionConflictError,
    SessionDecryptionError,
    SessionError,
    SessionExistsError,
    SessionLockError,
    SessionRevokedError,
    SessionTooLargeError,
    TableNotFoundError,
    UnserializableSessionError,
)
from .session import Session
from .store import AsyncSessionStore, SessionStore, make_async_client, make_client

__version__ = "0.1.0"

__all__ = [
    "AsyncSessionStore",
    "Attributes",
    "BackendError",
    "BackendUnavailableError",
    "Codec",
    "ConfigurationError",
    "Connection",
    "CookieAction",
    "CookieSettings",
    "CookieUpdate",
    "CorruptSessionError",
    "GCCheckpoint",
    "GCReport",
    "JSONSerializer",
    "LockSettings",
    "SaveOutcome",
    "Serializer",
    "Session",
    "SessionConflictError",
    "SessionDecryptionError",
    "SessionError",
    "SessionExistsError",
    "SessionLockError",
    "SessionRevokedError",
    "SessionStore",
    "SessionTooLargeError",
    "StoreConfig",
    "StoredState",
    "TableNotFoundError",
    "TableReport",
    "UnserializableSessionError",
    "UserSession",
    "__version__",
    "is_enabled",
    "make_async_client",
    "make_client",
]

"""Web sessions in Amazon DynamoDB for Django, Flask, Starlette/FastAPI and any WSGI app.

The Python successor of the PHP module silverstripe/silverstripe-dynamodb: the same environment
names and table key, with conditional writes that lose no concurrent update, expiry checked on
every read, and session ids hashed at rest. This module imports no web framework.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._core.flows import SaveOutcome
    from ._core.gc import GCCheckpoint, GCReport
    from ._core.items import StoredState
    from ._core.lifecycle import CookieAction, CookieUpdate
    from ._core.stats import TableStats
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

# Each public name and the module that holds it. Imported on first use (PEP 562), so importing
# a submodule alone (the pytest plugin, ``config``) does not pay for botocore: the plugin is
# loaded in every pytest run of a project that installs the ``testing`` extra.
_EXPORTS = {
    "SaveOutcome": "._core.flows",
    "GCCheckpoint": "._core.gc",
    "GCReport": "._core.gc",
    "StoredState": "._core.items",
    "CookieAction": "._core.lifecycle",
    "CookieUpdate": "._core.lifecycle",
    "TableStats": "._core.stats",
    "TableReport": "._core.table",
    "UserSession": "._core.users",
    "Codec": ".codec",
    "JSONSerializer": ".codec",
    "Serializer": ".codec",
    "Attributes": ".config",
    "Connection": ".config",
    "CookieSettings": ".config",
    "LockSettings": ".config",
    "StoreConfig": ".config",
    "is_enabled": ".config",
    "BackendError": ".exceptions",
    "BackendUnavailableError": ".exceptions",
    "ConfigurationError": ".exceptions",
    "CorruptSessionError": ".exceptions",
    "SessionConflictError": ".exceptions",
    "SessionDecryptionError": ".exceptions",
    "SessionError": ".exceptions",
    "SessionExistsError": ".exceptions",
    "SessionLockError": ".exceptions",
    "SessionRevokedError": ".exceptions",
    "SessionTooLargeError": ".exceptions",
    "TableNotFoundError": ".exceptions",
    "UnserializableSessionError": ".exceptions",
    "Session": ".session",
    "AsyncSessionStore": ".store",
    "SessionStore": ".store",
    "make_async_client": ".store",
    "make_client": ".store",
}

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
    "TableStats",
    "UnserializableSessionError",
    "UserSession",
    "__version__",
    "is_enabled",
    "make_async_client",
    "make_client",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})

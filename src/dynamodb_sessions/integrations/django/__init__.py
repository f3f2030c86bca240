"""Django session engine: ``SESSION_ENGINE = "dynamodb_sessions.integrations.django"``.

Django's own ``SessionMiddleware`` drives it, so every ``SESSION_COOKIE_*`` setting,
``SESSION_EXPIRE_AT_BROWSER_CLOSE`` and ``SESSION_SAVE_EVERY_REQUEST`` work as with Django's
engines. The backend only translates Django's ``SessionBase`` contract to the store:

* the store is configured from the environment (``AWS_DYNAMODB_SESSION_TABLE``, ...) with the
  optional dict setting ``DYNAMODB_SESSIONS`` overriding it; the session timeout is
  ``SESSION_COOKIE_AGE``. One store (one botocore client) serves the whole process.
* a save is conditional on the version the load read and merges concurrent changes per key;
  a session deleted meanwhile (a logout elsewhere) raises ``UpdateError``, as with Django's
  database engine, instead of coming back to life.
* ``set_expiry()`` maps to the stored session's idle timeout: seconds are the timeout, pinned on
  that session; ``0`` and ``None`` pin nothing, so ``SESSION_COOKIE_AGE`` is in force (also after
  it changes; ``0`` only makes the cookie a browser-session one);
  a datetime is a deadline: the timeout is the time left, and a load after the deadline finds
  nothing (a refresh of the item's expiry must not carry the session past it). A deadline or
  timeout already past deletes the stored session on save.
* ``cycle_key()`` (log-in) keeps the session's creation time: rotating never extends
  ``absolute_timeout``.
* data is JSON (``SESSION_SERIALIZER`` is not used: nothing is ever unpickled).
* the async methods (``aget``, ``aset``, ``asave``, ``acycle_key``... of Django >= 5.0) run,
  with aiobotocore installed (the ``async`` extra), on an
  :class:`~dynamodb_sessions.AsyncSessionStore` twin of the store (same configuration, codec,
  clock and metrics; one client per event loop), so an async view waits for DynamoDB without
  holding a thread (measured faster than threads: docs/benchmarks.md); with the setting
  ``DYNAMODB_SESSIONS_ASYNC_STORE = False``, or without aiobotocore, they run the store's
  calls in worker threads. Both run the same flows.
* lock mode (``DYNAMODB_SESSIONS = {"lock": {...}}``) needs this library's middleware
  (:mod:`.middleware`): it gives the lock back at the end of every request, which Django's
  own ``SessionMiddleware`` does not tell a backend about when nothing is saved.

Add ``"dynamodb_sessions.integrations.django"`` to ``INSTALLED_APPS`` as well for the
``createsessiontable`` and ``checksessiontable`` commands.
"""

from __future__ import annotations

import importlib.util
import math
import threading
import weakref
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

try:
    from asgiref.sync import sync_to_async
    from django.conf import settings
    from django.contrib.sessions.backends.base import CreateError, SessionBase, UpdateError
    from django.core.exceptions import ImproperlyConfigured
    from django.core.signals import setting_changed
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        'the Django session engine needs Django: pip install "dynamodb-sessions[django]"'
    ) from exc

from ..._core import flows
from ..._core.flows import Flow, SaveOutcome
from ...config import Connection, LockSettings, StoreConfig
from ...exceptions import ConfigurationError, SessionExistsError
from ...ids import is_well_formed, new_session_id
from ...session import Session
from ...store import AsyncSessionStore, _BaseStore
from ...store import SessionStore as DynamoDBSessionStore

__all__ = [
    "ASYNC_STORE_SETTING",
    "MIDDLEWARE",
    "SETTING",
    "SessionStore",
    "get_async_store",
    "get_store",
    "on_async_store",
    "set_store",
    "setting_options",
    "store_config",
]

SETTING = "DYNAMODB_SESSIONS"
"""The optional Django setting: a dict of :class:`StoreConfig` / :class:`Connection` fields."""

# Keys Django itself keeps in the session: the custom expiry, and the logged-in user's id
# (``django.contrib.auth.SESSION_KEY``; named here so this engine never imports auth).
EXPIRY_KEY = "_session_expiry"
AUTH_USER_KEY = "_auth_user_id"

MIDDLEWARE = "dynamodb_sessions.integrations.django.middleware.SessionMiddleware"
"""This library's session middleware, which lock mode needs in ``MIDDLEWARE``."""

_OPTIONS = (set(StoreConfig.__dataclass_fields__) | set(Connection.__dataclass_fields__)) - {
    "connection",
    "timeout",
}

T = TypeVar("T")

_lock = threading.Lock()
_from_settings: DynamoDBSessionStore | None = None
_given: DynamoDBSessionStore | None = None
# The async twin of each sync store (get_async_store), dropped with it.
_twins: weakref.WeakKeyDictionary[DynamoDBSessionStore, AsyncSessionStore] = (
    weakref.WeakKeyDictionary()
)
ASYNC_STORE_SETTING = "DYNAMODB_SESSIONS_ASYNC_STORE"
"""The optional Django setting: ``True`` runs the async methods on the async store."""

_HAS_AIOBOTOCORE = importlib.util.find_spec("aiobotocore") is not None


def store_config() -> StoreConfig:
    """The store's configuration: the environment, then ``DYNAMODB_SESSIONS``, then
    ``SESSION_COOKIE_AGE`` as the timeout. Raises ``ImproperlyConfigured`` naming the problem."""
    options = setting_options()
    try:
        return StoreConfig.from_env(**options, timeout=settings.SESSION_COOKIE_AGE)
    except ConfigurationError as exc:
        raise ImproperlyConfigured(f"DynamoDB sessions: {exc}") from exc


def setting_options() -> dict[str, Any]:
    """``DYNAMODB_SESSIONS`` as options of :meth:`StoreConfig.from_env`; ``ImproperlyConfigured``
    for a key that is not an option here (unknown, ``timeout``), or for lock mode without this
    library's middleware.

    ``lock`` is a :class:`LockSettings`, a dict of its fields, or ``True`` for its defaults.
    """
    options = dict(getattr(settings, SETTING, None) or {})
    if "timeout" in options:
        raise ImproperlyConfigured(
            f"{SETTING}['timeout'] is not used: the session timeout is SESSION_COOKIE_AGE"
        )
    if unknown := sorted(set(options) - _OPTIONS):
        raise ImproperlyConfigured(f"{SETTING} has unknown keys: {', '.join(unknown)}")
    lock = options.get("lock")
    if lock is None or lock is False:
        options.pop("lock", None)
        return options
    if MIDDLEWARE not in settings.MIDDLEWARE:
        # A lock is given back at the end of the request, which Django's SessionMiddleware
        # does not tell a backend about when it saves nothing: the lease would block.
        raise ImproperlyConfigured(
            f"{SETTING}['lock']: lock mode needs {MIDDLEWARE} in MIDDLEWARE (in place of "
            "Django's SessionMiddleware)"
        )
    try:
        if lock is True:
            options["lock"] = LockSettings()
        elif isinstance(lock, dict):
            options["lock"] = LockSettings(**lock)
        elif not isinstance(lock, LockSettings):
            raise TypeError(f"not {type(lock).__name__}")
    except (TypeError, ConfigurationError) as exc:
        raise ImproperlyConfigured(
            f"{SETTING}['lock'] must be True, a LockSettings or a dict of its fields: {exc}"
        ) from exc
    return options


def get_store() -> DynamoDBSessionStore:
    """The process's store: the one given to :func:`set_store`, else one built from the
    settings on first use and kept until they change (never one per request)."""
    global _from_settings
    if _given is not None:
        return _given
    with _lock:
        if _from_settings is None:
            _from_settings = DynamoDBSessionStore(store_config())
        return _from_settings


def on_async_store() -> bool:
    """Whether the async methods run on the async store: aiobotocore is installed and
    ``DYNAMODB_SESSIONS_ASYNC_STORE`` is not false (the default, which measured faster than
    worker threads on the lean transport: docs/benchmarks.md). Otherwise they run the sync
    store's calls in worker threads."""
    return _HAS_AIOBOTOCORE and bool(getattr(settings, ASYNC_STORE_SETTING, True))


def get_async_store() -> AsyncSessionStore:
    """The async twin of :func:`get_store`, for the async methods: the same configuration,
    codec, clock and metrics hook, on aiobotocore (one client per event loop)."""
    store = get_store()
    with _lock:
        twin = _twins.get(store)
        if twin is None:
            twin = _twins[store] = AsyncSessionStore(
                store.config, codec=store.codec, clock=store.clock, metrics=store.metrics
            )
        return twin


def set_store(store: DynamoDBSessionStore | None) -> None:
    """Use ``store`` (built in code: own client, codec or clock) instead of the settings;
    ``None`` goes back to the settings. Its ``config.timeout`` should be SESSION_COOKIE_AGE."""
    global _given
    _given = store


def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    # override_settings in tests, or settings changed at run time: rebuild on next use.
    global _from_settings
    if setting in (SETTING, "SESSION_COOKIE_AGE"):
        with _lock:
            _from_settings = None


setting_changed.connect(_settings_changed, dispatch_uid="dynamodb_sessions.django")


def _off_loop(func: Callable[..., T]) -> Callable[..., Coroutine[Any, Any, T]]:
    # The store is thread-safe, so its blocking calls need not queue behind the single
    # thread that Django's thread-sensitive sync_to_async would pin them to.
    return sync_to_async(func, thread_sensitive=False)


class SessionStore(SessionBase):
    """Django's session backend over a DynamoDB :class:`~dynamodb_sessions.SessionStore`.

    Keeps the :class:`~dynamodb_sessions.Session` a load read (with its version) so that the
    save of this request is versioned and merged.
    """

    if TYPE_CHECKING:  # Django internals the stubs leave out
        _session_cache: dict[str, Any]

        def _get_session(self, no_load: bool = False) -> dict[str, Any]: ...

        async def _aget_session(self, no_load: bool = False) -> dict[str, Any]: ...

    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self._record: Session | None = None  # what the store holds for session_key
        self._cleared = False
        # cycle_key(): the creation time the session keeps under its new key, and the key it
        # leaves (whose delete is then logged as a rotation, not as a log-out).
        self._rotated_from: int | None = None
        self._leaving_key: str | None = None

    # -- keys ------------------------------------------------------------------------------

    def _validate_session_key(self, key: str | None) -> bool:
        # Only ids of this library's shape (256 bits): any other cookie is absent, unread.
        return is_well_formed(key)

    def _get_new_session_key(self) -> str:
        # No exists() probe: creates are conditional, so a clash can never overwrite.
        return new_session_id()

    async def _aget_new_session_key(self) -> str:
        return new_session_id()

    # -- the contract ----------------------------------------------------------------------
    #
    # Each operation is written once, as a flow over the core's flows, and run by the sync
    # store (the sync methods) or by its async twin (the async ones): they cannot disagree.

    def load(self) -> dict[str, Any]:
        """Read the session; an unknown, expired or corrupt one is empty and loses its key."""
        store = get_store()
        return store._run(self._load_flow(store))

    async def aload(self) -> dict[str, Any]:
        """:meth:`load` on the async store."""
        if not on_async_store():
            return await _off_loop(self.load)()
        store = get_async_store()
        return await store._run(self._load_flow(store))

    def exists(self, session_key: str | None) -> bool:
        """Tell whether ``session_key`` names a valid stored session."""
        return session_key is not None and get_store().exists(session_key)

    async def aexists(self, session_key: str | None) -> bool:
        """:meth:`exists` on the async store."""
        if not on_async_store():
            return await _off_loop(self.exists)(session_key)
        return session_key is not None and await get_async_store().exists(session_key)

    def create(self) -> None:
        """Store the current data under a new key now (as Django's engines do)."""
        while True:
            self._session_key = self._get_new_session_key()
            try:
                self.save(must_create=True)
            except CreateError:
                continue
            self.modified = True
            return

    async def acreate(self) -> None:
        """:meth:`create` on the async store."""
        while True:
            self._session_key = self._get_new_session_key()
            try:
                await self.asave(must_create=True)
            except CreateError:
                continue
            self.modified = True
            return

    def save(self, must_create: bool = False) -> None:
        """Write the session: create only if absent (``must_create``, else ``CreateError``), or
        update only if still stored (else ``UpdateError``), merging concurrent changes."""
        if self.session_key is None:
            return self.create()
        data = self._get_session(no_load=must_create)
        if self.session_key is None:  # the load just found the key unknown: a new session
            return self.create()
        store = get_store()
        store._run(self._save_flow(store, data, must_create))
        return None

    async def asave(self, must_create: bool = False) -> None:
        """:meth:`save` on the async store."""
        if not on_async_store():
            return await _off_loop(self.save)(must_create)
        if self.session_key is None:
            return await self.acreate()
        data = await self._aget_session(no_load=must_create)
        if self.session_key is None:
            return await self.acreate()
        store = get_async_store()
        await store._run(self._save_flow(store, data, must_create))
        return None

    def delete(self, session_key: str | None = None) -> None:
        """Delete the stored session ``session_key`` (default: this one); absent is fine."""
        store = get_store()
        store._run(self._delete_flow(store, session_key))

    async def adelete(self, session_key: str | None = None) -> None:
        """:meth:`delete` on the async store."""
        if not on_async_store():
            return await _off_loop(self.delete)(session_key)
        store = get_async_store()
        await store._run(self._delete_flow(store, session_key))
        return None

    def cycle_key(self) -> None:
        """Move the session to a new key (log-in), keeping its data and its creation time:
        Django's own ``cycle_key`` goes through :meth:`create`, which would start the absolute
        timeout afresh on every log-in."""
        self._get_session()  # loads the session, and with it its creation time
        self._rotated_from = None if self._record is None else self._record.created
        self._leaving_key = self.session_key
        try:
            super().cycle_key()
        finally:
            self._rotated_from = self._leaving_key = None

    async def acycle_key(self) -> None:
        """:meth:`cycle_key` for async views (Django's async session API)."""
        await self._aget_session()
        self._rotated_from = None if self._record is None else self._record.created
        self._leaving_key = self.session_key
        try:
            await super().acycle_key()
        finally:
            self._rotated_from = self._leaving_key = None

    def clear(self) -> None:
        """Empty the session; the next save replaces the stored data instead of merging."""
        super().clear()
        self._cleared = True

    @classmethod
    def clear_expired(cls) -> None:
        """Delete expired sessions (``manage.py clearsessions``); TTL does it too, but late."""
        get_store().gc()

    @classmethod
    async def aclear_expired(cls) -> None:
        """:meth:`clear_expired` on the async store."""
        if not on_async_store():
            return await _off_loop(cls.clear_expired)()
        await get_async_store().gc()
        return None

    def release_lock(self) -> None:
        """Lock mode: give back the lock this request's load took, if no save gave it back
        already (the middleware calls it at the end of every request). Otherwise a no-op."""
        record = self._record
        if record is not None and record.stored is not None and record.stored.lock_owner:
            get_store().release(record)

    # -- the flows -------------------------------------------------------------------------

    def _load_flow(self, store: _BaseStore) -> Flow[dict[str, Any]]:
        record = yield from flows.load(store.config, store.codec, self.session_key, _now(store))
        data = record.to_dict()
        if record.is_new or _is_past(_timeout(data, store)):
            self._record, self._session_key = None, None
            return {}
        self._record = record
        return data

    def _save_flow(self, store: _BaseStore, data: dict[str, Any], must_create: bool) -> Flow[None]:
        key = self.session_key
        assert key is not None  # save() made one
        timeout = _timeout(data, store)
        if _is_past(timeout):
            if not must_create:
                yield from self._delete_flow(store, key)
            return
        config, codec = store.config, store.codec
        if must_create:
            record = Session(data, session_id=key)
            record.created = self._rotated_from  # None: a new session begins now
            self._fill(record, data, timeout)
            try:
                yield from flows.create(config, codec, record, _now(store), keep_id=True)
            except SessionExistsError as exc:
                raise CreateError from exc
        else:
            stored = self._record
            if stored is None or stored.session_id != key:
                # A clear() without a load left nothing to compare with: read what is stored.
                stored = yield from flows.load(config, codec, key, _now(store))
            if stored.stored is None:
                raise UpdateError
            record = Session(data, session_id=key, stored=stored.stored)
            self._fill(record, data, timeout)
            if (yield from flows.save(config, codec, record, _now(store))) is SaveOutcome.GONE:
                self._record = None
                raise UpdateError
            # After a merge the record also holds other requests' keys; so must Django's copy,
            # or a second save in this request would read them as deleted.
            self._session_cache = record.to_dict()
        self._record, self._cleared = record, False

    def _delete_flow(self, store: _BaseStore, session_key: str | None) -> Flow[None]:
        key = self.session_key if session_key is None else session_key
        if key is None:
            return
        # cycle_key()'s delete of the key it leaves is logged as a rotation, not a log-out.
        rotated_to = self.session_key if key == self._leaving_key else None
        yield from flows.end(store.config, key, rotated_to)
        if self._record is not None and self._record.session_id == key:
            self._record = None

    def _fill(self, record: Session, data: dict[str, Any], timeout: int | None) -> None:
        record.cleared = self._cleared
        record.timeout = timeout
        user = data.get(AUTH_USER_KEY)
        record.user_id = None if user is None else str(user)


def _now(store: _BaseStore) -> int:
    return int(store.clock())


def _timeout(data: dict[str, Any], store: _BaseStore) -> int | None:
    """The idle timeout ``set_expiry()`` asked for: seconds, or the time left before a datetime
    deadline; ``None`` (the default, SESSION_COOKIE_AGE) for no expiry or 0."""
    expiry = data.get(EXPIRY_KEY)
    if not expiry:
        return None
    if isinstance(expiry, str):
        # Naive datetimes (USE_TZ = False) are local time, as timestamp() reads them.
        return math.ceil(datetime.fromisoformat(expiry).timestamp() - store.clock())
    return int(expiry)


def _is_past(timeout: int | None) -> bool:
    return timeout is not None and timeout <= 0

"""The session object handed to applications: a ``dict`` that knows what happened to it.

:class:`Session` records whether it was read (``accessed``), changed (``modified``) or emptied
(``cleared``), and keeps what the store read (:class:`~dynamodb_sessions.StoredState`) so a save
can be made conditional on it and merged after a conflict. It does no I/O of its own; a session
may be *deferred*, holding a loader that the first access calls, so a request that never touches
its session costs no DynamoDB call, and one that only sets keys can save them without a read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from ._core.items import StoredState
from .ids import is_well_formed, new_session_id

_T = TypeVar("_T")
_S = TypeVar("_S", bound="Session")
_MISSING: Any = object()
_UNLOADED = "(not loaded)"  # a deferred session's id until it loads (never seen)


class Session(dict[str, Any]):
    """A session's data plus the bookkeeping the store needs.

    Public attributes:

    ``session_id``
        the id the cookie carries (a new one for a new session)
    ``is_new``
        no item is stored under ``session_id`` yet
    ``accessed`` / ``modified``
        the data was read / changed during this request. Changing a value in place
        (``session["cart"].append(x)``) cannot be seen: set ``modified = True`` then, as in
        Django and Flask.
    ``blind_writes``
        keys set on a deferred session before anything was read (see :meth:`deferred`)
    ``timeout``
        this session's own idle timeout in seconds, or ``None`` for the store's configured one
    ``user_id``
        optional identity the session belongs to (for listing and revoking a user's sessions)
    ``created``
        when the session began (epoch seconds; ``None`` until stored). :meth:`rotate` keeps it,
        so moving to a new id never extends the absolute timeout; :meth:`flush` starts afresh.
    """

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        session_id: str | None = None,
        stored: StoredState | None = None,
        stale_cookie: bool = False,
    ) -> None:
        super().__init__(data or {})
        # What the store read (``stored``) and where this session lives, kept beside the data.
        # Each is reached through a property that loads a deferred session first, so nothing
        # ever sees a placeholder.
        self._id = session_id or new_session_id()
        self._stored = stored
        self._created: int | None = stored.created if stored else None
        self._timeout: int | None = stored.timeout if stored else None
        self._user_id: str | None = stored.user_id if stored else None
        # The request brought a cookie that named no valid session: it should be removed.
        self._stale_cookie = stale_cookie
        self.accessed = False
        self.modified = False
        self.cleared = False
        # Ids of items this request replaced (rotate, flush); deleted when the request ends.
        self.retired_ids: list[str] = []
        self._loader: Callable[[], Session] | None = None
        self._load_error: Exception | None = None
        # The id a deferred session's loader reads: keys set before any read are only
        # recorded then (blind writes), so a request that never reads need not load.
        self._blind_id: str | None = None

    @classmethod
    def deferred(
        cls: type[_S], loader: Callable[[], Session], *, session_id: str | None = None
    ) -> _S:
        """Return a session that calls ``loader`` on first access and takes its contents.

        If ``loader`` raises, the session stays unloaded: every later access raises the same
        error again (it never becomes an empty session under a new id), and the end of the
        request writes nothing and leaves the cookie alone (see :attr:`load_error`).

        ``session_id`` is the id ``loader`` loads (the request's cookie). If it is well formed,
        setting keys (``session[k] = v``, :meth:`update`) does not load: the keys are recorded
        (:attr:`blind_writes`), and a request that never reads its session saves them by one
        update without a read (``flows.save_blind``). Anything whose answer depends on what is
        stored (a get, ``in``, ``len``, iteration, ``del``, :meth:`pop`, :meth:`setdefault`, an
        attribute) loads first, and the keys set so far are laid over what was read.
        """
        # No id of its own: every access to one loads first, and takes the loaded session's.
        session = cls(session_id=_UNLOADED)
        session._loader = loader
        session._blind_id = session_id if is_well_formed(session_id) else None
        return session

    @property
    def is_loaded(self) -> bool:
        """The session's contents are here (it was not deferred, or its loader has run)."""
        return self._loader is None

    @property
    def load_error(self) -> Exception | None:
        """The error a deferred load raised, if it failed (the session then stays unloaded)."""
        return self._load_error

    @property
    def blind_id(self) -> str | None:
        """The id a deferred session's keys may be written to without a read (see
        :meth:`deferred`); ``None`` once it is loaded, if its load failed, or if it has none."""
        if self._loader is None or self._load_error is not None:
            return None
        return self._blind_id

    @property
    def blind_writes(self) -> dict[str, Any]:
        """The keys set on this session while it was never read (see :meth:`deferred`), to be
        written without a read; empty once it is loaded."""
        return dict(dict.items(self)) if self.blind_id is not None else {}

    # Everything below loads a deferred session first, like its data: read before the first
    # access it would otherwise be a placeholder, and set before it, overwritten by the load.

    @property
    def session_id(self) -> str:
        """The id the cookie carries (a new one for a new session)."""
        self._ensure_loaded()
        return self._id

    @session_id.setter
    def session_id(self, value: str) -> None:
        self._ensure_loaded()
        self._id = value

    @property
    def stored(self) -> StoredState | None:
        """What the store read (or last wrote) of this session; ``None`` if nothing is stored."""
        self._ensure_loaded()
        return self._stored

    @stored.setter
    def stored(self, value: StoredState | None) -> None:
        self._ensure_loaded()
        self._stored = value

    @property
    def created(self) -> int | None:
        """When the session began (epoch seconds; ``None`` until stored)."""
        self._ensure_loaded()
        return self._created

    @created.setter
    def created(self, value: int | None) -> None:
        self._ensure_loaded()
        self._created = value

    @property
    def stale_cookie(self) -> bool:
        """The request's cookie named no valid session: the response should remove it."""
        self._ensure_loaded()
        return self._stale_cookie

    @stale_cookie.setter
    def stale_cookie(self, value: bool) -> None:
        self._ensure_loaded()
        self._stale_cookie = value

    @property
    def is_new(self) -> bool:
        """No item is stored under ``session_id`` yet."""
        return self.stored is None

    @property
    def timeout(self) -> int | None:
        """This session's own idle timeout in seconds, or ``None`` for the store's configured one.

        Only a timeout set here is kept with the stored session; a session without one follows
        the configuration, so a change of the configured timeout applies to it on its next read.
        """
        self._ensure_loaded()
        return self._timeout

    @timeout.setter
    def timeout(self, value: int | None) -> None:
        self._ensure_loaded()
        self._timeout = value

    @property
    def user_id(self) -> str | None:
        """The identity the session belongs to (for listing and revoking a user's sessions)."""
        self._ensure_loaded()
        return self._user_id

    @user_id.setter
    def user_id(self, value: str | None) -> None:
        self._ensure_loaded()
        self._user_id = value

    @property
    def persistent_cookie(self) -> bool:
        """Its cookie should outlive the browser session (Max-Age); a framework whose sessions
        choose (Flask's ``session.permanent``) overrides this."""
        return True

    def rotate(self) -> None:
        """Give the session a new id, keeping its data and its creation time (so rotating never
        extends the absolute timeout); the old item is deleted at the end.

        Call it when privileges change (log in) so an id planted before cannot be used after.
        """
        self._ensure_loaded()
        if self._stored is not None:
            self.retired_ids.append(self._id)
        self._id = new_session_id()
        self._stored = None
        self.accessed = self.modified = True

    def flush(self) -> None:
        """Empty the session, give it a new id and delete the stored item at the end (log out).

        What was this session's own starts afresh too: its creation time, user and timeout.
        """
        self.clear()
        self.rotate()
        self._user_id = None
        self._created = None
        self._timeout = None

    # -- loading: the one place a deferred session becomes a loaded one -----------------------

    def _ensure_loaded(self) -> None:
        if self._loader is None:
            return
        if self._load_error is not None:
            # Failed once: fail again rather than serve an empty session under a new id.
            raise self._load_error
        try:
            loaded = self._loader()
        except Exception as exc:
            self._load_error = exc
            raise
        self.adopt(loaded)

    def adopt(self, loaded: Session) -> None:
        """Become ``loaded`` (the session as just read), with the keys set on this one before
        the read (:attr:`blind_writes`) over its data: they are this request's, newer than
        what was stored."""
        blind = dict(dict.items(self)) if dict.__len__(self) else None
        self._loader = None
        dict.clear(self)
        # dict's own view: given the Session itself, dict.update would go through its
        # overridden keys() and __getitem__, a Python call per key on every request.
        dict.update(self, dict.items(loaded))
        if blind:
            dict.update(self, blind)
        self._id = loaded._id
        self._stored = loaded._stored
        self._created = loaded._created
        self._timeout = loaded._timeout
        self._user_id = loaded._user_id
        self._stale_cookie = loaded._stale_cookie

    def mark_accessed(self) -> None:
        """Count the session as read. Starlette's ``request.session`` calls it on every use, so
        a response that used the session varies by ``Cookie`` there as with Starlette's own."""
        self._read()

    def _read(self) -> None:
        self._ensure_loaded()
        self.accessed = True

    def _write(self, *, blind: bool = False) -> None:
        # A set (``blind``) on a deferred session that can be written without a read is only
        # recorded: its answer does not depend on what is stored.
        if not blind or self.blind_id is None:
            self._ensure_loaded()
        self.accessed = self.modified = True

    # -- every reading method -------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        self._read()
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self._read()
        return super().__contains__(key)

    def __iter__(self) -> Iterator[str]:
        self._read()
        return super().__iter__()

    def __len__(self) -> int:
        self._read()
        return super().__len__()

    def __repr__(self) -> str:
        self._ensure_loaded()
        return f"{type(self).__name__}({super().__repr__()})"

    def __eq__(self, other: object) -> bool:
        self._read()
        return super().__eq__(other)

    def __ne__(self, other: object) -> bool:
        self._read()
        return super().__ne__(other)

    def __reversed__(self) -> Iterator[str]:
        self._read()
        return super().__reversed__()

    def __or__(self, other: Any) -> Any:
        self._read()
        if not isinstance(other, Mapping):
            return NotImplemented
        return {**dict(dict.items(self)), **other}

    def __ror__(self, other: Any) -> Any:
        self._read()
        if not isinstance(other, Mapping):
            return NotImplemented
        return {**other, **dict(dict.items(self))}

    __hash__ = None

    def get(self, key: str, default: Any = None) -> Any:
        """Return the value for ``key``, else ``default``."""
        self._read()
        return super().get(key, default)

    def keys(self) -> Any:
        """The session's keys (a live view)."""
        self._read()
        return super().keys()

    def values(self) -> Any:
        """The session's values (a live view)."""
        self._read()
        return super().values()

    def items(self) -> Any:
        """The session's items (a live view)."""
        self._read()
        return super().items()

    def copy(self) -> dict[str, Any]:
        """A plain ``dict`` copy of the data."""
        self._read()
        return dict(super().items())

    # -- every changing method ------------------------------------------------------------

    def __setitem__(self, key: str, value: Any) -> None:
        self._write(blind=True)
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self._write()
        super().__delitem__(key)

    def __ior__(self, other: Any) -> Session:  # type: ignore[override]
        self.update(other)
        return self

    def clear(self) -> None:
        """Remove every key; a save replaces the stored data instead of merging into it."""
        self._write()
        self.cleared = True
        super().clear()

    def pop(self, key: str, default: Any = _MISSING) -> Any:
        """Remove ``key`` and return its value (or ``default``).

        Popping a key that is not there changes nothing, so it marks nothing (as in Starlette
        and Flask): ``session.pop("user", None)`` on an anonymous request writes no session.
        """
        self._ensure_loaded()
        if super().__contains__(key):
            self.accessed = self.modified = True
            return super().pop(key)
        if default is _MISSING:
            raise KeyError(key)
        return default

    def popitem(self) -> tuple[str, Any]:
        """Remove and return the last inserted item."""
        self._write()
        return super().popitem()

    def setdefault(self, key: str, default: Any = None) -> Any:
        """Return ``session[key]``, setting it to ``default`` first if absent."""
        self._ensure_loaded()
        self.accessed = True
        if not super().__contains__(key):
            self.modified = True
            super().__setitem__(key, default)
        return super().__getitem__(key)

    def update(self, other: Any = (), /, **kwargs: Any) -> None:
        """Update from a mapping or iterable of pairs, and keywords."""
        self._write(blind=True)
        pairs: Iterable[tuple[str, Any]] = other.items() if isinstance(other, Mapping) else other
        for key, value in pairs:
            super().__setitem__(key, value)
        for key, value in kwargs.items():
            super().__setitem__(key, value)

    def to_dict(self) -> dict[str, Any]:
        """A plain ``dict`` of the contents without marking the session accessed."""
        self._ensure_loaded()
        return dict(super().items())

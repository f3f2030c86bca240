"""The session object handed to applications: a ``dict`` that knows what happened to it.

:class:`Session` records whether it was read (``accessed``), changed (``modified``) or emptied
(``cleared``), and keeps what the store read (:class:`~dynamodb_sessions.StoredState`) so a save
can be made conditional on it and merged after a conflict. It does no I/O of its own; a session
may be *deferred*, holding a loader that the first access calls, so a request that never touches
its session costs no DynamoDB call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from ._core.items import StoredState
from .ids import new_session_id

_T = TypeVar("_T")
_S = TypeVar("_S", bound="Session")
_MISSING: Any = object()


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
    ``timeout``
        this session's idle timeout in seconds, or ``None`` for the store's default
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
        self.session_id = session_id or new_session_id()
        self.stored = stored
        self.accessed = False
        self.modified = False
        self.cleared = False
        self._timeout: int | None = stored.timeout if stored else None
        self._user_id: str | None = stored.user_id if stored else None
        self.created: int | None = stored.created if stored else None
        # Ids of items this request replaced (rotate, flush); deleted when the request ends.
        self.retired_ids: list[str] = []
        # The request brought a cookie that named no valid session: it should be removed.
        self.stale_cookie = stale_cookie
        self._loader: Callable[[], Session] | None = None

    @classmethod
    def deferred(cls: type[_S], loader: Callable[[], Session]) -> _S:
        """Return a session that calls ``loader`` on first access and takes its contents."""
        session = cls()
        session._loader = loader
        return session

    @property
    def is_new(self) -> bool:
        """No item is stored under ``session_id`` yet."""
        self._ensure_loaded()
        return self.stored is None

    @property
    def is_loaded(self) -> bool:
        """The session's contents are here (it was not deferred, or its loader has run)."""
        return self._loader is None

    # ``timeout`` and ``user_id`` load a deferred session first, like its data: set before the
    # first access, they would otherwise be overwritten by what the load reads.

    @property
    def timeout(self) -> int | None:
        """This session's idle timeout in seconds, or ``None`` for the store's default."""
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
        """Give the session a new id, keeping its data; the old item is deleted at the end.

        Call it when privileges change (log in) so an id planted before cannot be used after.
        """
        self._ensure_loaded()
        if self.stored is not None:
            self.retired_ids.append(self.session_id)
        self.session_id = new_session_id()
        self.stored = None
        self.accessed = self.modified = True

    def flush(self) -> None:
        """Empty the session, give it a new id and delete the stored item at the end (log out)."""
        self.clear()
        self.rotate()
        self.user_id = None
        self.created = None

    # -- loading ---------------------------------------------------------------------------

    def _ensure_loaded(self) -> None:
        if self._loader is None:
            return
        loader, self._loader = self._loader, None
        loaded = loader()
        # dict's own view: given the Session itself, dict.update would go through its
        # overridden keys() and __getitem__, a Python call per key on every request.
        dict.update(self, dict.items(loaded))
        self.session_id = loaded.session_id
        self.stored = loaded.stored
        self._timeout = loaded.timeout
        self._user_id = loaded.user_id
        self.created = loaded.created
        self.stale_cookie = loaded.stale_cookie

    def mark_accessed(self) -> None:
        """Count the session as read. Starlette's ``request.session`` calls it on every use, so
        a response that used the session varies by ``Cookie`` there as with Starlette's own."""
        self._read()

    def _read(self) -> None:
        self._ensure_loaded()
        self.accessed = True

    def _write(self) -> None:
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
        self._write()
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self._write()
        super().__delitem__(key)

    def __ior__(self, other: Any) -> Session:  # type: ignore[override,misc]
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
        self._write()
        pairs: Iterable[tuple[str, Any]] = other.items() if isinstance(other, Mapping) else other
        for key, value in pairs:
            super().__setitem__(key, value)
        for key, value in kwargs.items():
            super().__setitem__(key, value)

    def to_dict(self) -> dict[str, Any]:
        """A plain ``dict`` of the contents without marking the session accessed."""
        self._ensure_loaded()
        return dict(super().items())

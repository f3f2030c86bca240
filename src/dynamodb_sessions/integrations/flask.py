"""Sessions for Flask: ``flask.session`` kept in DynamoDB.

::

    app = Flask(__name__)
    DynamoDBSessions(app)  # or: sessions = DynamoDBSessions(); sessions.init_app(app)

The store is configured from the environment (``AWS_DYNAMODB_SESSION_TABLE``, ...), overridden by
the optional dict ``app.config["DYNAMODB_SESSIONS"]`` (fields of :class:`StoreConfig` and
:class:`Connection`). Flask's own settings keep their meaning:

* ``PERMANENT_SESSION_LIFETIME`` is the session timeout. A session that is not
  ``session.permanent`` gets a browser-session cookie but still ends after that long idle.
* ``SESSION_COOKIE_*`` shape the cookie (read per request, through Flask's ``get_cookie_*``);
  settings no browser would accept (a ``__Host-`` name with a domain...) are refused by
  ``init_app``.
* ``SESSION_REFRESH_EACH_REQUEST`` (default true; read per request, as Flask does): reads slide
  the expiry, which the store refreshes with a small update once ``touch_after`` of the lifetime
  has passed (not on every request). False: only a change to the session moves its expiry.

``session.permanent = True`` alone (a common ``before_request``) stores nothing: the flag is
kept with the session's first real change, so anonymous visitors never create items. A request
whose view raises or that answers 5xx writes nothing and sets no cookie (as Django does;
``DynamoDBSessions(app, save_on_server_error=True)`` saves on 5xx answers).

``session`` loads on first use: a request that never touches it costs no DynamoDB call, and one
that only sets keys (never reads; reading ``session.permanent`` is a read) costs one UpdateItem.
Setting ``session.permanent`` does not read: the flag goes with keys written that way, and a
request that sets nothing else reads the session at its end to tell whether the flag changed
(the read the setter used to make at once; if DynamoDB is down then, the answer is 503, as
for a failed save). Values
are stored as Flask's tagged JSON, so tuples, bytes, datetimes, UUIDs and ``Markup`` come back
as they went in. If DynamoDB is unavailable the answer is 503 with ``Retry-After`` and the
user's cookie is left alone; other store errors (a missing table, denied access) are 500s.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import suppress
from typing import TYPE_CHECKING, Any

try:
    from flask import current_app, g, got_request_exception
    from flask.json.tag import TaggedJSONSerializer
    from flask.sessions import SessionInterface, SessionMixin
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        'the Flask integration needs Flask: pip install "dynamodb-sessions[flask]"'
    ) from exc

from .._core.cookies import caching_headers
from .._core.lifecycle import (
    RETRY_LATER,
    UNAVAILABLE_BODY,
    CookieAction,
    request_failed,
    unavailable_headers,
)
from ..codec import Codec, check_json
from ..config import StoreConfig, cookie_problems
from ..exceptions import ConfigurationError, SessionError
from ..metrics import report_unavailable
from ..session import Session
from ..store import SessionStore

if TYPE_CHECKING:
    from flask import Flask, Request, Response

__all__ = ["SETTING", "DynamoDBSessionInterface", "DynamoDBSessions", "FlaskSession", "TaggedJSON"]

SETTING = "DYNAMODB_SESSIONS"
"""The optional app config key: a dict of :class:`StoreConfig` / :class:`Connection` fields."""


class TaggedJSON:
    """Flask's tagged JSON as a :class:`~dynamodb_sessions.Serializer` (JSON, never pickle)."""

    def __init__(self) -> None:
        self.tagger = TaggedJSONSerializer()

    def dumps(self, data: Mapping[str, Any]) -> bytes:
        """Serialize ``data``, tagging the types plain JSON lacks (tuples, bytes, ...); what
        the tags cannot hold either (a non-str key, a set, NaN) raises
        :class:`~dynamodb_sessions.UnserializableSessionError`."""
        tagged = self.tagger.tag(dict(data))
        check_json(tagged)
        return json.dumps(tagged, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def loads(self, raw: bytes) -> dict[str, Any]:
        """Deserialize what :meth:`dumps` wrote; ``ValueError`` if it is not an object."""
        try:
            value = self.tagger.loads(raw.decode("utf-8"))
        except (TypeError, AttributeError, KeyError) as exc:
            # A tag with a value of the wrong type ({" u": 3}) is corrupt data, not a bug here.
            raise ValueError(f"bad tagged value: {exc}") from exc
        if not isinstance(value, dict):
            raise ValueError("session data is not a JSON object")
        return value


class FlaskSession(Session, SessionMixin):
    """``flask.session``: a :class:`~dynamodb_sessions.Session` (loaded on first use) with
    Flask's ``permanent`` (kept in the data, as Flask does) and ``new``."""

    # ``permanent`` set on a session not read yet (a ``before_request`` on every request):
    # decided against the stored flag once the session is read, or written with its keys.
    _wanted_permanent: bool | None = None

    @property
    def new(self) -> bool:  # type: ignore[override]
        """No item is stored for this session yet."""
        return self.is_new

    @property
    def permanent(self) -> bool:
        """The session's cookie outlives the browser session (``PERMANENT_SESSION_LIFETIME``)."""
        return bool(self.get("_permanent", False))

    @permanent.setter
    def permanent(self, value: bool) -> None:
        if self.blind_id is not None:
            # Not read yet: whether this changes anything depends on the stored flag, which the
            # request may never need. Kept, so that a set-only request stays a blind write (the
            # flag goes with its keys) and one that reads decides it then (:meth:`adopt`).
            self._wanted_permanent = bool(value)
            return
        self._set_permanent(bool(value))

    def _set_permanent(self, value: bool) -> None:
        if self.permanent == value:
            return  # no change, so nothing to store
        if self.is_new and not self.modified:
            # Only a flag on a session with nothing to store: kept in the data without marking
            # it modified, so it goes with the first real change. Set on every anonymous
            # request (a before_request), it would otherwise create an item per visitor.
            dict.__setitem__(self, "_permanent", value)
        else:
            self["_permanent"] = value

    @property
    def blind_writes(self) -> dict[str, Any]:
        """The keys set without a read, with a ``permanent`` set meanwhile: it costs nothing
        more to write the flag with them (alone, it is no reason to write)."""
        written = super().blind_writes
        if written and self._wanted_permanent is not None:
            written["_permanent"] = self._wanted_permanent
        return written

    def adopt(self, loaded: Session) -> None:
        """Become ``loaded`` (see :meth:`Session.adopt`), then set a ``permanent`` wanted
        before the read, as if it had been set on the loaded session."""
        super().adopt(loaded)
        wanted, self._wanted_permanent = self._wanted_permanent, None
        if wanted is not None:
            self._set_permanent(wanted)

    def settle_permanent(self) -> None:
        """At the end of a request: a ``permanent`` wanted on a session never read, whose keys
        are not written blind either, is decided now, against the stored flag (one read, as the
        setter would have made when it was called)."""
        wanted = self._wanted_permanent is not None and self.blind_id is not None
        if wanted and not super().blind_writes:
            self.permanent  # noqa: B018 - the read loads, and adopt() sets the flag

    @property
    def persistent_cookie(self) -> bool:
        """A permanent session's cookie outlives the browser session."""
        # Read without marking the session accessed; the core asks only once it is loaded.
        return bool(dict.get(self, "_permanent", False))


class DynamoDBSessionInterface(SessionInterface):
    """Flask's session interface on a :class:`~dynamodb_sessions.SessionStore`.

    ``save_on_server_error`` saves the session of a request answered 5xx too.
    """

    def __init__(self, store: SessionStore, *, save_on_server_error: bool = False) -> None:
        self.store = store
        self.save_on_server_error = save_on_server_error

    def open_session(self, app: Flask, request: Request) -> FlaskSession:
        """A session that loads the one the cookie names on first use."""
        cookie = request.cookies.get(self.get_cookie_name(app))
        session = FlaskSession.deferred(lambda: self.store.load(cookie), session_id=cookie)
        if self.store.config.lock is not None:
            # Kept for the teardown (lock mode): reading it through flask.session would mark
            # it accessed.
            setattr(g, _SESSION, session)
        return session

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Carry out the core's end-of-request decision on the cookie Flask's settings shape."""
        assert isinstance(session, FlaskSession)  # open_session made it
        if isinstance(session.load_error, RETRY_LATER):
            # The session could not be read. If the error reached Flask, its handler already
            # answered (and logged) 503; if the view caught it and answered anyway, that answer
            # was made without the user's session: 503 instead.
            if not g.get(_ANSWERED_503, False):
                report_unavailable(self.store.metrics, session.load_error, "Flask")
            unavailable(response)
            return
        failed = request_failed(
            response.status_code,
            raised=g.get(_RAISED, False),
            save_on_server_error=self.save_on_server_error,
        )
        refresh = bool(app.config["SESSION_REFRESH_EACH_REQUEST"])  # per request, as Flask does
        try:
            if not failed:  # a failed request writes nothing: no flag to decide
                # If this read fails, the answer is 503 as for a failed save: the flag may be
                # the request's one change ("remember me"), and nothing is lost silently.
                session.settle_permanent()
            update = self.store.finish(session, refresh=refresh, failed=failed)
        except RETRY_LATER as exc:
            report_unavailable(self.store.metrics, exc, "Flask")
            unavailable(response)
            return
        sends_cookie = update.action is not CookieAction.KEEP
        if sends_cookie or session.accessed:  # else no caching header changes: none is read
            for header, value in caching_headers(
                sends_cookie=sends_cookie,
                accessed=session.accessed,
                vary=", ".join(response.headers.getlist("Vary")) or None,
                cache_control=response.headers.get("Cache-Control"),
            ):
                response.headers[header] = value
        if not sends_cookie:
            return  # the cookie stays as it is (most requests): none of its settings matter
        name = self.get_cookie_name(app)
        options: dict[str, Any] = {
            "domain": self.get_cookie_domain(app),
            "path": self.get_cookie_path(app),
            "secure": self.get_cookie_secure(app),
            "httponly": self.get_cookie_httponly(app),
            "samesite": self.get_cookie_samesite(app),
            "partitioned": self.get_cookie_partitioned(app),
        }
        if update.action is CookieAction.SET:
            max_age = update.max_age if update.persistent else None
            response.set_cookie(name, update.value, max_age=max_age, **options)
        elif update.action is CookieAction.DELETE:
            response.delete_cookie(name, **options)


class DynamoDBSessions:
    """The Flask extension: ``DynamoDBSessions(app)`` or ``init_app(app)`` later.

    Each app gets one store (one botocore client, shared by its threads), built from the
    environment and ``app.config["DYNAMODB_SESSIONS"]``, unless ``store`` is given: then its
    timeout must equal ``PERMANENT_SESSION_LIFETIME``, ``DYNAMODB_SESSIONS`` (if set) must agree
    with its configuration, and its codec should be ``Codec(serializer=TaggedJSON())`` for
    Flask's value types. ``save_on_server_error`` saves the session of a request answered 5xx.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        store: SessionStore | None = None,
        save_on_server_error: bool = False,
    ) -> None:
        self.store = store
        self.save_on_server_error = save_on_server_error
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Make ``app`` keep its sessions in DynamoDB and answer 503 when DynamoDB is down.

        Raises :class:`ConfigurationError` for ``SESSION_COOKIE_*`` settings no browser would
        accept (see :func:`~dynamodb_sessions.config.cookie_problems`).
        """
        lifetime = int(app.permanent_session_lifetime.total_seconds())
        if self.store is not None:
            _refuse_other_settings(app, self.store)
        store = self.store or _store_for(app, lifetime)
        if store.config.timeout != lifetime:
            raise ConfigurationError(
                f"the store's timeout ({store.config.timeout} s) differs from "
                f"PERMANENT_SESSION_LIFETIME ({lifetime} s)"
            )
        interface = DynamoDBSessionInterface(store, save_on_server_error=self.save_on_server_error)
        if problems := cookie_problems(
            interface.get_cookie_name(app),
            path=interface.get_cookie_path(app),
            domain=interface.get_cookie_domain(app),
            secure=interface.get_cookie_secure(app),
            samesite=interface.get_cookie_samesite(app),
            partitioned=interface.get_cookie_partitioned(app),
        ):
            raise ConfigurationError(f"SESSION_COOKIE_* settings: {'; '.join(problems)}")
        app.extensions["dynamodb_sessions"] = store
        app.session_interface = interface
        for error in RETRY_LATER:  # raised in a view, where the session loads
            app.register_error_handler(error, _unavailable_handler)
        # Flask saves the session of a view that raised too (on its 500 page): note the raise.
        got_request_exception.connect(_note_raised, app, weak=False)

        @app.teardown_request
        def let_go(_: BaseException | None) -> None:
            # Lock mode: an exception that propagates (PROPAGATE_EXCEPTIONS, testing) skips
            # save_session, so the lock would stay held for its lease. After a save_session
            # this is a no-op (no lock held, no call); an unloaded session holds none, and
            # without lock mode no session does.
            if store.config.lock is None:
                return
            session = g.get(_SESSION)
            if isinstance(session, FlaskSession) and session.is_loaded:
                with suppress(SessionError):
                    store.release(session)


_RAISED = "_dynamodb_sessions_raised"
_SESSION = "_dynamodb_sessions_session"


def _note_raised(sender: Flask, **_: Any) -> None:
    setattr(g, _RAISED, True)


def _refuse_other_settings(app: Flask, store: SessionStore) -> None:
    """A store passed in must not silently override ``DYNAMODB_SESSIONS``."""
    options = dict(app.config.get(SETTING) or {})
    differ = sorted(
        name
        for name, value in options.items()
        if getattr(store.config, name, getattr(store.config.connection, name, value)) != value
    )
    if differ:
        raise ConfigurationError(
            f"{SETTING} sets {', '.join(differ)} otherwise than the store passed in: "
            "configure the store in one place"
        )


def _store_for(app: Flask, lifetime: int) -> SessionStore:
    options = dict(app.config.get(SETTING) or {})
    if "timeout" in options:
        raise ConfigurationError(
            f"{SETTING}['timeout'] is not used: the timeout is PERMANENT_SESSION_LIFETIME"
        )
    config = StoreConfig.from_env(timeout=lifetime, **options)
    codec = Codec(serializer=TaggedJSON(), compress_threshold=config.compress_threshold)
    return SessionStore(config, codec=codec)


def unavailable(response: Response) -> Response:
    """Turn ``response`` into a 503 with ``Retry-After``, setting no cookie."""
    response.status_code = 503
    response.set_data(UNAVAILABLE_BODY)
    for name, value in unavailable_headers():
        response.headers[name] = value
    return response


_ANSWERED_503 = "_dynamodb_sessions_answered_503"


def _unavailable_handler(exc: Exception) -> Response:
    interface = current_app.session_interface
    assert isinstance(interface, DynamoDBSessionInterface)  # the handler is registered with it
    report_unavailable(interface.store.metrics, exc, "Flask")
    setattr(g, _ANSWERED_503, True)  # logged once: save_session need not again
    return unavailable(current_app.response_class())

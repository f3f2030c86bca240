"""Sessions for Flask: ``flask.session`` kept in DynamoDB.

::

    app = Flask(__name__)
    DynamoDBSessions(app)  # or: sessions = DynamoDBSessions(); sessions.init_app(app)

The store is configured from the environment (``AWS_DYNAMODB_SESSION_TABLE``, ...), overridden by
the optional dict ``app.config["DYNAMODB_SESSIONS"]`` (fields of :class:`StoreConfig` and
:class:`Connection`). Flask's own settings keep their meaning:

* ``PERMANENT_SESSION_LIFETIME`` is the session timeout. A session that is not
  ``session.permanent`` gets a browser-session cookie but still ends after that long idle.
* ``SESSION_COOKIE_*`` shape the cookie (read per request, through Flask's ``get_cookie_*``).
* ``SESSION_REFRESH_EACH_REQUEST`` (default true): reads slide the expiry, which the store
  refreshes with a small update once ``touch_after`` of the lifetime has passed (not on every
  request). False: only a change to the session moves its expiry.

``session`` loads on first use: a request that never touches it costs no DynamoDB call. Values
are stored as Flask's tagged JSON, so tuples, bytes, datetimes, UUIDs and ``Markup`` come back
as they went in. If DynamoDB is unavailable the answer is 503 with ``Retry-After`` and the
user's cookie is left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

try:
    from flask import current_app
    from flask.json.tag import TaggedJSONSerializer
    from flask.sessions import SessionInterface, SessionMixin
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        'the Flask integration needs Flask: pip install "dynamodb-sessions[flask]"'
    ) from exc

from .._core.lifecycle import RETRY_LATER, UNAVAILABLE_BODY, CookieAction, unavailable_headers
from ..codec import Codec
from ..config import StoreConfig
from ..exceptions import ConfigurationError
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
        """Serialize ``data``, tagging the types plain JSON lacks."""
        return self.tagger.dumps(dict(data)).encode("utf-8")

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

    @property
    def new(self) -> bool:  # type: ignore[override]
        """No item is stored for this session yet."""
        return self.is_new

    @property
    def persistent_cookie(self) -> bool:
        """A permanent session's cookie outlives the browser session."""
        # Read without marking the session accessed; the core asks only once it is loaded.
        return bool(dict.get(self, "_permanent", False))


class DynamoDBSessionInterface(SessionInterface):
    """Flask's session interface on a :class:`~dynamodb_sessions.SessionStore`."""

    def __init__(self, store: SessionStore) -> None:
        self.store = store

    def open_session(self, app: Flask, request: Request) -> FlaskSession:
        """A session that loads the one the cookie names on first use."""
        cookie = request.cookies.get(self.get_cookie_name(app))
        return FlaskSession.deferred(lambda: self.store.load(cookie))

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Carry out the core's end-of-request decision on the cookie Flask's settings shape."""
        assert isinstance(session, FlaskSession)  # open_session made it
        try:
            update = self.store.finish(session)
        except RETRY_LATER:
            unavailable(response)
            return
        if session.accessed or update.action is not CookieAction.KEEP:
            response.vary.add("Cookie")
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
    timeout must equal ``PERMANENT_SESSION_LIFETIME``, and its codec should be
    ``Codec(serializer=TaggedJSON())`` for Flask's value types.
    """

    def __init__(self, app: Flask | None = None, *, store: SessionStore | None = None) -> None:
        self.store = store
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Make ``app`` keep its sessions in DynamoDB and answer 503 when DynamoDB is down."""
        lifetime = int(app.permanent_session_lifetime.total_seconds())
        store = self.store or _store_for(app, lifetime)
        if store.config.timeout != lifetime:
            raise ConfigurationError(
                f"the store's timeout ({store.config.timeout} s) differs from "
                f"PERMANENT_SESSION_LIFETIME ({lifetime} s)"
            )
        app.extensions["dynamodb_sessions"] = store
        app.session_interface = DynamoDBSessionInterface(store)
        for error in RETRY_LATER:  # raised in a view, where the session loads
            app.register_error_handler(error, _unavailable_handler)


def _store_for(app: Flask, lifetime: int) -> SessionStore:
    options = dict(app.config.get(SETTING) or {})
    if "timeout" in options:
        raise ConfigurationError(
            f"{SETTING}['timeout'] is not used: the timeout is PERMANENT_SESSION_LIFETIME"
        )
    if not app.config["SESSION_REFRESH_EACH_REQUEST"]:
        # A refresh is due only once the whole timeout has passed, when the session is
        # already invalid: reads never move the expiry, only changes do.
        options.setdefault("touch_after", 1.0)
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


def _unavailable_handler(_: Exception) -> Response:
    return unavailable(current_app.response_class())

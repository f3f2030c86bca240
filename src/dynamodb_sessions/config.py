"""Configuration: frozen, validated dataclasses, built from arguments or from the environment.

The environment names are those of the PHP module this library succeeds
(silverstripe/silverstripe-dynamodb), with the standard AWS names as fallbacks:

=================================  =====================================================
``AWS_DYNAMODB_SESSION_TABLE``     table name; setting it turns DynamoDB sessions on
``AWS_REGION_NAME``                region (else ``AWS_REGION``, ``AWS_DEFAULT_REGION``)
``AWS_DYNAMODB_ENDPOINT``          endpoint URL (else ``AWS_ENDPOINT_URL_DYNAMODB``)
``AWS_ACCESS_KEY``                 access key id; with ``AWS_SECRET_KEY`` or not at all,
``AWS_SECRET_KEY``                 else botocore's default chain (env, profile, IAM role)
``AWS_DYNAMODB_SESSION_LIFETIME``  seconds an idle item stays in the table before it may be
                                   collected (GC lifetime); never shorter than the timeout
``AWS_DYNAMODB_SESSION_GC_MARGIN`` seconds after its expiry from which ``gc`` deletes an item
                                   in a batch, unconditionally (default an hour)
``AWS_DYNAMODB_SESSION_KEYS``      encryption at rest: comma-separated base64 keys, newest
                                   first (see :mod:`dynamodb_sessions.crypto`)
``AWS_DYNAMODB_SESSION_TRANSPORT`` ``lean`` (the default) or ``botocore``: how the item
                                   operations travel (see :class:`Connection`)
=================================  =====================================================
"""

from __future__ import annotations

import dataclasses
import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from .crypto import parse_keys
from .exceptions import ConfigurationError

TABLE_ENV = "AWS_DYNAMODB_SESSION_TABLE"
REGION_ENVS = ("AWS_REGION_NAME", "AWS_REGION", "AWS_DEFAULT_REGION")
ENDPOINT_ENVS = ("AWS_DYNAMODB_ENDPOINT", "AWS_ENDPOINT_URL_DYNAMODB")
ACCESS_KEY_ENV = "AWS_ACCESS_KEY"
SECRET_KEY_ENV = "AWS_SECRET_KEY"
LIFETIME_ENV = "AWS_DYNAMODB_SESSION_LIFETIME"
GC_MARGIN_ENV = "AWS_DYNAMODB_SESSION_GC_MARGIN"
KEYS_ENV = "AWS_DYNAMODB_SESSION_KEYS"
TRANSPORT_ENV = "AWS_DYNAMODB_SESSION_TRANSPORT"
TRANSPORTS = ("botocore", "lean")

TWO_WEEKS = 14 * 24 * 3600  # Django's SESSION_COOKIE_AGE default; a familiar idle timeout
DYNAMODB_ITEM_LIMIT = 400 * 1024
GC_MARGIN = 3600  # an hour: far longer than any request, lock wait or retry lasts
MIN_GC_MARGIN = 60


VALUE_PREFIX = "s:"
"""Each session key is stored as its own attribute, named this prefix + the key."""


@dataclass(frozen=True)
class Attributes:
    """Attribute names of a session item. Change them only to match an existing table."""

    key: str = "id"
    data: str = "data"
    expires: str = "expires"  # the TTL attribute: when the item may be deleted (epoch seconds)
    accessed: str = "accessed"  # last recorded activity (epoch seconds), for the idle timeout
    created: str = "created"  # creation time (epoch seconds), for the absolute timeout
    # An idle timeout set for this one session (seconds); absent: the configured timeout.
    pinned_timeout: str = "pinned_timeout"
    # Written by 0.1 on every item (the timeout then in force); ignored, removed by a save.
    timeout: str = "timeout"
    version: str = "version"  # bumped by every data write; guards conditional saves
    user: str = "user_id"  # optional identity the session belongs to
    lock_owner: str = "lock_owner"  # lock mode: the request holding the lease
    lock_expires: str = "lock_expires"  # lock mode: when the lease ends (epoch s, to the ms)

    def __post_init__(self) -> None:
        names = dataclasses.astuple(self)
        if any(not name for name in names) or len(set(names)) != len(names):
            raise ConfigurationError(f"attribute names must be non-empty and distinct: {names}")
        reserved = [name for name in names if name.startswith(VALUE_PREFIX)]
        if reserved:
            raise ConfigurationError(
                f"attribute names starting with {VALUE_PREFIX!r} hold session keys: {reserved}"
            )


@dataclass(frozen=True)
class Connection:
    """How to reach DynamoDB.

    Timeouts are short on purpose: botocore's own defaults (60 s read timeout) would hang a web
    worker during an outage. botocore's ``standard`` retry mode (which the lean transport
    reproduces) is the only retry layer. ``max_pool_connections`` is the size of the client's
    (and the lean transport's) connection pool (botocore's default, 10): the most requests one
    client has in flight at once without opening throw-away connections. Raise it for a
    process that serves more concurrent requests than that (threads, or tasks on one event
    loop); :meth:`SessionStore.gc` never runs more segments at once than it.

    ``transport`` chooses how the item operations travel (``AWS_DYNAMODB_SESSION_TRANSPORT``):
    ``"lean"`` (the default), the library's own (:mod:`dynamodb_sessions.transport`): the same
    requests, signatures and retries as botocore's for under half of its client CPU, with
    botocore's credentials, endpoint and HTTP settings; ``"botocore"``, botocore's client for
    every call, with its event hooks and customisations (the escape hatch: see the guide).
    """

    region: str | None = None
    endpoint_url: str | None = None
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)  # never in a repr (logs)
    connect_timeout: float = 1.0
    read_timeout: float = 1.0
    max_attempts: int = 3  # attempts in all, the first included (botocore's total_max_attempts)
    max_pool_connections: int = 10
    transport: str = "lean"

    def __post_init__(self) -> None:
        if self.endpoint_url is not None:
            _check_endpoint(self.endpoint_url)
        if (self.access_key is None) != (self.secret_key is None):
            raise ConfigurationError(
                f"{ACCESS_KEY_ENV} and {SECRET_KEY_ENV} must be set together (or neither, "
                "to use botocore's default credential chain)"
            )
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise ConfigurationError("connect_timeout and read_timeout must be positive")
        if self.max_attempts < 1:
            raise ConfigurationError("max_attempts must be at least 1")
        if self.max_pool_connections < 1:
            raise ConfigurationError("max_pool_connections must be at least 1")
        if self.transport not in TRANSPORTS:
            raise ConfigurationError(
                f"transport ({TRANSPORT_ENV}) must be one of {', '.join(TRANSPORTS)}: "
                f"{self.transport!r}"
            )


@dataclass(frozen=True)
class LockSettings:
    """Lock mode: a lease lock serialises the requests of one session.

    A request holds the session's lock from load to the end of the request. ``lease`` (whole
    seconds, kept to the millisecond) bounds how long a crashed holder keeps it, so it must
    exceed the longest request; a waiter tries again after ``poll`` seconds, backing off to
    4 x ``poll`` with random jitter, and gives up with
    :class:`~dynamodb_sessions.SessionLockError` once ``wait`` seconds have passed by the
    clock since its first try (its calls included).
    """

    lease: int = 10
    wait: float = 5.0
    poll: float = 0.05

    def __post_init__(self) -> None:
        if self.lease < 1:
            raise ConfigurationError(f"lock lease must be at least 1 second: {self.lease}")
        if self.wait < 0 or self.poll <= 0:
            raise ConfigurationError("lock wait must be >= 0 and poll > 0 seconds")


@dataclass(frozen=True)
class StoreConfig:
    """Everything the session store needs to decide; validated on construction.

    ``timeout`` is the idle timeout (validity), normally the framework's own setting.
    ``gc_lifetime`` sets the item's TTL and defaults to ``timeout``; it may not be shorter.
    ``touch_after`` is the part of ``timeout`` that must pass before an unmodified session's
    expiry is refreshed by a small update (no write at all before that).
    ``lock`` turns lock mode on (see :class:`LockSettings`); without it concurrent requests
    merge their changes per key. ``user_index`` names the global secondary index on the user
    attribute that lists and revokes a user's sessions (``None``: no index, no revocation).
    ``encryption_keys`` (base64 strings or raw bytes, newest first; ``AWS_DYNAMODB_SESSION_KEYS``)
    turn on encryption at rest (the ``crypto`` extra; see :mod:`dynamodb_sessions.crypto`).
    ``accept_unencrypted`` lets an encrypting store still read items written before it did.
    ``gc_margin`` (``AWS_DYNAMODB_SESSION_GC_MARGIN``): ``gc`` deletes an item that expired
    longer ago than this in a batch, one that expired more recently by a conditional delete
    (see :mod:`dynamodb_sessions._core.gc`); at least a minute.
    """

    table: str
    connection: Connection = field(default_factory=Connection)
    timeout: int = TWO_WEEKS
    gc_lifetime: int | None = None
    gc_margin: int = GC_MARGIN
    absolute_timeout: int | None = None
    touch_after: float = 0.1
    key_prefix: str = ""
    consistent_read: bool = True
    compress_threshold: int = 1024
    max_item_bytes: int = DYNAMODB_ITEM_LIMIT
    # Generous on purpose: retries back off with jitter and cost a read and a write each; 8
    # writers hammering one session all the time needed up to ~20 to lose nothing.
    max_conflict_retries: int = 20
    attributes: Attributes = field(default_factory=Attributes)
    lock: LockSettings | None = None
    user_index: str | None = "user_id-index"
    # Never in the repr: a logged or printed configuration must not show keys.
    encryption_keys: tuple[str | bytes, ...] = field(default=(), repr=False)
    accept_unencrypted: bool = False

    def __post_init__(self) -> None:
        if not self.table:
            raise ConfigurationError(f"a table name is required ({TABLE_ENV})")
        if self.timeout <= 0:
            raise ConfigurationError(f"timeout must be positive seconds: {self.timeout}")
        if self.gc_lifetime is not None and self.gc_lifetime < self.timeout:
            raise ConfigurationError(
                f"{LIFETIME_ENV} ({self.gc_lifetime} s) is shorter than the session timeout "
                f"({self.timeout} s): items would be collected while their sessions are valid"
            )
        if self.gc_margin < MIN_GC_MARGIN:
            raise ConfigurationError(
                f"the GC margin ({GC_MARGIN_ENV}) must be at least {MIN_GC_MARGIN} seconds, not "
                f"{self.gc_margin}: an item that expired more recently may still be refreshed by "
                "a request in flight"
            )
        if self.absolute_timeout is not None and self.absolute_timeout <= 0:
            raise ConfigurationError("absolute_timeout must be positive (or None)")
        if not 0 <= self.touch_after <= 1:
            raise ConfigurationError(f"touch_after must be between 0 and 1: {self.touch_after}")
        if self.compress_threshold < 0 or self.max_conflict_retries < 0:
            raise ConfigurationError("compress_threshold and max_conflict_retries must be >= 0")
        if not 0 < self.max_item_bytes <= DYNAMODB_ITEM_LIMIT:
            raise ConfigurationError(f"max_item_bytes must be in 1..{DYNAMODB_ITEM_LIMIT}")
        if self.user_index == "":
            raise ConfigurationError("user_index must be an index name, or None for no index")
        if self.encryption_keys:
            parse_keys(self.encryption_keys)  # shape only: cryptography is not imported here

    @property
    def effective_gc_lifetime(self) -> int:
        """The GC lifetime in force: ``gc_lifetime``, or the timeout when unset."""
        return self.timeout if self.gc_lifetime is None else self.gc_lifetime

    def replace(self, **changes: object) -> StoreConfig:
        """Return a copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> StoreConfig:
        """Build a configuration from the environment; keyword arguments take precedence.

        ``connection`` fields may be given as keywords too (``region=...``, ``read_timeout=...``).
        Raises :class:`ConfigurationError` naming the variable when a value is missing or bad.
        """
        env = os.environ if environ is None else environ
        connection_fields = {f.name for f in dataclasses.fields(Connection)}
        connection_overrides = {
            name: overrides.pop(name) for name in list(overrides) if name in connection_fields
        }
        connection = Connection(
            **{  # type: ignore[arg-type]
                "region": _first(env, REGION_ENVS),
                "endpoint_url": _first(env, ENDPOINT_ENVS),
                "access_key": env.get(ACCESS_KEY_ENV) or None,
                "secret_key": env.get(SECRET_KEY_ENV) or None,
                **({"transport": t} if (t := env.get(TRANSPORT_ENV, "").strip()) else {}),
                **connection_overrides,
            }
        )
        values: dict[str, object] = {"connection": connection}
        if table := env.get(TABLE_ENV):
            values["table"] = table
        if keys := env.get(KEYS_ENV, "").strip():
            values["encryption_keys"] = tuple(k.strip() for k in keys.split(",") if k.strip())
        if lifetime := env.get(LIFETIME_ENV):
            values["gc_lifetime"] = _positive_int(LIFETIME_ENV, lifetime)
        if margin := env.get(GC_MARGIN_ENV):
            values["gc_margin"] = _positive_int(GC_MARGIN_ENV, margin)
        values.update(overrides)
        if "table" not in values:
            raise ConfigurationError(f"{TABLE_ENV} is not set: name the DynamoDB session table")
        return cls(**values)  # type: ignore[arg-type]


def gc_lifetime_from_env(environ: Mapping[str, str] | None = None) -> int | None:
    """The GC lifetime ``AWS_DYNAMODB_SESSION_LIFETIME`` sets (``None`` if unset), validated."""
    raw = (os.environ if environ is None else environ).get(LIFETIME_ENV)
    return _positive_int(LIFETIME_ENV, raw) if raw else None


def is_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Tell whether the environment turns DynamoDB sessions on (``AWS_DYNAMODB_SESSION_TABLE``)."""
    return bool((os.environ if environ is None else environ).get(TABLE_ENV))


@dataclass(frozen=True)
class CookieSettings:
    """Cookie attributes for the WSGI and ASGI adapters (Django and Flask use their own).

    Settings a browser would refuse are refused here, at start-up, rather than by every
    browser at every response (see :func:`cookie_problems`).
    """

    name: str = "session"
    path: str = "/"
    domain: str | None = None
    secure: bool = False
    httponly: bool = True
    samesite: Literal["lax", "strict", "none"] | None = "lax"
    persistent: bool = True  # send Max-Age (else a browser-session cookie)
    partitioned: bool = False  # CHIPS: a cookie kept per top-level site

    def __post_init__(self) -> None:
        if problems := cookie_problems(
            self.name,
            path=self.path,
            domain=self.domain,
            secure=self.secure,
            samesite=self.samesite,
            partitioned=self.partitioned,
        ):
            raise ConfigurationError("; ".join(problems))


SAMESITE_VALUES = ("lax", "strict", "none")


def cookie_problems(
    name: str,
    *,
    path: str,
    domain: str | None,
    secure: bool,
    samesite: str | None,
    partitioned: bool = False,
) -> list[str]:
    """What makes browsers refuse (or never send back) a session cookie with these attributes.

    Shared by :class:`CookieSettings`, the Flask extension (``SESSION_COOKIE_*``) and the
    Django system check, so each framework's settings are held to the same rules:

    * ``__Host-`` names need Secure, ``Path=/`` and no Domain; ``__Secure-`` names need Secure
      (RFC 6265bis 4.1.3; browsers match the prefixes case-insensitively);
    * ``SameSite=None`` and ``Partitioned`` need Secure;
    * SameSite is one of lax, strict, none (any case), or unset.
    """
    problems = []
    lowered = name.lower()
    if lowered.startswith("__host-"):
        if not secure:
            problems.append(f"a {name[:7]} cookie ({name}) must be Secure")
        if path != "/":
            problems.append(f"a {name[:7]} cookie ({name}) must have the path /, not {path!r}")
        if domain:
            problems.append(f"a {name[:7]} cookie ({name}) must not have a domain ({domain})")
    elif lowered.startswith("__secure-") and not secure:
        problems.append(f"a {name[:9]} cookie ({name}) must be Secure")
    if samesite is not None and samesite.lower() not in SAMESITE_VALUES:
        problems.append(f"SameSite must be lax, strict, none or unset, not {samesite!r}")
    elif samesite is not None and samesite.lower() == "none" and not secure:
        problems.append("SameSite=None cookies must be Secure")
    if partitioned and not secure:
        problems.append("Partitioned cookies must be Secure")
    return problems


def _check_endpoint(url: str) -> None:
    """Refuse an endpoint botocore would reject with a traceback (or misread): it needs a
    scheme and a host, such as ``http://localhost:8000``."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        hint = f": did you mean 'http://{url}'?" if "://" not in url else ""
        raise ConfigurationError(
            f"the DynamoDB endpoint {url!r} ({' or '.join(ENDPOINT_ENVS)}) must be a URL "
            f"with http:// or https:// and a host{hint}"
        )


def _first(env: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    return next((env[name] for name in names if env.get(name)), None)


def _positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number of seconds, not {raw!r}") from None
    if value <= 0:
        raise ConfigurationError(f"{name} must be positive, not {value}")
    return value

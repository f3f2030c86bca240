"""The session stores: the core's flows carried out with botocore (sync) or aiobotocore (async).

Each public method is one call of a sans-IO flow (``_core/flows.py``) through a driver, which
performs each step, through the botocore client or the lean transport (``transport.py``,
``Connection.transport``), and maps botocore's errors to this library's (keeping the AWS code,
chaining the cause). :class:`SessionStore` and
:class:`AsyncSessionStore` have the same methods; their drivers (``_run``/``_call``) mirror each
other and differ only by ``await``. aiobotocore is imported only when an async store first needs
a client.

A client's connections belong to one process, and an aiobotocore client's to one event loop
too, so a store makes its clients where they are used::

    SessionStore        one client per process: made on first use; a forked child makes its
                        own (the parent's is never used, closed or collected there)
    AsyncSessionStore   one client per running event loop: made on the loop's first use,
                        closed when the loop shuts down (loop.shutdown_asyncgens(), which
                        asyncio.run(), asyncio.Runner and anyio call) or by close() in it
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import os
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import AsyncExitStack, suppress
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import botocore.session
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    HTTPClientError,
    NoRegionError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from ._core import flows, users
from ._core import gc as gc_flows
from ._core import stats as stats_flows
from ._core import table as table_flows
from ._core.flows import Call, Failed, Flow, SaveOutcome, Sleep
from ._core.gc import CheckpointHook, GCCheckpoint, GCReport, PageHook
from ._core.lifecycle import CookieUpdate
from ._core.scan import Tally
from ._core.stats import ProgressHook, ScanProgress, TableStats
from ._core.steps import Conflict, LockWait, Now, Step
from ._core.table import TableReport
from ._core.users import UserSession
from ._core.wire import OPERATIONS, crc_matches, framed
from .codec import Codec
from .config import REGION_ENVS, Connection, StoreConfig
from .exceptions import (
    BackendError,
    BackendUnavailableError,
    ConfigurationError,
    TableNotFoundError,
)
from .metrics import Metrics, default_metrics
from .session import Session
from .transport import AsyncTransport, Transport

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

T = TypeVar("T")
ConfigT = TypeVar("ConfigT", bound=Config)
StoreT = TypeVar("StoreT", bound="_BaseStore")
Clock = Callable[[], float]

# Codes that mean "try again later" rather than "this request is wrong"; botocore has already
# retried them within its budget by the time they reach us.
UNAVAILABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "LimitExceededException",
    }
)


def user_agent() -> str:
    """The clients' fixed ``User-Agent``: this library, botocore and Python, by version."""
    import platform

    from . import __version__

    return (
        f"dynamodb-sessions/{__version__} Botocore/{botocore.__version__} "
        f"Python/{platform.python_version()}"
    )


def client_config(connection: Connection, kind: type[ConfigT] = Config) -> ConfigT:  # type: ignore[assignment]
    """The client configuration of ``connection``: short timeouts, ``standard`` retries, and a
    fixed ``User-Agent``.

    ``kind`` is botocore's ``Config`` or a subclass of it (aiobotocore's ``AioConfig``), so the
    sync and the async client are configured alike.

    The fixed ``User-Agent`` is for speed: without one, botocore rebuilds its own (sanitising
    each of a dozen components) twice on every call, about 8% of a GetItem's CPU in the client
    (``python -m bench.useragent``; docs/benchmarks.md). What is lost is botocore's per-call
    feature tags (``m/...``, ``cfg/retry-mode``) that AWS reads for its own statistics; what is
    gained besides speed is that the calls name this library in CloudTrail's ``userAgent``.
    """
    return kind(
        user_agent=user_agent(),
        connect_timeout=connection.connect_timeout,
        read_timeout=connection.read_timeout,
        # total_max_attempts counts the first attempt; botocore's "max_attempts" key would
        # count retries only and make one more attempt than configured.
        retries={"mode": "standard", "total_max_attempts": connection.max_attempts},
        max_pool_connections=connection.max_pool_connections,
    )


RESPONSE_GUARD = "dynamodb-sessions-response-guard"


def guard_responses(client: Any) -> None:
    """Make ``client`` refuse a DynamoDB response that arrived incomplete.

    botocore takes a response whose connection was cut after the status line for a complete,
    empty one (a GetItem that "found nothing"), and once its retries on a bad CRC32 run out it
    parses the truncated body anyway. A session store must not read either as "no session"
    (that would replace the user's session with an empty one), so a response without framing
    (no Content-Length, not chunked), with a body of another length than announced, or with an
    ``x-amz-crc32`` that does not match raises botocore's ``ConnectionClosedError``, which the
    store reports as :class:`BackendUnavailableError`. Registered once per client; the sync and
    the async store both call it on their client (made or injected).
    """
    endpoint = client.meta.endpoint_url

    def check(response_dict: dict[str, Any], **_: Any) -> None:
        headers, body = response_dict["headers"], response_dict["body"]
        if not isinstance(body, (bytes, bytearray)):
            return  # a streaming body (no DynamoDB operation has one)
        if not (framed(headers, body) and crc_matches(headers, body)):
            raise ConnectionClosedError(endpoint_url=endpoint)

    client.meta.events.register("before-parse.dynamodb", check, unique_id=RESPONSE_GUARD)


def client_arguments(connection: Connection) -> dict[str, Any]:
    """The ``create_client`` keywords (besides the config) for ``connection``."""
    return {
        "region_name": connection.region,
        "endpoint_url": connection.endpoint_url,
        "aws_access_key_id": connection.access_key,
        "aws_secret_access_key": connection.secret_key,
    }


def make_client(
    connection: Connection, session: botocore.session.Session | None = None
) -> DynamoDBClient:
    """Create the botocore DynamoDB client a store reuses for every request.

    Retries use botocore's ``standard`` mode; timeouts are short so an outage fails fast.
    Without explicit keys botocore's default credential chain applies (env, profile, IAM role).
    ``session`` is the botocore session to make it in (a new one if not given).
    """
    session = session or botocore.session.get_session()
    try:
        client: DynamoDBClient = session.create_client(  # type: ignore[assignment]
            "dynamodb", config=client_config(connection), **client_arguments(connection)
        )
    except BotoCoreError as exc:
        raise _setup_error(exc) from exc
    return client


def make_async_client(connection: Connection, session: Any = None) -> Any:
    """Create the aiobotocore DynamoDB client, configured as :func:`make_client` does.

    Returns aiobotocore's async context manager: ``async with make_async_client(c) as client``.
    Needs the ``async`` extra. ``session`` is the aiobotocore session to make it in (a new
    one if not given).
    """
    session = session or _aio_session()
    from aiobotocore.config import AioConfig  # type: ignore[import-untyped]

    return session.create_client(
        "dynamodb", config=client_config(connection, AioConfig), **client_arguments(connection)
    )


def connect(
    connection: Connection, session: botocore.session.Session
) -> tuple[DynamoDBClient, Transport | None]:
    """The botocore client made in ``session`` and, if ``connection.transport`` is
    ``"lean"``, the lean :class:`~dynamodb_sessions.transport.Transport` beside it (which
    takes its endpoint and settings from the client and its credentials from ``session``).
    """
    client = make_client(connection, session)
    if connection.transport != "lean":
        return client, None
    credentials = (
        Credentials(connection.access_key, connection.secret_key)
        if connection.access_key is not None and connection.secret_key is not None
        else session.get_credentials()
    )
    return client, Transport(
        client, credentials, connection, session.get_config_variable("ca_bundle")
    )


def _setup_error(exc: BotoCoreError) -> ConfigurationError:
    """What a failure to make a client means: making one sends nothing, so it is the setup
    (no region, a profile that does not exist, half a key pair in botocore's variables)."""
    if isinstance(exc, NoRegionError):
        return ConfigurationError(
            f"no AWS region: set {REGION_ENVS[0]} (or {', '.join(REGION_ENVS[1:])})"
        )
    return ConfigurationError(f"cannot make a DynamoDB client: {exc}")


def backend_error(exc: Exception, operation: str, table: str | None = None) -> BackendError:
    """Translate a botocore exception into this library's, keeping the AWS error code.

    Only what retrying can cure becomes :class:`BackendUnavailableError` (a 503 at the web
    adapters): connections refused or cut, timeouts, throttling and server errors that outlived
    botocore's retries. Everything else is a :class:`BackendError` (a 500) whose message names
    the cause: a missing table, denied access, an invalid request, missing credentials.
    """
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        message = str(error.get("Message", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in UNAVAILABLE_CODES or status >= 500:  # any server-side failure: retry later
            return BackendUnavailableError(message, code=code, operation=operation)
        if code == table_flows.NOT_FOUND:
            name = f"table {table!r}" if table else "the table"
            return TableNotFoundError(
                f"{message} ({name} does not exist: create it with "
                "`dynamodb-sessions create-table`, or check the table name and region)",
                code=code,
                operation=operation,
            )
        if hint := _CLIENT_HINTS.get(code):
            message = f"{message} ({hint})"
        return BackendError(message, code=code, operation=operation)
    code = type(exc).__name__
    if isinstance(exc, (HTTPClientError, BotoConnectionError)):
        return BackendUnavailableError(str(exc), code=code, operation=operation)
    hint = _BOTOCORE_HINTS.get(code, "")
    return BackendError(f"{exc}{f' ({hint})' if hint else ''}", code=code, operation=operation)


# What a 500 says besides DynamoDB's own message, for the errors a deployment meets first.
_CLIENT_HINTS = {
    "AccessDeniedException": "the credentials in use lack a permission: see "
    "`dynamodb-sessions iam-policy` for the policy the store needs",
    "UnrecognizedClientException": "the access key is not valid for this endpoint and region",
    "InvalidSignatureException": "the secret key does not match the access key",
    "ExpiredTokenException": "the session credentials have expired",
    "ValidationException": "DynamoDB refused the request as invalid: check the table's key "
    "schema and attribute names against the store's configuration",
}
_BOTOCORE_HINTS = {
    "NoCredentialsError": "botocore's credential chain found none: set AWS_ACCESS_KEY and "
    "AWS_SECRET_KEY, or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile, or an IAM role",
    "PartialCredentialsError": "only part of a credential was found",
    "ParamValidationError": "the request was refused before it was sent: a value of the "
    "wrong type (a user id must be a str), a bug in the calling code",
    "NoRegionError": f"no AWS region: set {REGION_ENVS[0]} (or {', '.join(REGION_ENVS[1:])})",
}


def step_failure(step: Call, exc: ClientError | BotoCoreError) -> Failed:
    """What a driver makes of a failed ``step``: :class:`Failed` for an error code the flow
    handles itself; else this library's exception is raised, chained to ``exc``."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in step.handles:
            return Failed(code)
    raise backend_error(exc, step.operation, step.params.get("TableName")) from exc


def _refuse_mismatch(config: StoreConfig, codec: Codec) -> None:
    """An injected codec never silently overrides the configuration: where both say something
    (compression threshold, reading unencrypted items), they must agree."""
    differ = []
    if codec.compress_threshold != config.compress_threshold:
        differ.append(
            f"compress_threshold: codec {codec.compress_threshold}, config "
            f"{config.compress_threshold}"
        )
    if codec.keyring is not None and codec.accept_plaintext != config.accept_unencrypted:
        differ.append(
            f"accept_unencrypted: codec {codec.accept_plaintext}, config "
            f"{config.accept_unencrypted}"
        )
    if differ:
        raise ConfigurationError(
            f"the codec given to the store disagrees with its configuration ({'; '.join(differ)}):"
            " set the value in both, or pass no codec"
        )


# The operations that take ReturnConsumedCapacity (the table's own do not).
CAPACITY_OPERATIONS = frozenset(
    {"get_item", "put_item", "update_item", "delete_item", "query", "scan", "batch_write_item"}
)


@functools.cache
def api_name(operation: str) -> str:
    """DynamoDB's name of a botocore method: ``get_item`` -> ``GetItem``."""
    return "".join(part.capitalize() for part in operation.split("_"))


def pool_size(client: Any) -> int:
    """How many connections ``client`` (botocore's or aiobotocore's) keeps: the most requests
    it carries at once without opening throw-away connections."""
    return int(client.meta.config.max_pool_connections)


_Held = tuple[int, "DynamoDBClient", Transport | None]
"""What a sync store holds for one process: its pid, the client, the lean transport."""

_STORES: weakref.WeakSet[SessionStore] = weakref.WeakSet()
"""Every live sync store, for :func:`_after_fork_in_child`."""

_INHERITED: list[Any] = []
"""Clients a forked child inherited from its parent: kept unused (see SessionStore._connect)."""


def _after_fork_in_child() -> None:
    # A lock held by a parent thread at the fork stays held forever in the child: give each
    # store a new one. The client itself is replaced on first use (the pid check), which also
    # covers forks that run no Python hooks (uWSGI's, by default).
    for store in list(_STORES):
        store._lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(after_in_child=_after_fork_in_child)


class _BaseStore:
    """What the sync and the async store share: configuration, codec, clock, construction."""

    def __init__(
        self,
        config: StoreConfig,
        *,
        codec: Codec | None = None,
        clock: Clock = time.time,
        metrics: Metrics | None = None,
    ) -> None:
        self.config = config
        codec = codec or Codec(compress_threshold=config.compress_threshold)
        if config.encryption_keys and codec.keyring is None:
            from .crypto import Keyring  # imports cryptography: only when encryption is on

            codec = dataclasses.replace(
                codec,
                keyring=Keyring(config.encryption_keys),
                accept_plaintext=config.accept_unencrypted,
            )
        _refuse_mismatch(config, codec)
        self.codec = codec
        self.clock = clock
        self.metrics = default_metrics() if metrics is None else metrics

    @classmethod
    def from_env(cls: type[StoreT], **overrides: Any) -> StoreT:
        """A store configured by :meth:`StoreConfig.from_env`; keywords override the environment."""
        return cls(StoreConfig.from_env(**overrides))

    def _finish_flow(
        self, session: Session, *, always_save: bool, refresh: bool, failed: bool
    ) -> Flow[CookieUpdate]:
        """The end-of-request flow both stores run: the lifecycle's write, and the session's
        lock given back whatever fails on the way."""
        return flows.releasing(
            self.config,
            session,
            flows.finish(
                self.config,
                self.codec,
                session,
                self._now(),
                always_save=always_save,
                refresh=refresh,
                failed=failed,
            ),
        )

    def _now(self) -> int:
        return int(self.clock())

    # -- what both drivers do alike, around the I/O ---------------------------------------

    def _local(self, step: Step) -> Any:
        """The reply to a step that needs no I/O (and no sleep): the clock's reading for a
        :class:`Now`; ``None`` for an event, which goes to the metrics hook."""
        if isinstance(step, Now):
            return self.clock()
        if isinstance(step, Conflict):
            self.metrics.conflict(retried=step.retried)
        elif isinstance(step, LockWait):
            self.metrics.lock_wait(step.seconds, outcome=step.outcome)
        return None

    def _params(self, step: Call) -> dict[str, Any]:
        """The call's parameters as sent: the core's, asking for the capacity consumed when
        the metrics hook wants it."""
        if self.metrics.capacity and step.operation in CAPACITY_OPERATIONS:
            return {**step.params, "ReturnConsumedCapacity": "TOTAL"}
        return step.params

    def _answered(self, step: Call, reply: dict[str, Any], started: float) -> dict[str, Any]:
        """Count a call DynamoDB answered (``started``: ``time.perf_counter()`` before it)."""
        consumed = reply.get("ConsumedCapacity")
        if isinstance(consumed, list):  # BatchWriteItem: one entry per table
            consumed = {"CapacityUnits": sum(c.get("CapacityUnits", 0) for c in consumed)}
        self.metrics.call(
            api_name(step.operation),
            "ok",
            retries=reply.get("ResponseMetadata", {}).get("RetryAttempts", 0),
            seconds=time.perf_counter() - started,
            capacity=None if consumed is None else consumed.get("CapacityUnits"),
        )
        return reply

    def _failed(self, step: Call, exc: ClientError | BotoCoreError, started: float) -> Failed:
        """Count a failed call, then make of it what :func:`step_failure` does."""
        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
            retries = exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
        else:
            code, retries = type(exc).__name__, 0
        self.metrics.call(
            api_name(step.operation),
            code,
            retries=retries,
            seconds=time.perf_counter() - started,
            capacity=None,
        )
        return step_failure(step, exc)

    def _gc_done(self, total: GCReport) -> GCReport:
        """Tell the metrics hook what a garbage collection deleted; return its report."""
        self.metrics.gc(deleted=total.deleted, kept=total.kept)
        return total

    def _gc_run(
        self,
        segments: int,
        dry_run: bool,
        progress: PageHook | None,
        margin: int | None,
        page_size: int | None,
        resume: GCCheckpoint | None,
        checkpoint: CheckpointHook | None,
    ) -> gc_flows.Run:
        return gc_flows.Run(
            self.config,
            self._now(),
            segments,
            dry_run=dry_run,
            margin=margin,
            page_size=page_size,
            progress=progress,
            resume=resume,
            checkpoint=checkpoint,
        )


class SessionStore(_BaseStore):
    """Sessions in a DynamoDB table, synchronously: the item operations through the lean
    transport (``Connection.transport``, the default) or botocore's client, the table's own
    operations through botocore's client.

    One store (and its one botocore client, which is thread-safe) serves every request of a
    process. The store makes its client on first use, in the process that uses it: a worker
    forked from a parent that used the store (gunicorn ``--preload``, uWSGI, multiprocessing)
    makes a client of its own, because sharing the parent's connections would let processes
    read each other's answers. :meth:`close` (or ``with store:``) releases the connections of
    the client the store made; a later call makes a new one. ``clock`` returns epoch seconds
    and exists for tests.

    An injected ``client`` is the caller's: the store never closes it, and it refuses to use
    it in another process than the one it was given in (a forked child raises
    :class:`ConfigurationError`): let the store make its client, or make the store in the
    worker.
    """

    def __init__(
        self,
        config: StoreConfig,
        *,
        client: DynamoDBClient | None = None,
        codec: Codec | None = None,
        clock: Clock = time.time,
        metrics: Metrics | None = None,
    ) -> None:
        super().__init__(config, codec=codec, clock=clock, metrics=metrics)
        self._owns_client = client is None
        # (pid, client, lean transport): read as one value on the hot path, so a check and
        # its client agree.
        self._held: _Held | None = None
        self._lock = threading.Lock()
        if client is not None:
            guard_responses(client)
            self._held = (os.getpid(), client, None)
        _STORES.add(self)

    @property
    def client(self) -> DynamoDBClient:
        """The botocore client of this process (made now if it has none yet). With the lean
        transport it carries only the table operations; the item operations go through
        :attr:`transport`."""
        return self._connection()[1]

    @property
    def transport(self) -> Transport | None:
        """The lean transport of this process (``None`` with ``transport="botocore"`` or an
        injected client, which carry every operation through botocore)."""
        return self._connection()[2]

    def _connection(self) -> _Held:
        held = self._held
        if held is not None and held[0] == os.getpid():
            return held
        return self._connect()

    def _connect(self) -> _Held:
        with self._lock:
            pid, held = os.getpid(), self._held
            if held is not None and held[0] == pid:
                return held  # another thread made it meanwhile
            if not self._owns_client:
                assert held is not None
                raise ConfigurationError(
                    f"the client given to this SessionStore belongs to process {held[0]}, "
                    f"and this is process {pid} (forked from it): its connections are shared "
                    "with that process. Let the store make its client (it makes one per "
                    "process), or make the store in this process"
                )
            if held is not None:
                # The parent's client, inherited by a fork: never used, closed or collected
                # here, since closing takes locks a parent thread may have held at the fork.
                _INHERITED.append(held[1:])
            client, transport = connect(self.config.connection, botocore.session.get_session())
            guard_responses(client)
            self._held = (pid, client, transport)
            return self._held

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the connections of the client this store made (not an injected one)."""
        if not self._owns_client:
            return
        with self._lock:
            held, self._held = self._held, None
        if held is not None:
            if held[0] == os.getpid():
                held[1].close()
                if held[2] is not None:
                    held[2].close()
            else:
                _INHERITED.append(held[1:])

    def load(self, session_id: str | None) -> Session:
        """Return the session ``session_id`` names, or a new empty one (see :func:`flows.load`)."""
        return self._run(flows.load(self.config, self.codec, session_id, self._now()))

    def exists(self, session_id: str) -> bool:
        """Tell whether ``session_id`` names a valid stored session."""
        return self._run(flows.exists(self.config, session_id, self._now()))

    def create(self, session: Session, *, keep_id: bool = False) -> None:
        """Store a new session (never overwriting; see :func:`flows.create`)."""
        self._run(flows.create(self.config, self.codec, session, self._now(), keep_id=keep_id))

    def save(self, session: Session) -> SaveOutcome:
        """Write the session's changes, merging with concurrent writers (see :func:`flows.save`)."""
        return self._run(flows.save(self.config, self.codec, session, self._now()))

    def touch(self, session: Session) -> None:
        """Refresh a stored session's expiry without rewriting its data."""
        self._run(flows.touch(self.config, session, self._now()))

    def delete(self, session_id: str, *, rotated_to: str | None = None) -> None:
        """End the stored session ``session_id`` (log out; absent is fine).

        ``rotated_to``: the id the session now lives on as, when the caller moved it there
        itself (the security log then says "rotated", not "ended").
        """
        self._run(flows.end(self.config, session_id, rotated_to))

    def rotate(self, session: Session) -> None:
        """Move the session to a new id now, keeping its data; the old id stops working."""
        self._run(flows.rotate(self.config, self.codec, session, self._now()))

    def finish(
        self,
        session: Session,
        *,
        always_save: bool = False,
        refresh: bool = True,
        failed: bool = False,
    ) -> CookieUpdate:
        """End a request: write what the lifecycle decides and return the cookie change.

        ``always_save`` refreshes an unchanged session; ``refresh=False`` keeps reads from
        refreshing its expiry; ``failed`` (the request raised or answered 5xx, see
        :func:`~dynamodb_sessions._core.lifecycle.request_failed`) writes nothing but the
        release of a lock, and leaves the cookie alone.
        """
        return self._run(
            self._finish_flow(session, always_save=always_save, refresh=refresh, failed=failed)
        )

    def release(self, session: Session) -> None:
        """Lock mode: give up the session's lock without writing (a request that failed)."""
        self._run(flows.release(self.config, session))

    def gc(
        self,
        *,
        segments: int = 4,
        dry_run: bool = False,
        progress: PageHook | None = None,
        margin: int | None = None,
        page_size: int | None = None,
        resume: GCCheckpoint | None = None,
        checkpoint: CheckpointHook | None = None,
    ) -> GCReport:
        """Delete expired items: a parallel scan of ``segments`` segments (one thread each).

        An item that expired longer ago than ``margin`` seconds (default
        ``config.gc_margin``, an hour) is deleted in a batch; one that expired more recently
        by a delete conditional on it still being expired, so a session refreshed after the
        scan saw it is kept (see :mod:`._core.gc`). Throttling is waited out. ``dry_run``
        only counts; ``progress`` is called with the running total after each scanned page,
        ``checkpoint`` with where the run is (save it, and pass it back as ``resume`` to go
        on after a stop; its segment count then wins). ``page_size`` caps the items each
        Scan call reads. The first segment that fails stops the others.
        """
        run = self._gc_run(segments, dry_run, progress, margin, page_size, resume, checkpoint)
        self._in_parallel(list(run.flows()), stop=run.stop)
        return self._gc_done(run.total)

    def stats(self, *, segments: int = 4, progress: ProgressHook | None = None) -> TableStats:
        """Count what the table holds: sessions, expired ones still present, sizes, formats,
        sessions per user (:class:`~dynamodb_sessions._core.stats.TableStats`).

        A parallel scan of whole items in ``segments`` segments, as :meth:`gc`'s; ``progress``
        is called with the running total after each scanned page. Nothing is decrypted.
        """
        tally = Tally(ScanProgress(segments=segments), progress)
        now = self._now()
        censuses = self._in_parallel(
            stats_flows.segment_flows(self.config, now, segments, on_page=tally.add)
        )
        return stats_flows.summarize(censuses, now, segments)

    def _in_parallel(self, work: list[Flow[T]], stop: Callable[[], None] | None = None) -> list[T]:
        """Run ``work`` (a parallel scan's segments) at once, one thread per flow, and return
        their results in order. The first failure is raised once the running flows ended:
        ``stop`` (a run's) makes them end at their next step; those not started never start."""
        # No more threads than the client has pooled connections: each extra one would open a
        # connection the pool then discards ("Connection pool is full").
        threads = max(1, min(len(work), pool_size(self.client)))
        with ThreadPoolExecutor(threads, thread_name_prefix="sessions-scan") as pool:
            futures = [pool.submit(self._run, flow) for flow in work]
            try:
                for future in as_completed(futures):
                    future.result()
            finally:  # a failure, or an interruption (KeyboardInterrupt) in this thread
                if stop is not None:
                    stop()
                for future in futures:
                    future.cancel()
        return [future.result() for future in futures]

    def list_user_sessions(self, user_id: str) -> list[UserSession]:
        """Every stored session of ``user_id`` (by the user index; see :mod:`._core.users`)."""
        return self._run(users.list_sessions(self.config, user_id, self._now()))

    def revoke_user(self, user_id: str) -> int:
        """Log ``user_id`` out everywhere: delete all their sessions; return how many.

        Sessions logged in while it runs are deleted too (or their log-in fails with
        :class:`SessionRevokedError`); it takes about ``users.REVOKE_SETTLE`` (1 s) longer
        than the deletes, for a second sweep of the user index.
        """
        return self._run(users.revoke(self.config, user_id, self._now()))

    def end_user_session(self, user_id: str, session_key: str) -> bool:
        """End one session of ``user_id``: ``session_key`` is a :class:`UserSession`'s ``key``
        from :meth:`list_user_sessions`. ``False`` if no such session of that user exists."""
        return self._run(users.end_session(self.config, user_id, session_key))

    def create_table(
        self,
        *,
        read_capacity: int | None = None,
        write_capacity: int | None = None,
        wait_seconds: float = 300.0,
    ) -> TableReport:
        """Create the table if needed (on-demand unless capacities are given), wait, enable TTL."""
        return self._run(
            table_flows.ensure(
                self.config,
                read_capacity=read_capacity,
                write_capacity=write_capacity,
                wait_seconds=wait_seconds,
            )
        )

    def check_table(self) -> TableReport:
        """Report whether the table exists, has the right key, and has TTL on."""
        return self._run(table_flows.check(self.config))

    def _run(self, flow: Flow[T]) -> T:
        reply: Any = None
        error: BackendError | None = None
        while True:
            try:
                step = flow.send(reply) if error is None else flow.throw(error)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            error = None
            if isinstance(step, Sleep):
                time.sleep(step.seconds)
                reply = self.clock()
                continue
            if not isinstance(step, Call):
                reply = self._local(step)
                continue
            try:
                reply = self._call(step)
            except BackendError as exc:
                # Raised inside the flow, at the step that failed, so that a flow holding a
                # lock gives it back before the error goes on (see flows.releasing).
                error = exc

    def _call(self, step: Call) -> Any:
        _, client, transport = self._connection()
        started = time.perf_counter()
        params = self._params(step)
        try:
            if transport is not None and step.operation in OPERATIONS:
                reply = transport.call(step.operation, params)
            else:
                reply = getattr(client, step.operation)(**params)
        except (ClientError, BotoCoreError) as exc:
            return self._failed(step, exc, started)
        return self._answered(step, reply, started)


async def _client_lifetime(
    connection: Connection, forget: Callable[[], None]
) -> AsyncGenerator[tuple[Any, AsyncTransport | None], None]:
    """Open an aiobotocore client (and the lean transport beside it, if configured), hand
    them out once, and close them when closed.

    An async generator on purpose: the event loop that first runs it keeps track of it, and
    ``loop.shutdown_asyncgens()`` closes it inside that loop, the only place where its
    connections can be closed cleanly, before the loop closes. ``asyncio.run()``,
    ``asyncio.Runner``, anyio (so Starlette's ``TestClient``) and pytest-asyncio all call it.
    """
    try:
        async with AsyncExitStack() as stack:
            session = _aio_session()
            try:
                client = await stack.enter_async_context(make_async_client(connection, session))
            except BotoCoreError as exc:
                raise _setup_error(exc) from exc
            guard_responses(client)
            transport = None
            if connection.transport == "lean":
                credentials = (
                    _aio_credentials(connection.access_key, connection.secret_key)
                    if connection.access_key is not None and connection.secret_key is not None
                    else await session.get_credentials()
                )
                transport = AsyncTransport(
                    client, credentials, connection, session.get_config_variable("ca_bundle")
                )
                stack.push_async_callback(transport.close)
            yield client, transport
    finally:
        forget()


def _aio_session() -> Any:
    """A new aiobotocore session; without aiobotocore, a configuration error naming the extra."""
    try:
        from aiobotocore.session import get_session  # type: ignore[import-untyped]
    except ImportError:
        raise ConfigurationError(
            'the async store needs aiobotocore: pip install "dynamodb-sessions[async]"'
        ) from None
    return get_session()


def _aio_credentials(access_key: str, secret_key: str) -> Any:
    from aiobotocore.credentials import AioCredentials  # type: ignore[import-untyped]

    return AioCredentials(access_key, secret_key)


class _LoopClient:
    """The client an :class:`AsyncSessionStore` opened in one event loop.

    ``opening`` is a task of that loop, so concurrent first requests share one client, and a
    request cancelled while the client opens does not leave it half open.
    """

    def __init__(
        self,
        connection: Connection,
        clients: dict[asyncio.AbstractEventLoop, _LoopClient],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.client: Any = None
        self.transport: AsyncTransport | None = None
        self._clients = clients
        self._loop = loop
        self._lifetime = _client_lifetime(connection, self._forget)
        clients[loop] = self
        self.opening = loop.create_task(self._open())

    async def _open(self) -> _LoopClient:
        self.client, self.transport = await self._lifetime.__anext__()
        return self

    def _forget(self) -> None:
        if self._clients.get(self._loop) is self:
            self._clients.pop(self._loop, None)

    async def close(self) -> None:
        await asyncio.wait([self.opening])  # an open in progress finishes first
        with suppress(BaseException):
            self.opening.exception()  # a failed open was reported to its callers already
        await self._lifetime.aclose()


class AsyncSessionStore(_BaseStore):
    """Sessions in a DynamoDB table, on asyncio (the lean transport on asyncio connections of
    its own, or aiobotocore's client, chosen as for :class:`SessionStore`):
    :class:`SessionStore`'s methods, each a coroutine, running the same core flows.

    An aiobotocore client belongs to the event loop it was opened in, so the store keeps one
    client per running loop: it opens it on the loop's first call and it is closed when that
    loop shuts down (``loop.shutdown_asyncgens()``, which ``asyncio.run()``,
    ``asyncio.Runner``, anyio, Starlette's ``TestClient`` and pytest-asyncio call), or by
    ``await store.close()`` (or leaving ``async with store:``) in that loop; a later call opens
    a new one. So one store serves an app whose requests each run in a new loop (``TestClient``
    without ``with``), ``asyncio.run()`` called again and again, and per-test loops. A loop
    closed without ``shutdown_asyncgens()`` cannot close its client: close the store in it
    first. An injected ``client`` (from ``async with make_async_client(...)``) is the caller's
    to close, and serves only the loop it was opened in.
    """

    def __init__(
        self,
        config: StoreConfig,
        *,
        client: Any = None,
        codec: Codec | None = None,
        clock: Clock = time.time,
        metrics: Metrics | None = None,
    ) -> None:
        super().__init__(config, codec=codec, clock=clock, metrics=metrics)
        self._injected: Any = client
        if client is not None:
            guard_responses(client)
        self._clients: dict[asyncio.AbstractEventLoop, _LoopClient] = {}

    @property
    def client(self) -> Any:
        """The client in use: the injected one, else the one this store opened in the running
        event loop (``None`` before the loop's first call and after :meth:`close`).

        Outside a running loop (a test looking at the store of an app that runs in another
        thread), the client of the one loop that has one; ``None`` if none or several do.
        """
        if self._injected is not None:
            return self._injected
        opened = self._opened_here()
        return None if opened is None else opened.client

    @property
    def transport(self) -> AsyncTransport | None:
        """The lean transport of the running event loop, found as :attr:`client` is (``None``
        with ``transport="botocore"``, an injected client, or before the loop's first call)."""
        opened = None if self._injected is not None else self._opened_here()
        return None if opened is None else opened.transport

    def _opened_here(self) -> _LoopClient | None:
        try:
            return self._clients.get(asyncio.get_running_loop())
        except RuntimeError:  # no running loop in this thread
            live = [o for loop, o in list(self._clients.items()) if not loop.is_closed()]
            return live[0] if len(live) == 1 else None

    async def __aenter__(self) -> AsyncSessionStore:
        await self._client()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the client this store opened in the running loop (not an injected one).

        The clients of other loops close when their loops shut down.
        """
        self._forget_closed_loops()
        opened = self._clients.pop(asyncio.get_running_loop(), None)
        if opened is not None:
            await opened.close()

    async def load(self, session_id: str | None) -> Session:
        """Return the session ``session_id`` names, or a new empty one (see :func:`flows.load`)."""
        return await self._run(flows.load(self.config, self.codec, session_id, self._now()))

    async def exists(self, session_id: str) -> bool:
        """Tell whether ``session_id`` names a valid stored session."""
        return await self._run(flows.exists(self.config, session_id, self._now()))

    async def create(self, session: Session, *, keep_id: bool = False) -> None:
        """Store a new session (never overwriting; see :func:`flows.create`)."""
        await self._run(
            flows.create(self.config, self.codec, session, self._now(), keep_id=keep_id)
        )

    async def save(self, session: Session) -> SaveOutcome:
        """Write the session's changes, merging with concurrent writers (see :func:`flows.save`)."""
        return await self._run(flows.save(self.config, self.codec, session, self._now()))

    async def touch(self, session: Session) -> None:
        """Refresh a stored session's expiry without rewriting its data."""
        await self._run(flows.touch(self.config, session, self._now()))

    async def delete(self, session_id: str, *, rotated_to: str | None = None) -> None:
        """End the stored session ``session_id`` (log out; absent is fine); see
        :meth:`SessionStore.delete`."""
        await self._run(flows.end(self.config, session_id, rotated_to))

    async def rotate(self, session: Session) -> None:
        """Move the session to a new id now, keeping its data; the old id stops working."""
        await self._run(flows.rotate(self.config, self.codec, session, self._now()))

    async def finish(
        self,
        session: Session,
        *,
        always_save: bool = False,
        refresh: bool = True,
        failed: bool = False,
    ) -> CookieUpdate:
        """End a request: write what the lifecycle decides and return the cookie change.

        ``always_save`` refreshes an unchanged session; ``refresh=False`` keeps reads from
        refreshing its expiry; ``failed`` (the request raised or answered 5xx, see
        :func:`~dynamodb_sessions._core.lifecycle.request_failed`) writes nothing but the
        release of a lock, and leaves the cookie alone.
        """
        return await self._run(
            self._finish_flow(session, always_save=always_save, refresh=refresh, failed=failed)
        )

    async def release(self, session: Session) -> None:
        """Lock mode: give up the session's lock without writing (a request that failed)."""
        await self._run(flows.release(self.config, session))

    async def gc(
        self,
        *,
        segments: int = 4,
        dry_run: bool = False,
        progress: PageHook | None = None,
        margin: int | None = None,
        page_size: int | None = None,
        resume: GCCheckpoint | None = None,
        checkpoint: CheckpointHook | None = None,
    ) -> GCReport:
        """Delete expired items: a parallel scan of ``segments`` segments (one task each).

        See :meth:`SessionStore.gc`.
        """
        run = self._gc_run(segments, dry_run, progress, margin, page_size, resume, checkpoint)
        await self._in_parallel(list(run.flows()), stop=run.stop)
        return self._gc_done(run.total)

    async def stats(self, *, segments: int = 4, progress: ProgressHook | None = None) -> TableStats:
        """Count what the table holds. See :meth:`SessionStore.stats`."""
        tally = Tally(ScanProgress(segments=segments), progress)
        now = self._now()
        censuses = await self._in_parallel(
            stats_flows.segment_flows(self.config, now, segments, on_page=tally.add)
        )
        return stats_flows.summarize(censuses, now, segments)

    async def _in_parallel(
        self, work: list[Flow[T]], stop: Callable[[], None] | None = None
    ) -> list[T]:
        """Run ``work`` at once, one task per flow but no more at a time than the client has
        connections (see :meth:`SessionStore._in_parallel`); return their results in order.
        The first failure cancels the other tasks (and calls ``stop``) and is raised."""
        results: dict[int, T] = {}
        pending = iter(enumerate(work))

        async def in_turn() -> None:
            for index, flow in pending:
                results[index] = await self._run(flow)

        width = max(1, min(len(work), pool_size(await self._client())))
        tasks = [asyncio.ensure_future(in_turn()) for _ in range(width)]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # the first failure, raised here
        finally:  # a failure, or this coroutine cancelled: the other segments stop too
            if stop is not None:
                stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return [results[index] for index in range(len(work))]

    async def list_user_sessions(self, user_id: str) -> list[UserSession]:
        """Every stored session of ``user_id`` (by the user index; see :mod:`._core.users`)."""
        return await self._run(users.list_sessions(self.config, user_id, self._now()))

    async def revoke_user(self, user_id: str) -> int:
        """Log ``user_id`` out everywhere: delete all their sessions; return how many.

        Sessions logged in while it runs are deleted too (or their log-in fails with
        :class:`SessionRevokedError`); it takes about ``users.REVOKE_SETTLE`` (1 s) longer
        than the deletes, for a second sweep of the user index.
        """
        return await self._run(users.revoke(self.config, user_id, self._now()))

    async def end_user_session(self, user_id: str, session_key: str) -> bool:
        """End one session of ``user_id``: ``session_key`` is a :class:`UserSession`'s ``key``
        from :meth:`list_user_sessions`. ``False`` if no such session of that user exists."""
        return await self._run(users.end_session(self.config, user_id, session_key))

    async def create_table(
        self,
        *,
        read_capacity: int | None = None,
        write_capacity: int | None = None,
        wait_seconds: float = 300.0,
    ) -> TableReport:
        """Create the table if needed (on-demand unless capacities are given), wait, enable TTL."""
        return await self._run(
            table_flows.ensure(
                self.config,
                read_capacity=read_capacity,
                write_capacity=write_capacity,
                wait_seconds=wait_seconds,
            )
        )

    async def check_table(self) -> TableReport:
        """Report whether the table exists, has the right key, and has TTL on."""
        return await self._run(table_flows.check(self.config))

    async def _client(self) -> Any:
        """The client of the running loop, opened now if this loop has none."""
        if self._injected is not None:
            return self._injected
        return (await self._opened()).client

    async def _opened(self) -> _LoopClient:
        """What the store opened in the running loop (opened now if nothing yet)."""
        loop = asyncio.get_running_loop()
        opened = self._clients.get(loop)
        if opened is not None and opened.client is not None:
            return opened
        if opened is None:
            self._forget_closed_loops()
            opened = _LoopClient(self.config.connection, self._clients, loop)
        return await asyncio.shield(opened.opening)

    def _forget_closed_loops(self) -> None:
        # A loop closed without shutdown_asyncgens() left its client open; it can no longer be
        # closed cleanly (that takes its loop), only dropped.
        for loop in [loop for loop in list(self._clients) if loop.is_closed()]:
            self._clients.pop(loop, None)

    async def _run(self, flow: Flow[T]) -> T:
        reply: Any = None
        error: BackendError | None = None
        while True:
            try:
                step = flow.send(reply) if error is None else flow.throw(error)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            error = None
            if isinstance(step, Sleep):
                await asyncio.sleep(step.seconds)
                reply = self.clock()
                continue
            if not isinstance(step, Call):
                reply = self._local(step)
                continue
            try:
                reply = await self._call(step)
            except BackendError as exc:
                # Raised inside the flow, at the step that failed, so that a flow holding a
                # lock gives it back before the error goes on (see flows.releasing).
                error = exc

    async def _call(self, step: Call) -> Any:
        if self._injected is not None:
            client, transport = self._injected, None
        else:
            opened = await self._opened()
            client, transport = opened.client, opened.transport
        started = time.perf_counter()
        params = self._params(step)
        try:
            if transport is not None and step.operation in OPERATIONS:
                reply = await transport.call(step.operation, params)
            else:
                reply = await getattr(client, step.operation)(**params)
        except (ClientError, BotoCoreError) as exc:
            return self._failed(step, exc, started)
        return self._answered(step, reply, started)

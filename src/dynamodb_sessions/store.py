"""The session store: the core's flows carried out with botocore.

This is the only module that touches botocore. Each public method is one call of a sans-IO flow
(``_core/flows.py``) through :meth:`SessionStore._run`, the driver, which performs each step and
maps botocore's errors to this library's (keeping the AWS code, chaining the cause).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import botocore.session
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoRegionError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from ._core import flows
from ._core import table as table_flows
from ._core.flows import Call, Failed, Flow, SaveOutcome, Sleep
from ._core.lifecycle import CookieUpdate
from ._core.table import TableReport
from .codec import Codec
from .config import REGION_ENVS, Connection, StoreConfig
from .exceptions import (
    BackendError,
    BackendUnavailableError,
    ConfigurationError,
    TableNotFoundError,
)
from .session import Session

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

T = TypeVar("T")
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


def make_client(connection: Connection) -> DynamoDBClient:
    """Create the botocore DynamoDB client a store reuses for every request.

    Retries use botocore's ``standard`` mode; timeouts are short so an outage fails fast.
    Without explicit keys botocore's default credential chain applies (env, profile, IAM role).
    """
    config = Config(
        connect_timeout=connection.connect_timeout,
        read_timeout=connection.read_timeout,
        retries={"mode": "standard", "max_attempts": connection.max_attempts},
    )
    try:
        client: DynamoDBClient = botocore.session.get_session().create_client(  # type: ignore[assignment]
            "dynamodb",
            region_name=connection.region,
            endpoint_url=connection.endpoint_url,
            aws_access_key_id=connection.access_key,
            aws_secret_access_key=connection.secret_key,
            config=config,
        )
    except NoRegionError:
        raise ConfigurationError(
            f"no AWS region: set {REGION_ENVS[0]} (or {', '.join(REGION_ENVS[1:])})"
        ) from None
    return client


def backend_error(exc: Exception, operation: str) -> BackendError:
    """Translate a botocore exception into this library's, keeping the AWS error code."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        message = str(error.get("Message", ""))
        if code in UNAVAILABLE_CODES:
            return BackendUnavailableError(message, code=code, operation=operation)
        if code == table_flows.NOT_FOUND:
            return TableNotFoundError(message, code=code, operation=operation)
        return BackendError(message, code=code, operation=operation)
    unavailable = isinstance(exc, (HTTPClientError, BotoConnectionError))
    kind = BackendUnavailableError if unavailable else BackendError
    return kind(str(exc), code=type(exc).__name__, operation=operation)


class SessionStore:
    """Sessions in a DynamoDB table, through botocore (synchronous).

    One store (and its one botocore client, which is thread-safe) serves every request of a
    process. ``clock`` returns epoch seconds and exists for tests.
    """

    def __init__(
        self,
        config: StoreConfig,
        *,
        client: DynamoDBClient | None = None,
        codec: Codec | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.config = config
        self.client = client if client is not None else make_client(config.connection)
        self.codec = codec or Codec(compress_threshold=config.compress_threshold)
        self.clock = clock

    @classmethod
    def from_env(cls, **overrides: Any) -> SessionStore:
        """A store configured by :meth:`StoreConfig.from_env`; keywords override the environment."""
        return cls(StoreConfig.from_env(**overrides))

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

    def delete(self, session_id: str) -> None:
        """Delete the stored session ``session_id`` (absent is fine)."""
        self._run(flows.delete(self.config, session_id))

    def rotate(self, session: Session) -> None:
        """Move the session to a new id now, keeping its data; the old id stops working."""
        self._run(flows.rotate(self.config, self.codec, session, self._now()))

    def finish(self, session: Session, *, always_save: bool = False) -> CookieUpdate:
        """End a request: write what the lifecycle decides and return the cookie change."""
        return self._run(
            flows.finish(self.config, self.codec, session, self._now(), always_save=always_save)
        )

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

    def _now(self) -> int:
        return int(self.clock())

    def _run(self, flow: Flow[T]) -> T:
        reply: Any = None
        while True:
            try:
                step = flow.send(reply)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            if isinstance(step, Sleep):
                time.sleep(step.seconds)
                reply = self.clock()
                continue
            reply = self._call(step)

    def _call(self, step: Call) -> Any:
        try:
            return getattr(self.client, step.operation)(**step.params)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in step.handles:
                return Failed(code)
            raise backend_error(exc, step.operation) from exc
        except BotoCoreError as exc:
            raise backend_error(exc, step.operation) from exc

"""The lean transport: the store's item operations sent without botocore's per-call machinery.

botocore spends most of a small call's CPU on what a session store does not need per call:
endpoint rules evaluated again, event hooks, model-driven serialising and parsing. Here the
request dicts of ``_core/requests.py`` go out as DynamoDB JSON over a pooled connection (urllib3
for :class:`Transport`, aiohttp for :class:`AsyncTransport`), signed and parsed by
``_core/wire.py``, retried by its :func:`~._core.wire.exchange` (botocore's ``standard`` mode).

botocore keeps what it does well: the credential chain (read frozen on every call, so a refresh
applies), the endpoint (resolved once, by the botocore client the store makes anyway: region,
FIPS, dual-stack or a custom URL), and the HTTP settings (proxies, CA bundle, timeouts, pool
size). Failures become botocore's own exceptions (``ClientError`` with the same ``Error`` and
``ResponseMetadata``, ``EndpointConnectionError``, ``ReadTimeoutError``...), so the store maps
both transports' errors with one function (``store.step_failure``).

A transport belongs to one process (sync) or one event loop (async), as the client does.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import urllib3
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    NoCredentialsError,
    ReadTimeoutError,
)
from botocore.httpsession import get_cert_path
from botocore.utils import get_environ_proxies
from botocore.validate import validate_parameters

from ._core import wire
from ._core.steps import Sleep
from .config import Connection


def user_agent() -> str:
    """The lean transport's fixed ``User-Agent``: this library and Python by version, and the
    transport (what CloudTrail's ``userAgent`` shows; the botocore client's names botocore)."""
    import platform

    from . import __version__

    return f"dynamodb-sessions/{__version__} Python/{platform.python_version()} transport/lean"


class _Endpoint:
    """What both transports take from the botocore client once: where to send, how to sign,
    which retries, and botocore's validator for a request it would refuse."""

    def __init__(self, client: Any, connection: Connection, ca_bundle: str | None) -> None:
        self.url = client.meta.endpoint_url
        parts = urlsplit(self.url)
        host = parts.netloc
        if parts.port == {"http": 80, "https": 443}.get(parts.scheme):
            host = host.rpartition(":")[0]  # as botocore signs it, and as HTTP clients send it
        self.signer = wire.Signer(client.meta.region_name, host)
        # botocore's verify=True: its CA bundle (certifi's), unless one is configured.
        self.ca_certs = (ca_bundle or get_cert_path(True)) if parts.scheme == "https" else None
        self.proxy = (client.meta.config.proxies or get_environ_proxies(self.url)).get(parts.scheme)
        self.max_attempts = connection.max_attempts
        self.quota = wire.RetryQuota()
        self.user_agent = user_agent()
        self._model = client.meta.service_model

    def begin(self, method: str, params: Mapping[str, Any]) -> tuple[str, bytes, wire.Exchange]:
        """The operation named by ``method``, the body, and the exchange that sends it."""
        operation = wire.OPERATIONS[method]
        body = self.body(operation, params)
        return operation, body, wire.exchange(self.max_attempts, self.quota, random.random)

    def headers(
        self, operation: str, body: bytes, credentials: Any, attempt: int
    ) -> dict[str, str]:
        """The headers of one attempt: signed now, with the (unsigned) attempt count."""
        headers = self.signer.headers(operation, body, credentials, datetime.now(timezone.utc))
        headers["User-Agent"] = self.user_agent
        headers["amz-sdk-request"] = f"attempt={attempt}; max={self.max_attempts}"
        return headers

    def body(self, operation: str, params: Mapping[str, Any]) -> bytes:
        """``params`` as sent; a request botocore would refuse raises its
        ``ParamValidationError`` here, before anything is sent."""
        try:
            if wire.well_typed(params):
                return wire.encode(params)
        except TypeError:
            pass
        validate_parameters(params, self._model.operation_model(operation).input_shape)
        raise TypeError(f"{operation}: a value DynamoDB JSON cannot carry")  # pragma: no cover

    def result(self, operation: str, outcome: wire.Outcome, attempts: int) -> dict[str, Any]:
        """The response dict, or the exception botocore would raise for ``outcome``, after
        ``attempts`` attempts (retried ones say so in ``ResponseMetadata.RetryAttempts``, as
        botocore's do: the metrics hook counts them)."""
        if isinstance(outcome, dict):
            if attempts > 1:
                outcome["ResponseMetadata"] = {"RetryAttempts": attempts - 1}
            return outcome
        if isinstance(outcome, wire.Lost):
            raise outcome.error
        if isinstance(outcome, wire.Incomplete):
            raise ConnectionClosedError(endpoint_url=self.url)
        response: Any = {
            "Error": {"Code": outcome.code, "Message": outcome.message},
            "ResponseMetadata": {"HTTPStatusCode": outcome.status, "RetryAttempts": attempts - 1},
        }
        raise ClientError(response, operation)


def _frozen(credentials: Any) -> Any:
    if credentials is None:
        raise NoCredentialsError()
    return credentials


class Transport:
    """The lean transport of a :class:`~dynamodb_sessions.SessionStore` (one per process):
    ``call(operation, params)`` returns what the botocore client's method would."""

    def __init__(
        self, client: Any, credentials: Any, connection: Connection, ca_bundle: str | None
    ) -> None:
        self._endpoint = endpoint = _Endpoint(client, connection, ca_bundle)
        self._credentials = credentials
        options: dict[str, Any] = {
            "maxsize": connection.max_pool_connections,
            "timeout": urllib3.Timeout(
                connect=connection.connect_timeout, read=connection.read_timeout
            ),
            "retries": False,
        }
        if endpoint.ca_certs is not None:
            options["ca_certs"] = endpoint.ca_certs
        self._pool: Any
        if endpoint.proxy:
            self._pool, self._target = urllib3.ProxyManager(endpoint.proxy, **options), endpoint.url
        else:
            self._pool, self._target = urllib3.connection_from_url(endpoint.url, **options), "/"

    def call(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Send ``method`` (a botocore method name in :data:`wire.OPERATIONS`) with ``params``."""
        endpoint = self._endpoint
        operation, body, flow = endpoint.begin(method, params)
        reply: Any = None
        attempt = 0
        while True:
            try:
                step = flow.send(reply)
            except StopIteration as done:
                return endpoint.result(operation, done.value, attempt)
            if isinstance(step, Sleep):
                time.sleep(step.seconds)
                reply = None
                continue
            attempt = step.attempt
            credentials = _frozen(self._credentials).get_frozen_credentials()
            reply = self._send(body, endpoint.headers(operation, body, credentials, step.attempt))

    def _send(self, body: bytes, headers: dict[str, str]) -> wire.Answer | wire.Lost:
        url = self._endpoint.url
        try:
            response = self._pool.urlopen(
                "POST", self._target, body=body, headers=headers, redirect=False
            )
        except (urllib3.exceptions.NewConnectionError, socket.gaierror) as exc:
            # Before ConnectTimeoutError, which urllib3 makes NewConnectionError's base.
            return wire.Lost(EndpointConnectionError(endpoint_url=url, error=exc))
        except urllib3.exceptions.ConnectTimeoutError as exc:
            return wire.Lost(ConnectTimeoutError(endpoint_url=url, error=exc), timeout=True)
        except urllib3.exceptions.ReadTimeoutError as exc:
            return wire.Lost(ReadTimeoutError(endpoint_url=url, error=exc), timeout=True)
        except urllib3.exceptions.ProtocolError as exc:
            return wire.Lost(ConnectionClosedError(endpoint_url=url, error=exc))
        except urllib3.exceptions.HTTPError as exc:
            return wire.Lost(HTTPClientError(error=exc))
        return wire.Answer(response.status, response.headers, response.data)

    def close(self) -> None:
        """Close the pooled connections."""
        if isinstance(self._pool, urllib3.PoolManager):
            self._pool.clear()
        else:
            self._pool.close()


class AsyncTransport:
    """:class:`Transport` on aiohttp, for one event loop of an
    :class:`~dynamodb_sessions.AsyncSessionStore`. ``credentials`` are aiobotocore's (their
    frozen reading is awaited, so a refresh does not block the loop)."""

    def __init__(
        self, client: Any, credentials: Any, connection: Connection, ca_bundle: str | None
    ) -> None:
        import aiohttp

        self._endpoint = _Endpoint(client, connection, ca_bundle)
        self._credentials = credentials
        ssl: Any = True
        if self._endpoint.ca_certs is not None:
            import ssl as ssl_module

            ssl = ssl_module.create_default_context(cafile=self._endpoint.ca_certs)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connection.max_pool_connections, ssl=ssl),
            timeout=aiohttp.ClientTimeout(
                sock_connect=connection.connect_timeout, sock_read=connection.read_timeout
            ),
            auto_decompress=False,
            skip_auto_headers=("Accept-Encoding", "Accept", "User-Agent"),
        )
        self._errors = aiohttp

    async def call(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Send ``method`` with ``params``: :meth:`Transport.call`, awaited."""
        endpoint = self._endpoint
        operation, body, flow = endpoint.begin(method, params)
        reply: Any = None
        attempt = 0
        while True:
            try:
                step = flow.send(reply)
            except StopIteration as done:
                return endpoint.result(operation, done.value, attempt)
            if isinstance(step, Sleep):
                await asyncio.sleep(step.seconds)
                reply = None
                continue
            attempt = step.attempt
            credentials = await _frozen(self._credentials).get_frozen_credentials()
            reply = await self._send(
                body, endpoint.headers(operation, body, credentials, step.attempt)
            )

    async def _send(self, body: bytes, headers: dict[str, str]) -> wire.Answer | wire.Lost:
        url, errors = self._endpoint.url, self._errors
        try:
            async with self._session.post(
                url, data=body, headers=headers, proxy=self._endpoint.proxy, allow_redirects=False
            ) as response:
                return wire.Answer(response.status, response.headers, await response.read())
        except errors.ConnectionTimeoutError as exc:  # a ServerTimeoutError: first
            return wire.Lost(ConnectTimeoutError(endpoint_url=url, error=exc), timeout=True)
        except errors.ServerTimeoutError as exc:
            return wire.Lost(ReadTimeoutError(endpoint_url=url, error=exc), timeout=True)
        except errors.ClientConnectorError as exc:
            return wire.Lost(EndpointConnectionError(endpoint_url=url, error=exc))
        except (errors.ServerDisconnectedError, errors.ClientPayloadError) as exc:
            return wire.Lost(ConnectionClosedError(endpoint_url=url, error=exc))
        except (errors.ClientError, asyncio.TimeoutError) as exc:
            return wire.Lost(HTTPClientError(error=exc))

    async def close(self) -> None:
        """Close the connections (in the loop that opened them)."""
        await self._session.close()
